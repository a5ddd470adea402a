/**
 * The xl config lexer, rule for rule as libxlutil's flex scanner (tools/libs/util/libxlu_cfg_l.l):
 * longest match, earlier rule on a tie, 8-bit (every character that is not part of a token is a
 * lexical error), and the same string unquoting (libxlu_cfg.c xlu__cfgl_dequote) with its quirks.
 */
import type { Position } from './types.ts';

export type TokenKind =
  | 'IDENT' | 'NUMBER' | 'STRING' | '=' | '+=' | ';' | '[' | ']' | ','
  | 'NEWLINE' | 'BLANK' | 'DROPPED' | 'EOF';

export type Token = {
  kind: TokenKind;
  /** Exact source text (for NEWLINE: `\n` or a whole `# comment\n`). */
  text: string;
  /** For STRING: the unquoted value. For IDENT and NUMBER: the text. */
  value: string;
  at: Position;
};

export type LexError = { at: Position; near: string; message: string; likelyPython: boolean };

export type LexResult = { ok: true; tokens: Token[] } | { ok: false; tokens: Token[]; error: LexError };

const isLower = (c: number) => c >= 0x61 && c <= 0x7a;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
// IDENT: [a-z][._0-9a-z]*
const isIdentTail = (c: number) => isLower(c) || isDigit(c) || c === 0x5f || c === 0x2e;
// NUMBER: [0-9][0-9a-fx]*
const isNumberTail = (c: number) => isDigit(c) || (c >= 0x61 && c <= 0x66) || c === 0x78;
// C isspace() in the C locale: what strtoul skips inside an octal escape.
const isCSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
// flex's [+-.():] (the range +-. includes ',', but ',' has its own earlier rule): xl then hints at Python.
const PYTHONISH = new Set(['+', '-', '.', '(', ')', ':']);

/**
 * Splits config text into tokens, blanks and comments included, stopping at the first lexical
 * error. The tokens concatenate back to the input exactly (up to the error).
 * @example
 * lex('a = 1\n') // => { ok: true, tokens: [IDENT a, BLANK, =, BLANK, NUMBER 1, NEWLINE, EOF] }
 */
export function lex(src: string): LexResult {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (offset: number): Position => ({ offset, line, col: offset - lineStart + 1 });
  const push = (kind: TokenKind, start: number, end: number, value?: string) => {
    const text = src.slice(start, end);
    tokens.push({ kind, text, value: value ?? text, at: pos(start) });
  };
  const fail = (start: number, near: string, message: string, likelyPython = false): LexResult => ({
    ok: false,
    tokens,
    error: { at: pos(start), near, message, likelyPython },
  });

  while (i < src.length) {
    const ch = src[i]!;
    const c = src.charCodeAt(i);
    const start = i;
    if (isLower(c)) {
      i++;
      while (i < src.length && isIdentTail(src.charCodeAt(i))) i++;
      push('IDENT', start, i);
    } else if (isDigit(c)) {
      i++;
      while (i < src.length && isNumberTail(src.charCodeAt(i))) i++;
      push('NUMBER', start, i);
    } else if (ch === ' ' || ch === '\t') {
      while (i < src.length && (src[i] === ' ' || src[i] === '\t')) i++;
      push('BLANK', start, i);
    } else if (ch === ',' || ch === '[' || ch === ']' || ch === '=' || ch === ';') {
      i++;
      push(ch, start, i);
    } else if (ch === '+' && src[i + 1] === '=') {
      i += 2;
      push('+=', start, i);
    } else if (ch === '\n') {
      i++;
      push('NEWLINE', start, i);
      line++;
      lineStart = i;
    } else if (ch === '#' && src.indexOf('\n', i) >= 0) {
      // \#.*\n : a comment is a NEWLINE token, and needs its newline (a final one without is an error).
      i = src.indexOf('\n', i) + 1;
      push('NEWLINE', start, i);
      line++;
      lineStart = i;
    } else if ((ch === '"' || ch === "'") && stringEnd(src, i) > 0) {
      i = stringEnd(src, i);
      const raw = src.slice(start, i);
      // libxlutil asserts (and xl aborts) on a NUL inside quotes; we refuse the file instead.
      if (raw.includes('\0')) return fail(start, raw, 'NUL byte in a quoted string');
      const unq = dequote(raw);
      if (!unq.ok) return fail(start, raw, unq.message);
      push('STRING', start, i, unq.value);
    } else {
      // flex `.` then <lexerr>: the bad byte plus the rest of its word is reported. When the bad
      // byte is the very last of the input flex drops it without an error (libxlutil then accepts);
      // a character beyond ASCII is several UTF-8 bytes, so its tail still makes an error.
      const likelyPython = PYTHONISH.has(ch);
      if (i + 1 >= src.length && c < 0x80) {
        i++;
        push('DROPPED', start, i);
        continue;
      }
      let end = i + 1;
      while (end < src.length && src[end] !== ' ' && src[end] !== '\t' && src[end] !== '\n') end++;
      return fail(start, src.slice(start, end), 'lexical error', likelyPython);
    }
  }
  tokens.push({ kind: 'EOF', text: '', value: '', at: pos(i) });
  return { ok: true, tokens };
}

/** End (exclusive) of the quoted string starting at `i`, or -1: \'([^\'\\\n]|\\.)*\' and the " form. */
function stringEnd(src: string, i: number): number {
  const q = src[i];
  let j = i + 1;
  while (j < src.length) {
    const ch = src[j];
    if (ch === q) return j + 1;
    if (ch === '\n') return -1;
    if (ch === '\\') {
      if (j + 1 >= src.length || src[j + 1] === '\n') return -1;
      j += 2;
    } else {
      j++;
    }
  }
  return -1;
}

/**
 * libxlutil's unquoting: `\" \' \\ \a \b \f \n \r \t \v`; `\x` is always refused (its hex check can
 * never pass); `\0`..`\7` drop the digit and swallow what strtoul(…, 10) reads from the next three
 * characters, refusing fewer than two; anything else after a backslash is an error.
 */
function dequote(raw: string): { ok: true; value: string } | { ok: false; message: string } {
  let out = '';
  const end = raw.length - 1;
  let p = 1;
  while (p < end) {
    const c = raw[p++]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const nc = raw[p++]!;
    const simple = SIMPLE_ESCAPES[nc];
    if (simple !== undefined) {
      out += simple;
    } else if (nc === 'x') {
      return { ok: false, message: 'invalid digit after backslash hexnumerical character escape in quoted string' };
    } else if (nc >= '0' && nc <= '7') {
      const used = strtoulLength(raw.slice(p, p + 3));
      if (used <= 1) return { ok: false, message: 'invalid digit after backslash octalnumerical character escape in quoted string' };
      p += used;
    } else {
      return { ok: false, message: 'invalid character after backlash in quoted string' };
    }
  }
  return { ok: true, value: out };
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '"': '"', "'": "'", '\\': '\\', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
};

/** How many characters strtoul(s, &ep, 10) consumes: 0 when it finds no digits. */
function strtoulLength(s: string): number {
  let k = 0;
  while (k < s.length && isCSpace(s[k])) k++;
  if (s[k] === '+' || s[k] === '-') k++;
  const digitsFrom = k;
  while (k < s.length && isDigit(s.charCodeAt(k))) k++;
  return k === digitsFrom ? 0 : k;
}
