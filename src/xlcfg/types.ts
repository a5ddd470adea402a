/**
 * The xl domain config, as read by Xen's libxlutil parser (tools/libs/util/libxlu_cfg_l.l,
 * libxlu_cfg_y.y, libxlu_cfg.c), kept losslessly: the pieces below partition the file's text, so
 * that printing them back gives the input byte for byte and an edit touches only its own piece.
 */

/** Where a piece of text starts: 1-based line and column (columns count UTF-16 code units). */
export type Position = { offset: number; line: number; col: number };

/** A value as written. Numbers stay text (xl reads them later with strtol base 0: `0512` is octal). */
export type XlValue =
  | { kind: 'string'; value: string; raw: string; at: Position }
  | { kind: 'number'; value: string; raw: string; at: Position }
  | { kind: 'list'; items: XlValue[]; raw: string; at: Position };

/** `key = value` or `key += value` (Xen >= 4.13), as it stands in the file (`text` is its exact source). */
export type XlSetting = {
  kind: 'setting';
  key: string;
  op: '=' | '+=';
  value: XlValue;
  text: string;
  at: Position;
};

/**
 * Text between settings: blanks, newlines, `# comments` with their newline, `;`, and the one
 * character libxlutil's lexer drops silently when it is the very last byte of the file.
 */
export type XlTrivia = { kind: 'trivia'; text: string; at: Position };

export type XlPiece = XlSetting | XlTrivia;

/** A parsed config: the pieces, in order, cover the whole text. */
export type XlConfig = { file: string; pieces: XlPiece[] };

/** What xl would hand libxl for one key: the effective value after the last `=` and any `+=`. */
export type XlResolved = string | XlResolved[];

export type XlEffective = {
  key: string;
  /** The last statement's operator: libxlutil refuses to read a number whose last setting is `+=`. */
  op: '=' | '+=';
  value: XlResolved;
  /** Line of the last statement's value (what libxlutil records as the setting's line). */
  line: number;
  /** True when the last statement's value was a bare NUMBER (matters only for messages). */
  number: boolean;
};

/** A parse error, in xl's words: `FILE:LINE:COL: config parsing error near `TEXT': MESSAGE`. */
export type XlParseError = {
  file: string;
  line: number;
  col: number;
  /** The text xl would quote (already escaped for output), or `<newline>` / `<end of file>`. */
  near: string;
  message: string;
  /** True when the input looks like the Python configs of xm (xl prints a hint). */
  likelyPython: boolean;
};

export type XlParseResult = { ok: true; config: XlConfig } | { ok: false; error: XlParseError };
