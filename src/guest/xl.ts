/**
 * From an xl domain config file to what guest inspection needs (`pvhctl inspect --config`): the
 * guest's name, the disks it gives the guest that inspection can read, whether it passes PCI
 * devices through, and whether the host boots a kernel directly (`kernel = ...`) instead of the
 * guest's own boot menu (pygrub, PV GRUB). The config is read by src/xlcfg/facts.ts, as the
 * fleet reads it.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { guestFacts, MAX_CONFIG, type BootFact } from '../xlcfg/facts.ts';
import type { DiskSpec } from './volumes.ts';

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

/** At most `max` + 1 bytes of a file: enough to tell that it is too large without reading it all. */
function readCapped(file: string, max: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** How the config boots the guest, in the report's words. */
function bootWords(b: BootFact): string {
  switch (b.kind) {
    case 'direct':
      return `kernel = "${b.kernel}" (the host boots this kernel directly)`;
    case 'pv-grub':
      return b.image.startsWith('/') ? `kernel = "${b.image}" (PV GRUB reads the guest's boot menu)` : `firmware = "${b.image}" (PV GRUB reads the guest's boot menu)`;
    case 'firmware':
      return `firmware = "${b.firmware}"`;
    case 'bootloader':
      return `bootloader = "${b.bootloader}"`;
    case 'none':
      return 'no kernel, bootloader or firmware set';
  }
}

/**
 * Reads an xl config file into the guest to inspect; a string is a one-line error (xl's format).
 * @example
 * xlGuest('/etc/xen/web1.cfg') // => { name: 'web1', disks: [{ path: '/dev/vg0/web1', vdev: 'xvda' }], pci: false, directKernel: null, boot: 'bootloader = "pygrub"', notes: [] }
 */
export function xlGuest(file: string): XlGuest | string {
  let content: Buffer;
  try {
    content = readCapped(file, MAX_CONFIG);
  } catch (err) {
    return `${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
  const r = guestFacts(content, file);
  if (!r.ok) return r.error;
  const f = r.facts;
  const notes = [...f.shapeErrors, ...f.badDisks];
  const disks: DiskSpec[] = [];
  for (const d of f.disks) {
    if (d.format !== 'raw') notes.push(`${file}: disk ${d.vdev} is ${d.format}, which pvhctl does not read (raw images and block devices only)`);
    else disks.push({ path: d.path, vdev: d.vdev });
  }
  if (f.type === 'hvm') notes.push(`${file}: the guest is HVM, not PV`);
  const direct = f.boot.kind === 'direct' ? f.boot : null;
  return {
    name: f.name ?? basename(file).replace(/\.cfg$/, ''),
    disks,
    pci: f.pci,
    directKernel: direct?.kernel ?? null,
    directCmdline: direct?.cmdline ?? null,
    boot: bootWords(f.boot),
    notes,
  };
}
