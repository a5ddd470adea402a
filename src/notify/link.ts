/**
 * Signed links to one guest's page, for campaign mail: the guest, its slot and an expiry, signed
 * with the store's key (HMAC-SHA256, src/notify/mail-store.ts linkKey). Whoever holds the link
 * may read that guest's page and slot until it expires, and nothing else. Pure: the key and the
 * time are passed in.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a link grants: reading one guest's page, and the slot the mail announced (null: it announced none). */
export type GuestLink = { guestId: number; slot: { start: Date; end: Date; timeZone: string } | null; expires: Date };

/** Why a link is refused. */
export type LinkRefusal =
  | { code: 'malformed'; detail: string }
  | { code: 'bad-signature' }
  | { code: 'expired'; at: Date };

/** The path of a guest's page reached through a signed link. */
export const LINK_PATH = '/g/';

const SIG_BYTES = 32;
/** IANA zone names are ASCII, at most a few dozen characters (`America/Argentina/ComodRivadavia`). */
const TZ = /^[A-Za-z0-9_+\-/]{1,64}$/;
const MS = /^[0-9]{1,15}$/;

const payload = (l: GuestLink): string =>
  ['pvhctl-guest-link-v1', l.guestId, l.slot?.start.getTime() ?? '', l.slot?.end.getTime() ?? '', l.slot?.timeZone ?? '', Math.floor(l.expires.getTime() / 1000)].join('\n');

const mac = (key: Uint8Array, l: GuestLink): Buffer => createHmac('sha256', key).update(payload(l)).digest();

/**
 * The path and query of a signed link (append it to the web UI's address).
 * @example
 * signLink(key, { guestId: 7, slot: { start, end, timeZone: 'Europe/Berlin' }, expires })
 * // => '/g/7?from=1767661200000&to=1767672000000&tz=Europe%2FBerlin&exp=1768266000&sig=Qm9…'
 */
export function signLink(key: Uint8Array, l: GuestLink): string {
  const q = new URLSearchParams({
    // A link for a mail that named no slot has none of from, to and tz.
    ...(l.slot === null ? {} : { from: String(l.slot.start.getTime()), to: String(l.slot.end.getTime()), tz: l.slot.timeZone }),
    exp: String(Math.floor(l.expires.getTime() / 1000)),
    sig: mac(key, l).toString('base64url'),
  });
  return `${LINK_PATH}${l.guestId}?${q.toString()}`;
}

/**
 * Checks a link's guest id (from the path) and query against the key at `now`: the grant, or why not.
 * @example
 * verifyLink(key, '7', new URLSearchParams('from=…&sig=…'), now) // => { ok: true, link: { guestId: 7, … } }
 * verifyLink(key, '8', sameQuery, now) // => { ok: false, refusal: { code: 'bad-signature' } }
 */
export function verifyLink(key: Uint8Array, id: string, q: URLSearchParams, now: Date): { ok: true; link: GuestLink } | { ok: false; refusal: LinkRefusal } {
  const bad = (detail: string) => ({ ok: false as const, refusal: { code: 'malformed' as const, detail } });
  if (!/^[1-9][0-9]{0,9}$/.test(id)) return bad('the guest id is not a number');
  const [from, to, tz, exp, sig] = ['from', 'to', 'tz', 'exp', 'sig'].map((k) => q.getAll(k));
  // from, to and tz come together (a slot) or not at all (a mail that named no slot).
  const slotted = from!.length + to!.length + tz!.length > 0;
  for (const [name, v] of [...(slotted ? [['from', from], ['to', to], ['tz', tz]] as const : []), ['exp', exp], ['sig', sig]] as const) {
    if (v!.length !== 1) return bad(`the link needs exactly one ${name}`);
  }
  if (!MS.test(exp![0]!) || (slotted && (!MS.test(from![0]!) || !MS.test(to![0]!)))) return bad('from, to and exp are whole numbers');
  if (slotted && !TZ.test(tz![0]!)) return bad('tz is not a time zone name');
  const given = Buffer.from(sig![0]!, 'base64url');
  if (given.length !== SIG_BYTES) return bad('the signature has the wrong length');
  const link: GuestLink = {
    guestId: Number(id),
    slot: slotted ? { start: new Date(Number(from![0])), end: new Date(Number(to![0])), timeZone: tz![0]! } : null,
    expires: new Date(Number(exp![0]) * 1000),
  };
  // Signature first, so that an expired link says so only when it is genuine.
  if (!timingSafeEqual(given, mac(key, link))) return { ok: false, refusal: { code: 'bad-signature' } };
  if (link.expires.getTime() <= now.getTime()) return { ok: false, refusal: { code: 'expired', at: link.expires } };
  return { ok: true, link };
}

/**
 * A refusal in one line, for the page and the API.
 * @example
 * refusalWords({ code: 'bad-signature' }) // => 'this link is not valid: it was changed or was not made by us'
 */
export function refusalWords(r: LinkRefusal): string {
  switch (r.code) {
    case 'malformed':
      return `this link is not valid: ${r.detail}`;
    case 'bad-signature':
      return 'this link is not valid: it was changed or was not made by us';
    case 'expired':
      return `this link expired on ${r.at.toISOString()}; the newest mail about your server has a fresh one`;
  }
}
