/**
 * Campaign mail end to end: the SMTP notifier (src/notify/smtp.ts) against a real SMTP server on
 * loopback (the `smtp-server` package as the receiving relay; `mailparser` reads what arrived),
 * and the signed link in the mail opened against the real web app (src/compose/servers.ts
 * buildServer) on the same fleet, on SQLite and PostgreSQL. The relay can be told to answer 451
 * (try later) or 550.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { buildServer } from '../compose/servers.ts';
import { eventBus } from '../fleet/events.ts';
import { openFleet } from '../fleet/fleet.ts';
import type { Notice } from '../fleet/notice.ts';
import { STORES } from '../../test/support/stores.ts';
import { parseAddress, type MailAddress } from '../notify/address.ts';
import { mailStore } from '../notify/mail-store.ts';
import { signLink } from '../notify/link.ts';
import { smtpNotifier, type SmtpConfig } from '../notify/smtp.ts';
import { relay } from '../../test/support/smtp-relay.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const HOSTILE_NAME = 'web1"<script>alert(1)</script>\r\nBcc: evil@example.net';

for (const store of STORES) test(`campaign mail through a real SMTP relay, with a signed link the web app opens (${store.kind})`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-notify-'));
  dirs.push(dir);
  const bus = eventBus();
  const fleet = await openFleet({ dataDir: dir, ...(store.kind === 'postgres' ? { store: await store.location() } : {}), onEvent: (e) => bus.emit(e), simInMemory: true });
  const smtp = await relay();
  const app = await buildServer(fleet, { logger: pino({ level: 'silent' }), bus });
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(async () => {
    await app.close();
    await smtp.close();
    await fleet.close();
  });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const host = await fleet.store.addHost({
    name: 'xen-fra-01', transport: 'sim', endpoint: JSON.stringify({ guests: 3, seed: 5 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  assert.deepEqual((await fleet.scan(host)).errors, []);
  const [g1, g2] = await fleet.store.listGuests();
  // A customer named their server to attack the mail and the page.
  await fleet.store.db.updateTable('guests').set({ owner: 'alice', name: HOSTILE_NAME }).where('id', '=', g1!.id).execute();
  await fleet.store.db.updateTable('guests').set({ owner: 'bob' }).where('id', '=', g2!.id).execute();

  const cfg: SmtpConfig = {
    host: '127.0.0.1', port: smtp.port, security: 'none', from: (parseAddress('pvhctl@example.com') as { address: MailAddress }).address,
    auth: null, ca: null, linkBase: `${base}/`, linkLifetimeMs: 3_600_000, tries: 3, backoffMs: 10,
  };
  const notifier = smtpNotifier(fleet.store, cfg);
  const mails = mailStore(fleet.store);
  const slot = { start: new Date('2026-12-08T01:00:00Z'), end: new Date('2026-12-08T04:00:00Z'), timeZone: 'Europe/Berlin' };
  const notice = (over: Partial<Notice> = {}): Notice => ({
    kind: 'notice', campaignId: 1, campaignName: 'Winter move', guestId: g1!.id, guestName: HOSTILE_NAME, owner: 'alice', host: 'xen-fra-01',
    slot, path: { path: 'after-kernel-upgrade', install: 'linux-image-amd64 from Debian 10 or later (apt-get install linux-image-amd64)' }, distro: 'debian', ...over,
  });

  // No address on record: nothing is sent, nothing recorded.
  assert.deepEqual(await notifier.send(notice()), { status: 'no-address' });
  assert.equal(smtp.received.length, 0);
  assert.deepEqual(await mails.mails({ limit: 10 }), []);

  await mails.setContact('alice', (parseAddress('alice@example.com') as { address: MailAddress }).address);
  const sent = await notifier.send(notice());
  assert.equal(sent.status, 'sent');
  assert.equal(smtp.received.length, 1);
  const m = smtp.received[0]!;
  assert.equal(m.messageId, (sent as { messageId: string }).messageId);
  assert.deepEqual(m.to && !Array.isArray(m.to) ? m.to.value.map((a) => a.address) : null, ['alice@example.com']);
  assert.equal(m.bcc, undefined, 'no header injected from the guest name');
  assert.deepEqual(smtp.rcpts, ['alice@example.com']);
  assert.equal(m.subject, 'Planned maintenance of your server "web1"<script>alert(1)</script>\\r\\nBcc: evil@example.net"');
  assert.equal(m.headers.get('auto-submitted'), 'auto-generated');
  assert.match(m.text!, /Tuesday 8 December 2026 between 02:00 and 05:00 \(Europe\/Berlin time\)/);
  assert.match(m.text!, /On Debian or Ubuntu: run apt-get update/);
  assert.doesNotMatch(m.html as string, /<script>/);
  assert.match(m.html as string, /&lt;script&gt;/);

  // The link opens this guest's page, without a token.
  const link = /(http:\/\/127\.0\.0\.1:\d+\/g\/\d+\?\S+)/.exec(m.text!)?.[1];
  assert.ok(link, 'a link in the mail');
  const page = await fetch(link);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<h1>Your server web1&quot;&lt;script&gt;alert\(1\)&lt;\/script&gt;\\r\\nBcc: evil@example\.net<\/h1>/);
  assert.match(html, /Tuesday 8 December 2026 between 02:00 and 05:00 \(Europe\/Berlin time\)/);
  assert.doesNotMatch(html, /<script>/);
  const json = (await (await fetch(link, { headers: { accept: 'application/json' } })).json()) as { guest: { id: number }; slot: { start: string } };
  assert.equal(json.guest.id, g1!.id);
  assert.equal(json.slot.start, slot.start.toISOString());
  // Tampered: another guest, another slot, a changed signature; and an expired one. All refused.
  const url = new URL(link);
  const other = new URL(link);
  other.pathname = `/g/${g2!.id}`;
  const later = new URL(link);
  later.searchParams.set('to', String(slot.end.getTime() + 86_400_000));
  const forged = new URL(link);
  const sig = forged.searchParams.get('sig')!;
  forged.searchParams.set('sig', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
  for (const u of [other, later, forged]) {
    const r = await fetch(u);
    assert.equal(r.status, 403, u.toString());
    assert.match(await r.text(), /this link is not valid: it was changed or was not made by us/);
  }
  const expired = `${base}${signLink(await mails.linkKey(), { guestId: g1!.id, slot, expires: new Date(Date.now() - 1000) })}`;
  const r = await fetch(expired, { headers: { accept: 'application/json' } });
  assert.equal(r.status, 403);
  assert.match(((await r.json()) as { error: string }).error, /^this link expired on /);
  assert.equal((await fetch(`${base}/g/${g1!.id}`)).status, 400);
  assert.equal((await fetch(`${base}/v1/guests/${g1!.id}${url.search}`)).status, 401, 'a signed link is no token for the API');

  // The same Notice again (a campaign tick run twice): one mail.
  assert.deepEqual(await notifier.send(notice()), { status: 'already-sent', messageId: (sent as { messageId: string }).messageId });
  assert.equal(smtp.received.length, 1);

  // The relay answers 451 once: the second try delivers; both tries are recorded.
  smtp.answers.push(451);
  const reminder = await notifier.send(notice({ kind: 'reminder' }));
  assert.equal(reminder.status, 'sent');
  assert.equal(smtp.received.length, 2);
  assert.equal(smtp.received[1]!.subject, 'Reminder: maintenance of your server "web1"<script>alert(1)</script>\\r\\nBcc: evil@example.net" tomorrow');
  let row = (await mails.mails({ limit: 10 })).find((x) => x.kind === 'reminder')!;
  assert.equal(row.status, 'sent');
  assert.equal(row.tries, 2);

  // 451 on every try: failed after three, and the next round delivers it with the same Message-ID.
  smtp.answers.push(451, 451, 451);
  const result = notice({ kind: 'result', outcome: { kind: 'rolled-back', to: 'pvh', reason: "the server's kernel has no PVH support" } });
  const failed = await notifier.send(result);
  assert.equal(failed.status, 'failed');
  assert.match((failed as { error: string }).error, /^451 greylisted, try again later/);
  row = (await mails.mails({ limit: 10 })).find((x) => x.kind === 'result')!;
  assert.deepEqual([row.status, row.tries], ['failed', 3]);
  const again = await notifier.send(result);
  assert.deepEqual(again, { status: 'sent', messageId: row.message_id });
  assert.equal(smtp.received.at(-1)!.messageId, row.message_id);
  assert.match(smtp.received.at(-1)!.text!, /The switch to PVH mode did not work: the server's kernel has no PVH support\. Your server was put back as it was/);
  row = (await mails.mails({ limit: 10 })).find((x) => x.kind === 'result')!;
  assert.deepEqual([row.status, row.tries], ['sent', 4]);

  // 550 is final: one try, failed, nothing delivered.
  await mails.setContact('bob', (parseAddress('bob@example.org') as { address: MailAddress }).address);
  smtp.answers.push(550);
  const before = smtp.rcpts.length;
  const rejected = await notifier.send(notice({ guestId: g2!.id, guestName: g2!.name, owner: 'bob' }));
  assert.equal(rejected.status, 'failed');
  assert.equal(smtp.rcpts.length, before + 1);
  row = (await mails.mails({ guestId: g2!.id, limit: 10 }))[0]!;
  assert.deepEqual([row.status, row.tries, row.owner, row.address, row.campaign_id], ['failed', 1, 'bob', 'bob@example.org', 1]);
});
