/**
 * Runs any operation on a guest by its kind: a switch, a rollback, or a power action
 * (src/fleet/power.ts), from its first step, or after a crash from its journal. The job queue's
 * workers (src/fleet/worker.ts) and a starting pvhctl (`recover`) come through here, so that
 * every state change of a guest is run, resumed and recovered the same way.
 */
import type { Operation } from '../store/schema.ts';
import { OWNER } from '../store/store.ts';
import { takeable } from './lease.ts';
import { isPowerAction, runPower } from './power.ts';
import { held, resume, rollback, runSwitch, STALE_MS, type FleetContext } from './switch.ts';

/**
 * Runs pending operation `op` from its first step (the caller holds it and its host's slot).
 * @example
 * await runOperation(ctx, op) // => { id: 12, kind: 'switch', status: 'done', ... }
 */
export function runOperation(ctx: FleetContext, op: Operation): Promise<Operation> {
  if (isPowerAction(op.kind)) return runPower(ctx, op.id);
  return op.kind === 'rollback' ? rollback(ctx, op.id, null, 'undo of the last switch') : runSwitch(ctx, op.id);
}

/**
 * Finishes operation `op` taken over from a dead owner, as its journal says: a switch resumed or
 * rolled back, a rollback run again, a power action run again (each of its steps checks first).
 */
export async function resumeOperation(ctx: FleetContext, op: Operation): Promise<Operation> {
  if (!isPowerAction(op.kind)) return resume(ctx, op);
  const guest = await ctx.store.getGuestById(op.guest_id);
  await ctx.store.audit('pvhctl', 'recover', guest?.name ?? `guest ${op.guest_id}`, `operation ${op.id}: finish-${op.kind}`);
  return runPower(ctx, op.id);
}

/**
 * Finishes every operation a crash left pending or running: resumes a switch whose new config is
 * already on the host (create, verify), rolls back the others, finishes power actions.
 * @example
 * await recover(ctx) // => [{ id: 12, status: 'rolled-back', ... }]
 */
export async function recover(ctx: FleetContext): Promise<Operation[]> {
  const out: Operation[] = [];
  for (const op of await ctx.store.unfinishedOperations()) {
    // Queued and not yet claimed: the job queue hands it to a worker.
    if (op.status === 'pending' && op.owner === null) continue;
    if (!takeable(op, ctx.leases, Date.now(), STALE_MS)) continue;
    // Compare-and-set on the owner read above: of two processes recovering at once, one goes on.
    if (!(await ctx.store.claimOperation(op.id, op.owner, OWNER, ctx.leases.until(), op.lease_until))) continue;
    out.push(await held(ctx, op.id, () => resumeOperation(ctx, op)));
  }
  return out;
}
