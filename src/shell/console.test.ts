/**
 * The console's edges that a terminal cannot show a test: where the backlog starts, the words for
 * xenconsole's failures, and the clean screen written before the backlog. The end-to-end console
 * (real SSH, tmux) is in server.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backlog, consoleFailure, type ShellBackend } from './backend.ts';
import { startSession, TERMINAL_CLEAR, TERMINAL_RESET } from './session.ts';

test('the backlog starts at a line, never inside an escape sequence or a character', () => {
  const log = `${'x'.repeat(50)}\x1b[1;32m[  OK  ]\x1b[0m Started getty\nDebian GNU/Linux 12 lab ttyS0\n\nlab login: `;
  for (let max = 1; max <= log.length; max++) {
    const b = backlog(log, max);
    assert.ok(log.endsWith(b), String(max));
    assert.ok(b.length <= max);
    assert.ok(b === log || b === '' || log[log.length - b.length - 1] === '\n', `max ${max} starts mid-line: ${JSON.stringify(b.slice(0, 20))}`);
  }
  assert.equal(backlog('short', 2048), 'short');
  assert.equal(backlog('é'.repeat(100), 10), '');
});

test("xenconsole's failures in words", () => {
  assert.equal(consoleFailure('xenconsole: Could not open /var/lock/xenconsole.4: No such file or directory\r\n'), "the host's console service could not take its lock file (No such file or directory)");
  assert.equal(consoleFailure('boot text\r\nxenconsole: Could not read tty from store: No such file or directory\r\n'), "the host's console service failed (Could not read tty from store: No such file or directory)");
  assert.equal(consoleFailure('xl console web1: web1 is an invalid domain identifier'), 'the server is not running');
  assert.equal(consoleFailure(''), 'the host ended it');
  assert.doesNotMatch(consoleFailure('xenconsole: \x1b]52;c;AAAA\x07evil'), /\x1b|\x07/);
});

test('attaching clears the screen before the backlog (no log tail cut mid sequence on a dirty screen)', async () => {
  const written: string[] = [];
  const backend = {
    guests: async () => [{ label: 'web1', name: 'web1', host: 'xen1', mode: 'pv', health: 'ok' }],
    audit: async () => {},
    console: async (_c: string, _r: string, onData: (t: string) => void) => {
      onData('lab login: ');
      return { ok: true as const, value: { interactive: true, write: () => {}, stop: () => {} } };
    },
  } as unknown as ShellBackend;
  const s = startSession(backend, { customer: 'alice', guest: 'web1', from: 'test' }, { write: (t) => written.push(t), end: () => {} }, true);
  s.input('console\r');
  for (let i = 0; i < 100 && !written.join('').includes('lab login: '); i++) await new Promise((r) => setTimeout(r, 10));
  const all = written.join('');
  const reset = all.indexOf(`${TERMINAL_RESET}${TERMINAL_CLEAR}`);
  assert.ok(reset >= 0, 'reset and clear are written');
  assert.ok(reset < all.indexOf('Attaching to the console') && all.indexOf('Attaching to the console') < all.indexOf('lab login: '));
  s.input('\x1d');
});
