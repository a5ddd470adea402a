/**
 * The campaign overview's input, read from the store (the shell around src/fleet/overview.ts): the
 * planner's input and its plan with the CLI's default policy, the finished switches and rollbacks,
 * the guests' attention words, and the newest campaigns' progress. Reads only.
 */
import { campaigns as campaignTables } from '../store/campaigns.ts';
import type { Store } from '../store/store.ts';
import { viewOf } from './campaign.ts';
import { campaignProgress, type CampaignProgress } from './campaign-progress.ts';
import { readPlanInput } from './plan-input.ts';
import { planCampaign, type CampaignPolicy } from './planner.ts';
import { overview, type FinishedOp, type Overview } from './overview.ts';

/** `pvhctl campaign plan`'s defaults: the plan the overview shows until campaigns carry their own. */
export const OVERVIEW_POLICY: CampaignPolicy = { canary: 5, pv32First: { kind: 'none' }, perHost: null };

/** Operations read for the weekly series, newest first; past it the oldest weeks show no count. */
const OPS_READ = 200_000;

/** The newest campaigns shown (older ones stay in `pvhctl campaign list`). */
const CAMPAIGNS_SHOWN = 20;

/** The newest campaigns' progress as of `now`; with `hostNames`, only their guests, and only campaigns with some. */
async function readCampaigns(store: Store, now: number, hostNames: readonly string[]): Promise<CampaignProgress[]> {
  const cs = campaignTables(store);
  const out: CampaignProgress[] = [];
  for (const c of (await cs.list()).reverse().slice(0, CAMPAIGNS_SHOWN)) {
    const rows = (await cs.guests(c.id)).filter((g) => hostNames.length === 0 || hostNames.includes(g.host_name));
    if (hostNames.length > 0 && rows.length === 0) continue;
    out.push(campaignProgress(viewOf(c), rows, now));
  }
  return out;
}

/**
 * The overview of the fleet (or of `hostNames`) over the last `weeks` weeks, as of `now`.
 * @example
 * await readOverview(fleet.store, { weeks: 12, now: Date.now() }) // => { totals: { guests: 82, pvLeft: 52, ... }, weeks: [...], ... }
 */
export async function readOverview(store: Store, opts: { weeks: number; now: number; hostNames?: readonly string[] }): Promise<Overview> {
  const { hosts, guests } = await readPlanInput(store, opts.hostNames ?? []);
  const rows = await store.listOperations({ status: ['done', 'rolled-back', 'needs-attention'], limit: OPS_READ });
  const ops: FinishedOp[] = [];
  for (const o of rows) {
    if (o.kind !== 'switch' && o.kind !== 'rollback') continue;
    ops.push({ id: o.id, guestId: o.guest_id, kind: o.kind, from: o.from_type, to: o.to_type, status: o.status as FinishedOp['status'], reason: o.reason, at: o.updated_at });
  }
  const ids = new Set(guests.map((g) => g.id));
  const attention = new Map<number, string>();
  for (const g of await store.listGuests({ health: 'needs-attention' })) if (ids.has(g.id) && g.attention !== null) attention.set(g.id, g.attention);
  const plan = planCampaign(hosts, guests, OVERVIEW_POLICY);
  // Only this selection's guests change its PV count.
  const mine = ops.filter((o) => ids.has(o.guestId));
  const progress = await readCampaigns(store, opts.now, opts.hostNames ?? []);
  return overview({ hosts, guests, plan, ops: mine, attention, now: opts.now, weeks: opts.weeks, complete: rows.length < OPS_READ, campaigns: progress });
}

/**
 * The overview /metrics exports: this week only (Prometheus keeps the series itself), read afresh
 * at each rendering of the metrics.
 * @example
 * fleetMetrics(store, bus.emitter, { overview: metricsOverview(store) })
 */
export const metricsOverview = (store: Store) => (): Promise<Overview> => readOverview(store, { weeks: 1, now: Date.now() });
