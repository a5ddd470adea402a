/**
 * Campaigns (issue #14 item 2): a plan (src/fleet/planner.ts) made into a stored object that runs
 * over weeks. Created over hosts, guests or owners with a policy and each host's maintenance
 * window; started (every planned guest gets a slot, a concrete occurrence of its host's window);
 * paused, resumed, cancelled. Its tick, run by `pvhctl serve`, `pvhctl worker` and `pvhctl
 * campaign run`, records each submitted guest's outcome from its operation, pauses the campaign
 * when a wave's failures pass the threshold, sends the mail that is due through the Notifier (to
 * guests held for their customer too: what to do first, for their distribution), and
 * submits the current wave's switches through the switch machinery (the queue on PostgreSQL, the
 * per-host limit everywhere), only inside their slot and only when they can end before it closes.
 * A tick is safe to run twice and from several processes at once: it holds the campaign's tick
 * lease in the store, and every guest's move is a compare-and-set on its row.
 */
import { hostname } from 'node:os';
import { campaigns, type Campaign, type CampaignGuest, type CampaignGuestStatus, type CampaignStatus } from '../store/campaigns.ts';
import type { Store } from '../store/store.ts';
import { DAY_MS, DEFAULT_SETTINGS, assignSlots, fittingOccurrence, mailDue, switchLength, waveOverThreshold, type CampaignSettings, type Clock } from './campaign-rules.ts';
import { DOWNTIME_SAMPLES } from './downtime.ts';
import { noticeKey, type Notice, type NoticeOutcome, type Notifier } from './notice.ts';
import { readPlanInput } from './plan-input.ts';
import { decodeVerdict } from './stored-verdict.ts';
import { planCampaign, type GuestPath } from './planner.ts';
import { startSwitches, type FleetContext } from './switch.ts';
import { isSwitchTarget, type SwitchTarget } from './types.ts';
import type { Guest } from '../store/schema.ts';
import { formatWindow, occurrenceAt, parseWindow, type MaintenanceWindow } from './windows.ts';

/** Who a campaign was created over; an empty list does not narrow. */
export type CampaignScope = { hosts: string[]; guests: string[]; owners: string[] };

/** The campaign as a value: its row with policy, scope and windows decoded. */
export type CampaignView = Omit<Campaign, 'policy' | 'scope' | 'windows' | 'tick_owner' | 'tick_until'> & {
  policy: CampaignSettings;
  scope: CampaignScope;
  windows: Record<string, string>;
};

/** A refused request, in operator words, one line. */
export class CampaignError extends Error {}

const TICK_LEASE_MS = 60_000;
/** A claim older than this whose operation was never recorded: its tick died between the two. */
const CLAIM_STALE_MS = 60_000;
const TICK_OWNER = `${hostname()}:${process.pid}`;
const FAILED: readonly CampaignGuestStatus[] = ['rolled-back', 'refused', 'needs-attention'];
const ACTIVE: readonly CampaignGuestStatus[] = ['planned', 'submitting', 'submitted'];

/** Decodes a campaign row. */
export function viewOf(c: Campaign): CampaignView {
  const { tick_owner: _o, tick_until: _u, ...rest } = c;
  return { ...rest, policy: { ...DEFAULT_SETTINGS, ...(JSON.parse(c.policy) as Partial<CampaignSettings>) }, scope: JSON.parse(c.scope) as CampaignScope, windows: JSON.parse(c.windows) as Record<string, string> };
}

async function find(store: Store, name: string): Promise<Campaign> {
  const c = await campaigns(store).byName(name);
  if (c === undefined) throw new CampaignError(`no campaign named ${JSON.stringify(name.slice(0, 80))}`);
  return c;
}

/** The campaign's windows parsed, each in its host's time zone when the spec names none. */
async function windowsOf(store: Store, specs: Record<string, string>): Promise<Map<string, MaintenanceWindow>> {
  const zones = await campaigns(store).timeZones();
  const out = new Map<string, MaintenanceWindow>();
  for (const [host, spec] of Object.entries(specs)) {
    const r = parseWindow(spec, zones.get(host) ?? 'UTC');
    if (!r.ok) throw new CampaignError(`host ${host}: ${r.error}`);
    out.set(host, r.window);
  }
  return out;
}

/**
 * Creates a campaign (a draft) over `scope`: plans it, and records every guest in it with its wave
 * or the path that holds it back. Every host with a guest to switch needs a window. `settings`
 * overrides `defaults` (the settings file's campaign section; built-in defaults without it).
 * @example
 * await createCampaign(store, { name: 'autumn', scope: { hosts: ['xen1'], guests: [], owners: [] }, windows: { xen1: 'Tue-Thu 02:00-05:00 Europe/Berlin' }, settings: {}, actor: 'op' })
 * // => { name: 'autumn', status: 'draft', ... }
 */
export async function createCampaign(
  store: Store,
  req: { name: string; scope: CampaignScope; windows: Record<string, string>; settings: Partial<CampaignSettings>; actor: string; defaults?: CampaignSettings },
): Promise<CampaignView> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(req.name)) throw new CampaignError(`campaign name ${JSON.stringify(req.name.slice(0, 80))}: letters, digits, '.', '_' and '-', at most 63`);
  if ((await campaigns(store).byName(req.name)) !== undefined) throw new CampaignError(`a campaign named ${req.name} exists already`);
  // The operator's defaults (the settings' campaign section) under what this request says.
  const settings: CampaignSettings = { ...(req.defaults ?? DEFAULT_SETTINGS), ...req.settings };
  const known = new Set((await store.listHosts()).map((h) => h.name));
  const unknown = [...req.scope.hosts, ...Object.keys(req.windows)].find((h) => !known.has(h));
  if (unknown !== undefined) throw new CampaignError(`no host named ${JSON.stringify(unknown.slice(0, 80))}`);
  const windows = await windowsOf(store, req.windows);
  const input = await readPlanInput(store, req.scope.hosts);
  const guests = input.guests.filter((g) => (req.scope.guests.length === 0 || req.scope.guests.includes(g.name)) && (req.scope.owners.length === 0 || (g.owner !== null && req.scope.owners.includes(g.owner))));
  const plan = planCampaign(input.hosts, guests, settings);
  const owners = new Map(guests.map((g) => [g.id, g.owner]));
  const rows: Parameters<ReturnType<typeof campaigns>['create']>[1] = [];
  const base = { slot_start: null, slot_end: null, operation_id: null, claimed_at: null, choice: null, postponed: 0, notice_for: null, reminder_for: null, result_for: null, outcome_reason: null, acknowledged: 0 };
  for (const w of plan.waves)
    for (const h of w.hosts) {
      if (!windows.has(h.host)) throw new CampaignError(`host ${h.host} has guests to switch but no window: give --window ${h.host}='Tue-Thu 02:00-05:00 Europe/Berlin'`);
      for (const s of h.switches) {
        const path: GuestPath = { path: s.path };
        rows.push({ ...base, guest_id: s.id, guest_name: s.name, host_name: s.host, owner: owners.get(s.id) ?? null, wave: w.n, wave_kind: w.kind, to_type: s.to, path: JSON.stringify(path), status: 'planned' });
      }
    }
  for (const h of plan.held) rows.push({ ...base, guest_id: h.id, guest_name: h.name, host_name: h.host, owner: owners.get(h.id) ?? null, wave: null, wave_kind: null, to_type: null, path: JSON.stringify(h.path), status: 'held' });
  const specs = Object.fromEntries([...windows].map(([h, w]) => [h, formatWindow(w)]));
  const c = await campaigns(store).create({ name: req.name, policy: JSON.stringify(settings), scope: JSON.stringify(req.scope), windows: JSON.stringify(specs), created_by: req.actor }, rows);
  await store.audit(req.actor, 'campaign-create', req.name, `${rows.filter((r) => r.status === 'planned').length} to switch in ${plan.waves.length} waves, ${plan.held.length} held back`);
  return viewOf(c);
}

/**
 * Starts a draft: every planned guest gets its slot, the waves one after another from
 * `noticeDays` from now (so that every customer gets the full notice), and the tick begins to run it.
 * @example
 * await startCampaign(store, 'autumn', 'op', realClock) // => { status: 'running', started_at: '2026-12-06T…', ... }
 */
export async function startCampaign(store: Store, name: string, actor: string, clock: Clock): Promise<CampaignView> {
  const c = await find(store, name);
  if (c.status !== 'draft') throw new CampaignError(`campaign ${name} is ${c.status}, not a draft: only a draft starts (resume a paused one)`);
  const v = viewOf(c);
  const windows = await windowsOf(store, v.windows);
  const now = clock.now();
  const rows = (await campaigns(store).guests(c.id)).filter((g) => g.status === 'planned');
  const slots = assignSlots(rows.map((g) => ({ wave: g.wave!, host: g.host_name })), windows, new Date(now.getTime() + v.policy.noticeDays * DAY_MS), v.policy.switchEstimateMs);
  const cs = campaigns(store);
  for (const [i, g] of rows.entries()) await cs.updateGuest(g.id, ['planned'], { slot_start: slots[i]!.start.toISOString(), slot_end: slots[i]!.end.toISOString() });
  const lastEnd = slots.reduce((m, s) => Math.max(m, s.end.getTime()), now.getTime() + v.policy.noticeDays * DAY_MS);
  const endsAt = new Date(Math.max(lastEnd, now.getTime() + v.policy.lengthDays * DAY_MS)).toISOString();
  if (!(await cs.setStatus(c.id, ['draft'], 'running', { started_at: now.toISOString(), ends_at: endsAt }))) throw new CampaignError(`campaign ${name} was started by someone else just now`);
  await store.audit(actor, 'campaign-start', name, `${rows.length} slots, until ${endsAt}`);
  return viewOf((await cs.get(c.id))!);
}

/**
 * Pauses a running campaign (an operator's, with their reason): nothing new is submitted; what
 * runs finishes and is recorded.
 */
export async function pauseCampaign(store: Store, name: string, actor: string, reason: string): Promise<CampaignView> {
  const c = await find(store, name);
  if (!(await campaigns(store).setStatus(c.id, ['running'], 'paused', { pause_reason: `paused by ${actor}: ${reason}` }))) throw new CampaignError(`campaign ${name} is ${c.status}, not running`);
  await store.audit(actor, 'campaign-pause', name, reason);
  return viewOf((await campaigns(store).get(c.id))!);
}

/**
 * Resumes a paused campaign: the failures that paused it are accepted (the threshold no longer
 * counts them); guests whose slot went by while paused get the next one at the next tick.
 */
export async function resumeCampaign(store: Store, name: string, actor: string): Promise<CampaignView> {
  const c = await find(store, name);
  if (c.status !== 'paused') throw new CampaignError(`campaign ${name} is ${c.status}, not paused`);
  await campaigns(store).acknowledgeFailures(c.id);
  if (!(await campaigns(store).setStatus(c.id, ['paused'], 'running', { pause_reason: null }))) throw new CampaignError(`campaign ${name} changed just now; look again`);
  await store.audit(actor, 'campaign-resume', name, c.pause_reason);
  return viewOf((await campaigns(store).get(c.id))!);
}

/** Cancels a campaign: its planned guests are skipped; switches already running finish. */
export async function cancelCampaign(store: Store, name: string, actor: string): Promise<CampaignView> {
  const c = await find(store, name);
  const cs = campaigns(store);
  if (!(await cs.setStatus(c.id, ['draft', 'running', 'paused'], 'cancelled'))) throw new CampaignError(`campaign ${name} is ${c.status} already`);
  for (const g of await cs.guests(c.id)) if (g.status === 'planned') await cs.updateGuest(g.id, ['planned'], { status: 'skipped' });
  await store.audit(actor, 'campaign-cancel', name, null);
  return viewOf((await cs.get(c.id))!);
}

/** A campaign with its guests, for `campaign show` and the API. */
export type CampaignDetail = { campaign: CampaignView; guests: CampaignGuest[]; counts: Record<CampaignGuestStatus, number> };

/** Reads one campaign with every guest row and the count per status. */
export async function showCampaign(store: Store, name: string): Promise<CampaignDetail> {
  const c = await find(store, name);
  const guests = await campaigns(store).guests(c.id);
  const counts = Object.fromEntries((['held', 'planned', 'submitting', 'submitted', 'switched', 'rolled-back', 'refused', 'needs-attention', 'skipped'] as const).map((s) => [s, 0])) as Record<CampaignGuestStatus, number>;
  for (const g of guests) counts[g.status]++;
  return { campaign: viewOf(c), guests, counts };
}

/** Every campaign, newest last. */
export async function listCampaigns(store: Store): Promise<CampaignView[]> {
  return (await campaigns(store).list()).map(viewOf);
}

/** What one tick did, for logs and tests. */
export type TickReport =
  | { campaign: string; kind: 'not-running'; status: CampaignStatus }
  /** Another tick (this process or another) holds the campaign. */
  | { campaign: string; kind: 'busy' }
  | {
      campaign: string;
      kind: 'ran';
      recorded: { guest: string; status: CampaignGuestStatus }[];
      mailed: { guest: string; kind: Notice['kind']; status: string }[];
      submitted: string[];
      /** Guests whose slot could not be used, and their new slot's start. */
      moved: { guest: string; to: string }[];
      paused: string | null;
      done: boolean;
    };

/** What a tick needs besides the fleet. */
export type TickDeps = { clock: Clock; notifier: Notifier; log?: (line: string) => void };

const outcomeOf = (g: CampaignGuest): NoticeOutcome | null => {
  const to = g.to_type !== null && isSwitchTarget(g.to_type) ? g.to_type : 'pvh';
  if (g.status === 'switched') return { kind: 'switched', to };
  if (g.status === 'rolled-back') return { kind: 'rolled-back', to, reason: g.outcome_reason ?? 'It did not start in the new mode and was put back as it was.' };
  if (g.status === 'refused') return { kind: 'not-started', reason: g.outcome_reason ?? 'The checks before the switch did not pass; nothing was changed.' };
  // needs-attention: an operator looks at it first and tells the customer.
  return null;
};

const noticeOf = (c: Campaign, g: CampaignGuest, kind: Notice['kind'], slot: { start: string; end: string } | null, timeZone: string, distro: string | null, outcome?: NoticeOutcome): Notice => ({
  kind,
  campaignId: c.id,
  campaignName: c.name,
  guestId: g.guest_id,
  guestName: g.guest_name,
  owner: g.owner ?? '',
  host: g.host_name,
  slot: slot === null ? null : { start: new Date(slot.start), end: new Date(slot.end), timeZone },
  path: JSON.parse(g.path) as GuestPath,
  distro,
  ...(outcome ? { outcome } : {}),
});

/**
 * Runs every running or paused campaign's tick once.
 * @example
 * await tickAll(fleet.ctx, { clock: realClock, notifier }) // => [{ campaign: 'autumn', kind: 'ran', submitted: ['web1'], ... }]
 */
export async function tickAll(ctx: FleetContext, deps: TickDeps): Promise<TickReport[]> {
  const out: TickReport[] = [];
  for (const c of await campaigns(ctx.store).list()) if (c.status === 'running' || c.status === 'paused') out.push(await tickCampaign(ctx, c.name, deps));
  return out;
}

/**
 * One tick of campaign `name` at `deps.clock.now()`; see the module comment. Returns what it did.
 */
export async function tickCampaign(ctx: FleetContext, name: string, deps: TickDeps): Promise<TickReport> {
  const store = ctx.store;
  const cs = campaigns(store);
  const first = await find(store, name);
  if (first.status !== 'running' && first.status !== 'paused') return { campaign: name, kind: 'not-running', status: first.status };
  // The lease is about processes, not the schedule: real time, whatever the campaign clock says.
  if (!(await cs.takeTick(first.id, TICK_OWNER, new Date().toISOString(), new Date(Date.now() + TICK_LEASE_MS).toISOString()))) return { campaign: name, kind: 'busy' };
  try {
    return await tickHeld(ctx, first.id, deps);
  } finally {
    await cs.releaseTick(first.id, TICK_OWNER);
  }
}

async function tickHeld(ctx: FleetContext, id: number, deps: TickDeps): Promise<TickReport> {
  const store = ctx.store;
  const cs = campaigns(store);
  const c = (await cs.get(id))!;
  const v = viewOf(c);
  const now = deps.clock.now();
  const zones = await windowsOf(store, v.windows);
  const zoneOf = (host: string) => zones.get(host)?.timeZone ?? 'UTC';
  const report = { campaign: c.name, kind: 'ran' as const, recorded: [] as { guest: string; status: CampaignGuestStatus }[], mailed: [] as { guest: string; kind: Notice['kind']; status: string }[], submitted: [] as string[], moved: [] as { guest: string; to: string }[], paused: null as string | null, done: false };

  // Each mailed guest's distribution, from its stored inspection (its os-release ID), read once per tick.
  const distros = new Map<number, string | null>();
  const distroOf = async (guestId: number): Promise<string | null> => {
    if (!distros.has(guestId)) {
      const row = await store.getGuestById(guestId);
      distros.set(guestId, decodeVerdict(row?.verdict ?? null)?.os?.id ?? null);
    }
    return distros.get(guestId)!;
  };
  const send = async (g: CampaignGuest, column: 'notice_for' | 'reminder_for' | 'result_for', notice: Notice) => {
    const key = noticeKey(notice);
    if (!(await cs.markMail(g.id, column, key))) return;
    const r = await deps.notifier.send(notice).catch((err: unknown) => ({ status: 'failed' as const, error: err instanceof Error ? err.message : String(err) }));
    if (r.status === 'failed') await cs.unmarkMail(g.id, column, key);
    if (r.status === 'no-address') await store.audit('pvhctl', 'campaign-mail-no-address', g.guest_name, `${c.name}: ${notice.kind} for owner ${g.owner ?? '(none)'}`);
    report.mailed.push({ guest: g.guest_name, kind: notice.kind, status: r.status });
  };

  // 1. Outcomes of what was submitted; claims whose tick died before recording the operation.
  for (const g of await cs.guests(id)) {
    if (g.status === 'submitting' && g.claimed_at !== null && Date.now() - Date.parse(g.claimed_at) > CLAIM_STALE_MS) {
      const op = (await store.listOperations({ guestId: g.guest_id, limit: 5 })).find((o) => o.kind === 'switch' && o.created_at >= g.claimed_at!);
      await cs.updateGuest(g.id, ['submitting'], op === undefined ? { status: 'planned', claimed_at: null } : { status: 'submitted', operation_id: op.id });
      continue;
    }
    if (g.status !== 'submitted' || g.operation_id === null) continue;
    const op = await store.getOperation(g.operation_id);
    if (op === undefined || op.status === 'pending' || op.status === 'running') continue;
    const status: CampaignGuestStatus = op.status === 'done' ? 'switched' : op.status;
    if (!(await cs.updateGuest(g.id, ['submitted'], { status, outcome_reason: op.reason }))) continue;
    report.recorded.push({ guest: g.guest_name, status });
    await store.audit('pvhctl', 'campaign-outcome', g.guest_name, `${c.name}: ${status}`);
  }
  let rows = await cs.guests(id);
  for (const g of rows) {
    const outcome = outcomeOf(g);
    if (outcome === null || g.slot_start === null || g.slot_end === null || g.result_for === g.slot_start) continue;
    await send(g, 'result_for', noticeOf(c, g, 'result', { start: g.slot_start, end: g.slot_end }, zoneOf(g.host_name), await distroOf(g.guest_id), outcome));
  }

  // 2. The failure threshold.
  const scheduled = rows.filter((g) => g.wave !== null && g.status !== 'skipped');
  const over = waveOverThreshold(scheduled.map((g) => ({ wave: g.wave!, kind: g.wave_kind ?? 'main', failed: FAILED.includes(g.status), acknowledged: g.acknowledged === 1 })), v.policy);
  let status = c.status;
  if (over !== null && status === 'running') {
    const who = scheduled.filter((g) => g.wave === over.wave && FAILED.includes(g.status) && g.acknowledged === 0).map((g) => `${g.guest_name} ${g.status}${g.outcome_reason ? ` (${g.outcome_reason})` : ''}`);
    const limit = over.threshold === 0 ? 'any failure' : `more than ${Math.round(over.threshold * 100)}%`;
    const reason = `wave ${over.wave}${over.kind === 'canary' ? ' (canary)' : ''}: ${over.failed} of ${over.size} failed, above its threshold (${limit}): ${who.join('; ')}`;
    if (await cs.setStatus(id, ['running'], 'paused', { pause_reason: reason })) {
      await store.audit('pvhctl', 'campaign-pause', c.name, reason);
      deps.log?.(`campaign ${c.name} paused: ${reason}`);
      report.paused = reason;
      status = 'paused';
    }
  }

  // 3. Done when nobody is left to switch.
  if (!rows.some((g) => ACTIVE.includes(g.status))) {
    if (await cs.setStatus(id, ['running'], 'done')) {
      await store.audit('pvhctl', 'campaign-done', c.name, null);
      report.done = true;
    }
    return report;
  }
  if (status !== 'running') return report;

  // 4. Slots that can no longer be used move to the next occurrence that fits; then mail that is due.
  const hosts = new Map((await store.listHosts()).map((h) => [h.name, h]));
  const lengths = new Map<string, number>();
  const lengthOn = async (host: string) => {
    let ms = lengths.get(host);
    if (ms === undefined) {
      const h = hosts.get(host);
      ms = switchLength(v.policy.switchEstimateMs, h === undefined ? [] : await store.switchDowntimes(h.id, DOWNTIME_SAMPLES));
      lengths.set(host, ms);
    }
    return ms;
  };
  for (const g of rows) {
    if (g.status !== 'planned' || g.slot_start === null || g.slot_end === null) continue;
    const w = zones.get(g.host_name);
    if (w === undefined) continue;
    const length = await lengthOn(g.host_name);
    if (now.getTime() + length <= Date.parse(g.slot_end)) continue;
    const next = fittingOccurrence(w, new Date(Math.max(now.getTime(), Date.parse(g.slot_end))), length);
    if (!(await cs.updateGuest(g.id, ['planned'], { slot_start: next.start.toISOString(), slot_end: next.end.toISOString() }))) continue;
    report.moved.push({ guest: g.guest_name, to: next.start.toISOString() });
    await store.audit('pvhctl', 'campaign-reslot', g.guest_name, `${c.name}: ${g.slot_start} -> ${next.start.toISOString()}`);
    // Only a slot that had begun was missed; one never reached (a wave before it still ran) just moves.
    if (now.getTime() >= Date.parse(g.slot_start)) {
      await send(g, 'result_for', noticeOf(c, g, 'result', { start: g.slot_start, end: g.slot_end }, w.timeZone, await distroOf(g.guest_id), { kind: 'not-started', reason: 'The maintenance window ended before the switch could be done; it moves to the next window.' }));
    }
  }
  rows = await cs.guests(id);
  for (const g of rows) {
    if (g.status !== 'planned' || g.slot_start === null || g.slot_end === null) continue;
    const due = mailDue(now, { start: new Date(g.slot_start), end: new Date(g.slot_end) }, { notice: g.notice_for, reminder: g.reminder_for }, v.policy.noticeDays);
    if (due === null) continue;
    await send(g, due === 'notice' ? 'notice_for' : 'reminder_for', noticeOf(c, g, due, { start: g.slot_start, end: g.slot_end }, zoneOf(g.host_name), await distroOf(g.guest_id)));
    // A notice inside the last day is its reminder too.
    if (due === 'notice' && now.getTime() >= Date.parse(g.slot_start) - DAY_MS) await cs.markMail(g.id, 'reminder_for', g.slot_start);
  }
  // Guests held until their customer acts (a reboot into an installed PVH kernel, a kernel to
  // install) are told once, with their distribution's steps, to act before the slot their host's
  // window would give them from the notice period on. On a host with no window in the campaign
  // they are told all the same, at the first tick, that no slot is planned for them in it: the
  // customer can act now, and a later campaign with a window there finds the guest ready.
  for (const g of rows) {
    if (g.status !== 'held' || g.notice_for !== null) continue;
    const path = JSON.parse(g.path) as GuestPath;
    if (path.path !== 'after-reboot' && path.path !== 'after-kernel-upgrade') continue;
    const w = zones.get(g.host_name);
    if (w === undefined) {
      await send(g, 'notice_for', noticeOf(c, g, 'notice', null, 'UTC', await distroOf(g.guest_id)));
      continue;
    }
    const o = fittingOccurrence(w, new Date(now.getTime() + v.policy.noticeDays * DAY_MS), await lengthOn(g.host_name));
    await send(g, 'notice_for', noticeOf(c, g, 'notice', { start: o.start.toISOString(), end: o.end.toISOString() }, w.timeZone, await distroOf(g.guest_id)));
  }

  // A held guest whose customer has acted (its newest scan now gives it a switch) joins the last
  // wave at the slot its mail named, or its window's next occurrence that fits when that went by.
  const waitsForCustomer = (g: CampaignGuest) => ['after-reboot', 'after-kernel-upgrade'].includes((JSON.parse(g.path) as GuestPath).path);
  // Only those whose host has a window: the others have no slot in this campaign (their mail said so).
  const told = rows.filter((g) => g.status === 'held' && g.notice_for !== null && zones.has(g.host_name) && waitsForCustomer(g));
  if (told.length > 0) {
    const input = await readPlanInput(store, [...new Set(told.map((g) => g.host_name))]);
    const hostBy = new Map(input.hosts.map((h) => [h.name, h]));
    const guestBy = new Map(input.guests.map((g) => [g.id, g]));
    const last = Math.max(0, ...rows.filter((g) => g.wave !== null).map((g) => g.wave!));
    for (const g of told) {
      const pg = guestBy.get(g.guest_id);
      const w = zones.get(g.host_name);
      if (pg === undefined || w === undefined) continue;
      const p = planCampaign(input.hosts.filter((h) => h.name === g.host_name), [pg], { ...v.policy, canary: 0 }).waves[0]?.hosts[0]?.switches[0];
      if (p === undefined || hostBy.get(g.host_name) === undefined) continue;
      const length = await lengthOn(g.host_name);
      const named = { start: new Date(g.notice_for!), end: occurrenceAt(w, new Date(g.notice_for!)).end };
      const slot = now.getTime() + length <= named.end.getTime() ? named : fittingOccurrence(w, now, length);
      const path: GuestPath = { path: p.path };
      if (!(await cs.updateGuest(g.id, ['held'], { status: 'planned', wave: last, wave_kind: 'main', to_type: p.to, path: JSON.stringify(path), slot_start: slot.start.toISOString(), slot_end: slot.end.toISOString() }))) continue;
      await store.audit('pvhctl', 'campaign-unheld', g.guest_name, `${c.name}: ${p.path} at ${slot.start.toISOString()}`);
    }
  }

  rows = await cs.guests(id);
  // 5. The current wave's guests whose slot is open, up to each host's free places. A guest whose
  // customer chose its time runs at that time and holds no wave back.
  const current = Math.min(...rows.filter((g) => ACTIVE.includes(g.status) && g.wave !== null && g.choice === null).map((g) => g.wave!));
  // A guest moved to another slot waits for the canary all the same (switch now is the customer's own call).
  const canaryOpen = rows.some((g) => g.wave_kind === 'canary' && g.choice === null && ACTIVE.includes(g.status));
  const guests = new Map((await store.listGuests()).map((g) => [g.id, g]));
  const busy = new Map<number, number>();
  for (const op of await store.listOperations({ status: ['pending', 'running'], limit: 100_000 })) {
    const h = guests.get(op.guest_id)?.host_id;
    if (h !== undefined) busy.set(h, (busy.get(h) ?? 0) + 1);
  }
  // In rounds: each round asks for as many switches as the hosts have free places, in one bulk
  // request; a guest refused there (busy with another change, or claimed by another tick) gives its
  // place to the next guest on its host in the next round, as a one-by-one submission would.
  const tried = new Set<number>();
  for (;;) {
    const round: { g: CampaignGuest; hostId: number }[] = [];
    const taken = new Map<number, number>();
    for (const g of rows) {
      if (tried.has(g.id) || g.status !== 'planned' || (g.choice === null ? g.wave !== current : canaryOpen) || g.slot_start === null || g.slot_end === null) continue;
      if (now.getTime() < Date.parse(g.slot_start) || now.getTime() + (await lengthOn(g.host_name)) > Date.parse(g.slot_end)) continue;
      // Never without the customer's notice for this slot (unless they chose its time themselves).
      if (g.notice_for !== g.slot_start && g.choice === null) continue;
      const host = hosts.get(g.host_name);
      if (host === undefined) continue;
      const limit = Math.max(1, Math.min(host.max_parallel, v.policy.perHost ?? Number.POSITIVE_INFINITY));
      if ((busy.get(host.id) ?? 0) + (taken.get(host.id) ?? 0) >= limit) continue;
      taken.set(host.id, (taken.get(host.id) ?? 0) + 1);
      round.push({ g, hostId: host.id });
    }
    if (round.length === 0) break;
    for (const { g } of round) tried.add(g.id);
    const r = await submitMany(ctx, c, round.map(({ g }) => g), `campaign:${c.name}`, async (id) => guests.get(id));
    for (const { g, hostId } of round) {
      if (r.get(g.id) !== 'started') continue;
      busy.set(hostId, (busy.get(hostId) ?? 0) + 1);
      report.submitted.push(g.guest_name);
    }
  }
  return report;
}

/** What became of one guest row handed to submitMany. */
type Submission = 'started' | 'lost' | 'busy' | 'gone';

/**
 * Claims the planned guest rows `gs` and starts their switches in one request through the switch
 * machinery (startSwitches: one transaction per SWITCH_BATCH guests, with the workers' jobs in it
 * on PostgreSQL; run here under each host's limit otherwise); records each operation on its row
 * and audits it. A claim whose process dies before the operations are recorded is taken up by a
 * later tick (step 1). Returns what became of each row, by row id.
 */
async function submitMany(ctx: FleetContext, c: Campaign, gs: readonly CampaignGuest[], actor: string, guestOf: (id: number) => Promise<Guest | undefined>, choice?: 'early'): Promise<Map<number, Submission>> {
  const cs = campaigns(ctx.store);
  const out = new Map<number, Submission>();
  const claimed = new Set(await cs.claimGuests(gs.map((g) => g.id), new Date().toISOString(), choice ? { choice } : {}));
  const reqs: { row: CampaignGuest; guest: Guest; to: SwitchTarget }[] = [];
  for (const g of gs) {
    if (!claimed.has(g.id)) {
      out.set(g.id, 'lost');
      continue;
    }
    const guest = await guestOf(g.guest_id);
    if (guest === undefined || g.to_type === null || !isSwitchTarget(g.to_type)) {
      await cs.updateGuest(g.id, ['submitting'], { status: 'skipped', outcome_reason: 'The server is no longer known.' });
      out.set(g.id, 'gone');
      continue;
    }
    reqs.push({ row: g, guest, to: g.to_type });
  }
  if (reqs.length === 0) return out;
  const batch = await startSwitches(ctx, reqs.map(({ guest, to }) => ({ guest, to })), { force: false, actor });
  const rowOf = new Map(reqs.map((r) => [r.guest.id, r.row]));
  for (const guest of batch.busy) {
    // Another change to it is in progress: it stays planned and is tried again.
    const row = rowOf.get(guest.id)!;
    await cs.updateGuest(row.id, ['submitting'], { status: 'planned', claimed_at: null, ...(choice ? { choice: null } : {}) });
    out.set(row.id, 'busy');
  }
  // Run here (SQLite): they finish in the background; the next tick records their outcome.
  for (const s of batch.started) if (s.run.where === 'here') s.run.finished.catch(() => {});
  const started = batch.started.map((s) => ({ row: rowOf.get(s.guest.id)!, op: s.operation }));
  await cs.recordSubmitted(started.map(({ row, op }) => ({ id: row.id, operation_id: op.id, slot_start: row.slot_start, slot_end: row.slot_end })));
  await ctx.store.auditMany(started.map(({ row, op }) => ({ actor, action: 'campaign-submit', target: row.guest_name, detail: `${c.name}: operation ${op.id} to ${row.to_type}` })));
  for (const { row } of started) out.set(row.id, 'started');
  return out;
}

/** Who asks for a customer choice: the guest's owner, or an operator on their behalf. */
export type ChoiceActor = { kind: 'customer'; owner: string } | { kind: 'operator'; name: string };

/** Why a choice was refused, as a code; src/fleet/campaign-words.ts words it. */
export type ChoiceRefusal =
  | { code: 'no-campaign' }
  | { code: 'not-in-campaign' }
  | { code: 'not-running'; status: CampaignStatus }
  /** Its switch has begun or is over, or it is held back. */
  | { code: 'not-planned'; status: CampaignGuestStatus }
  | { code: 'not-a-slot' }
  | { code: 'outside-bounds'; until: string }
  | { code: 'already-postponed' }
  | { code: 'postpone-too-long'; maxDays: number }
  | { code: 'busy' };

/** The result of a customer choice: the guest's row after it, or why not. */
export type ChoiceResult = { ok: true; guest: CampaignGuest } | { ok: false; refusal: ChoiceRefusal };

const actorName = (a: ChoiceActor) => (a.kind === 'customer' ? `customer:${a.owner}` : a.name);

/** The campaign and guest row a choice is about, when the actor may choose for it and it can still move. */
async function choosable(store: Store, campaign: string, guestId: number, actor: ChoiceActor): Promise<{ ok: true; c: Campaign; g: CampaignGuest; v: CampaignView } | { ok: false; refusal: ChoiceRefusal }> {
  const c = await campaigns(store).byName(campaign);
  if (c === undefined) return { ok: false, refusal: { code: 'no-campaign' } };
  const g = await campaigns(store).guest(c.id, guestId);
  // A customer is told the same for a guest that is not theirs as for one not in the campaign.
  if (g === undefined || (actor.kind === 'customer' && g.owner !== actor.owner)) return { ok: false, refusal: { code: 'not-in-campaign' } };
  if (c.status !== 'running') return { ok: false, refusal: { code: 'not-running', status: c.status } };
  if (g.status !== 'planned') return { ok: false, refusal: { code: 'not-planned', status: g.status } };
  return { ok: true, c, g, v: viewOf(c) };
}

/**
 * The customer's slots to choose from: the occurrences of its host's window from now to the
 * campaign's end in which a switch fits (at most `max`).
 * @example
 * await slotChoices(store, 'autumn', 12, clock) // => [{ start: 2026-12-08T01:00Z, end: 2026-12-08T04:00Z }, ...]
 */
export async function slotChoices(store: Store, campaign: string, guestId: number, clock: Clock, max = 20): Promise<{ start: Date; end: Date }[]> {
  const c = await find(store, campaign);
  const v = viewOf(c);
  const g = await campaigns(store).guest(c.id, guestId);
  const w = g === undefined ? undefined : (await windowsOf(store, v.windows)).get(g.host_name);
  if (w === undefined || c.ends_at === null) return [];
  const out: { start: Date; end: Date }[] = [];
  for (let at = clock.now(); out.length < max; ) {
    const o = fittingOccurrence(w, at, v.policy.switchEstimateMs);
    if (o.start.toISOString() > c.ends_at) break;
    if (o.start >= clock.now()) out.push(o);
    at = o.end;
  }
  return out;
}

/**
 * Switch now: the customer's guest is switched at once, ahead of its slot, through the same queue
 * and per-host limit as the campaign's own.
 */
export async function switchEarly(ctx: FleetContext, campaign: string, guestId: number, actor: ChoiceActor): Promise<ChoiceResult> {
  const f = await choosable(ctx.store, campaign, guestId, actor);
  if (!f.ok) return f;
  const r = (await submitMany(ctx, f.c, [f.g], actorName(actor), (id) => ctx.store.getGuestById(id), 'early')).get(f.g.id);
  if (r !== 'started') return { ok: false, refusal: r === 'busy' || r === 'lost' ? { code: 'busy' } : { code: 'not-planned', status: 'skipped' } };
  await ctx.store.audit(actorName(actor), 'campaign-choice', f.g.guest_name, `${campaign}: switch now`);
  return { ok: true, guest: (await campaigns(ctx.store).guest(f.c.id, guestId))! };
}

/** Moves the guest to slot `start`: an occurrence of its host's window, from now to the campaign's end. */
export async function chooseSlot(store: Store, campaign: string, guestId: number, start: Date, actor: ChoiceActor, clock: Clock): Promise<ChoiceResult> {
  const f = await choosable(store, campaign, guestId, actor);
  if (!f.ok) return f;
  const slot = (await slotChoices(store, campaign, guestId, clock, 500)).find((o) => o.start.getTime() === start.getTime());
  if (slot === undefined) {
    const w = (await windowsOf(store, f.v.windows)).get(f.g.host_name);
    const isOccurrence = w !== undefined && occurrenceAt(w, start).start.getTime() === start.getTime() && start >= clock.now();
    return { ok: false, refusal: isOccurrence ? { code: 'outside-bounds', until: f.c.ends_at ?? '' } : { code: 'not-a-slot' } };
  }
  if (!(await campaigns(store).updateGuest(f.g.id, ['planned'], { slot_start: slot.start.toISOString(), slot_end: slot.end.toISOString(), choice: 'slot' }))) return { ok: false, refusal: { code: 'busy' } };
  await store.audit(actorName(actor), 'campaign-choice', f.g.guest_name, `${campaign}: slot ${slot.start.toISOString()}`);
  return { ok: true, guest: (await campaigns(store).guest(f.c.id, guestId))! };
}

/** Postpones the guest once by `days` (up to the campaign's limit): to its window's first fitting occurrence from then. */
export async function postpone(store: Store, campaign: string, guestId: number, days: number, actor: ChoiceActor): Promise<ChoiceResult> {
  const f = await choosable(store, campaign, guestId, actor);
  if (!f.ok) return f;
  if (f.g.postponed >= 1) return { ok: false, refusal: { code: 'already-postponed' } };
  if (!Number.isInteger(days) || days < 1 || days > f.v.policy.postponeDays) return { ok: false, refusal: { code: 'postpone-too-long', maxDays: f.v.policy.postponeDays } };
  const w = (await windowsOf(store, f.v.windows)).get(f.g.host_name);
  if (w === undefined || f.g.slot_start === null) return { ok: false, refusal: { code: 'not-planned', status: f.g.status } };
  const next = fittingOccurrence(w, new Date(Date.parse(f.g.slot_start) + days * DAY_MS), f.v.policy.switchEstimateMs);
  if (!(await campaigns(store).updateGuest(f.g.id, ['planned'], { slot_start: next.start.toISOString(), slot_end: next.end.toISOString(), choice: 'postponed', postponed: f.g.postponed + 1 }))) return { ok: false, refusal: { code: 'busy' } };
  await store.audit(actorName(actor), 'campaign-choice', f.g.guest_name, `${campaign}: postponed ${days} days to ${next.start.toISOString()}`);
  return { ok: true, guest: (await campaigns(store).guest(f.c.id, guestId))! };
}

/** A running campaign ticker; `stop` waits for the tick in progress. */
export type CampaignTicker = { stop(): Promise<void> };

/**
 * Ticks every running campaign every `everyMs` in the background (`pvhctl serve`, `pvhctl
 * worker`); any number of these may run against one store: each campaign's tick lease lets one act.
 * @example
 * const t = startCampaignTicker(fleet.ctx, { clock: realClock, notifier, everyMs: 30_000 });
 * await t.stop();
 */
export function startCampaignTicker(ctx: FleetContext, deps: TickDeps & { everyMs: number }): CampaignTicker {
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => tickAll(ctx, deps).then(() => {})).catch((err: unknown) => deps.log?.(`campaign tick: ${err instanceof Error ? err.message : String(err)}`));
  }, deps.everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/** A guest's place in one campaign as its customer sees it: its slot, what it may still choose. */
export type GuestCampaignView = {
  campaign: string;
  campaignStatus: CampaignStatus;
  status: CampaignGuestStatus;
  slot: { start: string; end: string; timeZone: string } | null;
  choice: string | null;
  /** Postponing is still open to it, and by how many days at most (0: no more). */
  postponeDays: number;
  /** Other slots it may move to (empty unless the campaign runs and the guest waits for its slot). */
  choices: { start: string; end: string }[];
  /** Why it is held back, in customer words' code: the planner's path (src/fleet/plan-words.ts words it). */
  path: GuestPath;
  outcomeReason: string | null;
};

/**
 * The campaigns guest `guestId` is in (running, paused or done), with its slot and choices.
 * @example
 * await guestCampaigns(store, 12, realClock) // => [{ campaign: 'winter', status: 'planned', slot: { start: '2026-12-09T01:00:00.000Z', ... }, choices: [...] }]
 */
export async function guestCampaigns(store: Store, guestId: number, clock: Clock): Promise<GuestCampaignView[]> {
  const out: GuestCampaignView[] = [];
  for (const c of await campaigns(store).list()) {
    if (c.status === 'draft' || c.status === 'cancelled') continue;
    const g = await campaigns(store).guest(c.id, guestId);
    if (g === undefined) continue;
    const v = viewOf(c);
    const tz = (await windowsOf(store, v.windows)).get(g.host_name)?.timeZone ?? 'UTC';
    const open = c.status === 'running' && g.status === 'planned';
    out.push({
      campaign: c.name,
      campaignStatus: c.status,
      status: g.status,
      slot: g.slot_start !== null && g.slot_end !== null ? { start: g.slot_start, end: g.slot_end, timeZone: tz } : null,
      choice: g.choice,
      postponeDays: open && g.postponed === 0 ? v.policy.postponeDays : 0,
      choices: open ? (await slotChoices(store, c.name, guestId, clock)).map((o) => ({ start: o.start.toISOString(), end: o.end.toISOString() })) : [],
      path: JSON.parse(g.path) as GuestPath,
      outcomeReason: g.outcome_reason,
    });
  }
  return out;
}
