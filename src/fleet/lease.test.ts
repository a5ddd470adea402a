import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { STORES } from '../../test/support/stores.ts';
import { OWNER } from '../store/store.ts';
import { openFleet } from './fleet.ts';
import { leaseKeeper, takeable } from './lease.ts';
import { recover } from './operations.ts';
import { startSwitch } from './switch.ts';

const FAST = { verify: { bootTimeoutMs: 400, pollMs: 2 }, shutdownTimeoutMs: 2000 };
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

test('takeable: never what this process holds; here by pid; elsewhere by the lease; before leases by staleness', () => {
  const none = { holds: () => false } as unknown as Parameters<typeof takeable>[1];
  const mine = { holds: (id: number) => id === 1 } as unknown as Parameters<typeof takeable>[1];
  const op = (owner: string | null, lease: number | null, updated = T0) => ({ id: 1, owner, lease_until: lease === null ? null : iso(lease), updated_at: iso(updated) });
  assert.equal(takeable(op('ctl2:42', T0 + 1000), mine, T0 + 5000, 60_000), false);
  assert.equal(takeable(op('ctl2:42', T0 + 1000), none, T0 + 500, 60_000), false);
  assert.equal(takeable(op('ctl2:42', T0 + 1000), none, T0 + 1001, 60_000), true);
  assert.equal(takeable(op('ctl2:42', null), none, T0 + 59_999, 60_000), false);
  assert.equal(takeable(op('ctl2:42', null), none, T0 + 60_000, 60_000), true);
  assert.equal(takeable(op(`${hostname()}:${process.pid}`, T0 + 1000), none, T0, 60_000), false, 'another fleet in this process, lease running');
  assert.equal(takeable(op(`${hostname()}:${process.pid}`, T0 - 1), none, T0, 60_000), true, 'this process, lease run out');
  assert.equal(takeable(op(`${hostname()}:${process.ppid}`, T0 + 1000), none, T0, 60_000), false, 'a live pid here keeps it while its lease runs');
  assert.equal(takeable(op(`${hostname()}:${process.ppid}`, T0 - 1), none, T0, 60_000), true, 'a live pid here whose lease ran out (frozen) loses it');
  assert.equal(takeable(op(`${hostname()}:${process.ppid}`, null), none, T0 + 1e9, 60_000), false, 'from before leases, a live pid here keeps it');
  assert.equal(takeable(op(`${hostname()}:${2 ** 22 + 7}`, T0 + 1e9), none, T0, 60_000), true, 'a dead pid here loses it at once');
  assert.equal(takeable(op(null, null), none, T0, 60_000), true);
});

for (const store of STORES) {
  test(`an operation of another machine is left alone while its lease runs and taken over once, by one process, after (${store.kind})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvhctl-lease-'));
    const loc = store.kind === 'sqlite' ? undefined : await store.location();
    try {
      const fleet = await openFleet({ dataDir: dir, store: loc, ...FAST, shutdownTimeoutMs: 20_000 });
      const host = await fleet.store.addHost({
        name: 'lease', transport: 'sim', endpoint: JSON.stringify({ guests: 3, seed: 4, pvOnly: 0, bootMs: 2, shutdownMs: 2500 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
        xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
      });
      await fleet.scan(host);
      const [g1, g2] = await fleet.store.listGuests();
      // A switch running here renews its lease while it runs (lease 1.5 s, renewed every 0.5 s,
      // the guest takes 2.5 s to shut down): the lease end moves on between samples. A shorter
      // lease would be lost to this machine's database round trips, and the switch would stop.
      fleet.ctx.leases.stop();
      fleet.ctx.leases = leaseKeeper(fleet.store, 1500);
      const r = await startSwitch(fleet.ctx, g1!, 'pvh', { force: false, actor: 't' });
      assert.equal(r.kind, 'started');
      const seen = new Set<string>();
      for (let i = 0; i < 5; i++) {
        await new Promise((res) => setTimeout(res, 450));
        const op = (await fleet.store.getOperation(r.kind === 'started' ? r.operation.id : 0))!;
        if (op.status === 'running' || op.status === 'pending') seen.add(op.lease_until!);
      }
      assert.ok(seen.size >= 2, `the lease was not renewed while the switch ran: ${[...seen].join(', ')}`);
      assert.equal((await (r.kind === 'started' ? r.finished : null))?.status, 'done');
      // An operation held by a worker on another machine, its lease still running.
      const other = await fleet.store.createOperation({ guest_id: g2!.id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 't' });
      await fleet.store.updateOperation(other.id, { owner: 'ctl-elsewhere:4711', lease_until: iso(Date.now() + 60_000), status: 'running', step: 'pre-check' });
      assert.deepEqual(await recover(fleet.ctx), []);
      assert.equal((await fleet.store.getOperation(other.id))!.owner, 'ctl-elsewhere:4711');
      // Its lease ran out: two processes recover at once; exactly one takes it and rolls it back.
      await fleet.store.updateOperation(other.id, { lease_until: iso(Date.now() - 1) });
      const second = await openFleet({ dataDir: dir, store: loc, recover: false, ...FAST });
      const [a, b] = await Promise.all([recover(fleet.ctx), recover(second.ctx)]);
      assert.equal(a.length + b.length, 1, 'taken over by both');
      const done = (await fleet.store.getOperation(other.id))!;
      assert.equal(done.status, 'rolled-back');
      assert.equal(done.owner, OWNER);
      const stops = (await fleet.store.journalOf(other.id)).filter((j) => j.step === 'rollback-stop' && j.phase === 'begin');
      assert.equal(stops.length, 1);
      await second.close();
      await fleet.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
