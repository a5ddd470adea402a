import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../store/store.ts';
import { STORES } from '../../test/support/stores.ts';
import { parseAddress, parseOwner, type MailAddress } from './address.ts';
import { mailStore, type MailKey } from './mail-store.ts';
import { mailMigrations } from './mail-schema.ts';

test('addresses: local@domain only, bounded, no header tricks', () => {
  assert.deepEqual(parseAddress('Alice.B+pvh@Mail.Example.COM'), { ok: true, address: 'Alice.B+pvh@mail.example.com' });
  for (const bad of ['alice', '@example.com', 'alice@', 'alice@localhost', 'a@b.c\r\nBcc: x@y.z', 'Alice <a@example.com>', 'a@example.com, b@example.com', '"a b"@example.com', 'a..b@example.com', 'a@[127.0.0.1]', 'a@1.2.3.4', 'a@-x.example.com', `${'a'.repeat(65)}@example.com`, `a@${'b'.repeat(250)}.com`, 'a@exa mple.com']) {
    assert.equal(parseAddress(bad).ok, false, JSON.stringify(bad));
  }
  assert.equal(parseOwner('alice').ok, true);
  assert.equal(parseOwner('a\nb').ok, false);
  assert.equal(parseOwner('x'.repeat(129)).ok, false);
  assert.equal(parseOwner('').ok, false);
});

const addr = (s: string) => (parseAddress(s) as { address: MailAddress }).address;

for (const store of STORES) test(`owner contacts, mail claims and the link key (${store.kind})`, async () => {
  const s = await openStore(await store.location());
  const m = mailStore(s);
  await m.setContact('alice', addr('alice@example.com'));
  await m.setContact('alice', addr('alice@example.org'));
  assert.equal((await m.contact('alice'))?.email, 'alice@example.org', 'replaced');
  assert.equal(await m.contact('bob'), undefined);
  assert.deepEqual(await m.owners(10), [{ owner: 'alice', email: 'alice@example.org', guests: 0 }]);

  const k: MailKey = { campaignId: 1, guestId: 9, kind: 'notice', slotStart: '2026-12-08T01:00:00.000Z' };
  const fresh = { owner: 'alice', address: 'alice@example.org', messageId: '<1@example.com>' };
  const a = await m.claim(k, fresh, 60_000);
  assert.equal(a.kind, 'claimed');
  // A second tick while the first is sending: not sent twice.
  const b = await m.claim(k, { ...fresh, messageId: '<2@example.com>' }, 60_000);
  assert.equal(b.kind, 'busy');
  // The first process died mid-send: after the stale time the row is taken over, same Message-ID.
  await new Promise((r) => setTimeout(r, 5));
  const c = await m.claim(k, { ...fresh, messageId: '<3@example.com>' }, 1);
  assert.ok(c.kind === 'claimed' && c.row.message_id === '<1@example.com>' && c.row.id === a.row.id);
  await m.finish(c.row.id, 'sent', null);
  const d = await m.claim(k, fresh, 0);
  assert.ok(d.kind === 'sent' && d.row.message_id === '<1@example.com>');
  // Another kind is another mail; a failed one is claimed again at once.
  const e = await m.claim({ ...k, kind: 'reminder' }, { ...fresh, messageId: '<4@example.com>' }, 60_000);
  assert.equal(e.kind, 'claimed');
  await m.tried(e.row.id, 3, '451 later');
  await m.finish(e.row.id, 'failed', '451 later');
  const f = await m.claim({ ...k, kind: 'reminder' }, { ...fresh, messageId: '<5@example.com>' }, 60_000);
  assert.ok(f.kind === 'claimed' && f.row.tries === 3 && f.row.message_id === '<4@example.com>');
  assert.equal((await m.mails({ limit: 10 })).length, 2);

  const key1 = await m.linkKey();
  const [key2, key3] = await Promise.all([m.linkKey(), mailStore(s).linkKey()]);
  assert.equal(key1.length, 32);
  assert.ok(key1.equals(key2) && key1.equals(key3), 'one key per store');
  await s.close();
});

for (const store of STORES) test(`migrations 0700-0720 go down and up again (${store.kind})`, async () => {
  const s = await openStore(await store.location());
  for (const name of ['0720_link_keys', '0710_mails', '0700_owner_contacts']) await mailMigrations[name]!.down!(s.db);
  await assert.rejects(mailStore(s).contact('alice'), /owner_contacts/);
  for (const name of ['0700_owner_contacts', '0710_mails', '0720_link_keys']) await mailMigrations[name]!.up(s.db);
  await mailStore(s).setContact('alice', addr('alice@example.com'));
  assert.equal((await mailStore(s).contact('alice'))?.email, 'alice@example.com');
  await s.close();
});
