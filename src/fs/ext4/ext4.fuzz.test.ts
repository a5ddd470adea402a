import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { memorySource } from '../../disk/source.ts';
import { openExt4 } from './ext4.ts';
import { isDataError, readPath, resolve } from '../path.ts';
import type { Filesystem, FsNode } from '../types.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-ext4fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function image(args: string[]): Uint8Array {
  const tree = join(dir, 'tree');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(join(tree, 'boot/grub'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'boot/grub/grub.cfg'), 'menuentry "x" { linux /vmlinuz }\n'.repeat(50));
  writeFileSync(join(tree, 'boot/vmlinuz'), Buffer.alloc(300_000, 7));
  writeFileSync(join(tree, 'etc/os-release'), 'ID=debian\n');
  symlinkSync('/boot/vmlinuz', join(tree, 'vmlinuz'));
  symlinkSync('/' + 'a/'.repeat(40), join(tree, 'long'));
  for (let i = 0; i < 80; i++) writeFileSync(join(tree, 'etc', `f${i}`), 'x'.repeat(i * 10));
  const img = join(dir, 'fuzz.img');
  rmSync(img, { force: true });
  execFileSync('mke2fs', ['-q', '-F', ...args, '-d', tree, img, '4M']);
  return new Uint8Array(readFileSync(img));
}

/** Visits everything reachable, bounded (a corrupted directory can point back at an ancestor). */
function walk(fs: Filesystem, node: FsNode, depth: number, budget: { n: number }): void {
  if (depth > 8 || budget.n-- <= 0) return;
  for (const e of fs.list(node).slice(0, 200)) {
    try {
      const child = fs.stat(e.id);
      if (child.kind === 'dir') walk(fs, child, depth + 1, budget);
      else if (child.kind === 'file') fs.read(child, 1 << 20);
      else if (child.kind === 'symlink') fs.readlink(child);
    } catch (err) {
      if (!isDataError(err)) throw err;
    }
  }
}

for (const [label, args] of [
  ['ext4', ['-t', 'ext4', '-b', '1024']],
  ['ext4 inline_data', ['-t', 'ext4', '-O', 'inline_data', '-I', '256', '-b', '1024']],
  ['ext2', ['-t', 'ext2', '-b', '1024']],
  // Clusters of 16 blocks: superblock checks and descriptor placement differ (block 2 with s_first_data_block 0).
  ['ext4 bigalloc', ['-t', 'ext4', '-b', '1024', '-O', 'bigalloc', '-C', '16384']],
] as const) {
  test(`fuzz: mutated real ${label} images give data errors only, in bounded time (bounded cases)`, () => {
    const base = image([...args]);
    let seed = 0x5eed + label.length;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let opened = 0;
    for (let c = 0; c < 250; c++) {
      const img = base.slice();
      const n = 1 + Math.floor(rnd() * 16);
      for (let k = 0; k < n; k++) {
        // Metadata sits in the first ~300 KiB of a small image: superblock, descriptors, inode tables, directories.
        const at = rnd() < 0.9 ? Math.floor(rnd() * 300 * 1024) : Math.floor(rnd() * img.length);
        img[at] = rnd() < 0.3 ? 0xff : Math.floor(rnd() * 256);
      }
      try {
        const fs = openExt4(memorySource(img, `case ${c}`));
        opened++;
        walk(fs, fs.root(), 0, { n: 500 });
        const t = { root: fs, mounts: [] };
        for (const p of ['/boot/grub/grub.cfg', '/vmlinuz', '/long', '/etc/os-release']) {
          resolve(t, p);
          readPath(t, p, 1 << 20);
        }
      } catch (err) {
        if (!isDataError(err)) throw err;
      }
    }
    assert.ok(opened > 50, `most mutated images still open (${opened})`);
  });
}
