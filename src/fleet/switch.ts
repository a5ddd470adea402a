/**
 * The switch state machine: pre-check → keep the current config → graceful shutdown → write the new
 * config atomically → create → verify → done; on any failure, roll back (destroy, restore the kept
 * config byte-identical, boot, verify). Every step is journaled before it acts; `resume()` finishes
 * or rolls back whatever a crash left unfinished (operations whose owning process is gone).
 */
import { hostname } from 'node:os';
import { DriverError, domainName, failureOf, hostPath, type HostDriver } from '../drivers/driver.ts';
import type { Guest, Host, Operation, PriorState, Tables } from '../store/schema.ts';
import type { Transaction } from 'kysely';
import { isSwitchTarget, type GuestType, type SwitchTarget } from './types.ts';
import type { SwitchFailure } from './outcomes.ts';
import { operatorRefusalWords, reasonColumns, storedReason, type Reason, type Refusal } from './reasons.ts';
import { LeaseLost, OWNER, sqlIn, type Db, type JournalAlso, type JournalWrite, type Store } from '../store/store.ts';
import { followOperation } from './follow.ts';
import { leaseKeeper, type LeaseKeeper } from './lease.ts';
import type { OperationQueue } from './queue.ts';
import { makeLimiter, type Limiter } from './limiter.ts';
import { allowed, type PolicyResult } from './policy.ts';
import type { RehearsalOptions } from './rehearse-plan.ts';
import type { ReadConfigFacts, RewriteConfig } from './seams.ts';
import { decodeVerdict } from './stored-verdict.ts';
import { MAX_CONFIG } from '../xlcfg/facts.ts';
import type { PodChoice } from '../xlcfg/rewrite.ts';
import { resumeFrom, type OperationStep, type Step } from './steps.ts';
import { unifiedDiff } from '../util/diff.ts';
import { printable } from '../util/escape.ts';
import { DEFAULT_VERIFY, runningType, verifyBoot, type VerifyOptions } from './verify.ts';

/**
 * Progress of one operation, for SSE streams and progress bars: one journal entry as an event; the
 * last event's `step` is the operation's final status.
 */
export type OperationEvent = { operationId: number; guest: string; step: OperationStep | Operation['status']; phase: 'begin' | 'done' | 'failed'; status?: Operation['status']; message?: string };

export type FleetContext = {
  store: Store;
  driverFor: (host: Host) => HostDriver;
  readFacts: ReadConfigFacts;
  rewrite: RewriteConfig;
  limiter: Limiter;
  /** The operations this process runs, their leases renewed while they run (src/fleet/lease.ts). */
  leases: LeaseKeeper;
  /** Set on PostgreSQL: operations go to the job queue and `pvhctl worker` processes run them. */
  queue?: OperationQueue;
  verify: VerifyOptions;
  shutdownTimeoutMs: number;
  /** Rehearsal options this fleet's test boots start from (pvhctl.conf's rehearse section); a request's own win. */
  rehearsal?: Partial<RehearsalOptions>;
  onEvent?: (e: OperationEvent) => void;
  /** Called after each journal entry is committed (tests stop the process here). */
  afterJournal?: (operationId: number, seq: number, step: string, phase: string) => Promise<void> | void;
};

export function makeContext(c: Pick<FleetContext, 'store' | 'driverFor' | 'readFacts' | 'rewrite'> & Partial<FleetContext>): FleetContext {
  return { limiter: makeLimiter(), leases: c.leases ?? leaseKeeper(c.store), verify: DEFAULT_VERIFY, shutdownTimeoutMs: 60_000, ...c };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retries a driver call that failed because the host was unreachable (a dropped SSH session). */
export async function retry<T>(fn: () => Promise<T>, tries = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof DriverError && err.kind === 'unreachable') || i >= tries) throw err;
      await sleep(50 * 2 ** i);
    }
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Policy rules that --force may override: they come from inspection, not from the host. */
const OVERRIDABLE: ReadonlySet<Refusal['code']> = new Set(['kernel-no-pvh', 'kernel-no-pv', 'not-inspected']);

/** What the pre-check found: the plan, or why the switch may not happen. */
export type Precheck =
  | { ok: true; guest: Guest; host: Host; from: GuestType; to: SwitchTarget; wasRunning: boolean; current: Uint8Array; next: Uint8Array; changes: string[]; diff: string }
  | { ok: false; guest: Guest; host: Host; refusal: Refusal };

/**
 * Reads the guest's config from its host and checks policy, inspection verdict and rewrite.
 * Changes nothing (this is also `--dry-run`).
 */
export async function precheck(ctx: FleetContext, guest: Guest, to: SwitchTarget, opts: { force?: boolean; pod?: PodChoice } = {}): Promise<Precheck> {
  const host = await ctx.store.getHostById(guest.host_id);
  if (host === undefined) throw new Error(`guest ${guest.name}: host ${guest.host_id} not found`);
  const no = (refusal: Refusal): Precheck => ({ ok: false, guest, host, refusal });
  if (guest.current_type === to) return no({ code: 'same-type', type: to });
  const driver = ctx.driverFor(host);
  let current: Uint8Array;
  try {
    current = await retry(() => driver.readFile(hostPath(guest.config_path), MAX_CONFIG));
  } catch (err) {
    return no({ code: 'config-unreadable', cause: failureOf(err), detail: errText(err) });
  }
  const facts = ctx.readFacts(current, guest.config_path);
  if (!facts.ok) return no({ code: 'config-invalid', detail: facts.error });
  const verdict = decodeVerdict(guest.verdict);
  const caps = { xenCaps: (host.xen_caps ?? '').split(' ').filter(Boolean), virtCaps: (host.virt_caps ?? '').split(' ').filter(Boolean), role: host.role };
  const policy: PolicyResult = allowed(to, caps, verdict, facts.facts);
  // --force may override what inspection says about the kernel (a stale or unknown verdict: the
  // verified boot and the automatic rollback still guard the guest), never the host's policy.
  const overridable = !policy.ok && opts.force === true && OVERRIDABLE.has(policy.refusal.code);
  if (!policy.ok && !overridable) return no(policy.refusal);
  // An overridden verdict is not handed to the rewrite either (it would refuse on it).
  const rw = ctx.rewrite(current, guest.config_path, to, { verdict: overridable ? null : verdict, xenCaps: caps.xenCaps, ...(opts.pod === undefined ? {} : { pod: opts.pod }) });
  if (!rw.ok) return no(rw.pod !== undefined ? { code: 'pod', to, ...rw.pod } : { code: 'rewrite', to, detail: rw.reason });
  if (!policy.ok) rw.changes.unshift(`--force overrides the inspection verdict (${policy.refusal.code})`);
  let dom;
  try {
    dom = await retry(() => driver.domain(domainName(guest.name)));
  } catch (err) {
    return no({ code: 'host-unreachable', cause: failureOf(err), detail: errText(err) });
  }
  // A crashed domain is kept (on_crash = "preserve") for someone to look at: not ours to replace.
  if (dom !== null && dom.state === 'crashed') return no({ code: 'crashed' });
  // A stopped guest is switched too (its config rewritten and booted, then verified): that is how
  // a guest whose PV config this host can no longer boot (32-bit PV) is brought back as PVH.
  const from = dom !== null ? runningType(dom) : facts.facts.type;
  if (from === to) return no({ code: 'same-type', type: to });
  const dec = new TextDecoder('latin1');
  // Guest-controlled text: each line escaped before it reaches a terminal or a web page.
  const raw = unifiedDiff(dec.decode(current), dec.decode(rw.content), guest.config_path, `${guest.config_path} (${to})`);
  const diff = raw.split('\n').map(printable).join('\n');
  return { ok: true, guest, host, from, to, wasRunning: dom !== null, current, next: rw.content, changes: rw.changes, diff };
}

/** The result of asking for a switch. */
export type SwitchRequest =
  | { kind: 'refused'; refusal: Refusal; operation: Operation | null }
  | { kind: 'started'; operation: Operation; finished: Promise<Operation> };

/** The job queue threw while taking an operation's job (the transaction that made the operation is undone with it). */
class QueueRefused extends Error {}

/** The first line of a queue's error, bounded and escaped: it reaches terminals and web pages. */
const queueDetail = (err: unknown) => printable((errText(err).split('\n')[0] ?? '').slice(0, 200));

/**
 * Creates operation `o` on `guest` (refused as busy while the guest has one unfinished), with
 * `also` in the same transaction, and hands it on. On PostgreSQL its worker's job is written in
 * that transaction too (pg-boss's `db` option), so the operation and its job both exist or neither
 * does: a process that dies, or a queue that throws, mid-way leaves no operation without a job
 * (which nobody would ever run, its guest refused as busy for good). A queue that throws is
 * answered as the refusal `queue-unavailable`, nothing written. Without a queue (the embedded
 * store) the operation is created owned by this process, with a lease, and run here by `run`
 * under the host's limit: if this process dies before it runs, the next pvhctl to start (recover)
 * takes it over once that lease has run out.
 * @example
 * const r = await startOperation(ctx, guest, { guest_id: guest.id, kind: 'reboot', ... }, also, (id) => runPower(ctx, id));
 * r.kind // => 'started' | 'refused'
 */
export async function startOperation(
  ctx: FleetContext,
  guest: Guest,
  o: Parameters<Store['createOperationIfIdle']>[0],
  also: (t: Transaction<Tables>, op: Operation) => Promise<void>,
  run: (id: number) => Promise<Operation>,
): Promise<SwitchRequest> {
  const limit = (await ctx.store.getHostById(guest.host_id))?.max_parallel ?? 1;
  const queue = ctx.queue;
  let op: Operation | null;
  try {
    op = await ctx.store.createOperationIfIdle(
      o,
      async (t, created) => {
        await also(t, created);
        if (queue === undefined) return;
        await queue.submitMany([{ job: { operationId: created.id }, host: { hostId: guest.host_id, limit } }], sqlIn(t)).catch((err: unknown) => {
          throw new QueueRefused(queueDetail(err));
        });
      },
      queue ? 'queued' : 'here',
    );
  } catch (err) {
    if (err instanceof QueueRefused) return { kind: 'refused', refusal: { code: 'queue-unavailable', detail: err.message }, operation: null };
    throw err;
  }
  if (op === null) return busy();
  const id = op.id;
  // Queued: `finished` follows its journal from the store (a worker's steps reach ctx.onEvent).
  if (queue) return { kind: 'started', operation: op, finished: followOperation(ctx.store, id, guest.name, ctx.onEvent) };
  const finished = held(ctx, id, () => ctx.limiter.run(guest.host_id, limit, () => run(id)));
  return { kind: 'started', operation: op, finished };
}

/** Runs `fn` holding the lease on operation `id` (renewed while it waits for a slot and while it runs). */
export async function held<T>(ctx: FleetContext, id: number, fn: () => Promise<T>): Promise<T> {
  ctx.leases.hold(id);
  try {
    return await fn();
  } finally {
    ctx.leases.release(id);
  }
}

/** The refusal of a second operation on a guest while one is in progress. */
export const busy = (): SwitchRequest => ({ kind: 'refused', refusal: { code: 'busy' }, operation: null });

/**
 * Starts a switch: creates the operation (refusing a second one on the same guest), then runs the
 * state machine under the host's concurrency limit. `finished` resolves with the final operation.
 */
export async function startSwitch(ctx: FleetContext, guest: Guest, to: SwitchTarget, opts: { force: boolean; actor: string; pod?: PodChoice }): Promise<SwitchRequest> {
  return startOperation(
    ctx,
    guest,
    { guest_id: guest.id, kind: 'switch', from_type: guest.current_type, to_type: to, force: opts.force ? 1 : 0, requested_by: opts.actor, pod: opts.pod ?? null },
    async (t) => {
      await ctx.store.updateGuest(guest.id, { health: 'switching' }, t);
      await ctx.store.audit(opts.actor, 'switch', guest.name, `to ${to}${opts.force ? ' (force)' : ''}`, t);
    },
    (id) => runSwitch(ctx, id),
  );
}

/** Guests per transaction in startSwitches: each batch commits as a whole, and no lock is held for the whole fleet. */
export const SWITCH_BATCH = 1000;

/** How a switch asked for in a batch goes on: run here (`finished` resolves with its end), or queued for the workers. */
export type BatchRun = { where: 'here'; finished: Promise<Operation> } | { where: 'queued' };

/** The result of asking for many switches at once: the ones started, and the guests refused as busy. */
export type SwitchBatch = { started: { guest: Guest; operation: Operation; run: BatchRun }[]; busy: Guest[] };

/**
 * Starts many switches with the same guarantees as startSwitch, with a few statements per
 * SWITCH_BATCH guests instead of a transaction per guest: the operations, the guests' health, the
 * audit rows and (on PostgreSQL) the workers' jobs are written in one transaction per batch, the
 * busy check inside it, so an operation is never left queued without its job. A guest with an
 * unfinished operation (or named twice) is refused as busy. Queued operations are not followed
 * here: the store has their progress (followOperation when someone wants it).
 * @example
 * const b = await startSwitches(ctx, [{ guest: web1, to: 'pvh' }, { guest: db1, to: 'pvh-shim' }], { force: false, actor: 'cli' });
 * b.started.length // => 2
 */
export async function startSwitches(ctx: FleetContext, reqs: { guest: Guest; to: SwitchTarget }[], opts: { force: boolean; actor: string }): Promise<SwitchBatch> {
  const limits = new Map((await ctx.store.listHosts()).map((h) => [h.id, h.max_parallel]));
  const out: SwitchBatch = { started: [], busy: [] };
  for (let i = 0; i < reqs.length; i += SWITCH_BATCH) {
    const part = reqs.slice(i, i + SWITCH_BATCH);
    const byGuest = new Map(part.map((r) => [r.guest.id, r.guest]));
    const ops = await ctx.store.createOperationsIfIdle(
      part.map(({ guest, to }) => ({ guest_id: guest.id, kind: 'switch' as const, from_type: guest.current_type, to_type: to, force: opts.force ? 1 : 0, requested_by: opts.actor })),
      async (t, created) => {
        await ctx.store.setGuestsHealth(created.map((o) => o.guest_id), 'switching', t);
        await ctx.store.auditMany(created.map((o) => ({ actor: opts.actor, action: 'switch', target: byGuest.get(o.guest_id)!.name, detail: `to ${o.to_type}${opts.force ? ' (force)' : ''}` })), t);
        const jobs = created.map((o) => ({ job: { operationId: o.id }, host: { hostId: byGuest.get(o.guest_id)!.host_id, limit: limits.get(byGuest.get(o.guest_id)!.host_id) ?? 1 } }));
        if (ctx.queue) await ctx.queue.submitMany(jobs, sqlIn(t));
      },
      ctx.queue ? 'queued' : 'here',
    );
    const started = new Set(ops.map((o) => o.guest_id));
    for (const op of ops) {
      const guest = byGuest.get(op.guest_id)!;
      const run: BatchRun = ctx.queue
        ? { where: 'queued' }
        : { where: 'here', finished: held(ctx, op.id, () => ctx.limiter.run(guest.host_id, limits.get(guest.host_id) ?? 1, () => runSwitch(ctx, op.id))) };
      out.started.push({ guest, operation: op, run });
    }
    // A guest named twice in the batch: its first request started, the second is busy.
    const seen = new Set<number>();
    for (const r of part) {
      if (started.has(r.guest.id) && !seen.has(r.guest.id)) seen.add(r.guest.id);
      else out.busy.push(r.guest);
    }
  }
  return out;
}

/**
 * Journals one step (before it acts) and reports it; `with_` is recorded in the same transaction.
 * An operation this process holds is journaled only while its lease is still this process's
 * (LeaseLost otherwise: a frozen owner that woke up after a takeover writes nothing more).
 */
export async function journal(ctx: FleetContext, op: Operation, guest: string, step: Step, phase: 'begin' | 'done' | 'failed', detail: string | null = null, with_: { prior_state?: PriorState | null } = {}) {
  await journalAll(ctx, op, guest, [{ step, phase, detail }], with_);
}

/**
 * Journals several entries at once: a step's `done` and the next step's `begin` when nothing acts
 * between them, one statement and one transaction where two took two (src/store/store.ts
 * journalSteps). Every entry is still written before what it begins acts.
 */
async function journalAll(ctx: FleetContext, op: Operation, guest: string, entries: readonly JournalWrite[], with_: JournalAlso = {}) {
  if (entries.length === 0) return;
  ctx.leases.check(op.id);
  const written = await ctx.store.journalSteps(op.id, entries, with_, ctx.leases.holds(op.id) ? OWNER : undefined);
  for (const e of written) {
    ctx.onEvent?.({ operationId: op.id, guest, step: e.step, phase: e.phase, message: e.detail ?? undefined });
    await ctx.afterJournal?.(op.id, e.seq, e.step, e.phase);
  }
}

/**
 * Ends a switch or a rollback: its status and outcome (a refusal or an outcome kept as its code
 * and parameters, src/fleet/reasons.ts, with its customer words in `reason` for readers from
 * before codes), the guest's type, health and run state, the audit log.
 */
async function finish(ctx: FleetContext, op: Operation, guest: Guest, status: Operation['status'], fields: { outcome: Reason; detail: string | null; type?: GuestType }) {
  // Done and rolled back leave the guest as it was before (running or stopped); a failed rollback
  // leaves it in a state nobody checked.
  // A finished switch boots the guest in its new type (also one that was stopped); a rollback
  // boots it only when it is known to have been running (prior_state).
  const wasRunning = (await ctx.store.getOperation(op.id))?.prior_state === 'running';
  const runState = status === 'done' ? 'running' : status === 'rolled-back' ? (wasRunning ? 'running' : 'stopped') : status === 'needs-attention' ? null : undefined;
  const columns = reasonColumns(fields.outcome);
  await owned(ctx, op.id, async (t) => {
    await ctx.store.updateOperation(op.id, { status, detail: fields.detail, ...columns }, t);
    await ctx.store.updateGuest(
      guest.id,
      {
        health: status === 'needs-attention' ? 'needs-attention' : 'ok',
        attention: status === 'needs-attention' ? columns.reason : null,
        ...(fields.type ? { current_type: fields.type } : {}),
        ...(runState !== undefined ? { run_state: runState, run_state_at: new Date().toISOString() } : {}),
      },
      t,
    );
    await ctx.store.audit('pvhctl', `operation-${status}`, guest.name, fields.detail, t);
  });
  ctx.onEvent?.({ operationId: op.id, guest: guest.name, step: status, phase: 'done', status, message: columns.reason });
  return (await ctx.store.getOperation(op.id))!;
}

/**
 * Runs `fn` in a transaction that writes only while this process still holds operation `id`
 * (when it holds it at all): LeaseLost otherwise, and nothing is written.
 */
export async function owned<T>(ctx: FleetContext, id: number, fn: (t: Db) => Promise<T>): Promise<T> {
  ctx.leases.check(id);
  return ctx.store.tx(async (t) => {
    if (ctx.leases.holds(id)) await ctx.store.fence(id, OWNER, t);
    return fn(t);
  });
}

/** A LeaseLost goes up to the worker untouched: no rollback, no outcome, nothing more on the guest. */
export function stopIfLost(err: unknown): void {
  if (err instanceof LeaseLost) throw err;
}

/**
 * The host's driver for operation `opId`: every call first checks that this process still holds
 * the operation's lease (src/fleet/lease.ts), so that an owner frozen past its lease and woken
 * after a takeover does not touch the guest again.
 */
function guarded(driver: HostDriver, ctx: FleetContext, opId: number): HostDriver {
  return new Proxy(driver, {
    get(target, key, receiver) {
      const v: unknown = Reflect.get(target, key, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        ctx.leases.check(opId);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** An operation with its guest, host and the host's driver (guarded by the operation's lease). */
export async function load(ctx: FleetContext, opId: number) {
  const op = await ctx.store.getOperation(opId);
  if (op === undefined) throw new Error(`operation ${opId} not found`);
  const guest = await ctx.store.getGuestById(op.guest_id);
  if (guest === undefined) throw new Error(`operation ${opId}: guest ${op.guest_id} not found`);
  const host = await ctx.store.getHostById(guest.host_id);
  if (host === undefined) throw new Error(`operation ${opId}: host not found`);
  return { op, guest, host, driver: guarded(ctx.driverFor(host), ctx, opId) };
}

/**
 * Runs a switch from its first step, with the populate-on-demand choice kept on the operation (so
 * a worker elsewhere, or a resume, rewrites the config as the operator asked).
 */
export async function runSwitch(ctx: FleetContext, opId: number): Promise<Operation> {
  const { op, guest, host, driver } = await load(ctx, opId);
  const name = domainName(guest.name);
  const path = hostPath(guest.config_path);
  const to = op.to_type;
  if (!isSwitchTarget(to)) throw new Error(`operation ${opId}: ${to} is not a switch target`);

  // The run state before anything acts, committed with the first journal entry: a crash after
  // it rolls back to that state; a crash before it leaves it unknown, and a rollback then boots
  // nothing. A host that cannot be asked refuses the switch.
  let unknown: unknown = null;
  const prior: PriorState | null = await retry(() => driver.domain(name)).then(
    (d) => (d === null ? 'stopped' : 'running'),
    (err: unknown) => ((unknown = err), null),
  );
  await journal(ctx, op, guest.name, 'pre-check', 'begin', `before: ${prior ?? 'unknown'}`, { prior_state: prior });
  // Nothing acts on a guest whose state before is unknown: a failed switch could not put it back
  // (a running guest would be shut down, and its rollback would not boot it).
  if (prior === null) {
    const refusal: Refusal = { code: 'host-unreachable', cause: failureOf(unknown), detail: errText(unknown) };
    await journal(ctx, op, guest.name, 'pre-check', 'failed', refusal.code);
    return finish(ctx, op, guest, 'refused', { outcome: refusal, detail: `pre-check: ${operatorRefusalWords(refusal)}` });
  }
  const pre = await precheck(ctx, guest, to, { force: op.force === 1, ...(op.pod === null ? {} : { pod: op.pod }) });
  if (!pre.ok) {
    await journal(ctx, op, guest.name, 'pre-check', 'failed', pre.refusal.code);
    return finish(ctx, op, guest, 'refused', { outcome: pre.refusal, detail: `pre-check: ${operatorRefusalWords(pre.refusal)}` });
  }
  const from = pre.from;
  // The type it switches from, as the pre-check found it, is kept with the pre-check's end.
  await journalAll(
    ctx, op, guest.name,
    [
      { step: 'pre-check', phase: 'done', detail: `${pre.wasRunning ? '' : 'not running; '}${pre.changes.join('; ')}` },
      { step: 'keep-config', phase: 'begin', detail: null },
    ],
    { from_type: from },
  );
  await owned(ctx, op.id, async (t) => {
    const kept = await ctx.store.keepConfig(guest.id, pre.current, 'before-switch', op.id, t);
    const next = await ctx.store.keepConfig(guest.id, pre.next, `switch-to-${to}`, op.id, t);
    await ctx.store.updateOperation(op.id, { kept_version_id: kept.id, new_version_id: next.id }, t);
  });
  // The keep-config step's end is journaled with the shutdown's begin.
  let ended: JournalWrite[] = [{ step: 'keep-config', phase: 'done', detail: null }];

  const fail = (why: SwitchFailure, detail: string) => rollback(ctx, op.id, why, detail);
  let step: 'shutdown' | 'write-config' = 'shutdown';
  try {
    await journalAll(ctx, op, guest.name, [...ended, { step: 'shutdown', phase: 'begin', detail: null }]);
    ended = [];
    const stopped = pre.wasRunning ? await retry(() => driver.shutdown(name, ctx.shutdownTimeoutMs)) : 'stopped';
    if (stopped === 'timeout') {
      if (op.force !== 1) {
        await journal(ctx, op, guest.name, 'shutdown', 'failed', 'timeout');
        return fail({ kind: 'shutdown-timeout', seconds: Math.round(ctx.shutdownTimeoutMs / 1000) }, 'shutdown timed out; no --force, so no destroy');
      }
      await retry(() => driver.destroy(name));
    }
    step = 'write-config';
    await journalAll(ctx, op, guest.name, [
      { step: 'shutdown', phase: 'done', detail: stopped },
      { step: 'write-config', phase: 'begin', detail: null },
    ]);
    await retry(() => driver.writeConfig(path, pre.next, pre.current));
  } catch (err) {
    stopIfLost(err);
    await journalAll(ctx, op, guest.name, ended); // a keep-config not yet marked done
    return fail({ kind: 'driver', step, cause: failureOf(err), detail: errText(err) }, errText(err));
  }
  // The operation, guest and driver already loaded; write-config's end is journaled with create's begin.
  return createAndVerify(ctx, opId, from, to, { op, guest, driver }, [{ step: 'write-config', phase: 'done', detail: null }]);
}

/** The end of a switch: create the domain from the new config if it is not there, verify, done. */
async function createAndVerify(ctx: FleetContext, opId: number, from: GuestType, to: GuestType, loaded?: Pick<Awaited<ReturnType<typeof load>>, 'op' | 'guest' | 'driver'>, ended: readonly JournalWrite[] = []): Promise<Operation> {
  const { op, guest, driver } = loaded ?? (await load(ctx, opId));
  const name = domainName(guest.name);
  let consoleBefore = '';
  try {
    await journalAll(ctx, op, guest.name, [...ended, { step: 'create', phase: 'begin', detail: null }]);
    consoleBefore = await retry(() => driver.consoleTail(name, 16384));
    if ((await retry(() => driver.domain(name))) === null) await retry(() => driver.create(hostPath(guest.config_path)));
  } catch (err) {
    stopIfLost(err);
    await journal(ctx, op, guest.name, 'create', 'failed', errText(err));
    return rollback(ctx, opId, { kind: 'driver', step: 'create', cause: failureOf(err), detail: errText(err) }, errText(err));
  }
  await journalAll(ctx, op, guest.name, [
    { step: 'create', phase: 'done', detail: null },
    { step: 'verify', phase: 'begin', detail: null },
  ]);
  const v = await verifyBoot(driver, guest.name, to, { ...ctx.verify, consoleBefore }).catch((err: unknown) => {
    stopIfLost(err);
    return { ok: false as const, error: err };
  });
  if (!v.ok) {
    // A check that failed, or the host that could not be asked while checking.
    const why: SwitchFailure = 'check' in v ? { kind: 'verify', boot: v.check, detail: v.detail } : { kind: 'driver', step: 'create', cause: failureOf(v.error), detail: errText(v.error) };
    const detail = 'check' in v ? v.detail : errText(v.error);
    await journal(ctx, op, guest.name, 'verify', 'failed', detail);
    return rollback(ctx, opId, why, detail);
  }
  await journal(ctx, op, guest.name, 'verify', 'done', `domid ${v.domid}, xl list -l type ${to}; ${v.evidence ?? 'the guest did not report its mode on its console'}`);
  return finish(ctx, op, guest, 'done', { outcome: { code: 'switched', from, to }, detail: `switched ${from} → ${to}`, type: to });
}

/**
 * Puts the guest back as it was: destroy a failed new-type domain, restore the kept config if the
 * file differs from it, boot it if it is not running, verify. Every step is idempotent, so a crash
 * in the middle of a rollback is finished by running it again. `why`: what failed in the switch
 * (kept on the operation as `rolling-back` while this runs); null for a rollback asked for.
 */
export async function rollback(ctx: FleetContext, opId: number, why: SwitchFailure | null, detail: string): Promise<Operation> {
  const { op, guest, driver } = await load(ctx, opId);
  const name = domainName(guest.name);
  const path = hostPath(guest.config_path);
  const from = op.from_type;
  const rollingBack = why === null ? {} : reasonColumns({ code: 'rolling-back', from, to: op.to_type, failure: why });
  await owned(ctx, op.id, (t) => ctx.store.updateOperation(op.id, { ...rollingBack, detail }, t));
  let leftRunning = false;
  try {
    await journal(ctx, op, guest.name, 'rollback-stop', 'begin', detail);
    const d = await retry(() => driver.domain(name));
    const wrongType = d !== null && runningType(d) !== from;
    if (d !== null && (d.state === 'crashed' || (wrongType && op.kind === 'switch'))) {
      // A crashed domain, or the failed boot of the new type: nothing in it to shut down cleanly.
      await retry(() => driver.destroy(name));
    } else if (d !== null) {
      const entries = await ctx.store.journalOf(op.id);
      // Undoing a finished switch: stop the guest cleanly. Or a graceful shutdown was already asked
      // for: the guest OS is powering off; let it finish, then boot it again below, so it is not
      // left to go down later with nobody watching.
      if (wrongType || entries.some((e) => e.step === 'shutdown')) {
        const r = await retry(() => driver.shutdown(name, ctx.shutdownTimeoutMs));
        if (r === 'timeout' && (wrongType || op.force === 1)) await retry(() => driver.destroy(name));
      }
    }
    await journal(ctx, op, guest.name, 'rollback-stop', 'done');

    await journal(ctx, op, guest.name, 'rollback-restore', 'begin');
    if (op.kept_version_id !== null) {
      const kept = await ctx.store.getConfigVersion(op.kept_version_id);
      if (kept === undefined) throw new Error(`kept config version ${op.kept_version_id} missing`);
      const onHost = await retry(() => driver.readFile(path, MAX_CONFIG)).catch(() => null);
      if (onHost === null || !sameBytes(onHost, kept.content)) {
        await retry(() => driver.writeConfig(path, kept.content));
        await ctx.store.keepConfig(guest.id, kept.content, 'restored', op.id);
      }
    }
    await journal(ctx, op, guest.name, 'rollback-restore', 'done');

    // Only a guest known to have been running is booted; one that was stopped is left stopped,
    // and so is one whose state before was never recorded (nothing acted on it yet then).
    const prior = (await ctx.store.getOperation(op.id))!.prior_state;
    const boot = prior === 'running';
    await journal(ctx, op, guest.name, 'rollback-create', 'begin', boot ? null : prior === 'stopped' ? 'was not running: left stopped' : 'state before unknown: not booted');
    const consoleBefore = await retry(() => driver.consoleTail(name, 16384));
    if (boot && (await retry(() => driver.domain(name))) === null) await retry(() => driver.create(path));
    await journal(ctx, op, guest.name, 'rollback-create', 'done');

    await journal(ctx, op, guest.name, 'rollback-verify', 'begin');
    const up = await retry(() => driver.domain(name));
    if (boot || (prior === null && up !== null)) {
      const v = await verifyBoot(driver, guest.name, from, { ...ctx.verify, consoleBefore });
      if (!v.ok) throw new Error(`${v.reason} (${v.detail})`);
      await journal(ctx, op, guest.name, 'rollback-verify', 'done', `domid ${v.domid}, xl list -l type ${from}; ${v.evidence ?? 'the guest did not report its mode on its console'}`);
      leftRunning = true;
    } else {
      if (up !== null) throw new Error('the domain is still there');
      await journal(ctx, op, guest.name, 'rollback-verify', 'done', prior === 'stopped' ? 'stopped, as before' : 'stopped (state before unknown)');
    }
  } catch (err) {
    stopIfLost(err);
    const msg = errText(err);
    return finish(ctx, op, guest, 'needs-attention', {
      outcome: { code: 'rollback-failed', from, failure: why, cause: failureOf(err), detail: msg },
      detail: `${detail}; rollback failed: ${msg}`,
    });
  }
  const outcome: Reason =
    why === null
      ? { code: 'undone', from, by: op.requested_by }
      : { code: 'rolled-back', from, to: op.to_type, failure: why, restarted: leftRunning };
  return finish(ctx, op, guest, 'rolled-back', { outcome, detail, type: from });
}

/** An operation from before leases (no lease_until), owned on another machine, is taken over after this long untouched. */
export const STALE_MS = 30 * 60_000;

/**
 * Whether a row's owner still runs it, this process included: what holds a host's slot.
 * @example
 * ownerLive({ owner: OWNER, updated_at }) // => true
 */
export const ownerLive = (o: Pick<Operation, 'owner' | 'updated_at'>): boolean => o.owner === OWNER || ownerAlive(o);

/**
 * Whether the process that runs `op` is still alive: on this machine, its pid answers signal 0;
 * on another (a second pvhctl on the same PostgreSQL later), its last journal entry is recent.
 */
export function ownerAlive(op: Pick<Operation, 'owner' | 'updated_at'>): boolean {
  if (op.owner === null || op.owner === OWNER) return false;
  const [host, pid] = op.owner.split(':');
  if (host !== hostname()) return Date.now() - Date.parse(op.updated_at) < STALE_MS;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resumes or rolls back a switch or rollback taken over from a dead owner, as its journal says. */
export async function resume(ctx: FleetContext, op: Operation): Promise<Operation> {
  const { guest, driver } = await load(ctx, op.id);
  const entries = await ctx.store.journalOf(op.id);
  let newOnHost = false;
  if (op.new_version_id !== null) {
    const next = await ctx.store.getConfigVersion(op.new_version_id);
    const onHost = await retry(() => driver.readFile(hostPath(guest.config_path), MAX_CONFIG)).catch(() => null);
    newOnHost = next !== undefined && onHost !== null && sameBytes(onHost, next.content);
  }
  const r = resumeFrom(entries, newOnHost);
  await ctx.store.audit('pvhctl', 'recover', guest.name, `operation ${op.id}: ${r.kind}`);
  const detail = op.detail ?? 'pvhctl restarted during the operation';
  // The failure a rollback under way kept; a switch that was interrupted before any failed.
  const kept = storedReason(op.reason_code, op.reason_params);
  const why: SwitchFailure | null = op.kind === 'rollback' ? null : kept?.code === 'rolling-back' ? kept.failure : { kind: 'interrupted', detail };
  return r.kind === 'resume-create'
    ? createAndVerify(ctx, op.id, op.from_type, op.to_type)
    : rollback(ctx, op.id, why, detail);
}

/**
 * `pvhctl rollback GUEST`: puts a guest back to the config it had before its last switch (after a
 * `done` switch, or to retry one that needs attention).
 */
export async function startRollback(ctx: FleetContext, guest: Guest, actor: string): Promise<SwitchRequest> {
  const last = (await ctx.store.listOperations({ guestId: guest.id, limit: 20 })).find((o) => o.kind === 'switch' && o.kept_version_id !== null);
  if (last === undefined) return { kind: 'refused', refusal: { code: 'no-switch' }, operation: null };
  return startOperation(
    ctx,
    guest,
    { guest_id: guest.id, kind: 'rollback', from_type: last.from_type, to_type: last.to_type, force: 1, requested_by: actor },
    async (t, o) => {
      // Undoing puts the guest back up in its old type, whatever its state before the switch.
      await ctx.store.updateOperation(o.id, { kept_version_id: last.kept_version_id, prior_state: 'running' }, t);
      await ctx.store.updateGuest(guest.id, { health: 'switching' }, t);
      await ctx.store.audit(actor, 'rollback', guest.name, `undo operation ${last.id}`, t);
    },
    (id) => rollback(ctx, id, null, `undo of operation ${last.id}`),
  );
}
