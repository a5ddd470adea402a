/**
 * The planner's input read from a real store: each guest's newest finished rehearsal of each
 * target, so that a rehearsal of one target never hides a failed one of the other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFleet } from './fleet.ts';
import { readPlanInput } from './plan-input.ts';
import { guestPath } from './planner.ts';
import { rehearsals } from '../store/rehearsals.ts';
import { simOf } from '../drivers/sim/driver.ts';
import { STORES } from '../../test/support/stores.ts';

for (const store of STORES) {
  test(`a failed rehearsal to PVH holds the guest back even when a rehearsal to the shim passed after it; a newer PVH pass frees it (${store.kind})`, async () => {
    const fleet = await openFleet({ dataDir: ':memory:', store: await store.location() });
    try {
      const host = await fleet.store.addHost({
        name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 4, seed: 9, pvOnly: 0 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1,
        xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
      });
      await fleet.scan(host);
      const sim = simOf(fleet.hosts.driverFor(host))!;
      const g = (await fleet.store.listGuests()).find((x) => sim.state.guests[x.name]!.kernel.pvh)!;
      const R = rehearsals(fleet.store);
      const record = async (to: string, status: 'passed' | 'failed', rule: string | null) => {
        const r = await R.create({ guest_id: g.id, kernel: '6.1.0-26-amd64', to_type: to, owner: 'test', requested_by: 'op' });
        await R.update(r.id, { status, rule, step: 'verify' });
      };
      const path = async () => {
        const input = await readPlanInput(fleet.store);
        return guestPath(input.guests.find((x) => x.id === g.id)!, input.hosts[0]);
      };
      assert.deepEqual(await path(), { path: 'pvh-now' });
      await record('pvh', 'failed', 'verify');
      await record('pvh-shim', 'passed', null);
      assert.deepEqual(await path(), { path: 'blocked', why: { code: 'rehearsal-failed', to: 'pvh', rule: 'verify' } });
      await record('pvh', 'passed', null);
      assert.deepEqual(await path(), { path: 'pvh-now' });
    } finally {
      await fleet.close();
    }
  });
}
