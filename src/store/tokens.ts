/**
 * API tokens' lifetime: when a token stops being accepted (revoked, or past its expiry), as pure
 * functions over the stored row and the time, so that the API, the web UI (which calls the API)
 * and `pvhctl token list` all judge a token the same way.
 */
import type { Token } from './schema.ts';

/** Whether a token is accepted now, and if not, why. */
export type TokenState = { kind: 'valid' } | { kind: 'revoked'; at: string } | { kind: 'expired'; at: string };

/**
 * The state of `t` at `now`; a revoked token stays revoked whatever its expiry.
 * @example
 * tokenState({ revoked_at: null, expires_at: '2026-01-01T00:00:00.000Z' }, new Date('2026-02-01')) // => { kind: 'expired', at: '2026-01-01T00:00:00.000Z' }
 */
export function tokenState(t: Pick<Token, 'revoked_at' | 'expires_at'>, now: Date): TokenState {
  if (t.revoked_at !== null) return { kind: 'revoked', at: t.revoked_at };
  if (t.expires_at !== null && Date.parse(t.expires_at) <= now.getTime()) return { kind: 'expired', at: t.expires_at };
  return { kind: 'valid' };
}

/** The one-line reason the API gives for a token it no longer accepts. */
export function refusal(s: Exclude<TokenState, { kind: 'valid' }>): string {
  return s.kind === 'revoked' ? `this token was revoked at ${s.at}` : `this token expired at ${s.at}`;
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Ten years: anything longer is a typo, and a token that never expires is the default anyway. */
const MAX_LIFETIME_MS = 3650 * UNIT_MS.d;

/**
 * A lifetime such as `30d`, `12h` or `90m` in milliseconds, or null when it is not one.
 * @example
 * parseLifetime('30d') // => 2592000000
 * parseLifetime('30') // => null
 */
export function parseLifetime(text: string): number | null {
  const m = /^([1-9][0-9]{0,6})([mhd])$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return ms <= MAX_LIFETIME_MS ? ms : null;
}
