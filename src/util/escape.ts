/**
 * Guest-controlled strings (kernel notes, boot menus, configs) are escaped before they reach a
 * terminal, a log or a report: control characters, and Unicode bidi/format controls that
 * could reorder or hide text, become visible escapes.
 */

/**
 * Returns `s` with C0/C1 controls, DEL, backslash-free bidi and zero-width characters escaped.
 * @example
 * printable('linux\x1b[31m') // => 'linux\\x1b[31m'
 */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
