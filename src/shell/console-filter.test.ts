import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzCases, fuzzSeed, rng } from '../../test/support/fuzz.ts';
import type { ShellBackend } from './backend.ts';
import { CONSOLE_RESET, filterConsole, newFilter } from './console-filter.ts';
import { DETACH, startSession } from './session.ts';

const f = (...chunks: string[]) => {
  let s = newFilter();
  let out = '';
  for (const c of chunks) {
    const r = filterConsole(s, c);
    s = r.state;
    out += r.out;
  }
  return out;
};

test('text, line ends, tabs and UTF-8 pass unchanged', () => {
  const boot = '[    0.000000] Linux version 6.1.0-26-amd64\r\nDebian GNU/Linux 12 web1 hvc0\r\n\r\nweb1 login: \tcafé → ✓ 日本\b';
  assert.equal(f(boot), boot);
});

test('colours, cursor moves, erases and cursor hiding pass (what getty, systemd and less use)', () => {
  for (const seq of ['\x1b[0m', '\x1b[1;32m', '\x1b[m', '\x1b[38;5;208m', '\x1b[2J', '\x1b[K', '\x1b[10;1H', '\x1b[3A', '\x1b[5G', '\x1b[4X', '\x1b[2P', '\x1b[?25l', '\x1b[?25h']) {
    assert.equal(f(`a${seq}b`), `a${seq}b`, JSON.stringify(seq));
  }
  assert.equal(f('[  \x1b[0;32mOK  \x1b[0m] Started'), '[  \x1b[0;32mOK  \x1b[0m] Started');
});

test('terminal modes, reports, scroll regions and resets are dropped whole', () => {
  const dropped = [
    '\x1b[?1000h', // mouse reporting: the terminal would start typing into the session
    '\x1b[?1002h', '\x1b[?1003h', '\x1b[?1006h', '\x1b[?2004h', '\x1b[?1h',
    '\x1b[?1049h', '\x1b[?47h', // the alternate screen
    '\x1b[1;1r', // a scroll region of one line
    '\x1b[4h', // insert mode
    '\x1b[12h', // local echo off (SRM)
    '\x1b[20h', '\x1b[?7l', '\x1b[?25;1000h', '\x1b[6n', '\x1b[c', '\x1b[>c', '\x1b[5i', '\x1b[4;"p', '\x1b[s', '\x1b[21t',
    '\x1bc', '\x1b(0', '\x1b)0', '\x1b#8', '\x1b7', '\x1b8', '\x1b=', '\x1bM', '\x1bN', '\x1b%G',
    '\u009b?1000h', '\u009b1m',
  ];
  for (const seq of dropped) assert.equal(f(`a${seq}b`), 'ab', JSON.stringify(seq));
});

test('control strings (OSC, DCS, APC, PM, SOS) are dropped up to their terminator', () => {
  assert.equal(f('a\x1b]0;owned\x07b'), 'ab');
  assert.equal(f('a\x1b]52;c;ZXZpbA==\x1b\\b'), 'ab', 'clipboard write');
  assert.equal(f('a\x1bP+q544e\x1b\\b'), 'ab', 'DECRQSS/XTGETTCAP');
  assert.equal(f('a\x1b_Gf=100;AAAA\x1b\\b'), 'ab', 'kitty graphics (APC)');
  assert.equal(f('a\x1b^pm\x1b\\b\x1bXsos\x1b\\c'), 'abc');
  assert.equal(f('a\u009d0;owned\u009cb\u0090q\u009cc'), 'abc', 'C1 forms');
  assert.equal(f('a\x1b]0;', 'ow', 'ned\x1b', '\\b'), 'ab', 'cut across reads');
  assert.equal(f('a\x1b]0;x\x1b[31mb'), 'a\x1b[31mb', 'an escape ends the string and is judged itself');
  const long = f(`a\x1b]0;${'x'.repeat(10_000)}`);
  assert.ok(!long.includes('\x1b') && long.length < 10_000, 'an endless string is bounded');
});

test('C0 and C1 controls and the bidi controls are dropped', () => {
  assert.equal(f('a\x07\x00\x0e\x0f\x7f\x85\x9cb'), 'ab');
  assert.equal(f('user \u202Etxt.exe\u202C name'), 'user txt.exe name', 'RLO and PDF');
  assert.equal(f('\u2066a\u2067b\u2068c\u2069\u200e\u200f\u061c\u202a\u202b\u202d'), 'abc');
});

test('a sequence cut across reads is held and judged whole', () => {
  assert.equal(f('a\x1b', '[1m', 'b'), 'a\x1b[1mb');
  assert.equal(f('a\x1b[', '?10', '00h', 'b'), 'ab');
  assert.equal(f('x\x1b'), 'x', 'held, not lost, until the next read');
});

test('an endless CSI is cut at a bound and never passes', () => {
  const out = f(`\x1b[${'1;'.repeat(1000)}h`);
  assert.ok(!out.includes('\x1b'));
  assert.ok(out.length > 1000, 'what follows the bound is shown as text');
});

/**
 * What may reach the terminal: printable text, CR LF TAB BS, and the allowed CSI sequences.
 * Tokenizing the output with this proves nothing else got out.
 */
const ALLOWED = /\x1b\[[0-9;]*[ABCDEFGHJKLMPXdfm@`]|\x1b\[\?25[hl]|[\r\n\t\b]|[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gy;

function onlyAllowed(out: string): boolean {
  ALLOWED.lastIndex = 0;
  let at = 0;
  while (at < out.length) {
    ALLOWED.lastIndex = at;
    if (!ALLOWED.exec(out)) return false;
    at = ALLOWED.lastIndex;
  }
  return true;
}

test('fuzz: only allowed sequences get out, and how the output is cut into reads never matters', () => {
  const seed = fuzzSeed();
  const r = rng(seed);
  const pieces = ['\x1b', '[', ']', 'P', '_', '?', ';', '1', '0', '25', '1000', 'h', 'l', 'm', 'r', 'H', '\\', '\x07', '\u009b', '\u009d', '\u009c', '\u202e', '\r\n', 'é', '(', '#', ' ', '"', '>'];
  for (let n = 0; n < fuzzCases(2000); n++) {
    let input = '';
    const len = 1 + Math.floor(r() * 40);
    for (let k = 0; k < len; k++) input += r() < 0.8 ? pieces[Math.floor(r() * pieces.length)]! : String.fromCharCode(Math.floor(r() * 0x2100));
    const whole = f(input);
    assert.ok(onlyAllowed(whole), `seed ${seed} case ${n}: ${JSON.stringify(input)} gave ${JSON.stringify(whole)}`);
    const cuts: string[] = [];
    for (let at = 0; at < input.length;) {
      const step = 1 + Math.floor(r() * 5);
      cuts.push(input.slice(at, at + step));
      at += step;
    }
    assert.equal(f(...cuts), whole, `seed ${seed} case ${n}: ${JSON.stringify(input)} cut as ${JSON.stringify(cuts)}`);
  }
});

test('detaching from the console resets what the guest could have set before the shell writes again', async () => {
  let onData: (text: string) => void = () => {};
  const backend = {
    guests: async () => [{ label: 'web1', name: 'web1', host: 'xen1', mode: 'pv', health: 'ok' }],
    audit: async () => {},
    console: async (_c: string, _r: string, data: (text: string) => void) => {
      onData = data;
      return { ok: true as const, value: { interactive: true, write: () => {}, stop: () => {} } };
    },
  } as unknown as ShellBackend;
  let screen = '';
  const s = startSession(backend, { customer: 'alice', guest: 'web1', from: 'test' }, { write: (t) => (screen += t), end: () => {} }, true);
  s.input('console\r');
  for (let i = 0; i < 100 && !screen.includes('Ctrl-]'); i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 20));
  onData('\x1b[?25l\x1b[1;31m\x1b[?1000h\x1b[?1049h\u202eevil');
  s.input(DETACH);
  for (let i = 0; i < 100 && !screen.includes('Detached'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(screen, /Detached from the console\./);
  const afterGuest = screen.slice(screen.lastIndexOf('evil'));
  assert.ok(afterGuest.indexOf(CONSOLE_RESET) >= 0 && afterGuest.indexOf(CONSOLE_RESET) < afterGuest.indexOf('Detached'), JSON.stringify(afterGuest));
  assert.doesNotMatch(screen, /\?1000h|\?1049h|\u202e/);
  s.close();
});
