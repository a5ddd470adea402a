/**
 * The SMTP notifier against a real SMTP server on loopback (test/support/smtp-relay.ts): it never
 * falls back to plain SMTP when STARTTLS is required, and a kill -9 between the relay taking a
 * mail and its record sends it once more with the same Message-ID, never twice at once. The whole
 * path with the signed link and the web page: src/web/campaign-mail.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { openFleet } from '../fleet/fleet.ts';
import { openStore } from '../store/store.ts';
import { relay } from '../../test/support/smtp-relay.ts';
import { parseAddress, type MailAddress } from './address.ts';
import type { MailTables } from './mail-schema.ts';
import { mailStore } from './mail-store.ts';
import { smtpNotifier, STALE_SENDING_MS, type SmtpConfig } from './smtp.ts';
import { CRASH_NOTICE } from './testdata/crash-notice.ts';
import { STORES } from '../../test/support/stores.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('security starttls never falls back to plain SMTP: a relay without STARTTLS gets no mail', async (t) => {
  const smtp = await relay();
  const fleet = await openFleet({ dataDir: ':memory:', simInMemory: true });
  t.after(async () => {
    await smtp.close();
    await fleet.close();
  });
  await mailStore(fleet.store).setContact('alice', (parseAddress('alice@example.com') as { address: MailAddress }).address);
  const notifier = smtpNotifier(fleet.store, {
    host: '127.0.0.1', port: smtp.port, security: 'starttls', from: (parseAddress('pvhctl@example.com') as { address: MailAddress }).address,
    auth: null, ca: null, linkBase: 'https://pvh.example.com', linkLifetimeMs: 3_600_000, tries: 1, backoffMs: 10,
  });
  const slot = { start: new Date('2026-12-08T01:00:00Z'), end: new Date('2026-12-08T04:00:00Z'), timeZone: 'Europe/Berlin' };
  const r = await notifier.send({ kind: 'notice', campaignId: 1, campaignName: 'c', guestId: 1, guestName: 'web1', owner: 'alice', host: 'xen1', slot, path: { path: 'pvh-now' }, distro: null });
  assert.equal(r.status, 'failed');
  assert.match((r as { error: string }).error, /STARTTLS/i);
  assert.deepEqual(smtp.rcpts, []);
});

for (const testStore of STORES) {
  test(`kill -9 between the relay taking the mail and its record: not sent twice at once, then once more with the same Message-ID (${testStore.kind})`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pvhctl-notify-crash-'));
    dirs.push(dir);
    // SQLite: the file in the data directory; PostgreSQL: a fresh database. The child opens the same.
    const location = testStore.kind === 'sqlite' ? dir : await testStore.location();
    const store = await openStore(location);
    await mailStore(store).setContact('alice', (parseAddress('alice@example.com') as { address: MailAddress }).address);
    // The relay holds the child's DATA until the test has killed the child, then accepts it.
    let release: () => void = () => {};
    const held = new Promise<void>((res) => (release = res));
    let gotData: () => void = () => {};
    const dataSeen = new Promise<void>((res) => (gotData = res));
    const received: ParsedMail[] = [];
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      onData(stream, _session, cb) {
        simpleParser(stream).then(async (m) => {
          received.push(m);
          gotData();
          if (received.length === 1) await held;
          cb();
        }, cb);
      },
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
    t.after(async () => {
      await new Promise<void>((res) => server.close(() => res()));
      await store.close();
    });
    const port = (server.server.address() as AddressInfo).port;
    const child = spawn(process.execPath, [join(import.meta.dirname, 'testdata', 'send-once.ts'), location, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await dataSeen;
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    release();
    const mails = mailStore(store);
    let [row] = await mails.mails({ limit: 10 });
    assert.equal(row!.status, 'sending', 'the crash left the journal entry');
    assert.equal(received[0]!.messageId, row!.message_id);
    const cfg: SmtpConfig = {
      host: '127.0.0.1', port, security: 'none', from: (parseAddress('pvhctl@example.com') as { address: MailAddress }).address,
      auth: null, ca: null, linkBase: 'https://pvh.example.com', linkLifetimeMs: 3_600_000, tries: 1, backoffMs: 10,
    };
    const notifier = smtpNotifier(store, cfg);
    // Right after the crash the row may be another process mid-send: nothing goes out.
    const busy = await notifier.send(CRASH_NOTICE);
    assert.equal(busy.status, 'failed');
    assert.match((busy as { error: string }).error, /another process is sending this mail/);
    assert.equal(received.length, 1);
    // Once it is older than the stale time (moved back, not waited for), it is sent again, same Message-ID.
    await store.db.withTables<MailTables>().updateTable('mails').set({ updated_at: new Date(Date.now() - STALE_SENDING_MS - 1000).toISOString() }).execute();
    assert.deepEqual(await notifier.send(CRASH_NOTICE), { status: 'sent', messageId: row!.message_id });
    assert.equal(received.length, 2);
    assert.equal(received[1]!.messageId, row!.message_id);
    [row] = await mails.mails({ limit: 10 });
    assert.deepEqual([row!.status, row!.tries], ['sent', 2]);
    assert.deepEqual(await notifier.send(CRASH_NOTICE), { status: 'already-sent', messageId: row!.message_id });
  });
}
