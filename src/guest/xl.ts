/**
 * From an xl domain config to what guest inspection needs: the guest's name, the disks it gives
 * the guest (target and vdev, from xl's own disk spec syntax), whether it passes PCI devices
 * through, and whether the host boots a kernel directly (`kernel = ...`) instead of the guest's
 * own boot menu (pygrub, pvgrub).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { modelOf, type XlModel } from '../xlcfg/model.ts';
import { formatParseError, parseXlConfig } from '../xlcfg/parser.ts';
import type { DiskSpec } from './volumes.ts';

/** xl configs are small; anything larger is not one. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export type XlGuest = {
  name: string;
  disks: DiskSpec[];
  pci: boolean;
  /** A dom0 kernel the host boots directly, or null when the guest's own menu decides (pygrub, PV GRUB). */
  directKernel: string | null;
  /** The command line xl gives a direct kernel: `cmdline`, else `root=ROOT EXTRA` (xl_parse.c). */
  directCmdline: string | null;
  /** What the config says about how the guest boots, for the report. */
  boot: string;
  /** Things in the config inspection cannot follow (qcow2 disks, cdroms, bad disk specs). */
  notes: string[];
};

/** A PV GRUB image passed as `kernel` reads the guest's grub.cfg like pygrub does. */
const PV_GRUB = /grub[^/]*xen[^/]*\.bin$|pvgrub/i;

/**
 * Reads an xl config file into the guest to inspect; a string is a one-line error (xl's format).
 * @example
 * xlGuest('/etc/xen/web1.cfg') // => { name: 'web1', disks: [{ path: '/dev/vg0/web1', vdev: 'xvda' }], pci: false, directKernel: null, boot: 'bootloader = "pygrub"', notes: [] }
 */
export function xlGuest(file: string): XlGuest | string {
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_CONFIG_BYTES) return `${file}: ${buf.length} bytes is too large for an xl config`;
    text = buf.toString('utf8');
  } catch (err) {
    return `${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
  const parsed = parseXlConfig(text, file);
  if (!parsed.ok) return formatParseError(parsed.error);
  const m = modelOf(parsed.config);
  const notes = [...m.shapeErrors.map((e) => `${file}: ${e}`)];
  const disks: DiskSpec[] = [];
  for (const d of m.disks) {
    if (!d.result.ok) {
      notes.push(`${file}: disk '${d.spec}': ${d.result.error}`);
      continue;
    }
    const disk = d.result.disk;
    if (disk.cdrom || disk.target === null) continue;
    if (disk.format !== 'raw') {
      notes.push(`${file}: disk ${disk.vdev} is ${disk.format}, which pvhctl does not read (raw images and block devices only)`);
      continue;
    }
    disks.push({ path: disk.target, vdev: disk.vdev });
  }
  if (m.type.ok && m.type.type === 'hvm') notes.push(`${file}: the guest is HVM, not PV`);
  let directKernel: string | null = null;
  let boot: string;
  if (m.kernel !== null && !PV_GRUB.test(m.kernel)) {
    directKernel = m.kernel;
    boot = `kernel = "${m.kernel}" (the host boots this kernel directly)`;
  } else if (m.kernel !== null) boot = `kernel = "${m.kernel}" (PV GRUB reads the guest's boot menu)`;
  else if (m.firmware !== null) boot = `firmware = "${m.firmware}"`;
  else if (m.bootloader !== null) boot = `bootloader = "${m.bootloader}"`;
  else boot = 'no kernel, bootloader or firmware set';
  const directCmdline = directKernel === null ? null : xlCmdline(m);
  return { name: m.name ?? basename(file).replace(/\.cfg$/, ''), disks, pci: m.pci.length > 0, directKernel, directCmdline, boot, notes };
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
