/**
 * SIGTERM in the middle of a switch lets it finish: the guest is not left down. The process that
 * runs the switch gets the signal: `pvhctl switch` itself on the SQLite default; on PostgreSQL the
 * command hands the switch to the job queue, and it is the `pvhctl worker` running it that is
 * stopped, while the command follows the switch to its end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSim } from '../drivers/sim/world.ts';
import { openFleet } from '../fleet/fleet.ts';
import { STORES } from '../../test/support/stores.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

/** Runs pvhctl with `args`, keeping what it writes to stderr; `exited` gives its exit code. */
function pvhctl(args: string[]): { child: ChildProcessWithoutNullStreams; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: 'pipe' });
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  child.stdout.resume();
  return { child, err: () => err, exited: once(child, 'exit').then(([code]) => code as number | null) };
}

/** Resolves once `p` has written a line matching `re` to stderr. */
const said = (p: ReturnType<typeof pvhctl>, re: RegExp) => new Promise<void>((resolve) => {
  const look = () => re.test(p.err()) && (p.child.stderr.off('data', look), resolve());
  p.child.stderr.on('data', look);
  look();
});

/** A data directory (its store there, or at `store`) with one scanned simulated host whose guests take `shutdownMs` to shut down (the signal arrives while one goes down); its guests. */
async function slowFleet(dir: string, shutdownMs: number, maxParallel: number, store?: string) {
  const fleet = await openFleet({ dataDir: dir, store });
  const host = await fleet.store.addHost({
    name: 'slow', transport: 'sim', endpoint: JSON.stringify({ guests: 2, seed: 9, pvOnly: 0, bootMs: 5, shutdownMs }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: maxParallel,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  const guests = await fleet.store.listGuests();
  await fleet.close();
  return guests;
}

for (const store of STORES) {
  test(`SIGTERM in the middle of a switch lets it finish: the guest is not left down (${store.kind})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvhctl-sigterm-'));
    const url = store.kind === 'sqlite' ? undefined : await store.location();
    const storeArgs = url ? ['--store', url] : [];
    const procs: ChildProcessWithoutNullStreams[] = [];
    try {
      const [g] = await slowFleet(dir, 1500, 1, url);
      const worker = url ? pvhctl([...storeArgs, 'worker', '--data-dir', dir, '--concurrency', '1']) : null;
      if (worker) {
        procs.push(worker.child);
        await said(worker, /: ready/);
      }
      const client = pvhctl([...storeArgs, 'switch', g!.name, '--to', 'pvh', '--data-dir', dir]);
      procs.push(client.child);
      const runner = worker ?? client;
      await said(client, /shutdown +begin/);
      runner.child.kill('SIGTERM');
      assert.equal(await runner.exited, 0, runner.err());
      assert.match(runner.err(), /finishing (the switch|what is) in flight/);
      // Read once the runner has gone: nothing else can have finished the switch.
      const after = await openFleet({ dataDir: dir, store: url, recover: false });
      const [op] = await after.store.listOperations({ guestId: g!.id });
      await after.close();
      assert.equal(op?.status, 'done', 'the switch did not finish before the process ended');
      const d = loadSim(join(dir, 'sim', 'slow.json')).state.domains[g!.name];
      assert.equal(d?.state, 'running');
      assert.equal(d?.type, 'pvh');
      if (worker) assert.equal(await client.exited, 0, client.err());
    } finally {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('pvhctl serve (SQLite): SIGTERM in the middle of a switch stops taking requests and finishes the switch in flight before it exits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-sigterm-serve-'));
  let child: ReturnType<typeof spawn> | undefined;
  try {
    const [g1, g2] = await slowFleet(dir, 2000, 2);
    child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const until = async (what: string, cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; !(await cond()); i++) {
        if (child!.exitCode !== null || i > 3000) assert.fail(`never: ${what}: ${out.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until('serving', () => /"msg":"pvhctl serving"/.test(out));
    const base = (JSON.parse(out.split('\n').find((l) => l.includes('pvhctl serving'))!) as { address: string }).address;
    const auth = { authorization: `Bearer ${readFileSync(join(dir, 'operator-token'), 'utf8').trim()}`, 'content-type': 'application/json' };
    const ask = (id: number) => fetch(`${base}/v1/guests/${id}/switch`, { method: 'POST', headers: auth, body: JSON.stringify({ to: 'pvh' }) });
    const r = await ask(g1!.id);
    assert.equal(r.status, 202);
    const opId = ((await r.json()) as { id: number }).id;
    await until('the guest is shutting down', async () => ((await (await fetch(`${base}/v1/operations/${opId}`, { headers: auth })).json()) as { step: string }).step === 'shutdown');
    child.kill('SIGTERM');
    await until('the server says it stops taking requests', () => /stopping: no new requests/.test(out));
    // No new work once stopping: the listener is closed.
    await assert.rejects(ask(g2!.id));
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, out.slice(-2000));
    const after = await openFleet({ dataDir: dir, recover: false });
    try {
      const op = (await after.store.getOperation(opId))!;
      assert.equal(op.status, 'done', `the switch did not finish before the server exited: ${op.status} ${op.detail}`);
      assert.equal((await after.store.getGuestById(g1!.id))!.health === 'switching', false);
      assert.deepEqual(await after.store.listOperations({ guestId: g2!.id }), []);
    } finally {
      await after.close();
    }
    const d = loadSim(join(dir, 'sim', 'slow.json')).state.domains[g1!.name];
    assert.equal(d?.state, 'running');
    assert.equal(d?.type, 'pvh');
  } finally {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
