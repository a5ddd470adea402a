import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

test('pvhctl owner set-email and list; invalid owners and addresses are usage errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-owner-'));
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, 'owner', ...args, '--data-dir', dir], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  try {
    assert.equal(run('set-email', 'alice', 'Alice@Example.COM').status, 0);
    assert.equal(run('set-email', 'bob', 'bob@example.org').status, 0);
    const list = run('list');
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^alice\s+Alice@example\.com\s+0$/m);
    assert.deepEqual(JSON.parse(run('list', '--json').stdout).map((o: { owner: string }) => o.owner), ['alice', 'bob']);
    const bad = run('set-email', 'carol', 'carol@example.com\r\nBcc: x@evil.example');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^pvhctl owner: "carol@example\.com\\r\\nBcc: x@evil\.example": not an address like alice@example\.com\n$/);
    assert.equal(run('set-email', 'a\u0007b', 'a@example.com').status, 2);
    assert.equal(run('set-email', 'alice').status, 2);
    assert.equal(run('list', '--limit', '0').status, 2);
    assert.doesNotMatch(run('list').stdout, /carol/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
