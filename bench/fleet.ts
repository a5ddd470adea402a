/**
 * Scale benchmark: 10,000 guests on 200 simulated hosts. pvhctl scans every host and switches
 * every guest (PVH where the kernel has the PVH entry, the PV shim where it is PV-only) with the
 * per-host concurrency limit, on the embedded SQLite store in a fresh data directory; then the
 * same on PostgreSQL (a throwaway cluster, test/support/postgres.ts) with 1, 2 and 4 `pvhctl
 * worker` processes. Beside them, the floor: the same driver calls (shutdown, write config,
 * create, verify) on an identical simulated fleet with no store, no journal and no inspection,
 * and the floor the per-host limit sets: ceil(guests per host / limit) x (shutdown + boot).
 *
 *   node bench/fleet.ts [HOSTS] [GUESTS_PER_HOST] [PER_HOST_LIMIT] [DELAY_MS] [WORKERS]
 *   (default 200 50 4 2000 1,2,4; DELAY_MS is each guest's shutdown and each boot; WORKERS=0 skips PostgreSQL;
 *   PVHCTL_BENCH_ONLY=postgres in the environment skips the embedded run and the driver-only floor)
 *
 * Reports wall time per phase, switches per second, store size, peak RSS per process and the
 * scaling ratio from 1 to 4 workers.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFleet } from '../src/fleet/fleet.ts';
import pino from 'pino';
import { buildServer } from '../src/compose/servers.ts';
import { eventBus } from '../src/fleet/events.ts';
import { startSwitches } from '../src/fleet/switch.ts';
import { makeLimiter } from '../src/fleet/limiter.ts';
import { makeSimHost } from '../src/drivers/sim/fleet.ts';
import { simDriver } from '../src/drivers/sim/driver.ts';
import { domainName, hostPath } from '../src/drivers/driver.ts';
import { rewriteConfig } from '../src/fleet/xlconfig.ts';
import { verifyBoot } from '../src/fleet/verify.ts';
import { SQLITE_FILE } from '../src/store/store.ts';
import type { GuestVerdict } from '../src/fleet/seams.ts';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { postgres } from '../test/support/postgres.ts';
import { pgBossQueue } from '../src/fleet/queue.ts';

const HOSTS = Number(process.argv[2] ?? 200);
const PER_HOST = Number(process.argv[3] ?? 50);
const LIMIT = Number(process.argv[4] ?? 4);
const DELAY = Number(process.argv[5] ?? 2000);
const WORKERS = (process.argv[6] ?? '1,2,4').split(',').map(Number).filter((n) => n > 0);
const SIM = { bootMs: DELAY, shutdownMs: DELAY, pvOnly: 0.1 };
const VERIFY = { bootTimeoutMs: DELAY + 30_000, pollMs: Math.max(1, Math.min(250, DELAY / 8)) };
const BIN = join(import.meta.dirname, '..', 'bin', 'pvhctl.js');
const mib = (b: number) => (b / 1048576).toFixed(1);
const secs = (ms: number) => (ms / 1000).toFixed(1);
/** PVH where the scan found the PVH entry, the shim where the kernel is PV-only. */
const target = (g: { verdict: string | null }) => ((JSON.parse(g.verdict!) as GuestVerdict).pvh.capable ? 'pvh' : 'pvh-shim');

async function floor(): Promise<number> {
  const t0 = performance.now();
  const limiter = makeLimiter();
  const jobs: Promise<void>[] = [];
  for (let h = 0; h < HOSTS; h++) {
    const sim = makeSimHost({ name: `floor${h}`, guests: PER_HOST, seed: h + 1, ...SIM });
    const d = simDriver(sim, { pollMs: VERIFY.pollMs });
    for (const g of Object.values(sim.state.guests)) {
      jobs.push(
        limiter.run(h, LIMIT, async () => {
          const to = g.kernel.pvh ? 'pvh' : 'pvh-shim';
          const cur = await d.readFile(hostPath(g.configPath), 1 << 20);
          const rw = rewriteConfig(cur, g.configPath, to, { verdict: null, xenCaps: [] });
          if (!rw.ok) throw new Error(rw.reason);
          await d.shutdown(domainName(g.name), DELAY + 30_000);
          await d.writeConfig(hostPath(g.configPath), rw.content);
          await d.create(hostPath(g.configPath));
          const v = await verifyBoot(d, g.name, to, VERIFY);
          if (!v.ok) throw new Error(v.detail);
        }),
      );
    }
  }
  await Promise.all(jobs);
  return performance.now() - t0;
}

async function pvhctl() {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-bench-fleet-'));
  try {
    const fleet = await openFleet({ dataDir: dir, simInMemory: true, verify: VERIFY, shutdownTimeoutMs: DELAY + 30_000 });
    for (let h = 0; h < HOSTS; h++) {
      await fleet.store.addHost({
        name: `sim${h}`, transport: 'sim', endpoint: JSON.stringify({ guests: PER_HOST, seed: h + 1, ...SIM }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: LIMIT,
        xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
      });
    }
    const t0 = performance.now();
    const hosts = await fleet.store.listHosts();
    // Hosts are scanned 16 at a time: each scan is a stream of small store writes.
    const scanLimiter = makeLimiter();
    const scans = await Promise.all(hosts.map((h) => scanLimiter.run('scan', 16, () => fleet.scan(h))));
    const scanMs = performance.now() - t0;
    // The guest list as an operator's dashboard asks for it: the whole fleet through the API.
    const app = await buildServer(fleet, { logger: pino({ level: 'silent' }), bus: eventBus() });
    const token = await fleet.store.addToken('operator', null);
    const tl = performance.now();
    const res = await app.inject({ method: 'GET', url: `/v1/guests?limit=${HOSTS * PER_HOST}`, headers: { authorization: `Bearer ${token}` } });
    const listMs = performance.now() - tl;
    const listed = res.json() as unknown[];
    await app.close();
    const guests = await fleet.store.listGuests();
    const t1 = performance.now();
    // As `pvhctl switch --all` asks for them: the whole fleet in one request (startSwitches).
    const batch = await startSwitches(fleet.ctx, guests.map((g) => ({ guest: g, to: target(g) })), { force: false, actor: 'bench' });
    const ops = [...(await Promise.all(batch.started.map((s) => (s.run.where === 'here' ? s.run.finished : null)))), ...batch.busy.map(() => null)];
    const switchMs = performance.now() - t1;
    const byStatus = new Map<string, number>();
    for (const o of ops) byStatus.set(o?.status ?? 'refused', (byStatus.get(o?.status ?? 'refused') ?? 0) + 1);
    const counts = await fleet.store.countGuests();
    await fleet.store.db.selectFrom('hosts').select('id').limit(1).execute();
    const size = [SQLITE_FILE, `${SQLITE_FILE}-wal`].map((f) => join(dir, f)).filter(existsSync).reduce((a, f) => a + statSync(f).size, 0);
    await fleet.close();
    const finalSize = statSync(join(dir, SQLITE_FILE)).size;
    return { listMs, listed: listed.length, scanMs, switchMs, scanned: scans.reduce((a, s) => a + s.guests, 0), byStatus, counts, size, finalSize };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU time a running process has used (user + system), in ms. */
const cpuMs = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
};

/**
 * CPU time PostgreSQL has used (ms): the postmaster, its live backends, and the backends that
 * have exited (counted in the postmaster's children's times).
 */
const pgCpuMs = (clusterDir: string): number => {
  const postmaster = Number(readFileSync(join(clusterDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const fields = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  };
  const own = fields(postmaster);
  let ms = ((Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14])) * 1000) / 100;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (Number(fields(Number(e))[1]) === postmaster) ms += cpuMs(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return ms;
};

/** Peak RSS of a running process (VmHWM), in bytes. */
const peakRss = (pid: number): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

/**
 * The fleet on PostgreSQL: scanned by this process, switched by `workers` worker processes taking
 * the operations from the job queue. Simulated hosts are kept in the data directory so that every
 * worker drives the same hosts (each driver call takes the host's file lock, as xl takes a dom0's).
 */
async function onPostgres(workers: number) {
  const cluster = await postgres();
  const url = await cluster.newDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-bench-pg-'));
  const procs: ReturnType<typeof spawn>[] = [];
  try {
    const fleet = await openFleet({ dataDir: dir, store: url, recover: false, verify: VERIFY, shutdownTimeoutMs: DELAY + 30_000, queue: await pgBossQueue(url) });
    for (let h = 0; h < HOSTS; h++) {
      await fleet.store.addHost({
        name: `sim${h}`, transport: 'sim', endpoint: JSON.stringify({ guests: PER_HOST, seed: h + 1, ...SIM }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: LIMIT,
        xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
      });
    }
    const t0 = performance.now();
    const scanLimiter = makeLimiter();
    await Promise.all((await fleet.store.listHosts()).map((h) => scanLimiter.run('scan', 16, () => fleet.scan(h))));
    const scanMs = performance.now() - t0;
    for (let i = 0; i < workers; i++) {
      const child = spawn(process.execPath, [BIN, '--store', url, 'worker', '--data-dir', dir, '--concurrency', String(Math.ceil((HOSTS * LIMIT) / workers) + 8)], { stdio: ['ignore', 'ignore', 'pipe'] });
      procs.push(child);
      await new Promise<void>((resolve, reject) => {
        let log = '';
        child.stderr!.on('data', (b: Buffer) => {
          log += b.toString();
          if (log.includes('ready')) resolve();
        });
        child.on('exit', () => reject(new Error(`worker exited: ${log}`)));
      });
    }
    const guests = await fleet.store.listGuests();
    // What PostgreSQL is asked from here on: every statement (pvhctl's and pg-boss's), and the transactions.
    await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`.execute(fleet.store.db);
    await sql`SELECT pg_stat_statements_reset()`.execute(fleet.store.db);
    const xacts = async () => Number((await sql<{ n: string }>`SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`.execute(fleet.store.db)).rows[0]!.n);
    const xact0 = await xacts();
    const pg0 = pgCpuMs(cluster.dir);
    const worker0 = procs.map((p) => cpuMs(p.pid!)); // their start-up is not the switches' cost
    const bench0 = process.cpuUsage();
    const t1 = performance.now();
    const batch = await startSwitches(fleet.ctx, guests.map((g) => ({ guest: g, to: target(g) })), { force: false, actor: 'bench' });
    if (batch.busy.length > 0) throw new Error(`${batch.busy.length} guests refused as busy`);
    const submitMs = performance.now() - t1;
    // Until none is left unfinished: a count, so that the wait costs PostgreSQL little beside the workers.
    const unfinished = async () => Number((await fleet.store.db.selectFrom('operations').select((eb) => eb.fn.countAll().as('n')).where('status', 'in', ['pending', 'running']).executeTakeFirstOrThrow()).n);
    while ((await unfinished()) > 0) await new Promise((r) => setTimeout(r, 500));
    const switchMs = performance.now() - t1;
    const rss = procs.map((p) => peakRss(p.pid!));
    const cpu = procs.map((p, i) => cpuMs(p.pid!) - worker0[i]!);
    const pgCpu = pgCpuMs(cluster.dir) - pg0;
    const benchCpu = (process.cpuUsage(bench0).user + process.cpuUsage(bench0).system) / 1000;
    const xactN = (await xacts()) - xact0;
    const statements = (
      await sql<{ query: string; calls: string; ms: number }>`SELECT query, calls, total_exec_time AS ms FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC`.execute(fleet.store.db)
    ).rows.map((r) => ({ query: r.query.replace(/\s+/g, ' '), calls: Number(r.calls), ms: Number(r.ms) }));
    // Where the time went: from the request to the first step (queue and per-host slot), and each
    // operation from its first journal entry to its last.
    const times = await fleet.store.db
      .selectFrom('operations')
      .innerJoin('journal', 'journal.operation_id', 'operations.id')
      .innerJoin('guests', 'guests.id', 'operations.guest_id')
      .select((eb) => ['operations.id', 'operations.created_at', 'guests.host_id', eb.fn.min('journal.at').as('first'), eb.fn.max('journal.at').as('last')])
      .groupBy(['operations.id', 'operations.created_at', 'guests.host_id'])
      .execute();
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);
    const waitMs = mean(times.map((t) => Date.parse(String(t.first)) - Date.parse(t.created_at)));
    const opMs = mean(times.map((t) => Date.parse(String(t.last)) - Date.parse(String(t.first))));
    // The hand-over on a host: from an operation's last entry to the next one's first, when that
    // one was already waiting (queued before the slot was given back): the queue's latency.
    const gaps: number[] = [];
    for (const ops of Map.groupBy(times, (t) => t.host_id).values()) {
      const byEnd = ops.map((t) => ({ created: Date.parse(t.created_at), first: Date.parse(String(t.first)), last: Date.parse(String(t.last)) }));
      for (const o of byEnd) {
        // The slot this one took: the latest end before its start, of an operation that ended after this one was queued.
        const freed = Math.max(...byEnd.filter((p) => p !== o && p.last <= o.first && p.last >= o.created).map((p) => p.last));
        if (Number.isFinite(freed)) gaps.push(o.first - freed);
      }
    }
    const handoffMs = mean(gaps);
    const counts = await fleet.store.countGuests();
    const size = Number((await sql<{ n: string }>`select pg_database_size(current_database()) as n`.execute(fleet.store.db)).rows[0]!.n);
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.on('exit', r)))));
    await fleet.close();
    return { workers, scanMs, submitMs, switchMs, rss, cpu, pgCpu, benchCpu, counts, size, waitMs, opMs, handoffMs, xactN, statements };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const total = HOSTS * PER_HOST;
// The bench's PostgreSQL counts its statements (test/support/postgres.ts loads pg_stat_statements).
process.env.PVHCTL_PG_STATEMENTS = '1';
console.log(`fleet benchmark: ${total} guests on ${HOSTS} simulated hosts, per-host limit ${LIMIT}`);
// PVHCTL_BENCH_ONLY=postgres skips the embedded run and the driver-only floor.
if (process.env.PVHCTL_BENCH_ONLY !== 'postgres') {
  const r = await pvhctl();
  const rssAfterPvhctl = process.resourceUsage().maxRSS * 1024;
  const floorMs = await floor();
  console.log(`pvhctl scan      ${secs(r.scanMs)} s  (${r.scanned} guests, ${Math.round(r.scanned / (r.scanMs / 1000))}/s)`);
  console.log(`pvhctl list      ${(r.listMs / 1000).toFixed(2)} s  (GET /v1/guests?limit=${r.listed} through the API, ${r.listed} guests)`);
  console.log(`pvhctl switch    ${secs(r.switchMs)} s  (${Math.round(total / (r.switchMs / 1000))} switches/s; ${[...r.byStatus].map(([k, v]) => `${v} ${k}`).join(', ')})`);
  console.log(`floor  switch    ${secs(floorMs)} s  (driver calls only: no store, no journal)`);
  console.log(`ratio            pvhctl switch / floor = ${(r.switchMs / floorMs).toFixed(2)}x`);
  console.log(`guests after     ${r.counts.map((c) => `${c.n} ${c.type}/${c.health}`).join(', ')}`);
  console.log(`store            ${mib(r.size)} MiB with WAL at the end of the run, ${mib(r.finalSize)} MiB after close (checkpointed)`);
  console.log(`peak RSS         ${mib(rssAfterPvhctl)} MiB (pvhctl phase, whole process)`);
}
const limitFloorMs = Math.ceil(PER_HOST / LIMIT) * 2 * DELAY;
console.log(`limit floor      ${secs(limitFloorMs)} s  (ceil(${PER_HOST} guests / ${LIMIT}) x (${DELAY} ms shutdown + ${DELAY} ms boot) per host)`);
const pg: Awaited<ReturnType<typeof onPostgres>>[] = [];
for (const w of WORKERS) {
  const p = await onPostgres(w);
  pg.push(p);
  console.log(
    `postgres ${w} worker${w > 1 ? 's' : ' '} switch ${secs(p.switchMs)} s  (${Math.round(total / (p.switchMs / 1000))} switches/s; scan ${secs(p.scanMs)} s; submit ${secs(p.submitMs)} s; ` +
      `mean wait ${secs(p.waitMs)} s, mean operation ${secs(p.opMs)} s, mean hand-over ${secs(p.handoffMs)} s; ${p.counts.map((c) => `${c.n} ${c.type}/${c.health}`).join(', ')}; store ${mib(p.size)} MiB; worker peak RSS ${p.rss.map(mib).join(', ')} MiB; worker CPU ${p.cpu.map(secs).join(', ')} s; ` +
      `CPU per switch: workers ${((p.cpu.reduce((a, x) => a + x, 0)) / total).toFixed(1)} ms, PostgreSQL ${(p.pgCpu / total).toFixed(1)} ms, submitting process ${(p.benchCpu / total).toFixed(1)} ms)`,
  );
  // Counts per switch do not depend on the machine's load: pvhctl's statements and pg-boss's apart.
  const per = (n: number) => (n / total).toFixed(1);
  const calls = (f: (q: string) => boolean) => p.statements.filter((s) => f(s.query)).reduce((a, s) => a + s.calls, 0);
  const boss = (q: string) => /pgboss\./i.test(q);
  console.log(
    `postgres ${w} worker${w > 1 ? 's' : ' '} per switch: ${per(calls(() => true))} statements (${per(calls((q) => !boss(q)))} pvhctl's, ${per(calls(boss))} pg-boss's), ${per(p.xactN)} transactions; ` +
      `statement time ${(p.statements.reduce((a, s) => a + s.ms, 0) / total).toFixed(2)} ms`,
  );
  if (process.env.PVHCTL_BENCH_STATEMENTS) {
    for (const s of p.statements.slice(0, Number(process.env.PVHCTL_BENCH_STATEMENTS))) console.log(`  ${per(s.calls).padStart(6)}/switch ${(s.ms / total).toFixed(3).padStart(7)} ms  ${s.query.slice(0, 160)}`);
  }
}
const one = pg.find((p) => p.workers === 1);
const four = pg.find((p) => p.workers === 4);
if (one && four) console.log(`scaling          1 → 4 workers: ${(one.switchMs / four.switchMs).toFixed(2)}x faster`);
console.log(`bench process    peak RSS ${mib(process.resourceUsage().maxRSS * 1024)} MiB (scans, submits, the embedded run)`);
