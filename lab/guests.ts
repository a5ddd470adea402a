/**
 * The lab's guests: what each one is, how its disk is laid out in dom0's volume group, and the
 * files that describe it (its xl config in dom0's /etc/xen, the grub.cfg on its disk). Pure data
 * and text; lab/build.ts writes these files and lab/lab.test.ts checks the boots they promise.
 */

/** The volume group on the lab's data disk, as a production dom0 has one for guest disks. */
export const VG = 'vg0';

/** LVM extent size in MiB (`vgcreate -s 4m`); the data area starts 1 MiB into the disk. */
export const EXTENT_MIB = 4;
export const PE_START_MIB = 1;

/** Size of every guest disk (one ext4 filesystem, no partition table) in MiB. */
export const DISK_MIB = 32;

/** Where direct-boot kernels and initramfs images live in dom0, as on many production hosts. */
export const IMAGES_DIR = '/var/lib/xen/images';

/** The PV and PVH GRUB images from Debian's grub-xen-host, at their path in dom0. */
export const GRUB = {
  pv64: '/usr/lib/grub-xen/grub-x86_64-xen.bin',
  pv32: '/usr/lib/grub-xen/grub-i386-xen.bin',
  pvh: '/usr/lib/grub-xen/grub-i386-xen_pvh.bin',
} as const;

/**
 * Which kernel a guest's disk carries. `amd64-nopvh` is amd64 with its PHYS32_ENTRY note renamed;
 * `debian` is the one a real Debian system installed on its own disk (lab/debian.ts).
 */
export type GuestKernel = 'amd64' | '686-pae' | 'amd64-nopvh' | 'none' | 'debian';

/**
 * How a guest's init behaves: print the marker, or hang before its disk when it finds itself PVH;
 * `systemd`: a real Debian system whose unit pvhctl-lab-report.service prints the marker.
 */
export type GuestInit = 'marker' | 'hang-on-pvh' | 'systemd';

/** How the guest is booted by its configuration as shipped in dom0's /etc/xen. */
export type GuestBoot =
  | { kind: 'direct' }
  | { kind: 'grub'; image: keyof typeof GRUB };

/** What a boot of one guest in one mode must show; `fails` carries the text Xen's tools print. */
export type BootExpectation =
  | { kind: 'marker'; guestType: 'PV' | 'PVH' }
  | { kind: 'grub-marker' }
  | { kind: 'fails'; message: string }
  | { kind: 'hangs' };

export type LabGuest = {
  name: string;
  summary: string;
  arch: 'x86_64' | 'x86_32';
  kernel: GuestKernel;
  init: GuestInit;
  boot: GuestBoot;
  type: 'pv' | 'pvh';
  pvshim: boolean;
  /** The domain's memory in MiB; 192 when not given. */
  memoryMiB?: number;
  /** What the shipped config does, and what the hand-edited PVH config does (null: not tried). */
  expect: { shipped: BootExpectation; asPvh: BootExpectation | null };
};

/** Xen's message when a PV image needs an ABI the hypervisor lacks (tools/libs/guest/xg_dom_core.c). */
export const MSG_NO_ABI = 'guest type xen-3.0-x86_32p not supported by xen kernel';
/** Xen's message for a PVH boot of a kernel without PHYS32_ENTRY (tools/libs/guest/xg_dom_elfloader.c). */
export const MSG_NO_PVH = 'image not capable of booting inside a HVM container';

/** The line a lab guest's init prints to hvc0 once its disk is mounted. */
export const MARKER = 'PVHCTL-LAB-MARKER';
/** The line the hang guest prints before it stops short of its disk. */
export const HANG_MARKER = 'PVHCTL-LAB-HANG';

export const GUESTS: readonly LabGuest[] = [
  {
    name: 'pvgrub64',
    summary: '64-bit Debian kernel booted by PV GRUB reading the guest grub.cfg',
    arch: 'x86_64', kernel: 'amd64', init: 'marker', boot: { kind: 'grub', image: 'pv64' }, type: 'pv', pvshim: false,
    expect: { shipped: { kind: 'marker', guestType: 'PV' }, asPvh: { kind: 'marker', guestType: 'PVH' } },
  },
  {
    name: 'direct64',
    summary: '64-bit Debian kernel booted directly from dom0',
    arch: 'x86_64', kernel: 'amd64', init: 'marker', boot: { kind: 'direct' }, type: 'pv', pvshim: false,
    expect: { shipped: { kind: 'marker', guestType: 'PV' }, asPvh: { kind: 'marker', guestType: 'PVH' } },
  },
  {
    name: 'pae32',
    summary: "32-bit Debian 686-pae kernel (PVH entry, no PV entry) configured as PV through grub-i386-xen.bin",
    arch: 'x86_32', kernel: '686-pae', init: 'marker', boot: { kind: 'grub', image: 'pv32' }, type: 'pv', pvshim: false,
    expect: { shipped: { kind: 'fails', message: MSG_NO_ABI }, asPvh: { kind: 'marker', guestType: 'PVH' } },
  },
  {
    name: 'nopvh',
    summary: '64-bit kernel whose PHYS32_ENTRY note was renamed, booted directly: PV only',
    arch: 'x86_64', kernel: 'amd64-nopvh', init: 'marker', boot: { kind: 'direct' }, type: 'pv', pvshim: false,
    expect: { shipped: { kind: 'marker', guestType: 'PV' }, asPvh: { kind: 'fails', message: MSG_NO_PVH } },
  },
  {
    name: 'hang',
    summary: 'guest whose init never brings its disk up when it runs as PVH',
    arch: 'x86_64', kernel: 'amd64', init: 'hang-on-pvh', boot: { kind: 'direct' }, type: 'pv', pvshim: false,
    expect: { shipped: { kind: 'marker', guestType: 'PV' }, asPvh: { kind: 'hangs' } },
  },
  {
    name: 'shim32',
    summary: '32-bit PV GRUB under the PV shim (type pvh, pvshim = 1)',
    arch: 'x86_32', kernel: 'none', init: 'marker', boot: { kind: 'grub', image: 'pv32' }, type: 'pvh', pvshim: true,
    expect: { shipped: { kind: 'grub-marker' }, asPvh: null },
  },
];

/**
 * The lab's real Debian systems (lab/debian.ts builds their disks with mmdebstrap): their
 * grub.cfg is their own update-grub's, with Debian's stock command line (no console=), and they
 * are booted by PV GRUB as shipped. Not in GUESTS: lab/lab.test.ts boots every GUESTS entry twice,
 * and a systemd boot through PV GRUB costs minutes; test/e2e/debian-lab.test.ts boots these. The
 * lab has them unless told not to (labDebianGuests).
 */
export const DEBIAN_GUESTS: readonly LabGuest[] = [
  {
    name: 'deb12-amd64',
    summary: 'Debian 12 amd64 (mmdebstrap: systemd, getty on hvc0, its own update-grub) booted by PV GRUB',
    arch: 'x86_64', kernel: 'debian', init: 'systemd', boot: { kind: 'grub', image: 'pv64' }, type: 'pv', pvshim: false, memoryMiB: 256,
    expect: { shipped: { kind: 'marker', guestType: 'PV' }, asPvh: { kind: 'marker', guestType: 'PVH' } },
  },
];

/**
 * Debian 12 i386 (686-pae), as a customer carried it over from a Xen release that still ran 32-bit
 * PV guests: its config is PV through 32-bit PV GRUB (grub-i386-xen.bin), the way Debian's 32-bit
 * Xen guests booted for years. On this Xen (no xen-3.0-x86_32p) xl refuses it as it refuses pae32;
 * the guest's own 686-pae kernel has the PVH entry, so pvhctl takes it to PVH. Its image is
 * configured on a first boot in the lab (about 25 minutes): PVHCTL_LAB_DEB_I386=1 puts it in a lab
 * (building it if need be); unset, the lab stage has it when this machine has it configured
 * (i386Default in lab/debian-first-boot.ts).
 */
export const DEBIAN_I386: LabGuest = {
  name: 'deb12-i386',
  summary: 'Debian 12 i386 686-pae (unpacked by mmdebstrap, configured on its first boot in the lab) configured as PV through grub-i386-xen.bin',
  arch: 'x86_32', kernel: 'debian', init: 'systemd', boot: { kind: 'grub', image: 'pv32' }, type: 'pv', pvshim: false, memoryMiB: 256,
  expect: { shipped: { kind: 'fails', message: MSG_NO_ABI }, asPvh: { kind: 'marker', guestType: 'PVH' } },
};

/** The variable that leaves the Debian guests out of the lab build and their suite out of a run. */
export const DEBIAN_ENV = 'PVHCTL_LAB_DEBIAN';
/** The variable that adds deb12-i386 to the lab build and the Debian suite (1) or leaves it out (0). */
export const DEBIAN_I386_ENV = 'PVHCTL_LAB_DEB_I386';

/** A 0/1 switch from the environment, or the one-line error for any other value. */
function flag(env: Record<string, string | undefined>, name: string, fallback: boolean, words: { on: string; off: string }): boolean {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (v === '0' || v === '1') return v === '1';
  throw new Error(`${name} must be 0 (${words.off}) or 1 (${words.on}), not '${v.slice(0, 32).replace(/[^\x20-\x7e]/g, '?')}'`);
}

/**
 * The Debian guests this lab has: DEBIAN_GUESTS, unless PVHCTL_LAB_DEBIAN=0 (a lab without them
 * builds without mmdebstrap and boots nothing that takes minutes: for work on the lab itself).
 * deb12-i386 joins them with PVHCTL_LAB_DEB_I386=1. Any other value of either is refused, so that
 * a typo never silently drops or adds a suite.
 * @example
 * labDebianGuests({}) // => DEBIAN_GUESTS
 * labDebianGuests({ PVHCTL_LAB_DEBIAN: '0' }) // => []
 */
export function labDebianGuests(env: Record<string, string | undefined> = process.env): readonly LabGuest[] {
  const debian = flag(env, DEBIAN_ENV, true, { off: 'no Debian guests in the lab', on: 'the default' });
  const i386 = flag(env, DEBIAN_I386_ENV, false, { off: 'deb12-i386 left out', on: 'deb12-i386 in the lab too' });
  if (!debian) return [];
  return i386 ? [...DEBIAN_GUESTS, DEBIAN_I386] : DEBIAN_GUESTS;
}

/** A guest's logical volume: its first extent and extent count on the data disk. */
export type Extents = { name: string; start: number; count: number };

/**
 * Places the guest disks one after another in the volume group, in extents: DISK_MIB each, or
 * `mib` (a whole number of extents) for a disk of its own size (the Debian systems).
 * @example
 * diskLayout([{ name: 'a' }, { name: 'b', mib: 40 }]) // => [{ name: 'a', start: 0, count: 8 }, { name: 'b', start: 8, count: 10 }]
 */
export function diskLayout(guests: readonly { name: string; mib?: number }[]): Extents[] {
  let start = 0;
  return guests.map((g) => {
    const mib = g.mib ?? DISK_MIB;
    if (!Number.isInteger(mib / EXTENT_MIB) || mib <= 0) throw new Error(`${g.name}: disk of ${mib} MiB is not a whole number of ${EXTENT_MIB} MiB extents`);
    const e = { name: g.name, start, count: mib / EXTENT_MIB };
    start += e.count;
    return e;
  });
}

/**
 * Byte offset on the data disk of a volume's first extent.
 * @example
 * extentOffset(8) // => 34603008 (1 MiB + 8 * 4 MiB)
 */
export function extentOffset(extent: number): number {
  return (PE_START_MIB + extent * EXTENT_MIB) * 1024 * 1024;
}

/**
 * Free extents the volume group keeps after the guest volumes, as a production host's does: room
 * for rehearsal snapshots (`lvcreate --snapshot`). A marker guest's snapshot takes 8 extents (its
 * CoW area is capped at the origin's 32 MiB); a Debian system's takes pvhctl's minimum CoW of
 * 256 MiB (64 extents). 128 extents hold one Debian snapshot and eight marker ones at once. The data disk is
 * sparse and each run writes to an overlay: the room costs no space until used.
 */
export const FREE_EXTENTS = 128;

/**
 * Total data disk size in bytes for a layout: the guest volumes, then FREE_EXTENTS free.
 * @example
 * dataDiskBytes([{ name: 'a', start: 0, count: 8 }]) // => 303038464 (1 MiB + (8 + 64) * 4 MiB)
 */
export function dataDiskBytes(layout: readonly Extents[]): number {
  const end = Math.max(0, ...layout.map((l) => l.start + l.count));
  return extentOffset(end + FREE_EXTENTS);
}

/** The kernel release each kernel kind has; filled in from the Debian packages at build time. */
export type Releases = { amd64: string; '686-pae': string };

function releaseOf(g: LabGuest, r: Releases): string | null {
  if (g.kernel === 'none' || g.kernel === 'debian') return null;
  return g.kernel === '686-pae' ? r['686-pae'] : r.amd64;
}

/** The kernel command line the guest is booted with (by grub.cfg or by xl's `extra`). */
export function guestCmdline(): string {
  return 'root=/dev/xvda ro console=hvc0 quiet';
}

/**
 * The xl domain config for a guest, as a production dom0 would have it in /etc/xen/NAME.cfg.
 * @example
 * xlConfig(GUESTS[1]!, { amd64: '6.1.0-56-amd64', '686-pae': '6.1.0-50-686-pae' })
 * // => 'name = "direct64"\ntype = "pv"\nkernel = "/var/lib/xen/images/direct64/vmlinuz-6.1.0-56-amd64"\n...'
 */
export function xlConfig(g: LabGuest, r: Releases): string {
  const lines = [`# pvhctl lab guest: ${g.summary}`, `name = "${g.name}"`, `type = "${g.type}"`];
  if (g.pvshim) {
    lines.push('pvshim = 1');
    // Lab only: QEMU's qemu64 CPU is family 15 (K8), for which the shim writes HWCR without a
    // fault handler and the outer Xen refuses the write (#GP, shim panic in init_amd). Any later
    // family takes the other path; real hosts never report K8 with SVM and NPT.
    lines.push('cpuid = "host,family=0x10"');
  }
  const rel = releaseOf(g, r);
  if (g.boot.kind === 'grub') {
    lines.push(`kernel = "${GRUB[g.boot.image]}"`);
  } else {
    if (rel === null) throw new Error(`${g.name}: direct boot needs a kernel`);
    lines.push(`kernel = "${IMAGES_DIR}/${g.name}/vmlinuz-${rel}"`);
    lines.push(`ramdisk = "${IMAGES_DIR}/${g.name}/initrd.img-${rel}"`);
    lines.push('root = "/dev/xvda ro"');
    lines.push('extra = "console=hvc0 quiet"');
  }
  lines.push(
    `memory = ${g.memoryMiB ?? 192}`,
    'vcpus = 1',
    `disk = [ 'phy:/dev/${VG}/${g.name},xvda,w' ]`,
    // A guest that reboots or crashes stays down, so that a failed boot is seen and never loops.
    'on_reboot = "destroy"',
    'on_crash = "destroy"',
  );
  return lines.join('\n') + '\n';
}

/** The memory of a first boot in MiB: dpkg and the page cache of 100 MiB of .debs. */
export const FIRST_BOOT_MIB = 512;

/**
 * The xl config of an unpacked Debian system's first boot (/etc/xen/NAME-first-boot.cfg, the same
 * domain name and disk): PVH with the lab's 686-pae kernel and its first-boot initramfs from dom0
 * (lab/rootfs/guest-init, mode first-boot), which runs the system's second stage and powers off.
 * PVH because nothing 32-bit runs as PV on this Xen, and from dom0 because the disk has no
 * initramfs and no grub.cfg yet.
 * @example
 * firstBootConfig(DEBIAN_I386, { amd64: '6.1.0-56-amd64', '686-pae': '6.1.0-50-686-pae' })
 * // => 'name = "deb12-i386"\ntype = "pvh"\nkernel = "/var/lib/xen/images/deb12-i386/vmlinuz-6.1.0-50-686-pae"\n...'
 */
export function firstBootConfig(g: LabGuest, r: Releases): string {
  if (g.arch !== 'x86_32' || g.kernel !== 'debian') throw new Error(`${g.name}: only a 32-bit Debian system has a first boot in the lab`);
  return [
    `# pvhctl lab: first boot of ${g.name} (configures its unpacked packages, then powers off)`,
    `name = "${g.name}"`,
    'type = "pvh"',
    `kernel = "${IMAGES_DIR}/${g.name}/vmlinuz-${r['686-pae']}"`,
    `ramdisk = "${IMAGES_DIR}/${g.name}/initrd-first-boot.img"`,
    'extra = "console=hvc0"',
    `memory = ${FIRST_BOOT_MIB}`,
    'vcpus = 1',
    `disk = [ 'phy:/dev/${VG}/${g.name},xvda,w' ]`,
    'on_reboot = "destroy"',
    'on_crash = "destroy"',
    '',
  ].join('\n');
}

/**
 * The /boot/grub/grub.cfg on a guest's disk (read by PV GRUB, PVH GRUB, or GRUB under the shim).
 * The shim guest has no 32-bit PV kernel to boot (Debian 12 has none), so its GRUB prints the
 * marker itself and waits at its prompt.
 */
export function grubConfig(g: LabGuest, r: Releases): string {
  const rel = releaseOf(g, r);
  if (rel === null) {
    return `echo "${MARKER} name=${g.name} loader=grub"\nset timeout=-1\n`;
  }
  return [
    'set timeout=0',
    'set default=0',
    `menuentry 'Debian GNU/Linux, with Linux ${rel}' {`,
    `\tlinux /boot/vmlinuz-${rel} ${guestCmdline()}`,
    `\tinitrd /boot/initrd.img-${rel}`,
    '}',
    '',
  ].join('\n');
}

/** A marker line as the guest init prints it, parsed; null when the line is not one. */
export type Marker = { name: string; guestType: string | null; disk: string | null; loader: string | null };

/**
 * Finds the last marker line in a console log (guest-controlled text: bounded, never evaluated).
 * @example
 * findMarker('x\nPVHCTL-LAB-MARKER name=a guest_type=PVH disk=a\n') // => { name: 'a', guestType: 'PVH', disk: 'a', loader: null }
 */
export function findMarker(log: string): Marker | null {
  // GRUB paints the screen with escape sequences, so the marker may sit mid-line.
  const lines = log.slice(-65536).split(/\r?\n/).filter((l) => l.includes(MARKER + ' '));
  const last = lines.at(-1);
  if (last === undefined) return null;
  const fields = new Map<string, string>();
  const at = last.lastIndexOf(MARKER + ' ') + MARKER.length + 1;
  for (const part of last.slice(at, at + 512).split(' ')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const name = fields.get('name');
  if (name === undefined) return null;
  return { name, guestType: fields.get('guest_type') ?? null, disk: fields.get('disk') ?? null, loader: fields.get('loader') ?? null };
}

/**
 * The kernel command line a Debian guest's unit printed last (`PVHCTL-LAB-CMDLINE <cmdline>`), at
 * most 1024 characters, or null. The tag may sit mid-line: the getty's login prompt and the unit
 * write to hvc0 at the same time (`deb12-amd64 login: PVHCTL-LAB-CMDLINE ...`, seen on the lab).
 * @example
 * findCmdline('web login: PVHCTL-LAB-CMDLINE root=UUID=1 ro quiet\r\n') // => 'root=UUID=1 ro quiet'
 */
export function findCmdline(log: string): string | null {
  const tag = 'PVHCTL-LAB-CMDLINE ';
  const last = log.slice(-65536).split(/\r?\n/).filter((l) => l.includes(tag)).at(-1);
  return last === undefined ? null : last.slice(last.lastIndexOf(tag) + tag.length).slice(0, 1024);
}

/**
 * The dom0 shell command that edits a guest's PV config to PVH by hand, as an operator would with
 * sed: `type`, and PV GRUB → PVH GRUB; writes /etc/xen/NAME-pvh.cfg and prints it.
 * @example
 * pvhEditScript('direct64') // => "sed -e 's/^type = \"pv\"$/type = \"pvh\"/' ... /etc/xen/direct64.cfg > /etc/xen/direct64-pvh.cfg && cat ..."
 */
export function pvhEditScript(name: string): string {
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(name)) throw new Error(`bad guest name '${name}'`);
  return (
    `sed -e 's/^type = "pv"$/type = "pvh"/' ` +
    `-e 's|^kernel = "\\(${GRUB.pv64}\\|${GRUB.pv32}\\)"$|kernel = "${GRUB.pvh}"|' ` +
    `/etc/xen/${name}.cfg > /etc/xen/${name}-pvh.cfg && cat /etc/xen/${name}-pvh.cfg`
  );
}
