/**
 * Printing and editing xl configs without disturbing them: printing an unchanged parse gives the
 * input back byte for byte, and an edit rewrites only the statement (or line) it concerns. Every
 * edit re-parses its result, so an edit that would make xl misread the file is refused.
 */
import { effectiveSettings, parseXlConfig } from './parser.ts';
import type { XlConfig, XlParseError, XlPiece, XlResolved, XlSetting } from './types.ts';

/**
 * The config's text: its pieces, concatenated.
 * @example
 * printXlConfig(parsed) === originalText // => true for an unchanged parse
 */
export function printXlConfig(config: XlConfig): string {
  return config.pieces.map((p) => p.text).join('');
}

/** A value to write: a JS string becomes a quoted string, a `{ number }` a bare NUMBER, an array a list. */
export type XlNewValue = string | { number: string } | XlNewValue[];

export type EditResult = { ok: true; config: XlConfig } | { ok: false; error: string };

/**
 * Renders a value in xl syntax: strings double-quoted with xl's escapes, lists as `[ a, b ]`.
 * @example
 * renderValue(['vnc=1', 'vnclisten=0.0.0.0']) // => '[ "vnc=1", "vnclisten=0.0.0.0" ]'
 */
export function renderValue(v: XlNewValue): string {
  if (Array.isArray(v)) return v.length === 0 ? '[ ]' : `[ ${v.map(renderValue).join(', ')} ]`;
  if (typeof v === 'object') {
    if (!/^[0-9][0-9a-fx]*$/.test(v.number)) throw new Error(`not an xl NUMBER: ${v.number}`);
    return v.number;
  }
  if (v.includes('\0')) throw new Error('xl strings cannot hold a NUL byte');
  return `"${v.replace(/[\\"\n\r\t\x07\b\f\v]/g, (c) => ESCAPES[c]!)}"`;
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\v': '\\v' };

/**
 * Sets `key` to `value`. An existing key has its last statement rewritten in place (keeping its
 * spacing; `+=` becomes `=`); a new key goes on a new line after the last statement of the first
 * present key in `after`, else at the end of the file.
 * @example
 * setSetting(parse('builder = "generic"\nmemory = 512\n'), 'type', 'pvh', { after: ['builder'] })
 * // => { ok: true, config } printing 'builder = "generic"\ntype = "pvh"\nmemory = 512\n'
 */
export function setSetting(config: XlConfig, key: string, value: XlNewValue, opts: { after?: string[] } = {}): EditResult {
  if (!/^[a-z][._0-9a-z]*$/.test(key)) return { ok: false, error: `not an xl key: ${key}` };
  let rendered: string;
  try {
    rendered = renderValue(value);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const pieces = [...config.pieces];
  const last = lastIndexOf(pieces, key);
  if (last >= 0) {
    const s = pieces[last] as XlSetting;
    const prefix = s.text.slice(0, s.value.at.offset - s.at.offset).replace('+=', '=');
    pieces[last] = { ...s, text: prefix + rendered };
  } else {
    const line = `${key} = ${rendered}`;
    const anchor = (opts.after ?? []).map((k) => lastIndexOf(pieces, k)).find((i) => i >= 0);
    if (anchor === undefined) {
      const text = printXlConfig(config);
      const sep = text === '' || text.endsWith('\n') ? '' : '\n';
      pieces.push(trivia(`${sep}${line}\n`));
    } else {
      let nl = anchor + 1;
      while (nl < pieces.length && !(pieces[nl]!.kind === 'trivia' && pieces[nl]!.text.endsWith('\n'))) nl++;
      if (nl < pieces.length) pieces.splice(nl + 1, 0, trivia(`${line}\n`));
      else pieces.push(trivia(`\n${line}`));
    }
  }
  return reparse(config, pieces, key, true);
}

/**
 * Removes every statement of `key` (all of them: an earlier one would otherwise take effect). A
 * statement alone on its line goes with its line (and its trailing comment); one sharing a line
 * goes with its `;`.
 * @example
 * removeSetting(parse('builder = "generic" # xm era\nmemory = 512\n'), 'builder')
 * // => { ok: true, config } printing 'memory = 512\n'
 */
export function removeSetting(config: XlConfig, key: string): EditResult {
  const pieces = [...config.pieces];
  for (let i = pieces.length - 1; i >= 0; i--) {
    const p = pieces[i]!;
    if (p.kind !== 'setting' || p.key !== key) continue;
    let from = i;
    while (from > 0 && isBlank(pieces[from - 1]!)) from--;
    const lineStart = from === 0 || pieces[from - 1]!.text.endsWith('\n');
    let to = i + 1;
    while (to < pieces.length && isBlank(pieces[to]!)) to++;
    let semi = false;
    if (to < pieces.length && pieces[to]!.text === ';') {
      semi = true;
      to++;
      while (to < pieces.length && isBlank(pieces[to]!)) to++;
    }
    const atEnd = to >= pieces.length;
    const lineEnd = atEnd || (pieces[to]!.kind === 'trivia' && pieces[to]!.text.endsWith('\n'));
    if (lineStart && lineEnd) {
      pieces.splice(from, (atEnd ? to : to + 1) - from);
      i = from;
    } else if (semi) {
      // `key = v; other = w`: drop the statement, its `;` and the blanks after it.
      pieces.splice(i, to - i);
    } else {
      // `other = w; key = v`: drop the statement and the blanks before it.
      pieces.splice(from, i + 1 - from);
      i = from;
    }
  }
  return reparse(config, pieces, key, false);
}

function lastIndexOf(pieces: XlPiece[], key: string): number {
  for (let i = pieces.length - 1; i >= 0; i--) {
    const p = pieces[i]!;
    if (p.kind === 'setting' && p.key === key) return i;
  }
  return -1;
}

const isBlank = (p: XlPiece) => p.kind === 'trivia' && /^[ \t]+$/.test(p.text);
const trivia = (text: string): XlPiece => ({ kind: 'trivia', text, at: { offset: 0, line: 0, col: 0 } });

/**
 * Re-parses the edited text and checks that only `key` changed in what xl would read, so that an
 * edit can never silently alter another setting.
 */
function reparse(before: XlConfig, pieces: XlPiece[], key: string, present: boolean): EditResult {
  const text = pieces.map((p) => p.text).join('');
  const r = parseXlConfig(text, before.file);
  if (!r.ok) return { ok: false, error: `editing ${key} would make the config unreadable: ${describe(r.error)}` };
  const old = effectiveSettings(before);
  const now = effectiveSettings(r.config);
  for (const [k, e] of old) {
    if (k === key) continue;
    const n = now.get(k);
    if (n === undefined || !sameValue(n.value, e.value) || n.op !== e.op) return { ok: false, error: `editing ${key} would change ${k}` };
  }
  for (const k of now.keys()) if (k !== key && !old.has(k)) return { ok: false, error: `editing ${key} would add ${k}` };
  if (now.has(key) !== present) return { ok: false, error: `editing ${key} did not take effect` };
  return { ok: true, config: r.config };
}

function describe(e: XlParseError): string {
  return `${e.line}:${e.col}: ${e.message}`;
}

/** Deep equality of two resolved values. */
export function sameValue(a: XlResolved, b: XlResolved): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return a.length === b.length && a.every((x, i) => sameValue(x, b[i]!));
}
