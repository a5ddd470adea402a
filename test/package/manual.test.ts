/**
 * pvhctl(8), pvhctl.conf(5) and the bash completion say what --help and the settings table say:
 * rendered by man(1) and run by bash(1), as a user meets them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectHelp } from '../../scripts/package.ts';
import { optionsOf, renderBashCompletion, renderPvhctl8, renderPvhctlConf5 } from '../../src/cli/manual.ts';
import { keyOf, SETTINGS } from '../../src/settings/defs.ts';

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();
/** Every help text, collected once (each is a pvhctl process). */
const { usage, commands } = collectHelp();

function man(dir: string, name: string, roffText: string): string {
  const file = join(dir, name);
  writeFileSync(file, roffText);
  const r = spawnSync('man', ['-l', file], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '200', MAN_KEEP_FORMATTING: '', PAGER: 'cat', LANG: 'C.UTF-8' } });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /warning/i, r.stderr);
  return r.stdout;
}

test('pvhctl(8) carries every command and every line of its --help; pvhctl.conf(5) every setting', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-man-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.ok(commands.length >= 10, usage);
  const page = squash(man(dir, 'pvhctl.8', renderPvhctl8('0.0.0', usage, commands)));
  for (const c of commands) {
    assert.ok(page.includes(`${c.name} - ${squash(c.summary)}`), c.name);
    for (const line of c.help.split('\n').filter((l) => l.trim() !== '')) assert.ok(page.includes(squash(line)), `${c.name}: ${line}`);
  }
  const settingsHelp = commands.find((c) => c.name === 'settings')!.help;
  const conf = squash(man(dir, 'pvhctl.conf.5', renderPvhctlConf5('0.0.0', settingsHelp)));
  for (const def of SETTINGS) {
    assert.ok(conf.includes(`[${def.section}]`), def.section);
    assert.ok(conf.includes(squash(def.doc)), keyOf(def));
    assert.ok(conf.includes(def.env), def.env);
  }
});

test('bash completion: commands, then the options of the command being typed', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-completion-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'pvhctl');
  writeFileSync(script, renderBashCompletion(commands));
  const complete = (...words: string[]) => {
    const r = spawnSync('bash', ['-c', `source "$0"; COMP_WORDS=(pvhctl "$@"); COMP_CWORD=$#; _pvhctl; printf '%s\\n' "\${COMPREPLY[@]}"`, script, ...words], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean).sort();
  };
  assert.deepEqual(complete('se'), ['serve', 'settings']);
  const serve = commands.find((c) => c.name === 'serve')!;
  assert.deepEqual(complete('serve', '--'), [...optionsOf(serve.help), '--help'].sort().filter((o, i, a) => a.indexOf(o) === i));
  assert.ok(complete('serve', '--tl').includes('--tls-cert'));
});
