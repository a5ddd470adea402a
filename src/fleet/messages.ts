/**
 * Turning what xl and the verifier said into words a customer understands. Operators get the
 * technical detail beside it (operations.detail); customers see only these sentences.
 */
import { failureOf, type DriverFailure } from '../drivers/driver.ts';
import type { GuestType, RefusalRule } from './types.ts';

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

/** Each failure a driver recognises (src/drivers/driver.ts DriverFailure), in a customer's words. */
const FAILURE_WORDS: Record<DriverFailure, string> = {
  'no-pvh-entry': "the server's kernel has no PVH support",
  'no-pv-loader': "the server's kernel cannot start in PV mode",
  'abi-unsupported': 'this host no longer runs 32-bit PV servers',
  'no-hvm': 'this host has no hardware virtualisation for PVH',
  'pci-passthrough': 'PVH mode does not support the passed-through PCI device yet',
  'domain-exists': 'the server was already running',
  'config-changed': "the server's settings were changed by someone else meanwhile",
  'no-dm-snapshot': "the host cannot make snapshots of the server's disks",
  'vg-full': "the host has no room for snapshots of the server's disks",
  'no-reflink': "the host cannot make copies of the server's disks",
};

/**
 * A driver error in a customer's sentence (no trailing full stop), from its failure code and
 * kind (src/drivers/driver.ts), never from its message, which is for operators.
 * @example
 * customerReason(new DriverError('failed', 'xl create /etc/xen/a.cfg: ...', 'no-pvh-entry')) // => "the server's kernel has no PVH support"
 * customerReason(new DriverError('unreachable', 'xen1: connect ECONNREFUSED')) // => 'the host could not be reached'
 */
export function customerReason(err: unknown): string {
  const { kind, failure } = failureOf(err);
  if (failure !== null) return FAILURE_WORDS[failure];
  if (kind === 'unreachable') return 'the host could not be reached';
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

/**
 * A refusal in a customer's words: the policy rules whose reasons quote the kernel check or the
 * config (ELF notes, PHYS32_ENTRY, dom0 paths, xl syntax) get a plain sentence; the others are
 * already written for customers and pass unchanged.
 * @example
 * customerRefusal('kernel-no-pvh', "The server's kernel cannot start in PVH mode: no PHYS32_ENTRY note.", 'pvh')
 * // => "The server's kernel cannot start in PVH mode: it was built without PVH support (Linux 4.11 or later with PVH enabled is needed)."
 */
export function customerRefusal(rule: RefusalRule, reason: string, to: GuestType): string {
  switch (rule) {
    case 'kernel-no-pvh':
      return "The server's kernel cannot start in PVH mode: it was built without PVH support (Linux 4.11 or later with PVH enabled is needed).";
    case 'kernel-no-pv':
      return to === 'pvh-shim' ? "The server's kernel cannot run under the PV shim: it is not a Xen PV kernel." : "The server's kernel cannot start in PV mode: it is not a Xen PV kernel.";
    case 'not-inspected':
      return "The server's kernel has not been checked yet; ask us to check it.";
    case 'config-invalid':
      return "The server's settings file has an error; ask us to look at it.";
    case 'rewrite':
      return `The server's settings cannot be converted to ${modeName(to)} mode automatically; ask us to look at them.`;
    default:
      return reason;
  }
}

/**
 * What a switch will do, in a customer's words (operators see the config changes and the diff).
 * @example
 * customerChanges('pv', 'pvh')[0] // => 'The server is shut down cleanly, its settings are switched from PV to PVH mode, and it is started again.'
 */
export function customerChanges(from: GuestType, to: GuestType): string[] {
  return [
    `The server is shut down cleanly, its settings are switched from ${modeName(from)} to ${modeName(to)} mode, and it is started again.`,
    'Its disks, network and memory stay as they are.',
    'The current settings are kept: if it does not start properly it is put back automatically, and "Undo" puts it back later.',
  ];
}
