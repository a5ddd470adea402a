/**
 * Scale benchmark: 10,000 guests on 200 simulated hosts. pvhctl scans every host and switches
 * every guest (PVH where the kernel has the PVH entry, the PV shim where it is PV-only) with the
 * per-host concurrency limit, on the embedded SQLite store in a fresh data directory. Beside it,
 * the floor: the same driver calls (shutdown, write config, create, verify) on an identical
 * simulated fleet with no store, no journal and no inspection, so the ratio is what journaling
 * every step costs.
 *
 *   node bench/fleet.ts [HOSTS] [GUESTS_PER_HOST] [PER_HOST_LIMIT]     (default 200 50 4)
 *
 * Reports wall time per phase, operations per second, store size (SQLite file + WAL) and peak RSS.
 */
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFleet } from '../src/fleet/fleet.ts';
import pino from 'pino';
import { buildServer, eventBus } from '../src/api/server.ts';
import { startSwitch } from '../src/fleet/switch.ts';
import { makeLimiter } from '../src/fleet/limiter.ts';
import { makeSimHost } from '../src/drivers/sim/fleet.ts';
import { simDriver } from '../src/drivers/sim/driver.ts';
import { domainName, hostPath } from '../src/drivers/driver.ts';
import { rewriteConfig } from '../src/fleet/xlconfig.ts';
import { verifyBoot } from '../src/fleet/verify.ts';
import { SQLITE_FILE } from '../src/store/store.ts';
import type { GuestVerdict } from '../src/fleet/seams.ts';

const HOSTS = Number(process.argv[2] ?? 200);
const PER_HOST = Number(process.argv[3] ?? 50);
const LIMIT = Number(process.argv[4] ?? 4);
const SIM = { bootMs: 0, shutdownMs: 0, pvOnly: 0.1 };
const VERIFY = { bootTimeoutMs: 5000, pollMs: 1 };
const mib = (b: number) => (b / 1048576).toFixed(1);
const secs = (ms: number) => (ms / 1000).toFixed(1);

async function floor(): Promise<number> {
  const t0 = performance.now();
  const limiter = makeLimiter();
  const jobs: Promise<void>[] = [];
  for (let h = 0; h < HOSTS; h++) {
    const sim = makeSimHost({ name: `floor${h}`, guests: PER_HOST, seed: h + 1, ...SIM });
    const d = simDriver(sim, { pollMs: 1 });
    for (const g of Object.values(sim.state.guests)) {
      jobs.push(
        limiter.run(h, LIMIT, async () => {
          const to = g.kernel.pvh ? 'pvh' : 'pvh-shim';
          const cur = await d.readFile(hostPath(g.configPath), 1 << 20);
          const rw = rewriteConfig(cur, g.configPath, to, { verdict: null, xenCaps: [] });
          if (!rw.ok) throw new Error(rw.reason);
          await d.shutdown(domainName(g.name), 5000);
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
    const fleet = await openFleet({ dataDir: dir, simInMemory: true, verify: VERIFY, shutdownTimeoutMs: 5000 });
    for (let h = 0; h < HOSTS; h++) {
      await fleet.store.addHost({
        name: `sim${h}`, transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: LIMIT,
        xen_version: null, xen_caps: null, virt_caps: null, last_seen: null, sim_spec: JSON.stringify({ guests: PER_HOST, seed: h + 1, ...SIM }),
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
    const ops = await Promise.all(
      guests.map(async (g) => {
        const v = JSON.parse(g.verdict!) as GuestVerdict;
        const r = await startSwitch(fleet.ctx, g, v.pvh.capable ? 'pvh' : 'pvh-shim', { force: false, actor: 'bench' });
        return r.kind === 'started' ? r.finished : null;
      }),
    );
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

const total = HOSTS * PER_HOST;
console.log(`fleet benchmark: ${total} guests on ${HOSTS} simulated hosts, per-host limit ${LIMIT}`);
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
