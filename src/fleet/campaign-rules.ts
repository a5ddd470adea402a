/**
 * A campaign's rules as pure functions (issue #14 item 2): its settings and their defaults, which
 * slot each wave gets from its hosts' maintenance windows, when a wave's failures pause it, and
 * which mail is due. The tick (src/fleet/campaign.ts) reads the store, asks these, and acts.
 */
import type { CampaignPolicy } from './planner.ts';
import { fitsIn, occurrenceAt, type MaintenanceWindow, type WindowOccurrence } from './windows.ts';

/** The time a campaign runs on: the real clock in production, a clock tests move. */
export type Clock = { now(): Date };

/** The real clock. */
export const realClock: Clock = { now: () => new Date() };

export const DAY_MS = 86_400_000;

/** A campaign's policy: the planner's, and how it runs. */
export type CampaignSettings = CampaignPolicy & {
  /** The canary wave pauses the campaign when its failed share is above this (0: any failure). */
  canaryThreshold: number;
  /** Any later wave pauses it when its failed share is above this (0.1: more than 10%). */
  waveThreshold: number;
  /** The notice mail goes out this many days before a guest's slot. */
  noticeDays: number;
  /** A customer may postpone once, by up to this many days. */
  postponeDays: number;
  /** How long one switch is expected to take: it is not started unless it can end before its window closes. */
  switchEstimateMs: number;
  /** Slots fall within this many days of the start (the bounds a customer picks another slot in). */
  lengthDays: number;
};

/** The defaults: a canary of 5 that pauses on any failure, 10% after, a week's notice, one postponement of up to 14 days. */
export const DEFAULT_SETTINGS: CampaignSettings = {
  canary: 5,
  perHost: null,
  pv32First: { kind: 'none' },
  canaryThreshold: 0,
  waveThreshold: 0.1,
  noticeDays: 7,
  postponeDays: 14,
  switchEstimateMs: 15 * 60_000,
  lengthDays: 56,
};

/**
 * The first occurrence of `w` from `t` on in which a switch of `durationMs` started at its
 * beginning (or at `t`, when inside it) ends before it closes.
 * @example
 * fittingOccurrence(tueThu0205Berlin, new Date('2026-12-08T03:50:00Z'), 15 * 60_000) // => Wed 9 Dec 01:00Z-04:00Z
 */
export function fittingOccurrence(w: MaintenanceWindow, t: Date, durationMs: number): WindowOccurrence {
  let at = t;
  for (let i = 0; i < 64; i++) {
    const o = occurrenceAt(w, at);
    const begin = o.start > t ? o.start : t;
    if (fitsIn(o, begin, durationMs)) return o;
    at = o.end;
  }
  throw new Error(`no occurrence of the window is long enough for a switch of ${Math.round(durationMs / 60_000)} minutes`);
}

/** A guest in a wave, as slot assignment needs it. */
export type WaveSeat = { wave: number; host: string };

/**
 * Gives each seat its slot: the waves one after another, each wave's hosts at their first fitting
 * window occurrence that begins once the wave before has ended everywhere (so the canary is over
 * before the next wave starts), the first from `from` on. Seats of one wave on one host share a slot.
 * @example
 * assignSlots([{ wave: 0, host: 'xen1' }, { wave: 1, host: 'xen1' }], new Map([['xen1', tueThu]]), tue8Dec, 15 * 60_000)
 * // => [Tue 8 Dec 02:00-05:00, Wed 9 Dec 02:00-05:00] (Berlin)
 */
export function assignSlots(seats: readonly WaveSeat[], windows: ReadonlyMap<string, MaintenanceWindow>, from: Date, durationMs: number): WindowOccurrence[] {
  const waves = [...new Set(seats.map((s) => s.wave))].sort((a, b) => a - b);
  const slotOf = new Map<string, WindowOccurrence>();
  let after = from;
  for (const n of waves) {
    let end = after;
    for (const host of new Set(seats.filter((s) => s.wave === n).map((s) => s.host))) {
      const w = windows.get(host);
      if (w === undefined) throw new Error(`host ${JSON.stringify(host)} has no maintenance window`);
      let o = fittingOccurrence(w, after, durationMs);
      // Not one that began before the wave before it ended (the first wave may begin inside one).
      while (n !== waves[0] && o.start < after) o = fittingOccurrence(w, o.end, durationMs);
      slotOf.set(`${n}\u0000${host}`, o);
      if (o.end > end) end = o.end;
    }
    after = end;
  }
  return seats.map((s) => slotOf.get(`${s.wave}\u0000${s.host}`)!);
}

/** A guest's outcome as the failure threshold sees it. */
export type WaveResult = { wave: number; kind: 'canary' | 'main'; failed: boolean; acknowledged: boolean };

/** A wave whose failures are above its threshold. */
export type WaveFailure = { wave: number; kind: 'canary' | 'main'; failed: number; size: number; threshold: number };

/**
 * The first wave whose unacknowledged failures, as a share of the wave, are above its threshold
 * (the canary's, or the others'); null when none is.
 * @example
 * waveOverThreshold([{ wave: 0, kind: 'canary', failed: true, acknowledged: false }, { wave: 0, kind: 'canary', failed: false, acknowledged: false }], DEFAULT_SETTINGS)
 * // => { wave: 0, kind: 'canary', failed: 1, size: 2, threshold: 0 }
 */
export function waveOverThreshold(results: readonly WaveResult[], s: Pick<CampaignSettings, 'canaryThreshold' | 'waveThreshold'>): WaveFailure | null {
  const waves = [...new Set(results.map((r) => r.wave))].sort((a, b) => a - b);
  for (const n of waves) {
    const mine = results.filter((r) => r.wave === n);
    const kind = mine[0]!.kind;
    const failed = mine.filter((r) => r.failed && !r.acknowledged).length;
    const threshold = kind === 'canary' ? s.canaryThreshold : s.waveThreshold;
    if (failed > 0 && failed / mine.length > threshold) return { wave: n, kind, failed, size: mine.length, threshold };
  }
  return null;
}

/** Which mail a planned guest is due, if any: its notice, or the reminder the day before. */
export type MailDue = 'notice' | 'reminder' | null;

/**
 * The mail due at `now` for a guest's slot, given the slot its notice and reminder went out for:
 * the notice from `noticeDays` before the slot (at once, late, for a slot given with less notice;
 * up to the slot's end, so that a campaign with no notice period still tells), the reminder from
 * a day before the start once the notice is out. A notice sent within the last day stands for the
 * reminder too (the tick marks it).
 * @example
 * mailDue(new Date('2026-12-01T01:00:00Z'), { start: new Date('2026-12-08T01:00:00Z'), end: new Date('2026-12-08T04:00:00Z') }, { notice: null, reminder: null }, 7) // => 'notice'
 */
export function mailDue(now: Date, slot: { start: Date; end: Date }, sent: { notice: string | null; reminder: string | null }, noticeDays: number): MailDue {
  const t = now.getTime();
  const s = slot.start.getTime();
  const key = slot.start.toISOString();
  if (t >= slot.end.getTime()) return null;
  if (sent.notice !== key) return t >= s - noticeDays * DAY_MS ? 'notice' : null;
  if (sent.reminder !== key && t >= s - DAY_MS && t < s) return 'reminder';
  return null;
}

/**
 * How long to expect one switch on a host: the policy's estimate, or the longest of the host's
 * latest measured switches (from its journal) when that is longer, so that a host whose switches
 * run long is not started near a window's end.
 * @example
 * switchLength(15 * 60_000, [40_000, 1_200_000]) // => 1_200_000
 * switchLength(15 * 60_000, []) // => 900_000
 */
export function switchLength(estimateMs: number, measuredMs: readonly number[]): number {
  return Math.max(estimateMs, ...measuredMs.filter((d) => Number.isFinite(d) && d > 0));
}
