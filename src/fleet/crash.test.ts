/**
 * kill -9 at every journal step: a child process switches a guest and is killed right after the
 * Nth journal entry; a restarted pvhctl (openFleet runs recovery) must leave the guest running in
 * the old or the new type, with a config on the host that is byte-identical to the old or the new
 * version and matches the type it runs in. A guest that was stopped before the switch is never
 * started in its old type: it is either still stopped with its old config, or runs the new one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFleet } from './fleet.ts';
import { loadSim } from '../drivers/sim/world.ts';
import { domainName } from '../drivers/driver.ts';
import { rewriteConfig } from './xlconfig.ts';
import { runningType } from './verify.ts';
import { runUntilAt } from './testdata/kill-child.ts';
import { STORES, type TestStore } from '../../test/support/stores.ts';
import { simOf } from '../drivers/sim/driver.ts';

const CHILD = join(import.meta.dirname, 'testdata', 'crash-child.ts');

/** Runs the child until it prints `AT n` (then SIGKILLs it) or ends by itself. */
const runChild = (dataDir: string, store: string | undefined, guest: string, crashAt: number) =>
  runUntilAt(CHILD, [dataDir, guest, 'pvh', String(crashAt), ...(store ? [store] : [])]);

/** Where a test's store is: the SQLite file in the data directory, or a fresh PostgreSQL database. */
const storeFor = async (s: TestStore): Promise<string | undefined> => (s.kind === 'sqlite' ? undefined : s.location());

async function prepare(dir: string, store: string | undefined): Promise<{ capable: string; incapable: string; stopped: string }> {
  const fleet = await openFleet({ dataDir: dir, store });
  const host = await fleet.store.addHost({
    name: 'crash', transport: 'sim', endpoint: JSON.stringify({ guests: 8, seed: 11, pvOnly: 0.4, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 1,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  const sim = simOf(fleet.hosts.driverFor(host))!;
  const names = Object.values(sim.state.guests);
  const capable = names.find((g) => g.kernel.pvh)!.name;
  const incapable = names.find((g) => !g.kernel.pvh)!.name;
  // The incapable guest's verdict is stale (says PVH), so its switch reaches create and rolls back.
  const [g] = await fleet.store.getGuest(incapable);
  const v = JSON.parse(g!.verdict!);
  v.pvh = { capable: true, reason: 'stale verdict' };
  await fleet.store.updateGuest(g!.id, { verdict: JSON.stringify(v) });
  // A second PVH-capable guest, shut down before its switch.
  const stopped = names.filter((n) => n.kernel.pvh)[1]!.name;
  assert.equal(await fleet.ctx.driverFor(host).shutdown(domainName(stopped), 5000), 'stopped');
  await fleet.close();
  return { capable, incapable, stopped };
}

async function check(dir: string, store: string | undefined, guestName: string, original: Buffer, wasStopped = false) {
  const fleet = await openFleet({ dataDir: dir, store, verify: { bootTimeoutMs: 400, pollMs: 2 }, shutdownTimeoutMs: 300 });
  try {
    assert.deepEqual(await fleet.store.unfinishedOperations(), [], 'recovery left an operation unfinished');
    const [g] = await fleet.store.getGuest(guestName);
    const sim = loadSim(join(dir, 'sim', 'crash.json'));
    const d = sim.state.domains[guestName];
    const onHost = Buffer.from(sim.state.files[g!.config_path]!, 'base64');
    if (wasStopped && d === undefined) {
      // not booted by recovery: then its settings are the old ones, and it is still PV
      assert.ok(onHost.equals(original), 'stopped, but the config is not the original bytes');
      assert.equal(g!.current_type, 'pv');
      assert.equal(g!.health, 'ok');
      return 'stopped';
    }
    assert.ok(d !== undefined, `${guestName} is not running after recovery`);
    assert.equal(d.state, 'running');
    const type = runningType(d);
    if (wasStopped) assert.equal(type, 'pvh', 'a guest that was stopped was started in its old type');
    const next = rewriteConfig(original, g!.config_path, 'pvh', { verdict: null, xenCaps: [] });
    assert.ok(next.ok);
    if (type === 'pv') assert.ok(onHost.equals(original), 'runs PV but the config is not the original bytes');
    else if (type === 'pvh') assert.ok(onHost.equals(Buffer.from(next.content)), 'runs PVH but the config is not the new version');
    else assert.fail(`runs as ${type}`);
    assert.equal(g!.current_type, type);
    assert.equal(g!.health, 'ok');
    return type;
  } finally {
    await fleet.close();
  }
}

const TITLES = {
  capable: 'succeeds) leaves the guest running',
  incapable: 'rolls back) leaves the guest running',
  stopped: 'of a stopped guest) never starts it in its old type',
} as const;

for (const store of STORES) {
  for (const which of ['capable', 'incapable', 'stopped'] as const) {
    test(`kill -9 after every journal entry of a switch (${TITLES[which]}, config intact (${store.kind})`, async () => {
      const outcomes: string[] = [];
      for (let n = 1; n < 40; n++) {
        const dir = mkdtempSync(join(tmpdir(), 'pvhctl-crash-'));
        try {
          const loc = await storeFor(store);
          const names = await prepare(dir, loc);
          const guest = names[which];
          const sim0 = loadSim(join(dir, 'sim', 'crash.json'));
          const original = Buffer.from(sim0.state.files[`/etc/xen/${guest}.cfg`]!, 'base64');
          const r = await runChild(dir, loc, guest, n);
          const type = await check(dir, loc, guest, original, which === 'stopped');
          outcomes.push(`${n}:${type}`);
          if (which === 'incapable') assert.equal(type, 'pv');
          if (r === 'ended') break;
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      // Killed before the new config was written: back to PV; after: resumed to PVH.
      if (which === 'capable') assert.ok(outcomes.some((o) => o.endsWith(':pv')) && outcomes.at(-1)!.endsWith(':pvh'), outcomes.join(' '));
      // Killed before the new config was written: still stopped; after: booted in PVH.
      if (which === 'stopped') assert.ok(outcomes.some((o) => o.endsWith(':stopped')) && outcomes.at(-1)!.endsWith(':pvh'), outcomes.join(' '));
      // The walk reached the end of the journal (the last child ran to completion).
      assert.ok(outcomes.length >= (which === 'incapable' ? 16 : 12), outcomes.join(' '));
    });
  }

  test(`recovery leaves a live process's operation alone and takes over a dead one's (${store.kind})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvhctl-owner-'));
    try {
      const loc = await storeFor(store);
      const names = await prepare(dir, loc);
      const fleet = await openFleet({ dataDir: dir, store: loc, verify: { bootTimeoutMs: 400, pollMs: 2 }, shutdownTimeoutMs: 300 });
      const [g] = await fleet.store.getGuest(names.capable);
      const live = await fleet.store.createOperation({ guest_id: g!.id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 't' });
      // Owned by this (live) test process's parent shell: a second pvhctl beside it must not touch it.
      await fleet.store.updateOperation(live.id, { owner: `${hostname()}:${process.ppid}`, status: 'running' });
      await fleet.close();
      const second = await openFleet({ dataDir: dir, store: loc });
      assert.equal((await second.store.getOperation(live.id))!.status, 'running');
      // The same operation, owned by a pid that does not exist: taken over and finished.
      await second.store.updateOperation(live.id, { owner: `${hostname()}:${2 ** 22 + 7}` });
      await second.close();
      const third = await openFleet({ dataDir: dir, store: loc, verify: { bootTimeoutMs: 400, pollMs: 2 }, shutdownTimeoutMs: 300 });
      assert.equal((await third.store.getOperation(live.id))!.status, 'rolled-back');
      await third.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
