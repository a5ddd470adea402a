/**
 * The Xen Shell's connection limits as command-line options, shared by `pvhctl shell` and
 * `pvhctl serve --shell-port`: --login-grace-time, --max-startups, --per-source-max-startups
 * (named after sshd_config's LoginGraceTime, MaxStartups and PerSourceMaxStartups).
 */
import { DEFAULT_ADMISSION, DEFAULT_LOGIN_GRACE_MS, parseMaxStartups, type AdmissionLimits } from '../compose/servers.ts';
import { UsageError } from './args.ts';

/** parseArgs options for the limits. */
export const SHELL_LIMIT_OPTIONS = {
  'login-grace-time': { type: 'string' },
  'max-startups': { type: 'string' },
  'per-source-max-startups': { type: 'string' },
} as const;

/** The help lines for the limits. */
export const SHELL_LIMIT_HELP = `Connections that have not logged in are limited apart from customers' sessions, as sshd does:
  --login-grace-time SECONDS      close a connection not logged in by then (default ${DEFAULT_LOGIN_GRACE_MS / 1000})
  --max-startups START:RATE:FULL  refuse new ones with RATE% chance from START pending, all at FULL
                                  (default ${DEFAULT_ADMISSION.maxStartups.start}:${DEFAULT_ADMISSION.maxStartups.rate}:${DEFAULT_ADMISSION.maxStartups.full})
  --per-source-max-startups N     pending connections from one address (default ${DEFAULT_ADMISSION.perSource})
`;

/**
 * Reads the limits from parsed options, throwing a UsageError in words for a bad value.
 * @example
 * shellLimits({ 'login-grace-time': '10' }) // => { loginGraceMs: 10000, admission: DEFAULT_ADMISSION }
 */
export function shellLimits(values: { 'login-grace-time'?: string; 'max-startups'?: string; 'per-source-max-startups'?: string }): { loginGraceMs: number; admission: AdmissionLimits } {
  let loginGraceMs = DEFAULT_LOGIN_GRACE_MS;
  const grace = values['login-grace-time'];
  if (grace !== undefined) {
    if (!/^[0-9]{1,5}$/.test(grace) || Number(grace) < 1 || Number(grace) > 3600) throw new UsageError('--login-grace-time: seconds, 1..3600');
    loginGraceMs = Number(grace) * 1000;
  }
  let maxStartups = DEFAULT_ADMISSION.maxStartups;
  if (values['max-startups'] !== undefined) {
    const m = parseMaxStartups(values['max-startups']);
    if (!m.ok) throw new UsageError(`--max-startups: ${m.error}`);
    maxStartups = m.value;
  }
  let perSource = DEFAULT_ADMISSION.perSource;
  const ps = values['per-source-max-startups'];
  if (ps !== undefined) {
    if (!/^[0-9]{1,6}$/.test(ps) || Number(ps) < 1) throw new UsageError('--per-source-max-startups: a number of connections, at least 1');
    perSource = Number(ps);
  }
  return { loginGraceMs, admission: { maxStartups, perSource } };
}
