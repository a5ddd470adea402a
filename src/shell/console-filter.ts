/**
 * What of a guest's console output reaches the customer's terminal. The bytes are the guest's,
 * so hostile: an escape sequence can turn on mouse reporting (the terminal then types into the
 * session), switch screens, set a scroll region or insert mode that outlive the console, retitle
 * a window, write to the clipboard (OSC 52) or make the terminal answer back. So the filter is
 * an allow-list (ECMA-48 names): text, CR, LF, TAB, BS, and the CSI sequences a login prompt,
 * systemd or a pager uses that change only what is drawn (SGR colours, cursor moves, erase,
 * insert/delete of characters and lines, and hiding the cursor). Everything else is dropped
 * whole: other CSI sequences (modes, reports, scroll regions), other escapes (charset switches,
 * resets), control strings (OSC, DCS, APC, PM, SOS) up to their terminator, C0 and C1 controls,
 * and the Unicode bidi controls that reorder what the customer reads.
 * The filter is a pure function with a small state, since a sequence can be cut across reads.
 */

/**
 * Between reads: `text` with an incomplete escape sequence held back, or inside a control
 * string being dropped (`seen` characters so far, bounded by MAX_STRING).
 */
export type FilterState = { kind: 'text'; pending: string } | { kind: 'string'; pending: string; seen: number };

/** Longest CSI sequence kept whole; real ones are under 16 characters. */
const MAX_CSI = 32;
/** Longest control string swallowed; past it the rest is shown as text (the terminal never saw its start). */
const MAX_STRING = 4096;

/** SGR (m); cursor moves CUU..CHA (A-G), CUP (H), HVP (f), VPA (d), HPA (`); erase ED (J), EL (K), ECH (X); ICH (@), IL (L), DL (M), DCH (P). */
const SAFE_CSI = /^[0-9;]*[ABCDEFGHJKLMPXdfm@`]$/;
/** DECTCEM: hide and show the cursor (getty and pagers use it); reset on detach. */
const CURSOR_VISIBILITY = /^\?25[hl]$/;

/**
 * What restores the terminal after the console: all that the allow-list lets a guest change
 * beyond the screen's content is the graphic rendition and the cursor's visibility.
 */
export const CONSOLE_RESET = '\x1b[0m\x1b[?25h';

/** Bidi controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI): they reorder text on screen. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * The filter's state before any output.
 * @example
 * newFilter() // => { kind: 'text', pending: '' }
 */
export const newFilter = (): FilterState => ({ kind: 'text', pending: '' });

/** Introducers of control strings: ESC ] (OSC), ESC P (DCS), ESC _ (APC), ESC ^ (PM), ESC X (SOS). */
const STRING_7BIT = new Set([']', 'P', '_', '^', 'X']);
/** The same as C1 code points, and CSI (U+009B). */
const STRING_C1 = new Set(['\u009d', '\u0090', '\u009f', '\u009e', '\u0098']);
const CSI_C1 = '\u009b';

/**
 * Filters a chunk of console output, decoded from UTF-8 (a streaming TextDecoder), so that C1
 * controls are code points U+0080–U+009F and never the continuation bytes of a character.
 * @example
 * filterConsole(newFilter(), 'login: \x1b[1mroot\x1b[0m\r\n\x1b]0;owned\x07\x1b[?1000h$ ').out
 * // => 'login: \x1b[1mroot\x1b[0m\r\n$ '
 */
export function filterConsole(state: FilterState, chunk: string): { state: FilterState; out: string } {
  const s = state.pending + chunk;
  let out = '';
  let i = 0;
  let seen = state.kind === 'string' ? state.seen : -1; // -1: in text
  while (i < s.length) {
    const c = s[i]!;
    if (seen >= 0) {
      // Inside a dropped control string: up to ST (ESC \ or U+009C), BEL, CAN or SUB, or the bound.
      if (c === '\x1b') {
        if (i + 1 >= s.length) return { state: { kind: 'string', pending: s.slice(i), seen }, out };
        seen = -1;
        if (s[i + 1] === '\\') i += 2; // ST; any other escape ends the string and is judged itself
        continue;
      }
      seen++;
      i++;
      if (c === '\u009c' || c === '\x07' || c === '\x18' || c === '\x1a' || seen > MAX_STRING) seen = -1;
      continue;
    }
    if (c === '\x1b' || c === CSI_C1) {
      const seq = escape(s, i);
      if (seq.kind === 'incomplete') return { state: { kind: 'text', pending: s.slice(i) }, out };
      if (seq.kind === 'string') seen = 0;
      else if (seq.kind === 'pass') out += s.slice(i, seq.end);
      i = seq.end;
      continue;
    }
    if (STRING_C1.has(c)) {
      seen = 0;
      i++;
      continue;
    }
    const code = c.charCodeAt(0);
    const control = (code < 0x20 && c !== '\r' && c !== '\n' && c !== '\t' && c !== '\b') || (code >= 0x7f && code <= 0x9f);
    if (!control && !BIDI.test(c)) out += c;
    i++;
  }
  return { state: seen >= 0 ? { kind: 'string', pending: '', seen } : { kind: 'text', pending: '' }, out };
}

type Escape = { kind: 'incomplete' } | { kind: 'pass' | 'drop' | 'string'; end: number };

/** Judges the escape sequence at `s[i]` (ESC or U+009B): where it ends and what becomes of it. */
function escape(s: string, i: number): Escape {
  let j = i + 1;
  const csi = s[i] === CSI_C1;
  if (!csi) {
    if (j >= s.length) return { kind: 'incomplete' };
    const next = s[j]!;
    if (STRING_7BIT.has(next)) return { kind: 'string', end: j + 1 };
    if (next !== '[') {
      // ESC, intermediates (0x20-0x2F), one final (0x30-0x7E): charset designations, DECSC, RIS...
      while (j < s.length && j - i < MAX_CSI && s[j]! >= ' ' && s[j]! <= '/') j++;
      if (j >= s.length) return j - i < MAX_CSI ? { kind: 'incomplete' } : { kind: 'drop', end: j };
      const final = s[j]!;
      return { kind: 'drop', end: final >= '0' && final <= '~' ? j + 1 : j };
    }
    j++;
  }
  // CSI: parameters (0x30-0x3F), intermediates (0x20-0x2F), one final (0x40-0x7E).
  const start = j;
  while (j < s.length && j - i < MAX_CSI && s[j]! >= ' ' && s[j]! <= '?') j++;
  if (j >= s.length) return j - i < MAX_CSI ? { kind: 'incomplete' } : { kind: 'drop', end: j };
  const final = s[j]!;
  if (final < '@' || final > '~') return { kind: 'drop', end: j }; // malformed or too long: what follows is judged itself
  const body = s.slice(start, j + 1);
  return { kind: !csi && (SAFE_CSI.test(body) || CURSOR_VISIBILITY.test(body)) ? 'pass' : 'drop', end: j + 1 };
}
