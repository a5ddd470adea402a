/**
 * How a switch, a rollback or a power action ended (when it was not refused: src/fleet/reasons.ts
 * has the refusals), as a code with its parameters, and its two renderings at the edges: a
 * customer's words (no xl error, no dom0 path) and an operator's (which check failed, what the
 * rollback did, the detail). The stored operation keeps the code and its parameters
 * (`reason_code`, `reason_params`), as a refusal's are kept.
 */
import { attentionMessage, causeWords, clause, modeName, rolledBackMessage, type DriverCause } from './messages.ts';
import type { GuestType } from './types.ts';
import { bootCheckWords, type BootCheck } from './verify.ts';

/** Why a switch was undone: the step that failed, or who asked. */
export type SwitchFailure =
  /** `xl shutdown -w` did not finish within `seconds`, and without --force nothing is destroyed. */
  | { kind: 'shutdown-timeout'; seconds: number }
  /** An xl call of step `step` failed (shutting down, writing the config, creating the domain). */
  | { kind: 'driver'; step: 'shutdown' | 'write-config' | 'create'; cause: DriverCause; detail: string }
  /** The new type's boot was created but a check of it failed (src/fleet/verify.ts). */
  | { kind: 'verify'; boot: BootCheck; detail: string }
  /** The process running the switch died; its successor rolled it back from the journal. */
  | { kind: 'interrupted'; detail: string };

/** What a power action did. */
export type PowerDone = 'boot' | 'shutdown' | 'reboot';

/** An operation's end when it was not refused. */
export type Outcome =
  /** The switch is done: the guest runs as `to`, verified. */
  | { code: 'switched'; from: GuestType; to: GuestType }
  /** The switch failed and its rollback is under way (kept while it runs, so a resumed rollback still knows why). */
  | { code: 'rolling-back'; from: GuestType; to: GuestType; failure: SwitchFailure }
  /** The switch failed and was rolled back: config restored; restarted as `from` and verified when it was running before. */
  | { code: 'rolled-back'; from: GuestType; to: GuestType; failure: SwitchFailure; restarted: boolean }
  /** A rollback asked for by `by` put the guest back as `from`. */
  | { code: 'undone'; from: GuestType; by: string }
  /** The rollback itself failed: the guest is left as the failure left it (down, or unchecked), and marked for an operator. */
  | { code: 'rollback-failed'; from: GuestType; failure: SwitchFailure | null; cause: DriverCause; detail: string }
  /** A power action did what was asked. */
  | { code: 'powered'; action: PowerDone }
  /** A reboot shut the guest down and could not start it again: it is down and marked for an operator. */
  | { code: 'reboot-left-down'; cause: DriverCause; detail: string };

/** An outcome's code. */
export type OutcomeCode = Outcome['code'];

/**
 * Why a switch was undone, in a customer's words (no trailing full stop).
 * @example
 * failureWords({ kind: 'shutdown-timeout', seconds: 60 }) // => 'the server did not shut down within 60 s'
 */
export function failureWords(f: SwitchFailure): string {
  switch (f.kind) {
    case 'shutdown-timeout':
      return `the server did not shut down within ${f.seconds} s`;
    case 'driver':
      return causeWords(f.cause);
    case 'verify':
      return bootCheckWords(f.boot);
    case 'interrupted':
      return 'the change was interrupted';
  }
}

/**
 * Why a switch was undone, in an operator's words: the step or the check that failed, and the detail.
 * @example
 * failureOperatorWords({ kind: 'verify', boot: { check: 'crashed' }, detail: 'domain crashed' }) // => 'verify failed (crashed): domain crashed'
 */
export function failureOperatorWords(f: SwitchFailure): string {
  switch (f.kind) {
    case 'shutdown-timeout':
      return `xl shutdown -w did not finish within ${f.seconds} s; no --force, so no destroy`;
    case 'driver':
      return `${f.step} failed: ${f.detail}`;
    case 'verify':
      return `verify failed (${f.boot.check}${f.boot.check === 'timeout' ? `, waiting for ${f.boot.waiting}` : ''}): ${f.detail}`;
    case 'interrupted':
      return `interrupted: ${f.detail}`;
  }
}

const POWER_DONE: Record<PowerDone, string> = { boot: 'The server was started.', shutdown: 'The server has shut down.', reboot: 'The server was restarted.' };

/**
 * An outcome in a customer's words. Switch over every code: a new code does not compile until it has words.
 * @example
 * customerOutcomeWords({ code: 'switched', from: 'pv', to: 'pvh' }) // => 'The server now runs in PVH mode.'
 */
export function customerOutcomeWords(o: Outcome): string {
  switch (o.code) {
    case 'switched':
      return `The server now runs in ${modeName(o.to)} mode.`;
    case 'rolling-back':
      return `The switch to ${modeName(o.to)} did not work: ${clause(failureWords(o.failure))}. The server is being put back in ${modeName(o.from)} mode.`;
    case 'rolled-back':
      return rolledBackMessage(o.from, o.to, failureWords(o.failure), o.restarted);
    case 'undone':
      return `The server was put back in ${modeName(o.from)} mode with its earlier settings.`;
    case 'rollback-failed':
      return attentionMessage(o.from, causeWords(o.cause));
    case 'powered':
      return POWER_DONE[o.action];
    case 'reboot-left-down':
      return `The server was shut down but could not be started again (${causeWords(o.cause)}). Our team has been alerted.`;
  }
}

/**
 * An outcome in an operator's words: its code, then what failed and what was done about it.
 * @example
 * operatorOutcomeWords({ code: 'rolled-back', from: 'pv', to: 'pvh', failure: { kind: 'verify', boot: { check: 'crashed' }, detail: 'domain crashed' }, restarted: true })
 * // => 'rolled-back: verify failed (crashed): domain crashed; config restored, restarted as pv and verified'
 */
export function operatorOutcomeWords(o: Outcome): string {
  switch (o.code) {
    case 'switched':
      return `switched: ${o.from} → ${o.to}, verified`;
    case 'rolling-back':
      return `rolling-back: ${failureOperatorWords(o.failure)}; rolling back to ${o.from}`;
    case 'rolled-back':
      return `rolled-back: ${failureOperatorWords(o.failure)}; config restored, ${o.restarted ? `restarted as ${o.from} and verified` : 'left stopped as it was before'}`;
    case 'undone':
      return `undone: put back as ${o.from} (config restored, verified), asked by ${o.by}`;
    case 'rollback-failed':
      return `rollback-failed: ${o.failure === null ? 'asked-for rollback' : failureOperatorWords(o.failure)}; rollback failed: ${o.detail}; the guest is left down or unchecked, marked needs-attention for an operator`;
    case 'powered':
      return `powered: ${o.action} done`;
    case 'reboot-left-down':
      return `reboot-left-down: shut down, then xl create failed: ${o.detail}; the guest is down, marked needs-attention for an operator`;
  }
}

const isType = (t: unknown): t is GuestType => t === 'pv' || t === 'pvh' || t === 'pvh-shim' || t === 'hvm';
const isStr = (s: unknown): s is string => typeof s === 'string';
const isObj = (o: unknown): o is Record<string, unknown> => typeof o === 'object' && o !== null && !Array.isArray(o);

/** Whether a stored driver cause has its shape (src/fleet/messages.ts DriverCause). */
export const isCause = (c: unknown): c is DriverCause => isObj(c) && isStr(c.kind) && (c.failure === null || isStr(c.failure));

const isInside = (m: unknown) => m === 'PV' || m === 'PVH' || m === 'HVM';

function isBootCheck(b: unknown): b is BootCheck {
  if (!isObj(b)) return false;
  switch (b.check) {
    case 'domain-gone':
      return typeof b.panic === 'boolean' && typeof b.silentPvh === 'boolean';
    case 'crashed':
    case 'panic':
      return true;
    case 'wrong-type':
      return isType(b.running) && isType(b.expected);
    case 'guest-reports':
      return isInside(b.says) && isInside(b.expected);
    case 'timeout':
      return (b.waiting === 'start' || b.waiting === 'frontends' || b.waiting === 'tcp') && (b.port === null || Number.isInteger(b.port)) && Number.isFinite(b.seconds) && typeof b.silentPvh === 'boolean';
    default:
      return false;
  }
}

function isFailure(f: unknown): f is SwitchFailure {
  if (!isObj(f)) return false;
  switch (f.kind) {
    case 'shutdown-timeout':
      return Number.isFinite(f.seconds);
    case 'driver':
      return (f.step === 'shutdown' || f.step === 'write-config' || f.step === 'create') && isCause(f.cause) && isStr(f.detail);
    case 'verify':
      return isBootCheck(f.boot) && isStr(f.detail);
    case 'interrupted':
      return isStr(f.detail);
    default:
      return false;
  }
}

/** Each outcome code's check of stored parameters: a row that does not fit shows its prose. */
export const OUTCOME_PARAMS: Record<OutcomeCode, (p: Record<string, unknown>) => boolean> = {
  switched: (p) => isType(p.from) && isType(p.to),
  'rolling-back': (p) => isType(p.from) && isType(p.to) && isFailure(p.failure),
  'rolled-back': (p) => isType(p.from) && isType(p.to) && isFailure(p.failure) && typeof p.restarted === 'boolean',
  undone: (p) => isType(p.from) && isStr(p.by),
  'rollback-failed': (p) => isType(p.from) && (p.failure === null || isFailure(p.failure)) && isCause(p.cause) && isStr(p.detail),
  powered: (p) => p.action === 'boot' || p.action === 'shutdown' || p.action === 'reboot',
  'reboot-left-down': (p) => isCause(p.cause) && isStr(p.detail),
};

/**
 * Parameters for a customer: every operator detail (`detail`, at any depth: xl errors, console
 * lines) and who asked (`by`: an operator's token) taken out.
 * @example
 * customerParams({ from: 'pv', failure: { kind: 'interrupted', detail: 'x' } }) // => { from: 'pv', failure: { kind: 'interrupted' } }
 */
export function customerParams(p: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(p)
      .filter(([k]) => k !== 'detail' && k !== 'by')
      .map(([k, v]) => [k, isObj(v) ? customerParams(v) : v]),
  );
}
