/**
 * Xen-upgrade readiness (issue #14 item 5), pure: from the planner's input (src/fleet/planner.ts),
 * per host and fleet-wide, which guests still need 32-bit PV or PV at all, whether the host could
 * boot a Xen built without 32-bit PV (CONFIG_PV32=n, the default since Xen 4.16, which then runs
 * 32-bit PV guests only inside the PV shim) or without PV (CONFIG_PV=n) today, and if not, the
 * guests in the way with their paths; and which guests need HVM, so belong on an `hvm-dedicated`
 * host. A guest on the PV shim is in nobody's way: the shim is a Xen of its own (xen-shim, built
 * with PV), started by the host's Xen as a PVH domain.
 */
import { guestPath, isPv32, type GuestPath, type PlanGuest, type PlanHost } from './planner.ts';

/** `xl info` xen_caps entry of a Xen that runs 32-bit PV guests. */
const PV32_CAP = 'xen-3.0-x86_32p';

/**
 * A guest that keeps its host on a Xen with (32-bit) PV: it runs as PV, and `pv32` says whether
 * as 32-bit (`yes`) or whether its kernel was never read (`unknown`, which counts as 32-bit until
 * a scan says otherwise); `path` is its way off PV (the planner's).
 */
export type InTheWay = { id: number; name: string; pv32: 'yes' | 'no' | 'unknown'; path: GuestPath };

/**
 * Whether a host could boot a Xen without a kind of PV today: `already` when its Xen has none
 * (no `xen-3.0-x86_32p` in xen_caps; no `pv` in virt_caps), `ready` when no guest needs it,
 * otherwise the guests in the way, by name.
 */
export type XenReady = { kind: 'already' } | { kind: 'ready' } | { kind: 'not-ready'; guests: InTheWay[] };

/** Why a guest needs HVM (a reinstall onto an `hvm-dedicated` host, not a config change). */
export type NeedsHvmWhy =
  /** It runs as HVM already, on a `pv-pvh` host. */
  | { code: 'runs-hvm' }
  /** Its kernel boots neither as PV nor as PVH, and no other installed kernel is known to. */
  | { code: 'kernel-boots-neither' }
  /** Every PVH target was tried and rolled back. */
  | { code: 'did-not-boot' };

export type NeedsHvm = { id: number; name: string; why: NeedsHvmWhy };

/** One host's readiness. */
export type HostReadiness = {
  host: string;
  role: PlanHost['role'];
  guests: number;
  /** Guests running as PV (any width), and of those 32-bit or of a width never read. */
  pvLeft: number;
  pv32Left: number;
  pv32Unknown: number;
  withoutPv32: XenReady;
  withoutPv: XenReady;
  /** Guests that need HVM and are not on an `hvm-dedicated` host. */
  needsHvm: NeedsHvm[];
};

/** The fleet's readiness: each host, and the totals over them. */
export type FleetReadiness = {
  hosts: HostReadiness[];
  totals: {
    hosts: number;
    guests: number;
    pvLeft: number;
    pv32Left: number;
    pv32Unknown: number;
    /** Hosts `already` or `ready` for a Xen without 32-bit PV, and without PV. */
    readyWithoutPv32: number;
    readyWithoutPv: number;
    needsHvm: number;
  };
};

/**
 * Whether a guest running as PV is 32-bit: `unknown` when no verdict tells its kernel's width.
 * @example
 * pv32Of({ ...g, verdict: null }) // => 'unknown'
 */
function pv32Of(g: PlanGuest): InTheWay['pv32'] {
  if (g.verdict === null || (g.verdict.arch === null && g.verdict.pv.abi === null)) return 'unknown';
  return isPv32(g.verdict) ? 'yes' : 'no';
}

const xenReady = (inTheWay: InTheWay[], hasIt: boolean): XenReady =>
  inTheWay.length > 0 ? { kind: 'not-ready', guests: inTheWay } : hasIt ? { kind: 'ready' } : { kind: 'already' };

/** Why a guest needs HVM, from its type and path; null when PVH or the shim will do. */
function needsHvm(g: PlanGuest, path: GuestPath): NeedsHvmWhy | null {
  if (g.type === 'hvm') return { code: 'runs-hvm' };
  if (path.path !== 'blocked') return null;
  if (path.why.code === 'kernel-boots-neither' || path.why.code === 'did-not-boot') return { code: path.why.code };
  return null;
}

const URGENCY: Record<GuestPath['path'], number> = { blocked: 0, 'after-kernel-upgrade': 1, 'after-reboot': 2, 'pv-shim': 3, 'pvh-now': 4, done: 5 };

const byName = <T extends { name: string; id: number }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id);

/**
 * One host's readiness over its guests (those whose `host` is its name).
 * @example
 * hostReadiness(xen1, [web3]) // web3: 32-bit PV, needs linux-image-686-pae
 * // => { host: 'xen1', pvLeft: 1, pv32Left: 1, withoutPv32: { kind: 'not-ready', guests: [{ name: 'web3', pv32: 'yes',
 * //      path: { path: 'after-kernel-upgrade', install: 'linux-image-686-pae (Debian)' } }] }, withoutPv: { kind: 'not-ready', ... }, ... }
 */
export function hostReadiness(host: PlanHost, guests: readonly PlanGuest[]): HostReadiness {
  const pv: InTheWay[] = [];
  const hvm: NeedsHvm[] = [];
  const mine = guests.filter((g) => g.host === host.name).sort(byName);
  for (const g of mine) {
    const path = guestPath(g, host);
    if (g.type === 'pv') pv.push({ id: g.id, name: g.name, pv32: pv32Of(g), path });
    const why = needsHvm(g, path);
    if (why !== null && host.role !== 'hvm-dedicated') hvm.push({ id: g.id, name: g.name, why });
  }
  // The guests that need the most done first lead: blocked ones, then those waiting for their customer.
  pv.sort((a, b) => URGENCY[a.path.path] - URGENCY[b.path.path] || byName(a, b));
  const pv32 = pv.filter((w) => w.pv32 !== 'no');
  return {
    host: host.name,
    role: host.role,
    guests: mine.length,
    pvLeft: pv.length,
    pv32Left: pv32.filter((w) => w.pv32 === 'yes').length,
    pv32Unknown: pv32.filter((w) => w.pv32 === 'unknown').length,
    withoutPv32: xenReady(pv32, host.xenCaps.includes(PV32_CAP)),
    withoutPv: xenReady(pv, host.virtCaps.includes('pv')),
    needsHvm: hvm,
  };
}

const isReady = (x: XenReady) => x.kind !== 'not-ready';

/**
 * The fleet's readiness for a Xen without 32-bit PV and without PV: each host (by name) and the
 * totals. Guests whose host is not among `hosts` are not counted (the planner holds them back).
 * @example
 * fleetReadiness(hosts, guests).totals
 * // => { hosts: 3, guests: 82, pvLeft: 52, pv32Left: 6, pv32Unknown: 0, readyWithoutPv32: 2, readyWithoutPv: 0, needsHvm: 1 }
 */
export function fleetReadiness(hosts: readonly PlanHost[], guests: readonly PlanGuest[]): FleetReadiness {
  const byHost = new Map<string, PlanGuest[]>();
  for (const g of guests) {
    const list = byHost.get(g.host);
    if (list === undefined) byHost.set(g.host, [g]);
    else list.push(g);
  }
  const list = [...hosts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((h) => hostReadiness(h, byHost.get(h.name) ?? []));
  const sum = (f: (h: HostReadiness) => number) => list.reduce((n, h) => n + f(h), 0);
  return {
    hosts: list,
    totals: {
      hosts: list.length,
      guests: sum((h) => h.guests),
      pvLeft: sum((h) => h.pvLeft),
      pv32Left: sum((h) => h.pv32Left),
      pv32Unknown: sum((h) => h.pv32Unknown),
      readyWithoutPv32: list.filter((h) => isReady(h.withoutPv32)).length,
      readyWithoutPv: list.filter((h) => isReady(h.withoutPv)).length,
      needsHvm: sum((h) => h.needsHvm.length),
    },
  };
}
