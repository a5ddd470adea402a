/**
 * Turning what xl and the verifier said into words a customer understands. Operators get the
 * technical detail beside it (operations.detail); customers see only these sentences.
 */
import type { GuestType } from '../store/schema.ts';

const MODE: Record<GuestType, string> = { pv: 'PV', pvh: 'PVH', 'pvh-shim': 'PVH (with the PV shim)', hvm: 'HVM' };

/**
 * A sentence without its final full stop, to be placed inside another sentence (reasons from the
 * kernel check end in one; a refusal adds its own).
 * @example
 * clause('Linux needs CONFIG_XEN_PVH, 4.11 or later).') // => 'Linux needs CONFIG_XEN_PVH, 4.11 or later)'
 */
export const clause = (s: string): string => s.replace(/[.\s]+$/, '');

/** The display name of a guest type. */
export const modeName = (t: GuestType): string => MODE[t];

/**
 * Maps an xl or driver error to a customer sentence (no trailing full stop).
 * @example
 * customerReason('xl create /etc/xen/a.cfg: xc_dom_guest_type: image not capable of booting inside a HVM container')
 * // => "the server's kernel has no PVH support"
 */
export function customerReason(message: string): string {
  if (/not capable of booting inside a HVM container|no XEN_ELFNOTE_PHYS32_ENTRY|not a PVH kernel/.test(message)) return "the server's kernel has no PVH support";
  if (/no loader found|not a Xen PV kernel/.test(message)) return "the server's kernel cannot start in PV mode";
  if (/x86_32p not supported|x86_32 not supported/.test(message)) return 'this host no longer runs 32-bit PV servers';
  if (/hvm not supported/.test(message)) return 'this host has no hardware virtualisation for PVH';
  if (/passthrough not yet supported/.test(message)) return 'PVH mode does not support the passed-through PCI device yet';
  if (/connection lost|connection refused|unreachable|ECONNREFUSED|ETIMEDOUT|Timed out while waiting for handshake/i.test(message)) return 'the host could not be reached';
  if (/already exists/.test(message)) return 'the server was already running';
  if (/changed since it was read/.test(message)) return "the server's settings were changed by someone else meanwhile";
  return 'the host refused to start the server';
}

/**
 * The sentence shown after an automatic rollback.
 * @example
 * rolledBackMessage('pv', 'pvh', "the server's kernel has no PVH support")
 * // => "The switch to PVH did not work: the server's kernel has no PVH support. The server was restarted in PV mode with its settings unchanged."
 */
export function rolledBackMessage(from: GuestType, to: GuestType, why: string, wasRunning = true): string {
  const after = wasRunning ? `The server was restarted in ${modeName(from)} mode with its settings unchanged.` : 'Its settings were restored unchanged; it was not running before and stays stopped.';
  return `The switch to ${modeName(to)} did not work: ${clause(why)}. ${after}`;
}

export function attentionMessage(from: GuestType, why: string): string {
  return `The server could not be brought back in ${modeName(from)} mode automatically (${why}). Our team has been alerted; its settings are saved.`;
}
