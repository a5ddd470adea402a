/**
 * A campaign tells the customers of guests it holds for them (a reboot into an installed PVH
 * kernel, a kernel to install) what to do, with their distribution's steps, and takes a guest in
 * at the slot it named once a scan shows its customer acted: the distribution comes
 * from the guest's stored inspection (its os-release ID), the mail is composed by the real
 * composer and sent by the SMTP notifier to a real SMTP relay on loopback, and read back from it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCampaign, showCampaign, startCampaign, tickCampaign } from '../fleet/campaign.ts';
import type { Clock } from '../fleet/campaign-rules.ts';
import { openFleet } from '../fleet/fleet.ts';
import type { GuestVerdict } from '../fleet/seams.ts';
import { encodeVerdict } from '../fleet/stored-verdict.ts';
import { relay } from '../../test/support/smtp-relay.ts';
import { parseAddress, type MailAddress } from './address.ts';
import { mailStore } from './mail-store.ts';
import { smtpNotifier } from './smtp.ts';
import { STORES, type TestStore } from '../../test/support/stores.ts';

const pvKernel = { pv: { capable: true, abi: 'xen-3.0-x86_64', reason: 'has a PV entry point' }, arch: 'x86_64', source: 'disk' } as const;

/** A fleet in a temporary directory (its store there or on PostgreSQL) and a real SMTP relay, both closed after the test. */
async function fleetWithRelay(t: TestContext, store: TestStore) {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-steps-'));
  const fleet = await openFleet({ dataDir: dir, store: store.kind === 'sqlite' ? undefined : await store.location(), simInMemory: true });
  const smtp = await relay();
  t.after(async () => {
    await smtp.close();
    await fleet.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const addHost = (name: string, guests: number) => fleet.store.addHost({
    name, transport: 'sim', endpoint: JSON.stringify({ guests, seed: 7 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  const notifier = smtpNotifier(fleet.store, {
    host: '127.0.0.1', port: smtp.port, security: 'none', from: (parseAddress('pvhctl@example.com') as { address: MailAddress }).address,
    auth: null, ca: null, linkBase: 'https://pvh.example.test/', linkLifetimeMs: 3_600_000, tries: 2, backoffMs: 10,
  });
  /** The mails the relay received for `who`@customers.example. */
  const to = (who: string) => smtp.received.filter((m) => m.to && !Array.isArray(m.to) && m.to.value.some((a) => a.address === `${who}@customers.example`));
  const contact = (who: string) => mailStore(fleet.store).setContact(who, (parseAddress(`${who}@customers.example`) as { address: MailAddress }).address);
  return { fleet, addHost, notifier, to, contact };
}

for (const store of STORES) {
  test(`held guests get their distribution's steps by mail, from the stored inspection: Rocky gets dnf and grubby, Debian gets GRUB_DEFAULT and update-grub; once (${store.kind})`, async (t) => {
    const { fleet, addHost, notifier, to, contact } = await fleetWithRelay(t, store);
    const host = await addHost('xen1', 4);
    assert.deepEqual((await fleet.scan(host)).errors, []);
    const [rocky, deb] = await fleet.store.listGuests();
    // What a disk inspection stored for each (src/fleet/inspect.ts verdictOfDisk): the verdict and the os-release ID.
    const needsKernel: GuestVerdict = {
      ...pvKernel, pvh: { capable: false, reason: 'no PHYS32_ENTRY' }, kernelVersion: '4.18.0-513.el8.x86_64',
      inspection: { verdict: 'needs-kernel', install: 'kernel from Rocky 8.9 or later (dnf install kernel)', reasons: ['no installed kernel has the PVH entry point'] },
      os: { id: 'rocky', idLike: ['rhel', 'centos', 'fedora'] },
    };
    const afterReboot: GuestVerdict = {
      ...pvKernel, pvh: { capable: false, reason: 'the default entry boots 4.19' }, kernelVersion: '4.19.0-26-amd64',
      inspection: { verdict: 'ready-after-reboot', kernel: '/boot/vmlinuz-6.1.0-28-amd64', entry: 'Debian GNU/Linux, with Linux 6.1.0-28-amd64', reasons: ['an installed kernel has the PVH entry point'] },
      os: { id: 'debian', idLike: [] },
    };
    await fleet.store.updateGuest(rocky!.id, { owner: 'rita', verdict: encodeVerdict(needsKernel) });
    await fleet.store.updateGuest(deb!.id, { owner: 'dan', verdict: encodeVerdict(afterReboot) });
    for (const who of ['rita', 'dan']) await contact(who);

    let now = new Date('2026-12-06T12:00:00Z');
    const clock: Clock = { now: () => now };
    await createCampaign(fleet.store, { name: 'winter', scope: { hosts: [], guests: [], owners: [] }, windows: { xen1: 'Tue-Thu 02:00-05:00 Europe/Berlin' }, settings: { canary: 1, noticeDays: 7 }, actor: 'op' });
    await startCampaign(fleet.store, 'winter', 'op', clock);
    const first = await tickCampaign(fleet.ctx, 'winter', { clock, notifier });
    assert.equal(first.kind, 'ran');
    assert.equal(to('rita').length, 1);
    assert.equal(to('dan').length, 1);
    const rita = to('rita')[0]!.text!;
    // Before the first slot the host's window gives from the notice period on: Tuesday 15 December, 02:00 Berlin.
    assert.match(rita, /Tuesday 15 December 2026 between 02:00 and 05:00 \(Europe\/Berlin time\)/);
    assert.match(rita, /install kernel from Rocky 8\.9 or later \(dnf install kernel\) and restart the server once/);
    assert.match(rita, /On RHEL, CentOS, Rocky, AlmaLinux or Fedora: install it with dnf/);
    assert.doesNotMatch(rita, /apt-get/);
    const dan = to('dan')[0]!.text!;
    assert.match(dan, /On Debian or Ubuntu: set GRUB_DEFAULT="Debian GNU\/Linux, with Linux 6\.1\.0-28-amd64" in \/etc\/default\/grub/);
    // Told once: the next ticks send them nothing again.
    now = new Date('2026-12-07T12:00:00Z');
    await tickCampaign(fleet.ctx, 'winter', { clock, notifier });
    assert.equal(to('rita').length + to('dan').length, 2);

    // Rita installs the kernel; the next scan finds it boots PVH: at the next tick her guest joins
    // the campaign at the slot her mail named, notified already, and is switched in it.
    const pvhNow: GuestVerdict = { ...needsKernel, pvh: { capable: true, reason: 'has the PVH entry point' }, inspection: { verdict: 'ready', kernel: '/boot/vmlinuz-4.18.0-553.el8.x86_64', reasons: ['its default kernel has the PVH entry point'] } };
    await fleet.store.updateGuest(rocky!.id, { verdict: encodeVerdict(pvhNow) });
    now = new Date('2026-12-08T12:00:00Z');
    await tickCampaign(fleet.ctx, 'winter', { clock, notifier });
    const row = (await showCampaign(fleet.store, 'winter')).guests.find((g) => g.guest_id === rocky!.id)!;
    assert.deepEqual([row.status, row.to_type, row.slot_start, row.notice_for], ['planned', 'pvh', '2026-12-15T01:00:00.000Z', '2026-12-15T01:00:00.000Z']);
    assert.equal(JSON.parse(row.path).path, 'pvh-now');
    // Dan has not acted: still held.
    assert.equal((await showCampaign(fleet.store, 'winter')).guests.find((g) => g.guest_id === deb!.id)!.status, 'held');
    // Its reminder the day before, not a second notice.
    now = new Date('2026-12-14T02:00:00Z');
    await tickCampaign(fleet.ctx, 'winter', { clock, notifier });
    assert.deepEqual(to('rita').map((m) => m.subject), ['Planned maintenance of your server "' + rocky!.name + '"', 'Reminder: maintenance of your server "' + rocky!.name + '" tomorrow']);
  });

  test(`a guest held for its customer on a host with no window in the campaign gets its steps at the first tick, says no slot is planned, once, and is never scheduled there (${store.kind})`, async (t) => {
    const { fleet, addHost, notifier, to, contact } = await fleetWithRelay(t, store);
    for (const h of [await addHost('xen1', 2), await addHost('xen2', 1)]) assert.deepEqual((await fleet.scan(h)).errors, []);
    const xen2 = (await fleet.store.listHosts()).find((h) => h.name === 'xen2')!;
    const held = (await fleet.store.listGuests()).find((g) => g.host_id === xen2.id)!;
    const needsKernel: GuestVerdict = {
      ...pvKernel, pvh: { capable: false, reason: 'no PHYS32_ENTRY' }, kernelVersion: '4.19.0-26-amd64',
      inspection: { verdict: 'needs-kernel', install: 'linux-image-amd64 from Debian 12 (apt-get install linux-image-amd64)', reasons: ['no installed kernel has the PVH entry point'] },
      os: { id: 'debian', idLike: [] },
    };
    await fleet.store.updateGuest(held.id, { owner: 'hank', verdict: encodeVerdict(needsKernel) });
    await contact('hank');
    let now = new Date('2026-12-06T12:00:00Z');
    const clock: Clock = { now: () => now };
    // Only xen1 has a window: xen2's one guest is held, so the campaign needs none there.
    await createCampaign(fleet.store, { name: 'winter', scope: { hosts: [], guests: [], owners: [] }, windows: { xen1: 'Tue-Thu 02:00-05:00 Europe/Berlin' }, settings: { canary: 1, noticeDays: 7 }, actor: 'op' });
    await startCampaign(fleet.store, 'winter', 'op', clock);
    const first = await tickCampaign(fleet.ctx, 'winter', { clock, notifier });
    assert.ok(first.kind === 'ran' && first.mailed.some((m) => m.guest === held.name && m.kind === 'notice' && m.status === 'sent'), JSON.stringify(first));
    const hank = () => to('hank');
    assert.equal(hank().length, 1);
    const text = hank()[0]!.text!;
    assert.match(text, /has no maintenance slot yet: its host's maintenance comes later/);
    assert.match(text, /On Debian or Ubuntu: run apt-get update, then the apt-get install command above/);
    assert.doesNotMatch(text, /Before .* please do this/);
    // The link in it opens the guest's page with no slot: it names none.
    const link = /https:\/\/pvh\.example\.test(\/g\/[0-9]+\?[^\s]+)/.exec(text)![1]!;
    assert.doesNotMatch(link, /[?&](from|to|tz)=/);
    // Once; and the customer acting does not schedule it in this campaign: its host has no window.
    await fleet.store.updateGuest(held.id, { verdict: encodeVerdict({ ...needsKernel, pvh: { capable: true, reason: 'has the PVH entry point' }, inspection: { verdict: 'ready', kernel: '/boot/vmlinuz-6.1.0-28-amd64', reasons: ['its default kernel has the PVH entry point'] } }) });
    for (const at of ['2026-12-07T12:00:00Z', '2026-12-15T01:30:00Z']) {
      now = new Date(at);
      await tickCampaign(fleet.ctx, 'winter', { clock, notifier });
    }
    assert.equal(hank().length, 1);
    const row = (await showCampaign(fleet.store, 'winter')).guests.find((g) => g.guest_id === held.id)!;
    assert.deepEqual([row.status, row.slot_start, row.wave], ['held', null, null]);
  });
}
