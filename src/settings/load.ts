/**
 * Reading the settings file: $PVHCTL_CONFIG, else /etc/pvhctl/pvhctl.conf when it exists. The
 * imperative edge around resolve.ts.
 */
import { UsageError } from '../util/usage-error.ts';
import { readHead } from '../util/read-head.ts';
import { MAX_SETTINGS_BYTES, resolveSettings, type FlagValue, type Settings } from './resolve.ts';
import type { SettingKey } from './defs.ts';

/** The settings file the Debian package installs. */
export const SETTINGS_FILE = '/etc/pvhctl/pvhctl.conf';

/** A settings file, variable or flag that cannot be used; exit status 2, like a usage error. */
export class SettingsError extends UsageError {}

/** Which file is read: $PVHCTL_CONFIG (must exist), else SETTINGS_FILE if it exists, else none. */
export function settingsPath(env: Readonly<Record<string, string | undefined>> = process.env): { path: string; required: boolean } {
  const p = env.PVHCTL_CONFIG;
  return p !== undefined && p !== '' ? { path: p, required: true } : { path: SETTINGS_FILE, required: false };
}

/**
 * The effective settings for a command given `flags`; throws SettingsError (one line naming the
 * file and line, the variable or the flag) before the command does anything.
 * @example
 * loadSettings({ 'api.port': { flag: '--port', value: '9000' } }).get('api.port')?.value // => 9000
 */
export function loadSettings(flags: Partial<Record<SettingKey, FlagValue | undefined>> = {}, env: Readonly<Record<string, string | undefined>> = process.env): Settings {
  const { path, required } = settingsPath(env);
  let text: string | null = null;
  try {
    // One byte past the limit tells resolveSettings the file is too large, without reading it all.
    text = readHead(path, MAX_SETTINGS_BYTES + 1).toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || required) throw new SettingsError(`${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'ENOTREG' ? 'not a regular file' : (err as Error).message}`);
  }
  const r = resolveSettings({ file: text === null ? null : { path, text }, env, flags });
  if (!r.ok) throw new SettingsError(r.error);
  return r.settings;
}

/** `{ flag, value }` for a flag that was given, else undefined (what loadSettings takes). */
export function flag(name: string, value: string | undefined): FlagValue | undefined {
  return value === undefined ? undefined : { flag: name, value };
}
