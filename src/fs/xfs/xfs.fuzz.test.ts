/**
 * Bounded mutation fuzzing of the XFS reader on real images (mkfs.xfs v5 and v4, and one written
 * by Linux's XFS driver when guestfish is installed): the bytes the
 * reader reads as metadata on a clean walk (superblock, inodes, directory and bmbt blocks, remote
 * symlinks, the log head) are mutated, and every case must end in a result or a data error
 * (FsError, OutOfBounds, RangeError), never another exception, a crash or a hang.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzCases, fuzzSeed, mutate, rng } from '../../../test/support/fuzz.ts';
import { hasGuestfish } from '../../../test/support/libguestfs.ts';
import { type ByteSource, memorySource } from '../../disk/source.ts';
import { isDataError, readPath, resolve } from '../path.ts';
import type { Filesystem, FsNode } from '../types.ts';
import { FORMAT } from './layout.ts';
import { linuxXfsImages } from './testdata/linux.ts';
import { mkfsXfs } from './testdata/proto.ts';
import { openXfs } from './xfs.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-xfsfuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const seed = fuzzSeed();

function image(args: string[]): Uint8Array {
  const tree = join(dir, 'tree');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(join(tree, 'boot/grub2'), { recursive: true });
  mkdirSync(join(tree, 'boot/loader/entries'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  mkdirSync(join(tree, 'many'), { recursive: true });
  writeFileSync(join(tree, 'boot/grub2/grub.cfg'), 'insmod blscfg\nblscfg\n'.repeat(50));
  writeFileSync(join(tree, 'boot/grub2/grubenv'), '# GRUB Environment Block\n'.padEnd(1024, '#'));
  writeFileSync(join(tree, 'boot/vmlinuz'), Buffer.alloc(300_000, 7));
  for (let i = 0; i < 3; i++) writeFileSync(join(tree, `boot/loader/entries/e${i}.conf`), `title ${i}\nlinux /vmlinuz\n`);
  writeFileSync(join(tree, 'etc/os-release'), 'ID=rocky\n');
  symlinkSync('/boot/vmlinuz', join(tree, 'vmlinuz'));
  symlinkSync('/' + 'a/'.repeat(300), join(tree, 'long'));
  for (let i = 0; i < 80; i++) writeFileSync(join(tree, 'etc', `f${i}`), 'x'.repeat(i * 10));
  // Enough names, each with its own data block, for a leaf/node directory with a bmbt.
  for (let i = 0; i < 2500; i++) writeFileSync(join(tree, 'many', `file-with-a-rather-long-name-${i}`), `${i}\n`);
  const img = join(dir, 'fuzz.img');
  mkfsXfs(img, tree, 32, args);
  return new Uint8Array(readFileSync(img));
}

/** Visits everything reachable, bounded (a corrupted directory can point back at an ancestor). */
function walk(fs: Filesystem, node: FsNode, depth: number, budget: { n: number }, readFiles: boolean): void {
  if (depth > 8 || budget.n-- <= 0) return;
  for (const e of fs.list(node).slice(0, 3000)) {
    try {
      const child = fs.stat(e.id);
      if (child.kind === 'dir') walk(fs, child, depth + 1, budget, readFiles);
      else if (child.kind === 'file' && readFiles) fs.read(child, 1 << 20);
      else if (child.kind === 'symlink') fs.readlink(child);
    } catch (err) {
      if (!isDataError(err)) throw err;
    }
  }
}

type Patch = { at: number; bytes: Uint8Array };

/** The image with patches laid over it, and optionally cut short; reads copy, so patches never leak. */
function patched(base: Uint8Array, patches: Patch[], size: number, name: string): ByteSource {
  const src = memorySource(base.subarray(0, size), name);
  const source: ByteSource = {
    name,
    size,
    read(offset, length) {
      const out = Uint8Array.from(src.read(offset, length));
      for (const p of patches) {
        const from = Math.max(offset, p.at);
        const to = Math.min(offset + length, p.at + p.bytes.length);
        if (from < to) out.set(p.bytes.subarray(from - p.at, to - p.at), from - offset);
      }
      return out;
    },
    readInto(offset, target) {
      target.set(source.read(offset, target.length));
    },
    close() {},
  };
  return source;
}

const linuxSkip = hasGuestfish() ? false : 'guestfish (libguestfs-tools) is not installed: no Linux-written XFS image';
for (const [label, make, skip] of [
  ['mkfs.xfs v5', async () => image([]), false],
  ['mkfs.xfs v4', async () => image(['-m', 'crc=0']), false],
  // Linux-written: a bmbt file, unwritten extents, a remote symlink with its header (testdata/linux.ts).
  ['Linux-written v5', async () => new Uint8Array(readFileSync((await linuxXfsImages()).clean)), linuxSkip],
] as const) {
  test(`fuzz: mutated real XFS metadata (${label}) gives data errors only, in bounded time (seed ${seed})`, { skip }, async () => {
    const base = await make();
    // The metadata regions: every read of up to 64 KiB on a clean walk that reads no file data.
    const regions = new Map<number, number>();
    const mem = memorySource(base, 'clean');
    const recorder: ByteSource = {
      ...mem,
      read(offset, length) {
        if (length <= 65536) regions.set(offset, Math.max(length, regions.get(offset) ?? 0));
        return mem.read(offset, length);
      },
    };
    const clean = openXfs(recorder);
    walk(clean, clean.root(), 0, { n: 1000 }, false);
    // The bmbt blocks: /many's in the mkfs images, /sparse's in the Linux-written one.
    const bmbt = label.startsWith('Linux') ? '/sparse' : '/many';
    const found = resolve({ root: clean, mounts: [] }, bmbt);
    assert.ok(found.ok, bmbt);
    clean.extents(clean.inode(found.node.id));
    assert.equal(clean.inode(found.node.id).format, FORMAT.BTREE, 'a bmbt is among the fuzzed blocks');
    const spots = [...regions.entries()];
    assert.ok(spots.length > 30, `metadata regions recorded (${spots.length})`);

    const r = rng(seed + label.length);
    const n = fuzzCases(300);
    let opened = 0;
    let failed = 0;
    for (let c = 0; c < n; c++) {
      const patches: Patch[] = [];
      const k = 1 + Math.floor(r() * 3);
      for (let j = 0; j < k; j++) {
        const [at, len] = spots[Math.floor(r() * spots.length)]!;
        patches.push({ at, bytes: mutate(base.subarray(at, at + len), r) });
      }
      const size = r() < 0.05 ? Math.floor(r() * base.length) : base.length;
      const what = `seed ${seed} case ${c}`;
      try {
        const fs = openXfs(patched(base, patches, size, `case ${c}`));
        opened++;
        for (const w of fs.warnings) assert.ok(!w.includes('\n'), `${what}: one-line warning`);
        walk(fs, fs.root(), 0, { n: 300 }, true);
        const t = { root: fs, mounts: [] };
        for (const p of ['/boot/grub2/grub.cfg', '/boot/grub2/grubenv', '/vmlinuz', '/long', '/longlink', '/prealloc', '/etc/os-release', '/many/file-with-a-rather-long-name-7']) {
          resolve(t, p);
          readPath(t, p, 1 << 20);
        }
      } catch (err) {
        if (!isDataError(err)) throw new Error(`${what}: ${String(err)}`, { cause: err });
        assert.ok(!err.message.includes('\n'), `${what}: one-line error`);
        failed++;
      }
    }
    assert.ok(opened > n / 4, `many mutated images still open (${opened} of ${n}, ${failed} refused)`);
  });
}
