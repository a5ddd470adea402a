/**
 * A worker: takes operations from the job queue and runs them, any number of workers on any
 * machines over one PostgreSQL store. Each operation is claimed by compare-and-set and held by a
 * lease renewed while it runs; the per-host limit is a row lock on the host in the store
 * (takeHostSlot). Every lease-period / 3 a worker also sweeps the store for operations whose
 * owner's lease ran out (a worker killed or cut off) and resumes or rolls them back from their
 * journal, so a dead worker's operation is finished within one lease plus one sweep.
 */
import type { Operation } from '../store/schema.ts';
import { LeaseLost, OWNER } from '../store/store.ts';
import { localElsewhere } from '../drivers/open.ts';
import { takeable } from './lease.ts';
import type { OperationQueue } from './queue.ts';
import { resumeOperation, runOperation } from './operations.ts';
import { held, ownerLive, STALE_MS, type FleetContext } from './switch.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How often a waiting operation asks again for a slot on its host. */
const SLOT_POLL_MS = 200;

/**
 * Runs operation `id` if nobody else holds it: a pending one from its first step once its host
 * has a free slot, a running one (its worker died) from its journal. Safe to call twice, from two
 * workers at once: only the claim's winner acts.
 * @example
 * await runQueued(ctx, 12) // => 'ran' | 'not-mine' | 'lease-lost' | { elsewhere: 'host xen1 is the local xl of machine ...' }
 */
export async function runQueued(ctx: FleetContext, id: number): Promise<'ran' | 'not-mine' | 'lease-lost' | { elsewhere: string }> {
  const op = await ctx.store.getOperation(id);
  if (op === undefined || (op.status !== 'pending' && op.status !== 'running')) return 'not-mine';
  if (!takeable(op, ctx.leases, Date.now(), STALE_MS)) return 'not-mine';
  // A `local` host's xl is on the machine it was added on: a worker elsewhere leaves it alone,
  // unclaimed, for a worker on that machine (running its own xl would act on the wrong dom0).
  const guest = await ctx.store.getGuestById(op.guest_id);
  const host = guest === undefined ? undefined : await ctx.store.getHostById(guest.host_id);
  const elsewhere = host === undefined ? null : localElsewhere(host);
  if (elsewhere !== null) return { elsewhere };
  // Compare-and-set on the owner and the lease end read: an owner that renewed since keeps it.
  if (!(await ctx.store.claimOperation(op.id, op.owner, OWNER, ctx.leases.until(), op.lease_until))) return 'not-mine';
  try {
    await held(ctx, op.id, async () => {
      if (op.status === 'running') return resumeOperation(ctx, op);
      while (!(await ctx.store.takeHostSlot(op.id, ownerLive))) {
        ctx.leases.check(op.id);
        await sleep(SLOT_POLL_MS);
      }
      return runOperation(ctx, op);
    });
  } catch (err) {
    // Frozen past the lease and taken over meanwhile: the new owner finishes it; not an error.
    if (err instanceof LeaseLost) return 'lease-lost';
    throw err;
  }
  return 'ran';
}

/** Operations a sweep may take over: running or claimed ones whose owner's lease ran out. */
function orphaned(ctx: FleetContext, op: Operation): boolean {
  if (op.status === 'pending' && op.owner === null) return false; // queued: the queue hands it out
  return takeable(op, ctx.leases, Date.now(), STALE_MS);
}

export type Worker = {
  /** Stops taking work and waits for what is in flight to finish. */
  stop(): Promise<void>;
};

/**
 * Starts working the queue: up to `concurrency` operations at once in this process, and a sweep
 * for orphaned operations every `sweepMs`.
 * @example
 * const w = await startWorker(fleet.ctx, await pgBossQueue(url), { concurrency: 16, sweepMs: 10_000 });
 * process.on('SIGTERM', () => w.stop().then(() => process.exit(0)));
 */
export async function startWorker(ctx: FleetContext, queue: OperationQueue, opts: { concurrency: number; sweepMs: number; log?: (line: string) => void }): Promise<Worker> {
  const inFlight = new Set<Promise<unknown>>();
  let stopping = false;
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  };
  const run = async (id: number) => {
    const r = await runQueued(ctx, id);
    if (r === 'lease-lost') opts.log?.(`operation ${id}: lease lost (this worker was stopped or cut off past its lease); left to its new owner`);
    if (typeof r === 'object') opts.log?.(`operation ${id}: not taken: ${r.elsewhere}`);
    return r;
  };
  const sweep = async () => {
    for (const op of await ctx.store.inFlightOperations()) {
      if (stopping) return;
      if (!orphaned(ctx, op)) continue;
      opts.log?.(`taking over operation ${op.id} (owner ${op.owner ?? 'none'}, lease until ${op.lease_until ?? '-'})`);
      void track(run(op.id)).catch((err: unknown) => opts.log?.(`operation ${op.id}: ${err instanceof Error ? err.message : String(err)}`));
    }
  };
  let sweeping = Promise.resolve();
  const timer = setInterval(() => {
    sweeping = sweeping.then(sweep).catch((err: unknown) => opts.log?.(`sweep: ${err instanceof Error ? err.message : String(err)}`));
  }, opts.sweepMs);
  await queue.work(async (job) => {
    if (stopping) throw new Error('worker stopping'); // pg-boss retries it on another worker
    const r = await track(run(job.operationId));
    // Handed back: pg-boss retries the job, on a worker of the local host's machine in the end.
    if (typeof r === 'object') throw new Error(r.elsewhere);
  }, { concurrency: opts.concurrency });
  return {
    async stop() {
      stopping = true;
      clearInterval(timer);
      await queue.stopWork();
      await sweeping;
      await Promise.allSettled([...inFlight]);
    },
  };
}
