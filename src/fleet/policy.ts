/**
 * Host policy: may this guest become `to` on this host? A pure function over the host's
 * capabilities (xl info), its role and the guest's inspection verdict.
 */
import type { HostRole } from '../store/schema.ts';
import type { ConfigFacts, GuestVerdict } from './seams.ts';
import type { PolicyRule, SwitchTarget } from './types.ts';
import { clause } from './messages.ts';

export type HostCaps = { xenCaps: string[]; virtCaps: string[]; role: HostRole };

/** `reason` is for the customer; `rule` names the check for operators and tests. */
export type PolicyResult = { ok: true } | { ok: false; rule: PolicyRule; reason: string };

/** Whether the host can run HVM containers (PVH and the shim need them): `hvm` in virt_caps or an `hvm-` ABI in xen_caps. */
export const hasHvm = (h: Pick<HostCaps, 'xenCaps' | 'virtCaps'>): boolean => h.virtCaps.includes('hvm') || h.xenCaps.some((c) => c.startsWith('hvm-'));

/**
 * Decides whether a guest may switch to `to` on a host.
 * @example
 * allowed('pvh', { xenCaps: ['xen-3.0-x86_64'], virtCaps: ['pv'], role: 'pv-pvh' }, verdict, facts)
 * // => { ok: false, rule: 'host-no-hvm', reason: 'This host has no hardware virtualisation (VT-x/AMD-V), which PVH needs.' }
 */
export function allowed(to: SwitchTarget, host: HostCaps, verdict: GuestVerdict | null, facts: ConfigFacts | null): PolicyResult {
  const no = (rule: PolicyRule, reason: string): PolicyResult => ({ ok: false, rule, reason });
  if (to === 'pvh' || to === 'pvh-shim') {
    if (!hasHvm(host)) return no('host-no-hvm', 'This host has no hardware virtualisation (VT-x/AMD-V), which PVH needs.');
    if (facts?.pci) return no('pci-passthrough', 'The server uses a passed-through PCI device, which PVH mode does not support yet.');
  }
  if (verdict === null || verdict.source === 'unknown') {
    return no('not-inspected', `The server's kernel has not been checked yet${verdict ? `: ${clause(verdict.pvh.reason)}` : ''}.`);
  }
  if (to === 'pvh' && !verdict.pvh.capable) return no('kernel-no-pvh', `The server's kernel cannot start in PVH mode: ${clause(verdict.pvh.reason)}.`);
  if (to === 'pvh-shim' && !verdict.pv.capable) return no('kernel-no-pv', `The server's kernel cannot run under the PV shim: ${clause(verdict.pv.reason)}.`);
  if (to === 'pv') {
    if (!verdict.pv.capable) return no('kernel-no-pv', `The server's kernel cannot start in PV mode: ${clause(verdict.pv.reason)}.`);
    const abi = verdict.pv.abi;
    if (abi !== null && !host.xenCaps.includes(abi)) {
      return no('host-no-abi', abi === 'xen-3.0-x86_32p' ? 'This host no longer runs 32-bit PV guests.' : `This host does not run ${abi} guests.`);
    }
  }
  return { ok: true };
}

/**
 * The targets each guest's switches showed it cannot boot as: a switch to T that was rolled back
 * counts against T until a later switch to T is done. The inspection verdict says what the kernel
 * carries; this says what booting it on the host showed, which wins.
 * @example
 * refutedTargets([{ guest_id: 1, to_type: 'pvh-shim', status: 'rolled-back' }]) // => Map { 1 => Set { 'pvh-shim' } }
 */
export function refutedTargets(outcomes: readonly { guest_id: number; to_type: string; status: string }[]): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>();
  for (const o of outcomes) {
    const set = out.get(o.guest_id) ?? new Set<string>();
    if (o.status === 'rolled-back') set.add(o.to_type);
    else if (o.status === 'done') set.delete(o.to_type);
    out.set(o.guest_id, set);
  }
  return out;
}
