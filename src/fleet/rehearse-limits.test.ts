/**
 * A host's rehearsal limits hold across processes: another process (a child running
 * testdata/rehearse-child.ts, stopped alive right after its memory check) holds a slot and memory
 * on the host in the store, and a switch running in a worker holds a slot, so that this process's
 * test boot of another guest on the same host is refused with words, and a worker's switch waits
 * for the slot a test boot holds; a dead process holds nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFleet, type Fleet } from './fleet.ts';
import { startRehearsal } from './rehearse.ts';
import { ownerLive } from './switch.ts';
import { saveSim } from '../drivers/sim/world.ts';
import { simOf } from '../drivers/sim/driver.ts';
import type { Rehearsal } from '../store/rehearsals.ts';
import { STORES, type TestStore } from '../../test/support/stores.ts';

const CHILD = join(import.meta.dirname, 'testdata', 'rehearse-child.ts');
/** The journal entry after which the child stops: `plan` done, its check passed, no domain made yet. */
const PLANNED = 2;

type Setup = { dir: string; loc: string | undefined; fleet: Fleet; guests: string[]; child?: ChildProcess };

/** A sim host `lim` with three PVH-capable guests, on a store two processes share; room for one test boot when `oneBoot`. */
async function setup(store: TestStore, maxParallel: number, oneBoot = false): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-rehearse-limits-'));
  // SQLite: the file in the data directory; PostgreSQL: a fresh database.
  const loc = store.kind === 'sqlite' ? undefined : await store.location();
  const first = await openFleet({ dataDir: dir, store: loc });
  const host = await first.store.addHost({
    name: 'lim', transport: 'sim', endpoint: JSON.stringify({ guests: 3, seed: 4, pvOnly: 0, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: maxParallel,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await first.scan(host);
  const sim = simOf(first.hosts.driverFor(host))!;
  // Room for one test boot (1024 MiB) beside the 1024 MiB reserve, not two.
  if (oneBoot) sim.state.totalMemoryMb = Object.keys(sim.state.domains).length * 1024 + 2500;
  saveSim(sim);
  await first.close();
  // This process's fleet, opened before the child starts (opening runs recovery).
  const fleet = await openFleet({ dataDir: dir, store: loc, verify: { bootTimeoutMs: 400, pollMs: 2 }, shutdownTimeoutMs: 300 });
  return { dir, loc, fleet, guests: Object.keys(sim.state.guests) };
}

/** Starts the child rehearsing `guest`; resolves once it stopped, alive, after its memory check. */
function childAtCheck(s: Setup, guest: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    // Killed whatever the test's outcome (done), else a failed assertion leaves it waiting forever.
    const p = (s.child = spawn(process.execPath, [CHILD, s.dir, guest, String(PLANNED), ...(s.loc ? [s.loc] : [])], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes(`AT ${PLANNED}`)) resolve(p);
      if (out.includes('END')) reject(new Error(`the child's rehearsal ended before its check held: ${out}`));
    });
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('close', (code) => reject(new Error(`child exited ${code}: ${err.slice(-2000)}`)));
  });
}

/** Kills the child and waits until it is gone. */
async function kill(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((resolve) => p.once('close', resolve));
  p.kill('SIGKILL');
  await gone;
}

async function rehearse(s: Setup, guest: string): Promise<Rehearsal> {
  const [g] = await s.fleet.store.getGuest(guest);
  const r = await startRehearsal(s.fleet.ctx, g!, { actor: 'op' });
  assert.equal(r.kind, 'started', r.kind === 'refused' ? r.reason : '');
  return r.kind === 'started' ? r.finished : assert.fail();
}

/** Runs `fn` on a fresh setup; the child is killed and everything removed whatever happens. */
async function withSetup(store: TestStore, maxParallel: number, oneBoot: boolean, fn: (s: Setup) => Promise<void>) {
  const s = await setup(store, maxParallel, oneBoot);
  try {
    await fn(s);
  } finally {
    if (s.child) await kill(s.child);
    await s.fleet.close();
    rmSync(s.dir, { recursive: true, force: true });
  }
}

for (const store of STORES) {
  test(`max_parallel 1: while another process test-boots a guest of the host, a test boot of another guest is refused with words; once that process is dead, it passes (${store.kind})`, () =>
    withSetup(store, 1, false, async (s) => {
      const child = await childAtCheck(s, s.guests[0]!);
      const r = await rehearse(s, s.guests[1]!);
      assert.deepEqual([r.status, r.rule], ['cannot-rehearse', 'host-busy'], `${r.reason}`);
      assert.equal(r.reason, 'cannot rehearse now: 1 test boot or switch already runs on lim (its limit is 1)');
      // Killed: its rehearsal row stays running until recovery, but a dead process holds no slot.
      await kill(child);
      const after = await rehearse(s, s.guests[1]!);
      assert.equal(after.status, 'passed', `${after.reason} ${after.detail}`);
    }));

  test(`free memory for one test boot: while another process's test boot holds it (checked, its domain not yet made), a second one is refused for memory (${store.kind})`, () =>
    withSetup(store, 4, true, async (s) => {
      await childAtCheck(s, s.guests[0]!);
      // This process's xl free_memory does not count the other's test boot yet: only the store does.
      const r = await rehearse(s, s.guests[1]!);
      assert.deepEqual([r.status, r.rule], ['cannot-rehearse', 'memory'], `${r.reason}`);
      assert.match(r.reason!, /the test boot needs 1024 MiB; the host has 2500 MiB free, 1024 MiB of which stay in reserve, 1024 MiB held for other test boots/);
    }));

  test(`max_parallel 1: a switch running on the host (a worker took its slot) counts against the limit (${store.kind})`, () =>
    withSetup(store, 1, false, async (s) => {
      const [g] = await s.fleet.store.getGuest(s.guests[2]!);
      // What a worker does with a switch it claimed from the queue: the host's slot, taken in the store.
      const op = await s.fleet.store.createOperationIfIdle({ guest_id: g!.id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 'op' });
      assert.ok(op !== null && (await s.fleet.store.takeHostSlot(op.id)));
      const r = await rehearse(s, s.guests[1]!);
      assert.deepEqual([r.status, r.rule], ['cannot-rehearse', 'host-busy'], `${r.reason}`);
      assert.equal(r.reason, 'cannot rehearse now: 1 test boot or switch already runs on lim (its limit is 1)');
    }));

  test(`max_parallel 1: a worker's switch does not take the host's slot while another process's test boot holds it, and takes it once that process is dead (${store.kind})`, () =>
    withSetup(store, 1, false, async (s) => {
      const child = await childAtCheck(s, s.guests[0]!);
      const [g] = await s.fleet.store.getGuest(s.guests[2]!);
      const op = (await s.fleet.store.createOperationIfIdle({ guest_id: g!.id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 'op' }))!;
      // As src/fleet/worker.ts asks: a test boot whose process lives holds its slot.
      assert.equal(await s.fleet.store.takeHostSlot(op.id, ownerLive), false);
      await kill(child);
      assert.equal(await s.fleet.store.takeHostSlot(op.id, ownerLive), true);
    }));
}
