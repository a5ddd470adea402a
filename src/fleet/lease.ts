/**
 * Leases: the process that runs an operation holds it until `lease_until` and renews that every
 * HEARTBEAT_MS while it works. Another process (a second worker, a restarted pvhctl) takes an
 * operation over only once its lease has run out, so a worker that dies (kill -9, its machine
 * gone, cut off from the database) has its operations resumed or rolled back from the journal
 * within LEASE_MS plus the time until the next recovery pass.
 */
import { hostname } from 'node:os';
import type { Operation } from '../store/schema.ts';
import { FIRST_LEASE_MS, OWNER, type Store } from '../store/store.ts';

/** How long an operation stays with its owner without a heartbeat. */
export const LEASE_MS = FIRST_LEASE_MS;
/** How often the owner renews: three chances before the lease runs out. */
export const HEARTBEAT_MS = LEASE_MS / 3;

/** The operations this process holds, renewed on a timer. */
export type LeaseKeeper = {
  hold(id: number): void;
  release(id: number): void;
  holds(id: number): boolean;
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
  const waiters: (() => void)[] = [];
  const until = () => new Date(Date.now() + leaseMs).toISOString();
  // unref: a held lease never keeps a finished process alive; the database error of a failed
  // renewal is ignored here (the lease then runs out and another process takes over).
  const timer = setInterval(() => void store.renewLeases([...held], OWNER, until()).catch(() => {}), Math.max(5, leaseMs / 3));
  timer.unref();
  return {
    hold: (id) => void held.add(id),
    release: (id) => {
      held.delete(id);
      if (held.size === 0) for (const w of waiters.splice(0)) w();
    },
    holds: (id) => held.has(id),
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
 * this machine, when its pid is gone; elsewhere, when its lease has run out (or, for an operation written before
 * leases, when it has not changed for `staleMs`).
 * @example
 * takeable({ owner: 'xen-ctl2:4711', lease_until: '2026-01-01T00:00:00.000Z', ... }, leases, Date.now()) // => true
 */
export function takeable(op: Pick<Operation, 'id' | 'owner' | 'lease_until' | 'updated_at'>, leases: LeaseKeeper, now: number, staleMs: number): boolean {
  if (leases.holds(op.id)) return false;
  if (op.owner === null) return true;
  const [host, pid] = op.owner.split(':');
  // This very process (another fleet opened in it) is judged by the lease like any other owner.
  if (host === hostname() && Number(pid) !== process.pid) return !pidAlive(Number(pid));
  if (op.lease_until !== null) return Date.parse(op.lease_until) < now;
  return now - Date.parse(op.updated_at) >= staleMs;
}
