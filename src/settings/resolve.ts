/**
 * The effective settings: flags over environment variables over the file over defaults, each
 * value checked against its definition once and kept with where it came from. Pure: the caller
 * reads the file and passes its text, the environment and the flags.
 */
import { parse as parseToml, TomlError } from 'smol-toml';
import { defaultOf, keyOf, SECTIONS, SETTINGS, type SettingDef, type SettingKey, type SettingType, type SettingValue } from './defs.ts';

/** Where an effective value came from. */
export type SettingSource =
  | { kind: 'default' }
  | { kind: 'file'; path: string; line: number }
  | { kind: 'env'; name: string }
  | { kind: 'flag'; name: string };

/** One effective setting. */
export type Effective = { def: SettingDef; value: SettingValue; source: SettingSource };

/** All effective settings, by key. */
export type Settings = ReadonlyMap<SettingKey, Effective>;

/** A flag a command was given for a setting: its spelling on that command and its text. */
export type FlagValue = { flag: string; value: string };

export type ResolveInput = {
  file: { path: string; text: string } | null;
  env: Readonly<Record<string, string | undefined>>;
  flags?: Partial<Record<SettingKey, FlagValue | undefined>>;
};

export type ResolveResult = { ok: true; settings: Settings } | { ok: false; error: string };

/** The largest settings file read (the documented example is about 6 KiB). */
export const MAX_SETTINGS_BYTES = 64 * 1024;

/**
 * Resolves every setting; the first problem is one line naming its place (FILE:LINE, the
 * variable or the flag).
 * @example
 * resolveSettings({ file: { path: 'p.conf', text: '[api]\nport = 9000\n' }, env: { PVHCTL_PORT: '9001' } })
 * // => { ok: true, settings } with settings.get('api.port') = { value: 9001, source: { kind: 'env', name: 'PVHCTL_PORT' } }
 * resolveSettings({ file: { path: 'p.conf', text: '[api]\nprot = 9000\n' }, env: {} })
 * // => { ok: false, error: "p.conf:2: unknown setting 'api.prot'" }
 */
export function resolveSettings(input: ResolveInput): ResolveResult {
  const fromFile = input.file === null ? new Map<SettingKey, { value: unknown; line: number }>() : readFile(input.file.path, input.file.text);
  if (typeof fromFile === 'string') return { ok: false, error: fromFile };
  const settings = new Map<SettingKey, Effective>();
  for (const def of SETTINGS) {
    const key = keyOf(def);
    const flag = input.flags?.[key];
    const env = input.env[def.env];
    const file = fromFile.get(key);
    let value: SettingValue | Problem;
    let source: SettingSource;
    if (flag !== undefined) {
      source = { kind: 'flag', name: flag.flag };
      value = checkValue(def.type, flag.value, true);
    } else if (env !== undefined && env !== '') {
      source = { kind: 'env', name: def.env };
      value = checkValue(def.type, env, true);
    } else if (file !== undefined) {
      source = { kind: 'file', path: input.file!.path, line: file.line };
      value = checkValue(def.type, file.value, false);
    } else {
      settings.set(key, { def, value: defaultOf(def), source: { kind: 'default' } });
      continue;
    }
    if (value !== null && typeof value === 'object') return { ok: false, error: `${placeOf(source)}: ${key}: ${value.problem}` };
    settings.set(key, { def, value, source });
  }
  return { ok: true, settings };
}

/** `FILE:LINE`, `PVHCTL_PORT` or `--port`: where a value was read, for errors and `settings show`. */
export function placeOf(source: SettingSource): string {
  switch (source.kind) {
    case 'default': return 'default';
    case 'file': return `${source.path}:${source.line}`;
    case 'env': return `environment ${source.name}`;
    case 'flag': return `flag ${source.name}`;
  }
}

/** The value of a setting that has a default, as a number. */
export function numberOf(settings: Settings, key: SettingKey): number {
  const v = settings.get(key)?.value;
  if (typeof v !== 'number') throw new Error(`setting ${key} is not a number`);
  return v;
}

/** The value of a text setting, or null when unset. */
export function textOf(settings: Settings, key: SettingKey): string | null {
  const v = settings.get(key)?.value;
  if (v === undefined || typeof v === 'number') throw new Error(`setting ${key} is not text`);
  return v;
}

type Problem = { problem: string };

/** The file's settings with their lines, or a one-line error. */
function readFile(path: string, text: string): Map<SettingKey, { value: unknown; line: number }> | string {
  if (text.length > MAX_SETTINGS_BYTES) return `${path}: larger than ${MAX_SETTINGS_BYTES} bytes; not a pvhctl settings file`;
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) return `${path}:${err.line}: ${firstLine(err.message).replace(/^Invalid TOML document: /, '')}`;
    return `${path}: ${firstLine(err instanceof Error ? err.message : String(err))}`;
  }
  const lines = keyLines(text);
  const out = new Map<SettingKey, { value: unknown; line: number }>();
  for (const [section, table] of Object.entries(doc)) {
    if (!Object.hasOwn(SECTIONS, section) || typeof table !== 'object' || table === null || Array.isArray(table)) {
      return `${path}:${lines.get(section) ?? lines.get(`${section}.`) ?? 1}: unknown section '${printableKey(section)}' (sections: ${Object.keys(SECTIONS).join(', ')})`;
    }
    for (const [name, value] of Object.entries(table as Record<string, unknown>)) {
      const key: SettingKey = `${section}.${name}`;
      const line = lines.get(key) ?? lines.get(section) ?? 1;
      if (!SETTINGS.some((d) => keyOf(d) === key)) return `${path}:${line}: unknown setting '${printableKey(key)}'`;
      out.set(key, { value, line });
    }
  }
  return out;
}

/**
 * The line of each `[section]` header and `key =` assignment in a file that has already parsed as
 * TOML (smol-toml reports lines for syntax errors only). Dotted keys and inline tables are valid
 * TOML but not how this file is written; their settings get the line of their section.
 */
function keyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let section = '';
  text.split('\n').forEach((raw, i) => {
    const header = /^\s*\[\s*([A-Za-z0-9_-]+)\s*\]/.exec(raw);
    if (header) {
      section = header[1]!;
      if (!lines.has(section)) lines.set(section, i + 1);
      return;
    }
    const assign = /^\s*([A-Za-z0-9_-]+)\s*=/.exec(raw);
    if (assign) lines.set(section === '' ? `${assign[1]}.` : `${section}.${assign[1]}`, i + 1);
  });
  return lines;
}

/**
 * Checks one value against its type. Text from the environment or a flag is converted (`9000`
 * is a port); values from the file must already have the TOML type (`port = "9000"` is wrong).
 */
function checkValue(type: SettingType, raw: unknown, fromText: boolean): SettingValue | Problem {
  switch (type.kind) {
    case 'port':
    case 'integer':
    case 'seconds': {
      const [min, max] = type.kind === 'port' ? [1, 65535] : [type.min, type.max];
      const n = fromText && typeof raw === 'string' && /^\d{1,10}$/.test(raw) ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) return { problem: `expected a whole number ${min}..${max}, got ${describe(raw)}` };
      if (n < min || n > max) return { problem: `${n} is out of range ${min}..${max}` };
      return n;
    }
    default: {
      if (typeof raw !== 'string') return { problem: `expected a quoted string, got ${describe(raw)}` };
      if (raw.length > 4096 || /[\0-\x1f\x7f]/.test(raw)) return { problem: 'control characters or more than 4096 characters' };
      return checkText(type, raw);
    }
  }
}

function checkText(type: SettingType, s: string): string | Problem {
  switch (type.kind) {
    case 'path':
      return s.startsWith('/') ? s : { problem: `expected an absolute path, got ${describe(s)}` };
    case 'address':
      return /^[0-9a-fA-F.:]{2,45}$/.test(s) || /^[A-Za-z0-9.-]{1,253}$/.test(s) ? s : { problem: `expected an IP address or host name, got ${describe(s)}` };
    case 'hostname':
      return /^[A-Za-z0-9._@+-]{1,253}$/.test(s) ? s : { problem: `expected a host or user name, got ${describe(s)}` };
    case 'email':
      return /^[^\s@<>]{1,64}@[A-Za-z0-9.-]{1,253}$/.test(s) ? s : { problem: `expected an address like pvhctl@example.com, got ${describe(s)}` };
    case 'url': {
      // Not WHATWG URL parsing: libpq's URLs may have no host (a Unix socket given as ?host=/dir),
      // which new URL() refuses for these schemes.
      const m = /^([a-z][a-z0-9+.-]*):\/\/[^\s\x00-\x1f\x7f]*$/.exec(s);
      if (m === null || s.length > 2048) return { problem: 'not a URL' };
      return type.schemes.includes(m[1]!) ? s : { problem: `expected a ${type.schemes.join(' or ')}:// URL, got ${m[1]}://` };
    }
    case 'choice':
      return type.values.includes(s) ? s : { problem: `expected one of ${type.values.join(', ')}, got ${describe(s)}` };
    default:
      return { problem: 'not text' };
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(printableKey(v));
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'an array' : v === null ? 'nothing' : typeof v === 'object' ? 'a table or date' : typeof v;
}

/** Keys and values quoted back in errors: bounded, no control characters. */
function printableKey(s: string): string {
  return s.slice(0, 80).replace(/[^\x20-\x7e]/g, '?');
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
