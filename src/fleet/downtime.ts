/**
 * How long a switch keeps a server down, as a customer is told before they start one: measured on
 * the host's own past switches (from the journal: `shutdown` begun to `verify` done), else a
 * stated default. A pure function over the measured durations.
 */

/** The estimate when the host has no finished switch to learn from. */
export const DEFAULT_DOWNTIME_S = 120;
/** How many of the host's latest switches the estimate is taken from. */
export const DOWNTIME_SAMPLES = 20;

export type Downtime = { seconds: number; basis: 'measured'; switches: number } | { seconds: number; basis: 'default' };

/**
 * The estimate from the durations (ms) of the host's latest finished switches: the upper of the
 * middle values rounded up to 10 s, so that most switches take no longer than said.
 * @example
 * downtimeEstimate([41_000, 38_000, 52_000]) // => { seconds: 50, basis: 'measured', switches: 3 }
 * downtimeEstimate([]) // => { seconds: 120, basis: 'default' }
 */
export function downtimeEstimate(durationsMs: readonly number[]): Downtime {
  const ok = durationsMs.filter((d) => Number.isFinite(d) && d > 0).sort((a, b) => a - b);
  if (ok.length === 0) return { seconds: DEFAULT_DOWNTIME_S, basis: 'default' };
  const median = ok[Math.floor(ok.length / 2)]!;
  return { seconds: Math.max(10, Math.ceil(median / 10_000) * 10), basis: 'measured', switches: ok.length };
}

/**
 * The estimate in a customer's words.
 * @example
 * downtimeWords({ seconds: 50, basis: 'measured', switches: 3 }) // => 'about 50 seconds (measured on the last 3 switches on this host)'
 */
export function downtimeWords(d: Downtime): string {
  const span = d.seconds < 120 ? `${d.seconds} seconds` : `${Math.round(d.seconds / 60)} minutes`;
  return d.basis === 'measured'
    ? `about ${span} (measured on the last ${d.switches} switch${d.switches === 1 ? '' : 'es'} on this host)`
    : `usually under ${span} (no switch on this host has been measured yet)`;
}
