/**
 * The fleet: the store, the host drivers and the switch machinery wired together. The CLI, the
 * REST API and the benchmark all open one of these.
 */
import { openStore, type Store } from '../store/store.ts';
import type { Host } from '../store/schema.ts';
import { hostRegistry, type HostRegistry } from './hosts.ts';
import { knownKernelInspector, xlInspector } from './inspect.ts';
import { readConfigFacts, rewriteConfig } from './xlconfig.ts';
import { scanHost, type ScanResult } from './scan.ts';
import type { InspectGuest } from './seams.ts';
import { recover } from './operations.ts';
import { makeContext, type FleetContext } from './switch.ts';
import { DEFAULT_VERIFY } from './verify.ts';
import { recoverRehearsals } from './rehearse.ts';
import type { OperationQueue } from './queue.ts';

export type FleetOptions = {
  /** The data directory (SQLite file, simulated hosts), or ':memory:'. */
  dataDir: string;
  /**
   * Where the store is, when not the SQLite file in `dataDir`: a `postgresql://` URL (`--store`,
   * PVHCTL_STORE). The data directory still holds this machine's own files (simulated hosts, keys).
   */
  store?: string;
  /** The job queue on PostgreSQL (src/fleet/queue.ts): operations go to workers. Closed with the fleet. */
  queue?: OperationQueue;
  /** Finish what a crash left unfinished before returning (default true; read-only commands skip it). */
  recover?: boolean;
  /** Keep simulated hosts in memory only, even with a data directory (benchmarks). */
  simInMemory?: boolean;
} & Partial<Pick<FleetContext, 'verify' | 'shutdownTimeoutMs' | 'rehearsal' | 'onEvent' | 'afterJournal'>>;

export type Fleet = {
  store: Store;
  hosts: HostRegistry;
  ctx: FleetContext;
  inspectorFor(host: Host): InspectGuest;
  scan(host: Host, onGuest?: (name: string) => void, dryRun?: boolean): Promise<ScanResult>;
  close(): Promise<void>;
};

/**
 * Opens the store in `dataDir` and finishes whatever a crash left unfinished (recover) before
 * anything else runs.
 * @example
 * const fleet = await openFleet({ dataDir: '/var/lib/pvhctl' });
 * await fleet.scan((await fleet.store.getHost('xen1'))!)
 */
export async function openFleet(opts: FleetOptions): Promise<Fleet> {
  const store = await openStore(opts.store ?? opts.dataDir);
  // Trust on first use: the first SSH host key seen is recorded and pinned from then on.
  const hosts = hostRegistry(opts.dataDir === ':memory:' || opts.simInMemory ? null : opts.dataDir, (host, key) => {
    void store.updateHost(host.id, { host_key: key }).then(() => store.audit('pvhctl', 'host-key-recorded', host.name, key.split(' ')[0] ?? null));
  });
  const ctx = makeContext({
    store,
    driverFor: (h) => hosts.driverFor(h),
    readFacts: readConfigFacts,
    rewrite: rewriteConfig,
    verify: opts.verify ?? DEFAULT_VERIFY,
    ...(opts.shutdownTimeoutMs !== undefined ? { shutdownTimeoutMs: opts.shutdownTimeoutMs } : {}),
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(opts.afterJournal ? { afterJournal: opts.afterJournal } : {}),
    ...(opts.rehearsal ? { rehearsal: opts.rehearsal } : {}),
    ...(opts.queue ? { queue: opts.queue } : {}),
  });
  const inspectorFor = (host: Host): InspectGuest => {
    const driver = hosts.driverFor(host);
    if (driver.knownKernel !== undefined) return knownKernelInspector(driver);
    return xlInspector(driver, { local: host.transport === 'local', dataDir: opts.dataDir === ':memory:' ? null : opts.dataDir });
  };
  const fleet: Fleet = {
    store,
    hosts,
    ctx,
    inspectorFor,
    scan: (host, onGuest, dryRun) => scanHost(ctx, host, inspectorFor(host), { ...(onGuest ? { onGuest } : {}), ...(dryRun ? { dryRun } : {}) }),
    async close() {
      ctx.leases.stop();
      await opts.queue?.close();
      await hosts.closeAll();
      await store.close();
    },
  };
  if (opts.recover !== false) {
    await recover(ctx);
    await recoverRehearsals(ctx);
  }
  return fleet;
}
