/**
 * The fleet's Prometheus metrics: counts and durations only, no per-guest labels (cardinality
 * stays bounded). They are read from the store and rendered at most once per `maxAgeMs`, and
 * scrapes that arrive together share one rendering, so any number of scrapers costs one
 * fleet-wide query per interval, not one per scrape. Operation outcomes are counted as they
 * finish, from the event bus.
 */
import type { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { OperationEvent } from '../fleet/switch.ts';
import type { Operation } from '../store/schema.ts';
import type { Store } from '../store/store.ts';

/** Rendered metrics for a scrape. */
export type FleetMetrics = { contentType: string; render(): Promise<string> };

/** The statuses an operation ends in. */
export const FINAL = new Set<Operation['status']>(['done', 'refused', 'rolled-back', 'needs-attention']);

/**
 * Metrics over `store`, with operation outcomes counted from the event bus as they finish.
 * @example
 * const m = fleetMetrics(fleet.store, bus.emitter); await m.render() // => '# HELP pvhctl_guests ...'
 */
export function fleetMetrics(store: Pick<Store, 'countGuests' | 'listHosts' | 'getOperation'>, events: EventEmitter, opts: { maxAgeMs?: number } = {}): FleetMetrics {
  const maxAgeMs = opts.maxAgeMs ?? 5_000;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pvhctl_process_' });
  const guests = new Gauge({ name: 'pvhctl_guests', help: 'Guests by type and health', labelNames: ['type', 'health'], registers: [registry] });
  const hosts = new Gauge({ name: 'pvhctl_hosts', help: 'Hosts under management', registers: [registry] });
  const opsTotal = new Counter({ name: 'pvhctl_operations_total', help: 'Finished operations by kind and outcome', labelNames: ['kind', 'status'], registers: [registry] });
  const opSeconds = new Histogram({ name: 'pvhctl_operation_seconds', help: 'Duration of finished operations', labelNames: ['status'], buckets: [1, 5, 15, 30, 60, 120, 300, 600], registers: [registry] });
  events.on('any', (e: OperationEvent) => {
    if (e.status === undefined || !FINAL.has(e.status)) return;
    void store.getOperation(e.operationId).then((op) => {
      if (!op) return;
      opsTotal.inc({ kind: op.kind, status: op.status });
      opSeconds.observe({ status: op.status }, (Date.now() - Date.parse(op.created_at)) / 1000);
    });
  });

  // One rendering serves every scrape within maxAgeMs (Prometheus scrapes every 15 s or so);
  // scrapes that arrive while it is being made wait for the same one.
  let text = '';
  let madeAt = -Infinity;
  let making: Promise<string> | null = null;
  const make = async () => {
    const [counts, hostList] = await Promise.all([store.countGuests(), store.listHosts()]);
    guests.reset();
    for (const c of counts) guests.set({ type: c.type, health: c.health }, c.n);
    hosts.set(hostList.length);
    text = await registry.metrics();
    madeAt = performance.now();
    return text;
  };
  return {
    contentType: registry.contentType,
    render() {
      if (performance.now() - madeAt < maxAgeMs) return Promise.resolve(text);
      making ??= make().finally(() => {
        making = null;
      });
      return making;
    },
  };
}

/**
 * Serves GET /metrics, and nothing else, without a token on its own address: for a Prometheus
 * that reaches the control plane over a management network the API's clients cannot reach.
 * @example
 * const m = await serveMetrics(metrics, '10.0.0.5', 9464); // curl http://10.0.0.5:9464/metrics
 */
export async function serveMetrics(metrics: FleetMetrics, host: string, port: number): Promise<{ address: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics here\n');
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be read\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return { address: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
