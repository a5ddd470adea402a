/**
 * Host policy: may this guest become `to` on this host? A pure function over the host's
 * capabilities (xl info), its role and the guest's inspection verdict.
 */
import type { HostRole } from '../store/schema.ts';
import type { ConfigFacts, GuestVerdict } from './seams.ts';
import type { SwitchTarget } from './types.ts';
import type { Refusal } from './reasons.ts';

export type HostCaps = { xenCaps: string[]; virtCaps: string[]; role: HostRole };

/** The policy's refusals: what the host and the inspection verdict do not allow. */
export type PolicyRefusal = Extract<Refusal, { code: 'host-no-hvm' | 'pci-passthrough' | 'not-inspected' | 'kernel-no-pvh' | 'kernel-no-pv' | 'host-no-abi' }>;

/** Allowed, or refused with a code and its parameters (src/fleet/reasons.ts words it). */
export type PolicyResult = { ok: true } | { ok: false; refusal: PolicyRefusal };

/** Whether the host can run HVM containers (PVH and the shim need them): `hvm` in virt_caps or an `hvm-` ABI in xen_caps. */
export const hasHvm = (h: Pick<HostCaps, 'xenCaps' | 'virtCaps'>): boolean => h.virtCaps.includes('hvm') || h.xenCaps.some((c) => c.startsWith('hvm-'));

/**
 * Decides whether a guest may switch to `to` on a host.
 * @example
 * allowed('pvh', { xenCaps: ['xen-3.0-x86_64'], virtCaps: ['pv'], role: 'pv-pvh' }, verdict, facts)
 * // => { ok: false, refusal: { code: 'host-no-hvm' } }
 */
export function allowed(to: SwitchTarget, host: HostCaps, verdict: GuestVerdict | null, facts: ConfigFacts | null): PolicyResult {
  const no = (refusal: PolicyRefusal): PolicyResult => ({ ok: false, refusal });
  if (to === 'pvh' || to === 'pvh-shim') {
    if (!hasHvm(host)) return no({ code: 'host-no-hvm' });
    if (facts?.pci) return no({ code: 'pci-passthrough' });
  }
  if (verdict === null || verdict.source === 'unknown') return no({ code: 'not-inspected', detail: verdict ? verdict.pvh.reason : null });
  if (to === 'pvh' && !verdict.pvh.capable) return no({ code: 'kernel-no-pvh', detail: verdict.pvh.reason });
  if (to === 'pvh-shim' && !verdict.pv.capable) return no({ code: 'kernel-no-pv', to, detail: verdict.pv.reason });
  if (to === 'pv') {
    if (!verdict.pv.capable) return no({ code: 'kernel-no-pv', to, detail: verdict.pv.reason });
    const abi = verdict.pv.abi;
    if (abi !== null && !host.xenCaps.includes(abi)) return no({ code: 'host-no-abi', abi });
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
