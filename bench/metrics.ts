/**
 * Do metrics scrapers slow a customer down? A customer lists their guests over HTTP on loopback
 * (GET /v1/guests with a customer token) on a simulated fleet, alone and while 16 scrapers hit
 * /metrics as fast as they can: once without a token (what anyone can send), once with an
 * operator token (the worst a legitimate Prometheus does). Reports the customer's median
 * latency in each case and its ratio to the quiet one, measured in the same run.
 *
 *   node bench/metrics.ts [GUESTS] [REQUESTS]      (default 2000 300)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { buildServer } from '../src/compose/servers.ts';
import { eventBus } from '../src/fleet/events.ts';
import { openFleet } from '../src/fleet/fleet.ts';

const GUESTS = Number(process.argv[2] ?? 2000);
const REQUESTS = Number(process.argv[3] ?? 300);
const SCRAPERS = 16;

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-bench-metrics-'));
const bus = eventBus();
const fleet = await openFleet({ dataDir: dir, onEvent: (e) => bus.emit(e) });
const host = await fleet.store.addHost({
  name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: GUESTS, seed: 7 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
  xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
});
await fleet.scan(host);
const app = await buildServer(fleet, { logger: pino({ level: 'silent' }), bus });
const base = await app.listen({ host: '127.0.0.1', port: 0 });
const operator = await fleet.store.addToken('operator', null);
const owner = (await fleet.store.listGuests({ limit: 1 }))[0]!.owner!;
const customer = await fleet.store.addToken('customer', owner);

async function customerMedianMs(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    const r = await fetch(`${base}/v1/guests`, { headers: { authorization: `Bearer ${customer}` } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`customer list: HTTP ${r.status}`);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** The scrapers run in a worker thread, so that they load the server, not the customer's client. */
const SCRAPER = `
const { parentPort, workerData } = require('node:worker_threads');
let stop = false, scrapes = 0, status = 0;
parentPort.on('message', () => { stop = true; });
const loop = async () => {
  while (!stop) {
    const r = await fetch(workerData.url, workerData.token === null ? {} : { headers: { authorization: 'Bearer ' + workerData.token } });
    await r.arrayBuffer();
    status = r.status;
    scrapes++;
  }
};
Promise.all(Array.from({ length: workerData.n }, loop)).then(() => parentPort.postMessage({ scrapes, status }));
`;

async function withScrapers(token: string | null, fn: () => Promise<number>): Promise<{ ms: number; scrapes: number; status: number }> {
  const worker = new Worker(SCRAPER, { eval: true, workerData: { url: `${base}/metrics`, token, n: SCRAPERS } });
  await new Promise((r) => setTimeout(r, 500)); // the scrapers are running
  const ms = await fn();
  const done = new Promise<{ scrapes: number; status: number }>((resolve) => worker.once('message', resolve));
  worker.postMessage('stop');
  const r = await done;
  await worker.terminate();
  return { ms, ...r };
}

await customerMedianMs(); // warm up
const quiet = await customerMedianMs();
const anon = await withScrapers(null, customerMedianMs);
const op = await withScrapers(operator, customerMedianMs);
const line = (name: string, r: { ms: number; scrapes: number; status: number }) =>
  `${name.padEnd(34)} ${r.ms.toFixed(2).padStart(7)} ms  x${(r.ms / quiet).toFixed(2)}  (${r.scrapes} scrapes, HTTP ${r.status})`;
console.log(`customer's guest list, median of ${REQUESTS}, ${GUESTS} guests, ${SCRAPERS} scrapers`);
console.log(`${'quiet'.padEnd(34)} ${quiet.toFixed(2).padStart(7)} ms  x1.00`);
console.log(line('scrapers without a token', anon));
console.log(line('scrapers with an operator token', op));
await app.close();
await fleet.close();
rmSync(dir, { recursive: true, force: true });
