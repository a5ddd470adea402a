/**
 * Verification never depends on console text: a PVH guest that panics with a silent console (no
 * console=hvc0) still fails verification, because its frontends never connect, and the reason says
 * the console was silent and why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFleet } from './fleet.ts';
import { startSwitch } from './switch.ts';
import { verifyBoot, SILENT_PVH_CONSOLE } from './verify.ts';
import { domainName, hostPath } from '../drivers/driver.ts';

async function setup() {
  const fleet = await openFleet({ dataDir: ':memory:', verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200 });
  const host = await fleet.store.addHost({
    name: 'sim1', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 4,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    sim_spec: JSON.stringify({ guests: 12, seed: 5, pvOnly: 0, bootMs: 3, shutdownMs: 3 }),
  });
  await fleet.scan(host);
  const sim = fleet.hosts.simFor(host)!;
  return { fleet, sim, host, guests: await fleet.store.listGuests() };
}

test('a PVH guest that panics with a silent console fails verification and is rolled back; the reason names the silent console and console=hvc0', async () => {
  const { fleet, sim, guests } = await setup();
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
  assert.match(ops[0]!.detail!, /console empty since the boot/);
  // A hang whose kernel did write to the console: the same failure, without the console note.
  assert.equal(ops[1]!.status, 'rolled-back');
  assert.ok(!ops[1]!.reason!.includes('console stayed silent'), ops[1]!.reason!);
  for (const g of [quiet, loud]) assert.equal(sim.state.domains[g!.name]!.type, 'pv');
  await fleet.close();
});

test('a silent console is explained only for PVH: a PV boot that never connects says nothing about console=hvc0', async () => {
  const { fleet, sim, guests, host } = await setup();
  const g = guests[2]!;
  const driver = fleet.hosts.driverFor(host);
  sim.state.guests[g.name]!.faults.push({ kind: 'panic', count: 1, silent: true });
  await driver.destroy(domainName(g.name));
  await driver.create(hostPath(g.config_path));
  const v = await verifyBoot(driver, g.name, 'pv', { bootTimeoutMs: 100, pollMs: 2 });
  assert.ok(!v.ok && !v.reason.includes('console=hvc0'), JSON.stringify(v));
  await fleet.close();
});
