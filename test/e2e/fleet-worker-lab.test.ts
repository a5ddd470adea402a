/**
 * The lab's end-to-end switches again, as a fleet runs them: the store is a real PostgreSQL
 * cluster (test/support/postgres.ts), the switches go to its job queue, and a `pvhctl worker`
 * child process takes them and drives the lab's dom0 (real Xen 4.17 under QEMU) over SSH with
 * the xl driver. direct64 is switched to PVH (its own marker says PVH, its config is the bytes of
 * the version written); nopvh, forced, fails to boot as PVH and the worker rolls it back to PV
 * with its config byte-identical. Each journal must be whole and each operation end as the store
 * says, run by the worker. test/e2e/fleet-lab.test.ts covers the same switches on SQLite in-process.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labExec, type LabEndpoint } from '../../lab/lab.ts';
import { PVH_ATTEMPTS, SWITCH_BOOT_DIED, withRetries } from '../../lab/retries.ts';
import { bootGuest } from '../../lab/guest-boot.ts';
import { addLabHost, attachLab, guestConsole, markerAfter, type AttachedLab } from '../support/lab.ts';
import { postgres } from '../support/postgres.ts';
import { openFleet, type Fleet } from '../../src/fleet/fleet.ts';
import { pgBossQueue } from '../../src/fleet/queue.ts';
import { startSwitch } from '../../src/fleet/switch.ts';
import { ROLLBACK_STEPS, SWITCH_STEPS } from '../../src/fleet/steps.ts';
import type { Operation } from '../../src/store/schema.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

let lab: LabEndpoint;
let attached: AttachedLab | undefined;
let fleet: Fleet | undefined;
let worker: { child: ChildProcess; log: () => string } | undefined;
const dir = mkdtempSync(join(tmpdir(), 'pvhctl-e2e-worker-'));

/** Starts `pvhctl --store URL worker` and resolves once it says it is ready. */
function startWorker(url: string): Promise<{ child: ChildProcess; log: () => string }> {
  // The lab's boots are slow (QEMU TCG): the same verification timeouts as fleet-lab.test.ts, given as settings.
  const env = { ...process.env, PVHCTL_STORE: '', PVHCTL_BOOT_TIMEOUT: '240', PVHCTL_SHUTDOWN_TIMEOUT: '60' };
  const child = spawn(process.execPath, [BIN, '--store', url, 'worker', '--data-dir', dir, '--concurrency', '1'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let log = '';
  return new Promise((resolve, reject) => {
    const seen = (b: Buffer) => {
      log += b.toString();
      if (/: ready \(store /.test(log)) resolve({ child, log: () => log });
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    child.on('exit', (code, signal) => reject(new Error(`pvhctl worker exited ${code ?? signal} before it was ready: ${log.slice(-2000)}`)));
  });
}

before(async () => {
  attached = await attachLab();
  lab = attached.lab;
  // Running as a customer's would before the switch, so that the worker shuts them down, and the
  // rollback boots nopvh again.
  for (const name of ['direct64', 'nopvh']) {
    const r = await withRetries(lab, `fleet-worker-lab.test.ts: ${name} PV boot`, 2, () => bootGuest(lab, name, `/etc/xen/${name}.cfg`, 180), (b) => (b.kind === 'marker' ? null : b.kind));
    assert.equal(r.kind, 'marker', `${name} did not boot as PV: ${JSON.stringify(r).slice(0, 400)}`);
  }
  const url = await (await postgres()).newDatabase();
  // This process only asks for switches (queued: it never runs one) and follows them in the store.
  fleet = await openFleet({ dataDir: dir, store: url, queue: await pgBossQueue(url), recover: false });
  await addLabHost(fleet, lab);
  worker = await startWorker(url);
});

after(async () => {
  if (worker !== undefined && worker.child.exitCode === null && worker.child.signalCode === null) {
    worker.child.kill('SIGKILL');
    await once(worker.child, 'exit');
  }
  await fleet?.close();
  await attached?.release();
  rmSync(dir, { recursive: true, force: true });
});

const guest = async (name: string) => (await fleet!.store.getGuest(name))[0]!;
/** A config file in dom0, as bytes (base64 over SSH, so nothing is lost to text decoding). */
const configInDom0 = async (name: string) => Buffer.from((await labExec(lab, `base64 /etc/xen/${name}.cfg`)).stdout.replace(/\s+/g, ''), 'base64');
const journal = async (op: Operation) => (await fleet!.store.journalOf(op.id)).map((e) => `${e.step}:${e.phase}`);
const whole = (steps: readonly string[]) => steps.flatMap((s) => [`${s}:begin`, `${s}:done`]);

/**
 * Asks for a switch, which goes to the queue, and follows it in the store to its end; a switch
 * whose PVH boot died (the QEMU flake) is asked for again, PVH_ATTEMPTS in all, each retry recorded.
 * Returns the last operation and the guest's console log as it was just before that attempt.
 */
async function switchByWorker(t: TestContext, name: string, force: boolean): Promise<{ op: Operation; log: string }> {
  return withRetries(lab, `fleet-worker-lab.test.ts: ${name} switch to pvh`, PVH_ATTEMPTS, async () => {
    const log = await guestConsole(lab, name);
    const r = await startSwitch(fleet!.ctx, await guest(name), 'pvh', { force, actor: 'e2e' });
    assert.equal(r.kind, 'started', r.kind === 'refused' ? r.refusal.code : '');
    return { op: await (r as { finished: Promise<Operation> }).finished, log };
  }, ({ op }) => (op.status !== 'done' && SWITCH_BOOT_DIED.test(op.reason ?? '') ? `PVH boot died (${op.reason}; ${op.detail})` : null), (line) => t.diagnostic(line));
}

/** The operation as the store has it now, and that the worker child process ran it (its owner is HOST:PID). */
async function ranByWorker(op: Operation): Promise<Operation> {
  const stored = (await fleet!.store.getOperation(op.id))!;
  assert.equal(stored.owner?.split(':').at(-1), String(worker!.child.pid), `operation ${op.id} was run by ${stored.owner}, not by the worker (pid ${worker!.child.pid})`);
  return stored;
}

test('direct64: PV → PVH, run by the worker on PostgreSQL; the guest itself reports PVH and runs the config written', async (t) => {
  const before = await configInDom0('direct64');
  const { op, log } = await switchByWorker(t, 'direct64', false);
  assert.equal(op.status, 'done', `${op.reason} (${op.detail})`);
  const stored = await ranByWorker(op);
  assert.equal((await markerAfter(lab, 'direct64', log))?.guestType, 'PVH');
  const written = (await fleet!.store.getConfigVersion(stored.new_version_id!))!.content;
  assert.deepEqual(await configInDom0('direct64'), Buffer.from(written));
  assert.notDeepEqual(Buffer.from(written), before);
  assert.deepEqual(await journal(op), whole(SWITCH_STEPS));
  const g = await guest('direct64');
  assert.equal(g.current_type, 'pvh');
  assert.notEqual(g.health, 'switching');
});

test('nopvh, forced: its PVH boot fails and the worker rolls it back to PV, config byte-identical', async (t) => {
  const before = await configInDom0('nopvh');
  const { op, log } = await switchByWorker(t, 'nopvh', true);
  assert.equal(op.status, 'rolled-back', `${op.reason} (${op.detail})`);
  assert.match(op.reason!, /kernel has no PVH support/);
  await ranByWorker(op);
  assert.deepEqual(await configInDom0('nopvh'), before);
  assert.equal((await markerAfter(lab, 'nopvh', log))?.guestType, 'PV');
  const upToCreate = whole(SWITCH_STEPS.slice(0, SWITCH_STEPS.indexOf('create')));
  assert.deepEqual(await journal(op), [...upToCreate, 'create:begin', 'create:failed', ...whole(ROLLBACK_STEPS)]);
  const g = await guest('nopvh');
  assert.equal(g.current_type, 'pv');
  assert.notEqual(g.health, 'switching');
});

test('the worker stops cleanly on SIGTERM once its work is done', async () => {
  const w = worker!;
  w.child.kill('SIGTERM');
  const [code] = await once(w.child, 'exit');
  assert.equal(code, 0, w.log().slice(-2000));
  assert.match(w.log(), /stopping[\s\S]*stopped/);
});
