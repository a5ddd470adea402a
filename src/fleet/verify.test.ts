import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consoleCause } from './verify.ts';

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

test('a switch journals the evidence: the type xl reports and what the guest says of itself', async () => {
  const { openFleet } = await import('./fleet.ts');
  const { startSwitch } = await import('./switch.ts');
  const fleet = await openFleet({ dataDir: ':memory:', verify: { bootTimeoutMs: 2000, pollMs: 2 }, shutdownTimeoutMs: 500 });
  try {
    const host = await fleet.store.addHost({
      name: 's', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null, sim_spec: JSON.stringify({ guests: 8, seed: 3, bootMs: 2, shutdownMs: 2 }),
    });
    await fleet.scan(host);
    const sim = fleet.hosts.simFor(host)!;
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
