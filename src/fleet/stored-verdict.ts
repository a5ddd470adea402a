/**
 * A guest's verdict as the store keeps it (guests.verdict): JSON with a version, so that a row
 * written by an older pvhctl is read for what it is and never mistaken for a newer one. Version 2
 * keeps the disk inspection's whole verdict (`inspection`); version 1 (no `version` field) had
 * only the flattened booleans, read here with `inspection: null` (migration 0520 rewrites them).
 * The guest's distribution (`os`) came later within version 2: a row without it reads as null.
 */
import type { GuestOs, GuestVerdict } from './seams.ts';

/** The version encodeVerdict writes. */
export const VERDICT_VERSION = 2;

/**
 * The JSON text stored for a verdict.
 * @example
 * encodeVerdict(v) // => '{"version":2,"pv":{...},"pvh":{...},...,"inspection":{"verdict":"ready-after-reboot",...}}'
 */
export function encodeVerdict(v: GuestVerdict): string {
  return JSON.stringify({ version: VERDICT_VERSION, ...v });
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** An os-release ID as the guest wrote it, if it looks like one (lowercase letters, digits, `._-`, os-release(5)). */
const osId = (x: unknown): string | null => (typeof x === 'string' && /^[a-z0-9._-]{1,64}$/.test(x) ? x : null);

/** The stored distribution, read back only when it is well formed (none before it was stored). */
function osOf(x: unknown): GuestOs | null {
  if (!isObject(x)) return null;
  const id = osId(x.id);
  if (id === null) return null;
  const like = Array.isArray(x.idLike) ? x.idLike.slice(0, 8).map(osId).filter((v): v is string => v !== null) : [];
  return { id, idLike: like };
}

/**
 * The verdict a stored text holds, or null when there is none or it cannot be read (a newer
 * version, a damaged row): the guest then counts as not inspected, which asks for a new scan
 * rather than trusting a guess.
 * @example
 * decodeVerdict('{"version":2,"pv":{"capable":true,...},...}')?.pv.capable // => true
 * decodeVerdict('{"version":9}') // => null
 */
export function decodeVerdict(text: string | null): GuestVerdict | null {
  if (text === null) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(raw) || !isObject(raw.pv) || !isObject(raw.pvh)) return null;
  const version = raw.version ?? 1;
  if (version !== 1 && version !== VERDICT_VERSION) return null;
  const { version: _, ...rest } = raw;
  const inspection = version === 1 ? null : isObject(rest.inspection) ? rest.inspection : null;
  const v: GuestVerdict = { ...(rest as unknown as GuestVerdict), inspection: inspection as GuestVerdict['inspection'] };
  if ('os' in rest) v.os = osOf(rest.os);
  return v;
}
