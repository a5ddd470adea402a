/**
 * The settings table in words: the documented example file (/etc/pvhctl/pvhctl.conf) and the
 * SETTINGS part of pvhctl.conf(5). Both come from defs.ts, as the parser does.
 */
import { defaultOf, keyOf, SECTIONS, SETTINGS, type SettingDef, type SettingKey, type SettingValue } from './defs.ts';

/** A TOML literal for a value (strings as TOML basic strings; their escapes match JSON's). */
export function tomlValue(v: SettingValue): string {
  return typeof v === 'number' ? String(v) : JSON.stringify(v ?? '');
}

/** The default in words, for documentation. */
export function defaultText(def: SettingDef): string {
  if (def.defaultText !== undefined) return def.defaultText;
  const v = defaultOf(def);
  return v === null ? 'unset' : tomlValue(v);
}

function wrap(text: string, width: number, prefix: string): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && prefix.length + line.length + 1 + word.length > width) {
      out.push(prefix + line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') out.push(prefix + line);
  return out;
}

/**
 * The example settings file, every setting documented above its line. Settings in `set` are
 * written with that value; the others are commented out and show their default (or an example).
 * @example
 * renderExample({ 'store.data_dir': '/var/lib/pvhctl' }) // => "# /etc/pvhctl/pvhctl.conf ...\n[store]\n...data_dir = \"/var/lib/pvhctl\"\n..."
 */
export function renderExample(set: Partial<Record<SettingKey, SettingValue>> = {}): string {
  const out = [
    "# /etc/pvhctl/pvhctl.conf: pvhctl's settings, in TOML (https://toml.io/en/v1.0.0).",
    '#',
    '# A line starting with # is a comment. A commented-out setting shows its default; remove the',
    '# leading # and change the value to set it. Strings are quoted, numbers are not.',
    '# Command-line flags override this file, and so do the environment variables named below;',
    "# 'pvhctl settings show' prints the value in effect and where each came from. A mistake in",
    '# this file stops every pvhctl command with FILE:LINE and the cause, before it does anything.',
    '# Another file can be used instead: PVHCTL_CONFIG=/path/to/file. See pvhctl.conf(5).',
  ];
  let section = '';
  for (const def of SETTINGS) {
    const key = keyOf(def);
    if (def.section !== section) {
      section = def.section;
      out.push('', ...wrap(SECTIONS[section] ?? '', 100, '# '), `[${section}]`);
    }
    out.push('', ...wrap(def.doc, 100, '# '));
    out.push(`# Environment: ${def.env}. Default: ${defaultText(def)}.`);
    const given = Object.hasOwn(set, key) ? set[key] : undefined;
    if (given !== undefined && given !== null) out.push(`${def.name} = ${tomlValue(given)}`);
    else out.push(`#${def.name} = ${tomlValue(defaultOf(def) ?? def.example ?? '')}`);
  }
  return `${out.join('\n')}\n`;
}

/** Text escaped for roff: backslashes, and a leading dot or quote. */
export function roff(s: string): string {
  return s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');
}

/** The SETTINGS section of pvhctl.conf(5) in roff (man(7) macros). */
export function renderSettingsMan(): string {
  const out: string[] = [];
  let section = '';
  for (const def of SETTINGS) {
    if (def.section !== section) {
      section = def.section;
      out.push('.SS', roff(`[${section}]`), roff(SECTIONS[section] ?? ''));
    }
    out.push('.TP', `.B ${roff(def.name)}`);
    out.push(roff(def.doc));
    out.push('.br', roff(`Type: ${def.type.kind}. Default: ${defaultText(def)}. Environment: `) + `\\fB${roff(def.env)}\\fR.`);
  }
  return `${out.join('\n')}\n`;
}
