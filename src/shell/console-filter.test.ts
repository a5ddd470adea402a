import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterConsole, newFilter } from './console-filter.ts';

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
  const boot = '[    0.000000] Linux version 6.1.0-26-amd64\r\nDebian GNU/Linux 12 web1 hvc0\r\n\r\nweb1 login: \tcafé → ✓\b';
  assert.equal(f(boot), boot);
});

test('colours, cursor moves and erases pass (what getty, systemd and less use)', () => {
  for (const seq of ['\x1b[0m', '\x1b[1;32m', '\x1b[2J', '\x1b[K', '\x1b[10;1H', '\x1b[?25l', '\x1b[?25h', '\x1b[3A', '\x1b[1;24r']) {
    assert.equal(f(`a${seq}b`), `a${seq}b`, JSON.stringify(seq));
  }
  assert.equal(f('[  \x1b[0;32mOK  \x1b[0m] Started'), '[  \x1b[0;32mOK  \x1b[0m] Started');
});

test('sequences that make the terminal talk back, retitle it or touch the clipboard are made visible', () => {
  assert.equal(f('\x1b]0;owned\x07'), '\\x1b]0;owned\\x07');
  assert.equal(f('\x1b]52;c;ZXZpbA==\x07'), '\\x1b]52;c;ZXZpbA==\\x07');
  assert.equal(f('\x1b[6n'), '\\x1b[6n', 'cursor position report');
  assert.equal(f('\x1b[c'), '\\x1b[c', 'device attributes');
  assert.equal(f('\x1bP+q544e\x1b\\'), '\\x1bP+q544e\\x1b\\');
  assert.equal(f('\x1b[>c'), '\\x1b[>c');
  assert.equal(f('\x1b[4;"p'), '\\x1b[4;"p');
  assert.equal(f('\x07\x00\x9b2J\u0085'), '\\x07\\x00\\x9b2J\\x85');
});

test('a sequence cut across reads is held and judged whole', () => {
  assert.equal(f('a\x1b', '[1m', 'b'), 'a\x1b[1mb');
  assert.equal(f('a\x1b[', '6', 'n'), 'a\\x1b[6n');
  assert.equal(f('x\x1b'), 'x', 'held, not lost, until the next read');
});

test('an endless CSI is cut at a bound and shown', () => {
  const out = f(`\x1b[${'1;'.repeat(1000)}`);
  assert.ok(out.startsWith('\\x1b['));
  assert.ok(out.length > 1000);
});

test('fuzz: never throws, never lets an OSC or DCS through', () => {
  let seed = 3;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  let s = newFilter();
  let all = '';
  for (let i = 0; i < 3000; i++) {
    let c = '';
    for (let j = 0; j < 8; j++) c += rnd() < 0.2 ? '\x1b' : rnd() < 0.2 ? ']P[' [Math.floor(rnd() * 3)]! : String.fromCharCode(Math.floor(rnd() * 0xa0));
    const r = filterConsole(s, c);
    s = r.state;
    all += r.out;
  }
  assert.doesNotMatch(all, /\x1b[\]P^_X]/);
  assert.doesNotMatch(all, /[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f-\x9f]/);
});
