/**
 * The xl config parser: libxlutil's grammar (tools/libs/util/libxlu_cfg_y.y) over the tokens of
 * lexer.ts, producing a lossless XlConfig. The grammar, for reference:
 *   file: stmts | stmts assignment          stmt: assignment endstmt | endstmt
 *   assignment: IDENT '=' value | IDENT "+=" value        endstmt: NEWLINE | ';'
 *   value: STRING | NUMBER | '[' nlok valuelist ']'      nlok: NEWLINE*
 *   valuelist: <empty> | values | values ',' nlok
 *   values: value nlok | values ',' nlok value nlok
 * Any error (lexical, syntax, or a `+=` mixing a list and a string) makes xl refuse the file;
 * we stop at the first and report it with its line and column.
 */
import { lex, type Token, type TokenKind } from './lexer.ts';
import { printable } from '../util/escape.ts';
import type { XlConfig, XlEffective, XlParseError, XlParseResult, XlPiece, XlResolved, XlSetting, XlValue } from './types.ts';

export type ParseLimits = {
  /** Largest config accepted, in characters (real configs are a few KiB). */
  maxChars: number;
  /** Deepest list nesting (libxlutil's own bound is its 10000-entry parser stack, about 3000 levels). */
  maxDepth: number;
  /** Most statements. */
  maxSettings: number;
  /** Most values (atoms and lists) in the whole file. */
  maxValues: number;
};

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxChars: 1 << 20, maxDepth: 64, maxSettings: 10_000, maxValues: 100_000 };

class Failure extends Error {
  readonly detail: Omit<XlParseError, 'file'>;
  constructor(detail: Omit<XlParseError, 'file'>) {
    super(detail.message);
    this.detail = detail;
  }
}

// The parser ran past the tokens of a lexer that stopped at an error: that error is the one to report.
const OUT_OF_TOKENS = 'out of tokens';

const TOKEN_NAMES: Record<TokenKind, string> = {
  IDENT: 'IDENT', NUMBER: 'NUMBER', STRING: 'STRING', '=': "'='", '+=': '"+="', ';': "';'", '[': "'['", ']': "']'",
  ',': "','", NEWLINE: 'NEWLINE', BLANK: 'blank', DROPPED: 'character', EOF: 'end of file',
};

/**
 * Parses xl domain config text exactly as xl's libxlutil does. Never throws.
 * @example
 * parseXlConfig('name = "web1"\nmemory = 1024\n', 'web1.cfg')
 * // => { ok: true, config: { file: 'web1.cfg', pieces: [setting name, trivia \n, setting memory, trivia \n] } }
 * parseXlConfig('type = PVH\n', 'x.cfg')
 * // => { ok: false, error: { line: 1, col: 8, near: 'PVH', message: 'lexical error', ... } }
 */
export function parseXlConfig(text: string, file: string, limits: Partial<ParseLimits> = {}): XlParseResult {
  const lim = { ...DEFAULT_PARSE_LIMITS, ...limits };
  if (text.length > lim.maxChars) {
    return fail(file, { line: 1, col: 1, near: '<whole file>', message: `config is ${text.length} characters, more than the ${lim.maxChars} accepted`, likelyPython: false });
  }
  const lexed = lex(text);
  try {
    const config = new Parser(text, lexed.tokens, file, lim).file();
    if (!lexed.ok) {
      // The lexer stopped early; the tokens before the bad one parsed, so the lexical error is first.
      const e = lexed.error;
      return fail(file, { line: e.at.line, col: e.at.col, near: nearText(e.near), message: e.message, likelyPython: e.likelyPython });
    }
    return { ok: true, config };
  } catch (err) {
    if (!(err instanceof Failure)) throw err;
    if (!lexed.ok && err.detail.message === OUT_OF_TOKENS) {
      // We only ran out of tokens because the lexer had stopped: report its error.
      const e = lexed.error;
      return fail(file, { line: e.at.line, col: e.at.col, near: nearText(e.near), message: e.message, likelyPython: e.likelyPython });
    }
    return fail(file, { ...err.detail, likelyPython: err.detail.likelyPython || (!lexed.ok && lexed.error.likelyPython) });
  }
}

function fail(file: string, detail: Omit<XlParseError, 'file'>): XlParseResult {
  return { ok: false, error: { file, ...detail } };
}

/** Formats a parse error as xl does, with the column added: `FILE:LINE:COL: config parsing error near `TEXT': MESSAGE`. */
export function formatParseError(e: XlParseError): string {
  const near = e.near.startsWith('<') ? e.near : `\`${e.near}'`;
  const hint = e.likelyPython ? ' (the file looks like Python: xm-era Python configs are not supported by xl)' : '';
  return `${printable(e.file)}:${e.line}:${e.col}: config parsing error near ${near}: ${e.message}${hint}`;
}

function nearText(raw: string): string {
  const t = raw.replace(/\n$/, '').replace(/[ \t]+$/, '');
  if (t === '') return raw.endsWith('\n') ? '<newline>' : '<end of file>';
  const cut = t.length > 60 ? `${t.slice(0, 60)}...` : t;
  return printable(cut);
}

class Parser {
  private i = 0;
  private readonly pieces: XlPiece[] = [];
  private readonly effective = new Map<string, XlEffective>();
  private settings = 0;
  private values = 0;

  private readonly text: string;
  private readonly tokens: Token[];
  private readonly fileName: string;
  private readonly lim: ParseLimits;

  constructor(text: string, tokens: Token[], fileName: string, lim: ParseLimits) {
    this.text = text;
    this.tokens = tokens;
    this.fileName = fileName;
    this.lim = lim;
  }

  file(): XlConfig {
    for (;;) {
      const t = this.peek(true);
      if (t.kind === 'EOF') break;
      if (t.kind === 'NEWLINE' || t.kind === ';') {
        this.trivia(this.next());
        continue;
      }
      if (t.kind !== 'IDENT') this.unexpected(t, ['IDENT', 'NEWLINE', "';'", 'end of file']);
      this.assignment();
      const after = this.peek(true);
      if (after.kind !== 'NEWLINE' && after.kind !== ';' && after.kind !== 'EOF') this.unexpected(after, ['NEWLINE', "';'", 'end of file']);
    }
    // A stray last character that flex dropped stays as trivia, so that printing is exact.
    for (const t of this.tokens.slice(this.i)) if (t.kind !== 'EOF') this.trivia(t);
    return { file: this.fileName, pieces: this.pieces };
  }

  private assignment(): void {
    const key = this.next();
    if (++this.settings > this.lim.maxSettings) this.limit(key, `more than ${this.lim.maxSettings} settings`);
    const op = this.peek(false);
    if (op.kind !== '=' && op.kind !== '+=') this.unexpected(op, ['"+="', "'='"]);
    this.i++;
    const value = this.value(0, false);
    const text = this.text.slice(key.at.offset, value.at.offset + value.raw.length);
    const setting: XlSetting = { kind: 'setting', key: key.value, op: op.kind, value, text, at: key.at };
    this.store(setting);
    this.pieces.push(setting);
  }

  /** libxlu_cfg.c xlu__cfg_set_store: `+=` joins onto the previous value of the same type. */
  private store(s: XlSetting): void {
    let value = resolve(s.value);
    const prev = this.effective.get(s.key);
    if (s.op === '+=' && prev !== undefined) {
      if (Array.isArray(prev.value) !== Array.isArray(value)) {
        throw new Failure({ line: s.value.at.line, col: s.value.at.col, near: nearText(s.value.raw), message: `can't add [list] to "string" or vice versa`, likelyPython: false });
      }
      value = Array.isArray(value) ? [...(prev.value as XlResolved[]), ...value] : (prev.value as string) + value;
    }
    this.effective.set(s.key, { key: s.key, op: s.op, value, line: s.value.at.line, number: s.value.kind === 'number' });
  }

  private value(depth: number, inList: boolean): XlValue {
    const t = this.peek(false);
    if (++this.values > this.lim.maxValues) this.limit(t, `more than ${this.lim.maxValues} values`);
    if (t.kind === 'STRING' || t.kind === 'NUMBER') {
      this.i++;
      return { kind: t.kind === 'STRING' ? 'string' : 'number', value: t.value, raw: t.text, at: t.at };
    }
    if (t.kind !== '[') this.unexpected(t, inList ? ['STRING', 'NUMBER', "'['", "']'"] : ['STRING', 'NUMBER', "'['"]);
    if (depth >= this.lim.maxDepth) this.limit(t, `lists nested deeper than ${this.lim.maxDepth}`);
    this.i++;
    const items: XlValue[] = [];
    this.nlok();
    if (this.peek(false).kind !== ']') {
      for (;;) {
        items.push(this.value(depth + 1, true));
        this.nlok();
        const sep = this.peek(false);
        if (sep.kind === ']') break;
        if (sep.kind !== ',') this.unexpected(sep, ["','", "']'"]);
        this.i++;
        this.nlok();
        if (this.peek(false).kind === ']') break;
      }
    }
    const close = this.next();
    return { kind: 'list', items, raw: this.text.slice(t.at.offset, close.at.offset + 1), at: t.at };
  }

  private nlok(): void {
    while (this.peek(false).kind === 'NEWLINE') this.i++;
  }

  /** The next token that is not a blank; at statement level the blanks become trivia pieces. */
  private peek(statementLevel: boolean): Token {
    for (;;) {
      const t = this.tokens[this.i];
      if (t === undefined) throw new Failure({ line: 0, col: 0, near: '<end of file>', message: OUT_OF_TOKENS, likelyPython: false });
      if (t.kind !== 'BLANK' && t.kind !== 'DROPPED') return t;
      if (statementLevel) this.trivia(t);
      this.i++;
    }
  }

  private next(): Token {
    const t = this.peek(false);
    this.i++;
    return t;
  }

  private trivia(t: Token): void {
    this.pieces.push({ kind: 'trivia', text: t.text, at: t.at });
  }

  private limit(t: Token, message: string): never {
    throw new Failure({ line: t.at.line, col: t.at.col, near: nearText(t.text), message, likelyPython: false });
  }

  private unexpected(t: Token, expected: string[]): never {
    throw new Failure({
      line: t.at.line,
      col: t.at.col,
      near: t.kind === 'EOF' ? '<end of file>' : nearText(t.text),
      message: `syntax error, unexpected ${TOKEN_NAMES[t.kind]}, expecting ${expected.join(' or ')}`,
      likelyPython: false,
    });
  }
}

/** The value xl stores: numbers and strings alike become strings (XLU_STRING). */
export function resolve(v: XlValue): XlResolved {
  return v.kind === 'list' ? v.items.map(resolve) : v.value;
}

/**
 * The effective setting of every key, as xl sees them (last `=` wins, `+=` joins), in file order
 * of first appearance. Only for a config that parsed (a `+=` type clash cannot occur then).
 * @example
 * effectiveSettings(parsed).get('disk') // => { key: 'disk', op: '=', value: ['phy:/dev/vg/web1,xvda,w'], line: 4, number: false }
 */
export function effectiveSettings(config: XlConfig): Map<string, XlEffective> {
  const out = new Map<string, XlEffective>();
  for (const p of config.pieces) {
    if (p.kind !== 'setting') continue;
    let value = resolve(p.value);
    const prev = out.get(p.key);
    if (p.op === '+=' && prev !== undefined && Array.isArray(prev.value) === Array.isArray(value)) {
      value = Array.isArray(value) ? [...(prev.value as XlResolved[]), ...value] : (prev.value as string) + value;
    }
    out.set(p.key, { key: p.key, op: p.op, value, line: p.value.at.line, number: p.value.kind === 'number' });
  }
  return out;
}
