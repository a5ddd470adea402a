/**
 * The lab's real distribution guests: Debian 12 systems built from Debian packages with mmdebstrap
 * (the host's apt sources, as the rest of the lab build), each a tight ext4 image with systemd, a
 * getty on hvc0, its own /boot/grub/grub.cfg from its own update-grub, and a unit that writes
 * /sys/hypervisor/guest_type to the console. Cached as a zstd-compressed image in
 * ~/.cache/pvhctl/lab/debian/KEY, KEY a hash of the package list, the candidate versions apt
 * reports for it and the build scripts: rebuilt only when one of them changes.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheDir } from '../src/debian/apt.ts';
import { EXTENT_MIB } from './guests.ts';
import { withLock } from './proc.ts';

const run = promisify(execFile);
const LAB = dirname(fileURLToPath(import.meta.url));

/**
 * A Debian system the lab builds: its dpkg architecture and the packages mmdebstrap adds to
 * minbase. `configure` says where its maintainer scripts run: in the build (`build`: amd64 runs
 * natively here) or on its first boot in the lab (`first-boot`: this host cannot execute i386, so
 * the build only unpacks it, lab/debian/unpack-hook.sh, and lab/debian-first-boot.ts configures it
 * under Xen).
 */
export type DebianSystem =
  | { name: string; arch: 'amd64'; configure: 'build'; include: readonly string[] }
  | { name: string; arch: 'i386'; configure: 'first-boot'; include: readonly string[] };

/**
 * Debian 12's Priority: required packages (debootstrap's minbase, what `--variant=minbase` installs):
 * an unpacked system (`--variant=extract`) gets only what it lists, so it lists them.
 */
export const REQUIRED = [
  'apt', 'base-files', 'base-passwd', 'bash', 'bsdutils', 'coreutils', 'dash', 'debconf', 'debianutils', 'diffutils',
  'dpkg', 'e2fsprogs', 'findutils', 'grep', 'gzip', 'hostname', 'init-system-helpers', 'libc-bin', 'libpam-modules',
  'libpam-modules-bin', 'libpam-runtime', 'login', 'mawk', 'mount', 'ncurses-base', 'ncurses-bin', 'passwd',
  'perl-base', 'sed', 'sysvinit-utils', 'tar', 'tzdata', 'util-linux',
] as const;

/**
 * Debian 12 amd64 with the standard kernel (linux-image-amd64), systemd, udev, GRUB's update-grub
 * and initramfs-tools. Not the smaller cloud kernel: Debian builds linux-image-cloud-amd64 without
 * CONFIG_XEN_PV, so PV GRUB refuses it ("error: not xen image", seen on the lab).
 */
export const DEBIAN_SYSTEMS: readonly DebianSystem[] = [
  {
    name: 'deb12-amd64',
    arch: 'amd64',
    configure: 'build',
    include: ['systemd-sysv', 'udev', 'linux-image-amd64', 'grub2-common', 'initramfs-tools', 'zstd', 'procps'],
  },
  {
    // The same system for 32-bit PAE: Debian 12's 686-pae kernel has the PVH entry and no 32-bit
    // PV entry (and this Xen has no xen-3.0-x86_32p), so it runs only as PVH here.
    name: 'deb12-i386',
    arch: 'i386',
    configure: 'first-boot',
    include: ['systemd-sysv', 'udev', 'linux-image-686-pae', 'grub2-common', 'initramfs-tools', 'zstd', 'procps'],
  },
];

/** Build scripts whose content is part of the key. */
// .js in the installed package, whose modules are plain JavaScript (scripts/package.ts).
const SOURCES = [`debian${extname(fileURLToPath(import.meta.url))}`, 'debian/essential-hook.sh', 'debian/customize-hook.sh'];
/** An unpacked system's build scripts: its hook and what the hook puts on its disk. */
const UNPACK_SOURCES = [`debian${extname(fileURLToPath(import.meta.url))}`, 'debian/unpack-hook.sh', 'debian/report.sh', 'debian/report.service'];

/**
 * A built Debian image: the compressed ext4 file, its size and filesystem UUID. `state` is
 * `unpacked` for a first-boot system whose first boot has not run yet (its packages unpacked, not
 * configured), `configured` once it has (lab/debian-first-boot.ts writes configuredName()).
 */
export type DebianImage = { name: string; key: string; imageZst: string; sizeMiB: number; uuid: string; state: 'configured' | 'unpacked' };

/**
 * The image size in MiB for a root tree of `usedMiB`: a quarter more for ext4's own metadata and
 * the first boots' writes (journal, logs), rounded up to whole LVM extents. An unpacked system
 * (`first-boot`) gets its tree's size again: its first boot's dpkg unpacks every package once more
 * beside the files already there (each file as .dpkg-new until the package is in), with the
 * .debs still on the disk; at 612 MiB the kernel's 330 MiB of modules ran out of space.
 * @example
 * imageMiB(400, 'build') // => 548
 * imageMiB(400, 'first-boot') // => 948
 */
export function imageMiB(usedMiB: number, configure: DebianSystem['configure']): number {
  const want = Math.ceil(usedMiB * (configure === 'first-boot' ? 2.25 : 1.25)) + 48;
  return Math.ceil(want / EXTENT_MIB) * EXTENT_MIB;
}

/**
 * The cache key of a system: its name, architecture, package list with the versions apt would
 * install, and the build scripts.
 * @example
 * debianKey(DEBIAN_SYSTEMS[0]!, 'systemd-sysv 252.39-1~deb12u2\n', 'hook') // => '9a1c...' (16 hex digits)
 */
export function debianKey(s: DebianSystem, versions: string, sources: string): string {
  const h = createHash('sha256');
  h.update(`${s.name}\n${s.arch}\n${[...s.include].sort().join(',')}\n${versions}\n${sources}`);
  return h.digest('hex').slice(0, 16);
}

/** `PACKAGE VERSION` lines: the candidate apt-cache policy gives for each listed package. */
async function candidateVersions(s: DebianSystem): Promise<string> {
  const names = s.include.map((p) => `${p}:${s.arch}`);
  const { stdout } = await run('apt-cache', ['policy', ...names], { maxBuffer: 16 << 20 });
  const out: string[] = [];
  let pkg = '';
  for (const line of stdout.split('\n')) {
    if (/^\S.*:$/.test(line)) pkg = line.slice(0, -1);
    const m = /^\s+Candidate: (\S+)/.exec(line);
    if (m !== null) out.push(`${pkg} ${m[1]}`);
  }
  if (out.length !== names.length) throw new Error(`apt-cache policy gave ${out.length} candidates for ${names.length} packages (is apt-get update done?)`);
  return out.join('\n') + '\n';
}

/**
 * Builds a Debian system's image (or finds it cached) and returns it. `log` gets one line per step.
 * @example
 * const img = await buildDebian(DEBIAN_SYSTEMS[0]!); // => { name: 'deb12-amd64', imageZst: '.../disk.img.zst', sizeMiB: 548, ... }
 */
export async function buildDebian(s: DebianSystem, log: (line: string) => void = () => {}): Promise<DebianImage> {
  const sources = (s.configure === 'build' ? SOURCES : UNPACK_SOURCES).map((f) => `${f}\n${readFileSync(join(LAB, f), 'utf8')}`).join('\n');
  const key = debianKey(s, await candidateVersions(s), sources);
  const base = cacheDir('lab', 'debian');
  const dir = join(base, `${s.name}-${key}`);
  if (!existsSync(join(dir, '.done'))) {
    await withLock(join(base, `${s.name}.lock`), async () => {
      if (!existsSync(join(dir, '.done'))) await build(s, dir, log);
    });
  }
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { sizeMiB: number; uuid: string };
  if (s.configure === 'first-boot' && existsSync(join(dir, configuredName()))) {
    return { name: s.name, key, imageZst: join(dir, configuredName()), sizeMiB: meta.sizeMiB, uuid: meta.uuid, state: 'configured' };
  }
  return { name: s.name, key, imageZst: join(dir, 'disk.img.zst'), sizeMiB: meta.sizeMiB, uuid: meta.uuid, state: s.configure === 'build' ? 'configured' : 'unpacked' };
}

/**
 * The file name of a first-boot system's configured image, beside its unpacked one in the same
 * cache directory: keyed by what ran the first boot (lab/debian/first-boot.sh and the first-boot
 * initramfs's init), so that a change to either configures the unpacked image again.
 */
export function configuredName(): string {
  const h = createHash('sha256');
  for (const f of FIRST_BOOT_SOURCES) h.update(`${f}\n${readFileSync(join(LAB, f), 'utf8')}\n`);
  return `configured-${h.digest('hex').slice(0, 16)}.img.zst`;
}

/** What runs a first boot (lab/build.sh puts both in the first-boot initramfs). */
export const FIRST_BOOT_SOURCES = ['debian/first-boot.sh', 'rootfs/guest-init'] as const;

/**
 * mmdebstrap's options for a system (before SUITE TARGET SOURCES): installed (minbase, hooks run
 * in a chroot) or unpacked only.
 * @example
 * mmdebstrapArgs(DEBIAN_SYSTEMS[1]!, 'UUID')[0] // => '--variant=extract'
 */
export function mmdebstrapArgs(s: DebianSystem, uuid: string): string[] {
  // Documentation and translations are not part of what the lab tests; they would double the image.
  // (An unpacked system gets them too, but its first boot's dpkg reads them from dpkg.cfg.d.)
  const exclude = ['--dpkgopt=path-exclude=/usr/share/man/*', '--dpkgopt=path-exclude=/usr/share/doc/*', '--dpkgopt=path-exclude=/usr/share/locale/*'];
  if (s.configure === 'build') {
    return [
      '--variant=minbase', `--architectures=${s.arch}`, `--include=${s.include.join(',')}`, ...exclude,
      `--essential-hook=sh ${join(LAB, 'debian', 'essential-hook.sh')} "$1"`,
      `--customize-hook=sh ${join(LAB, 'debian', 'customize-hook.sh')} "$1" ${s.name} ${uuid}`,
    ];
  }
  return [
    // Unpacked only, the .debs kept for the first boot's dpkg (this host cannot run i386 code).
    '--variant=extract', `--architectures=${s.arch}`, '--skip=cleanup/apt/cache', `--include=${[...REQUIRED, ...s.include].join(',')}`, ...exclude,
    // The extract hook: mmdebstrap runs neither the essential nor the customize hooks for this variant.
    `--extract-hook=sh ${join(LAB, 'debian', 'unpack-hook.sh')} "$1" ${s.name} ${uuid}`,
  ];
}

async function build(s: DebianSystem, dir: string, log: (line: string) => void): Promise<void> {
  const t0 = Date.now();
  log(`building Debian 12 ${s.arch} system ${s.name} with mmdebstrap (${s.configure === 'build' ? 'installed' : 'unpacked only'}) in ${dir}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const root = join(tmp, 'root');
  const uuid = randomUUID();
  const args = [...mmdebstrapArgs(s, uuid), 'bookworm', root, ...aptSources()];
  await runInput('mmdebstrap', args, '').catch((err: Error & { stderr?: string }) => {
    throw new Error(`mmdebstrap ${s.name} failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-5).join(' | ')}`);
  });
  const { stdout: du } = await run('du', ['-sm', '--apparent-size', root]);
  const sizeMiB = imageMiB(Number(du.split('\t')[0]), s.configure);
  const img = join(tmp, 'disk.img');
  await run('mkfs.ext4', ['-q', '-F', '-L', s.name, '-U', uuid, '-E', 'root_owner=0:0', '-d', root, img, `${sizeMiB}M`]);
  rmSync(root, { recursive: true, force: true });
  await run('zstd', ['-q', '-T0', '-6', '--rm', img]);
  writeFileSync(join(tmp, 'meta.json'), JSON.stringify({ name: s.name, arch: s.arch, sizeMiB, uuid, buildSeconds: Math.round((Date.now() - t0) / 1000) }, null, 2) + '\n');
  writeFileSync(join(tmp, '.done'), '');
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  // Keep this build and the one before (a lab built from it may still run); older ones go.
  const base = dirname(dir);
  const older = readdirSync(base).filter((b) => b.startsWith(`${s.name}-`) && join(base, b) !== dir && !b.includes('.tmp-'))
    .map((b) => ({ b, t: statSync(join(base, b)).mtimeMs })).sort((x, y) => y.t - x.t).slice(1);
  for (const { b } of older) rmSync(join(base, b), { recursive: true, force: true });
  log(`built ${s.name}: ${sizeMiB} MiB ext4 in ${Math.round((Date.now() - t0) / 1000)} s`);
}

/**
 * The host's apt source files, which mmdebstrap copies into the new system's apt configuration:
 * the packages come from wherever the host's apt (and so the rest of the lab build) gets them.
 */
function aptSources(): string[] {
  const d = '/etc/apt/sources.list.d';
  const files = existsSync(d) ? readdirSync(d).filter((f) => /\.(list|sources)$/.test(f)).map((f) => join(d, f)).sort() : [];
  const all = existsSync('/etc/apt/sources.list') && readFileSync('/etc/apt/sources.list', 'utf8').replace(/#.*/g, '').trim() !== '' ? ['/etc/apt/sources.list', ...files] : files;
  if (all.length === 0) throw new Error('no apt sources on this host (/etc/apt/sources.list, /etc/apt/sources.list.d)');
  return all;
}

/** Runs a command with `input` on its stdin; rejects with its stderr on a non-zero exit. */
function runInput(cmd: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 << 20, timeout: 30 * 60_000 }, (err, _out, stderr) => {
      if (err !== null) reject(Object.assign(err, { stderr }));
      else resolve();
    });
    child.stdin?.end(input);
  });
}
