/**
 * Leases: the process that runs an operation holds it until `lease_until` and renews that every
 * HEARTBEAT_MS while it works. Another process (a second worker, a restarted pvhctl) takes an
 * operation over only once its lease has run out, so a worker that dies (kill -9, its machine
 * gone, cut off from the database, frozen) has its operations resumed or rolled back from the
 * journal within LEASE_MS plus the time until the next recovery pass.
 *
 * An owner that was only frozen (SIGSTOP, a VM paused, a stalled machine) wakes up still running
 * the operation: it must not act on the guest again. It stops as soon as it sees its lease is
 * gone: before each driver call (src/fleet/switch.ts load) when its own clock says the lease it
 * last renewed has run out, and at each journal entry and at the end, which are written only while
 * the operation's row still names it (src/store/store.ts fence). What remains is the moment
 * between that check and the call itself: Xen has no fencing token to close it.
 */
import { hostname } from 'node:os';
import type { Operation } from '../store/schema.ts';
import { FIRST_LEASE_MS, LeaseLost, OWNER, type Store } from '../store/store.ts';

export { LeaseLost };

/** How long an operation stays with its owner without a heartbeat. */
export const LEASE_MS = FIRST_LEASE_MS;
/** How often the owner renews: three chances before the lease runs out. */
export const HEARTBEAT_MS = LEASE_MS / 3;

/** The operations this process holds, renewed on a timer. */
export type LeaseKeeper = {
  hold(id: number): void;
  release(id: number): void;
  holds(id: number): boolean;
  /**
   * Throws LeaseLost if this process held `id` but may not any more: a renewal found another
   * owner, or the lease it last renewed has run out by this process's clock (it was frozen, or
   * cut off from the database). An operation not held here is not checked.
   */
  check(id: number): void;
  /** The lease end to write now. */
  until(): string;
  /** Resolves once this process holds no operation (SIGTERM waits for it before closing). */
  idle(): Promise<void>;
  stop(): void;
};

/**
 * A keeper that renews every held operation's lease each `leaseMs / 3`.
 * @example
 * const leases = leaseKeeper(store); leases.hold(op.id); ...; leases.release(op.id)
 */
export function leaseKeeper(store: Store, leaseMs = LEASE_MS): LeaseKeeper {
  const held = new Set<number>();
  /** Until when (this process's clock) each held lease is known to be ours. */
  const good = new Map<number, number>();
  const lost = new Set<number>();
  const waiters: (() => void)[] = [];
  const until = () => new Date(Date.now() + leaseMs).toISOString();
  const renew = async () => {
    const ids = [...held];
    if (ids.length === 0) return;
    // The clock read before the write: the lease written ends no earlier than this says.
    const from = Date.now();
    const kept = new Set(await store.renewLeases(ids, OWNER, new Date(from + leaseMs).toISOString()));
    for (const id of ids.filter((i) => held.has(i))) {
      if (kept.has(id)) good.set(id, from + leaseMs);
      else lost.add(id);
    }
  };
  // unref: a held lease never keeps a finished process alive; the database error of a failed
  // renewal is ignored here (the lease then runs out, check() says so, and another process takes over).
  const timer = setInterval(() => void renew().catch(() => {}), Math.max(5, leaseMs / 3));
  timer.unref();
  return {
    // Held just after the claim or the creation wrote a lease from `until()`: counted from now,
    // less a third for the write's own time, until the first renewal confirms it.
    hold: (id) => {
      held.add(id);
      good.set(id, Date.now() + (leaseMs * 2) / 3);
    },
    release: (id) => {
      held.delete(id);
      good.delete(id);
      lost.delete(id);
      if (held.size === 0) for (const w of waiters.splice(0)) w();
    },
    holds: (id) => held.has(id),
    check: (id) => {
      if (!held.has(id)) return;
      if (lost.has(id) || Date.now() >= good.get(id)!) throw new LeaseLost(id);
    },
    until,
    idle: () => (held.size === 0 ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    stop: () => clearInterval(timer),
  };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether recovery may take `op` over: not while this process runs it; from another process on
 * this machine, when its pid is gone; from any process, when its lease has run out (or, for an
 * operation written before leases, when it has not changed for `staleMs` and its owner is elsewhere).
 * @example
 * takeable({ owner: 'xen-ctl2:4711', lease_until: '2026-01-01T00:00:00.000Z', ... }, leases, Date.now()) // => true
 */
export function takeable(op: Pick<Operation, 'id' | 'owner' | 'lease_until' | 'updated_at'>, leases: LeaseKeeper, now: number, staleMs: number): boolean {
  if (leases.holds(op.id)) return false;
  if (op.owner === null) return true;
  const [host, pid] = op.owner.split(':');
  // This very process (another fleet opened in it) is judged by the lease like any other owner.
  // Another process on this machine: gone at once when its pid is; alive, it keeps the operation
  // only while its lease runs, as on another machine (a frozen process has a live pid).
  if (host === hostname() && Number(pid) !== process.pid && !pidAlive(Number(pid))) return true;
  if (op.lease_until !== null) return Date.parse(op.lease_until) < now;
  if (host === hostname() && Number(pid) !== process.pid) return false; // from before leases, its owner alive here
  return now - Date.parse(op.updated_at) >= staleMs;
}
