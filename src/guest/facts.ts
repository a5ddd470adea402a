/**
 * Small pure readers of guest files: os-release and its older equivalents, fstab, and the
 * kernel command line facts that matter for a switch to PVH (console, root device naming).
 */

export type OsInfo = { id: string | null; idLike: string[]; versionId: string | null; prettyName: string | null; source: string };

/**
 * Parses os-release (`KEY=value`, values optionally quoted, shell escapes in double quotes).
 * @example
 * parseOsRelease('ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n', '/etc/os-release')
 * // => { id: 'debian', idLike: [], versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)', source: '/etc/os-release' }
 */
export function parseOsRelease(text: string, source: string): OsInfo {
  const vars = new Map<string, string>();
  for (const line of text.split('\n').slice(0, 1000)) {
    const m = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m === null) continue;
    let v = m[2]!.trim();
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0]!)) {
      v = v.slice(1, -1);
      if (m[2]!.trim()[0] === '"') v = v.replace(/\\([\\"$`])/g, '$1');
    }
    vars.set(m[1]!, v.slice(0, 256));
  }
  return {
    id: vars.get('ID') ?? null,
    idLike: (vars.get('ID_LIKE') ?? '').split(/\s+/).filter(Boolean),
    versionId: vars.get('VERSION_ID') ?? null,
    prettyName: vars.get('PRETTY_NAME') ?? vars.get('NAME') ?? null,
    source,
  };
}

/** Older release files, tried when there is no os-release: [path, distro id]. */
export const LEGACY_RELEASE_FILES: [string, string][] = [
  ['/etc/redhat-release', 'rhel'],
  ['/etc/centos-release', 'centos'],
  ['/etc/debian_version', 'debian'],
  ['/etc/alpine-release', 'alpine'],
  ['/etc/SuSE-release', 'suse'],
  ['/etc/gentoo-release', 'gentoo'],
];

/**
 * An OsInfo from a one-line release file such as /etc/debian_version or /etc/redhat-release.
 * @example
 * parseLegacyRelease('CentOS release 6.10 (Final)\n', '/etc/redhat-release', 'rhel') // => { id: 'centos', versionId: '6.10', ... }
 */
export function parseLegacyRelease(text: string, source: string, id: string): OsInfo {
  const line = text.split('\n')[0]!.trim().slice(0, 256);
  const ver = /(\d+(?:\.\d+)*)/.exec(line)?.[1] ?? null;
  const realId = /centos/i.test(line) ? 'centos' : /fedora/i.test(line) ? 'fedora' : id;
  return { id: realId, idLike: [], versionId: ver, prettyName: id === 'debian' ? `Debian ${line}` : line, source };
}

export type FstabEntry = { spec: string; file: string; type: string; options: string };

/**
 * Parses fstab (whitespace-separated fields, `\040` octal escapes, `#` comments), capped at 1000 lines.
 * @example
 * parseFstab('UUID=abc / ext4 errors=remount-ro 0 1\n') // => [{ spec: 'UUID=abc', file: '/', type: 'ext4', options: 'errors=remount-ro' }]
 */
export function parseFstab(text: string): FstabEntry[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: FstabEntry[] = [];
  for (const line of text.split('\n').slice(0, 1000)) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [spec, file, type, options] = t.split(/\s+/);
    if (spec === undefined || file === undefined) continue;
    out.push({ spec: unescape(spec), file: unescape(file), type: type ?? '', options: options ?? '' });
  }
  return out;
}

/** How a root device name fares when the guest moves from PV to PVH (both use Xen's blkfront). */
export type RootNaming = {
  spec: string;
  kind: 'uuid' | 'label' | 'partuuid' | 'by-path' | 'lvm' | 'xen' | 'emulated' | 'virtio' | 'other';
  survives: boolean | null;
  note: string;
};

/**
 * Classifies a root device spec from fstab or `root=`.
 * @example
 * rootNaming('/dev/xvda1') // => { kind: 'xen', survives: true, note: '/dev/xvd* names come from blkfront under PV and PVH alike' }
 */
export function rootNaming(spec: string): RootNaming {
  if (/^UUID=/i.test(spec) || spec.startsWith('/dev/disk/by-uuid/')) return { spec, kind: 'uuid', survives: true, note: 'a filesystem UUID does not depend on the device name' };
  if (/^LABEL=/i.test(spec) || spec.startsWith('/dev/disk/by-label/')) return { spec, kind: 'label', survives: true, note: 'a filesystem label does not depend on the device name' };
  if (/^PART(UUID|LABEL)=/i.test(spec) || /^\/dev\/disk\/by-part(uuid|label)\//.test(spec)) {
    return { spec, kind: 'partuuid', survives: true, note: 'a partition UUID or label does not depend on the device name' };
  }
  if (/^\/dev\/xvd[a-z]+[0-9]*$/.test(spec)) return { spec, kind: 'xen', survives: true, note: '/dev/xvd* names come from blkfront under PV and PVH alike' };
  if (/^\/dev\/(sd|hd)[a-z]+[0-9]*$/.test(spec)) {
    return {
      spec,
      kind: 'emulated',
      survives: false,
      note: `${spec} is an emulated-disk name: Xen's blkfront names disks /dev/xvd* under PV and PVH alike, so use UUID= or /dev/xvd*`,
    };
  }
  if (/^\/dev\/vd[a-z]+[0-9]*$/.test(spec)) return { spec, kind: 'virtio', survives: false, note: `${spec} is a virtio name; Xen guests see /dev/xvd*` };
  if (/^\/dev\/mapper\//.test(spec) || /^\/dev\/[^/]+\/[^/]+$/.test(spec) && !spec.startsWith('/dev/disk/')) {
    return { spec, kind: 'lvm', survives: true, note: 'an LVM or device-mapper name does not depend on the disk name' };
  }
  if (spec.startsWith('/dev/disk/by-path/') || spec.startsWith('/dev/disk/by-id/')) {
    return { spec, kind: 'by-path', survives: null, note: 'by-path and by-id names depend on the bus; check them after the switch' };
  }
  return { spec, kind: 'other', survives: null, note: `pvhctl does not know how ${spec} is named under PVH` };
}

/**
 * Splits a kernel command line into words (no quoting rules beyond double quotes, as Linux).
 * @example
 * cmdlineWords('root=/dev/xvda1 ro console="hvc0"') // => ['root=/dev/xvda1', 'ro', 'console=hvc0']
 */
export function cmdlineWords(args: string): string[] {
  return (args.match(/"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/"/g, ''));
}

/**
 * Where a guest's kernel command line comes from: its own boot menu (grub.cfg, extlinux.conf,
 * menu.lst, BLS), or the xl config in dom0 (`kernel =` with `extra =` / `cmdline =`).
 */
export type CmdlineSource = 'guest-menu' | 'xl-config';

export type ConsoleFacts = {
  consoles: string[];
  hvc0: boolean;
  source: CmdlineSource;
  /** What this means under PVH, and what to do, in words. */
  note: string;
};

/**
 * How to put `console=hvc0` on the kernel command line for good, in the guest's distribution
 * (os-release ID and ID_LIKE). Sources: GRUB manual "Simple configuration" (GRUB_CMDLINE_LINUX)
 * and Debian's update-grub; grubby(8) (`--update-kernel=ALL --args`); Alpine's update-extlinux
 * and its /etc/update-extlinux.conf (wiki.alpinelinux.org/wiki/Bootloaders).
 * @example
 * consoleHint({ id: 'debian', idLike: [], ... }) // => 'add console=hvc0 to GRUB_CMDLINE_LINUX in /etc/default/grub, then run update-grub'
 */
export function consoleHint(os: OsInfo | null): string {
  const ids = [os?.id ?? '', ...(os?.idLike ?? [])];
  if (ids.includes('debian') || ids.includes('ubuntu')) return 'add console=hvc0 to GRUB_CMDLINE_LINUX in /etc/default/grub, then run update-grub';
  if (ids.some((i) => ['rhel', 'centos', 'fedora', 'rocky', 'almalinux', 'ol'].includes(i))) return 'run grubby --update-kernel=ALL --args=console=hvc0';
  if (ids.includes('alpine')) return 'add console=hvc0 to default_kernel_opts in /etc/update-extlinux.conf, then run update-extlinux';
  return "add console=hvc0 to the kernel command line in the guest's boot loader configuration";
}

/**
 * What the kernel command line means for the console under PVH. There is no emulated serial port
 * or VGA under PVH, and Linux makes hvc0 its preferred console only on the PV entry path
 * (arch/x86/xen/enlighten_pv.c, `add_preferred_console("hvc", 0, NULL)`): a PVH guest without
 * `console=hvc0` writes its kernel messages, panics included, nowhere the xl console sees.
 * A command line from the xl config is fixed by the switch itself (xlcfg's rewrite adds it).
 * @example
 * consoleFacts('root=/dev/xvda1 console=hvc0', null, 'guest-menu').hvc0 // => true
 * consoleFacts('root=/dev/xvda1 quiet', debian, 'guest-menu').note
 * // => 'no console=hvc0 on the kernel command line: under PVH the kernel's messages reach the xl console only with console=hvc0 ...; add console=hvc0 to GRUB_CMDLINE_LINUX in /etc/default/grub, then run update-grub'
 */
export function consoleFacts(args: string | null, os: OsInfo | null, source: CmdlineSource): ConsoleFacts {
  const consoles = cmdlineWords(args ?? '')
    .filter((w) => w.startsWith('console='))
    .map((w) => w.slice('console='.length).split(',')[0]!);
  const hvc0 = consoles.includes('hvc0');
  const why = "under PVH the kernel's messages (a kernel panic too) reach the xl console only with console=hvc0 on the kernel command line, because Linux picks hvc0 by itself only when it boots as PV";
  const fix = source === 'xl-config' ? 'the switch adds console=hvc0 to the xl config itself' : consoleHint(os);
  let note: string;
  if (hvc0) note = "console=hvc0 is on the kernel command line: the kernel's messages reach the xl console under PVH";
  else if (consoles.length === 0) note = `no console=hvc0 on the kernel command line: ${why}; ${fix}`;
  else note = `console=${consoles.join(',')} only: there is no emulated serial port or screen under PVH, and ${why}; ${fix}`;
  return { consoles, hvc0, source, note };
}

export type KernelConfigFacts = { file: string; xen: boolean; xenPv: boolean; xenPvh: boolean; hvcXen: boolean };

/**
 * Reads the Xen options of a /boot/config-VERSION file.
 * @example
 * kernelConfigFacts('CONFIG_XEN=y\nCONFIG_XEN_PVH=y\n# CONFIG_XEN_PV is not set\n', '/boot/config-6.1.0-56-686-pae')
 * // => { file: '/boot/config-6.1.0-56-686-pae', xen: true, xenPv: false, xenPvh: true, hvcXen: false }
 */
export function kernelConfigFacts(text: string, file: string): KernelConfigFacts {
  const on = (name: string) => new RegExp(`^${name}=y\\s*$`, 'm').test(text);
  return { file, xen: on('CONFIG_XEN'), xenPv: on('CONFIG_XEN_PV'), xenPvh: on('CONFIG_XEN_PVH'), hvcXen: on('CONFIG_HVC_XEN') };
}

/**
 * What to install for a PVH-capable kernel, by distro (os-release ID and ID_LIKE) and width.
 * @example
 * installHint({ id: 'debian', ... }, 'x86_32p') // => 'linux-image-686-pae (apt-get install linux-image-686-pae)'
 */
export function installHint(os: OsInfo | null, arch: string | null): string {
  const ids = [os?.id ?? '', ...(os?.idLike ?? [])];
  const is32 = arch === 'x86_32' || arch === 'x86_32p';
  if (ids.includes('debian') && os?.id !== 'ubuntu') {
    const pkg = is32 ? 'linux-image-686-pae' : 'linux-image-amd64';
    return `${pkg} from Debian 10 or later (apt-get install ${pkg})`;
  }
  if (ids.includes('ubuntu')) return 'linux-image-virtual from Ubuntu 18.04 or later (apt-get install linux-image-virtual)';
  if (ids.some((i) => ['rhel', 'centos', 'fedora', 'rocky', 'almalinux'].includes(i))) {
    return 'a kernel built with CONFIG_XEN_PVH=y (Linux 4.11 or later, for example ELRepo kernel-ml on EL7/EL8)';
  }
  if (ids.includes('alpine')) return 'linux-virt (apk add linux-virt)';
  return 'a Linux 4.11 or later kernel built with CONFIG_XEN_PVH=y';
}
