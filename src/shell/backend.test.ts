/**
 * The Xen Shell's backend on a simulated fleet: what a customer reads is in words, while the
 * operators' audit log keeps xl's own errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventBus } from '../fleet/events.ts';
import { openFleet } from '../fleet/fleet.ts';
import { precheck } from '../fleet/switch.ts';
import { customerRefusalWords, operatorRefusalWords } from '../fleet/reasons.ts';
import { auditOutcome, fleetBackend } from './backend.ts';
import { simOf } from '../drivers/sim/driver.ts';
import { describeGuest } from '../fleet/guests.ts';
import { encodeVerdict } from '../fleet/stored-verdict.ts';
import { nextWords } from '../fleet/words.ts';
import type { Verdict } from '../guest/verdict.ts';
import { STORES, type TestStore } from '../../test/support/stores.ts';

/** A fleet on `store` with one scanned simulated host of `guests` guests. */
async function simFleet(store: TestStore, guests: number) {
  const hub = eventBus();
  const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), onEvent: hub.emit, verify: { bootTimeoutMs: 500, pollMs: 2 }, shutdownTimeoutMs: 500 });
  const host = await fleet.store.addHost({
    name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests, seed: 4, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  return { hub, fleet, host };
}

test('an audit detail with no customer wording shows nothing rather than operator detail', () => {
  assert.equal(auditOutcome('done'), 'done');
  assert.equal(auditOutcome('shutdown timed out'), 'it did not shut down in time');
  assert.equal(auditOutcome('failed: connect ECONNREFUSED 10.0.0.5:22'), 'failed');
  assert.equal(auditOutcome('dom0 10.0.0.5 pid 4711'), '');
  assert.equal(auditOutcome(null), '');
});

test('next-step words fill each parameter once: a name from the guest is not expanded again', () => {
  assert.equal(nextWords({ kind: 'install-kernel', install: '{kernel}' }), 'To run in PVH mode without the shim, install {kernel} and restart the server once.');
  assert.match(nextWords({ kind: 'reboot-into', kernel: '/boot/vmlinuz-6.1', entry: null }), /no boot entry starts it: update the boot menu/);
});

for (const store of STORES) {
  test(`history shows customers words, never raw xl errors or host paths; the audit log keeps them for operators (${store.kind})`, async () => {
    const { hub, fleet, host } = await simFleet(store, 3);
    try {
      const sim = simOf(fleet.hosts.driverFor(host))!;
      const [g] = await fleet.store.listGuests();
      await fleet.store.updateGuest(g!.id, { owner: 'alice' });
      const backend = fleetBackend(fleet, hub);
      assert.equal((await backend.power('alice', g!.name, 'shutdown', () => {})).ok, true);
      sim.state.files[g!.config_path] = Buffer.from('name = "broken"\r\n').toString('base64'); // xl would refuse it
      const boot = await backend.power('alice', g!.name, 'boot', () => {});
      assert.equal(boot.ok, false);
      // a switch refused at the pre-check on the same broken file
      const pre = await precheck(fleet.ctx, (await fleet.store.getGuestById(g!.id))!, 'pvh');
      assert.equal(pre.ok, false);
      assert.doesNotMatch(pre.ok ? '' : customerRefusalWords(pre.refusal), /\/etc\/xen|parsing error/);
      assert.match(pre.ok ? '' : operatorRefusalWords(pre.refusal), /\/etc\/xen\/.*config parsing error/, 'operators keep the detail');

      const h = await backend.history('alice', g!.name);
      assert.ok(h.ok);
      const text = h.value.map((e) => `${e.what}: ${e.outcome}`).join('\n');
      assert.match(text, /boot: That did not work: the host refused to start the server/);
      assert.match(text, /shutdown: The server has shut down/);
      assert.doesNotMatch(text, /\/etc\/xen|parsing error|xl create/);
      const audit = await fleet.store.listAudit(50);
      assert.ok(audit.some((e) => e.action === 'operation-refused' && /^boot: failed: xl create \/etc\/xen\/.*config parsing error/.test(e.detail ?? '')), 'the audit log keeps xl\'s error');
      const [op] = await fleet.store.listOperations({ guestId: g!.id, limit: 1 });
      assert.match(op!.detail ?? '', /xl create \/etc\/xen\/.*config parsing error/, 'and so does the operation, for operators');
    } finally {
      await fleet.close();
    }
  });

  test(`check tells the customer the next step the disk inspection found, in words, never its codes (${store.kind})`, async () => {
    const { hub, fleet } = await simFleet(store, 2);
    try {
      const [a, b] = await fleet.store.listGuests();
      const pvOnly = (inspection: Verdict): string =>
        encodeVerdict({
          pv: { capable: true, abi: 'xen-3.0-x86_64', reason: 'has a PV entry point' }, pvh: { capable: false, reason: 'no PHYS32_ENTRY note' },
          arch: 'x86_64', source: 'disk', kernelVersion: '6.1.0-9-686', inspection,
        });
      await fleet.store.updateGuest(a!.id, { owner: 'alice', current_type: 'pv', verdict: pvOnly({ verdict: 'needs-kernel', install: 'linux-image-686-pae', reasons: ['r'] }) });
      await fleet.store.updateGuest(b!.id, { owner: 'alice', current_type: 'pv', verdict: pvOnly({ verdict: 'ready-after-reboot', kernel: '/boot/vmlinuz-6.1.0-9-686-pae', entry: 'Advanced options > Debian, with Linux 6.1.0-9-686-pae', reasons: ['r'] }) });
      const backend = fleetBackend(fleet, hub);
      const ca = await backend.check('alice', a!.name);
      assert.ok(ca.ok);
      assert.equal(ca.value.next, 'To run in PVH mode without the shim, install linux-image-686-pae and restart the server once.');
      const cb = await backend.check('alice', b!.name);
      assert.ok(cb.ok);
      assert.equal(cb.value.next, 'Its kernel /boot/vmlinuz-6.1.0-9-686-pae can run in PVH mode: make "Advanced options > Debian, with Linux 6.1.0-9-686-pae" the default boot entry and restart the server once.');
      assert.doesNotMatch(`${ca.value.next} ${cb.value.next}`, /needs-kernel|ready-after-reboot|install-kernel|reboot-into/);
      // Why PVH is refused, in words: not the kernel check's ELF note, which is operator detail.
      const refusal = ca.value.options.find((o) => o.mode === 'pvh')!;
      assert.equal(refusal.ok, false);
      assert.equal(refusal.reason, "The server's kernel cannot start in PVH mode: it was built without PVH support (Linux 4.11 or later with PVH enabled is needed).");
      // The operators' view keeps the whole verdict and the step as a value.
      const described = await describeGuest(fleet, (await fleet.store.getGuestById(b!.id))!);
      assert.equal(described.verdict?.inspection?.verdict, 'ready-after-reboot');
      assert.deepEqual(described.next, { kind: 'reboot-into', kernel: '/boot/vmlinuz-6.1.0-9-686-pae', entry: 'Advanced options > Debian, with Linux 6.1.0-9-686-pae' });
    } finally {
      await fleet.close();
    }
  });
}
