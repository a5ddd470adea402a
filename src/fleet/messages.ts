/**
 * Turning what xl and the verifier said into words a customer understands. Operators get the
 * technical detail beside it (operations.detail); customers see only these sentences.
 */
import { failureOf, type DriverFailure } from '../drivers/driver.ts';
import type { GuestType } from './types.ts';

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

/** What a driver error was, as src/drivers/driver.ts failureOf tells it: kept in a refusal's params. */
export type DriverCause = { kind: string; failure: DriverFailure | null };

/**
 * A driver error's cause in a customer's sentence (no trailing full stop).
 * @example
 * causeWords({ kind: 'unreachable', failure: null }) // => 'the host could not be reached'
 */
export function causeWords(c: DriverCause): string {
  if (c.failure !== null && Object.hasOwn(FAILURE_WORDS, c.failure)) return FAILURE_WORDS[c.failure];
  if (c.kind === 'unreachable') return 'the host could not be reached';
  return 'the host refused to start the server';
}

/**
 * A driver error in a customer's sentence (no trailing full stop), from its failure code and
 * kind (src/drivers/driver.ts), never from its message, which is for operators.
 * @example
 * customerReason(new DriverError('failed', 'xl create /etc/xen/a.cfg: ...', 'no-pvh-entry')) // => "the server's kernel has no PVH support"
 * customerReason(new DriverError('unreachable', 'xen1: connect ECONNREFUSED')) // => 'the host could not be reached'
 */
export const customerReason = (err: unknown): string => causeWords(failureOf(err));

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
