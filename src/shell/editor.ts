/**
 * The Xen Shell's line editor, as a pure function: the editor's state and the bytes a terminal
 * sent in, to the new state, the bytes to send back, and the lines (or Ctrl-C, Ctrl-D) typed.
 * It knows the keys an SSH client sends from a VT100-style terminal (readline's defaults: arrows,
 * Home/End, Ctrl-A/E/B/F/K/U/W/L/P/N, Tab), accepts printable ASCII only, and bounds the line and
 * any escape sequence it is in the middle of.
 */
import { MAX_LINE, type Completion } from './commands.ts';

export type EditorState = {
  buf: string;
  cursor: number;
  /** Lines entered, oldest first (at most MAX_HISTORY). */
  history: string[];
  /** Index into history while browsing it with the arrows, else null. */
  browsing: number | null;
  /** The line being typed before browsing started. */
  draft: string;
  /** An escape sequence cut across two reads. */
  pending: string;
  /** The previous key was a carriage return (so a following LF is the same Enter). */
  afterCR: boolean;
};

export type EditorEvent = { kind: 'line'; line: string } | { kind: 'interrupt' } | { kind: 'eof' };

export type FeedResult = { state: EditorState; out: string; events: EditorEvent[] };

export const MAX_HISTORY = 100;
/** Longer than any key's escape sequence; a longer one is garbage and dropped. */
const MAX_ESCAPE = 16;

/**
 * A new, empty editor, optionally with earlier lines to recall.
 * @example
 * newEditor(['status']).history // => ['status']
 */
export function newEditor(history: string[] = []): EditorState {
  return { buf: '', cursor: 0, history: history.slice(-MAX_HISTORY), browsing: null, draft: '', pending: '', afterCR: false };
}

/**
 * Redraws the prompt and line with the cursor in place: carriage return, prompt, text, clear to
 * the end of the line, cursor back.
 * @example
 * render('> ', { ...newEditor(), buf: 'stat', cursor: 2 }) // => '\r> stat\x1b[K\x1b[2D'
 */
export function render(prompt: string, s: EditorState): string {
  const back = s.buf.length - s.cursor;
  return `\r${prompt}${s.buf}\x1b[K${back > 0 ? `\x1b[${back}D` : ''}`;
}

type Named = 'enter' | 'backspace' | 'delete' | 'tab' | 'ctrl-c' | 'ctrl-d' | 'home' | 'end' | 'left' | 'right' | 'up' | 'down' | 'kill-end' | 'kill-start' | 'kill-word' | 'clear' | 'lf' | 'ignore';
type Key = { k: 'char'; c: string } | { k: Named };

const CONTROL: Record<string, Named> = {
  '\r': 'enter',
  '\n': 'lf',
  '\x7f': 'backspace',
  '\x08': 'backspace',
  '\t': 'tab',
  '\x03': 'ctrl-c',
  '\x04': 'ctrl-d',
  '\x01': 'home',
  '\x05': 'end',
  '\x02': 'left',
  '\x06': 'right',
  '\x10': 'up',
  '\x0e': 'down',
  '\x0b': 'kill-end',
  '\x15': 'kill-start',
  '\x17': 'kill-word',
  '\x0c': 'clear',
};

const CSI_KEYS: Record<string, Named> = {
  A: 'up',
  B: 'down',
  C: 'right',
  D: 'left',
  H: 'home',
  F: 'end',
  '1~': 'home',
  '7~': 'home',
  '4~': 'end',
  '8~': 'end',
  '3~': 'delete',
};

/**
 * Splits input into keys. Returns the keys and an unfinished escape sequence to keep for the next
 * read.
 */
function keysOf(input: string): { keys: Key[]; rest: string } {
  const keys: Key[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === '\x1b') {
      const intro = input[i + 1];
      if (intro === undefined) return { keys, rest: input.slice(i) };
      if (intro !== '[' && intro !== 'O') {
        keys.push({ k: 'ignore' }); // Alt-key: not bound
        i += 2;
        continue;
      }
      let j = i + 2;
      while (j < input.length && j - i < MAX_ESCAPE && !/[@-~]/.test(input[j]!)) j++;
      if (j >= input.length) {
        const partial = input.slice(i);
        return { keys, rest: partial.length < MAX_ESCAPE ? partial : '' };
      }
      const body = input.slice(i + 2, j + 1);
      keys.push({ k: CSI_KEYS[body] ?? 'ignore' });
      i = j + 1;
      continue;
    }
    const control = CONTROL[c];
    if (control !== undefined) keys.push({ k: control });
    else if (c >= ' ' && c <= '~') keys.push({ k: 'char', c });
    else keys.push({ k: 'ignore' });
    i++;
  }
  return { keys, rest: '' };
}

const BELL = '\x07';

/**
 * Feeds terminal input to the editor.
 * @example
 * const r = feed(newEditor(), 'status\r', '> ', () => ({ insert: '', choices: [] }));
 * r.events // => [{ kind: 'line', line: 'status' }]
 */
export function feed(state: EditorState, input: string, prompt: string, completer: (before: string) => Completion): FeedResult {
  const { keys, rest } = keysOf(state.pending + input);
  let s: EditorState = { ...state, pending: rest };
  let out = '';
  const events: EditorEvent[] = [];
  const redraw = () => {
    out += render(prompt, s);
  };
  for (const key of keys) {
    const afterCR = s.afterCR;
    s = { ...s, afterCR: key.k === 'enter' };
    switch (key.k) {
      case 'char':
        if (s.buf.length >= MAX_LINE) {
          out += BELL;
          break;
        }
        s = { ...s, buf: s.buf.slice(0, s.cursor) + key.c + s.buf.slice(s.cursor), cursor: s.cursor + 1 };
        if (s.cursor === s.buf.length) out += key.c;
        else redraw();
        break;
      case 'lf':
      case 'enter': {
        if (key.k === 'lf' && afterCR) break; // CR LF is one Enter; a bare LF is Enter too
        const line = s.buf;
        const history = line.trim() !== '' && s.history[s.history.length - 1] !== line ? [...s.history, line].slice(-MAX_HISTORY) : s.history;
        s = { ...s, buf: '', cursor: 0, history, browsing: null, draft: '' };
        out += '\r\n';
        events.push({ kind: 'line', line });
        break;
      }
      case 'backspace':
        if (s.cursor === 0) {
          out += BELL;
          break;
        }
        s = { ...s, buf: s.buf.slice(0, s.cursor - 1) + s.buf.slice(s.cursor), cursor: s.cursor - 1 };
        redraw();
        break;
      case 'delete':
        if (s.cursor >= s.buf.length) break;
        s = { ...s, buf: s.buf.slice(0, s.cursor) + s.buf.slice(s.cursor + 1) };
        redraw();
        break;
      case 'ctrl-d':
        if (s.buf.length === 0) {
          events.push({ kind: 'eof' });
          break;
        }
        if (s.cursor < s.buf.length) {
          s = { ...s, buf: s.buf.slice(0, s.cursor) + s.buf.slice(s.cursor + 1) };
          redraw();
        }
        break;
      case 'ctrl-c':
        s = { ...s, buf: '', cursor: 0, browsing: null, draft: '' };
        out += '^C\r\n';
        events.push({ kind: 'interrupt' });
        break;
      case 'tab': {
        const before = s.buf.slice(0, s.cursor);
        const c = completer(before);
        const insert = c.insert.slice(0, MAX_LINE - s.buf.length);
        if (insert.length > 0) {
          s = { ...s, buf: before + insert + s.buf.slice(s.cursor), cursor: s.cursor + insert.length };
          redraw();
        } else if (c.choices.length > 0) {
          out += `\r\n${c.choices.join('  ')}\r\n`;
          redraw();
        } else {
          out += BELL;
        }
        break;
      }
      case 'home':
        s = { ...s, cursor: 0 };
        redraw();
        break;
      case 'end':
        s = { ...s, cursor: s.buf.length };
        redraw();
        break;
      case 'left':
        if (s.cursor > 0) {
          s = { ...s, cursor: s.cursor - 1 };
          out += '\x1b[D';
        }
        break;
      case 'right':
        if (s.cursor < s.buf.length) {
          s = { ...s, cursor: s.cursor + 1 };
          out += '\x1b[C';
        }
        break;
      case 'up': {
        if (s.history.length === 0 || s.browsing === 0) {
          out += BELL;
          break;
        }
        const at = s.browsing === null ? s.history.length - 1 : s.browsing - 1;
        const line = s.history[at]!;
        s = { ...s, draft: s.browsing === null ? s.buf : s.draft, browsing: at, buf: line, cursor: line.length };
        redraw();
        break;
      }
      case 'down': {
        if (s.browsing === null) {
          out += BELL;
          break;
        }
        const at = s.browsing + 1;
        const line = at >= s.history.length ? s.draft : s.history[at]!;
        s = { ...s, browsing: at >= s.history.length ? null : at, buf: line, cursor: line.length };
        redraw();
        break;
      }
      case 'kill-end':
        s = { ...s, buf: s.buf.slice(0, s.cursor) };
        redraw();
        break;
      case 'kill-start':
        s = { ...s, buf: s.buf.slice(s.cursor), cursor: 0 };
        redraw();
        break;
      case 'kill-word': {
        const before = s.buf.slice(0, s.cursor).replace(/[^ ]+ *$/, '');
        s = { ...s, buf: before + s.buf.slice(s.cursor), cursor: before.length };
        redraw();
        break;
      }
      case 'clear':
        out += '\x1b[H\x1b[2J';
        redraw();
        break;
      case 'ignore':
        break;
    }
  }
  return { state: s, out, events };
}
