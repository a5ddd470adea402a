/**
 * Every command and command group answers --help and -h with its own help on stdout and exit 0,
 * whether or not it has subcommands (`pvhctl host --help` once said "unknown subcommand").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subcommand } from './args.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('a leading option is not taken for a subcommand', () => {
  assert.deepEqual(subcommand(['list', '--json']), { sub: 'list', rest: ['--json'] });
  assert.deepEqual(subcommand(['--help']), { sub: undefined, rest: ['--help'] });
  assert.deepEqual(subcommand(['-h', 'list']), { sub: undefined, rest: ['-h', 'list'] });
  assert.deepEqual(subcommand([]), { sub: undefined, rest: [] });
});

test('pvhctl COMMAND --help and -h print that command\'s help and exit 0, for every command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-help-'));
  const env = { ...process.env, PVHCTL_DATA_DIR: join(dir, 'data') };
  try {
    const top = spawnSync(process.execPath, [BIN, '--help'], { env, encoding: 'utf8' });
    assert.equal(top.status, 0);
    const names = [...top.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
    assert.ok(names.length >= 13 && ['host', 'guest', 'token', 'shell', 'config', 'lab'].every((n) => names.includes(n)), top.stdout);
    for (const name of names) {
      for (const flag of ['--help', '-h']) {
        const r = spawnSync(process.execPath, [BIN, name, flag], { env, encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 0, `pvhctl ${name} ${flag}: ${r.stderr}`);
        assert.equal(r.stderr, '', `pvhctl ${name} ${flag}`);
        assert.match(r.stdout, new RegExp(`^usage: pvhctl ${name === 'rollback' ? '(switch|rollback)' : name}\\b`), `pvhctl ${name} ${flag}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
