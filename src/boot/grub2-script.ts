/**
 * GRUB 2's script language, parsed into statements and never executed: words with their quoting
 * (so `$var` is expanded only where GRUB would), `if/elif/else/fi`, `while/until/for` (skipped),
 * `function NAME { }` (skipped), and `menuentry`/`submenu` blocks. Reference:
 * grub-core/script/yylex.l and parser.y, the GRUB manual's "Shell-like scripting".
 */
import { BootConfigError, MAX_CONFIG_BYTES } from './types.ts';

/** A piece of a word: text as written inside single quotes (literal) or elsewhere (expandable). */
export type Part = { text: string; literal: boolean };
export type Word = Part[];

export type Stmt =
  | { kind: 'cmd'; words: Word[]; line: number }
  | { kind: 'if'; branches: { cond: Stmt[]; body: Stmt[] }[]; otherwise: Stmt[] | null; line: number }
  | { kind: 'menu'; submenu: boolean; args: Word[]; body: Stmt[]; line: number }
  | { kind: 'skipped'; what: string; line: number };

type Token = { t: 'word'; w: Word; line: number } | { t: 'sep'; line: number } | { t: 'open'; line: number } | { t: 'close'; line: number };

const MAX_TOKENS = 200_000;
const MAX_DEPTH = 32;

// Runs of characters the tokenizer takes as they are, consumed at once: an inspection child runs
// this code cold, where a loop step per character cost about 10 ms on a Debian grub.cfg.
/** Unquoted text up to whitespace, a separator, a backslash, a quote or a `$`. */
const PLAIN_RUN = /[^ \t\r\n;\\'"$]+/y;
/** Double-quoted text up to the closing quote, a backslash or a newline (which counts a line). */
const QUOTED_RUN = /[^"\\\n]+/y;

/**
 * Splits GRUB script text into words and separators. `{`/`}` are block tokens only as whole
 * unquoted words (as in every generated grub.cfg), so `${var}` stays inside its word.
 * @example
 * tokenize("set default='0'\n") // => [word set, word default='0' (quoted part literal), sep]
 */
export function tokenize(text: string, file: string): Token[] {
  if (text.length > MAX_CONFIG_BYTES) throw new BootConfigError(`${file}: ${text.length} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  const push = (tok: Token) => {
    if (out.length >= MAX_TOKENS) throw new BootConfigError(`${file}:${line}: more than ${MAX_TOKENS} tokens`);
    out.push(tok);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n' || c === ';') {
      push({ t: 'sep', line });
      if (c === '\n') line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl;
      continue;
    }
    // A word: runs of unquoted, '…' and "…" text up to whitespace or a separator.
    const startLine = line;
    const word: Word = [];
    let plain = '';
    let sawQuote = false;
    const flush = () => {
      if (plain !== '') word.push({ text: plain, literal: false });
      plain = '';
    };
    while (i < text.length) {
      const d = text[i]!;
      if (d === ' ' || d === '\t' || d === '\r' || d === '\n' || d === ';') break;
      if (d === '\\') {
        if (text[i + 1] === '\n') {
          line++;
          i += 2;
          continue;
        }
        // An escaped character is literal.
        flush();
        if (i + 1 < text.length) word.push({ text: text[i + 1]!, literal: true });
        i += 2;
        continue;
      }
      if (d === "'") {
        flush();
        sawQuote = true;
        const end = text.indexOf("'", i + 1);
        if (end < 0) throw new BootConfigError(`${file}:${line}: unterminated single quote`);
        const s = text.slice(i + 1, end);
        line += s.split('\n').length - 1;
        word.push({ text: s, literal: true });
        i = end + 1;
        continue;
      }
      if (d === '"') {
        flush();
        sawQuote = true;
        let j = i + 1;
        let s = '';
        while (j < text.length && text[j] !== '"') {
          QUOTED_RUN.lastIndex = j;
          if (QUOTED_RUN.test(text)) {
            s += text.slice(j, QUOTED_RUN.lastIndex);
            j = QUOTED_RUN.lastIndex;
            continue;
          }
          if (text[j] === '\\' && j + 1 < text.length && '$"\\\n'.includes(text[j + 1]!)) {
            if (text[j + 1] === '\n') line++;
            else if (text[j + 1] === '$') s += '\\$';
            else s += text[j + 1];
            j += 2;
            continue;
          }
          if (text[j] === '\n') line++;
          s += text[j];
          j++;
        }
        if (j >= text.length) throw new BootConfigError(`${file}:${startLine}: unterminated double quote`);
        word.push({ text: s, literal: false });
        i = j + 1;
        continue;
      }
      if (d === '$' && text[i + 1] === '{') {
        const end = text.indexOf('}', i);
        if (end < 0) throw new BootConfigError(`${file}:${line}: unterminated \${`);
        plain += text.slice(i, end + 1);
        i = end + 1;
        continue;
      }
      PLAIN_RUN.lastIndex = i;
      if (PLAIN_RUN.test(text)) {
        plain += text.slice(i, PLAIN_RUN.lastIndex);
        i = PLAIN_RUN.lastIndex;
        continue;
      }
      plain += d; // a `$` not starting `${`
      i++;
    }
    flush();
    const only = word.length === 1 && !sawQuote ? word[0]!.text : null;
    if (only === '{') push({ t: 'open', line: startLine });
    else if (only === '}') push({ t: 'close', line: startLine });
    else if (word.length > 0) push({ t: 'word', w: word, line: startLine });
    else push({ t: 'word', w: [{ text: '', literal: true }], line: startLine }); // ''
  }
  return out;
}

/**
 * The word's text with no expansion (for keywords and command names).
 * @example
 * raw([{ text: 'set', literal: false }]) // => 'set'
 */
export function raw(w: Word): string {
  return w.map((p) => p.text).join('');
}

/**
 * Parses GRUB script into statements.
 * @example
 * parseScript("menuentry 'Debian' { linux /vmlinuz }\n", 'grub.cfg') // => [{ kind: 'menu', submenu: false, args: [...], body: [cmd linux] }]
 */
export function parseScript(text: string, file: string): Stmt[] {
  const toks = tokenize(text, file);
  let pos = 0;
  const peek = () => toks[pos];
  const lineNow = () => peek()?.line ?? toks[toks.length - 1]?.line ?? 1;
  const err = (msg: string) => new BootConfigError(`${file}:${lineNow()}: ${msg}`);

  /** Reads one command's words up to a separator (or a `{`/`}` that ends it). */
  const readWords = (): Word[] => {
    const ws: Word[] = [];
    for (;;) {
      const tok = peek();
      if (tok === undefined || tok.t !== 'word') return ws;
      ws.push(tok.w);
      pos++;
    }
  };
  const skipSeps = () => {
    while (peek()?.t === 'sep') pos++;
  };
  const firstWord = (): string | null => {
    const tok = peek();
    return tok?.t === 'word' ? raw(tok.w) : null;
  };

  const block = (depth: number, stops: string[]): Stmt[] => {
    if (depth > MAX_DEPTH) throw err(`blocks nested deeper than ${MAX_DEPTH}`);
    const out: Stmt[] = [];
    for (;;) {
      skipSeps();
      const tok = peek();
      if (tok === undefined) {
        if (stops.length > 0) throw err(`missing ${stops.join(' or ')}`);
        return out;
      }
      if (tok.t === 'close') {
        if (stops.includes('}')) return out;
        throw err('unexpected }');
      }
      if (tok.t === 'open') throw err('unexpected {');
      if (tok.t === 'sep') {
        pos++;
        continue;
      }
      const head = raw(tok.w);
      if (stops.includes(head)) return out;
      out.push(statement(depth));
    }
  };

  const braceBody = (depth: number): Stmt[] => {
    skipSeps();
    if (peek()?.t !== 'open') throw err('expected {');
    pos++;
    const body = block(depth + 1, ['}']);
    pos++; // the }
    return body;
  };

  const statement = (depth: number): Stmt => {
    const line = lineNow();
    const head = firstWord();
    if (head === 'if') {
      pos++;
      const branches: { cond: Stmt[]; body: Stmt[] }[] = [];
      let otherwise: Stmt[] | null = null;
      let cond = block(depth + 1, ['then']);
      for (;;) {
        pos++; // then
        const body = block(depth + 1, ['elif', 'else', 'fi']);
        branches.push({ cond, body });
        const kw = firstWord();
        pos++;
        if (kw === 'elif') {
          cond = block(depth + 1, ['then']);
          continue;
        }
        if (kw === 'else') {
          otherwise = block(depth + 1, ['fi']);
          pos++;
        }
        break;
      }
      return { kind: 'if', branches, otherwise, line };
    }
    if (head === 'while' || head === 'until' || head === 'for') {
      pos++;
      block(depth + 1, ['do']);
      pos++;
      block(depth + 1, ['done']);
      pos++;
      return { kind: 'skipped', what: head, line };
    }
    if (head === 'function') {
      pos++;
      const name = firstWord() ?? '';
      pos++;
      braceBody(depth);
      return { kind: 'skipped', what: `function ${name}`, line };
    }
    if (head === 'menuentry' || head === 'submenu') {
      pos++;
      const args = readWords();
      const body = braceBody(depth);
      return { kind: 'menu', submenu: head === 'submenu', args, body, line };
    }
    const words = readWords();
    if (words.length === 0) throw err('expected a command');
    return { kind: 'cmd', words, line };
  };

  return block(0, []);
}
