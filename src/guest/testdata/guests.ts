/**
 * The fixture guests: the layouts and boot setups a hosting fleet's PV guests really have, each
 * with real Debian 12 kernels. Used by the guest inspection tests, the CLI tests and the benchmark.
 */
import { alpineExtlinux } from '../../boot/testdata/alpine-extlinux.ts';
import { debianGrubCfg, grubenv } from '../../boot/testdata/debian-grub.ts';
import type { KernelFlavour } from '../../debian/apt.ts';
import type { FixtureFile, GuestRecipe } from './images.ts';

const DEBIAN12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n';
/** A stand-in initramfs: an empty newc cpio archive (just its trailer), as `cpio -o -H newc` writes for no files. */
const INITRD = `070701${['0', '0', '0', '0', '1', '0', '0', '0', '0', '0', '0', 'b', '0'].map((f) => f.padStart(8, '0')).join('')}TRAILER!!!\0\0\0\0`;
const ROOT = '0b5e0c1a-1111-4a4a-8b8b-000000000001';
const BOOT = '0b5e0c1a-2222-4a4a-8b8b-000000000002';


/** A Debian root tree: os-release (via the usual symlink), fstab, the kernels and their configs in /boot. */
function debianRoot(kernels: [KernelFlavour, string][], fstab: string, extra: Record<string, FixtureFile> = {}, withBoot = true): Record<string, FixtureFile> {
  const files: Record<string, FixtureFile> = {
    'usr/lib/os-release': DEBIAN12,
    'etc/os-release': { symlink: '../usr/lib/os-release' },
    'etc/fstab': fstab,
    'etc/debian_version': '12.8\n',
    // An empty package database: virt-inspector (the benchmark's peer) gives up without one.
    'var/lib/dpkg/status': '',
    // A minimal ELF header: /bin/sh's width is read from e_machine.
    'usr/bin/dash': { bytes: [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 62, 0] },
    'bin': { symlink: 'usr/bin' },
    'usr/bin/sh': { symlink: 'dash' },
  };
  if (withBoot) {
    for (const [flavour, release] of kernels) {
      files[`boot/vmlinuz-${release}`] = { kernel: flavour };
      files[`boot/config-${release}`] = { config: flavour };
      // pygrub refuses an entry whose initrd is missing; the content is never looked at.
      files[`boot/initrd.img-${release}`] = INITRD;
    }
  }
  return { ...files, ...extra };
}

const ALPINE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\nHOME_URL="https://alpinelinux.org/"\n';
/** Alpine's kernel flavours as fixture kernels: lts the 686 kernel (no Xen notes), virt the amd64 one. */
const ALPINE_KERNELS: Record<string, KernelFlavour> = { lts: '686', virt: 'amd64' };

/** Alpine's /boot (under `at`): vmlinuz-, config- and initramfs- per flavour, and update-extlinux's extlinux.conf. */
function alpineBoot(at: '' | 'boot/', flavours: string[]): Record<string, FixtureFile> {
  const files: Record<string, FixtureFile> = {
    [`${at}extlinux.conf`]: alpineExtlinux({ kernels: flavours, default: 'virt', root: `UUID=${ROOT}`, opts: 'console=hvc0 quiet rootfstype=ext4' }),
  };
  for (const f of flavours) {
    files[`${at}vmlinuz-${f}`] = { kernel: ALPINE_KERNELS[f]! };
    files[`${at}config-${f}`] = { config: ALPINE_KERNELS[f]! };
    files[`${at}initramfs-${f}`] = INITRD;
  }
  return files;
}

/**
 * Builds the fixture recipes once the real kernel releases are known (they come from apt).
 * @example
 * fixtureGuests({ amd64: '6.1.0-56-amd64', ... }).bare // => { name: 'bare', layout: 'bare', ... }
 */
export function fixtureGuests(rel: Record<KernelFlavour, string>) {
  const fstabUuid = `UUID=${ROOT} / ext4 errors=remount-ro 0 1\n`;
  const grub = (kernels: string[], opts: Partial<Parameters<typeof debianGrubCfg>[0]> = {}) => debianGrubCfg({ kernels, rootUuid: ROOT, ...opts });
  const amd = rel.amd64;
  const guests = {
    bare: {
      name: 'bare',
      layout: 'bare',
      rootUuid: ROOT,
      root: debianRoot([['amd64', amd]], `/dev/xvda1 / ext4 errors=remount-ro 0 1\n`, {
        'boot/grub/grub.cfg': grub([amd], { hint: null, cmdline: 'console=hvc0' }),
        'boot/grub/grubenv': grubenv({}),
      }),
    },
    'mbr-boot': {
      name: 'mbr-boot',
      layout: 'mbr-boot',
      rootUuid: ROOT,
      bootUuid: BOOT,
      root: debianRoot([], `${fstabUuid}UUID=${BOOT} /boot ext2 defaults 0 2\n`, {}, false),
      boot: {
        [`vmlinuz-${rel['cloud-amd64']}`]: { kernel: 'cloud-amd64' },
        [`config-${rel['cloud-amd64']}`]: { config: 'cloud-amd64' },
        [`initrd.img-${rel['cloud-amd64']}`]: INITRD,
        'grub/grub.cfg': grub([rel['cloud-amd64']], { bootPrefix: '', bootUuid: BOOT, cmdline: 'console=tty0 console=ttyS0' }),
      },
    },
    gpt: {
      name: 'gpt',
      layout: 'gpt',
      rootUuid: ROOT,
      root: debianRoot([['amd64', amd]], fstabUuid, { 'boot/grub/grub.cfg': grub([amd], { hint: 'gpt2' }) }),
    },
    logical: {
      name: 'logical',
      layout: 'logical',
      rootUuid: ROOT,
      root: debianRoot([['amd64', amd]], `/dev/sda5 / ext4 errors=remount-ro 0 1\n`, { 'boot/grub/grub.cfg': grub([amd], { hint: 'msdos5' }) }),
    },
    // saved_entry points into the submenu at the PVH-capable 686-pae kernel; the first entry is the
    // 686 kernel (no Xen support). pygrub flattens the submenu and ignores grubenv.
    'saved-entry': {
      name: 'saved-entry',
      layout: 'bare',
      rootUuid: ROOT,
      root: debianRoot([['686', rel['686']], ['686-pae', rel['686-pae']]], fstabUuid, {
        'boot/grub/grub.cfg': grub([rel['686'], rel['686-pae']], { grubDefault: 'saved', hint: null }),
        'boot/grub/grubenv': grubenv({ saved_entry: `gnulinux-advanced-${ROOT}>gnulinux-${rel['686-pae']}-advanced-${ROOT}` }),
      }),
    },
    // The default (first) entry boots the 686 kernel, which has no Xen notes; 686-pae is installed.
    'default-not-pvh': {
      name: 'default-not-pvh',
      layout: 'bare',
      rootUuid: ROOT,
      root: debianRoot([['686', rel['686']], ['686-pae', rel['686-pae']]], fstabUuid, {
        'boot/grub/grub.cfg': grub([rel['686'], rel['686-pae']], { hint: null }),
      }),
    },
    'only-686': {
      name: 'only-686',
      layout: 'bare',
      rootUuid: ROOT,
      root: debianRoot([['686', rel['686']]], fstabUuid, { 'boot/grub/grub.cfg': grub([rel['686']], { hint: null }) }),
    },
    'i386-pae': {
      name: 'i386-pae',
      layout: 'bare',
      rootUuid: ROOT,
      root: debianRoot([['686-pae', rel['686-pae']]], fstabUuid, { 'boot/grub/grub.cfg': grub([rel['686-pae']], { hint: null, cmdline: 'console=hvc0' }) }),
    },
    'grub-legacy': {
      name: 'grub-legacy',
      layout: 'bare',
      rootUuid: ROOT,
      root: debianRoot([['686', rel['686']], ['amd64', amd]], fstabUuid, {
        'boot/grub/menu.lst': `default saved\ntimeout 5\n\ntitle Debian, kernel ${rel['686']}\nroot (hd0,0)\nkernel /boot/vmlinuz-${rel['686']} root=/dev/xvda1 ro\n\ntitle Debian, kernel ${amd}\nroot (hd0,0)\nkernel /boot/vmlinuz-${amd} root=/dev/xvda1 ro console=hvc0\ninitrd /boot/initrd.img-${amd}\n`,
        'boot/grub/default': '1\n',
      }),
    },
    bls: {
      name: 'bls',
      layout: 'bare',
      rootUuid: ROOT,
      root: {
        'etc/os-release': 'NAME="Rocky Linux"\nVERSION_ID="8.9"\nID="rocky"\nID_LIKE="rhel centos fedora"\nPRETTY_NAME="Rocky Linux 8.9 (Green Obsidian)"\n',
        'etc/fstab': `UUID=${ROOT} / ext4 defaults 1 1\n`,
        [`boot/vmlinuz-${rel['686']}`]: { kernel: '686' },
        [`boot/vmlinuz-${amd}`]: { kernel: 'amd64' },
        'boot/grub2/grub.cfg': 'if [ -s $prefix/grubenv ]; then\n  load_env\nfi\nset default="${saved_entry}"\ninsmod blscfg\nblscfg\n',
        'boot/grub2/grubenv': grubenv({ saved_entry: `abc-${amd}`, kernelopts: `root=UUID=${ROOT} ro console=hvc0` }),
        [`boot/loader/entries/abc-${amd}.conf`]: `title Rocky Linux (${amd})\nversion 4.0.0\nlinux /boot/vmlinuz-${amd}\noptions $kernelopts\n`,
        [`boot/loader/entries/abc-${rel['686']}.conf`]: `title Rocky Linux (${rel['686']})\nversion 9.0.0\nlinux /boot/vmlinuz-${rel['686']}\noptions $kernelopts\n`,
      },
    },
    // The same BLS setup as a RHEL 8/9 installer lays it out: MBR, /boot (XFS) on partition 1 with
    // grub2 and the BLS entries, / (XFS) on partition 2, both mounted by UUID from fstab.
    'bls-xfs': {
      name: 'bls-xfs',
      layout: 'mbr-boot',
      fs: 'xfs',
      rootUuid: ROOT,
      bootUuid: BOOT,
      root: {
        'etc/os-release': 'NAME="Rocky Linux"\nVERSION_ID="8.9"\nID="rocky"\nID_LIKE="rhel centos fedora"\nPRETTY_NAME="Rocky Linux 8.9 (Green Obsidian)"\n',
        'etc/fstab': `UUID=${ROOT} / xfs defaults 0 0\nUUID=${BOOT} /boot xfs defaults 0 0\n`,
        'boot/.keep': '',
      },
      boot: {
        [`vmlinuz-${rel['686']}`]: { kernel: '686' },
        [`vmlinuz-${amd}`]: { kernel: 'amd64' },
        'grub2/grub.cfg': 'if [ -s $prefix/grubenv ]; then\n  load_env\nfi\nset default="${saved_entry}"\ninsmod blscfg\nblscfg\n',
        'grub2/grubenv': grubenv({ saved_entry: `abc-${amd}`, kernelopts: `root=UUID=${ROOT} ro console=hvc0` }),
        [`loader/entries/abc-${amd}.conf`]: `title Rocky Linux (${amd})\nversion 4.0.0\nlinux /vmlinuz-${amd}\noptions $kernelopts\n`,
        [`loader/entries/abc-${rel['686']}.conf`]: `title Rocky Linux (${rel['686']})\nversion 9.0.0\nlinux /vmlinuz-${rel['686']}\noptions $kernelopts\n`,
      },
    },
    // The default entry's kernel is a dangling symlink; os-release is a symlink loop.
    symlinks: {
      name: 'symlinks',
      layout: 'bare',
      rootUuid: ROOT,
      root: debianRoot([['amd64', amd]], fstabUuid, {
        'etc/os-release': { symlink: 'os-release-b' },
        'etc/os-release-b': { symlink: '/etc/os-release' },
        'usr/lib/os-release': { symlink: '../../etc/os-release' },
        'boot/vmlinuz': { symlink: 'vmlinuz-6.1.0-0-gone-amd64' },
        'boot/grub/grub.cfg': `set default=0\nmenuentry 'Debian' {\n  linux /boot/vmlinuz root=/dev/xvda1 ro\n}\nmenuentry 'Debian ${amd}' {\n  linux /boot/vmlinuz-${amd} root=/dev/xvda1 ro\n}\n`,
      }),
    },
    // Two whole-filesystem disks, as xl configs give PV guests: / as xvda2 and /boot as xvda1.
    'split-root': {
      name: 'split-root',
      layout: 'bare',
      rootUuid: ROOT,
      root: debianRoot([], `UUID=${ROOT} / ext4 errors=remount-ro 0 1\n/dev/xvda1 /boot ext4 defaults 0 2\n`, {}, false),
    },
    'split-boot': {
      name: 'split-boot',
      layout: 'bare',
      rootUuid: BOOT,
      root: {
        [`vmlinuz-${amd}`]: { kernel: 'amd64' },
        [`config-${amd}`]: { config: 'amd64' },
        [`initrd.img-${amd}`]: INITRD,
        'grub/grub.cfg': grub([amd], { bootPrefix: '', bootUuid: BOOT, hint: null, cmdline: 'console=hvc0' }),
      },
    },
    // Alpine as setup-disk lays out a guest: /boot/extlinux.conf from update-extlinux (DEFAULT
    // menu.c32, MENU DEFAULT on update-extlinux.conf's default=virt), kernels named by flavour.
    // Here lts is the 686 kernel (no Xen notes) and virt the PVH-capable amd64 one, so which entry
    // is the default decides the verdict.
    alpine: {
      name: 'alpine',
      layout: 'bare',
      rootUuid: ROOT,
      root: {
        'etc/os-release': ALPINE,
        'etc/fstab': `UUID=${ROOT} / ext4 rw,relatime 0 1\n`,
        ...alpineBoot('boot/', ['lts', 'virt']),
      },
    },
    // A lone Alpine /boot filesystem (the disk holding / not given): update-extlinux's config is
    // /extlinux.conf at its top, and nothing else marks it as a boot filesystem.
    'alpine-boot': {
      name: 'alpine-boot',
      layout: 'bare',
      rootUuid: BOOT,
      root: alpineBoot('', ['virt']),
    },
    // A lone /boot filesystem set up by hand for syslinux: /syslinux/syslinux.cfg, the kernel at the top.
    'syslinux-boot': {
      name: 'syslinux-boot',
      layout: 'bare',
      rootUuid: BOOT,
      root: {
        'syslinux/syslinux.cfg': `PROMPT 0\nTIMEOUT 30\nDEFAULT linux\n\nLABEL linux\n  KERNEL /vmlinuz-${amd}\n  APPEND root=UUID=${ROOT} ro console=hvc0 initrd=/initrd.img-${amd}\n`,
        [`vmlinuz-${amd}`]: { kernel: 'amd64' },
        [`initrd.img-${amd}`]: INITRD,
      },
    },
    // Superblock blocks-per-group zeroed: the filesystem cannot be read.
    'bad-superblock': {
      name: 'bad-superblock',
      layout: 'bare',
      rootUuid: ROOT,
      root: debianRoot([['amd64', amd]], fstabUuid, { 'boot/grub/grub.cfg': grub([amd], { hint: null }) }),
      corrupt: { offset: 1024 + 0x20, bytes: [0, 0, 0, 0] },
    },
  } satisfies Record<string, GuestRecipe>;
  return guests as Record<keyof typeof guests, GuestRecipe>;
}
