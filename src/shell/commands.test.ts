import { test } from 'node:test';
import assert from 'node:assert/strict';
import { complete, COMMAND_NAMES, helpText, MAX_LINE, parseLine } from './commands.ts';

const ok = (line: string) => {
  const r = parseLine(line);
  assert.ok(r.ok, `${line}: ${r.ok ? '' : r.error}`);
  return r.command;
};
const err = (line: string) => {
  const r = parseLine(line);
  assert.ok(!r.ok, `${line} should be refused`);
  return r.error;
};

test('every command parses, with aliases and any case', () => {
  assert.deepEqual(ok('status'), { cmd: 'status' });
  assert.deepEqual(ok('  CHECK  '), { cmd: 'check' });
  assert.deepEqual(ok('mode pvh'), { cmd: 'mode', to: 'pvh', dryRun: false });
  assert.deepEqual(ok('mode PVH-SHIM'), { cmd: 'mode', to: 'pvh-shim', dryRun: false });
  assert.deepEqual(ok('mode pv --dry-run'), { cmd: 'mode', to: 'pv', dryRun: true });
  assert.deepEqual(ok('mode -n pvh'), { cmd: 'mode', to: 'pvh', dryRun: true });
  assert.deepEqual(ok('mode'), { cmd: 'mode', to: null, dryRun: false });
  for (const c of ['undo', 'boot', 'shutdown', 'reboot', 'console', 'history', 'guests', 'exit'] as const) assert.deepEqual(ok(c), { cmd: c });
  assert.deepEqual(ok('quit'), { cmd: 'exit' });
  assert.deepEqual(ok('logout'), { cmd: 'exit' });
  assert.deepEqual(ok('start'), { cmd: 'boot' });
  assert.deepEqual(ok('?'), { cmd: 'help', topic: null });
  assert.deepEqual(ok('help mode'), { cmd: 'help', topic: 'mode' });
  assert.deepEqual(ok('help quit'), { cmd: 'help', topic: 'exit' });
  assert.deepEqual(ok('use web-01.example'), { cmd: 'use', guest: 'web-01.example' });
  assert.deepEqual(ok('use web@xen2'), { cmd: 'use', guest: 'web@xen2' });
  assert.deepEqual(ok(''), { cmd: 'empty' });
  assert.deepEqual(ok(' \t '), { cmd: 'empty' });
});

test('arguments are validated strictly', () => {
  assert.match(err('mode hvm'), /unknown mode "hvm"; choose pvh, pvh-shim or pv/);
  assert.match(err('mode pvh pv'), /give one mode/);
  assert.match(err('mode --dry-run'), /--dry-run needs a mode/);
  assert.match(err('mode pvh --dry-run -n'), /given twice/);
  assert.match(err('mode pvh --force'), /unknown option "--force"/);
  assert.match(err('status xen1'), /status: takes no arguments \(usage: status\)/);
  assert.match(err('reboot now'), /reboot: takes no arguments/);
  assert.match(err('use'), /give one server name/);
  assert.match(err('use a b'), /give one server name/);
  assert.match(err('use -rf'), /is not a server name/);
  assert.match(err('use .hidden'), /is not a server name/);
  assert.match(err('use a@b@c'), /is not a server name/);
  assert.match(err(`use ${'a'.repeat(70)}`), /is not a server name/);
  assert.match(err('help nothing'), /no such command "nothing"/);
});

test('unknown commands get a clear message; shell syntax is refused before lookup', () => {
  assert.equal(err('ls'), 'unknown command "ls"; type "help" for the list');
  assert.equal(err('bash'), 'unknown command "bash"; type "help" for the list');
  assert.match(err(`${'x'.repeat(60)}`), /unknown command "x{40}…"/);
  for (const [line, ch] of [
    ['status;id', ';'], ['status && id', '&'], ['status | sh', '|'], ['$(id)', '$'], ['`id`', '`'], ['status > /tmp/x', '>'],
    ['mode "pvh"', '"'], ["mode 'pvh'", "'"], ['use ../etc', '/'], ['status\x1b[2J', '\x1b'], ['status\x00', '\x00'], ['mode pvh\\', '\\'],
    ['use wéb', 'é'], ['status\u202e', '\u202e'], ['!!', '!'], ['~', '~'], ['status #x', '#'], ['a=b', '='], ['*', '*'],
  ] as const) {
    assert.equal(err(line), `the shell takes plain words only: ${JSON.stringify(ch)} is not allowed`, line);
  }
});

test('lines are bounded', () => {
  assert.match(err('a'.repeat(MAX_LINE + 1)), /line too long/);
  assert.ok(parseLine(`status${' '.repeat(MAX_LINE - 6)}`).ok);
});

test('help lists every command and describes one', () => {
  const all = helpText(null);
  for (const c of COMMAND_NAMES) assert.match(all, new RegExp(`^  ${c}\\b`, 'm'));
  assert.equal(helpText('console'), "console\n  attach to the server's console (Ctrl-] detaches)");
});

test('tab completion: commands, modes, own server names, help topics', () => {
  assert.deepEqual(complete('', []), { insert: '', choices: [...COMMAND_NAMES].sort() });
  assert.deepEqual(complete('st', []), { insert: 'atus ', choices: [] });
  assert.deepEqual(complete('sh', []), { insert: 'utdown ', choices: [] });
  assert.deepEqual(complete('h', []), { insert: '', choices: ['help', 'history'] });
  assert.deepEqual(complete('re', []), { insert: 'boot ', choices: [] });
  assert.deepEqual(complete('x', []), { insert: '', choices: [] });
  assert.deepEqual(complete('mode ', []), { insert: '', choices: ['--dry-run', 'pv', 'pvh', 'pvh-shim'] });
  assert.deepEqual(complete('mode p', []), { insert: 'v', choices: [] });
  assert.deepEqual(complete('mode pvh-', []), { insert: 'shim ', choices: [] });
  assert.deepEqual(complete('mode pvh ', []), { insert: '--dry-run ', choices: [] });
  assert.deepEqual(complete('mode pvh --dry-run ', []), { insert: '', choices: [] });
  assert.deepEqual(complete('MODE pvh-', []), { insert: 'shim ', choices: [] });
  assert.deepEqual(complete('use ', ['web1', 'db1']), { insert: '', choices: ['db1', 'web1'] });
  assert.deepEqual(complete('use d', ['web1', 'db1']), { insert: 'b1 ', choices: [] });
  assert.deepEqual(complete('use w', ['web1', 'web2']), { insert: 'eb', choices: [] });
  assert.deepEqual(complete('use web', ['web1', 'web2']), { insert: '', choices: ['web1', 'web2'] });
  assert.deepEqual(complete('use web1 ', ['web1']), { insert: '', choices: [] });
  assert.deepEqual(complete('help he', []), { insert: 'lp ', choices: [] });
  assert.deepEqual(complete('status ', []), { insert: '', choices: [] });
  assert.deepEqual(complete('bogus ', []), { insert: '', choices: [] });
});

test('fuzz: random lines never throw and every accepted line uses plain words', () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const alphabet = 'statusmodepvhshimundobootconsolehelp -_.@;|&$`\'"\\/\x00\x1b\x7f\u202eé\t';
  for (let i = 0; i < 5000; i++) {
    const n = Math.floor(rnd() * 30);
    let line = '';
    for (let j = 0; j < n; j++) line += alphabet[Math.floor(rnd() * alphabet.length)];
    const r = parseLine(line);
    if (r.ok) assert.match(line, /^[A-Za-z0-9_.:@?\- \t]*$/);
    else assert.ok(r.error.length < 200 && !r.error.includes('\n'));
    complete(line, ['web1']);
  }
});
