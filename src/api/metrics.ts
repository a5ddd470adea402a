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
import type { Overview } from '../fleet/overview.ts';
import type { OperationEvent } from '../fleet/switch.ts';
import type { Operation } from '../store/schema.ts';
import type { Store } from '../store/store.ts';

/** Rendered metrics for a scrape. */
export type FleetMetrics = { contentType: string; render(): Promise<string> };

/** The statuses an operation ends in. */
export const FINAL = new Set<Operation['status']>(['done', 'refused', 'rolled-back', 'needs-attention']);

/**
 * Metrics over `store`, with operation outcomes counted from the event bus as they finish, and,
 * given `overview` (src/fleet/overview-input.ts readOverview), the campaign's and Xen-upgrade
 * readiness counts per host (labels: host names, a bounded set; never guests).
 * @example
 * const m = fleetMetrics(fleet.store, bus.emitter); await m.render() // => '# HELP pvhctl_guests ...'
 */
export function fleetMetrics(
  store: Pick<Store, 'countGuests' | 'listHosts' | 'getOperation'>,
  events: EventEmitter,
  opts: { maxAgeMs?: number; overview?: () => Promise<Overview> } = {},
): FleetMetrics {
  const maxAgeMs = opts.maxAgeMs ?? 5_000;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pvhctl_process_' });
  const guests = new Gauge({ name: 'pvhctl_guests', help: 'Guests by type and health', labelNames: ['type', 'health'], registers: [registry] });
  const hosts = new Gauge({ name: 'pvhctl_hosts', help: 'Hosts under management', registers: [registry] });
  const opsTotal = new Counter({ name: 'pvhctl_operations_total', help: 'Finished operations by kind and outcome', labelNames: ['kind', 'status'], registers: [registry] });
  const opSeconds = new Histogram({ name: 'pvhctl_operation_seconds', help: 'Duration of finished operations', labelNames: ['status'], buckets: [1, 5, 15, 30, 60, 120, 300, 600], registers: [registry] });
  const campaign = opts.overview === undefined ? null : campaignGauges(registry);
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
    const [counts, hostList, view] = await Promise.all([store.countGuests(), store.listHosts(), opts.overview?.()]);
    if (campaign !== null && view !== undefined) campaign(view);
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

/** The campaign overview's gauges; returns the function that sets them from an overview. */
function campaignGauges(registry: Registry): (o: Overview) => void {
  const g = (name: string, help: string, labelNames: string[]) => new Gauge({ name, help, labelNames, registers: [registry] });
  const pv = g('pvhctl_pv_guests', 'Guests still running as PV, per host', ['host']);
  const pv32 = g('pvhctl_pv32_guests', 'Guests still running as 32-bit PV (width unknown: never inspected), per host', ['host', 'width']);
  const ready = g('pvhctl_xen_ready', 'Whether the host could boot a Xen without 32-bit PV (CONFIG_PV32=n) or without PV today: 1 yes, 0 no', ['host', 'without']);
  const hostsReady = g('pvhctl_hosts_xen_ready', 'Hosts that could boot a Xen without 32-bit PV, or without PV, today', ['without']);
  const hvm = g('pvhctl_guests_need_hvm', 'Guests that need HVM and are not on an hvm-dedicated host, per host', ['host']);
  // Waves are counted, not labelled: a large fleet's plan has thousands.
  const waves = g('pvhctl_plan_waves', 'Waves in the default campaign plan (the canary wave included)', []);
  const planned = g('pvhctl_plan_guests', 'Guests the default campaign plan schedules, by switch target and wave kind', ['kind', 'to']);
  const held = g('pvhctl_plan_held_guests', 'Guests the default campaign plan holds back, by path', ['path']);
  const failures = g('pvhctl_campaign_failures', 'Guests whose switch rolled back (and stayed so) or that need attention', ['status']);
  return (o) => {
    for (const x of [pv, pv32, ready, hostsReady, hvm, waves, planned, held, failures]) x.reset();
    for (const h of o.readiness.hosts) {
      pv.set({ host: h.host }, h.pvLeft);
      pv32.set({ host: h.host, width: '32' }, h.pv32Left);
      pv32.set({ host: h.host, width: 'unknown' }, h.pv32Unknown);
      ready.set({ host: h.host, without: 'pv32' }, Number(h.withoutPv32.kind !== 'not-ready'));
      ready.set({ host: h.host, without: 'pv' }, Number(h.withoutPv.kind !== 'not-ready'));
      hvm.set({ host: h.host }, h.needsHvm.length);
    }
    hostsReady.set({ without: 'pv32' }, o.readiness.totals.readyWithoutPv32);
    hostsReady.set({ without: 'pv' }, o.readiness.totals.readyWithoutPv);
    waves.set(o.waves.length);
    for (const kind of ['canary', 'main'] as const) {
      const of = o.waves.filter((w) => w.kind === kind);
      planned.set({ kind, to: 'pvh' }, of.reduce((n, w) => n + w.toPvh, 0));
      planned.set({ kind, to: 'pvh-shim' }, of.reduce((n, w) => n + w.toShim, 0));
    }
    for (const [path, n] of Object.entries(o.held)) held.set({ path }, n);
    failures.set({ status: 'rolled-back' }, o.totals.rolledBackLeft);
    failures.set({ status: 'needs-attention' }, o.totals.attention);
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
