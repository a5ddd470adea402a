/**
 * Who may do what from the Xen Shell, as pure functions over the guests the store returned. A
 * customer only ever names a guest; it is looked up among the guests they own, so another
 * customer's guest is indistinguishable from one that does not exist.
 */
import type { GuestHealth } from '../store/schema.ts';

/** What authorization needs to know of a guest. */
export type OwnedGuest = { name: string; host: string; owner: string | null; health: GuestHealth };

/** The actions a customer can take; `view` covers status, check, history and console. */
export type ShellAction = 'view' | 'console' | 'mode' | 'undo' | 'boot' | 'shutdown' | 'reboot';

export type Decision = { ok: true } | { ok: false; reason: string };

/** `NAME` or `NAME@HOST` (for a customer with two guests of one name on different hosts). */
const REF = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?:@([A-Za-z0-9][A-Za-z0-9_.-]{0,63}))?$/;

/**
 * The label the shell shows for a guest: its name, or NAME@HOST when the customer owns another
 * guest of the same name.
 * @example
 * guestLabel({ name: 'web', host: 'xen1' }, [{ name: 'web', host: 'xen1' }, { name: 'web', host: 'xen2' }]) // => 'web@xen1'
 */
export function guestLabel(g: { name: string; host: string }, own: readonly { name: string; host: string }[]): string {
  return own.filter((o) => o.name === g.name).length > 1 ? `${g.name}@${g.host}` : g.name;
}

/**
 * Finds the guest `ref` names among `customer`'s guests. Guests owned by anyone else are never
 * candidates, and the error for them is the same as for a name that exists nowhere.
 * @example
 * resolveGuest([{ name: 'web', host: 'xen1', owner: 'bob', health: 'ok' }], 'alice', 'web')
 * // => { ok: false, error: 'you have no server called "web"' }
 */
export function resolveGuest<G extends OwnedGuest>(guests: readonly G[], customer: string, ref: string): { ok: true; guest: G } | { ok: false; error: string } {
  const m = REF.exec(ref);
  const none = { ok: false as const, error: `you have no server called ${JSON.stringify(ref.slice(0, 80))}` };
  if (m === null || customer === '') return none;
  const [, name, host] = m;
  const own = guests.filter((g) => g.owner === customer && g.name === name && (host === undefined || g.host === host));
  if (own.length === 0) return none;
  if (own.length > 1) return { ok: false, error: `you have ${own.length} servers called ${name}; say which: ${own.map((g) => `${g.name}@${g.host}`).join(', ')}` };
  return { ok: true, guest: own[0]! };
}

/**
 * Decides whether `customer` may take `action` on `guest` now: only on their own guests, no
 * second change while one is in progress, and no power or mode change on a guest that needs an
 * operator's attention (undo stays allowed: it is how a customer gets back to what worked).
 * @example
 * mayAct({ name: 'web', host: 'xen1', owner: 'alice', health: 'switching' }, 'alice', 'reboot')
 * // => { ok: false, reason: 'a change to this server is in progress; wait for it to finish ("status" shows it)' }
 */
export function mayAct(guest: OwnedGuest, customer: string, action: ShellAction): Decision {
  if (customer === '' || guest.owner !== customer) return { ok: false, reason: `you have no server called ${JSON.stringify(guest.name)}` };
  if (action === 'view' || action === 'console') return { ok: true };
  if (guest.health === 'switching') return { ok: false, reason: 'a change to this server is in progress; wait for it to finish ("status" shows it)' };
  if (guest.health === 'needs-attention' && action !== 'undo') {
    return { ok: false, reason: 'this server needs our team\'s attention after a failed change; "undo" puts its old settings back, or contact support' };
  }
  return { ok: true };
}
