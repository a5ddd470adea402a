/**
 * What a command that opens the fleet (src/cli/fleet-common.ts `open`: pvhctl serve, rehearse,
 * worker, ...) recovers first: on PostgreSQL, this machine's dead rehearsals, never another
 * machine's (src/fleet/rehearse-crash.test.ts kills the rehearsing child).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from './fleet-common.ts';
import { openFleet } from '../fleet/fleet.ts';
import { loadSim } from '../drivers/sim/world.ts';
import { simOf } from '../drivers/sim/driver.ts';
import { rehearsals } from '../store/rehearsals.ts';
import { runUntilAt } from '../fleet/testdata/kill-child.ts';
import { STORES } from '../../test/support/stores.ts';

const CHILD = join(import.meta.dirname, '..', 'fleet', 'testdata', 'rehearse-child.ts');

const runChild = (dataDir: string, store: string | undefined, guest: string, crashAt: number) =>
  runUntilAt(CHILD, [dataDir, guest, String(crashAt), ...(store ? [store] : [])]);

test('on PostgreSQL, a command opening the fleet (pvhctl serve, rehearse, ...) removes what a dead rehearsal of this machine left, and leaves other machines\' rehearsals to them', async (t) => {
  const pg = STORES.find((s) => s.kind === 'postgres');
  if (pg === undefined) return t.skip('PostgreSQL not selected (PVHCTL_TEST_STORES)');
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-rehearse-pg-recover-'));
  const loc = await pg.location();
  const saved = process.env.PVHCTL_STORE;
  try {
    const fleet = await openFleet({ dataDir: dir, store: loc });
    const host = await fleet.store.addHost({
      name: 'crash', transport: 'sim', endpoint: JSON.stringify({ guests: 3, seed: 4, pvOnly: 0, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    await fleet.scan(host);
    const [guest, other] = Object.keys(simOf(fleet.hosts.driverFor(host))!.state.guests);
    // Another machine's rehearsal, quiet for a while: not this machine's to judge.
    const R = rehearsals(fleet.store);
    const [o] = await fleet.store.getGuest(other!);
    const elsewhere = await R.create({ guest_id: o!.id, kernel: 'k', to_type: 'pvh', owner: 'elsewhere.example:1', requested_by: 'op' });
    await fleet.close();
    // Killed right after its first snapshot was made (plan begin, plan done, snapshot begin, snapshot done).
    assert.equal(await runChild(dir, loc, guest!, 4), 'killed');
    assert.ok(Object.keys(loadSim(join(dir, 'sim', 'crash.json')).state.volumes ?? {}).some((p) => p.includes('pvhctl-rehearse-')), 'the child made its snapshot');

    process.env.PVHCTL_STORE = loc;
    const again = await open(dir);
    const running = await rehearsals(again.store).running().finally(() => again.close());
    assert.deepEqual(running.map((r) => r.id), [elsewhere.id]);
    const after = loadSim(join(dir, 'sim', 'crash.json'));
    assert.deepEqual(Object.keys(after.state.volumes ?? {}).filter((p) => p.includes('pvhctl-rehearse-')), [], 'a snapshot is left');
    assert.deepEqual(Object.keys(after.state.domains).filter((d) => d.startsWith('pvhctl-rehearse-')), []);
  } finally {
    if (saved === undefined) delete process.env.PVHCTL_STORE;
    else process.env.PVHCTL_STORE = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
