/**
 * The campaign planner (issue #14): a pure function from the fleet as the store knows it (each
 * guest's whole inspection verdict, its host's role and capabilities, its latest rehearsal) and a
 * campaign's policy to a plan: every guest's path to PVH, and its place, either in a wave or held
 * back with a reason. Waves run one after another; inside a wave each host switches at most its
 * per-host limit of guests at once, so a wave is one round of the switch queue. Nothing here reads
 * the store or touches a host: the ways in (src/cli/campaign.ts) gather the input and render the
 * output (src/fleet/plan-words.ts).
 */
import type { GuestHealth, HostRole } from '../store/schema.ts';
import { becoming } from './become.ts';
import { hasHvm } from './policy.ts';
import type { GuestVerdict } from './seams.ts';
import type { GuestType, RehearsalTarget, SwitchTarget } from './types.ts';

/** A host as the planner needs it: the hosts table's role, `xl info` caps and limit. */
export type PlanHost = {
  name: string;
  role: HostRole;
  /** `xl info` xen_caps (`xen-3.0-x86_64`, `xen-3.0-x86_32p`, `hvm-3.0-x86_64`, ...). */
  xenCaps: string[];
  /** `xl info` virt_caps (`pv`, `hvm`, `hap`, ...). */
  virtCaps: string[];
  /** hosts.max_parallel: how many of its guests may switch at once. */
  maxParallel: number;
};

/** A guest's newest finished rehearsal of one target (src/store/rehearsals.ts), as far as the plan cares. */
export type PlanRehearsal = { status: 'passed' | 'failed' | 'cannot-rehearse'; to: RehearsalTarget; rule: string | null };

/** A guest as the planner needs it: the guests table's row with its verdict decoded. */
export type PlanGuest = {
  id: number;
  name: string;
  host: string;
  owner: string | null;
  type: GuestType;
  health: GuestHealth;
  /** The stored verdict (src/fleet/stored-verdict.ts decodeVerdict); null: never inspected. */
  verdict: GuestVerdict | null;
  /** Targets its rolled-back switches refuted (src/fleet/policy.ts refutedTargets). */
  refuted: ReadonlySet<string>;
  /** Its newest finished rehearsal of each target, at most one per target. */
  rehearsals: readonly PlanRehearsal[];
};

/**
 * Which hosts get their 32-bit PV guests (`xen-3.0-x86_32p`) moved ahead of the others: those
 * whose next Xen builds without 32-bit PV (CONFIG_PV32=n, the default since Xen 4.14 on some
 * distributions), so that the host is free of them first.
 */
export type Pv32First = { kind: 'none' } | { kind: 'all' } | { kind: 'hosts'; hosts: readonly string[] };

/** The campaign's policy. */
export type CampaignPolicy = {
  /** Guests in the canary wave, across the fleet; 0 for none. */
  canary: number;
  pv32First: Pv32First;
  /** A campaign-wide per-host limit under each host's own max_parallel; null keeps the host's. */
  perHost: number | null;
  /**
   * What becomes of guests whose kernels run only as PV: `use` moves them to the PV shim (the
   * default); `hold` keeps them in PV (blocked, `shim-not-used`), for a fleet that does not run
   * the shim (it costs each guest a second Xen's memory and its PV page-table work).
   */
  pvOnly?: 'use-shim' | 'hold';
};

/** Why a guest cannot be switched by this campaign, as a code with its parameters. */
export type Blocked =
  /** Never inspected, or the inspection could not tell (`detail`: why, from the inspection). */
  | { code: 'not-inspected'; detail: string | null }
  /** The disk inspection refused it (PCI passthrough, /boot unreadable, a missing kernel); its reasons are customer words. */
  | { code: 'inspection-blocked'; reasons: readonly string[] }
  /** No `hvm` in the host's virt_caps: neither PVH nor the shim can run there. */
  | { code: 'host-no-hvm' }
  /** The host is an `hvm-dedicated` one: the campaign moves PV guests on `pv-pvh` hosts only. */
  | { code: 'hvm-dedicated-host' }
  /** The guest's host is not in the fleet (a row left behind). */
  | { code: 'host-unknown' }
  /** Every target the verdict allowed was tried and rolled back. */
  | { code: 'did-not-boot' }
  /** Its kernel boots neither as PV nor as PVH, and no other installed kernel does. */
  | { code: 'kernel-boots-neither' }
  /** Its latest rehearsal of the planned target failed (`rule`: the rehearsal's outcome code). */
  | { code: 'rehearsal-failed'; to: RehearsalTarget; rule: string | null }
  /** A switch is under way, or an earlier one left it for an operator to look at. */
  | { code: 'switching' }
  | { code: 'needs-attention' }
  /** Its kernel runs only as PV and the campaign does not use the PV shim (`pvOnly: 'hold'`). */
  | { code: 'shim-not-used' };

export type BlockedCode = Blocked['code'];

/** A guest's way to PVH. The first two are scheduled; the others are held back. */
export type GuestPath =
  | { path: 'pvh-now' }
  | { path: 'pv-shim' }
  /** The customer reboots once into an installed kernel that has the PVH entry (`entry`: its menu entry, or null when none boots it yet). */
  | { path: 'after-reboot'; kernel: string; entry: string | null }
  /** The customer installs a kernel first (`install`: the package, from the guest's distribution). */
  | { path: 'after-kernel-upgrade'; install: string }
  | { path: 'blocked'; why: Blocked }
  /** Already in PVH (or HVM, which the campaign leaves alone). */
  | { path: 'done'; type: GuestType };

/** The paths a wave runs, and the switch target each runs. */
export type ScheduledPath = Extract<GuestPath, { path: 'pvh-now' | 'pv-shim' }>;
export type HeldPath = Exclude<GuestPath, ScheduledPath>;

/** A guest in a wave: the switch to run. `pv32`: it runs as 32-bit PV today. */
export type PlannedSwitch = { id: number; name: string; host: string; path: ScheduledPath['path']; to: SwitchTarget; pv32: boolean };

/** A guest the campaign does not switch, and why (its path). */
export type HeldGuest = { id: number; name: string; host: string; path: HeldPath };

/** One host's part of a wave: at most its per-host limit of switches. */
export type WaveHost = { host: string; limit: number; switches: PlannedSwitch[] };

/** A wave: `canary` for the first, small one that must pass before the others start. */
export type Wave = { n: number; kind: 'canary' | 'main'; hosts: WaveHost[] };

/** The plan: waves in order, and everyone else held back. Each guest is in exactly one place. */
export type CampaignPlan = { waves: Wave[]; held: HeldGuest[] };

const PV32_ABI = 'xen-3.0-x86_32p';

/**
 * Whether a guest runs as 32-bit PV (the `xen-3.0-x86_32p` ABI Xen can build without).
 * @example
 * isPv32({ ...v, arch: 'x86_32p' }) // => true
 */
export function isPv32(v: GuestVerdict | null): boolean {
  return v !== null && (v.arch === 'x86_32p' || v.arch === 'x86_32' || v.pv.abi === PV32_ABI);
}

/**
 * A guest's path to PVH on its host: first what stops any switch (its state, its host), then what
 * the inspection and its switches showed (src/fleet/become.ts becoming), then its rehearsal.
 * @example
 * guestPath({ ...g, type: 'pv', verdict: pvhCapable }, host) // => { path: 'pvh-now' }
 * guestPath({ ...g, type: 'pv', verdict: null }, host) // => { path: 'blocked', why: { code: 'not-inspected', detail: null } }
 */
export function guestPath(g: PlanGuest, host: PlanHost | undefined): GuestPath {
  const blocked = (why: Blocked): GuestPath => ({ path: 'blocked', why });
  if (g.type === 'pvh' || g.type === 'hvm') return { path: 'done', type: g.type };
  if (g.health !== 'ok') return blocked({ code: g.health });
  if (host === undefined) return blocked({ code: 'host-unknown' });
  const b = becoming(g.verdict, g.refuted, hasHvm(host));
  // A guest already on the shim moves on only to native PVH; anything else leaves it where it is.
  if (g.type === 'pvh-shim' && b.can !== 'pvh') return { path: 'done', type: g.type };
  if (host.role === 'hvm-dedicated') return blocked({ code: 'hvm-dedicated-host' });
  const i = g.verdict?.inspection ?? null;
  if (i?.verdict === 'blocked') return blocked({ code: 'inspection-blocked', reasons: i.reasons });
  if (i?.verdict === 'unknown') return blocked({ code: 'not-inspected', detail: i.reasons[0] ?? null });
  let path: GuestPath;
  switch (b.can) {
    case 'unknown':
      return blocked({ code: 'not-inspected', detail: b.why });
    case 'host-no-hvm':
      return blocked({ code: 'host-no-hvm' });
    case 'pvh':
      path = { path: 'pvh-now' };
      break;
    case 'pvh-shim':
    case 'did-not-boot':
    case 'none': {
      // The customer's step to native PVH comes first: the shim is the way for kernels with none.
      const next = b.next;
      if (next?.kind === 'reboot-into') return { path: 'after-reboot', kernel: next.kernel, entry: next.entry };
      if (next?.kind === 'install-kernel') return { path: 'after-kernel-upgrade', install: next.install };
      if (b.can === 'did-not-boot') return blocked({ code: 'did-not-boot' });
      if (b.can === 'none') return blocked({ code: 'kernel-boots-neither' });
      path = { path: 'pv-shim' };
    }
  }
  const to = targetOf(path);
  const r = g.rehearsals.find((x) => x.to === to);
  if (r !== undefined && r.status === 'failed') return blocked({ code: 'rehearsal-failed', to, rule: r.rule });
  return path;
}

const targetOf = (p: ScheduledPath): RehearsalTarget => (p.path === 'pvh-now' ? 'pvh' : 'pvh-shim');

const byName = (a: { name: string; id: number }, b: { name: string; id: number }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id);

/** The host's limit in this campaign: its own, under the campaign's, never below one. */
const limitOf = (h: PlanHost | undefined, policy: CampaignPolicy) =>
  Math.max(1, Math.min(h?.maxParallel ?? 1, policy.perHost ?? Number.POSITIVE_INFINITY));

const pv32FirstOn = (p: Pv32First, host: string) => p.kind === 'all' || (p.kind === 'hosts' && p.hosts.includes(host));

/**
 * Plans a campaign: every guest's path, the scheduled ones in waves, the others held back.
 * Per host, guests are queued by name, its 32-bit PV guests first where the policy asks, and a
 * host's 32-bit and other guests never share a wave, so that the last 32-bit PV guest is gone
 * before the first other one starts. The canary wave takes the head of each host's queue in turn
 * (hosts by name) until it has `canary` guests; each later wave takes up to each host's limit.
 * The output depends only on the input's content, never its order.
 * @example
 * planCampaign([host('xen1', 2)], [pvhGuest('a'), pvhGuest('b'), pvhGuest('c'), unknownGuest('d')], { canary: 1, pv32First: { kind: 'none' }, perHost: null })
 * // => { waves: [
 * //   { n: 0, kind: 'canary', hosts: [{ host: 'xen1', limit: 2, switches: [a] }] },
 * //   { n: 1, kind: 'main', hosts: [{ host: 'xen1', limit: 2, switches: [b, c] }] }],
 * //   held: [{ name: 'd', path: { path: 'blocked', why: { code: 'not-inspected', detail: null } }, ... }] }
 */
export function planCampaign(hosts: readonly PlanHost[], guests: readonly PlanGuest[], policy: CampaignPolicy): CampaignPlan {
  const hostBy = new Map(hosts.map((h) => [h.name, h]));
  const held: HeldGuest[] = [];
  const queues = new Map<string, PlannedSwitch[]>();
  for (const g of [...guests].sort(byName)) {
    const found = guestPath(g, hostBy.get(g.host));
    const p: GuestPath = found.path === 'pv-shim' && policy.pvOnly === 'hold' ? { path: 'blocked', why: { code: 'shim-not-used' } } : found;
    if (p.path === 'pvh-now' || p.path === 'pv-shim') {
      const s: PlannedSwitch = { id: g.id, name: g.name, host: g.host, path: p.path, to: p.path === 'pvh-now' ? 'pvh' : 'pvh-shim', pv32: isPv32(g.verdict) };
      const q = queues.get(g.host) ?? [];
      q.push(s);
      queues.set(g.host, q);
    } else held.push({ id: g.id, name: g.name, host: g.host, path: p });
  }
  const order = [...queues.keys()].sort();
  for (const h of order) {
    const q = queues.get(h)!;
    // Stable: by name inside each group.
    if (pv32FirstOn(policy.pv32First, h)) q.sort((a, b) => Number(b.pv32) - Number(a.pv32));
  }
  const waves: Wave[] = [];
  const grouped = (h: string, s: PlannedSwitch) => pv32FirstOn(policy.pv32First, h) && s.pv32;

  if (policy.canary > 0 && order.length > 0) {
    const taken = new Map<string, PlannedSwitch[]>();
    let left = policy.canary;
    let progress = true;
    while (left > 0 && progress) {
      progress = false;
      for (const h of order) {
        if (left === 0) break;
        const q = queues.get(h)!;
        const mine = taken.get(h) ?? [];
        const head = q[0];
        if (head === undefined || mine.length >= limitOf(hostBy.get(h), policy)) continue;
        // Keep a host's 32-bit and other guests in separate waves here too.
        if (mine.length > 0 && grouped(h, mine[0]!) !== grouped(h, head)) continue;
        mine.push(q.shift()!);
        taken.set(h, mine);
        left--;
        progress = true;
      }
    }
    const parts = order.filter((h) => taken.has(h)).map((h) => ({ host: h, limit: limitOf(hostBy.get(h), policy), switches: taken.get(h)! }));
    if (parts.length > 0) waves.push({ n: 0, kind: 'canary', hosts: parts });
  }

  // Each host's remaining queue in batches of its limit, split where its 32-bit group ends.
  const batches = new Map<string, PlannedSwitch[][]>();
  for (const h of order) {
    const limit = limitOf(hostBy.get(h), policy);
    const out: PlannedSwitch[][] = [];
    for (const s of queues.get(h)!) {
      const last = out.at(-1);
      if (last !== undefined && last.length < limit && grouped(h, last[0]!) === grouped(h, s)) last.push(s);
      else out.push([s]);
    }
    batches.set(h, out);
  }
  const rounds = Math.max(0, ...[...batches.values()].map((b) => b.length));
  for (let i = 0; i < rounds; i++) {
    const parts = order.filter((h) => batches.get(h)![i] !== undefined).map((h) => ({ host: h, limit: limitOf(hostBy.get(h), policy), switches: batches.get(h)![i]! }));
    waves.push({ n: waves.length, kind: 'main', hosts: parts });
  }
  return { waves, held };
}
