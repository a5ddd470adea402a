/**
 * The operators' fleet at a glance, as one pure function over the store's rows: guests by type ×
 * architecture × what they can become, progress per host, the 32-bit guests and the path each
 * can take, and what needs attention. The web UI draws it; `GET /v1/summary` serves it.
 */
import { becoming, path32, type Path32 } from '../fleet/become.ts';
import { outcomeWords } from '../fleet/reasons.ts';
import { decodeVerdict } from '../fleet/stored-verdict.ts';
import type { GuestType } from '../fleet/types.ts';
import type { Guest, Host, Operation } from '../store/schema.ts';

export type HostProgress = {
  name: string;
  role: Host['role'];
  transport: Host['transport'];
  /** `hvm` in virt_caps: PVH (and the shim) possible. */
  hvm: boolean;
  /** `xen-3.0-x86_32p` in xen_caps: 32-bit PV guests still run. */
  pv32: boolean;
  xenVersion: string | null;
  total: number;
  byType: Record<GuestType, number>;
  attention: number;
  switching: number;
};

export type Guest32 = { id: number; name: string; host: string; arch: string; type: GuestType; path: Path32; why: string };

export type Summary = {
  totals: { guests: number; hosts: number; byType: Record<GuestType, number>; attention: number; switching: number };
  /** One cell per (type, arch, can-become) that has guests. */
  matrix: { type: GuestType; arch: string; verdict: string; n: number }[];
  hosts: HostProgress[];
  guests32: Guest32[];
  attention: { id: number; name: string; host: string; reason: string; since: string }[];
  /** Recent switches that did not end in the new mode. */
  failures: { operationId: number; guestId: number; guest: string; host: string; to: GuestType; status: Operation['status']; reason: string; at: string }[];
  running: { operationId: number; guestId: number; guest: string; host: string; to: GuestType; step: string }[];
};

/** At most this many 32-bit guests and failures are listed (the counts stay exact). */
export const LIST_LIMIT = 200;

const zero = (): Record<GuestType, number> => ({ pv: 0, pvh: 0, 'pvh-shim': 0, hvm: 0 });
const caps = (s: string | null) => (s ?? '').split(/\s+/).filter(Boolean);
const is32 = (arch: string | null) => arch === 'x86_32p' || arch === 'x86_32';

/**
 * Summarizes the fleet.
 * @example
 * summarize(await store.listGuests(), await store.listHosts(), await store.listOperations({ limit: 500 })).totals
 * // => { guests: 30, hosts: 1, byType: { pv: 28, pvh: 2, 'pvh-shim': 0, hvm: 0 }, attention: 0, switching: 0 }
 */
export function summarize(guests: readonly Guest[], hosts: readonly Host[], operations: readonly Operation[]): Summary {
  const hostById = new Map(hosts.map((h) => [h.id, h]));
  const guestById = new Map(guests.map((g) => [g.id, g]));
  const progress = new Map<number, HostProgress>(
    hosts.map((h) => [
      h.id,
      {
        name: h.name,
        role: h.role,
        transport: h.transport,
        hvm: caps(h.virt_caps).includes('hvm'),
        pv32: caps(h.xen_caps).includes('xen-3.0-x86_32p'),
        xenVersion: h.xen_version,
        total: 0,
        byType: zero(),
        attention: 0,
        switching: 0,
      },
    ]),
  );
  const totals = { guests: guests.length, hosts: hosts.length, byType: zero(), attention: 0, switching: 0 };
  const cells = new Map<string, { type: GuestType; arch: string; verdict: string; n: number }>();
  const guests32: Guest32[] = [];
  const attention: Summary['attention'] = [];
  for (const g of guests) {
    const v = decodeVerdict(g.verdict);
    const arch = g.arch ?? 'unknown';
    const verdict = becoming(v).can;
    const key = `${g.current_type}|${arch}|${verdict}`;
    const cell = cells.get(key) ?? { type: g.current_type, arch, verdict, n: 0 };
    cell.n++;
    cells.set(key, cell);
    totals.byType[g.current_type]++;
    const hp = progress.get(g.host_id);
    if (hp) {
      hp.total++;
      hp.byType[g.current_type]++;
    }
    if (g.health === 'needs-attention') {
      totals.attention++;
      if (hp) hp.attention++;
      attention.push({ id: g.id, name: g.name, host: hp?.name ?? '?', reason: g.attention ?? 'a change did not finish', since: g.updated_at });
    }
    if (g.health === 'switching') {
      totals.switching++;
      if (hp) hp.switching++;
    }
    if (is32(g.arch) && guests32.length < LIST_LIMIT) {
      const p = path32(g.current_type, v, hp?.hvm ?? false);
      guests32.push({ id: g.id, name: g.name, host: hp?.name ?? '?', arch, type: g.current_type, ...p });
    }
  }
  const where = (guestId: number) => {
    const g = guestById.get(guestId);
    return { guest: g?.name ?? '?', host: (g && hostById.get(g.host_id)?.name) ?? '?' };
  };
  const failures = operations
    .filter((o) => o.kind === 'switch' && (o.status === 'rolled-back' || o.status === 'needs-attention'))
    .slice(0, LIST_LIMIT)
    .map((o) => ({ operationId: o.id, guestId: o.guest_id, ...where(o.guest_id), to: o.to_type, status: o.status, reason: outcomeWords(o, 'operator'), at: o.updated_at }));
  const running = operations
    .filter((o) => o.status === 'running' || o.status === 'pending')
    .map((o) => ({ operationId: o.id, guestId: o.guest_id, ...where(o.guest_id), to: o.to_type, step: o.step }));
  const order: Record<GuestType, number> = { pv: 0, 'pvh-shim': 1, pvh: 2, hvm: 3 };
  const matrix = [...cells.values()].sort((a, b) => order[a.type] - order[b.type] || a.arch.localeCompare(b.arch) || a.verdict.localeCompare(b.verdict));
  return { totals, matrix, hosts: [...progress.values()], guests32, attention, failures, running };
}
