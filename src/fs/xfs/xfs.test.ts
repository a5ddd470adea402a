import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { debianKernel } from '../../debian/apt.ts';
import { memorySource, openSource } from '../../disk/source.ts';
import { readPath, resolve } from '../path.ts';
import { compareTree } from '../testdata/compare.ts';
import { FORMAT } from './layout.ts';
import { mkfsXfs } from './testdata/proto.ts';
import { isXfs, openXfs } from './xfs.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-xfs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tree = join(dir, 'tree');
let kernelName = '';

/**
 * A tree that exercises every format: a short-form directory, block, leaf and node directories
 * (20, 200 and 3000 names), a real Debian kernel, a 12 MiB patterned file, empty and tiny files,
 * short (inline) and long (remote) symlinks, dangling and looping ones. mkfs.xfs 6.1's proto code
 * allocates a file in one extent (a file larger than its AG's free space comes out truncated), so
 * regular files here have one extent each; several extents and a bmbt come from the 3000-name
 * directory, whose blocks mkfs allocates between its files' blocks.
 */
before(async () => {
  const k = await debianKernel('amd64');
  kernelName = `vmlinuz-${k.release}`;
  mkdirSync(join(tree, 'etc/default'), { recursive: true });
  mkdirSync(join(tree, 'boot/grub2'), { recursive: true });
  mkdirSync(join(tree, 'boot/loader/entries'), { recursive: true });
  mkdirSync(join(tree, 'usr/lib'), { recursive: true });
  copyFileSync(k.vmlinuz, join(tree, 'boot', kernelName));
  writeFileSync(join(tree, 'usr/lib/os-release'), 'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.4"\n');
  symlinkSync('../usr/lib/os-release', join(tree, 'etc/os-release'));
  writeFileSync(join(tree, 'etc/empty'), '');
  writeFileSync(join(tree, 'etc/tiny'), 'x');
  writeFileSync(join(tree, 'etc/default/grub'), 'GRUB_DEFAULT=saved\n'.repeat(10));
  writeFileSync(join(tree, 'boot/grub2/grubenv'), '# GRUB Environment Block\nsaved_entry=abc\n'.padEnd(1024, '#'));
  writeFileSync(join(tree, 'boot/loader/entries/abc.conf'), `title Rocky\nlinux /${kernelName}\n`);
  const big = Buffer.alloc(12 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(join(tree, 'big'), big);
  for (const [d, n] of [['few', 20], ['mid', 200], ['many', 3000]] as const) {
    mkdirSync(join(tree, d));
    for (let i = 0; i < n; i++) writeFileSync(join(tree, d, `file-with-a-rather-long-name-${i}`), `${d} ${i}\n`);
  }
  symlinkSync(`/boot/${kernelName}`, join(tree, 'vmlinuz'));
  // Over the inode's literal area (336 bytes with 512-byte inodes): a remote symlink.
  symlinkSync('/' + './'.repeat(300) + 'usr/../boot/grub2', join(tree, 'longlink'));
  symlinkSync('/nonexistent/file', join(tree, 'dangling'));
  symlinkSync('loop-b', join(tree, 'loop-a'));
  symlinkSync('loop-a', join(tree, 'loop-b'));
  symlinkSync('../../../../../../etc', join(tree, 'boot/escape'));
});

const xfsDb = (img: string, ...cmds: string[]) => execFileSync('xfs_db', ['-r', ...cmds.flatMap((c) => ['-c', c]), img], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });

/** xfs_db's `ls` of a directory: name → inode number (the oracle for our listings). */
function dbList(img: string, path: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of xfsDb(img, `ls ${path}`).split('\n')) {
    const m = /^\d+\s+(\d+)\s+\S+\s+\S+\s+\d+\s+(\S+) \(good\)$/.exec(line.trim());
    if (m && m[2] !== '.' && m[2] !== '..') out.set(m[2]!, Number(m[1]));
  }
  return out;
}

/** xfs_db's `bmap` of a path: the data fork's extents (the oracle for our extent decoding). */
function dbBmap(img: string, path: string): { offset: number; block: number; count: number; unwritten: boolean }[] {
  return [...xfsDb(img, `path ${path}`, 'bmap').matchAll(/data offset (\d+) startblock (\d+) \(\d+\/\d+\) count (\d+) flag (\d)/g)].map((m) => ({
    offset: Number(m[1]),
    block: Number(m[2]),
    count: Number(m[3]),
    unwritten: m[4] === '1',
  }));
}

const dbField = (img: string, path: string, field: string) => /= (\d+)/.exec(xfsDb(img, `path ${path}`, `print ${field}`))![1];

const variants: [string, string[]][] = [
  ['v5 default (crc, ftype, bigtime, sparse inodes)', []],
  ['v4 (-m crc=0)', ['-m', 'crc=0']],
  ['v4 without ftype, 256-byte inodes', ['-m', 'crc=0', '-n', 'ftype=0', '-i', 'size=256']],
  ['v5, 1 KiB blocks, 8 KiB directory blocks', ['-b', 'size=1024', '-n', 'size=8192']],
];

for (const [label, args] of variants) {
  test(`reads every file, symlink and directory of a real mkfs.xfs image, checked against xfs_db: ${label}`, () => {
    const img = join(dir, `${label.replace(/\W+/g, '_')}.img`);
    // 32 MiB AGs: directories (and their inodes) land in several AGs, so inode numbers carry AG bits.
    mkfsXfs(img, tree, 256, [...args, '-d', 'agsize=32m', '-L', 'rootfs']);
    const src = openSource(img);
    assert.ok(isXfs(src));
    const fs = openXfs(src);
    assert.equal(fs.type, 'xfs');
    assert.deepEqual(fs.warnings, [], 'a fresh filesystem has a clean log');
    assert.equal(fs.uuid, execFileSync('blkid', ['-o', 'value', '-s', 'UUID', img], { encoding: 'utf8' }).trim());
    assert.equal(fs.label, 'rootfs');
    assert.equal(fs.sb.version, args.includes('crc=0') ? 4 : 5);
    // mkfs.xfs 6.1's proto code writes a v5 remote symlink without its XSLM header (xfs_db reports
    // a CRC error on that block); the kernel's verifier refuses such a link, and so does the reader.
    const v5 = fs.sb.version === 5;
    assert.ok(compareTree(fs, tree, fs.root(), { refused: new Map(v5 ? [['/longlink', /remote block has bad magic/]] : []) }) > 3200);
    if (v5) assert.match(xfsDb(img, 'path /longlink', 'dblock 0', 'type symlink', 'print magic'), /magic = 0x2f2e2f2e/);
    else {
      const viaLong = readPath({ root: fs, mounts: [] }, '/longlink/grubenv', 4096);
      assert.ok(viaLong.ok && viaLong.path === '/boot/grub2/grubenv', 'a v4 remote symlink is followed');
    }

    // Directory formats, as xfs_db reports them, and listings with xfs_db's inode numbers.
    const root = fs.root();
    const formats: Record<string, number> = {};
    for (const d of ['etc', 'few', 'mid', 'many']) {
      const node = fs.lookup(root, d)!;
      formats[d] = fs.inode(node.id).format;
      assert.equal(String(formats[d]), dbField(img, `/${d}`, 'core.format'), `/${d} format`);
      const ours = new Map(fs.list(node).map((e) => [e.name, e.id]));
      assert.deepEqual(ours, dbList(img, `/${d}`), `/${d} listing against xfs_db ls`);
    }
    assert.equal(formats.etc, FORMAT.LOCAL, 'a small directory is short-form');
    assert.equal(formats.many, FORMAT.BTREE, 'the 3000-name directory has a bmbt (node form)');
    assert.notEqual(formats.mid, FORMAT.LOCAL);
    const midBlocks = fs.extents(fs.inode(fs.lookup(root, 'mid')!.id)).reduce((n, e) => n + e.count, 0);
    assert.ok(midBlocks * fs.sb.blockSize > fs.sb.dirBlockSize, '/mid has more than one directory block (leaf form)');

    // Extents against xfs_db bmap: the big file, the kernel and the btree directory.
    for (const p of ['/big', `/boot/${kernelName}`, '/many']) {
      const node = resolve({ root: fs, mounts: [] }, p, false);
      assert.ok(node.ok);
      assert.deepEqual(fs.extents(fs.inode(node.node.id)), dbBmap(img, p), `${p} extents`);
    }
    assert.ok(fs.extents(fs.inode(fs.lookup(root, 'many')!.id)).length > 21, '/many has more extents than an inode holds');
    const agOf = (ino: number) => Math.floor(ino / 2 ** (fs.sb.agBlkLog + fs.sb.inoPBLog));
    assert.ok(['boot', 'etc', 'few', 'mid', 'many'].some((d) => agOf(fs.lookup(root, d)!.id) > 0), 'some directories live outside AG 0');
    const long = fs.inode(fs.lookup(root, 'longlink')!.id);
    assert.equal(long.format, FORMAT.EXTENTS, 'the long symlink is remote');
    assert.equal(fs.inode(fs.lookup(root, 'vmlinuz')!.id).format, FORMAT.LOCAL, 'the short symlink is inline');
    src.close();
  });
}

test('paths over XFS: the real kernel read back byte-identical through a symlink; dangling, looping, escaping links', () => {
  const img = join(dir, 'paths.img');
  mkfsXfs(img, tree, 256, ['-d', 'agsize=32m']);
  const disk = openSource(img);
  // The kernel's data goes through readInto only, straight into one buffer of the file's size:
  // no read of it into a buffer of its own to copy out of (reads over 64 KiB, a directory block).
  const bigReads: number[] = [];
  const fs = openXfs({
    ...disk,
    read(offset, length) {
      if (length > 65536) bigReads.push(length);
      return disk.read(offset, length);
    },
  });
  const t = { root: fs, mounts: [] };
  const k = readPath(t, '/vmlinuz', 64 << 20);
  assert.ok(k.ok);
  assert.equal(k.path, `/boot/${kernelName}`);
  assert.ok(Buffer.from(k.data).equals(readFileSync(join(tree, 'boot', kernelName))));
  assert.deepEqual(bigReads, []);
  assert.ok(readPath(t, '/etc/os-release', 1 << 20).ok);
  const viaEscape = resolve(t, '/boot/escape/default/grub');
  assert.ok(viaEscape.ok && viaEscape.path === '/etc/default/grub');
  const long = resolve(t, '/longlink/grubenv');
  assert.ok(!long.ok && long.error === 'EIO' && /symlink inode \d+: remote block has bad magic/.test(long.message), 'see above: mkfs 6.1 wrote it without a header');
  const dangling = resolve(t, '/dangling');
  assert.ok(!dangling.ok && dangling.error === 'ENOENT');
  const loop = resolve(t, '/loop-a');
  assert.ok(!loop.ok && loop.error === 'ELOOP');
  assert.ok(!readPath(t, '/vmlinuz', 1000).ok, 'a size cap refuses the big file');
  const a = fs.fingerprint(fs.lookup(fs.root(), 'big')!);
  assert.match(a!, new RegExp(`^${fs.uuid}:\\d+:\\d+:${12 * 1024 * 1024}:`));
  assert.notEqual(a, fs.fingerprint(fs.lookup(fs.root(), 'vmlinuz')!));
});

test('a corrupted superblock, unknown features, realtime and a dirty log: clear errors and warnings', () => {
  const img = join(dir, 'small.img');
  mkfsXfs(img, join(tree, 'etc'), 32);
  const bytes = new Uint8Array(readFileSync(img));
  const set32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer, b.byteOffset).setUint32(at, v, false);
  const bad = bytes.slice();
  set32(bad, 4, 3000); // sb_blocksize
  assert.throws(() => openXfs(memorySource(bad, 'bad.img')), /^Error: bad.img: corrupt XFS superblock: block size 3000/);
  const big = bytes.slice();
  set32(big, 8, 0x7fffffff); // sb_dblocks (low word): past the device
  assert.throws(() => openXfs(memorySource(big, 'big.img')), /do not fit|exceed the/);
  const feat = bytes.slice();
  set32(feat, 216, new DataView(bytes.buffer).getUint32(216, false) | 0x100); // METADIR
  assert.throws(() => openXfs(memorySource(feat, 'feat.img')), /feat.img: XFS incompatible features 0x100 are not supported/);
  const rt = bytes.slice();
  set32(rt, 20, 1000); // sb_rblocks
  assert.throws(() => openXfs(memorySource(rt, 'rt.img')), /realtime subvolume is not supported/);
  const magic = bytes.slice();
  magic[0] = 0;
  assert.equal(isXfs(memorySource(magic)), false);
  const repair = bytes.slice();
  set32(repair, 216, new DataView(bytes.buffer).getUint32(216, false) | 0x10); // NEEDSREPAIR
  assert.match(openXfs(memorySource(repair, 'r.img')).warnings.join(), /needing xfs_repair/);

  // A dirty log: the unmount record's flag cleared. xfs_logprint (the oracle) agrees it is dirty.
  const fs = openXfs(memorySource(bytes));
  const logAt = fs.sb.logStart % 2 ** fs.sb.agBlkLog + Math.floor(fs.sb.logStart / 2 ** fs.sb.agBlkLog) * fs.sb.agBlocks;
  const dirty = bytes.slice();
  const opFlags = logAt * fs.sb.blockSize + 512 + 9;
  assert.equal(dirty[opFlags]! & 0x20, 0x20, 'mkfs wrote an unmount record after the first log record header');
  dirty[opFlags] = 0;
  const dirtyImg = join(dir, 'dirty.img');
  writeFileSync(dirtyImg, dirty);
  assert.match(execFileSync('xfs_logprint', ['-t', img], { encoding: 'utf8' }), /state: <CLEAN>/);
  assert.match(execFileSync('xfs_logprint', ['-t', dirtyImg], { encoding: 'utf8' }), /state: <DIRTY>/);
  assert.match(openXfs(memorySource(dirty, 'dirty.img')).warnings.join(), /dirty.img: the XFS log needs recovery/);
});
