/**
 * A campaign plan's paths (src/fleet/planner.ts GuestPath) in a customer's words and in an
 * operator's, rendered at the edge from the codes and their parameters. Kernel, entry and package
 * names and the inspection's reasons come from the guest's disk: escape them on output.
 */
import { nextWords } from './words.ts';
import { modeName } from './messages.ts';
import type { Blocked, GuestPath } from './planner.ts';

/** Why a guest is blocked, in a customer's words, by code. */
const BLOCKED_CUSTOMER: Record<Blocked['code'], string> = {
  'not-inspected': "The server's kernel has not been checked yet; it stays as it is until we have checked it.",
  'inspection-blocked': 'The server cannot run in PVH mode yet: {reasons}.',
  'host-no-hvm': 'The server stays in PV mode for now: its host has no hardware virtualisation (VT-x/AMD-V), which PVH needs.',
  'hvm-dedicated-host': 'The server stays as it is: its host is not part of this move.',
  'host-unknown': 'The server stays as it is: its host is not known to us; our team will look at it.',
  'did-not-boot': 'The server stays in PV mode: it did not start in PVH mode when we tried, and was put back as it was.',
  'kernel-boots-neither': "The server's kernel cannot run in PVH mode, even with the PV shim; it stays in PV mode.",
  'rehearsal-failed': 'The server stays in PV mode for now: a test start in {mode} mode, on a copy of its disks, did not come up.',
  switching: 'The server is being switched right now.',
  'needs-attention': 'The server stays as it is until our team has looked at its last switch.',
  'shim-not-used': "The server's kernel cannot run in PVH mode, so it stays in PV mode for now; a kernel with PVH support would let it move.",
};

/** Why a guest is blocked, in an operator's words, by code. */
const BLOCKED_OPERATOR: Record<Blocked['code'], string> = {
  'not-inspected': 'not inspected ({detail}): run pvhctl scan',
  'inspection-blocked': 'the disk inspection says blocked: {reasons}',
  'host-no-hvm': 'no hvm in the host virt_caps: PVH and the PV shim cannot run there',
  'hvm-dedicated-host': 'the host role is hvm-dedicated: move the guest to a pv-pvh host',
  'host-unknown': 'its host is not in the store',
  'did-not-boot': 'every target the verdict allowed was switched to and rolled back',
  'kernel-boots-neither': 'the kernel has neither a PV entry (XEN_ELFNOTE_ENTRY) nor PHYS32_ENTRY, and no other installed kernel is known to',
  'rehearsal-failed': 'its latest rehearsal to {to} failed ({rule}): rehearse it again once fixed',
  switching: 'an operation is running on it',
  'needs-attention': 'health is needs-attention after its last operation',
  'shim-not-used': 'the kernel has no PHYS32_ENTRY (PV only) and this campaign does not use the PV shim (--pv-only hold)',
};

const fill = (template: string, params: Record<string, string>) =>
  // One pass: a parameter from the guest that contains {x} itself is not expanded again.
  template.replace(/\{(\w+)\}/g, (_, k: string) => params[k] ?? '');

const paramsOf = (b: Blocked): Record<string, string> => {
  switch (b.code) {
    case 'not-inspected':
      return { detail: b.detail ?? 'no verdict stored' };
    case 'inspection-blocked':
      return { reasons: b.reasons.join('; ') || 'no reason given' };
    case 'rehearsal-failed':
      return { to: b.to, mode: modeName(b.to), rule: b.rule ?? 'no rule recorded' };
    default:
      return {};
  }
};

/**
 * A guest's path in a customer's words.
 * @example
 * customerPathWords({ path: 'pvh-now' }) // => 'The server will be switched to PVH mode in its maintenance window.'
 * customerPathWords({ path: 'after-kernel-upgrade', install: 'linux-image-amd64' })
 * // => 'To run in PVH mode without the shim, install linux-image-amd64 and restart the server once.'
 */
export function customerPathWords(p: GuestPath): string {
  switch (p.path) {
    case 'pvh-now':
      return 'The server will be switched to PVH mode in its maintenance window.';
    case 'pv-shim':
      return 'The server will be switched to PVH mode with the PV shim in its maintenance window; its kernel stays as it is.';
    case 'after-reboot':
      return nextWords({ kind: 'reboot-into', kernel: p.kernel, entry: p.entry });
    case 'after-kernel-upgrade':
      return nextWords({ kind: 'install-kernel', install: p.install });
    case 'blocked':
      return fill(BLOCKED_CUSTOMER[p.why.code], paramsOf(p.why));
    case 'done':
      return `The server already runs in ${modeName(p.type)} mode.`;
  }
}

/**
 * A guest's path in an operator's words (one line, for `pvhctl campaign plan`).
 * @example
 * operatorPathWords({ path: 'blocked', why: { code: 'rehearsal-failed', to: 'pvh', rule: 'verify' } })
 * // => 'blocked: its latest rehearsal to pvh failed (verify): rehearse it again once fixed'
 */
export function operatorPathWords(p: GuestPath): string {
  switch (p.path) {
    case 'pvh-now':
      return 'pvh now: the kernel has PHYS32_ENTRY';
    case 'pv-shim':
      return 'pvh-shim: PV-only kernel, no PVH kernel known to be installed';
    case 'after-reboot':
      return `after reboot: ${p.kernel} is installed with PHYS32_ENTRY; ${p.entry === null ? 'no menu entry boots it (update-grub)' : `make "${p.entry}" the default`}`;
    case 'after-kernel-upgrade':
      return `after kernel upgrade: install ${p.install}`;
    case 'blocked':
      return `blocked: ${fill(BLOCKED_OPERATOR[p.why.code], paramsOf(p.why))}`;
    case 'done':
      return `done: already ${p.type}`;
  }
}
