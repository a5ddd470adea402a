import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { refusalWords, signLink, verifyLink, type GuestLink } from './link.ts';

const key = randomBytes(32);
const grant: GuestLink = { guestId: 7, slot: { start: new Date('2026-12-08T01:00:00Z'), end: new Date('2026-12-08T04:00:00Z'), timeZone: 'Europe/Berlin' }, expires: new Date('2027-01-01T00:00:00Z') };
const now = new Date('2026-12-06T00:00:00Z');
const split = (path: string) => {
  const [p, q] = path.split('?');
  return { id: p!.slice('/g/'.length), q: new URLSearchParams(q) };
};

test('a signed link verifies for its guest, with its slot', () => {
  const { id, q } = split(signLink(key, grant));
  assert.deepEqual(verifyLink(key, id, q, now), { ok: true, link: grant });
});

test('a link for a mail that named no slot verifies with none; a slotted link stripped of its slot, or given one, is refused', () => {
  const bare: GuestLink = { ...grant, slot: null };
  const { id, q } = split(signLink(key, bare));
  assert.deepEqual([q.has('from'), q.has('to'), q.has('tz')], [false, false, false]);
  assert.deepEqual(verifyLink(key, id, q, now), { ok: true, link: bare });
  assert.deepEqual(verifyLink(key, id, stripped(split(signLink(key, grant)).q), now), { ok: false, refusal: { code: 'bad-signature' } });
  const given = new URLSearchParams(q);
  for (const [k, v] of [['from', '1'], ['to', '2'], ['tz', 'UTC']]) given.set(k!, v!);
  assert.deepEqual(verifyLink(key, id, given, now), { ok: false, refusal: { code: 'bad-signature' } });
  const half = new URLSearchParams(q);
  half.set('from', '1');
  assert.deepEqual(verifyLink(key, id, half, now), { ok: false, refusal: { code: 'malformed', detail: 'the link needs exactly one to' } });
});

const stripped = (q: URLSearchParams) => {
  const t = new URLSearchParams(q);
  for (const k of ['from', 'to', 'tz']) t.delete(k);
  return t;
};

test('another guest, a changed slot, another key, a changed signature: refused', () => {
  const { id, q } = split(signLink(key, grant));
  assert.deepEqual(verifyLink(key, '8', q, now), { ok: false, refusal: { code: 'bad-signature' } });
  for (const [k, v] of [['to', String(grant.slot!.end.getTime() + 3_600_000)], ['tz', 'UTC'], ['exp', '1900000000'], ['from', '0']]) {
    const t = new URLSearchParams(q);
    t.set(k!, v!);
    assert.deepEqual(verifyLink(key, id, t, now), { ok: false, refusal: { code: 'bad-signature' } }, k);
  }
  assert.deepEqual(verifyLink(randomBytes(32), id, q, now), { ok: false, refusal: { code: 'bad-signature' } });
  const sig = q.get('sig')!;
  const t = new URLSearchParams(q);
  t.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
  assert.deepEqual(verifyLink(key, id, t, now), { ok: false, refusal: { code: 'bad-signature' } });
});

test('an expired link says so; malformed ones say what is wrong', () => {
  const { id, q } = split(signLink(key, grant));
  const late = verifyLink(key, id, q, new Date('2027-01-01T00:00:01Z'));
  assert.deepEqual(late, { ok: false, refusal: { code: 'expired', at: grant.expires } });
  assert.match(refusalWords((late as { refusal: Parameters<typeof refusalWords>[0] }).refusal), /expired on 2027-01-01T00:00:00\.000Z/);
  const bad = (qs: string, gid = '7') => {
    const r = verifyLink(key, gid, new URLSearchParams(qs), now);
    return r.ok ? 'ok' : r.refusal.code === 'malformed' ? r.refusal.detail : r.refusal.code;
  };
  assert.equal(bad(q.toString(), '07'), 'the guest id is not a number');
  assert.equal(bad(''), 'the link needs exactly one exp');
  assert.equal(bad(`${q.toString()}&sig=x`), 'the link needs exactly one sig');
  assert.equal(bad(q.toString().replace(/tz=[^&]*/, 'tz=%0a')), 'tz is not a time zone name');
  assert.equal(bad(q.toString().replace(/exp=[^&]*/, 'exp=1e9')), 'from, to and exp are whole numbers');
  assert.equal(bad(q.toString().replace(/sig=[^&]*/, 'sig=abc')), 'the signature has the wrong length');
});
