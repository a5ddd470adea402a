/**
 * Rehearsals on the simulated host: the guest keeps running untouched (same domid, same config
 * bytes, its LV never snapshotted twice or removed), the throwaway domain boots the snapshots as
 * PVH with no network and is verified as the switch verifies, and nothing is left afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFleet, type Fleet } from './fleet.ts';
import { guestRehearsals, startRehearsal } from './rehearse.ts';
import { customerMessage, rehearsalConfigPath, rehearsalName } from './rehearse-plan.ts';
import { rehearsals } from '../store/rehearsals.ts';
import type { Guest } from '../store/schema.ts';
import type { SimHost } from '../drivers/sim/world.ts';
import type { SimSpec } from '../drivers/sim/fleet.ts';
import { simOf } from '../drivers/sim/driver.ts';
import { SILENT_PVH_CONSOLE } from './verify.ts';
import { STORES, type TestStore } from '../../test/support/stores.ts';

async function setup(store: TestStore, spec: Partial<SimSpec> = {}, maxParallel = 4): Promise<{ fleet: Fleet; sim: SimHost; guests: Guest[] }> {
  const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200 });
  const host = await fleet.store.addHost({
    name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 10, seed: 9, pvOnly: 0.3, bootMs: 3, shutdownMs: 3, ...spec }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: maxParallel,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  return { fleet, sim: simOf(fleet.hosts.driverFor(host))!, guests: await fleet.store.listGuests() };
}

async function rehearse(fleet: Fleet, g: Guest, options = {}) {
  const r = await startRehearsal(fleet.ctx, g, { actor: 'op', options });
  assert.equal(r.kind, 'started', r.kind === 'refused' ? r.reason : '');
  return r.kind === 'started' ? r.finished : assert.fail();
}

/** What a guest is on the host: its domain (domid, type) and its config bytes. */
const snapshotOf = (sim: SimHost, g: Guest) => ({ domid: sim.state.domains[g.name]?.domid, type: sim.state.domains[g.name]?.type, config: sim.state.files[g.config_path] });

/** Nothing a rehearsal makes is left: no rehearsal domain, snapshot LV, copy or config file. */
function assertNothingLeft(sim: SimHost) {
  assert.deepEqual(Object.keys(sim.state.domains).filter((n) => n.startsWith('pvhctl-rehearse-')), []);
  assert.deepEqual(Object.keys(sim.state.volumes ?? {}).filter((p) => p.includes('pvhctl-rehearse-')), []);
  assert.deepEqual(Object.keys(sim.state.files).filter((p) => p.includes('pvhctl-rehearse-')), []);
  assert.equal(sim.state.vgs!.vg0!.freeExtents, 25_600, 'every CoW extent is back in the volume group');
}

for (const store of STORES) {
  test(`a PVH-capable guest is test-booted as PVH on LVM snapshots while it keeps running, untouched; nothing is left (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store);
    const g = guests.find((x) => sim.state.guests[x.name]!.kernel.pvh)!;
    const before = snapshotOf(sim, g);
    // Watch the host while the rehearsal runs: the rehearsal domain as the sim sees it.
    let seen: { type: string; vif: number; disks: string[] } | null = null;
    fleet.ctx.afterJournal = (_id, _seq, step, phase) => {
      const d = sim.state.domains[rehearsalName(g.name)];
      if (step === 'verify' && phase === 'begin' && d) seen = { type: d.type, vif: d.vif, disks: d.disks ?? [] };
    };
    const r = await rehearse(fleet, g);
    assert.equal(r.status, 'passed', `${r.reason} ${r.detail}`);
    assert.deepEqual(seen, { type: 'pvh', vif: 0, disks: [`/dev/vg0/${rehearsalName(g.name)}-xvda`] });
    assert.deepEqual(snapshotOf(sim, g), before, 'the guest kept its domain and config');
    assert.equal(r.kernel, '6.1.0-26-amd64');
    assert.match(r.console_tail!, /booting as pvh/);
    const steps = (await rehearsals(fleet.store).journalOf(r.id)).map((e) => `${e.step}:${e.phase}`);
    assert.deepEqual(steps, [
      'plan:begin', 'plan:done', 'snapshot:begin', 'snapshot:done', 'write-config:begin', 'write-config:done', 'create:begin', 'create:done',
      'verify:begin', 'verify:done', 'destroy:begin', 'destroy:done', 'remove-snapshots:begin', 'remove-snapshots:done',
    ]);
    assert.match(customerMessage(r), /^Your server was test-booted in PVH mode on a copy of its disk on \d{4}-\d\d-\d\d: it came up\./);
    assertNothingLeft(sim);
    assert.equal((await fleet.store.getGuestById(g.id))!.current_type, 'pv', 'a rehearsal changes nothing about the guest');
    // Again: the same boot prints the same console text (as a stock guest's PVH GRUB menu and getty
    // do, byte for byte) after the last one's in xenconsoled's log; only this boot's text counts.
    const again = await rehearse(fleet, g);
    assert.equal(again.status, 'passed', `${again.reason} ${again.detail}`);
    assertNothingLeft(sim);
    await fleet.close();
  });

  test(`a guest whose kernel panics as PVH fails the rehearsal with the step, the reason and the console's last lines, while it keeps running (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store);
    const capable = guests.filter((x) => sim.state.guests[x.name]!.kernel.pvh);
    const [loud, quiet] = capable;
    sim.state.guests[loud!.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    sim.state.guests[quiet!.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1, silent: true });
    const before = [loud, quiet].map((g) => snapshotOf(sim, g!));
    const [a, b] = await Promise.all([rehearse(fleet, loud!), rehearse(fleet, quiet!)]);
    assert.equal(a!.status, 'failed');
    assert.equal(a!.step, 'verify');
    assert.match(a!.reason!, /kernel stopped with an error|crashed|stopped right after starting/);
    assert.match(a!.console_tail!, /Kernel panic - not syncing/);
    // A silent console (no console=hvc0 under PVH): the frontends decide, the reason says why it was silent.
    assert.equal(b!.status, 'failed');
    assert.match(b!.reason!, /did not finish starting.*console stayed silent.*console=hvc0/);
    assert.equal(b!.console_tail, '');
    assert.match(customerMessage(a!), /it did not come up \(.*\)\. Your server itself was not touched\./);
    assert.deepEqual([loud, quiet].map((g) => snapshotOf(sim, g!)), before);
    assertNothingLeft(sim);
    await fleet.close();
  });

  test(`a guest whose userland never reaches a login prompt fails the rehearsal at verify (rule userland), while it keeps running; nothing is left (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store);
    const g = guests.find((x) => sim.state.guests[x.name]!.kernel.pvh)!;
    sim.state.guests[g.name]!.faults.push({ kind: 'no-getty', onType: 'pvh', count: 1 });
    const before = snapshotOf(sim, g);
    const r = await rehearse(fleet, g);
    assert.equal(r.status, 'failed');
    assert.equal(r.step, 'verify');
    assert.equal(r.rule, 'userland');
    assert.match(r.reason!, /started in PVH mode, but its system did not reach a login prompt on its console within 0 s/);
    assert.match(r.detail!, /frontends connected.*no login prompt/);
    assert.deepEqual(snapshotOf(sim, g), before);
    assertNothingLeft(sim);
    // The next boot has its getty: the login prompt is what passes, and the journal says so.
    const ok = await rehearse(fleet, g);
    assert.equal(ok.status, 'passed', `${ok.reason} ${ok.detail}`);
    const verified = (await rehearsals(fleet.store).journalOf(ok.id)).find((e) => e.step === 'verify' && e.phase === 'done');
    assert.match(verified!.detail!, /login:$/);
    assert.ok(!r.reason!.includes(SILENT_PVH_CONSOLE), 'its kernel wrote to the console');
    // PVH GRUB connected the disk and printed its menu, then the kernel (no console=hvc0) said
    // nothing and its userland never came: the reason says why the console was silent.
    sim.state.guests[g.name]!.faults.push({ kind: 'no-getty', onType: 'pvh', count: 1 });
    const dom = rehearsalName(g.name);
    fleet.ctx.afterJournal = (_id, _seq, step, phase) => {
      if (step === 'create' && phase === 'done') sim.state.consoles[dom] = 'Welcome to GRUB!\r\n\r\nLoading Linux 6.1.0-26-amd64 ...\r\n';
    };
    const quiet = await rehearse(fleet, g);
    assert.deepEqual([quiet.status, quiet.rule], ['failed', 'userland']);
    assert.ok(quiet.reason!.includes(SILENT_PVH_CONSOLE), quiet.reason!);
    assertNothingLeft(sim);
    await fleet.close();
  });

  test(`a guest whose kernel has no PVH entry: the rehearsal is refused by the same pre-check as the switch; forced, Xen refuses the boot; nothing is made (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store);
    const g = guests.find((x) => !sim.state.guests[x.name]!.kernel.pvh)!;
    const before = snapshotOf(sim, g);
    const r = await rehearse(fleet, g);
    assert.equal(r.status, 'cannot-rehearse');
    assert.equal(r.rule, 'refused');
    assertNothingLeft(sim);
    // With force the verdict is overridden and Xen answers: xl create fails, the guest is untouched.
    const forced = await rehearse(fleet, g, { force: true });
    assert.equal(forced.status, 'failed', `${forced.reason} ${forced.detail}`);
    // A kernel from dom0: xl create refuses it (as on the lab's nopvh); PV GRUB's PVH twin says so on the console.
    assert.match(`${forced.step}: ${forced.detail}`, /^create: .*image not capable of booting inside a HVM container|^verify: .*not a PVH kernel/);
    assert.deepEqual(snapshotOf(sim, g), before);
    assertNothingLeft(sim);
    await fleet.close();
  });

  test(`cannot rehearse, with why, and nothing made: no dm snapshot target, a full volume group, a disk that is neither LV nor file, too little memory (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store, { pvOnly: 0 });
    const [a, b, c, d] = guests;
    sim.state.dmTargets = ['linear', 'striped'];
    let r = await rehearse(fleet, a!);
    assert.equal(r.rule, 'no-dm-snapshot');
    assert.match(r.reason!, /no device-mapper snapshot target.*dm_snapshot/);
    sim.state.dmTargets = ['snapshot', 'linear'];
    sim.state.vgs!.vg0!.freeExtents = 10;
    r = await rehearse(fleet, b!);
    assert.equal(r.status, 'cannot-rehearse');
    assert.equal(r.rule, 'vg-full');
    assert.match(r.reason!, /volume group vg0 has 10 free extents \(40 MiB\) and the snapshots need 256 \(1024 MiB\)/);
    sim.state.vgs!.vg0!.freeExtents = 25_600;
    delete sim.state.volumes![`/dev/vg0/${c!.name}`];
    r = await rehearse(fleet, c!);
    assert.equal(r.rule, 'not-snapshottable');
    assert.match(r.reason!, /not found on the host/);
    sim.state.totalMemoryMb = Object.keys(sim.state.domains).length * 1024 + 1500;
    r = await rehearse(fleet, d!);
    assert.equal(r.rule, 'memory');
    assert.match(r.reason!, /needs 1024 MiB; the host has 1500 MiB free, 1024 MiB of which stay in reserve/);
    for (const x of [a, b, c, d]) assert.equal(sim.state.domains[x!.name]!.state, 'running');
    assertNothingLeft(sim);
    assert.match(customerMessage(r), /^Your server could not be test-booted in PVH mode on .*: its host has not enough free memory for a test boot right now\. /);
    assert.match(r.reason!, /^the test boot needs/, 'operators keep the numbers');
    await fleet.close();
  });

  test(`image files: a reflink copy on a filesystem with reflinks; cannot rehearse without reflinks (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store, { pvOnly: 0 });
    const [a, b] = guests;
    for (const [g, reflink] of [[a!, true], [b!, false]] as const) {
      const img = `/srv/xen/${g.name}.img`;
      const cfg = Buffer.from(sim.state.files[g.config_path]!, 'base64').toString('latin1').replace(`phy:/dev/vg0/${g.name}`, `file:${img}`);
      sim.state.files[g.config_path] = Buffer.from(cfg, 'latin1').toString('base64');
      sim.state.volumes![img] = { kind: 'file', sizeBytes: 2 * 1024 ** 3, reflink, copyOf: null };
      sim.state.domains[g.name]!.disks = [img];
    }
    const ra = await rehearse(fleet, a!);
    assert.equal(ra.status, 'passed', `${ra.reason} ${ra.detail}`);
    const rb = await rehearse(fleet, b!);
    assert.equal(rb.status, 'cannot-rehearse');
    assert.equal(rb.rule, 'no-reflink');
    assert.match(rb.reason!, /cannot make reflink copies/);
    assertNothingLeft(sim);
    await fleet.close();
  });

  test(`concurrent rehearsals are limited by free memory and by the per-host limit; a second rehearsal of the same guest is refused (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store, { pvOnly: 0 }, 2);
    const [a, b, c] = guests;
    // Room for one test boot (1024 MiB) beside the 1024 MiB reserve, not two.
    sim.state.totalMemoryMb = Object.keys(sim.state.domains).length * 1024 + 2500;
    // a's test boot waits, booted, until b has planned: else a store slower than b's start (as
    // PostgreSQL under load is) lets a finish and give its memory back first, and both pass.
    let planned!: () => void;
    const bPlanned = new Promise<void>((resolve) => (planned = resolve));
    const holdA = { ...fleet.ctx, afterJournal: (_id: number, _seq: number, step: string, phase: string) => (step === 'create' && phase === 'done' ? bPlanned : undefined) };
    const ra = await startRehearsal(holdA, a!, { actor: 'op' });
    const again = await startRehearsal(fleet.ctx, a!, { actor: 'op' });
    assert.equal(again.kind, 'refused');
    const rb = await startRehearsal(fleet.ctx, b!, { actor: 'op', onStep: (e) => e.step === 'plan' && e.phase !== 'begin' && planned() });
    assert.ok(ra.kind === 'started' && rb.kind === 'started');
    const [oa, ob] = await Promise.all([ra.finished, rb.finished]);
    assert.deepEqual([oa.status, ob.status].sort(), ['cannot-rehearse', 'passed']);
    assert.equal([oa, ob].find((o) => o.status === 'cannot-rehearse')!.rule, 'memory');
    // Held for the other test boot when its domain was not yet made at this one's free_memory
    // reading, else counted by xl itself (never both: rehearse-limits.test.ts has the held case).
    assert.match([oa, ob].find((o) => o.status === 'cannot-rehearse')!.reason!, /^the test boot needs 1024 MiB; the host has (2500 MiB free, 1024 MiB of which stay in reserve, 1024 MiB held for other test boots|1476 MiB free, 1024 MiB of which stay in reserve)$/);
    // Per-host limit 1: the same two run one after the other, and both pass.
    sim.state.totalMemoryMb = Object.keys(sim.state.domains).length * 1024 + 2500;
    await fleet.store.updateHost((await fleet.store.getHost('sim1'))!.id, { max_parallel: 1 });
    const [o1, o2] = await Promise.all([rehearse(fleet, b!), rehearse(fleet, c!)]);
    assert.deepEqual([o1!.status, o2!.status], ['passed', 'passed']);
    assertNothingLeft(sim);
    await fleet.close();
  });

  test(`the rehearsal domain name cannot be a guest: a guest named with the prefix is refused; a domain already named so is refused (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store, { pvOnly: 0 });
    const g = guests[0]!;
    sim.state.domains[rehearsalName(g.name)] = { ...sim.state.domains[guests[1]!.name]!, name: rehearsalName(g.name), domid: 999, disks: [] };
    const r = await rehearse(fleet, g);
    assert.equal(r.rule, 'name-taken');
    assert.equal(sim.state.domains[rehearsalName(g.name)]!.domid, 999, 'a domain pvhctl did not make is left alone');
    delete sim.state.domains[rehearsalName(g.name)];
    // A guest of the host that carries the name while it is shut down: the throwaway domain would
    // take its name, and destroying it (or recovering after a crash) could destroy that guest.
    const [, named, prefixed] = guests;
    await fleet.store.updateGuest(named!.id, { name: rehearsalName(g.name) });
    const stopped = await rehearse(fleet, g);
    assert.deepEqual([stopped.status, stopped.rule], ['cannot-rehearse', 'name-taken'], `${stopped.reason}`);
    assert.match(stopped.reason!, /a guest of this host is named pvhctl-rehearse-/);
    await fleet.store.updateGuest(prefixed!.id, { name: 'pvhctl-rehearse-other' });
    const own = await rehearse(fleet, (await fleet.store.getGuestById(prefixed!.id))!);
    assert.deepEqual([own.status, own.rule], ['cannot-rehearse', 'name-taken'], `${own.reason}`);
    assertNothingLeft(sim);
    assert.equal(rehearsalConfigPath('/etc/xen/', 'web'), '/etc/xen/.pvhctl-rehearse-web.cfg');
    assert.equal(rehearsalName('x'.repeat(64)).length, 64);
    assert.notEqual(rehearsalName(`${'x'.repeat(60)}a`), rehearsalName(`${'x'.repeat(60)}b`));
    await fleet.close();
  });

  test(`a guest's rehearsals as shown: the newest per kernel and target, so that a shim test boot does not hide a failed PVH one (${store.kind})`, async () => {
    const { fleet, guests } = await setup(store, { pvOnly: 0 });
    const g = guests[0]!;
    const R = rehearsals(fleet.store);
    const record = async (kernel: string, to: string, status: 'passed' | 'failed') => {
      const r = await R.create({ guest_id: g.id, kernel, to_type: to, owner: 'test', requested_by: 'op' });
      await R.update(r.id, { status, step: 'verify', rule: status === 'failed' ? 'verify' : null });
    };
    await record('6.1.0-25-amd64', 'pvh', 'failed');
    await record('6.1.0-26-amd64', 'pvh', 'failed');
    await record('6.1.0-26-amd64', 'pvh-shim', 'failed');
    await record('6.1.0-26-amd64', 'pvh-shim', 'passed');
    const shown = (await guestRehearsals(fleet.ctx, g.id)).map((v) => `${v.kernel} ${v.to} ${v.status}`);
    assert.deepEqual(shown, ['6.1.0-26-amd64 pvh-shim passed', '6.1.0-26-amd64 pvh failed', '6.1.0-25-amd64 pvh failed']);
    await fleet.close();
  });

  test(`the fleet's rehearsal settings (pvhctl.conf's rehearse section) size the CoW areas of every test boot; a request's own options win (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store, { pvOnly: 0 });
    const [g, h] = guests;
    fleet.ctx.rehearsal = { cowFraction: 0.5 };
    const cowOf = async (id: number) => {
      const begin = (await rehearsals(fleet.store).journalOf(id)).find((e) => e.step === 'snapshot' && e.phase === 'begin');
      const snap = JSON.parse(begin!.detail!) as { cowBytes: number; origin: string };
      return snap.cowBytes / sim.state.volumes![snap.origin]!.sizeBytes;
    };
    const a = await rehearse(fleet, g!);
    assert.equal(a.status, 'passed', `${a.reason}`);
    assert.equal(await cowOf(a.id), 0.5);
    const b = await rehearse(fleet, h!, { cowFraction: 0.2 });
    assert.equal(await cowOf(b.id), 0.2);
    assertNothingLeft(sim);
    await fleet.close();
  });

  test(`a test boot that fills its snapshot: the snapshot is dropped, the rehearsal fails saying so, the guest and its LV are unaffected (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store, { pvOnly: 0 });
    const g = guests[0]!;
    sim.state.guests[g.name]!.faults.push({ kind: 'snapshot-full', count: 1 });
    const before = snapshotOf(sim, g);
    const lv = { ...sim.state.volumes![`/dev/vg0/${g.name}`] };
    const r = await rehearse(fleet, g);
    assert.equal(r.status, 'failed');
    assert.equal(r.rule, 'snapshot-full');
    assert.match(r.reason!, /wrote more than the 1024 MiB its copy of the disk could hold, so the copy was dropped; the server's own disk was not affected/);
    assert.deepEqual(snapshotOf(sim, g), before);
    assert.deepEqual(sim.state.volumes![`/dev/vg0/${g.name}`], lv);
    assertNothingLeft(sim);
    await fleet.close();
  });
}
