/**
 * The operator's campaign overview (issue #14 item 6), pure: PV guests left per week, rebuilt from
 * the operations journal; progress per host and the plan's waves; failures needing attention;
 * readiness per host (src/fleet/readiness.ts); and each campaign's progress
 * (src/fleet/campaign-progress.ts). The web UI draws it, `GET /v1/campaign/overview` and `pvhctl overview
 * --json` serve it, /metrics exports its current counts.
 */
import type { CampaignProgress } from './campaign-progress.ts';
import type { CampaignPlan, GuestPath, PlanGuest, PlanHost } from './planner.ts';
import { fleetReadiness, type FleetReadiness } from './readiness.ts';
import type { GuestType } from './types.ts';

/** A finished operation as the overview needs it (the operations table's row, narrowed). */
export type FinishedOp = {
  id: number;
  guestId: number;
  kind: 'switch' | 'rollback';
  from: GuestType;
  to: GuestType;
  status: 'done' | 'rolled-back' | 'needs-attention';
  /** Why it ended so, in a customer's words (the operation's reason). */
  reason: string | null;
  /** When it ended (ISO 8601). */
  at: string;
};

/** One week (Monday 00:00 UTC to the next): PV guests left at its end (now, for this week), and what happened in it. */
export type WeekPoint = {
  /** The Monday it starts on, YYYY-MM-DD. */
  week: string;
  /** PV guests at the end of the week; null when the journal read does not reach back that far. */
  pvLeft: number | null;
  /** Switches that took a guest off PV, and back onto it (rollbacks), and switches that rolled back. */
  offPv: number;
  backToPv: number;
  rolledBack: number;
};

const DAY = 86_400_000;
const WEEK = 7 * DAY;

/**
 * The Monday 00:00 UTC of the week `t` falls in, as epoch milliseconds.
 * @example
 * new Date(weekStart(Date.parse('2026-12-06T12:00:00Z'))).toISOString() // => '2026-11-30T00:00:00.000Z'
 */
export function weekStart(t: number): number {
  const day = Math.floor(t / DAY) * DAY;
  // 1970-01-01 was a Thursday: day 0 is 3 days after a Monday.
  const weekday = (Math.floor(t / DAY) + 3) % 7;
  return day - weekday * DAY;
}

/** How a finished operation changed a guest's type: from → to, or null when it did not. */
function change(op: FinishedOp): { from: GuestType; to: GuestType } | null {
  if (op.status !== 'done') return null;
  // A rollback puts back the type its switch came from (src/fleet/switch.ts startRollback).
  return op.kind === 'switch' ? { from: op.from, to: op.to } : { from: op.to, to: op.from };
}

/**
 * PV guests left at the end of each of the last `weeks` weeks, oldest first, rebuilt backwards from
 * the count now: each finished type change after a week's end is undone. `complete` false means
 * `ops` may not reach back to the oldest week (the journal read was cut at a limit): weeks before
 * the oldest operation read get null. Guests added or removed by scans are not in the journal, so
 * the past counts assume today's guests.
 * @example
 * weeklyPv(40, [{ kind: 'switch', from: 'pv', to: 'pvh', status: 'done', at: '2026-12-02T10:00:00Z', ... }], Date.parse('2026-12-06T12:00:00Z'), 2, true)
 * // => [{ week: '2026-11-23', pvLeft: 41, offPv: 0, backToPv: 0, rolledBack: 0 }, { week: '2026-11-30', pvLeft: 40, offPv: 1, backToPv: 0, rolledBack: 0 }]
 */
export function weeklyPv(pvNow: number, ops: readonly FinishedOp[], now: number, weeks: number, complete: boolean): WeekPoint[] {
  const first = weekStart(now) - (weeks - 1) * WEEK;
  const oldest = ops.reduce((m, o) => Math.min(m, Date.parse(o.at)), Infinity);
  const points: WeekPoint[] = Array.from({ length: weeks }, (_, i) => ({ week: new Date(first + i * WEEK).toISOString().slice(0, 10), pvLeft: 0, offPv: 0, backToPv: 0, rolledBack: 0 }));
  // delta[i]: the PV count's change over week i; ops after now (clock skew) count in this week.
  const delta = new Array<number>(weeks).fill(0);
  for (const op of ops) {
    const t = Date.parse(op.at);
    if (Number.isNaN(t)) continue;
    const c = change(op);
    const d = c === null ? 0 : Number(c.to === 'pv') - Number(c.from === 'pv');
    if (t < first) continue;
    const i = Math.min(weeks - 1, Math.floor((t - first) / WEEK));
    delta[i]! += d;
    const p = points[i]!;
    if (d < 0) p.offPv++;
    if (d > 0) p.backToPv++;
    if (op.kind === 'switch' && op.status === 'rolled-back') p.rolledBack++;
  }
  let pv = pvNow;
  for (let i = weeks - 1; i >= 0; i--) {
    const end = first + (i + 1) * WEEK;
    points[i]!.pvLeft = !complete && end <= oldest ? null : pv;
    pv -= delta[i]!;
  }
  return points;
}

/** One host's progress: its guests by type, those needing attention, and its readiness in brief. */
export type HostProgress = { host: string; role: PlanHost['role']; byType: Record<GuestType, number>; attention: number; switching: number };

/** One wave of the plan, counted. */
export type WaveProgress = { n: number; kind: 'canary' | 'main'; hosts: number; toPvh: number; toShim: number };

/** A guest needing attention: its switch rolled back (and it has not moved since), or it needs an operator. */
export type Failure = { guestId: number; guest: string; host: string; status: 'rolled-back' | 'needs-attention'; to: GuestType; reason: string; at: string };


export type Overview = {
  at: string;
  /** offPv and rolledBack: over the weeks shown; rolledBackLeft: guests whose latest switch rolled back and that stayed so. */
  totals: { guests: number; pvLeft: number; pv32Left: number; offPv: number; rolledBack: number; rolledBackLeft: number; attention: number };
  weeks: WeekPoint[];
  hosts: HostProgress[];
  waves: WaveProgress[];
  /** Guests the plan holds back, by path. */
  held: Partial<Record<GuestPath['path'], number>>;
  failures: Failure[];
  readiness: FleetReadiness;
  /** The campaigns, newest first: each one's state, wave, guests by where they are, next slot. */
  campaigns: CampaignProgress[];
};

/** At most this many failures are listed (the totals stay exact). */
export const FAILURES_LISTED = 100;

const zero = (): Record<GuestType, number> => ({ pv: 0, pvh: 0, 'pvh-shim': 0, hvm: 0 });

/**
 * The overview over the planner's input, its plan, the finished operations (newest first or in any
 * order) and the guests' attention words.
 * @example
 * overview({ hosts, guests, plan, ops, attention: new Map([[7, 'The server could not be brought back']]), now: Date.now(), weeks: 12, complete: true }).totals
 * // => { guests: 82, pvLeft: 52, pv32Left: 6, offPv: 19, rolledBack: 1, rolledBackLeft: 1, attention: 1 }
 */
export function overview(input: {
  hosts: readonly PlanHost[];
  guests: readonly PlanGuest[];
  plan: CampaignPlan;
  ops: readonly FinishedOp[];
  attention: ReadonlyMap<number, string>;
  now: number;
  weeks: number;
  complete: boolean;
  campaigns?: readonly CampaignProgress[];
}): Overview {
  const { hosts, guests, plan, ops } = input;
  const readiness = fleetReadiness(hosts, guests);
  const known = new Set(hosts.map((h) => h.name));
  const mine = guests.filter((g) => known.has(g.host));
  const progress = new Map<string, HostProgress>(readiness.hosts.map((h) => [h.host, { host: h.host, role: h.role, byType: zero(), attention: 0, switching: 0 }]));
  for (const g of mine) {
    const p = progress.get(g.host)!;
    p.byType[g.type]++;
    if (g.health === 'needs-attention') p.attention++;
    if (g.health === 'switching') p.switching++;
  }
  const pvNow = mine.filter((g) => g.type === 'pv').length;
  const weeks = weeklyPv(pvNow, ops, input.now, input.weeks, input.complete);

  const guestBy = new Map(mine.map((g) => [g.id, g]));
  // Each guest's latest finished switch: a rolled-back one is a failure while the guest stays where it was put back.
  const latest = new Map<number, FinishedOp>();
  for (const op of ops) {
    if (op.kind !== 'switch') continue;
    const seen = latest.get(op.guestId);
    if (seen === undefined || op.id > seen.id) latest.set(op.guestId, op);
  }
  const failures: Failure[] = [];
  for (const g of [...mine].sort((a, b) => a.id - b.id)) {
    const op = latest.get(g.id);
    if (g.health === 'needs-attention') {
      failures.push({ guestId: g.id, guest: g.name, host: g.host, status: 'needs-attention', to: op?.to ?? g.type, reason: input.attention.get(g.id) ?? op?.reason ?? 'a change did not finish', at: op?.at ?? '' });
    } else if (op !== undefined && op.status === 'rolled-back' && g.type === op.from) {
      failures.push({ guestId: g.id, guest: g.name, host: g.host, status: 'rolled-back', to: op.to, reason: op.reason ?? 'rolled back', at: op.at });
    }
  }
  // Needing an operator first, then the newest.
  failures.sort((a, b) => Number(b.status === 'needs-attention') - Number(a.status === 'needs-attention') || (a.at < b.at ? 1 : a.at > b.at ? -1 : a.guestId - b.guestId));

  const held: Overview['held'] = {};
  for (const h of plan.held) if (guestBy.has(h.id)) held[h.path.path] = (held[h.path.path] ?? 0) + 1;
  const waves = plan.waves.map((w) => {
    const s = w.hosts.flatMap((h) => h.switches);
    return { n: w.n, kind: w.kind, hosts: w.hosts.length, toPvh: s.filter((x) => x.to === 'pvh').length, toShim: s.filter((x) => x.to === 'pvh-shim').length };
  });
  return {
    at: new Date(input.now).toISOString(),
    totals: {
      guests: mine.length,
      pvLeft: pvNow,
      pv32Left: readiness.totals.pv32Left,
      offPv: weeks.reduce((n, w) => n + w.offPv, 0),
      rolledBack: weeks.reduce((n, w) => n + w.rolledBack, 0),
      rolledBackLeft: failures.filter((f) => f.status === 'rolled-back').length,
      attention: mine.filter((g) => g.health === 'needs-attention').length,
    },
    weeks,
    hosts: [...progress.values()],
    waves,
    held,
    failures: failures.slice(0, FAILURES_LISTED),
    readiness,
    campaigns: [...(input.campaigns ?? [])],
  };
}
