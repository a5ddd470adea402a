/**
 * The switch's steps in order, as journaled. Each is written to the journal (phase `begin`) before
 * it acts, so after a crash the journal says how far the switch got.
 */
export const SWITCH_STEPS = ['pre-check', 'keep-config', 'shutdown', 'write-config', 'create', 'verify'] as const;
export const ROLLBACK_STEPS = ['rollback-stop', 'rollback-restore', 'rollback-create', 'rollback-verify'] as const;

/** A power action's steps (src/fleet/power.ts): `xl shutdown -w`, then `xl create`, each when asked for. */
export const POWER_STEPS = ['power-stop', 'power-start'] as const;

export type SwitchStep = (typeof SWITCH_STEPS)[number];
export type RollbackStep = (typeof ROLLBACK_STEPS)[number];
export type PowerStep = (typeof POWER_STEPS)[number];
export type Step = SwitchStep | RollbackStep | PowerStep;

/** An operation's step as the store keeps it: `created` until its first journal entry, then the last step journaled. */
export type OperationStep = Step | 'created';

/** Where a restarted pvhctl picks an unfinished operation up. */
export type Resume =
  /** Nothing on the host changed yet, or it may have: put the guest back as it was. */
  | { kind: 'rollback' }
  /** The new config is in place: (re)create if needed, then verify. */
  | { kind: 'resume-create' }
  /** A rollback was under way: run it again (every rollback step is idempotent). */
  | { kind: 'continue-rollback' };

/**
 * Decides how to finish an operation from its journal (a pure function of the entries).
 * `newConfigOnHost` tells whether the host's config file already holds the new version's bytes.
 * @example
 * resumeFrom([{ step: 'pre-check', phase: 'done' }, { step: 'keep-config', phase: 'begin' }], false) // => { kind: 'rollback' }
 */
export function resumeFrom(entries: { step: string; phase: string }[], newConfigOnHost: boolean): Resume {
  if (entries.some((e) => (ROLLBACK_STEPS as readonly string[]).includes(e.step))) return { kind: 'continue-rollback' };
  const began = new Set(entries.filter((e) => e.phase === 'begin').map((e) => e.step));
  if (began.has('write-config') && newConfigOnHost) return { kind: 'resume-create' };
  return { kind: 'rollback' };
}
