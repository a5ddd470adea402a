/**
 * A guest as the ways in show it (`pvhctl guest`, GET /v1/guests, the web UI's summary): its
 * type, what it can become (the last scan's verdict less what a rolled-back switch refuted), its
 * run state, health and newest rehearsals. One presentation, so that every way in says the same.
 */
import type { Fleet } from './fleet.ts';
import { refutedTargets } from './policy.ts';
import { guestRehearsals } from './rehearse.ts';
import { becoming } from './become.ts';
import { decodeVerdict } from './stored-verdict.ts';
import type { Guest } from '../store/schema.ts';

/**
 * One guest as the ways in show it, with its newest rehearsal per kernel.
 * @example
 * await describeGuest(fleet, guest) // => { id: 1, name: 'web1', host: 'xen1', type: 'pv', canBecome: 'pvh', rehearsals: [], ... }
 */
export async function describeGuest(fleet: Fleet, g: Guest) {
  const host = await fleet.store.getHostById(g.host_id);
  // The newest test boot per kernel (src/fleet/rehearse.ts): shown to the operator and the customer.
  const refuted = refutedTargets(await fleet.store.switchOutcomes([g.id])).get(g.id);
  return { ...describeWith(g, host?.name ?? null, refuted), rehearsals: await guestRehearsals(fleet.ctx, g.id) };
}

/**
 * Many guests at once, as describeGuest gives each: the hosts are read once, not once a guest.
 * @example
 * await describeGuests(fleet, await fleet.store.listGuests()) // => [{ id: 1, name: 'web1', host: 'xen1', ... }, ...]
 */
export async function describeGuests(fleet: Fleet, guests: Guest[]) {
  const names = new Map((await fleet.store.listHosts()).map((h) => [h.id, h.name]));
  const refuted = refutedTargets(await fleet.store.switchOutcomes(guests.length <= 500 ? guests.map((g) => g.id) : undefined));
  return guests.map((g) => describeWith(g, names.get(g.host_id) ?? null, refuted.get(g.id)));
}

function describeWith(g: Guest, hostName: string | null, refuted: ReadonlySet<string> = new Set()) {
  const verdict = decodeVerdict(g.verdict);
  const can = becoming(verdict, refuted);
  return {
    id: g.id,
    name: g.name,
    host: hostName,
    owner: g.owner,
    configPath: g.config_path,
    type: g.current_type,
    arch: g.arch,
    /** What it can become now (src/fleet/become.ts CanBecome). */
    canBecome: can.can,
    /** What would make native PVH possible where it is not yet: a reboot into an installed kernel, or a kernel to install. */
    next: 'next' in can ? can.next : null,
    /** Targets a rolled-back switch showed this guest cannot boot as (the verdict said it could). */
    didNotBoot: [...refuted],
    /** Running or stopped when pvhctl last looked (`runStateAt`), null when not known. */
    runState: g.run_state,
    runStateAt: g.run_state_at,
    health: g.health,
    attention: g.attention,
    verdict,
    verdictAt: g.verdict_at,
  };
}
