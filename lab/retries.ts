/**
 * Retries of lab steps that QEMU's nested-SVM emulation sometimes breaks (a PVH guest that
 * triple-faults in Xen's own code, lab-notes.md), each one recorded: a retry is never silent.
 * Every retry of a run is appended to RUNDIR/retries.log (RUNDIR: the lab run's directory under
 * ~/.cache/pvhctl/lab/runs/), one line each: time, what was retried, why.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabEndpoint } from './lab.ts';

/**
 * Attempts a PVH boot gets in the lab's tests. At the rate seen so far (1 of 38 PVH boots,
 * lab-notes.md; `node lab/flake.ts` measures it again), three deaths in a row of independent boots
 * would happen about once in 50,000: a regression, not the flake.
 */
export const PVH_ATTEMPTS = 3;

/**
 * What pvhctl says of a switch whose PVH boot died (the guest crashed or stopped right after its
 * start), as opposed to one refused or rolled back for a cause of its own.
 */
export const SWITCH_BOOT_DIED = /crashed|stopped right after|stopped with an error|\(domain-gone\)/;

/** The file a lab run's retries are recorded in. */
export function retriesLog(lab: Pick<LabEndpoint, 'runDir'>): string {
  return join(lab.runDir, 'retries.log');
}

/** Appends one retry to the run's retries.log (one line; newlines in `why` are flattened). */
export function recordRetry(lab: Pick<LabEndpoint, 'runDir'>, what: string, why: string): string {
  const line = `${new Date().toISOString()} ${what}: ${why.replace(/\s+/g, ' ').slice(0, 400)}`;
  appendFileSync(retriesLog(lab), line + '\n');
  return line;
}

/** The retries recorded so far in a run (empty when there were none). */
export function readRetries(lab: Pick<LabEndpoint, 'runDir'>): string[] {
  const f = retriesLog(lab);
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l !== '') : [];
}

/**
 * Runs `attempt` up to `attempts` times while `flaked` names a reason to retry its result (null:
 * keep it), recording each retry with `note` (for example a test diagnostic) and in retries.log.
 * Returns the last result.
 * @example
 * await withRetries(lab, 'direct64 PVH boot', 3, () => bootGuest(lab, 'direct64', cfg), (r) => (r.kind === 'died' ? 'died' : null))
 * // => { kind: 'marker', ... } (after at most two recorded retries)
 */
export async function withRetries<T>(
  lab: Pick<LabEndpoint, 'runDir'>,
  what: string,
  attempts: number,
  attempt: (n: number) => Promise<T>,
  flaked: (r: T) => string | null,
  note: (line: string) => void = () => {},
): Promise<T> {
  for (let n = 1; ; n++) {
    const r = await attempt(n);
    const why = flaked(r);
    if (why === null || n >= attempts) return r;
    note(recordRetry(lab, what, `attempt ${n} of ${attempts} ${why}; retrying`));
  }
}
