/**
 * Which new connections the Xen Shell lets in, as OpenSSH's sshd does (sshd_config(5):
 * LoginGraceTime, MaxStartups, PerSourceMaxStartups): connections that have not logged in yet
 * are limited apart from customers' sessions, so that sockets which only send a banner (or
 * nothing) can never take the places of customers who log in. Pure functions; the server in
 * server.ts counts and asks.
 */

/**
 * sshd's MaxStartups `start:rate:full`: with `start` unauthenticated connections open, a new
 * one is refused with probability `rate`/100, rising linearly to certain refusal at `full`.
 */
export type MaxStartups = { start: number; rate: number; full: number };

/** The limits on connections that have not logged in yet. */
export type AdmissionLimits = {
  maxStartups: MaxStartups;
  /** Unauthenticated connections from one source address (sshd's PerSourceMaxStartups). */
  perSource: number;
};

/** sshd's defaults: MaxStartups 10:30:100; per source 10 (sshd has no default; one address must not fill the table). */
export const DEFAULT_ADMISSION: AdmissionLimits = { maxStartups: { start: 10, rate: 30, full: 100 }, perSource: 10 };
/** sshd's LoginGraceTime is 120 s; a key login takes well under a second, so 30 s is generous. */
export const DEFAULT_LOGIN_GRACE_MS = 30_000;

/** What is open now: unauthenticated connections in all and from the new one's address. */
export type Pending = { total: number; fromSource: number };

export type Admission = { kind: 'accept' } | { kind: 'drop'; why: 'full' | 'per-source' | 'early-drop' };

/**
 * Decides whether a new connection may start logging in, given what is pending and a random
 * number in [0, 1) for the early drop (sshd's `should_drop_connection`).
 * @example
 * admit({ total: 55, fromSource: 1 }, DEFAULT_ADMISSION, 0.99) // => { kind: 'accept' }
 * admit({ total: 100, fromSource: 1 }, DEFAULT_ADMISSION, 0.99) // => { kind: 'drop', why: 'full' }
 * admit({ total: 3, fromSource: 10 }, DEFAULT_ADMISSION, 0.99) // => { kind: 'drop', why: 'per-source' }
 */
export function admit(pending: Pending, limits: AdmissionLimits, random: number): Admission {
  const { start, rate, full } = limits.maxStartups;
  if (pending.total >= full) return { kind: 'drop', why: 'full' };
  if (pending.fromSource >= limits.perSource) return { kind: 'drop', why: 'per-source' };
  if (pending.total < start) return { kind: 'accept' };
  // sshd: p = rate + (100 - rate) * (n - start) / (full - start), in percent
  const p = (rate + ((100 - rate) * (pending.total - start)) / (full - start)) / 100;
  return random < p ? { kind: 'drop', why: 'early-drop' } : { kind: 'accept' };
}

const INT = /^[0-9]{1,6}$/;

/**
 * Parses `start:rate:full` (or a single `full`, as sshd accepts) into limits; an error says
 * what is wrong in words.
 * @example
 * parseMaxStartups('10:30:100') // => { ok: true, value: { start: 10, rate: 30, full: 100 } }
 * parseMaxStartups('50') // => { ok: true, value: { start: 50, rate: 100, full: 50 } }
 * parseMaxStartups('10:130:100') // => { ok: false, error: 'rate must be 1..100 (a percentage)' }
 */
export function parseMaxStartups(text: string): { ok: true; value: MaxStartups } | { ok: false; error: string } {
  const parts = text.split(':');
  if (!parts.every((p) => INT.test(p)) || (parts.length !== 1 && parts.length !== 3)) {
    return { ok: false, error: 'expected START:RATE:FULL (for example 10:30:100) or one number' };
  }
  const [start, rate, full] = parts.length === 1 ? [Number(parts[0]), 100, Number(parts[0])] : parts.map(Number) as [number, number, number];
  if (full < 1) return { ok: false, error: 'FULL must be at least 1' };
  if (rate < 1 || rate > 100) return { ok: false, error: 'rate must be 1..100 (a percentage)' };
  if (start > full) return { ok: false, error: 'START must not be above FULL' };
  return { ok: true, value: { start, rate, full } };
}
