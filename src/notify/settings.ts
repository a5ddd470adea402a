/**
 * The SMTP settings (src/settings/defs.ts, section `smtp`) as the notifier's configuration: off
 * when no relay is set, else a checked SmtpConfig, or one line saying what is missing.
 */
import { numberOf, textOf, type Settings } from '../settings/resolve.ts';
import { parseAddress } from './address.ts';
import { readHead } from '../util/read-head.ts';
import { smtpNotifier, type SmtpConfig, type SmtpSecurity } from './smtp.ts';
import type { Notifier } from '../fleet/notice.ts';
import type { Store } from '../store/store.ts';

/** Mail is off (no smtp.host), on, or configured wrongly. */
export type MailSetup = { kind: 'off' } | { kind: 'on'; config: SmtpConfig } | { kind: 'invalid'; error: string };

/** A password file is one line; anything longer is the wrong file. */
const MAX_PASSWORD = 1024;
/** A CA bundle larger than this is the wrong file (the system's whole bundle is about 220 KiB). */
const MAX_CA = 1024 * 1024;
/** Why a file could not be read, in a word or two (its path is said by the caller). */
const unreadable = (err: unknown): string => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOTREG' ? 'not a regular file' : code ?? (err as Error).message;
};

/** The first pause between tries (smtp.tries counts them; the pause doubles). */
export const BACKOFF_MS = 30_000;

/**
 * The notifier's configuration from the effective settings.
 * @example
 * mailSetup(settings) // => { kind: 'off' } when smtp.host is unset
 * mailSetup(settings) // => { kind: 'invalid', error: 'smtp.host is set: smtp.from and smtp.link_url are needed too' }
 */
export function mailSetup(settings: Settings, readFile: (path: string) => string = (p) => readHead(p, MAX_CA + 1).toString('utf8')): MailSetup {
  const host = textOf(settings, 'smtp.host');
  if (host === null) return { kind: 'off' };
  const from = textOf(settings, 'smtp.from');
  const linkBase = textOf(settings, 'smtp.link_url');
  if (from === null || linkBase === null) return { kind: 'invalid', error: 'smtp.host is set: smtp.from and smtp.link_url are needed too' };
  const address = parseAddress(from);
  if (!address.ok) return { kind: 'invalid', error: `smtp.from: ${address.error}` };
  const user = textOf(settings, 'smtp.username');
  const passwordFile = textOf(settings, 'smtp.password_file');
  let auth: SmtpConfig['auth'] = null;
  if (user !== null) {
    if (passwordFile === null) return { kind: 'invalid', error: 'smtp.username is set: smtp.password_file is needed too' };
    let pass: string;
    try {
      pass = readFile(passwordFile).replace(/\r?\n$/, '');
    } catch (err) {
      return { kind: 'invalid', error: `smtp.password_file ${passwordFile}: ${unreadable(err)}` };
    }
    if (pass.length === 0 || pass.length > MAX_PASSWORD || /[\r\n]/.test(pass)) return { kind: 'invalid', error: `smtp.password_file ${passwordFile}: expected one line of at most ${MAX_PASSWORD} characters` };
    auth = { user, pass };
  }
  const caFile = textOf(settings, 'smtp.ca_file');
  let ca: string | null = null;
  if (caFile !== null) {
    try {
      ca = readFile(caFile);
    } catch (err) {
      return { kind: 'invalid', error: `smtp.ca_file ${caFile}: ${unreadable(err)}` };
    }
    if (ca.length > MAX_CA || !ca.includes('-----BEGIN CERTIFICATE-----')) return { kind: 'invalid', error: `smtp.ca_file ${caFile}: expected PEM certificates (-----BEGIN CERTIFICATE-----), at most ${MAX_CA / 1024} KiB` };
  }
  return {
    kind: 'on',
    config: {
      host,
      port: numberOf(settings, 'smtp.port'),
      security: textOf(settings, 'smtp.security') as SmtpSecurity,
      from: address.address,
      auth,
      ca,
      linkBase,
      linkLifetimeMs: numberOf(settings, 'smtp.link_lifetime') * 1000,
      tries: numberOf(settings, 'smtp.tries'),
      backoffMs: BACKOFF_MS,
    },
  };
}

/**
 * The Notifier the settings ask for, for the campaign engine: none when mail is off (the
 * campaign runs without notices and says so), or one line when the settings are wrong.
 * @example
 * notifierFromSettings(store, loadSettings()) // => { kind: 'on', notifier } | { kind: 'off' } | { kind: 'invalid', error: '…' }
 */
export function notifierFromSettings(store: Store, settings: Settings): { kind: 'on'; notifier: Notifier } | Exclude<MailSetup, { kind: 'on' }> {
  const setup = mailSetup(settings);
  return setup.kind === 'on' ? { kind: 'on', notifier: smtpNotifier(store, setup.config) } : setup;
}
