/**
 * Inspection verdicts for the fleet. A guest booted from a kernel in dom0 is judged by reading that
 * kernel from the host and running the kernel reader (src/kernel/) on its bytes in a contained
 * child (the file is the guest's owner's to supply, as a disk is); a guest booted
 * through GRUB from its own disk needs the disk inspection (src/guest/); a simulated guest's kernel
 * is known to the simulator.
 */
import { domainName, hostPath, type BlockReader, type HostDriver } from '../drivers/driver.ts';
import { readOnlyCopy } from '../guest/bundle.ts';
import { inspectInChild, type GuestFailure } from '../guest/child.ts';
import type { GuestReport } from '../guest/inspect.ts';
import type { DiskSpec } from '../guest/volumes.ts';
import { isFailure, type KernelResult } from '../kernel/types.ts';
import { UNKNOWN_VERDICT, type GuestVerdict, type InspectGuest } from './seams.ts';

/** Largest kernel image read from a host (a bzImage is 5–15 MB). */
export const MAX_KERNEL = 128 * 1024 * 1024;

/** Kernel images that are GRUB built as a Xen guest: the real kernel is on the guest's disk. */
export const GRUB_IMAGE = /\/grub-[a-z0-9_]+-xen(_pvh)?\.bin$|^pvgrub(32|64)$/;

/**
 * The guest's width from the PV GRUB image its config boots (Debian's grub-xen-host names, or xl's
 * `firmware = "pvgrub32"`): a 32-bit PV GRUB loads only 32-bit PV kernels, a 64-bit one 64-bit.
 * Null for anything else (the PVH GRUB image boots either).
 * @example
 * archOfGrubImage('/usr/lib/grub-xen/grub-i386-xen.bin') // => 'x86_32p'
 */
export function archOfGrubImage(kernel: string | null): GuestVerdict['arch'] {
  if (kernel === null) return null;
  if (/\/grub-i386-xen\.bin$|^pvgrub32$/.test(kernel)) return 'x86_32p';
  if (/\/grub-x86_64-xen\.bin$|^pvgrub64$/.test(kernel)) return 'x86_64';
  return null;
}

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
    inspection: null,
  };
}

/**
 * Turns a guest disk inspection (src/guest/) into a guest verdict: PVH only when the kernel the
 * guest boots by default has the PVH entry; PV capability from that same kernel.
 * @example
 * verdictOfDisk(await inspectInChild(disks, { dataDir: null })).pvh.capable // => true
 */
export function verdictOfDisk(r: GuestReport | GuestFailure): GuestVerdict {
  if ('error' in r) return UNKNOWN_VERDICT(`the guest's disk could not be inspected: ${r.error}`);
  const v = r.verdict;
  const d = r.boot?.default;
  const current = d?.decided ? r.boot?.entries[d.index]?.kernelPath : undefined;
  const chosen = v.verdict === 'ready' || v.verdict === 'shim' ? v.kernel : current;
  const k = r.kernels.find((x) => x.path === chosen)?.result;
  const reason = v.reasons.join('; ');
  const os = r.os?.id ? { id: r.os.id, idLike: r.os.idLike } : null;
  if (v.verdict === 'unknown') return { ...UNKNOWN_VERDICT(reason), inspection: v, os };
  const ok = k !== undefined && !isFailure(k) ? k : null;
  return {
    pv: ok ? { capable: ok.pv.capable, abi: ok.pv.abi, reason: ok.pv.reason } : { capable: false, abi: null, reason: 'the kernel the guest boots could not be judged' },
    pvh: { capable: v.verdict === 'ready', reason },
    arch: ok?.arch ?? null,
    source: 'disk',
    kernelVersion: ok ? (ok.release ?? ok.version) : null,
    inspection: v,
    os,
  };
}

/** The verdict on a direct kernel from its contained child's report. */
function verdictOfDirect(r: GuestReport | GuestFailure, kernel: string): GuestVerdict {
  if ('error' in r) return UNKNOWN_VERDICT(`the kernel ${kernel} could not be judged: ${r.error}`);
  const k = r.kernels.find((x) => x.path === kernel);
  return k === undefined ? UNKNOWN_VERDICT(`the kernel ${kernel} was not judged`) : verdictOfKernel(k.result);
}

/**
 * The inspector for xl hosts. A direct kernel is read from dom0 and judged in a contained child; a guest booted by GRUB
 * from its own disk has its disks inspected in a contained child process: in place on a local
 * host; on a remote one through block reads served over SSH (`openDisk`), so that only the blocks
 * the inspector reads cross the network, whatever the disk's size.
 */
export function xlInspector(driver: HostDriver, opts: { local: boolean; dataDir: string | null }): InspectGuest {
  const inspect = fromDisk(driver, opts);
  return async (input) => {
    const v = await inspect(input);
    // A disk that says nothing of its kernel (none found, unreadable) still boots a PV GRUB of a
    // known width: the guest's architecture is that one (the lab's shim32 runs the 32-bit one).
    return v.arch === null ? { ...v, arch: archOfGrubImage(input.facts.kernel) } : v;
  };
}

function fromDisk(driver: HostDriver, opts: { local: boolean; dataDir: string | null }): InspectGuest {
  return async ({ guestName, facts }) => {
    if (facts.kernel !== null && !GRUB_IMAGE.test(facts.kernel)) {
      let bytes: Uint8Array;
      try {
        bytes = await driver.readFile(hostPath(facts.kernel), MAX_KERNEL);
      } catch (err) {
        return UNKNOWN_VERDICT(`the kernel ${facts.kernel} could not be read: ${err instanceof Error ? err.message : String(err)}`);
      }
      return verdictOfDirect(await inspectInChild([], { name: guestName, dataDir: opts.dataDir, directKernel: facts.kernel }, {}, [], readOnlyCopy(bytes)), facts.kernel);
    }
    if (facts.disks.length === 0) return UNKNOWN_VERDICT('the config names no disk to inspect');
    if (opts.local) return verdictOfDisk(await inspectInChild(facts.disks, { name: guestName, dataDir: opts.dataDir, pci: facts.pci }));
    const readers: BlockReader[] = [];
    try {
      const served: DiskSpec[] = [];
      for (const d of facts.disks) {
        const r = await driver.openDisk(hostPath(d.path));
        readers.push(r);
        served.push({ path: d.path, vdev: d.vdev, served: { size: r.size } });
      }
      return verdictOfDisk(await inspectInChild(served, { name: guestName, dataDir: opts.dataDir, pci: facts.pci }, {}, readers));
    } catch (err) {
      return UNKNOWN_VERDICT(`the guest's disk could not be opened on the host: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await Promise.all(readers.map((r) => r.close()));
    }
  };
}

/** The inspector of a driver that knows its guests' kernels (the simulator): what it says. */
export function knownKernelInspector(driver: Pick<HostDriver, 'knownKernel'>): InspectGuest {
  return async ({ guestName }) => {
    const k = (await driver.knownKernel?.(domainName(guestName))) ?? null;
    if (k === null) return UNKNOWN_VERDICT('the host does not know this guest');
    const abi = k.arch === 'x86_64' ? 'xen-3.0-x86_64' : 'xen-3.0-x86_32p';
    return {
      pv: { capable: k.pv, abi, reason: k.pv ? 'has a PV entry point (ENTRY note)' : 'no PV entry point' },
      pvh: { capable: k.pvh, reason: k.pvh ? 'has a PHYS32_ENTRY note' : 'no PHYS32_ENTRY note (kernel built without CONFIG_XEN_PVH)' },
      arch: k.arch,
      source: 'sim',
      kernelVersion: k.version,
      inspection: null,
    };
  };
}
