/**
 * Inspection verdicts for the fleet. A guest booted from a kernel in dom0 is judged by reading that
 * kernel from the host and running the kernel reader (src/kernel/) on its bytes; a guest booted
 * through GRUB from its own disk needs the disk inspection (src/guest/); a simulated guest's kernel
 * is known to the simulator.
 */
import { hostPath, type HostDriver } from '../drivers/driver.ts';
import type { SimHost } from '../drivers/sim/world.ts';
import { inspectKernelBytes } from '../kernel/inspect.ts';
import { isFailure, type KernelResult } from '../kernel/types.ts';
import { UNKNOWN_VERDICT, type GuestVerdict, type InspectGuest } from './seams.ts';

/** Largest kernel image read from a host (a bzImage is 5–15 MB). */
export const MAX_KERNEL = 128 * 1024 * 1024;

/** Kernel images that are GRUB built as a Xen guest: the real kernel is on the guest's disk. */
export const GRUB_IMAGE = /\/grub-[a-z0-9_]+-xen(_pvh)?\.bin$|^pvgrub(32|64)$/;

/**
 * Turns a kernel report into a guest verdict.
 * @example
 * verdictOfKernel(report).pvh // => { capable: true, reason: 'has a PHYS32_ENTRY note' }
 */
export function verdictOfKernel(r: KernelResult): GuestVerdict {
  if (isFailure(r)) return UNKNOWN_VERDICT(`the kernel could not be read: ${r.error}`);
  return {
    pv: { capable: r.pv.capable, abi: r.pv.abi, reason: r.pv.reason },
    pvh: { capable: r.pvh.capable, reason: r.pvh.reason },
    arch: r.arch,
    source: 'kernel',
    kernelVersion: r.release ?? r.version,
  };
}

/** The inspector for xl hosts (local or SSH). */
export function xlInspector(driver: HostDriver): InspectGuest {
  return async ({ facts }) => {
    if (facts.kernel === null) {
      return UNKNOWN_VERDICT(facts.bootloader !== null ? `boots through ${facts.bootloader}; its disk must be inspected` : 'no kernel in the config');
    }
    if (GRUB_IMAGE.test(facts.kernel)) return UNKNOWN_VERDICT('boots through GRUB from its own disk; its disk must be inspected');
    let bytes: Uint8Array;
    try {
      bytes = await driver.readFile(hostPath(facts.kernel), MAX_KERNEL);
    } catch (err) {
      return UNKNOWN_VERDICT(`the kernel ${facts.kernel} could not be read: ${err instanceof Error ? err.message : String(err)}`);
    }
    return verdictOfKernel(await inspectKernelBytes(bytes, facts.kernel));
  };
}

/** The simulator's inspector: the simulated guest's kernel capabilities. */
export function simInspector(sim: SimHost): InspectGuest {
  return async ({ guestName }) => {
    const g = sim.state.guests[guestName];
    if (g === undefined) return UNKNOWN_VERDICT('not a simulated guest');
    const k = g.kernel;
    const abi = k.arch === 'x86_64' ? 'xen-3.0-x86_64' : 'xen-3.0-x86_32p';
    return {
      pv: { capable: k.pv, abi, reason: k.pv ? 'has a PV entry point (ENTRY note)' : 'no PV entry point' },
      pvh: { capable: k.pvh, reason: k.pvh ? 'has a PHYS32_ENTRY note' : 'no PHYS32_ENTRY note (kernel built without CONFIG_XEN_PVH)' },
      arch: k.arch,
      source: 'sim',
      kernelVersion: k.pvh ? '6.1.0-26-amd64' : '4.9.0-19-amd64',
    };
  };
}
