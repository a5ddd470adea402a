/**
 * Real guest disk images for tests and benchmarks, built from real Debian kernels with real tools:
 * `mke2fs -d` (or `mkfs.xfs -p`, for the RHEL family) from a directory tree, `sfdisk` for MBR/GPT, filesystems placed at their partition
 * offsets with dd (no loop devices, nothing mounted). Images are cached by a hash of their
 * recipe (including the kernel packages) in the pvhctl cache, never in the tree.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cacheDir, debianKernel, type DebianKernel, type KernelFlavour } from '../../debian/apt.ts';
import { mkfsXfs } from '../../fs/xfs/testdata/proto.ts';

/** A file in a fixture tree: text, a real Debian kernel (or its config), or a symlink. */
export type FixtureFile = string | { kernel: KernelFlavour; append?: string } | { config: KernelFlavour } | { symlink: string } | { bytes: number[] };

export type Layout =
  /** One ext4 filesystem on the whole disk (the usual PV guest with vdev xvda1 or xvda). */
  | 'bare'
  /** MBR: partition 1 is /boot (ext2), partition 2 is / (ext4). */
  | 'mbr-boot'
  /** GPT: partition 1 BIOS boot, partition 2 is / (ext4). */
  | 'gpt'
  /** MBR: partition 1 swap, partition 2 extended, / in logical partition 5. */
  | 'logical';

export type GuestRecipe = {
  name: string;
  layout: Layout;
  /** Files of the root filesystem (with /boot inside unless the layout has a /boot partition). */
  root: Record<string, FixtureFile>;
  /** Files of the /boot partition (paths relative to it), for 'mbr-boot'. */
  boot?: Record<string, FixtureFile>;
  rootUuid: string;
  bootUuid?: string;
  mkfsArgs?: string[];
  /** The filesystem of / and /boot: ext4 (/boot ext2) by default, or XFS for both, as RHEL 8/9 install. */
  fs?: 'ext4' | 'xfs';
  /** Damage applied after building: overwrite bytes at an offset into the root filesystem. */
  corrupt?: { offset: number; bytes: number[] };
};

const RECIPE_VERSION = 3;

async function kernels(r: GuestRecipe): Promise<Map<KernelFlavour, DebianKernel>> {
  const flavours = new Set<KernelFlavour>();
  for (const f of [...Object.values(r.root), ...Object.values(r.boot ?? {})]) {
    if (typeof f === 'object' && 'kernel' in f) flavours.add(f.kernel);
    if (typeof f === 'object' && 'config' in f) flavours.add(f.config);
  }
  const out = new Map<KernelFlavour, DebianKernel>();
  for (const f of flavours) out.set(f, await debianKernel(f));
  return out;
}

function populate(dir: string, files: Record<string, FixtureFile>, ks: Map<KernelFlavour, DebianKernel>): void {
  mkdirSync(dir, { recursive: true });
  for (const [p, f] of Object.entries(files)) {
    const at = join(dir, p);
    mkdirSync(dirname(at), { recursive: true });
    if (typeof f === 'string') writeFileSync(at, f);
    else if ('kernel' in f) {
      copyFileSync(ks.get(f.kernel)!.vmlinuz, at);
      // Bytes after the image (like an appended signature) make a distinct file that boots the same.
      if (f.append !== undefined) appendFileSync(at, f.append);
    }
    else if ('config' in f) copyFileSync(ks.get(f.config)!.config, at);
    else if ('symlink' in f) symlinkSync(f.symlink, at);
    else writeFileSync(at, Buffer.from(f.bytes));
  }
}

function mkfs(img: string, dir: string, type: string, uuid: string, sizeMiB: number, extra: string[]): void {
  if (type === 'xfs') {
    mkfsXfs(img, dir, sizeMiB, ['-m', `uuid=${uuid}`, ...extra]);
    return;
  }
  execFileSync('mke2fs', ['-q', '-F', '-t', type, '-U', uuid, ...extra, '-d', dir, img, `${sizeMiB}M`], {
    env: { ...process.env, E2FSPROGS_FAKE_TIME: '1700000000' },
  });
}

/** Writes `src` into `disk` at `offsetMiB` without truncating (dd, sparse). */
function place(disk: string, src: string, offsetMiB: number): void {
  execFileSync('dd', [`if=${src}`, `of=${disk}`, 'bs=1M', `seek=${offsetMiB}`, 'conv=notrunc,sparse', 'status=none']);
}

function sfdisk(disk: string, script: string): void {
  execFileSync('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', disk], { input: script });
}

/**
 * Builds (or reuses) the disk image for a recipe and returns its path.
 * @example
 * await guestImage({ name: 'bare', layout: 'bare', rootUuid: '…', root: { 'boot/vmlinuz-6.1.0-56-amd64': { kernel: 'amd64' }, ... } })
 * // => '/root/.cache/pvhctl/guest-images/bare-1a2b3c4d5e6f.img'
 */
export async function guestImage(r: GuestRecipe): Promise<string> {
  const ks = await kernels(r);
  const key = createHash('sha256')
    .update(JSON.stringify({ v: RECIPE_VERSION, r, k: [...ks.values()].map((k) => k.deb) }))
    .digest('hex')
    .slice(0, 16);
  const out = join(cacheDir('guest-images'), `${r.name}-${key}.img`);
  if (existsSync(out)) return out;
  const work = mkdtempSync(join(tmpdir(), 'pvhctl-fixture-'));
  try {
    const rootDir = join(work, 'root');
    populate(rootDir, r.root, ks);
    const rootImg = join(work, 'root.img');
    const disk = join(work, 'disk.img');
    mkfs(rootImg, rootDir, r.fs ?? 'ext4', r.rootUuid, 96, r.mkfsArgs ?? []);
    if (r.corrupt) {
      const fd = Buffer.from(r.corrupt.bytes);
      execFileSync('dd', [`of=${rootImg}`, 'bs=1', `seek=${r.corrupt.offset}`, 'conv=notrunc', 'status=none'], { input: fd });
    }
    switch (r.layout) {
      case 'bare':
        renameSync(rootImg, disk);
        break;
      case 'mbr-boot': {
        const bootDir = join(work, 'boot');
        populate(bootDir, r.boot ?? {}, ks);
        const bootImg = join(work, 'boot.img');
        mkfs(bootImg, bootDir, r.fs === 'xfs' ? 'xfs' : 'ext2', r.bootUuid ?? r.rootUuid, 48, []);
        writeFileSync(disk, '');
        truncateSync(disk, (1 + 48 + 96 + 1) * 1024 * 1024);
        sfdisk(disk, 'label: dos\nlabel-id: 0x5eed0001\nstart=2048, size=48M, type=83, bootable\nsize=96M, type=83\n');
        place(disk, bootImg, 1);
        place(disk, rootImg, 49);
        break;
      }
      case 'gpt':
        writeFileSync(disk, '');
        truncateSync(disk, (1 + 1 + 96 + 1) * 1024 * 1024);
        sfdisk(disk, 'label: gpt\nstart=2048, size=1M, type=21686148-6449-6E6F-744E-656564454649\nsize=96M, type=L, name=root\n');
        place(disk, rootImg, 2);
        break;
      case 'logical':
        writeFileSync(disk, '');
        truncateSync(disk, (1 + 8 + 1 + 96 + 1) * 1024 * 1024);
        // The logical partition starts 1 MiB into the extended one (its EBR sits at the start).
        sfdisk(disk, 'label: dos\nstart=2048, size=8M, type=82\nstart=18432, type=5\nstart=20480, size=96M, type=83\n');
        place(disk, rootImg, 10);
        break;
    }
    renameSync(disk, out);
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
