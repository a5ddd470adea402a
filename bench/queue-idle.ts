/**
 * What idle job pollers cost PostgreSQL: a queue with no jobs, worked with N pollers (one per
 * concurrent job, as `pvhctl worker --concurrency N` runs them), for 20 s; prints the CPU time
 * PostgreSQL (the postmaster and its backends) and this process used per second.
 *
 *   node bench/queue-idle.ts [POLLERS]   (default 108)
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { postgres } from '../test/support/postgres.ts';
import { pgBossQueue } from '../src/fleet/queue.ts';

/** CPU ms of a process from /proc/PID/stat (utime + stime, and its reaped children's with `children`). */
function cpuMs(pid: number, children = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0)) * 10; // USER_HZ 100
}

/** CPU ms of the cluster: its postmaster (with the backends that exited) and its live backends. */
function clusterCpuMs(dir: string): number {
  const postmaster = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  let ms = cpuMs(postmaster, true);
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster) ms += cpuMs(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return ms;
}

const POLLERS = Number(process.argv[2] ?? 108);
const cluster = await postgres();
const queue = await pgBossQueue(await cluster.newDatabase());
await queue.work(async () => {}, { concurrency: POLLERS });
await new Promise((r) => setTimeout(r, 3000)); // past the start-up
const pg0 = clusterCpuMs(cluster.dir);
const own0 = process.cpuUsage();
const t0 = Date.now();
await new Promise((r) => setTimeout(r, 20_000));
const s = (Date.now() - t0) / 1000;
const own = process.cpuUsage(own0);
console.log(`${POLLERS} idle pollers: PostgreSQL ${((clusterCpuMs(cluster.dir) - pg0) / s).toFixed(0)} ms CPU/s, the polling process ${((own.user + own.system) / 1000 / s).toFixed(0)} ms CPU/s`);
await queue.stopWork();
await queue.close();
