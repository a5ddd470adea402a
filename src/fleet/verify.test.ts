/**
 * Verification never depends on console text: a PVH guest that panics with a silent console (no
 * console=hvc0) still fails verification, because its frontends never connect, and the reason says
 * the console was silent and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFleet } from './fleet.ts';
import { startSwitch } from './switch.ts';
import { consoleCause, kernelSilent, PANIC, verifyBoot, SILENT_PVH_CONSOLE } from './verify.ts';
import { domainName, hostPath } from '../drivers/driver.ts';
import { simOf } from '../drivers/sim/driver.ts';
import { STORES, type TestStore } from '../../test/support/stores.ts';

async function setup(store: TestStore) {
  const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200 });
  const host = await fleet.store.addHost({
    name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 12, seed: 5, pvOnly: 0, bootMs: 3, shutdownMs: 3 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 4,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  const sim = simOf(fleet.hosts.driverFor(host))!;
  return { fleet, sim, host, guests: await fleet.store.listGuests() };
}

test("a dead boot's console gives its cause in one clean line, not the raw tail", () => {
  // The PV shim's own panic, as xenconsoled logs it (CR LF, a blank (XEN) line, then the countdown).
  const shim = [
    '(XEN) [    0.912345] Dom0 has maximum 1 VCPUs',
    '(XEN) [    0.923456] ',
    '(XEN) [    0.934567] ****************************************',
    '(XEN) [    0.934567] Panic on CPU 0:',
    '(XEN) [    0.934567] Could not set up DOM0 guest OS',
    '(XEN) [    0.934567] ****************************************',
    '(XEN) [    0.934567] ',
    '(XEN) [    0.934567] Crash in five seconds...',
  ].join('\r\n');
  assert.equal(consoleCause(shim), 'Xen panic: Could not set up DOM0 guest OS');
  // the tail the issue quoted: what was shown before
  assert.doesNotMatch(consoleCause('(XEN)  \r\n\r(XEN) Crash in five seconds...\r\n'), /\r|\(XEN\)/);
  assert.equal(consoleCause('[    1.2] Freeing unused kernel memory\n[    1.3] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n[    1.3] ---[ end Kernel panic ]---\n'), 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)');
  assert.equal(consoleCause('(XEN) d5v0 Triple fault - invoking HVM shutdown action\r\n(XEN) \r\n'), 'd5v0 Triple fault - invoking HVM shutdown action');
  assert.equal(consoleCause('xc_dom_guest_type: image not capable of booting inside a HVM container\n'), 'xc_dom_guest_type: image not capable of booting inside a HVM container');
  assert.equal(consoleCause('\x1b[1;31merror: not a PVH kernel.\x1b[0m\r\n'), 'error: not a PVH kernel.');
  assert.equal(consoleCause('booting\r\nsomething odd\r\n'), 'booting | something odd');
  assert.equal(consoleCause(''), 'nothing on the console');
  assert.ok(consoleCause(`Kernel panic - not syncing: ${'x'.repeat(5000)}`).length <= 300);
});

test("the guest's own report of its mode: Linux's pv_info line, the lab's marker, the latest one", async () => {
  const { guestReport } = await import('./verify.ts');
  assert.deepEqual(guestReport('[    0.000000] Booting paravirtualized kernel on Xen PVH\n'), { type: 'PVH', line: 'Booting paravirtualized kernel on Xen PVH' });
  assert.equal(guestReport('[    0.000000] Booting paravirtualized kernel on Xen\n')!.type, 'PV');
  assert.equal(guestReport('Booting paravirtualized kernel on Xen HVM\n')!.type, 'HVM');
  assert.equal(guestReport('Booting paravirtualized kernel on Xen\n...\nPVHCTL-LAB-MARKER name=g guest_type=PVH\n')!.type, 'PVH');
  assert.equal(guestReport('Booting paravirtualized kernel on bare hardware\n'), null);
  assert.equal(guestReport(''), null);
});

test("PV GRUB's probing lines are not a failed boot; a kernel panic and a refused image are", () => {
  // What Debian's grub-x86_64-xen.bin prints on every good boot in the lab (guest-consoles.log).
  const good = 'error: no such device: /boot/xen/pvboot-x86_64.elf.\nerror: no such device: /xen/pvboot-x86_64.elf.\nerror: no such device: /grub/grub.cfg.\n';
  assert.equal(PANIC.test(good), false);
  assert.equal(PANIC.test('[    1.3] Kernel panic - not syncing: VFS: Unable to mount root fs\n'), true);
  assert.equal(PANIC.test('error: not a PVH kernel.\n'), true);
});

test('the next look at a boot: a quarter of its time so far, at least 50 ms, at most pollMs', async () => {
  const { nextPollMs } = await import('./verify.ts');
  assert.equal(nextPollMs(0, 1000), 50);
  assert.equal(nextPollMs(400, 1000), 100);
  assert.equal(nextPollMs(2000, 1000), 500);
  assert.equal(nextPollMs(60_000, 1000), 1000);
  assert.equal(nextPollMs(60_000, 2), 2, 'a shorter pollMs is kept');
  // A 2 s boot looked at from 0 is seen at most a quarter of its time late, not up to pollMs.
  let t = 0;
  while (t < 2000) t += nextPollMs(t, 1000);
  assert.ok(t - 2000 <= 500, `seen at ${t} ms`);
});

for (const store of STORES) {
  test(`a PVH guest that panics with a silent console fails verification and is rolled back; the reason names the silent console and console=hvc0 (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store);
    const [quiet, loud] = guests;
    sim.state.guests[quiet!.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1, silent: true });
    sim.state.guests[loud!.name]!.faults.push({ kind: 'hang', onType: 'pvh', count: 1 });
    const ops = await Promise.all([quiet, loud].map(async (g) => {
      const r = await startSwitch(fleet.ctx, g!, 'pvh', { force: false, actor: 'op' });
      assert.equal(r.kind, 'started');
      return r.kind === 'started' ? r.finished : assert.fail();
    }));
    assert.equal(ops[0]!.status, 'rolled-back');
    assert.match(ops[0]!.reason!, /did not finish starting/);
    assert.ok(ops[0]!.reason!.includes(SILENT_PVH_CONSOLE), ops[0]!.reason!);
    assert.match(ops[0]!.detail!, /no kernel message on the console since the boot/);
    // A hang whose kernel did write to the console: the same failure, without the console note.
    assert.equal(ops[1]!.status, 'rolled-back');
    assert.ok(!ops[1]!.reason!.includes('console stayed silent'), ops[1]!.reason!);
    for (const g of [quiet, loud]) assert.equal(sim.state.domains[g!.name]!.type, 'pv');
    await fleet.close();
  });

  test(`a PVH GRUB guest whose kernel panics silently: only the boot loader wrote to its console, and the reason still says the kernel was silent and why (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup(store);
    const g = guests[1]!;
    sim.state.guests[g.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1, silent: true });
    // What PVH GRUB prints on hvc0 before it hands over to a kernel without console=hvc0.
    fleet.ctx.afterJournal = (_id, _seq, step, phase) => {
      if (step === 'create' && phase === 'done') sim.state.consoles[g.name] += "Welcome to GRUB!\r\n\r\n  Booting `Debian GNU/Linux'\r\n\r\nLoading Linux 6.1.0-26-amd64 ...\r\nLoading initial ramdisk ...\r\n";
    };
    const r = await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' });
    const op = r.kind === 'started' ? await r.finished : assert.fail();
    assert.equal(op.status, 'rolled-back');
    assert.ok(op.reason!.includes(SILENT_PVH_CONSOLE), op.reason!);
    assert.ok(kernelSilent('Welcome to GRUB!\r\nLoading Linux 6.1.0-26-amd64 ...\r\n'));
    for (const loud of ['[    0.000000] Linux version 6.1.0-26-amd64', '  [    2.345678] EXT4-fs (xvda1): mounted', 'Linux version 6.1.0 (debian-kernel@lists.debian.org)', 'Kernel panic - not syncing: VFS']) {
      assert.equal(kernelSilent(`Welcome to GRUB!\n${loud}\n`), false, loud);
    }
    await fleet.close();
  });

  test(`a silent console is explained only for PVH: a PV boot that never connects says nothing about console=hvc0 (${store.kind})`, async () => {
    const { fleet, sim, guests, host } = await setup(store);
    const g = guests[2]!;
    const driver = fleet.hosts.driverFor(host);
    sim.state.guests[g.name]!.faults.push({ kind: 'panic', count: 1, silent: true });
    await driver.destroy(domainName(g.name));
    await driver.create(hostPath(g.config_path));
    const v = await verifyBoot(driver, g.name, 'pv', { bootTimeoutMs: 100, pollMs: 2 });
    assert.ok(!v.ok && !v.reason.includes('console=hvc0'), JSON.stringify(v));
    await fleet.close();
  });

  test(`a switch journals the evidence: the type xl reports and what the guest says of itself (${store.kind})`, async () => {
    const { openFleet } = await import('./fleet.ts');
    const { startSwitch } = await import('./switch.ts');
    const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), verify: { bootTimeoutMs: 2000, pollMs: 2 }, shutdownTimeoutMs: 500 });
    try {
      const host = await fleet.store.addHost({
        name: 's', transport: 'sim', endpoint: JSON.stringify({ guests: 8, seed: 3, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
        xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
      });
      await fleet.scan(host);
      const sim = simOf(fleet.hosts.driverFor(host))!;
      const g = (await fleet.store.listGuests()).find((x) => sim.state.guests[x.name]!.kernel.pvh)!;
      const r = await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 't' });
      assert.equal(r.kind, 'started');
      if (r.kind !== 'started') return;
      assert.equal((await r.finished).status, 'done');
      const verify = (await fleet.store.journalOf(r.operation.id)).find((e) => e.step === 'verify' && e.phase === 'done')!;
      assert.match(verify.detail ?? '', /^domid \d+, xl list -l type pvh; the guest reports PVH \("Booting paravirtualized kernel on Xen PVH"\)$/);
    } finally {
      await fleet.close();
    }
  });
}
