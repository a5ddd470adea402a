/**
 * From an xl domain config to the facts about its guest that pvhctl acts on, read once, as xl
 * reads them (tools/xl/xl_parse.c): the guest's name and type (`type`/`builder`, with `pvshim`),
 * how it boots (a dom0 kernel, a PV GRUB image, pygrub, firmware), its disks (through xl's disk
 * spec syntax), PCI passthrough, and what inspection cannot follow. The fleet's switch and scan
 * (src/fleet/xlconfig.ts) and `pvhctl inspect --config` (src/guest/xl.ts) both read configs here.
 */
import type { GuestType } from '../fleet/types.ts';
import type { DiskFormat } from './disk.ts';
import { modelOf, type XlModel } from './model.ts';
import { formatParseError, parseXlConfig } from './parser.ts';

/** Largest xl config pvhctl reads: real ones are a few KB; anything this large is not one. */
export const MAX_CONFIG = 256 * 1024;

/**
 * A PV GRUB image given as `kernel`: Debian's grub-xen-bin (grub-x86_64-xen.bin,
 * grub-i386-xen.bin, grub-i386-xen_pvh.bin) or Xen's stubdom PV-GRUB (pv-grub-x86_64.gz). It
 * reads the guest's own grub.cfg, so the guest's boot menu decides the kernel, not dom0.
 */
export const PV_GRUB_IMAGE = /\/(?:grub-[a-z0-9_]+-xen(?:_pvh)?\.bin|pv-grub-x86_(?:32|64)\.gz)$/;

/** How the host boots the guest, as the config says. */
export type BootFact =
  /** `kernel =` a kernel in dom0, booted directly with `cmdline` (or `root=` and `extra`). */
  | { kind: 'direct'; kernel: string; cmdline: string | null }
  /** `kernel =` a PV GRUB image, or `firmware = "pvgrub32|64"`: the guest's boot menu decides. */
  | { kind: 'pv-grub'; image: string }
  /** `bootloader =` (pygrub): the guest's boot menu decides. */
  | { kind: 'bootloader'; bootloader: string }
  /** `firmware =` anything else (an HVM firmware). */
  | { kind: 'firmware'; firmware: string }
  | { kind: 'none' };

/** One of the guest's disks: the dom0 path (`target`), the guest's device name and the image format. */
export type DiskFact = { path: string; vdev: string | null; format: DiskFormat };

export type GuestFacts = {
  /** `name =`, or null when the config has none. */
  name: string | null;
  type: GuestType;
  /** `kernel =`, or the `firmware = "pvgrub…"` name: a direct kernel or a PV GRUB image. */
  kernel: string | null;
  ramdisk: string | null;
  bootloader: string | null;
  boot: BootFact;
  /** PCI passthrough is set (PVH refuses it at create time). */
  pci: boolean;
  /** Every disk with a target, not cdroms, in config order. */
  disks: DiskFact[];
  /** Disk specs xl would refuse (`FILE: disk 'SPEC': why`). */
  badDisks: string[];
  /** The config's shape errors xl would warn about or refuse (`FILE: why`). */
  shapeErrors: string[];
};

export type FactsResult = { ok: true; facts: GuestFacts } | { ok: false; error: string };

/**
 * The config's text: UTF-8 when it is valid UTF-8 (names and paths then reach dom0's file system
 * as the bytes xl would use), else latin1, which keeps every byte.
 */
function decode(content: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    return Buffer.from(content).toString('latin1');
  }
}

/**
 * The kernel command line xl builds (tools/xl/xl_parse.c): `cmdline` wins over `root` and `extra`
 * (xl warns); otherwise `root=ROOT` then EXTRA, joined by a space; null when none is set.
 * @example
 * xlCmdline(modelOf(parse('root = "/dev/xvda1 ro"\nextra = "quiet"\n'))) // => 'root=/dev/xvda1 ro quiet'
 */
export function xlCmdline(m: Pick<XlModel, 'cmdline' | 'root' | 'extra'>): string | null {
  if (m.cmdline !== null) return m.cmdline;
  const parts = [m.root !== null ? `root=${m.root}` : null, m.extra].filter((x): x is string => x !== null);
  return parts.length === 0 ? null : parts.join(' ');
}

function bootOf(m: XlModel): BootFact {
  if (m.kernel !== null) return PV_GRUB_IMAGE.test(m.kernel) ? { kind: 'pv-grub', image: m.kernel } : { kind: 'direct', kernel: m.kernel, cmdline: xlCmdline(m) };
  if (m.firmware !== null) return /^pvgrub(?:32|64)$/.test(m.firmware) ? { kind: 'pv-grub', image: m.firmware } : { kind: 'firmware', firmware: m.firmware };
  if (m.bootloader !== null) return { kind: 'bootloader', bootloader: m.bootloader };
  return { kind: 'none' };
}

/**
 * Reads an xl config's bytes into the guest's facts; an error is one line in xl's form
 * (`FILE:LINE: config parsing error near ...`). A bad disk spec is not an error here (inspection
 * goes on with the other disks): it is in `badDisks`, for a caller that must refuse it.
 * @example
 * guestFacts(bytes('name = "web"\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\ndisk = [ "phy:/dev/vg0/web,xvda,w" ]\n'), 'web.cfg')
 * // => { ok: true, facts: { name: 'web', type: 'pv', boot: { kind: 'pv-grub', image: '/usr/lib/grub-xen/grub-x86_64-xen.bin' }, disks: [{ path: '/dev/vg0/web', vdev: 'xvda', format: 'raw' }], ... } }
 */
export function guestFacts(content: Uint8Array, file: string): FactsResult {
  if (content.length > MAX_CONFIG) return { ok: false, error: `${file}: ${content.length} bytes is too large for an xl config (at most ${MAX_CONFIG})` };
  const r = parseXlConfig(decode(content), file);
  if (!r.ok) return { ok: false, error: formatParseError(r.error) };
  const m = modelOf(r.config);
  if (!m.type.ok) return { ok: false, error: `${file}: ${m.type.error}` };
  const disks: DiskFact[] = [];
  const badDisks: string[] = [];
  for (const d of m.disks) {
    if (!d.result.ok) badDisks.push(`${file}: disk ${JSON.stringify(d.spec)}: ${d.result.error}`);
    else if (d.result.disk.target !== null && !d.result.disk.cdrom) disks.push({ path: d.result.disk.target, vdev: d.result.disk.vdev, format: d.result.disk.format });
  }
  const shim = m.type.type === 'pvh' && m.pvshim !== null && m.pvshim.ok && m.pvshim.value !== 0;
  return {
    ok: true,
    facts: {
      name: m.name,
      type: shim ? 'pvh-shim' : m.type.type,
      kernel: m.kernel ?? (m.firmware?.startsWith('pvgrub') ? m.firmware : null),
      ramdisk: m.ramdisk,
      bootloader: m.bootloader,
      boot: bootOf(m),
      pci: m.pci.length > 0,
      disks,
      badDisks,
      shapeErrors: m.shapeErrors.map((e) => `${file}: ${e}`),
    },
  };
}
