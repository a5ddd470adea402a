/**
 * The XFS reader on filesystems written by Linux's own XFS driver (see testdata/linux.ts): a file
 * with 40 extents and holes in a bmbt, fallocated (unwritten) extents, a kernel-written remote
 * symlink with its XSLM header, a leaf directory, a real Debian kernel, and a log left dirty by a
 * crash. Checked against the source bytes, xfs_db and xfs_logprint. Needs guestfish
 * (libguestfs-tools), which boots its appliance under QEMU; skipped, saying so, without it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hasGuestfish } from '../../../test/support/libguestfs.ts';
import { openSource } from '../../disk/source.ts';
import { readPath, resolve } from '../path.ts';
import { FORMAT } from './layout.ts';
import { LINUX_XFS, type LinuxXfs, linuxXfsImages } from './testdata/linux.ts';
import { openXfs } from './xfs.ts';

const skip = hasGuestfish() ? false : 'guestfish (libguestfs-tools) is not installed: no Linux-written XFS image';
let img: LinuxXfs;
before(async () => {
  if (!skip) img = await linuxXfsImages();
});

const xfsDb = (file: string, ...cmds: string[]) => execFileSync('xfs_db', ['-r', ...cmds.flatMap((c) => ['-c', c]), file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const dbBmap = (file: string, path: string) =>
  [...xfsDb(file, `path ${path}`, 'bmap').matchAll(/data offset (\d+) startblock (\d+) \(\d+\/\d+\) count (\d+) flag (\d)/g)].map((m) => ({
    offset: Number(m[1]),
    block: Number(m[2]),
    count: Number(m[3]),
    unwritten: m[4] === '1',
  }));

test('Linux-written XFS: a bmbt file with holes, unwritten extents, a remote symlink, a leaf directory, the kernel', { skip }, () => {
  const fs = openXfs(openSource(img.clean));
  const t = { root: fs, mounts: [] };
  assert.match(execFileSync('xfs_logprint', ['-t', img.clean], { encoding: 'utf8' }), /state: <CLEAN>/);
  assert.deepEqual(fs.warnings, [], 'unmounted cleanly by Linux: a clean log');

  const sparse = fs.lookup(fs.root(), 'sparse')!;
  const si = fs.inode(sparse.id);
  assert.equal(si.format, FORMAT.BTREE, 'Linux gave the 40-extent file a bmbt');
  assert.deepEqual(fs.extents(si), dbBmap(img.clean, '/sparse'));
  assert.equal(fs.extents(si).length, LINUX_XFS.sparseChunks.length);
  const want = Buffer.alloc(LINUX_XFS.sparseSize);
  for (const c of LINUX_XFS.sparseChunks) want.write(c.text, c.at);
  assert.ok(Buffer.from(fs.read(sparse, 64 << 20)).equals(want), 'holes read as zeros, chunks where they were written');

  const pre = fs.lookup(fs.root(), 'prealloc')!;
  const pe = fs.extents(fs.inode(pre.id));
  assert.deepEqual(pe, dbBmap(img.clean, '/prealloc'));
  assert.ok(pe.some((e) => e.unwritten) && pe.some((e) => !e.unwritten), 'written and unwritten extents');
  const wantPre = Buffer.alloc(LINUX_XFS.preallocSize);
  wantPre.write(LINUX_XFS.preallocWrite.text, LINUX_XFS.preallocWrite.at);
  assert.ok(Buffer.from(fs.read(pre, 64 << 20)).equals(wantPre), 'unwritten extents read as zeros');

  const long = resolve(t, '/longlink', false);
  assert.ok(long.ok);
  assert.equal(fs.inode(long.node.id).format, FORMAT.EXTENTS, 'a remote symlink');
  assert.match(xfsDb(img.clean, 'path /longlink', 'dblock 0', 'type symlink', 'print magic crc'), /magic = 0x58534c4d\ncrc = 0x[0-9a-f]+ \(correct\)/);
  assert.equal(fs.readlink(long.node), LINUX_XFS.longTarget);
  const viaLong = resolve(t, `/longlink/${img.kernelName}`);
  assert.ok(viaLong.ok && viaLong.path === `/boot/${img.kernelName}`);

  const k = readPath(t, '/vmlinuz', 64 << 20);
  assert.ok(k.ok && k.path === `/boot/${img.kernelName}`);
  assert.ok(Buffer.from(k.data).equals(readFileSync(img.kernelPath)), 'the kernel written by Linux reads back byte-identical');

  const many = fs.lookup(fs.root(), 'many')!;
  assert.ok(many.size > fs.sb.dirBlockSize, 'a leaf directory (several directory blocks)');
  assert.deepEqual(fs.list(many).map((e) => e.name).sort(), [...LINUX_XFS.manyNames].sort());
  const dbNames = [...xfsDb(img.clean, 'ls /many').matchAll(/ (\S+) \(good\)/g)].map((m) => m[1]).filter((n) => n !== '.' && n !== '..');
  assert.deepEqual(dbNames.sort(), [...LINUX_XFS.manyNames].sort());
});

test('Linux-written XFS after a crash: the dirty log is reported (xfs_logprint agrees), files still read', { skip }, () => {
  assert.match(execFileSync('xfs_logprint', ['-t', img.crashed], { encoding: 'utf8' }), /state: <DIRTY>/);
  const fs = openXfs(openSource(img.crashed));
  assert.equal(fs.warnings.length, 1);
  assert.match(fs.warnings[0]!, /the XFS log needs recovery \(not shut down cleanly, or in use\); it is not replayed/);
  const k = readPath({ root: fs, mounts: [] }, '/vmlinuz', 64 << 20);
  assert.ok(k.ok && Buffer.from(k.data).equals(readFileSync(img.kernelPath)));
});
