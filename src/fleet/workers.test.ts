/**
 * The fleet as several processes over one PostgreSQL: two API processes (`pvhctl serve --store`)
 * take switch requests, three workers run them. One worker is killed with SIGKILL right after its
 * Nth journal entry, for each N in turn; the others finish or roll back its operations from the
 * journal. Afterwards every guest runs in its old or new type with a config byte-identical to the
 * matching version, nothing is left switching, and the per-host limit held at every moment
 * (checked from the journal's timestamps). A client on API A follows a switch to its end over SSE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgres } from '../../test/support/postgres.ts';
import { loadSim } from '../drivers/sim/world.ts';
import type { Guest, JournalEntry } from '../store/schema.ts';
import { openFleet, type Fleet } from './fleet.ts';
import { pgBossQueue } from './queue.ts';
import { startSwitch, type SwitchRequest } from './switch.ts';
import { runningType } from './verify.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');
const WORKER = join(import.meta.dirname, 'testdata', 'worker-child.ts');
const LEASE_MS = 1500;
const MAX_PARALLEL = 2;

type Proc = { child: ChildProcess; out: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> };

/** Starts a process and resolves once its output matches `ready`. */
function start(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolve, reject) => {
    const seen = (b: Buffer) => {
      out += b.toString();
      if (ready.test(out)) resolve({ child, out: () => out, exited });
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    void exited.then((e) => reject(new Error(`${args.join(' ')} exited ${e.code} ${e.signal} before it was ready: ${out.slice(-2000)}`)));
  });
}

const worker = (dir: string, url: string, killAt: number, concurrency = 8, atN: 'hang' | 'stop' = 'hang') => start([WORKER, dir, url, String(killAt), String(LEASE_MS), String(concurrency), atN], /READY/);

async function api(dir: string, url: string): Promise<{ proc: Proc; base: string }> {
  const proc = await start([BIN, '--store', url, 'serve', '--port', '0', '--data-dir', dir], /"msg":"pvhctl serving"/);
  const line = proc.out().split('\n').find((l) => l.includes('pvhctl serving'))!;
  return { proc, base: (JSON.parse(line) as { address: string }).address };
}

async function post(base: string, token: string, path: string, body: unknown): Promise<{ status: number; json: { id: number; error?: string } }> {
  const r = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as { id: number } };
}

/** Adds two simulated hosts named after `tag` and scans them; PV-only guests get a stale verdict so their switch reaches create and rolls back. */
async function addHosts(fleet: Fleet, tag: string): Promise<void> {
  for (const name of [`${tag}a`, `${tag}b`]) {
    const host = await fleet.store.addHost({
      name, transport: 'sim', endpoint: JSON.stringify({ guests: 4, seed: name.length * 7 + tag.charCodeAt(0), pvOnly: 0.3, bootMs: 20, shutdownMs: 20 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: MAX_PARALLEL,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    const scan = await fleet.scan(host);
    assert.deepEqual(scan.errors, []);
    for (const g of await fleet.store.listGuests({ hostId: host.id })) {
      const v = JSON.parse(g.verdict!);
      if (!v.pvh.capable) await fleet.store.updateGuest(g.id, { verdict: JSON.stringify({ ...v, pvh: { capable: true, reason: 'stale verdict' } }) });
    }
  }
}

/** The most operations that overlapped on one host, from their journals' first and last timestamps. */
function peakPerHost(ops: { host: string; journal: JournalEntry[] }[]): Map<string, number> {
  const peak = new Map<string, number>();
  const byHost = Map.groupBy(ops.filter((o) => o.journal.length > 0), (o) => o.host);
  for (const [host, list] of byHost) {
    // Ends sort before starts at the same instant: a slot is given back before the next takes it.
    const points = list.flatMap((o) => [
      { t: Date.parse(o.journal[0]!.at), d: 1 },
      { t: Date.parse(o.journal.at(-1)!.at), d: -1 },
    ]);
    points.sort((a, b) => a.t - b.t || a.d - b.d);
    let now = 0;
    let max = 0;
    for (const p of points) max = Math.max(max, (now += p.d));
    peak.set(host, max);
  }
  return peak;
}

/** Every guest of `hosts`: running, in the type its config on the host says, that config byte-identical to the matching kept version. */
async function checkGuests(fleet: Fleet, dir: string, hosts: string[]): Promise<string[]> {
  const outcomes: string[] = [];
  for (const name of hosts) {
    const host = (await fleet.store.getHost(name))!;
    const sim = loadSim(join(dir, 'sim', `${name}.json`));
    for (const g of await fleet.store.listGuests({ hostId: host.id })) {
      assert.notEqual(g.health, 'switching', `${g.name} is left switching`);
      const d = sim.state.domains[g.name];
      assert.ok(d !== undefined && d.state === 'running', `${g.name} is not running`);
      const type = runningType(d);
      assert.equal(g.current_type, type, `${g.name}: the store says ${g.current_type}, it runs ${type}`);
      const [op] = await fleet.store.listOperations({ guestId: g.id });
      assert.ok(op !== undefined);
      assert.ok(['done', 'rolled-back', 'refused'].includes(op.status), `${g.name}: operation ${op.id} ended ${op.status}: ${op.detail}`);
      const onHost = Buffer.from(sim.state.files[g.config_path]!, 'base64');
      const versions = await fleet.store.listConfigVersions(g.id);
      const original = (await fleet.store.getConfigVersion(versions[0]!.id))!.content;
      const wanted = type === 'pv' ? original : (await fleet.store.getConfigVersion(op.new_version_id!))!.content;
      assert.ok(onHost.equals(Buffer.from(wanted)), `${g.name} runs ${type} but its config is not that version's bytes`);
      outcomes.push(`${g.name}:${op.status}`);
    }
  }
  return outcomes;
}

/** A fresh database and data directory; every process started in `fn` is killed afterwards. */
async function onePostgres(fn: (env: { url: string; dir: string; fleet: Fleet; procs: Proc[] }) => Promise<void>): Promise<void> {
  const url = await (await postgres()).newDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-workers-'));
  const procs: Proc[] = [];
  const fleet = await openFleet({ dataDir: dir, store: url, recover: false });
  try {
    await fn({ url, dir, fleet, procs });
  } finally {
    for (const p of procs) p.child.kill('SIGKILL');
    await fleet.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('two APIs, three workers, one killed after each journal step in turn: every guest ends old or new, intact, within the per-host limit', () =>
  onePostgres(async ({ url, dir, fleet, procs }) => {
    const a = await api(dir, url);
    procs.push(a.proc);
    const b = await api(dir, url);
    procs.push(b.proc);
    const token = readFileSync(join(dir, 'operator-token'), 'utf8').trim();
    // One operation at a time each, so the doomed worker gets its share of the jobs.
    const survivors = [await worker(dir, url, 0, 1), await worker(dir, url, 0, 1)];
    procs.push(...survivors);
    const killedAt: number[] = [];
    for (let n = 1; n <= 14; n++) {
      const tag = `k${n}`;
      await addHosts(fleet, tag);
      // The doomed worker takes one operation at a time, so its Nth entry is step N of one switch.
      const doomed = await worker(dir, url, n, 1);
      procs.push(doomed);
      const guests = (await fleet.store.listGuests()).filter((g) => g.name.startsWith(`${tag}a-`) || g.name.startsWith(`${tag}b-`));
      const ids: number[] = [];
      for (const [i, g] of guests.entries()) {
        const r = await post(i % 2 === 0 ? a.base : b.base, token, `/v1/guests/${g.id}/switch`, { to: 'pvh' });
        assert.equal(r.status, 202, JSON.stringify(r.json));
        ids.push(r.json.id);
      }
      const waitAll = async (): Promise<void> => {
        for (;;) {
          const unfinished = (await fleet.store.unfinishedOperations()).filter((o) => ids.includes(o.id));
          if (unfinished.length === 0) return;
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      const killed = await new Promise<boolean>((resolve) => {
        const poll = setInterval(() => {
          if (doomed.out().includes(`AT ${n}`)) {
            clearInterval(poll);
            doomed.child.kill('SIGKILL');
            resolve(true);
          }
        }, 5);
        void waitAll().then(() => {
          clearInterval(poll);
          resolve(false);
        });
      });
      await waitAll();
      if (killed) killedAt.push(n);
      else doomed.child.kill('SIGTERM');
      await doomed.exited;
      const names = [`${tag}a`, `${tag}b`];
      const outcomes = await checkGuests(fleet, dir, names);
      assert.equal(outcomes.length, 8);
      const ops = await Promise.all(ids.map(async (id) => {
        const op = (await fleet.store.getOperation(id))!;
        const g = (await fleet.store.getGuestById(op.guest_id))!;
        return { host: (await fleet.store.getHostById(g.host_id))!.name, journal: await fleet.store.journalOf(id) };
      }));
      for (const [host, peak] of peakPerHost(ops)) assert.ok(peak <= MAX_PARALLEL, `${host}: ${peak} operations at once (limit ${MAX_PARALLEL})`);
    }
    // The doomed worker was really killed mid-operation at (nearly) every step.
    assert.ok(killedAt.length >= 12, `killed only at ${killedAt.join(', ')}`);
    // Stopping cleanly: SIGTERM, exit 0.
    for (const w of survivors) w.child.kill('SIGTERM');
    for (const w of survivors) assert.equal((await w.exited).code, 0, w.out().slice(-2000));
  }),
);

/** Waits until `cond` holds; fails after `capMs`, far beyond any bound asserted (a liveness guard, not a timing check). */
async function until(what: string, cond: () => boolean | Promise<boolean>, capMs = 60_000): Promise<void> {
  const end = Date.now() + capMs;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A host's simulated state as saved, without its call counter: what acting on a guest changes. */
const simState = (dir: string, host: string) => {
  const { calls: _, ...rest } = loadSim(join(dir, 'sim', `${host}.json`)).state;
  return JSON.stringify(rest);
};

test('a worker frozen (SIGSTOP) past its lease: another takes its operation over from the journal; woken (SIGCONT), it notices and does not touch the guest again', (t) =>
  onePostgres(async ({ url, dir, fleet, procs }) => {
    const a = await api(dir, url);
    procs.push(a.proc);
    const token = readFileSync(join(dir, 'operator-token'), 'utf8').trim();
    const survivor = await worker(dir, url, 0, 1);
    procs.push(survivor);
    // Frozen right after journaling the begin of a step that acts: shutdown (5), write-config (7), create (9).
    for (const n of [5, 7, 9]) {
      const tag = `s${n}`;
      await addHosts(fleet, tag);
      const frozen = await worker(dir, url, n, 1, 'stop');
      procs.push(frozen);
      const guests = (await fleet.store.listGuests()).filter((g) => g.name.startsWith(`${tag}a-`) || g.name.startsWith(`${tag}b-`));
      const ids: number[] = [];
      for (const g of guests) {
        const r = await post(a.base, token, `/v1/guests/${g.id}/switch`, { to: 'pvh' });
        assert.equal(r.status, 202, JSON.stringify(r.json));
        ids.push(r.json.id);
      }
      // Which operation froze, and its lease then, as the worker read them just before stopping:
      // on a loaded machine the lease may have run out, and the survivor own it, by the time we look.
      const froze = new RegExp(`^AT ${n} op (\\d+) lease (\\S+)$`, 'm');
      await until(`worker ${frozen.child.pid} reaches its entry ${n}`, () => froze.test(frozen.out()));
      const [, opId, leaseAtFreeze] = froze.exec(frozen.out())!;
      const owner = (o: { owner: string | null }) => o.owner !== null && o.owner.endsWith(`:${frozen.child.pid}`);
      const mine = { id: Number(opId) };
      assert.ok(ids.includes(mine.id), `the frozen worker ran operation ${mine.id}, not one of ours`);
      assert.ok(leaseAtFreeze !== 'none', 'the frozen worker held no lease');
      // It wrote n entries before it froze (the survivor may have added more since).
      assert.ok((await fleet.store.journalOf(mine.id)).length >= n);
      // The survivor finishes everything, the frozen worker's operation from its journal.
      await until('every operation finished while one worker is frozen', async () => (await fleet.store.unfinishedOperations()).filter((o) => ids.includes(o.id)).length === 0);
      const after = (await fleet.store.getOperation(mine.id))!;
      assert.ok(!owner(after), 'still owned by the frozen worker');
      const journal = await fleet.store.journalOf(mine.id);
      const takenAt = Date.parse(journal[n]!.at);
      assert.ok(takenAt >= Date.parse(leaseAtFreeze!), `taken over at ${journal[n]!.at}, before the lease ran out at ${leaseAtFreeze}`);
      t.diagnostic(`frozen after entry ${n}: taken over ${takenAt - Date.parse(journal[n - 1]!.at)} ms after its last entry (documented bound: lease ${LEASE_MS} ms + a third of it, plus database round trips)`);
      const names = [`${tag}a`, `${tag}b`];
      const outcomes = await checkGuests(fleet, dir, names);
      assert.equal(outcomes.length, 8);
      const before = names.map((h) => simState(dir, h));
      // Woken: it must see its lease is gone and stop, without acting on the guest or writing.
      frozen.child.kill('SIGCONT');
      const lostSaid = () => new RegExp(`operation ${mine.id}: lease lost`).test(frozen.out());
      const touched = async () => names.some((h, i) => simState(dir, h) !== before[i]) || (await fleet.store.journalOf(mine.id)).length !== journal.length;
      await until(`worker ${frozen.child.pid} says it lost operation ${mine.id}, or acts`, async () => lostSaid() || (await touched()));
      // Whatever it was about to do, give it time to do it: the guest and the rows stay as they are.
      await new Promise((r) => setTimeout(r, LEASE_MS));
      assert.deepEqual(names.map((h) => simState(dir, h)), before, 'the woken worker acted on a host');
      assert.deepEqual(await fleet.store.journalOf(mine.id), journal, 'the woken worker journaled');
      assert.deepEqual(await fleet.store.getOperation(mine.id), after, 'the woken worker wrote the operation');
      await checkGuests(fleet, dir, names);
      assert.ok(lostSaid(), `the woken worker did not say it lost operation ${mine.id}: ${frozen.out().slice(-2000)}`);
      frozen.child.kill('SIGTERM');
      assert.equal((await frozen.exited).code, 0, frozen.out().slice(-2000));
    }
    survivor.child.kill('SIGTERM');
    assert.equal((await survivor.exited).code, 0, survivor.out().slice(-2000));
  }),
);

test('a client on API A follows, over SSE, a switch requested on API B and run by a worker, to its end', () =>
  onePostgres(async ({ url, dir, fleet, procs }) => {
    await addHosts(fleet, 'f');
    const a = await api(dir, url);
    procs.push(a.proc);
    const b = await api(dir, url);
    procs.push(b.proc);
    const w = await worker(dir, url, 0);
    procs.push(w);
    const token = readFileSync(join(dir, 'operator-token'), 'utf8').trim();
    const g = (await fleet.store.listGuests()).find((x) => !JSON.parse(x.verdict!).pvh.reason.includes('stale'))!;
    const r = await post(b.base, token, `/v1/guests/${g.id}/switch`, { to: 'pvh' });
    assert.equal(r.status, 202);
    const res = await fetch(`${a.base}/v1/operations/${r.json.id}/events`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const text = await res.text(); // the stream ends with the operation
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2]!) as { step?: string; phase?: string; status?: string } }));
    assert.deepEqual(
      events.filter((e) => e.event === 'step').map((e) => `${e.data.step}:${e.data.phase}`),
      ['pre-check:begin', 'pre-check:done', 'keep-config:begin', 'keep-config:done', 'shutdown:begin', 'shutdown:done', 'write-config:begin', 'write-config:done', 'create:begin', 'create:done', 'verify:begin', 'verify:done'],
    );
    assert.deepEqual(events.at(-1), { event: 'end', data: { status: 'done', reason: 'The server now runs in PVH mode.' } });
    // Run by the worker, not by either API process.
    const op = (await fleet.store.getOperation(r.json.id))!;
    assert.equal(op.owner?.split(':')[1], String(w.child.pid));
  }),
);

/** A simulated host of three guests that each take `shutdownMs` to shut down, scanned. */
async function slowHost(fleet: Fleet, name: string, shutdownMs: number) {
  const host = await fleet.store.addHost({
    name, transport: 'sim', endpoint: JSON.stringify({ guests: 3, seed: 11, pvOnly: 0, bootMs: 20, shutdownMs }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 3,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  assert.deepEqual((await fleet.scan(host)).errors, []);
  return { host, guests: await fleet.store.listGuests({ hostId: host.id }) };
}

/** `pvhctl worker` itself, on the store at `url`, its lease `leaseS` seconds. */
const cliWorker = (dir: string, url: string, leaseS: number) => start([BIN, '--store', url, 'worker', '--data-dir', dir, '--lease', String(leaseS), '--concurrency', '4'], /ready \(store/);

/** The guest as it ends: running in its old or new type, its config the matching version's bytes, not left switching. */
async function endsOldOrNew(fleet: Fleet, dir: string, host: string, guestId: number, opId: number): Promise<string> {
  const g = (await fleet.store.getGuestById(guestId))!;
  assert.notEqual(g.health, 'switching', `${g.name} is left switching`);
  const op = (await fleet.store.getOperation(opId))!;
  assert.ok(op.status === 'done' || op.status === 'rolled-back', `operation ${op.id} ended ${op.status}: ${op.detail}`);
  const d = loadSim(join(dir, 'sim', `${host}.json`)).state.domains[g.name];
  assert.ok(d !== undefined && d.state === 'running', `${g.name} is not running`);
  const type = runningType(d);
  assert.equal(type, op.status === 'done' ? 'pvh' : 'pv');
  assert.equal(g.current_type, type);
  const onHost = Buffer.from(loadSim(join(dir, 'sim', `${host}.json`)).state.files[g.config_path]!, 'base64');
  const wanted = (await fleet.store.getConfigVersion(type === 'pvh' ? op.new_version_id! : op.kept_version_id!))!.content;
  assert.ok(onHost.equals(Buffer.from(wanted)), `${g.name} runs ${type} but its config is not that version's bytes`);
  return op.status;
}

/**
 * A `pvhctl worker` (lease `leaseS` s) in the middle of a switch of the first of three slow guests
 * (each takes 2 s to shut down), sent SIGTERM once it says it stops; `queue` is closed afterwards.
 */
async function signalledMidSwitch(env: { url: string; dir: string; fleet: Fleet; procs: Proc[] }, host: string, leaseS: number, fn: (s: { w: Proc; r: SwitchRequest & { kind: 'started' }; guests: Guest[] }) => Promise<void>) {
  const { url, dir, fleet, procs } = env;
  const { guests } = await slowHost(fleet, host, 2000);
  const queue = await pgBossQueue(url);
  fleet.ctx.queue = queue;
  try {
    const w = await cliWorker(dir, url, leaseS);
    procs.push(w);
    const r = await startSwitch(fleet.ctx, guests[0]!, 'pvh', { force: false, actor: 'op' });
    assert.ok(r.kind === 'started');
    // Followed until the store closes, should an assertion end the test first.
    void r.finished.catch(() => {});
    await until('the worker is shutting the guest down', async () => (await fleet.store.getOperation(r.operation.id))!.step === 'shutdown');
    w.child.kill('SIGTERM');
    await until('the worker says it stops taking work', () => /stopping: no new work/.test(w.out()));
    await fn({ w, r, guests });
  } finally {
    fleet.ctx.queue = undefined;
    await queue.close();
  }
}

test('pvhctl worker: SIGTERM in the middle of a switch stops taking jobs and finishes the switch in flight; a job queued meanwhile waits for another worker', () =>
  onePostgres((env) =>
    signalledMidSwitch(env, 'slowt', 30, async ({ w, r: r1, guests }) => {
      const { url, dir, fleet, procs } = env;
      const r2 = await startSwitch(fleet.ctx, guests[1]!, 'pvh', { force: false, actor: 'op' });
      assert.ok(r2.kind === 'started');
      void r2.finished.catch(() => {});
      const exit = await w.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, w.out().slice(-2000));
      // The switch in flight finished before the worker exited, run by it.
      const op1 = (await fleet.store.getOperation(r1.operation.id))!;
      assert.equal(op1.status, 'done', `${op1.status}: ${op1.detail}`);
      assert.equal(op1.owner?.split(':')[1], String(w.child.pid));
      await endsOldOrNew(fleet, dir, 'slowt', guests[0]!.id, op1.id);
      // The one queued after the signal was not taken: still pending, no owner, nothing journaled.
      const op2 = (await fleet.store.getOperation(r2.operation.id))!;
      assert.deepEqual([op2.status, op2.owner], ['pending', null]);
      assert.deepEqual(await fleet.store.journalOf(op2.id), []);
      // Another worker takes it.
      const w2 = await cliWorker(dir, url, 30);
      procs.push(w2);
      assert.equal((await r2.finished).status, 'done');
      await endsOldOrNew(fleet, dir, 'slowt', guests[1]!.id, op2.id);
      w2.child.kill('SIGTERM');
      assert.equal((await w2.exited).code, 0, w2.out().slice(-2000));
    }),
  ),
);

test('pvhctl worker: a second SIGTERM in the middle of a switch exits at once; another worker takes the operation over from its journal once the lease has run out', () =>
  onePostgres((env) =>
    signalledMidSwitch(env, 'slowu', 2, async ({ w, r, guests }) => {
      const { url, dir, fleet, procs } = env;
      w.child.kill('SIGTERM');
      assert.deepEqual(await w.exited, { code: 143, signal: null }, w.out().slice(-2000));
      const left = (await fleet.store.getOperation(r.operation.id))!;
      assert.equal(left.status, 'running', 'the second SIGTERM did not exit at once: the switch had finished');
      assert.equal(left.owner?.split(':')[1], String(w.child.pid));
      const w2 = await cliWorker(dir, url, 2);
      procs.push(w2);
      const end = await r.finished;
      assert.equal(end.owner?.split(':')[1], String(w2.child.pid), 'not taken over by the second worker');
      assert.match(w2.out(), new RegExp(`taking over operation ${r.operation.id}`));
      await endsOldOrNew(fleet, dir, 'slowu', guests[0]!.id, end.id);
      // Resumed from the journal: the first worker's entries kept, the second's after them.
      const journal = await fleet.store.journalOf(end.id);
      assert.deepEqual(journal.slice(0, 5).map((e) => `${e.step}:${e.phase}`), ['pre-check:begin', 'pre-check:done', 'keep-config:begin', 'keep-config:done', 'shutdown:begin']);
      w2.child.kill('SIGTERM');
      assert.equal((await w2.exited).code, 0, w2.out().slice(-2000));
    }),
  ),
);
