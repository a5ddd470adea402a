/**
 * What of a guest's console output reaches the customer's terminal. The bytes are the guest's,
 * so hostile: an escape sequence can retitle a window, write to the clipboard (OSC 52), redefine
 * keys or answer back into the input stream. Text, line endings, tabs, backspace and the CSI
 * sequences a login prompt or a pager uses (colours, cursor moves, erase) pass; every other
 * control character and escape sequence is shown as a visible escape, like `printable()` does.
 * The filter is a pure function with a small state, since a sequence can be cut across reads.
 */
import { printable } from '../util/escape.ts';

export type FilterState = { pending: string };

/** Longest CSI sequence kept whole; real ones are under 16 bytes. */
const MAX_CSI = 32;

// SGR (m), cursor moves (A-H, f, d, G), erase (J, K), scroll region (r), insert/delete (L, M, P, @, X),
// mode set/reset (h, l). Device status reports (n, c) are dropped: they make the terminal answer.
const SAFE_FINAL = /^[ABCDEFGHJKLMPXdfhlmr@]$/;
const CSI_PARAMS = /^[0-9;?]*$/;

/**
 * The filter's state before any output.
 * @example
 * newFilter() // => { pending: '' }
 */
export const newFilter = (): FilterState => ({ pending: '' });

/**
 * Filters a chunk of console output, decoded from UTF-8 (a streaming TextDecoder), so that C1
 * controls are code points U+0080–U+009F and never the continuation bytes of a character.
 * @example
 * filterConsole(newFilter(), 'login: \x1b[1mroot\x1b[0m\r\n\x1b]0;owned\x07').out
 * // => 'login: \x1b[1mroot\x1b[0m\r\n\\x1b]0;owned\\x07'
 */
export function filterConsole(state: FilterState, chunk: string): { state: FilterState; out: string } {
  const s = state.pending + chunk;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    const code = c.charCodeAt(0);
    if (c === '\x1b') {
      if (i + 1 >= s.length) return { state: { pending: s.slice(i) }, out };
      if (s[i + 1] === '[') {
        let j = i + 2;
        while (j < s.length && j - i < MAX_CSI && !/[@-~]/.test(s[j]!)) j++;
        if (j >= s.length && j - i < MAX_CSI) return { state: { pending: s.slice(i) }, out };
        const params = s.slice(i + 2, j);
        const final = s[j] ?? '';
        if (CSI_PARAMS.test(params) && SAFE_FINAL.test(final)) out += s.slice(i, j + 1);
        else out += printable(s.slice(i, j + 1));
        i = j + 1;
        continue;
      }
      out += '\\x1b';
      i++;
      continue;
    }
    if (c === '\r' || c === '\n' || c === '\t' || c === '\b') out += c;
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) out += printable(c);
    else out += c;
    i++;
  }
  return { state: { pending: '' }, out };
}
