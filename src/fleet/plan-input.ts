/**
 * The campaign planner's input, read from the store (the shell around src/fleet/planner.ts): the
 * hosts, each guest with its decoded verdict, the targets its rolled-back switches refuted, and its
 * newest finished rehearsal. Reads only; a plan changes nothing.
 */
import { rehearsals, type Rehearsal } from '../store/rehearsals.ts';
import type { Host, Guest } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { PlanGuest, PlanHost, PlanRehearsal } from './planner.ts';
import { refutedTargets } from './policy.ts';
import { decodeVerdict } from './stored-verdict.ts';
import { REHEARSAL_TARGETS, type RehearsalTarget } from './types.ts';

const caps = (s: string | null) => (s ?? '').split(' ').filter(Boolean);

/**
 * A hosts row as the planner sees it.
 * @example
 * planHost({ name: 'xen1', role: 'pv-pvh', xen_caps: 'xen-3.0-x86_64 hvm-3.0-x86_64', virt_caps: 'pv hvm', max_parallel: 2, ... })
 * // => { name: 'xen1', role: 'pv-pvh', xenCaps: ['xen-3.0-x86_64', 'hvm-3.0-x86_64'], virtCaps: ['pv', 'hvm'], maxParallel: 2 }
 */
export function planHost(h: Host): PlanHost {
  return { name: h.name, role: h.role, xenCaps: caps(h.xen_caps), virtCaps: caps(h.virt_caps), maxParallel: h.max_parallel };
}

/**
 * A finished rehearsal as the planner sees it; null for one still running or of a target this
 * pvhctl does not know (a newer one wrote it): no evidence either way.
 * @example
 * planRehearsal({ status: 'failed', to_type: 'pvh', rule: 'verify', ... }) // => { status: 'failed', to: 'pvh', rule: 'verify' }
 */
export function planRehearsal(r: Rehearsal | undefined): PlanRehearsal | null {
  if (r === undefined || r.status === 'running') return null;
  if (!(REHEARSAL_TARGETS as readonly string[]).includes(r.to_type)) return null;
  return { status: r.status, to: r.to_type as RehearsalTarget, rule: r.rule };
}

/**
 * Reads the planner's input for the guests of `hostNames` (all hosts when empty).
 * @example
 * await readPlanInput(fleet.store, ['xen1']) // => { hosts: [{ name: 'xen1', ... }], guests: [{ id: 1, name: 'web1', host: 'xen1', ... }] }
 */
export async function readPlanInput(store: Store, hostNames: readonly string[] = []): Promise<{ hosts: PlanHost[]; guests: PlanGuest[] }> {
  const all = await store.listHosts();
  const unknown = hostNames.filter((n) => !all.some((h) => h.name === n));
  if (unknown.length > 0) throw new Error(`no host named ${JSON.stringify(unknown[0])}`);
  const chosen = hostNames.length === 0 ? all : all.filter((h) => hostNames.includes(h.name));
  const names = new Map(all.map((h) => [h.id, h.name]));
  const ids = new Set(chosen.map((h) => h.id));
  const rows: Guest[] = (await store.listGuests()).filter((g) => ids.has(g.host_id));
  const refuted = refutedTargets(await store.switchOutcomes());
  const latest = await rehearsals(store).latestOfEach();
  const guests = rows.map(
    (g): PlanGuest => ({
      id: g.id,
      name: g.name,
      host: names.get(g.host_id) ?? `#${g.host_id}`,
      owner: g.owner,
      type: g.current_type,
      health: g.health,
      verdict: decodeVerdict(g.verdict),
      refuted: refuted.get(g.id) ?? new Set(),
      rehearsals: (latest.get(g.id) ?? []).flatMap((r) => planRehearsal(r) ?? []),
    }),
  );
  return { hosts: chosen.map(planHost), guests };
}
