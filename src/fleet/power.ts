/**
 * Power actions on a guest (`xl create`, `xl shutdown -w`, both for a reboot) as journaled
 * operations: each is created under the same one-operation-per-guest rule as a switch or a
 * rollback (store.createOperationIfIdle) and runs under the same per-host limit, so a customer's
 * `reboot` can never act on a guest while an operator's switch does (or the other way round).
 * Every step is journaled before it acts and is safe to run twice: a crashed power operation is
 * finished by running it again (`runPower`), as its journal and the domain's state say.
 */
import { domainName, failureOf, hostPath } from '../drivers/driver.ts';
import type { Guest, Operation, RunState } from '../store/schema.ts';
import { reasonColumns, type Reason, type Refusal } from './reasons.ts';
import type { PowerStep } from './steps.ts';
import { journal, load, owned, retry, startOperation, stopIfLost, type FleetContext, type SwitchRequest } from './switch.ts';

/** The power actions: `xl create`, `xl shutdown -w`, and the one followed by the other. */
export type PowerAction = 'boot' | 'shutdown' | 'reboot';

export const POWER_ACTIONS: readonly PowerAction[] = ['boot', 'shutdown', 'reboot'];

/** Whether an operation kind is a power action. */
export const isPowerAction = (kind: string): kind is PowerAction => (POWER_ACTIONS as readonly string[]).includes(kind);

/** What a power operation still has to do, from its action, the domain's state and its journal. */
export type PowerPlan =
  /** Nothing to do, nothing done: the guest is already as asked. */
  | { kind: 'refuse'; refusal: Refusal }
  /** `stop`: shut the domain down; `start`: create it (each only if it is not already so). */
  | { kind: 'act'; stop: boolean; start: boolean };

/**
 * Plans a power operation: a pure function, so that running it again after a crash does only
 * what is left. A boot of a running guest or a shutdown of a stopped one is refused, unless the
 * journal shows this operation already began acting (then it is finishing, not asking).
 * @example
 * powerPlan('reboot', true, []) // => { kind: 'act', stop: true, start: true }
 * powerPlan('reboot', false, [{ step: 'power-stop', phase: 'done' }]) // => { kind: 'act', stop: false, start: true }
 * powerPlan('boot', true, []) // => { kind: 'refuse', refusal: { code: 'already-running' } }
 */
export function powerPlan(action: PowerAction, running: boolean, entries: readonly { step: string; phase: string }[]): PowerPlan {
  const began = (step: PowerStep) => entries.some((e) => e.step === step);
  const stopped = entries.some((e) => e.step === 'power-stop' && e.phase === 'done');
  switch (action) {
    case 'boot':
      if (running && !began('power-start')) return { kind: 'refuse', refusal: { code: 'already-running' } };
      return { kind: 'act', stop: false, start: !running };
    case 'shutdown':
      if (!running && !began('power-stop')) return { kind: 'refuse', refusal: { code: 'not-running' } };
      return { kind: 'act', stop: running, start: false };
    case 'reboot':
      // A stopped guest is booted (as `reboot` always did); a stop already done is not redone.
      return stopped ? { kind: 'act', stop: false, start: !running } : { kind: 'act', stop: running, start: true };
  }
}

/**
 * Asks for a power action: creates the operation (refused in words while another change to the
 * guest is in progress), then runs it under the host's limit, here or on a worker.
 * @example
 * const r = await startPower(fleet.ctx, guest, 'reboot', { actor: 'customer:alice' });
 * if (r.kind === 'started') await r.finished // => { kind: 'reboot', status: 'done', reason: 'The server was restarted.', ... }
 */
export async function startPower(ctx: FleetContext, guest: Guest, action: PowerAction, opts: { actor: string }): Promise<SwitchRequest> {
  return startOperation(
    ctx,
    guest,
    { guest_id: guest.id, kind: action, from_type: guest.current_type, to_type: guest.current_type, force: 0, requested_by: opts.actor },
    async (t) => {
      // Audited before it acts, as every step is journaled before it acts.
      await ctx.store.audit(opts.actor, action, guest.name, 'requested', t);
    },
    (id) => runPower(ctx, id),
  );
}

const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * Runs (or, after a crash, finishes) power operation `opId`: stop, then start, each journaled
 * before it acts and skipped when the domain is already so.
 */
export async function runPower(ctx: FleetContext, opId: number): Promise<Operation> {
  const { op, guest, driver } = await load(ctx, opId);
  if (!isPowerAction(op.kind)) throw new Error(`operation ${opId} is a ${op.kind}, not a power action`);
  const action = op.kind;
  const name = domainName(guest.name);
  let running: boolean;
  try {
    running = (await retry(() => driver.domain(name))) !== null;
  } catch (err) {
    stopIfLost(err);
    return finishPower(ctx, op, guest, 'refused', { reason: { code: 'power-failed', cause: failureOf(err), detail: errText(err) }, detail: errText(err) });
  }
  const plan = powerPlan(action, running, await ctx.store.journalOf(op.id));
  if (plan.kind === 'refuse') return finishPower(ctx, op, guest, 'refused', { reason: plan.refusal, detail: `${action}: ${running ? 'running' : 'not running'} already` });
  let stopDone = !plan.stop;
  try {
    if (plan.stop) {
      await journal(ctx, op, guest.name, 'power-stop', 'begin');
      const r = await retry(() => driver.shutdown(name, ctx.shutdownTimeoutMs));
      if (r === 'timeout') {
        await journal(ctx, op, guest.name, 'power-stop', 'failed', 'timeout');
        return finishPower(ctx, op, guest, 'refused', { reason: { code: 'shutdown-timeout', seconds: Math.round(ctx.shutdownTimeoutMs / 1000) }, detail: 'shutdown timed out', runState: 'running' });
      }
      await journal(ctx, op, guest.name, 'power-stop', 'done', r);
      stopDone = true;
    }
    if (plan.start) {
      await journal(ctx, op, guest.name, 'power-start', 'begin');
      if ((await retry(() => driver.domain(name))) === null) await retry(() => driver.create(hostPath(guest.config_path)));
      await journal(ctx, op, guest.name, 'power-start', 'done');
    }
  } catch (err) {
    stopIfLost(err);
    const step = stopDone ? 'power-start' : 'power-stop';
    await journal(ctx, op, guest.name, step, 'failed', errText(err));
    // A reboot that shut the guest down and could not start it again left it down: that needs
    // someone. Anything else failed before it changed the guest's state.
    if (action === 'reboot' && stopDone) {
      return finishPower(ctx, op, guest, 'needs-attention', { reason: { code: 'reboot-left-down', cause: failureOf(err), detail: errText(err) }, detail: `failed: ${errText(err)}`, runState: 'stopped' });
    }
    return finishPower(ctx, op, guest, 'refused', { reason: { code: 'power-failed', cause: failureOf(err), detail: errText(err) }, detail: `failed: ${errText(err)}` });
  }
  return finishPower(ctx, op, guest, 'done', { reason: { code: 'powered', action }, detail: 'done', runState: action === 'shutdown' ? 'stopped' : 'running' });
}

/**
 * Ends a power operation: its status, the guest's run state (and attention), the audit log. The
 * refusal or outcome is stored as its code and parameters (worded at the edges,
 * src/fleet/reasons.ts), with its customer words in `reason` for readers from before codes.
 */
async function finishPower(
  ctx: FleetContext,
  op: Operation,
  guest: Guest,
  status: Operation['status'],
  given: { reason: Reason; detail: string; runState?: RunState },
): Promise<Operation> {
  const columns = reasonColumns(given.reason);
  const fields = { ...given, reason: columns.reason };
  await owned(ctx, op.id, async (t) => {
    await ctx.store.updateOperation(op.id, { status, detail: fields.detail, ...columns }, t);
    await ctx.store.updateGuest(
      guest.id,
      {
        ...(fields.runState !== undefined ? { run_state: fields.runState, run_state_at: new Date().toISOString() } : {}),
        ...(status === 'needs-attention' ? { health: 'needs-attention' as const, attention: fields.reason } : {}),
      },
      t,
    );
    await ctx.store.audit('pvhctl', `operation-${status}`, guest.name, `${op.kind}: ${fields.detail}`, t);
  });
  ctx.onEvent?.({ operationId: op.id, guest: guest.name, step: status, phase: 'done', status, message: fields.reason });
  return (await ctx.store.getOperation(op.id))!;
}
