/**
 * One campaign's progress for the operator's campaign page (src/fleet/overview.ts), pure: its
 * state and why it paused, the wave it is at, its guests counted by where they are (notified,
 * chose, running, switched, failed, held and why), the next slot that opens, and each wave's
 * counts. Computed from the campaign's rows (src/store/campaigns.ts) as they are, so that a
 * customer's choice or a tick's outcome shows at the next read.
 */
import type { CampaignGuest, CampaignGuestStatus, CampaignStatus } from '../store/campaigns.ts';
import { operatorPathWords } from './plan-words.ts';
import type { GuestPath, HeldPath } from './planner.ts';

/** A held guest, the planner's path that keeps it out, and that path in an operator's words (guest text in it: escape on output). */
export type HeldProgress = { guestId: number; guest: string; host: string; path: HeldPath; words: string };

/** A guest whose switch failed in the campaign, with its outcome in customer words. */
export type FailedProgress = { guestId: number; guest: string; host: string; status: 'rolled-back' | 'refused' | 'needs-attention'; reason: string | null };

/**
 * Guests by where they are in the campaign. `waiting`: planned, not yet notified for their slot;
 * `notified`: planned, the notice for their current slot sent; `chose`: planned or done guests
 * whose customer chose (early, another slot, postponed), counted besides their place;
 * `running`: claimed or submitted; `failed`: rolled back, refused or needing attention; `held`:
 * kept out by their path; `already`: in PVH (or HVM) when the campaign was made, nothing to do.
 */
export type ProgressCounts = { waiting: number; notified: number; chose: number; running: number; switched: number; failed: number; held: number; already: number; skipped: number };

/** One wave's guests by outcome. */
export type WaveCounts = { n: number; kind: 'canary' | 'main'; guests: number; switched: number; failed: number; running: number; planned: number };

/** The next slot to open: its start and end, and the guests waiting for it on each host. */
export type NextSlot = { start: string; end: string; hosts: { host: string; guests: number }[] };

/** A campaign's progress, as the overview carries it. */
export type CampaignProgress = {
  id: number;
  name: string;
  state: CampaignStatus;
  /** Why it is paused (an operator's words, or the failure threshold's); null unless paused. */
  pauseReason: string | null;
  /** The wave it runs now: the lowest with guests not yet through; null when none is left. */
  wave: { n: number; kind: 'canary' | 'main' } | null;
  /** Each host's window, as the campaign stores it. */
  windows: Record<string, string>;
  counts: ProgressCounts;
  waves: WaveCounts[];
  /** null when no planned guest has a slot ahead (a draft, or everyone through). */
  nextSlot: NextSlot | null;
  held: HeldProgress[];
  failed: FailedProgress[];
  startedAt: string | null;
  endsAt: string | null;
};

/** At most this many held and failed guests are listed (the counts stay exact). */
export const GUESTS_LISTED = 50;

const RUNNING: readonly CampaignGuestStatus[] = ['submitting', 'submitted'];
const FAILED = ['rolled-back', 'refused', 'needs-attention'] as const;
const isFailed = (s: CampaignGuestStatus): s is FailedProgress['status'] => (FAILED as readonly string[]).includes(s);

/**
 * The progress of campaign `c` over its guest rows, as of `now` (epoch ms).
 * @example
 * campaignProgress({ id: 1, name: 'winter', status: 'running', pause_reason: null, windows: { sim1: 'Tue-Thu 02:00-05:00 Europe/Berlin' }, started_at: '…', ends_at: '…' }, rows, Date.now())
 * // => { name: 'winter', state: 'running', wave: { n: 0, kind: 'canary' }, counts: { waiting: 8, notified: 1, chose: 0, ... }, nextSlot: { start: '2026-12-09T01:00:00.000Z', ... }, ... }
 */
export function campaignProgress(
  c: { id: number; name: string; status: CampaignStatus; pause_reason: string | null; windows: Record<string, string>; started_at: string | null; ends_at: string | null },
  rows: readonly CampaignGuest[],
  now: number,
): CampaignProgress {
  const counts: ProgressCounts = { waiting: 0, notified: 0, chose: 0, running: 0, switched: 0, failed: 0, held: 0, already: 0, skipped: 0 };
  const waves = new Map<number, WaveCounts>();
  const held: HeldProgress[] = [];
  const failed: FailedProgress[] = [];
  let current: { n: number; kind: 'canary' | 'main' } | null = null;
  for (const g of rows) {
    if (g.choice !== null) counts.chose++;
    if (g.status === 'planned') counts[g.notice_for !== null && g.notice_for === g.slot_start ? 'notified' : 'waiting']++;
    else if (RUNNING.includes(g.status)) counts.running++;
    else if (g.status === 'switched') counts.switched++;
    else if (g.status === 'skipped') counts.skipped++;
    else if (isFailed(g.status)) {
      counts.failed++;
      failed.push({ guestId: g.guest_id, guest: g.guest_name, host: g.host_name, status: g.status, reason: g.outcome_reason });
    } else {
      const path = JSON.parse(g.path) as GuestPath as HeldPath;
      if (path.path === 'done') {
        counts.already++;
        continue;
      }
      counts.held++;
      held.push({ guestId: g.guest_id, guest: g.guest_name, host: g.host_name, path, words: operatorPathWords(path) });
    }
    if (g.wave === null) continue;
    const kind = g.wave_kind ?? 'main';
    const w = waves.get(g.wave) ?? { n: g.wave, kind, guests: 0, switched: 0, failed: 0, running: 0, planned: 0 };
    waves.set(g.wave, w);
    w.guests++;
    if (g.status === 'switched') w.switched++;
    else if (isFailed(g.status)) w.failed++;
    else if (RUNNING.includes(g.status)) w.running++;
    else if (g.status === 'planned') w.planned++;
    // A guest whose customer moved it runs at its own time and holds no wave back (src/fleet/campaign.ts tick).
    if ((g.status === 'planned' || RUNNING.includes(g.status)) && g.choice === null && (current === null || g.wave < current.n)) current = { n: g.wave, kind };
  }

  let nextSlot: NextSlot | null = null;
  for (const g of rows) {
    if (g.status !== 'planned' || g.slot_start === null || g.slot_end === null || Date.parse(g.slot_end) <= now) continue;
    if (nextSlot === null || g.slot_start < nextSlot.start) nextSlot = { start: g.slot_start, end: g.slot_end, hosts: [] };
  }
  if (nextSlot !== null) {
    const per = new Map<string, number>();
    for (const g of rows) if (g.status === 'planned' && g.slot_start === nextSlot.start) per.set(g.host_name, (per.get(g.host_name) ?? 0) + 1);
    nextSlot.hosts = [...per].sort(([a], [b]) => (a < b ? -1 : 1)).map(([host, guests]) => ({ host, guests }));
  }

  return {
    id: c.id,
    name: c.name,
    state: c.status,
    pauseReason: c.status === 'paused' ? c.pause_reason : null,
    wave: c.status === 'draft' || c.status === 'cancelled' || c.status === 'done' ? null : current,
    windows: c.windows,
    counts,
    waves: [...waves.values()].sort((a, b) => a.n - b.n),
    nextSlot: c.status === 'running' || c.status === 'paused' ? nextSlot : null,
    held: held.slice(0, GUESTS_LISTED),
    failed: failed.slice(0, GUESTS_LISTED),
    startedAt: c.started_at,
    endsAt: c.ends_at,
  };
}
