import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ByteSource, memorySource, openSource } from '../../disk/source.ts';
import { openExt4, isExt4 } from './ext4.ts';
import { readPath, resolve } from '../path.ts';
import { compareTree } from '../testdata/compare.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-ext4-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A tree that exercises the reader: small and large files, sparse files, symlinks of every kind, a big directory. */
function makeTree(root: string): void {
  mkdirSync(join(root, 'etc/default'), { recursive: true });
  mkdirSync(join(root, 'boot/grub'), { recursive: true });
  mkdirSync(join(root, 'usr/lib'), { recursive: true });
  mkdirSync(join(root, 'many'), { recursive: true });
  writeFileSync(join(root, 'usr/lib/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
  symlinkSync('../usr/lib/os-release', join(root, 'etc/os-release'));
  writeFileSync(join(root, 'etc/tiny'), 'x');
  writeFileSync(join(root, 'etc/empty'), '');
  writeFileSync(join(root, 'etc/default/grub'), 'GRUB_DEFAULT=saved\n'.repeat(10));
  // 5 MiB of patterned data: indirect and double-indirect blocks under 1K block maps.
  const big = Buffer.alloc(5 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(join(root, 'boot/vmlinuz-6.1.0-test'), big);
  symlinkSync('boot/vmlinuz-6.1.0-test', join(root, 'vmlinuz'));
  // Sparse: 12 islands of data separated by 1 MiB holes, so more than 4 extents (a depth-1 tree).
  const fd = openSync(join(root, 'sparse'), 'w');
  for (let k = 0; k < 12; k++) writeSync(fd, Buffer.alloc(5000, 65 + k), 0, 5000, k * (1 << 20));
  closeSync(fd);
  symlinkSync('/' + './'.repeat(40) + 'usr/../boot/grub', join(root, 'longlink')); // over 60 bytes: a slow symlink
  symlinkSync('/nonexistent/file', join(root, 'dangling'));
  symlinkSync('loop-b', join(root, 'loop-a'));
  symlinkSync('loop-a', join(root, 'loop-b'));
  symlinkSync('../../../../../../etc', join(root, 'boot/escape')); // climbs above / and stays inside
  writeFileSync(join(root, 'boot/grub/grub.cfg'), 'set default=0\n');
  for (let i = 0; i < 600; i++) writeFileSync(join(root, 'many', `file-with-a-long-name-${i}`), `${i}\n`);
}

const tree = join(dir, 'tree');
makeTree(tree);

function mkfs(name: string, args: string[], sizeMiB = 48, htree = false): string {
  const img = join(dir, name);
  rmSync(img, { force: true });
  execFileSync('mke2fs', ['-q', '-F', ...args, '-d', tree, img, `${sizeMiB}M`], { env: { ...process.env, MKE2FS_CONFIG: '/etc/mke2fs.conf' } });
  if (htree) {
    // e2fsck -D rebuilds directories as htree indexes (mke2fs -d writes linear ones).
    try {
      execFileSync('e2fsck', ['-fyD', img], { stdio: 'ignore' });
    } catch (err) {
      if ((err as { status?: number }).status !== 1) throw err; // 1 = filesystem changed, the point
    }
  }
  return img;
}

const variants: [string, string[], boolean?][] = [
  ['ext4 default (extents, 64bit, metadata_csum, flex_bg)', ['-t', 'ext4']],
  ['ext4 with htree directories', ['-t', 'ext4'], true],
  ['ext4 inline_data, 256-byte inodes', ['-t', 'ext4', '-O', 'inline_data', '-I', '256']],
  ['ext4 1 KiB blocks, no 64bit', ['-t', 'ext4', '-b', '1024', '-O', '^64bit']],
  ['ext4 meta_bg', ['-t', 'ext4', '-O', 'meta_bg,^resize_inode', '-b', '1024']],
  ['ext3 (block maps, journal), 1 KiB blocks', ['-t', 'ext3', '-b', '1024']],
  ['ext2 (block maps), 128-byte inodes, htree', ['-t', 'ext2', '-I', '128'], true],
];

for (const [label, args, htree] of variants) {
  test(`reads every file, symlink and directory of a real mkfs image: ${label}`, () => {
    const img = mkfs(`${label.replace(/\W+/g, '_')}.img`, args, 48, htree);
    const src = openSource(img);
    assert.ok(isExt4(src));
    const fs = openExt4(src);
    const checked = compareTree(fs, tree, fs.root(), { extraNames: ['lost+found'] });
    assert.ok(checked > 600);
    const expectType = args[1];
    assert.equal(fs.type, expectType);
    assert.equal(fs.uuid, execFileSync('blkid', ['-o', 'value', '-s', 'UUID', img], { encoding: 'utf8' }).trim());
    if (htree) {
      const many = fs.lookup(fs.root(), 'many')!;
      const inode = (fs as ReturnType<typeof openExt4>).inode(many.id);
      assert.ok(inode.flags & 0x1000, 'e2fsck -D made /many an htree directory');
    }
    src.close();
  });
}

/**
 * bigalloc: the bitmap counts clusters, so a group spans more blocks than the block size times 8;
 * inode tables, descriptors and extents still count blocks. Read against debugfs's own view of
 * the same image (rdump) as well as against the tree it was built from.
 */
for (const [label, args, sizeMiB] of [
  ['4 KiB blocks, 64 KiB clusters', ['-t', 'ext4', '-b', '4096', '-O', 'bigalloc', '-C', '65536'], 160],
  // 128 MiB groups and few inodes per group: inodes and directories in groups past the first.
  ['1 KiB blocks, 16 KiB clusters, 4 groups', ['-t', 'ext4', '-b', '1024', '-O', 'bigalloc', '-C', '16384', '-N', '1024'], 480],
  ['1 KiB blocks, 16 KiB clusters, meta_bg', ['-t', 'ext4', '-b', '1024', '-O', 'bigalloc,meta_bg,^resize_inode', '-C', '16384', '-N', '1024'], 481],
] as const) {
  test(`bigalloc (${label}): every file reads as debugfs reads it`, () => {
    const img = mkfs(`bigalloc-${sizeMiB}.img`, [...args], sizeMiB);
    const fs = openExt4(openSource(img));
    const head = execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.match(head, /bigalloc/);
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(head)![1]);
    assert.ok(fs.sb.blocksPerGroup > fs.sb.blockSize * 8, 'a group spans more blocks than one bitmap block counts');
    assert.equal(fs.sb.blocksPerGroup, field('Blocks per group'));
    assert.equal(fs.sb.clustersPerGroup, field('Clusters per group'));
    assert.equal(fs.sb.clusterSize, field('Cluster size'));
    const dumped = join(dir, `rdump-${sizeMiB}`);
    rmSync(dumped, { recursive: true, force: true });
    mkdirSync(dumped);
    execFileSync('debugfs', ['-R', `rdump / ${dumped}`, img], { stdio: 'ignore' });
    assert.ok(compareTree(fs, dumped, fs.root()) > 600, "debugfs's view");
    compareTree(fs, tree, fs.root(), { extraNames: ['lost+found'] });
    if (sizeMiB >= 480) {
      const many = fs.list(fs.lookup(fs.root(), 'many')!);
      assert.ok(many.some((e) => e.id > 2 * fs.sb.inodesPerGroup), 'inodes in the third group and beyond');
    }
  });
}

test('inline data is really used for small files and directories (so the inline path is tested)', () => {
  const img = mkfs('inline.img', ['-t', 'ext4', '-O', 'inline_data', '-I', '256']);
  const fs = openExt4(openSource(img));
  const tiny = fs.lookup(fs.lookup(fs.root(), 'etc')!, 'tiny')!;
  assert.ok(fs.inode(tiny.id).flags & 0x10000000);
  const grub = fs.lookup(fs.root(), 'boot')!;
  assert.ok(fs.inode(fs.lookup(grub, 'grub')!.id).flags & 0x10000000, 'a small directory is inline');
  const dflt = fs.lookup(fs.lookup(fs.root(), 'etc')!, 'default')!;
  assert.equal(fs.list(dflt).map((e) => e.name).join(), 'grub');
});

test('a sparse file really has a multi-level extent tree', () => {
  const img = mkfs('sparse.img', ['-t', 'ext4']);
  const fs = openExt4(openSource(img));
  const node = fs.lookup(fs.root(), 'sparse')!;
  const i = fs.inode(node.id);
  assert.ok(new DataView(i.block.buffer, i.block.byteOffset).getUint16(6, true) >= 1, 'extent depth >= 1');
});

test('a file in several extents with holes is read straight into one buffer of its size, byte-identical', () => {
  const img = mkfs('into.img', ['-t', 'ext4']);
  const disk = openSource(img);
  // Reads of more than a block go through readInto only: the file's data is never read into a
  // buffer of its own and then copied (a kernel is 8-66 MB).
  const bigReads: number[] = [];
  const counted: ByteSource = {
    ...disk,
    read(offset, length) {
      if (length > 4096) bigReads.push(length);
      return disk.read(offset, length);
    },
  };
  const fs = openExt4(counted);
  const expected = Buffer.alloc(11 * (1 << 20) + 5000);
  for (let k = 0; k < 12; k++) expected.fill(65 + k, k * (1 << 20), k * (1 << 20) + 5000);
  const sparse = fs.read(fs.lookup(fs.root(), 'sparse')!, 1 << 30);
  assert.ok(Buffer.from(sparse).equals(expected));
  const kernel = fs.read(fs.lookup(fs.lookup(fs.root(), 'boot')!, 'vmlinuz-6.1.0-test')!, 1 << 30);
  assert.ok(Buffer.from(kernel).equals(readFileSync(join(tree, 'boot/vmlinuz-6.1.0-test'))));
  assert.deepEqual(bigReads, []);
  disk.close();
});

test('paths: relative, absolute, .. above root, dangling and looping symlinks', () => {
  const img = mkfs('paths.img', ['-t', 'ext4']);
  const root = openExt4(openSource(img));
  const t = { root, mounts: [] };
  const os = readPath(t, '/etc/os-release', 1 << 20);
  assert.ok(os.ok);
  assert.equal(os.path, '/usr/lib/os-release');
  assert.match(Buffer.from(os.data).toString(), /bookworm/);
  const viaEscape = resolve(t, '/boot/escape/default/grub');
  assert.ok(viaEscape.ok && viaEscape.path === '/etc/default/grub');
  const long = resolve(t, '/longlink/grub.cfg');
  assert.ok(long.ok && long.path === '/boot/grub/grub.cfg');
  const dangling = resolve(t, '/dangling');
  assert.ok(!dangling.ok && dangling.error === 'ENOENT');
  const loop = resolve(t, '/loop-a');
  assert.ok(!loop.ok && loop.error === 'ELOOP');
  const notdir = resolve(t, '/etc/tiny/x');
  assert.ok(!notdir.ok && notdir.error === 'ENOTDIR');
  const lstat = resolve(t, '/vmlinuz', false);
  assert.ok(lstat.ok && lstat.node.kind === 'symlink');
  assert.ok(!readPath(t, '/vmlinuz', 1000).ok, 'a size cap refuses the big file');
});

test('mounts: a separate /boot filesystem is entered at its mountpoint, .. leaves it', () => {
  const bootTree = join(dir, 'boottree');
  mkdirSync(join(bootTree, 'grub'), { recursive: true });
  writeFileSync(join(bootTree, 'grub/grub.cfg'), 'from the boot partition\n');
  const bootImg = join(dir, 'boot.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext2', '-d', bootTree, bootImg, '8M']);
  const root = openExt4(openSource(mkfs('root2.img', ['-t', 'ext4'])));
  const boot = openExt4(openSource(bootImg));
  const t = { root, mounts: [{ mountpoint: '/boot', fs: boot }] };
  const cfg = readPath(t, '/boot/grub/grub.cfg', 1 << 20);
  assert.ok(cfg.ok);
  assert.equal(Buffer.from(cfg.data).toString(), 'from the boot partition\n');
  assert.equal(cfg.fs, boot);
  const back = readPath(t, '/boot/../etc/default/grub', 1 << 20);
  assert.ok(back.ok && back.fs === root);
});

test('a corrupted superblock is a clear error; a non-ext4 source is not ext4', () => {
  const img = readFileSync(mkfs('corrupt.img', ['-t', 'ext4'], 16));
  const bytes = new Uint8Array(img);
  const bad = bytes.slice();
  bad[1024 + 0x18] = 9; // log block size
  assert.throws(() => openExt4(memorySource(bad, 'bad.img')), /bad.img: corrupt ext4 superblock: block size/);
  const bad2 = bytes.slice();
  new DataView(bad2.buffer).setUint32(1024 + 0x4, 0xffffffff, true); // blocks count past the device
  assert.throws(() => openExt4(memorySource(bad2, 'bad2.img')), /exceed the/);
  const bad3 = bytes.slice();
  bad3[1024 + 0x38] = 0;
  assert.equal(isExt4(memorySource(bad3)), false);
  assert.throws(() => openExt4(memorySource(bad3, 'bad3.img')), /bad magic/);
});

test('a directory is read once however often it is looked in; its listing is shared and frozen', () => {
  const src = openSource(mkfs('listed.img', ['-t', 'ext4']));
  let reads = 0;
  const fs = openExt4({ ...src, read: (offset: number, length: number) => (reads++, src.read(offset, length)) });
  const root = fs.root();
  const first = fs.list(root);
  const before = reads;
  for (const name of ['etc', 'boot', 'no-such-entry']) fs.lookup(root, name);
  assert.equal(fs.list(root), first);
  assert.ok(Object.isFrozen(first));
  // The lookups above read the inodes they found, but not the root directory again.
  const again = reads;
  fs.list(root);
  fs.lookup(root, 'etc');
  assert.equal(reads, again);
  assert.ok(before > 0);
});
