/**
 * Why a switch, a rollback or a power action is refused, as a code with its parameters, and its
 * two renderings at the edges: a customer's words (never a dom0 path, an xl key or an ELF note)
 * and an operator's (with the detail). The stored operation keeps the code and its parameters
 * (`reason_code`, `reason_params`), so that a row written today is worded again by tomorrow's
 * renderer; rows from before codes keep their prose, which still reads.
 */
import { causeWords, clause, modeName, type DriverCause } from './messages.ts';
import { customerOutcomeWords, customerParams, isCause, operatorOutcomeWords, OUTCOME_PARAMS, type Outcome, type OutcomeCode } from './outcomes.ts';
import type { GuestType, SwitchTarget } from './types.ts';

/**
 * A refusal: what the host policy (src/fleet/policy.ts), the pre-check (src/fleet/switch.ts
 * precheck) and the one-operation-per-guest rule say no with. `detail` is operator detail (the
 * kernel check's reason, the xl parse error, the driver's message): customers never see it.
 */
export type Refusal =
  /** No `hvm` in virt_caps and no `hvm-` ABI in xen_caps: PVH and the shim need VT-x/AMD-V. */
  | { code: 'host-no-hvm' }
  /** `pci = [...]` in the config: PCI passthrough to PVH guests is not supported yet. */
  | { code: 'pci-passthrough' }
  /** No inspection verdict, or one that could not decide (its reason in `detail`). */
  | { code: 'not-inspected'; detail: string | null }
  /** The kernel has no XEN_ELFNOTE_PHYS32_ENTRY. */
  | { code: 'kernel-no-pvh'; detail: string }
  /** The kernel has no Xen PV entry (XEN_ELFNOTE_ENTRY), for PV or for the shim. */
  | { code: 'kernel-no-pv'; to: 'pv' | 'pvh-shim'; detail: string }
  /** The kernel's PV ABI is not in the host's xen_caps (32-bit PV on a 64-bit-only Xen). */
  | { code: 'host-no-abi'; abi: string }
  /** The guest already runs as the target. */
  | { code: 'same-type'; type: GuestType }
  /** The config could not be read from the host. */
  | { code: 'config-unreadable'; cause: DriverCause; detail: string }
  /** The config does not parse (xl's own error form in `detail`). */
  | { code: 'config-invalid'; detail: string }
  /** The config rewrite refused (src/xlcfg/rewrite.ts), its reason in `detail`. */
  | { code: 'rewrite'; to: SwitchTarget; detail: string }
  /**
   * `memory` < `maxmem` (MB): under PVH (or the shim) the guest would be populate-on-demand, which
   * has crashed "out of PoD memory"; the operator chooses (src/xlcfg/rewrite.ts PodChoice).
   */
  | { code: 'pod'; to: SwitchTarget; memory: number; maxmem: number }
  /** `xl list` on the host failed. */
  | { code: 'host-unreachable'; cause: DriverCause; detail: string }
  /** The domain is crashed and kept (on_crash = "preserve") for someone to look at. */
  | { code: 'crashed' }
  /** Another operation on the guest is pending or running. */
  | { code: 'busy' }
  /** A rollback with no earlier switch (with a kept config) to undo. */
  | { code: 'no-switch' }
  /** A boot of a domain that is already running (xl list shows it). */
  | { code: 'already-running' }
  /** A shutdown of a domain that is not running. */
  | { code: 'not-running' }
  /** `xl shutdown -w` did not finish within `seconds`: the domain still runs (a power action never destroys). */
  | { code: 'shutdown-timeout'; seconds: number }
  /** A power action's xl call failed before it changed the domain's state. */
  | { code: 'power-failed'; cause: DriverCause; detail: string }
  /** The job queue (PostgreSQL) did not take the operation's job: the operation was not made either. */
  | { code: 'queue-unavailable'; detail: string };

/** A refusal's code: the rule that said no. */
export type RefusalCode = Refusal['code'];

/**
 * A refusal in a customer's words: one sentence, no operator detail. Switch over every code: a
 * new code does not compile until it has words.
 * @example
 * customerRefusalWords({ code: 'kernel-no-pvh', detail: 'no PHYS32_ENTRY note' })
 * // => "The server's kernel cannot start in PVH mode: it was built without PVH support (Linux 4.11 or later with PVH enabled is needed)."
 */
export function customerRefusalWords(r: Refusal): string {
  switch (r.code) {
    case 'host-no-hvm':
      return 'This host has no hardware virtualisation (VT-x/AMD-V), which PVH needs.';
    case 'pci-passthrough':
      return 'The server uses a passed-through PCI device, which PVH mode does not support yet.';
    case 'not-inspected':
      return "The server's kernel has not been checked yet; ask us to check it.";
    case 'kernel-no-pvh':
      return "The server's kernel cannot start in PVH mode: it was built without PVH support (Linux 4.11 or later with PVH enabled is needed).";
    case 'kernel-no-pv':
      return r.to === 'pvh-shim' ? "The server's kernel cannot run under the PV shim: it is not a Xen PV kernel." : "The server's kernel cannot start in PV mode: it is not a Xen PV kernel.";
    case 'host-no-abi':
      return r.abi === 'xen-3.0-x86_32p' ? 'This host no longer runs 32-bit PV servers.' : 'This host does not run this kind of PV server.';
    case 'same-type':
      return `The server already runs in ${modeName(r.type)} mode.`;
    case 'config-unreadable':
      return `The server's settings could not be read (${causeWords(r.cause)}).`;
    case 'config-invalid':
      return "The server's settings file has an error that stops it from being read; our team can see which.";
    case 'rewrite':
      return `The server's settings cannot be converted to ${modeName(r.to)} mode automatically; ask us to look at them.`;
    case 'pod':
      return `The server starts with ${r.memory} MB of memory but may grow to ${r.maxmem} MB, which in ${modeName(r.to)} mode hands memory out on demand and can crash the server, so nothing was changed; ask us to fix its memory at ${r.memory} MB, or to switch it anyway.`;
    case 'host-unreachable':
      return `The server's host could not be asked (${causeWords(r.cause)}).`;
    case 'crashed':
      return 'The server has crashed; it needs to be looked at before its mode is changed.';
    case 'busy':
      return 'Another change to this server is in progress.';
    case 'no-switch':
      return 'This server has no earlier switch to undo.';
    case 'already-running':
      return 'The server is already running.';
    case 'not-running':
      return 'The server is not running.';
    case 'shutdown-timeout':
      return `The server did not shut down within ${r.seconds} s; it is still running. Shut it down from its console, or contact support.`;
    case 'power-failed':
      return `That did not work: ${causeWords(r.cause)}.`;
    case 'queue-unavailable':
      return 'The change could not be queued just now and nothing was changed; please try again in a few minutes.';
  }
}

/**
 * A refusal in an operator's words: what failed, in Xen's terms, with the detail. The detail
 * comes from the guest's disk or config: escape it on output.
 * @example
 * operatorRefusalWords({ code: 'kernel-no-pvh', detail: 'no PHYS32_ENTRY note.' })
 * // => 'kernel-no-pvh: the kernel cannot boot as PVH: no PHYS32_ENTRY note'
 */
export function operatorRefusalWords(r: Refusal): string {
  return `${r.code}: ${operatorText(r)}`;
}

function operatorText(r: Refusal): string {
  switch (r.code) {
    case 'host-no-hvm':
      return 'no hvm in the host virt_caps nor an hvm- ABI in its xen_caps: PVH and the PV shim need VT-x/AMD-V';
    case 'pci-passthrough':
      return 'the config passes a PCI device through (pci =), which PVH guests do not support yet';
    case 'not-inspected':
      return `the kernel has not been inspected${r.detail ? ` (${clause(r.detail)})` : ''}: run pvhctl scan, or --force`;
    case 'kernel-no-pvh':
      return `the kernel cannot boot as PVH: ${clause(r.detail)}`;
    case 'kernel-no-pv':
      return `the kernel cannot boot as PV${r.to === 'pvh-shim' ? ' under the shim' : ''}: ${clause(r.detail)}`;
    case 'host-no-abi':
      return `the host's xen_caps lack ${r.abi}, the kernel's PV ABI`;
    case 'same-type':
      return `the guest already runs as ${r.type}`;
    case 'config-unreadable':
      return `the config could not be read from the host: ${r.detail}`;
    case 'config-invalid':
      return `the config does not parse: ${r.detail}`;
    case 'rewrite':
      return `the config cannot be rewritten for ${r.to}: ${r.detail}`;
    case 'pod':
      return `memory (${r.memory} MB) is below maxmem (${r.maxmem} MB): under PVH that makes it a populate-on-demand guest, which can crash with "out of PoD memory"; choose: maxmem = memory (switch --maxmem-equals-memory, API "pod": "maxmem-equals-memory") or accept populate-on-demand (--accept-pod, "pod": "accept")`;
    case 'host-unreachable':
      return `xl list on the host failed: ${r.detail}`;
    case 'crashed':
      return 'the domain is crashed (kept by on_crash = "preserve"): look at it, then destroy it, before a switch';
    case 'busy':
      return 'another operation on this guest is pending or running';
    case 'no-switch':
      return 'no earlier switch with a kept config version to undo';
    case 'already-running':
      return 'the domain is already running';
    case 'not-running':
      return 'the domain is not running';
    case 'shutdown-timeout':
      return `xl shutdown -w did not finish within ${r.seconds} s; the domain still runs (a power action never destroys it)`;
    case 'power-failed':
      return `the xl call failed before the domain changed: ${r.detail}`;
    case 'queue-unavailable':
      return `the job queue did not take the operation (${r.detail}); nothing was written, the guest is not busy`;
  }
}

/** The parameters of a refusal, for the stored row's `reason_params` and the API. */
export const refusalParams = (r: Refusal): Record<string, unknown> => reasonParams(r);

const CODES: Record<RefusalCode, (p: Record<string, unknown>) => boolean> = {
  'host-no-hvm': () => true,
  'pci-passthrough': () => true,
  'not-inspected': (p) => p.detail === null || typeof p.detail === 'string',
  'kernel-no-pvh': (p) => typeof p.detail === 'string',
  'kernel-no-pv': (p) => (p.to === 'pv' || p.to === 'pvh-shim') && typeof p.detail === 'string',
  'host-no-abi': (p) => typeof p.abi === 'string',
  'same-type': (p) => p.type === 'pv' || p.type === 'pvh' || p.type === 'pvh-shim' || p.type === 'hvm',
  'config-unreadable': (p) => isCause(p.cause) && typeof p.detail === 'string',
  'config-invalid': (p) => typeof p.detail === 'string',
  rewrite: (p) => (p.to === 'pv' || p.to === 'pvh' || p.to === 'pvh-shim') && typeof p.detail === 'string',
  pod: (p) => (p.to === 'pvh' || p.to === 'pvh-shim') && Number.isSafeInteger(p.memory) && Number.isSafeInteger(p.maxmem),
  'host-unreachable': (p) => isCause(p.cause) && typeof p.detail === 'string',
  crashed: () => true,
  busy: () => true,
  'no-switch': () => true,
  'already-running': () => true,
  'not-running': () => true,
  'shutdown-timeout': (p) => typeof p.seconds === 'number' && Number.isFinite(p.seconds),
  'power-failed': (p) => isCause(p.cause) && typeof p.detail === 'string',
  'queue-unavailable': (p) => typeof p.detail === 'string',
};


/** What an operation's stored code says: a refusal, or how it ended (src/fleet/outcomes.ts). */
export type Reason = Refusal | Outcome;

/** A stored reason's code. */
export type ReasonCode = Reason['code'];

const isRefusal = (r: Reason): r is Refusal => Object.hasOwn(CODES, r.code);

/** The parameters of a refusal or an outcome, for the stored row's `reason_params` and the API. */
export const reasonParams = (r: Reason): Record<string, unknown> => {
  const { code: _, ...params } = r;
  return params;
};

/**
 * The stored columns of a refusal or an outcome: its code, its parameters as JSON, and its
 * customer words in `reason` for readers from before codes.
 * @example
 * reasonColumns({ code: 'busy' }) // => { reason: 'Another change to this server is in progress.', reason_code: 'busy', reason_params: '{}' }
 */
export function reasonColumns(r: Reason): { reason: string; reason_code: ReasonCode; reason_params: string } {
  return { reason: reasonWords(r, 'customer'), reason_code: r.code, reason_params: JSON.stringify(reasonParams(r)) };
}

/**
 * A refusal or an outcome in one voice.
 * @example
 * reasonWords({ code: 'powered', action: 'boot' }, 'customer') // => 'The server was started.'
 */
export function reasonWords(r: Reason, voice: Voice): string {
  if (isRefusal(r)) return voice === 'customer' ? customerRefusalWords(r) : operatorRefusalWords(r);
  return voice === 'customer' ? customerOutcomeWords(r) : operatorOutcomeWords(r);
}

/** At most this much stored JSON is read back: the params are a few short strings. */
const MAX_PARAMS = 16384;

/**
 * A stored reason (code and JSON params) read back into a Refusal or an Outcome; null when the
 * row has no code (written before codes), names a code this version does not know, or its params
 * do not fit the code: the row's prose is shown then.
 * @example
 * storedReason('same-type', '{"type":"pvh"}') // => { code: 'same-type', type: 'pvh' }
 * storedReason('powered', '{"action":"boot"}') // => { code: 'powered', action: 'boot' }
 * storedReason(null, null) // => null
 */
export function storedReason(code: string | null, params: string | null): Reason | null {
  if (code === null) return null;
  const fits = Object.hasOwn(CODES, code) ? CODES[code as RefusalCode] : Object.hasOwn(OUTCOME_PARAMS, code) ? OUTCOME_PARAMS[code as OutcomeCode] : null;
  if (fits === null) return null;
  let p: unknown;
  try {
    p = params === null || params.length > MAX_PARAMS ? null : JSON.parse(params);
  } catch {
    return null;
  }
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return null;
  if (!fits(p as Record<string, unknown>)) return null;
  return { ...(p as object), code } as Reason;
}

/**
 * A stored refusal read back (see storedReason); null for anything that is not a refusal.
 * @example
 * storedRefusal('same-type', '{"type":"pvh"}') // => { code: 'same-type', type: 'pvh' }
 */
export function storedRefusal(code: string | null, params: string | null): Refusal | null {
  const r = storedReason(code, params);
  return r !== null && isRefusal(r) ? r : null;
}

/** Who reads an outcome: a customer (words only) or an operator (words and detail). */
export type Voice = 'customer' | 'operator';

/** A refusal as the API and the web UI get it: the code, its parameters and the words, in one voice. */
export type RefusalView = { code: RefusalCode; params: Record<string, unknown>; words: string };

/**
 * A refusal for one reader: a customer gets the customer words and the parameters without the
 * operator detail (`detail`: xl errors, dom0 paths, ELF notes); an operator gets everything.
 * @example
 * refusalView({ code: 'kernel-no-pvh', detail: 'no PHYS32_ENTRY note' }, 'customer')
 * // => { code: 'kernel-no-pvh', params: {}, words: "The server's kernel cannot start in PVH mode: ..." }
 */
export function refusalView(r: Refusal, voice: Voice): RefusalView {
  const params = refusalParams(r);
  if (voice === 'customer') delete params.detail;
  return { code: r.code, params, words: voice === 'customer' ? customerRefusalWords(r) : operatorRefusalWords(r) };
}

/** A stored operation's outcome fields. */
type StoredOutcome = { status: string; reason: string | null; detail: string | null; reason_code: string | null; reason_params: string | null };

/**
 * An operation's outcome for one reader: a refusal or an outcome stored as a code is worded from
 * it, in the reader's voice, with its code and parameters (a customer's without operator detail);
 * a row from before codes is its stored prose (written in customer words) and no code.
 * @example
 * outcomeView({ status: 'refused', reason: 'x', detail: 'y', reason_code: 'busy', reason_params: '{}' }, 'customer')
 * // => { reason: 'Another change to this server is in progress.', reason_code: 'busy', reason_params: {} }
 * outcomeView({ status: 'refused', reason: 'Old prose.', detail: null, reason_code: null, reason_params: null }, 'customer')
 * // => { reason: 'Old prose.', reason_code: null, reason_params: null }
 */
export function outcomeView(op: StoredOutcome, voice: Voice): { reason: string | null; reason_code: ReasonCode | null; reason_params: Record<string, unknown> | null } {
  const r = storedReason(op.reason_code, op.reason_params);
  if (r === null) return { reason: op.reason, reason_code: null, reason_params: null };
  const params = reasonParams(r);
  return { reason: reasonWords(r, voice), reason_code: r.code, reason_params: voice === 'customer' ? customerParams(params) : params };
}

/**
 * An operation's outcome as one line in a voice (the shell, the CLI, the web, mail): the words
 * of its code, or the prose of a row from before codes (for an operator with its stored detail).
 * @example
 * outcomeWords({ status: 'refused', reason: 'x', detail: 'y', reason_code: 'busy', reason_params: '{}' }, 'customer')
 * // => 'Another change to this server is in progress.'
 * outcomeWords({ status: 'done', reason: 'Old prose.', detail: 'switched pv → pvh', reason_code: null, reason_params: null }, 'operator')
 * // => 'Old prose.'
 */
export function outcomeWords(op: StoredOutcome, voice: Voice): string {
  const r = storedReason(op.reason_code, op.reason_params);
  if (r !== null) return reasonWords(r, voice);
  return op.reason ?? op.status;
}
