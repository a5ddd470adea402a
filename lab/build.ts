/**
 * Builds the Xen lab from Debian packages: fetches them (`apt-get download`, cached), derives a
 * key from their exact versions and the lab's build sources, and runs lab/build.sh into
 * ~/.cache/pvhctl/lab/KEY unless that directory is already complete. Nothing lands in the tree.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheDir, debianKernel, fetchDeb, type DebianKernel } from '../src/debian/apt.ts';
import { buildDebian, DEBIAN_SYSTEMS, FIRST_BOOT_SOURCES, type DebianImage } from './debian.ts';
import { dataDiskBytes, labDebianGuests, diskLayout, extentOffset, firstBootConfig, grubConfig, GUESTS, VG, xlConfig, type Releases } from './guests.ts';
import { noPvhKernel } from './nopvh.ts';
import { withLock } from './proc.ts';

const run = promisify(execFile);
const LAB = dirname(fileURLToPath(import.meta.url));

/** dom0's packages (amd64 or all): Xen, its tools and libraries, GRUB for Xen, and the userland. */
export const DOM0_PACKAGES = [
  'xen-hypervisor-4.17-amd64', 'xen-utils-4.17', 'xen-utils-common', 'xenstore-utils',
  'libxenmisc4.17', 'libxencall1', 'libxendevicemodel1', 'libxenevtchn1', 'libxenforeignmemory1',
  'libxengnttab1', 'libxenhypfs1', 'libxenstore4', 'libxentoolcore1', 'libxentoollog1', 'libyajl2',
  'grub-xen-host', 'grub-xen-bin', 'busybox-static', 'dropbear-bin', 'libtomcrypt1', 'libtommath1',
  'lvm2', 'libdevmapper1.02.1', 'libdevmapper-event1.02.1', 'libaio1', 'libedit2', 'libbsd0', 'libmd0',
  'libncurses6', 'util-linux', 'bash',
] as const;

/**
 * What dom0 needs to install a Debian package as a production dom0 does (`dpkg -i`, #15): dpkg
 * itself (with tar and libc-bin's ldconfig, which dpkg runs; coreutils, Essential, for `install` in
 * maintainer scripts: busybox has no such applet), and pvhctl's Depends (libc6,
 * libstdc++6, libgcc-s1, passwd, openssh-client and the decompressors) with the libraries their
 * programs link. build.sh unpacks them over the assembled dom0 (so libc and friends are Debian's
 * files, not the host's copies) and lists these and DOM0_PACKAGES in /var/lib/dpkg/status.
 */
export const DOM0_DPKG_PACKAGES = [
  'dpkg', 'tar', 'coreutils', 'libattr1', 'libgmp10', 'libc6', 'libc-bin', 'libgcc-s1', 'libstdc++6', 'libselinux1', 'libpcre2-8-0', 'libacl1',
  'libbz2-1.0', 'liblzma5', 'libzstd1', 'zlib1g',
  'passwd', 'libaudit1', 'libaudit-common', 'libcap-ng0', 'libcrypt1', 'libpam0g', 'libsemanage2',
  'libsemanage-common', 'libsepol2',
  'openssh-client', 'libssl3', 'libfido2-1', 'libcbor0.8', 'libudev1', 'libgssapi-krb5-2', 'libkrb5-3',
  'libk5crypto3', 'libkrb5support0', 'libcom-err2', 'libkeyutils1',
  'xz-utils', 'bzip2', 'zstd', 'liblz4-1', 'lz4', 'lzop', 'liblzo2-2',
] as const;
/** dom0's packages for rehearsals (LVM snapshots): `dmsetup targets` shows the snapshot target. */
export const REHEARSAL_PACKAGES = ['dmsetup'] as const;

/** Host packages whose shared libraries build.sh copies into dom0 (found by ldd). */
const HOST_LIBS = [
  'libc6', 'libgcc-s1', 'zlib1g', 'liblzma5', 'libzstd1', 'liblz4-1', 'libudev1', 'libsystemd0', 'libselinux1',
  'libblkid1', 'libuuid1', 'libmount1', 'libsmartcols1', 'libcap2', 'libcap-ng0', 'libaudit1', 'libpam0g',
  'libcrypt1', 'libgcrypt20', 'libgpg-error0', 'libpcre2-8-0', 'libtinfo6', 'libgmp10',
];

/** The files of a built lab; all paths absolute, inside the cache. */
export type LabBuild = {
  dir: string;
  key: string;
  xen: string;
  vmlinuz: string;
  initrd: string;
  dataDisk: string;
  keyPath: string;
  hostKey: string;
  releases: Releases;
  packages: string[];
};

/** Files whose content is part of the build key (the build's own sources). */
// .js in the installed package, whose modules are plain JavaScript (scripts/package.ts).
const EXT = extname(fileURLToPath(import.meta.url));
const SOURCES = ['build.sh', `build${EXT}`, `guests${EXT}`, `nopvh${EXT}`, 'rootfs/dom0-init', 'rootfs/guest-init'];

/**
 * The build key: a hash of the exact package files (name_version_arch) and the build sources.
 * @example
 * buildKey(['bash_5.2.15-2+b13_amd64.deb'], 'echo') // => '3f1c...' (16 hex digits)
 */
export function buildKey(debNames: readonly string[], sources: string): string {
  const h = createHash('sha256');
  for (const n of [...debNames].sort()) h.update(n + '\n');
  h.update(sources);
  return h.digest('hex').slice(0, 16);
}

function escapeRe(s: string): string {
  return s.replace(/[.+]/g, (c) => '\\' + c);
}

function files(dir: string, r: Releases, debs: string[]): LabBuild {
  return {
    dir, key: basename(dir), xen: join(dir, 'xen'), vmlinuz: join(dir, 'vmlinuz'), initrd: join(dir, 'dom0.cpio.gz'),
    dataDisk: join(dir, 'data.img'), keyPath: join(dir, 'id_ed25519'), hostKey: readFileSync(join(dir, 'host_key.pub'), 'utf8').trim(),
    releases: r, packages: debs,
  };
}

/**
 * Builds the lab (or finds it built) and returns its files. `log` gets one line per step.
 * @example
 * const b = await buildLab(); // => { dir: '~/.cache/pvhctl/lab/3f1c...', xen: '.../xen', ... }
 */
export async function buildLab(log: (line: string) => void = () => {}): Promise<LabBuild> {
  const debs: string[] = [];
  for (const p of DOM0_PACKAGES) debs.push(await fetchDeb(`^${escapeRe(p)}$`));
  const dpkgDebs: string[] = [];
  for (const p of DOM0_DPKG_PACKAGES) dpkgDebs.push(await fetchDeb(`^${escapeRe(p)}$`));
  for (const p of REHEARSAL_PACKAGES) debs.push(await fetchDeb(`^${escapeRe(p)}$`));
  const bb32 = await fetchDeb('^busybox-static$', 'i386');
  const k64 = await debianKernel('amd64');
  const k32 = await debianKernel('686-pae');
  // The real Debian systems, each built (or found) in its own cache, keyed by its package versions.
  // Only those the lab has (PVHCTL_LAB_DEBIAN=1, labDebianGuests).
  const wanted = new Set(labDebianGuests().map((g) => g.name));
  const debian: DebianImage[] = [];
  for (const s of DEBIAN_SYSTEMS.filter((x) => wanted.has(x.name))) debian.push(await buildDebian(s, log));
  const inputs: Inputs = { debs, dpkgDebs, bb32, k64, k32, debian, releases: { amd64: k64.release, '686-pae': k32.release } };
  // An unpacked image (its first boot not run yet) and the configured one make different labs.
  const all = [...debs, ...dpkgDebs, bb32, k64.deb, k32.deb].map((d) => basename(d)).concat(debian.map((d) => `${d.name}-${d.key}${d.state === 'unpacked' ? '-unpacked' : ''}`));
  // A lab that runs a first boot carries lab/debian/first-boot.sh in that guest's initramfs.
  const firstBoot = debian.some((d) => d.state === 'unpacked') ? FIRST_BOOT_SOURCES : [];
  const sources = [...SOURCES, ...firstBoot].map((f) => `${f}\n${readFileSync(join(LAB, f), 'utf8')}`).join('\n');
  // dom0 also gets the host's copies of base libraries (libc and friends): their versions count.
  const { stdout: hostLibs } = await run('dpkg-query', ['-W', '-f', '${Package}=${Version}\n', ...HOST_LIBS]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  const key = buildKey(all, sources + hostLibs);
  const builds = cacheDir('lab', 'builds');
  const dir = join(builds, key);
  if (!existsSync(join(dir, '.done'))) {
    await withLock(join(cacheDir('lab'), 'build.lock'), async () => {
      // Another process may have built it while we waited for the lock.
      if (!existsSync(join(dir, '.done'))) await build(dir, inputs, all, log);
    });
  }
  return files(dir, inputs.releases, all);
}

/** The fetched packages a build assembles. */
type Inputs = { debs: string[]; dpkgDebs: string[]; bb32: string; k64: DebianKernel; k32: DebianKernel; debian: DebianImage[]; releases: Releases };

/** Runs the build into `dir` (named by its key) and removes older builds. */
async function build(dir: string, { debs, dpkgDebs, bb32, k64, k32, debian, releases }: Inputs, all: string[], log: (line: string) => void): Promise<void> {
  const key = basename(dir);
  const builds = dirname(dir);

  log(`building lab ${key} in ${dir}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const guests = join(tmp, 'guests');
  mkdirSync(guests, { recursive: true });
  const imageOf = (name: string) => {
    const img = debian.find((d) => d.name === name);
    if (img === undefined) throw new Error(`${name}: no Debian system of that name in lab/debian.ts`);
    return img;
  };
  const layout = diskLayout([...GUESTS, ...labDebianGuests().map((g) => ({ name: g.name, mib: imageOf(g.name).sizeMiB }))]);
  writeFileSync(join(guests, 'vg'), VG + '\n');
  writeFileSync(join(guests, 'layout'), layout.map((l) => `${l.name} ${l.start} ${l.count}`).join('\n') + '\n');
  writeFileSync(join(guests, 'disk-bytes'), String(dataDiskBytes(layout)));
  for (const g of GUESTS) {
    const gd = join(guests, g.name);
    mkdirSync(gd);
    writeFileSync(join(gd, 'xl.cfg'), xlConfig(g, releases));
    writeFileSync(join(gd, 'grub.cfg'), grubConfig(g, releases));
    const start = layout.find((l) => l.name === g.name)!.start;
    writeFileSync(join(gd, 'guest.env'), `arch=${g.arch}\nmode=${g.init}\nkernel=${g.kernel}\noffset=${extentOffset(start)}\n`);
    if (g.boot.kind === 'direct') writeFileSync(join(gd, 'direct'), '');
  }
  for (const g of labDebianGuests()) {
    const gd = join(guests, g.name);
    mkdirSync(gd);
    writeFileSync(join(gd, 'xl.cfg'), xlConfig(g, releases));
    const start = layout.find((l) => l.name === g.name)!.start;
    const img = imageOf(g.name);
    writeFileSync(join(gd, 'guest.env'), `arch=${g.arch}\nmode=${g.init}\nkernel=debian\noffset=${extentOffset(start)}\nimage=${img.imageZst}\n${img.state === 'unpacked' ? 'firstboot=1\n' : ''}`);
    if (img.state === 'unpacked') writeFileSync(join(gd, 'first-boot.cfg'), firstBootConfig(g, releases));
  }
  const nopvh = join(tmp, 'vmlinuz-nopvh');
  writeFileSync(nopvh, await noPvhKernel(readFileSync(k64.vmlinuz)));

  const out = join(tmp, 'out');
  mkdirSync(out);
  await run('bash', [join(LAB, 'build.sh')], {
    env: {
      ...process.env, OUT: out, DEBS64: debs.join('\n'), DPKG_DEBS: dpkgDebs.join('\n'), K64: k64.deb, K32: k32.deb, BB32: bb32,
      NOPVH: nopvh, GUESTS: guests, LAB, LC_ALL: 'C',
    },
    maxBuffer: 64 << 20,
    timeout: 20 * 60_000,
  }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`lab/build.sh failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-5).join(' | ')}`);
  });
  writeFileSync(join(out, 'manifest.json'), JSON.stringify({ key, packages: all, releases }, null, 2) + '\n');
  writeFileSync(join(out, '.done'), '');
  rmSync(dir, { recursive: true, force: true });
  renameSync(out, dir);
  rmSync(tmp, { recursive: true, force: true });
  // Keep this build and the one before (a lab started from it may still run); older ones go.
  const older = readdirSync(builds).filter((b) => b !== key && !b.includes('.tmp-'))
    .map((b) => ({ b, t: statSync(join(builds, b)).mtimeMs })).sort((x, y) => y.t - x.t).slice(1);
  for (const { b } of older) rmSync(join(builds, b), { recursive: true, force: true });
}
