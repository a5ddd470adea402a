/**
 * kill -9 after every journal entry of a rehearsal: a child process rehearses a guest and is killed
 * right after the Nth entry; a restarted pvhctl (openFleet runs recovery) must leave no rehearsal
 * domain, snapshot LV or rehearsal config on the host, the guest running with the same domid and
 * config bytes, and the rehearsal recorded as finished.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFleet } from './fleet.ts';
import { loadSim } from '../drivers/sim/world.ts';
import { rehearsals } from '../store/rehearsals.ts';
import { runUntilAt } from './testdata/kill-child.ts';
import { simOf } from '../drivers/sim/driver.ts';
import { STORES } from '../../test/support/stores.ts';

const CHILD = join(import.meta.dirname, 'testdata', 'rehearse-child.ts');

const runChild = (dataDir: string, store: string | undefined, guest: string, crashAt: number) =>
  runUntilAt(CHILD, [dataDir, guest, String(crashAt), ...(store ? [store] : [])]);

for (const store of STORES) for (const which of ['passes', 'panics'] as const) {
  test(`kill -9 after every journal entry of a rehearsal that ${which} leaves no stray domain or snapshot, and the guest untouched (${store.kind})`, async () => {
    const outcomes: string[] = [];
    for (let n = 1; n < 30; n++) {
      const dir = mkdtempSync(join(tmpdir(), 'pvhctl-rehearse-crash-'));
      try {
        // SQLite: the file in the data directory; PostgreSQL: a fresh database for each kill.
        const loc = store.kind === 'sqlite' ? undefined : await store.location();
        const fleet = await openFleet({ dataDir: dir, store: loc });
        const host = await fleet.store.addHost({
          name: 'crash', transport: 'sim', endpoint: JSON.stringify({ guests: 3, seed: 4, pvOnly: 0, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1,
          xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
        });
        await fleet.scan(host);
        const sim = simOf(fleet.hosts.driverFor(host))!;
        const guest = Object.keys(sim.state.guests)[0]!;
        if (which === 'panics') sim.state.guests[guest]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
        const { saveSim } = await import('../drivers/sim/world.ts');
        saveSim(sim);
        const before = { domid: sim.state.domains[guest]!.domid, config: sim.state.files[`/etc/xen/${guest}.cfg`] };
        await fleet.close();

        const r = await runChild(dir, loc, guest, n);

        const again = await openFleet({ dataDir: dir, store: loc, verify: { bootTimeoutMs: 400, pollMs: 2 } });
        const R = rehearsals(again.store);
        assert.deepEqual(await R.running(), [], 'recovery left a rehearsal running');
        const [g] = await again.store.getGuest(guest);
        const last = (await R.ofGuest(g!.id))[0]!;
        await again.close();
        const after = loadSim(join(dir, 'sim', 'crash.json'));
        assert.deepEqual(Object.keys(after.state.domains).filter((d) => d.startsWith('pvhctl-rehearse-')), [], `n=${n}: a rehearsal domain is left`);
        assert.deepEqual(Object.keys(after.state.volumes ?? {}).filter((p) => p.includes('pvhctl-rehearse-')), [], `n=${n}: a snapshot is left`);
        assert.deepEqual(Object.keys(after.state.files).filter((p) => p.includes('pvhctl-rehearse-')), [], `n=${n}: a rehearsal config is left`);
        assert.equal(after.state.vgs!.vg0!.freeExtents, 25_600, `n=${n}: CoW extents not returned`);
        assert.equal(after.state.domains[guest]?.domid, before.domid, `n=${n}: the guest was restarted`);
        assert.equal(after.state.files[`/etc/xen/${guest}.cfg`], before.config, `n=${n}: the guest's config changed`);
        outcomes.push(`${n}:${last.status}${last.rule === 'interrupted' ? '*' : ''}`);
        if (r === 'ended') break;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    // The walk reached the end of the journal: the last child ran to completion.
    assert.ok(outcomes.length >= 14, outcomes.join(' '));
    assert.equal(outcomes.at(-1), `${outcomes.length}:${which === 'passes' ? 'passed' : 'failed'}`, outcomes.join(' '));
    assert.ok(outcomes.slice(0, -1).every((o) => o.endsWith('*')), outcomes.join(' '));
  });
}
