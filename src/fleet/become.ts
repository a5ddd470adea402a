/**
 * What a guest can become, decided once: from its stored verdict (the kernel's PV and PVH
 * capability, and the whole disk inspection verdict of src/guest/verdict.ts when there was one),
 * what its switches showed, and the host's capabilities. The guest list, the API, the web UI's
 * summary and 32-bit paths, and the shell all read this one answer and only word it differently.
 */
import type { GuestVerdict } from './seams.ts';
import type { GuestType } from './types.ts';

/**
 * What the guest must do first to reach PVH natively, from the inspection verdict: reboot once
 * into a kernel that is already installed (`entry`: the menu entry to make the default, or null
 * when no entry boots it yet), or install one.
 */
export type NextStep = { kind: 'reboot-into'; kernel: string; entry: string | null } | { kind: 'install-kernel'; install: string };

/**
 * What a guest can become. `pvh` and `pvh-shim` are switches possible now; `did-not-boot`: the
 * verdict allowed a target, but each such target was tried and rolled back; `none`: its kernel
 * starts neither as PV nor as PVH; `host-no-hvm`: the kernel could, but the host has no hardware
 * virtualisation; `unknown`: not inspected, or the inspection could not tell (`why`).
 * `next`: what would make native PVH possible where it is not yet.
 */
export type Becoming =
  | { can: 'pvh' }
  | { can: 'pvh-shim'; next: NextStep | null }
  | { can: 'did-not-boot'; next: NextStep | null }
  | { can: 'none'; next: NextStep | null }
  | { can: 'host-no-hvm' }
  | { can: 'unknown'; why: string | null };

/** The `can` of a Becoming: the value of `canBecome` in the API and `pvhctl guest list`. */
export type CanBecome = Becoming['can'];

/**
 * The next step the disk inspection named, if any (only a disk inspection knows the guest's
 * other installed kernels and its distribution).
 * @example
 * nextStep({ ...v, inspection: { verdict: 'needs-kernel', install: 'linux-image-amd64', reasons: [] } }) // => { kind: 'install-kernel', install: 'linux-image-amd64' }
 */
export function nextStep(v: GuestVerdict): NextStep | null {
  const i = v.inspection;
  if (i === null) return null;
  if (i.verdict === 'ready-after-reboot') return { kind: 'reboot-into', kernel: i.kernel, entry: i.entry };
  if (i.verdict === 'needs-kernel') return { kind: 'install-kernel', install: i.install };
  return null;
}

/**
 * Decides what a guest can become. `refuted`: targets a rolled-back switch showed it cannot boot
 * as (src/fleet/policy.ts refutedTargets); `hostHvm`: whether its host has `hvm` in virt_caps, or
 * undefined when the question is about the guest alone (the guest list does not judge its host).
 * @example
 * becoming(pvOnlyVerdict, new Set(['pvh-shim'])) // => { can: 'did-not-boot', next: null }
 * becoming(null) // => { can: 'unknown', why: null }
 */
export function becoming(v: GuestVerdict | null, refuted: ReadonlySet<string> = new Set(), hostHvm?: boolean): Becoming {
  if (v === null) return { can: 'unknown', why: null };
  if (v.source === 'unknown') return { can: 'unknown', why: v.pvh.reason };
  if (hostHvm === false && (v.pvh.capable || v.pv.capable)) return { can: 'host-no-hvm' };
  const next = nextStep(v);
  if (v.pvh.capable && !refuted.has('pvh')) return { can: 'pvh' };
  if (v.pv.capable && !refuted.has('pvh-shim')) return { can: 'pvh-shim', next };
  return v.pvh.capable || v.pv.capable ? { can: 'did-not-boot', next } : { can: 'none', next };
}

/** The way a 32-bit guest can leave 32-bit PV, for the operators' summary. */
export type Path32 = 'done' | 'pvh' | 'pvh-shim' | 'blocked' | 'unknown';

/**
 * The path a 32-bit guest can take on its host (a view of becoming, with the guest's current type),
 * and why, in an operator's words.
 * @example
 * path32('pv', { pvh: { capable: false }, pv: { capable: true }, ... }, true) // => { path: 'pvh-shim', why: 'PV-only kernel: runs under the PV shim' }
 */
export function path32(type: GuestType, v: GuestVerdict | null, hostHvm: boolean): { path: Path32; why: string } {
  if (type !== 'pv') return { path: 'done', why: `already ${type}` };
  const b = becoming(v, new Set(), hostHvm);
  switch (b.can) {
    case 'unknown':
      return { path: 'unknown', why: b.why ?? 'not inspected yet' };
    case 'host-no-hvm':
      return { path: 'blocked', why: 'the host has no hvm in virt_caps: PVH and the shim are impossible there' };
    case 'pvh':
      return { path: 'pvh', why: 'the kernel has a PVH entry (XEN_ELFNOTE_PHYS32_ENTRY)' };
    case 'pvh-shim':
      return { path: 'pvh-shim', why: 'PV-only kernel: runs under the PV shim' };
    case 'did-not-boot':
    case 'none':
      return { path: 'blocked', why: v?.pvh.reason || 'the kernel boots neither PV nor PVH' };
  }
}
