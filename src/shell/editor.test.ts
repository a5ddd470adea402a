import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LINE, complete, type Completion } from './commands.ts';
import { feed, newEditor, render, MAX_HISTORY, type EditorState, type EditorEvent } from './editor.ts';

const P = '> ';
const noComplete = (_before: string): Completion => ({ insert: '', choices: [] });

/** Feeds each chunk in turn; returns the final state, all output and all events. */
function type(chunks: string[], s: EditorState = newEditor(), completer = noComplete) {
  let out = '';
  const events: EditorEvent[] = [];
  for (const c of chunks) {
    const r = feed(s, c, P, completer);
    s = r.state;
    out += r.out;
    events.push(...r.events);
  }
  return { s, out, events };
}
const lines = (events: EditorEvent[]) => events.flatMap((e) => (e.kind === 'line' ? [e.line] : []));

test('typing echoes and Enter gives the line (CR, LF, CR LF each once)', () => {
  const r = type(['sta', 'tus\r']);
  assert.deepEqual(lines(r.events), ['status']);
  assert.equal(r.out, 'status\r\n');
  assert.deepEqual(lines(type(['a\r\nb\nc\r']).events), ['a', 'b', 'c']);
  assert.deepEqual(lines(type(['a\r', '\nb\r']).events), ['a', 'b']);
  assert.deepEqual(lines(type(['\r\r']).events), ['', '']);
});

test('editing keys: backspace, delete, arrows, home/end, kill, word kill', () => {
  assert.deepEqual(lines(type(['stx\x7fatus\r']).events), ['status']);
  assert.deepEqual(lines(type(['stx\x08atus\r']).events), ['status']);
  assert.deepEqual(lines(type(['sttus\x1b[D\x1b[D\x1b[Da\r']).events), ['status']); // left ×3 from the end of "sttus"
  assert.deepEqual(lines(type(['tatus\x01s\r']).events), ['status']); // Ctrl-A
  assert.deepEqual(lines(type(['tatus\x1b[Hs\x1b[F!\x7f\r']).events), ['status']);
  assert.deepEqual(lines(type(['tatus\x1bOHs\r']).events), ['status']);
  assert.deepEqual(lines(type(['xstatus\x1b[1~\x1b[3~\r']).events), ['status']); // Home, Delete
  assert.deepEqual(lines(type(['status junk\x17\x17status\r']).events), ['status']); // Ctrl-W twice
  assert.deepEqual(lines(type(['junk\x15status\r']).events), ['status']); // Ctrl-U
  assert.deepEqual(lines(type(['statusjunk\x1b[D\x1b[D\x1b[D\x1b[D\x0b\r']).events), ['status']); // Ctrl-K
  assert.deepEqual(lines(type(['stus\x02\x02at\x06\x06!\x7f\r']).events), ['status']); // Ctrl-B/F
  assert.equal(type(['\x7f']).out, '\x07', 'backspace at the start rings the bell');
});

test('an escape sequence cut across two reads is kept and finished', () => {
  const r = type(['ab\x1b', '[D', 'X\r']);
  assert.deepEqual(lines(r.events), ['aXb']);
  const r2 = type(['ab\x1b[', '3', '~\r']);
  assert.deepEqual(lines(r2.events), ['ab']);
  assert.equal(type(['\x1b[1;5A', 'ok\r']).s.history.at(-1), 'ok', 'an unknown sequence is ignored');
  assert.deepEqual(lines(type([`\x1b[${'9'.repeat(100)}`, 'ok\r']).events).at(-1)?.endsWith('ok'), true, 'an overlong sequence is dropped');
});

test('Ctrl-C clears the line; Ctrl-D on an empty line is end of input, else deletes', () => {
  const c = type(['junk\x03']);
  assert.deepEqual(c.events, [{ kind: 'interrupt' }]);
  assert.equal(c.s.buf, '');
  assert.deepEqual(type(['\x04']).events, [{ kind: 'eof' }]);
  const d = type(['abc\x01\x04\r']);
  assert.deepEqual(lines(d.events), ['bc']);
});

test('only printable ASCII enters the line, and it is bounded', () => {
  assert.deepEqual(lines(type(['st\x00a\x1ftu\u202es\u00e9\x9b\r']).events), ['status']);
  const long = type(['x'.repeat(MAX_LINE + 50)]);
  assert.equal(long.s.buf.length, MAX_LINE);
  assert.equal(long.out.split('\x07').length - 1, 50);
});

test('history: up/down browse, the draft comes back, duplicates and blanks are skipped', () => {
  let r = type(['status\r', 'check\r', 'check\r', '   \r', 'draft']);
  assert.deepEqual(r.s.history, ['status', 'check']);
  r = type(['\x1b[A'], r.s);
  assert.equal(r.s.buf, 'check');
  r = type(['\x1b[A'], r.s);
  assert.equal(r.s.buf, 'status');
  r = type(['\x1b[A'], r.s);
  assert.equal(r.out, '\x07');
  r = type(['\x1b[B\x1b[B'], r.s);
  assert.equal(r.s.buf, 'draft');
  r = type(['\x10\r'], r.s); // Ctrl-P
  assert.deepEqual(lines(r.events), ['check']);
  const many = type(Array.from({ length: MAX_HISTORY + 20 }, (_, i) => `c${i}\r`));
  assert.equal(many.s.history.length, MAX_HISTORY);
  assert.equal(many.s.history[0], 'c20');
});

test('tab inserts the completion, or lists the choices and redraws', () => {
  const guests = ['web1', 'web2'];
  const c = (b: string) => complete(b, guests);
  assert.deepEqual(lines(type(['che\t\r'], newEditor(), c).events), ['check ']);
  assert.deepEqual(lines(type(['mode pvh-\t\r'], newEditor(), c).events), ['mode pvh-shim ']);
  const list = type(['use web\t'], newEditor(), c);
  assert.match(list.out, /\r\nweb1  web2\r\n\r> use web\x1b\[K$/);
  assert.equal(type(['zz\t'], newEditor(), c).out, 'zz\x07');
  // completion in the middle of a line keeps the rest
  assert.deepEqual(lines(type(['st xyz\x01\x06\x06\t\r'], newEditor(), c).events), ['status  xyz']);
});

test('render redraws the prompt and puts the cursor back', () => {
  assert.equal(render(P, { ...newEditor(), buf: 'stat', cursor: 4 }), '\r> stat\x1b[K');
  assert.equal(render(P, { ...newEditor(), buf: 'stat', cursor: 1 }), '\r> stat\x1b[K\x1b[3D');
});

test('fuzz: random bytes never throw; the line stays printable and bounded', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  let s = newEditor();
  for (let i = 0; i < 3000; i++) {
    let chunk = '';
    const n = Math.floor(rnd() * 12);
    for (let j = 0; j < n; j++) chunk += String.fromCharCode(rnd() < 0.3 ? Math.floor(rnd() * 32) : rnd() < 0.1 ? 0x1b : Math.floor(rnd() * 256));
    const r = feed(s, chunk, P, (b) => complete(b, ['web1']));
    s = r.state;
    assert.ok(s.buf.length <= MAX_LINE && s.cursor >= 0 && s.cursor <= s.buf.length && s.pending.length < 32);
    assert.match(s.buf, /^[\x20-\x7e]*$/);
  }
});
