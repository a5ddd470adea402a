/**
 * A read-only ext2/3/4 reader: superblock, group descriptors (32- and 64-bit, meta_bg), inodes,
 * extent trees and classic block maps, linear and htree directories, fast and slow symlinks,
 * inline data, bigalloc (clusters of blocks). It never writes, replays no journal, and bounds every count it follows from the
 * guest: extent depth and node count, indirect-block fan-out, directory size and file size.
 * htree directories are read by walking their blocks linearly, as libext2fs's dir_iterate does:
 * the index blocks look like one empty dirent, so every leaf entry is seen.
 * Reference: Linux fs/ext4/ext4.h, ext4_extents.h, Documentation/filesystems/ext4/.
 */
import { type ByteSource, OutOfBounds, view } from '../../disk/source.ts';
import { nodeKind } from '../mode.ts';
import { type DirEntry, type Filesystem, FsError, type FsNode } from '../types.ts';
import { type Overlay, replayJournal, unescapeBlock } from './journal.ts';
import {
  COMPAT_HAS_JOURNAL,
  INCOMPAT,
  INCOMPAT_SUPPORTED,
  INODE_FLAGS,
  ROOT_INO,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  SUPERBLOCK_OFFSET,
  type Superblock,
  parseSuperblock,
} from './layout.ts';

/** Linux's EXT4_MAX_EXTENT_DEPTH is 5. */
const MAX_EXTENT_DEPTH = 5;
/** Extent-tree and indirect blocks read for one file before giving up. */
const MAX_MAP_BLOCKS = 65536;
/** Runs (contiguous extents) kept for one file. */
const MAX_RUNS = 1 << 20;
/** A directory larger than this is not read (a /boot or /etc has a few hundred entries). */
export const MAX_DIR_BYTES = 64 * 1024 * 1024;
const MAX_DIR_ENTRIES = 1 << 20;
/** Directory listings kept (frozen: callers share them), each of at most DIR_CACHE_ENTRIES entries. */
const DIR_CACHE = 64;
const DIR_CACHE_ENTRIES = 4096;
/** Inodes kept in the cache. */
const INODE_CACHE = 4096;

export type Inode = {
  ino: number;
  mode: number;
  size: number;
  flags: number;
  /** The 60-byte i_block area: block map, extent root, fast symlink or inline data. */
  block: Uint8Array;
  raw: Uint8Array;
};

type Run = { logical: number; physical: number; length: number; zero: boolean };

/**
 * True when the source carries an ext2/3/4 superblock magic (no other checks).
 * @example
 * isExt4(partitionSource(disk, part)) // => true for an ext2/3/4 superblock
 */
export function isExt4(src: ByteSource): boolean {
  if (src.size < SUPERBLOCK_OFFSET + 1024) return false;
  const b = src.read(SUPERBLOCK_OFFSET + 0x38, 2);
  return b[0] === 0x53 && b[1] === 0xef;
}

/**
 * Opens an ext2/3/4 filesystem read-only; throws FsError with a one-line cause when it cannot.
 * @example
 * const fs = openExt4(openSource('root.img')); fs.read(fs.lookup(fs.root(), 'etc')!, 1 << 20)
 */
export function openExt4(src: ByteSource): Filesystem & { sb: Superblock; inode(ino: number): Inode } {
  if (src.size < SUPERBLOCK_OFFSET + 1024) throw new FsError(`${src.name}: too small for an ext2/3/4 filesystem`);
  const sb = parseSuperblock(src.read(SUPERBLOCK_OFFSET, 1024), src.size, src.name);
  const name = src.name;
  const bs = sb.blockSize;
  const warnings: string[] = [];
  const unsupported = sb.featureIncompat & ~INCOMPAT_SUPPORTED;
  if (unsupported !== 0) throw new FsError(`${name}: ext4 incompatible features 0x${unsupported.toString(16)} are not supported`);
  const is64 = (sb.featureIncompat & INCOMPAT.BIT64) !== 0;
  const fileType = (sb.featureIncompat & INCOMPAT.FILETYPE) !== 0;
  const type = sb.featureIncompat & (INCOMPAT.EXTENTS | INCOMPAT.BIT64 | INCOMPAT.FLEX_BG | INCOMPAT.INLINE_DATA)
    ? 'ext4'
    : sb.featureCompat & COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';

  // Blocks whose newest copy is in the journal (filled below when the journal needs recovery).
  let overlay: Overlay = new Map();
  let journalBlockAt: (n: number) => Uint8Array = () => new Uint8Array(0);
  /** Reads bytes of the filesystem as they are after a journal replay (never writing anything). */
  const readBytes = (offset: number, length: number): Uint8Array => {
    if (overlay.size === 0) return src.read(offset, length);
    const firstBlock = Math.floor(offset / bs);
    const lastBlock = Math.floor((offset + length - 1) / bs);
    let hit = false;
    for (let b = firstBlock; b <= lastBlock && !hit; b++) hit = overlay.has(b);
    if (!hit) return src.read(offset, length);
    const out = new Uint8Array(length);
    for (let b = firstBlock; b <= lastBlock; b++) {
      const o = overlay.get(b);
      let data = o === undefined ? src.read(b * bs, bs) : journalBlockAt(o.journalBlock);
      if (o?.escape) data = unescapeBlock(data);
      const from = Math.max(offset, b * bs);
      const to = Math.min(offset + length, (b + 1) * bs);
      out.set(data.subarray(from - b * bs, to - b * bs), from - offset);
    }
    return out;
  };
  const checkBlocks = (block: number, count: number): void => {
    if (!Number.isSafeInteger(block) || block < 0 || block + count > sb.blocksCount) {
      throw new FsError(`${name}: block ${block} is outside the filesystem (${sb.blocksCount} blocks)`);
    }
  };
  const readBlocks = (block: number, count: number): Uint8Array => {
    checkBlocks(block, count);
    return readBytes(block * bs, count * bs);
  };
  /** Fills `target` from the start of `block` on (the file's last block may be cut short). */
  const readBlocksInto = (block: number, target: Uint8Array): void => {
    const count = Math.ceil(target.length / bs);
    checkBlocks(block, count);
    // whole blocks must lie on the disk, as readBlocks asks (the same error for a cut-short image)
    if ((block + count) * bs > src.size) src.read(block * bs, count * bs);
    if (overlay.size === 0) src.readInto(block * bs, target);
    else target.set(readBytes(block * bs, target.length));
  };

  const descPerBlock = bs / sb.descSize;
  const descBlocks = new Map<number, Uint8Array>();
  /** Has group g a superblock backup (sparse_super: 0, 1 and powers of 3, 5, 7)? */
  const hasSuper = (g: number): boolean => {
    if (g <= 1) return true;
    if (!(sb.featureRoCompat & 0x1)) return true;
    for (const base of [3, 5, 7]) {
      let p = base;
      while (p < g) p *= base;
      if (p === g) return true;
    }
    return false;
  };
  // The superblock's own block: 1 with 1 KiB blocks, else 0. Under bigalloc with 1 KiB blocks
  // s_first_data_block is 0 yet the superblock is still in block 1, so it is not the same thing.
  const superBlockNo = Math.floor(SUPERBLOCK_OFFSET / bs);
  const descBlockLocation = (i: number): number => {
    // Linux's descriptor_loc() (fs/ext4/super.c), libext2fs's ext2fs_descriptor_block_loc2():
    // the descriptors follow the superblock; with meta_bg, block i lives in its own meta group.
    if (!(sb.featureIncompat & INCOMPAT.META_BG) || i < sb.firstMetaBg) return superBlockNo + 1 + i;
    const g = i * descPerBlock;
    const groupStart = g === 0 ? superBlockNo : sb.firstDataBlock + g * sb.blocksPerGroup;
    return groupStart + (hasSuper(g) ? 1 : 0);
  };
  const inodeTable = (group: number): number => {
    const i = Math.floor(group / descPerBlock);
    let blk = descBlocks.get(i);
    if (blk === undefined) {
      blk = readBlocks(descBlockLocation(i), 1);
      descBlocks.set(i, blk);
    }
    const dv = view(blk);
    const at = (group % descPerBlock) * sb.descSize;
    const lo = dv.getUint32(at + 0x8, true);
    const hi = is64 && sb.descSize >= 64 ? dv.getUint32(at + 0x28, true) : 0;
    return lo + hi * 2 ** 32;
  };

  const cache = new Map<number, Inode>();
  const inode = (ino: number): Inode => {
    const hit = cache.get(ino);
    if (hit !== undefined) return hit;
    if (!Number.isSafeInteger(ino) || ino < 1 || ino > sb.inodesCount) throw new FsError(`${name}: inode ${ino} is out of range`);
    const group = Math.floor((ino - 1) / sb.inodesPerGroup);
    const index = (ino - 1) % sb.inodesPerGroup;
    const table = inodeTable(group);
    const byte = table * bs + index * sb.inodeSize;
    if (table + Math.ceil(((index + 1) * sb.inodeSize) / bs) > sb.blocksCount) {
      throw new FsError(`${name}: inode table of group ${group} is outside the filesystem`);
    }
    const raw = readBytes(byte, sb.inodeSize);
    const dv = view(raw);
    const mode = dv.getUint16(0, true);
    const flags = dv.getUint32(0x20, true);
    const size = dv.getUint32(0x4, true) + ((mode & S_IFMT) === S_IFDIR && !(sb.featureIncompat & INCOMPAT.LARGEDIR) ? 0 : dv.getUint32(0x6c, true) * 2 ** 32);
    const node: Inode = { ino, mode, size, flags, block: raw.subarray(0x28, 0x28 + 60), raw };
    if (cache.size >= INODE_CACHE) cache.clear();
    cache.set(ino, node);
    return node;
  };

  const stat = (ino: number): FsNode => {
    const i = inode(ino);
    if (i.mode === 0) throw new FsError(`${name}: inode ${ino} is not in use`);
    return { id: ino, kind: nodeKind(i.mode), size: i.size };
  };

  /** The runs of blocks holding logical blocks [0, nblocks) of the inode. */
  const mapBlocks = (i: Inode, nblocks: number): Run[] => {
    const runs: Run[] = [];
    let budget = MAX_MAP_BLOCKS;
    const spend = () => {
      if (--budget < 0) throw new FsError(`${name}: inode ${i.ino}: block map too large or looping`);
    };
    const push = (r: Run) => {
      if (runs.length >= MAX_RUNS) throw new FsError(`${name}: inode ${i.ino}: more than ${MAX_RUNS} extents`);
      const last = runs[runs.length - 1];
      if (last !== undefined && !last.zero && !r.zero && last.logical + last.length === r.logical && last.physical + last.length === r.physical) {
        last.length += r.length;
      } else runs.push(r);
    };
    if (i.flags & INODE_FLAGS.EXTENTS) {
      const walk = (node: Uint8Array, depthWanted: number | null, level: number): void => {
        const dv = view(node);
        if (dv.getUint16(0, true) !== 0xf30a) throw new FsError(`${name}: inode ${i.ino}: bad extent header magic`);
        const entries = dv.getUint16(2, true);
        const max = dv.getUint16(4, true);
        const depth = dv.getUint16(6, true);
        if (entries > max || 12 + max * 12 > node.length) throw new FsError(`${name}: inode ${i.ino}: extent node claims ${entries}/${max} entries`);
        if (depth > MAX_EXTENT_DEPTH || (depthWanted !== null && depth !== depthWanted) || level > MAX_EXTENT_DEPTH) {
          throw new FsError(`${name}: inode ${i.ino}: bad extent tree depth ${depth}`);
        }
        for (let e = 0; e < entries; e++) {
          const at = 12 + e * 12;
          const lblk = dv.getUint32(at, true);
          if (lblk >= nblocks) break;
          if (depth === 0) {
            let len = dv.getUint16(at + 4, true);
            const zero = len > 32768;
            if (zero) len -= 32768;
            const start = dv.getUint16(at + 6, true) * 2 ** 32 + dv.getUint32(at + 8, true);
            push({ logical: lblk, physical: start, length: len, zero });
          } else {
            spend();
            const leaf = dv.getUint32(at + 4, true) + dv.getUint16(at + 8, true) * 2 ** 32;
            walk(readBlocks(leaf, 1), depth - 1, level + 1);
          }
        }
      };
      walk(i.block, null, 0);
      return runs;
    }
    // Classic block map: 12 direct pointers, then single, double and triple indirect blocks.
    const per = bs / 4;
    const blockAt = (k: number) => view(i.block).getUint32(k * 4, true);
    let logical = 0;
    const emit = (phys: number) => {
      if (phys !== 0) push({ logical, physical: phys, length: 1, zero: false });
      logical++;
    };
    for (let k = 0; k < 12 && logical < nblocks; k++) emit(blockAt(k));
    const indirect = (blk: number, level: number): void => {
      const span = per ** level;
      if (blk === 0) {
        logical += span; // a hole
        return;
      }
      spend();
      const dv = view(readBlocks(blk, 1));
      for (let k = 0; k < per && logical < nblocks; k++) {
        const p = dv.getUint32(k * 4, true);
        if (level === 1) emit(p);
        else indirect(p, level - 1);
      }
    };
    for (let level = 1; level <= 3 && logical < nblocks; level++) indirect(blockAt(11 + level), level);
    return runs;
  };

  /** The value of the in-inode extended attribute `system.data` (inline data beyond i_block). */
  const inlineXattr = (i: Inode): Uint8Array => {
    if (sb.inodeSize <= 128) return new Uint8Array(0);
    const dv = view(i.raw);
    const extra = dv.getUint16(0x80, true);
    const start = 128 + extra;
    if (start + 4 > i.raw.length || dv.getUint32(start, true) !== 0xea020000) return new Uint8Array(0);
    const first = start + 4;
    let at = first;
    for (let n = 0; n < 256 && at + 16 <= i.raw.length; n++) {
      const nameLen = dv.getUint8(at);
      const index = dv.getUint8(at + 1);
      if (nameLen === 0 && index === 0 && dv.getUint16(at + 2, true) === 0) break;
      const valueOffs = dv.getUint16(at + 2, true);
      const valueSize = dv.getUint32(at + 8, true);
      const entryName = new TextDecoder('latin1').decode(i.raw.subarray(at + 16, at + 16 + nameLen));
      if (index === 7 && entryName === 'data') {
        if (first + valueOffs + valueSize > i.raw.length) throw new FsError(`${name}: inode ${i.ino}: inline data attribute out of bounds`);
        return i.raw.subarray(first + valueOffs, first + valueOffs + valueSize);
      }
      at += (16 + nameLen + 3) & ~3;
    }
    return new Uint8Array(0);
  };

  const readInode = (i: Inode, max: number): Uint8Array => {
    if (i.size > max) throw new FsError(`${name}: inode ${i.ino} is ${i.size} bytes, over the ${max}-byte limit`);
    if (i.flags & INODE_FLAGS.INLINE_DATA) {
      const all = new Uint8Array(i.size);
      const head = i.block.subarray(0, Math.min(60, i.size));
      all.set(head);
      if (i.size > 60) {
        const rest = inlineXattr(i);
        all.set(rest.subarray(0, Math.min(rest.length, i.size - 60)), 60);
      }
      return all;
    }
    const out = new Uint8Array(i.size);
    const nblocks = Math.ceil(i.size / bs);
    for (const r of mapBlocks(i, nblocks)) {
      if (r.zero) continue;
      const len = Math.min(r.length, nblocks - r.logical);
      if (len <= 0) continue;
      // Read in pieces to keep each read under the byte source's cap.
      const chunk = Math.max(1, Math.floor((16 * 1024 * 1024) / bs));
      for (let k = 0; k < len; k += chunk) {
        const n = Math.min(chunk, len - k);
        const at = (r.logical + k) * bs;
        // straight into the file's buffer: a kernel is read once, not read and then copied
        readBlocksInto(r.physical + k, out.subarray(at, Math.min(at + n * bs, i.size)));
      }
    }
    return out;
  };

  const utf8 = new TextDecoder('utf-8');
  /** Parses dirents in `b`; inline directories have no `.`/`..` and start after the parent number. */
  const parseDirents = (b: Uint8Array, out: DirEntry[], blockLen: number): void => {
    const dv = view(b);
    for (let base = 0; base < b.length; base += blockLen) {
      const end = Math.min(b.length, base + blockLen);
      let at = base;
      while (at + 8 <= end) {
        const ino = dv.getUint32(at, true);
        let rec = dv.getUint16(at + 4, true);
        if (bs === 65536 && (rec === 65535 || rec === 0)) rec = 65536;
        const nameLen = fileType ? dv.getUint8(at + 6) : dv.getUint16(at + 6, true) & 0xff;
        if (rec < 8 || at + rec > end || 8 + nameLen > rec) {
          warnings.push(`${name}: corrupt directory entry at byte ${at}; rest of that block skipped`);
          break;
        }
        if (ino !== 0 && nameLen > 0) {
          const n = utf8.decode(b.subarray(at + 8, at + 8 + nameLen));
          if (n !== '.' && n !== '..') {
            if (out.length >= MAX_DIR_ENTRIES) throw new FsError(`${name}: directory has more than ${MAX_DIR_ENTRIES} entries`);
            out.push({ name: n, id: ino });
          }
        }
        at += rec;
      }
    }
  };
  // Directories listed before (an inspection looks up /, /boot and /etc dozens of times): the
  // filesystem is read-only, and the journal's overlay is in place before any listing.
  const listed = new Map<number, readonly DirEntry[]>();
  const list = (dir: FsNode): DirEntry[] => {
    const hit = listed.get(dir.id);
    if (hit !== undefined) return hit as DirEntry[];
    const out = listUncached(dir);
    if (out.length > DIR_CACHE_ENTRIES) return out;
    if (listed.size >= DIR_CACHE) listed.clear();
    listed.set(dir.id, Object.freeze(out));
    return out;
  };
  const listUncached = (dir: FsNode): DirEntry[] => {
    const i = inode(dir.id);
    if ((i.mode & S_IFMT) !== S_IFDIR) throw new FsError(`${name}: inode ${dir.id} is not a directory`);
    if (i.flags & INODE_FLAGS.ENCRYPT) throw new FsError(`${name}: directory inode ${dir.id} is encrypted`);
    const out: DirEntry[] = [];
    if (i.flags & INODE_FLAGS.INLINE_DATA) {
      // i_block: 4-byte parent inode, then dirents to byte 60; more dirents in system.data.
      parseDirents(i.block.subarray(4, 60), out, 56);
      const rest = inlineXattr(i);
      if (rest.length > 0) parseDirents(rest, out, rest.length);
      return out;
    }
    const data = readInode(i, MAX_DIR_BYTES);
    parseDirents(data, out, bs);
    return out;
  };

  if (sb.featureIncompat & INCOMPAT.RECOVER) {
    try {
      const j = view(src.read(SUPERBLOCK_OFFSET + 0xe0, 8));
      const journalInum = j.getUint32(0, true);
      if (j.getUint32(4, true) !== 0 || journalInum === 0) throw new FsError('the journal is on another device');
      const ji = inode(journalInum);
      const nblocks = Math.ceil(ji.size / bs);
      const runs = mapBlocks(ji, nblocks);
      journalBlockAt = (n: number) => {
        const r = runs.find((x) => n >= x.logical && n < x.logical + x.length);
        if (r === undefined || r.zero) throw new FsError(`${name}: journal block ${n} is not mapped`);
        const phys = r.physical + (n - r.logical);
        if (phys >= sb.blocksCount) throw new FsError(`${name}: journal block ${n} is outside the filesystem`);
        return src.read(phys * bs, bs);
      };
      const replay = replayJournal(journalBlockAt, nblocks);
      overlay = replay.overlay;
      cache.clear();
      listed.clear();
      descBlocks.clear();
      warnings.push(
        `${name}: the journal needed recovery (not shut down cleanly); ${overlay.size} block(s) read from it, as the kernel would replay them`,
        ...replay.warnings.map((w) => `${name}: ${w}`),
      );
    } catch (err) {
      if (!(err instanceof FsError || err instanceof RangeError || err instanceof OutOfBounds)) throw err;
      warnings.push(`${name}: the journal could not be replayed (${err.message}); files changed just before may read as they were`);
    }
  }

  const fs: Filesystem & { sb: Superblock; inode(ino: number): Inode } = {
    type,
    name,
    uuid: sb.uuid,
    label: sb.label,
    warnings,
    sb,
    inode,
    root: () => stat(ROOT_INO),
    stat,
    list,
    lookup(dir, wanted) {
      const hit = list(dir).find((e) => e.name === wanted);
      return hit === undefined ? null : stat(hit.id);
    },
    read(node, max) {
      return readInode(inode(node.id), max);
    },
    fingerprint(node) {
      const i = inode(node.id);
      const dv = view(i.raw);
      // i_ctime, i_mtime, i_generation, and the nanosecond extras when the inode is large enough.
      const extra = sb.inodeSize > 128 && i.raw.length >= 0x8c ? `${dv.getUint32(0x84, true)}.${dv.getUint32(0x88, true)}` : '';
      return `${sb.uuid}:${node.id}:${dv.getUint32(0x64, true)}:${i.size}:${dv.getUint32(0x0c, true)}:${dv.getUint32(0x10, true)}:${extra}`;
    },
    readlink(node) {
      const i = inode(node.id);
      if ((i.mode & S_IFMT) !== S_IFLNK) throw new FsError(`${name}: inode ${node.id} is not a symlink`);
      if (i.size > 4096) throw new FsError(`${name}: symlink inode ${node.id} is ${i.size} bytes long`);
      // A fast symlink keeps its target in i_block (no extents, no inline data, under 60 bytes).
      const fast = i.size < 60 && !(i.flags & (INODE_FLAGS.EXTENTS | INODE_FLAGS.INLINE_DATA));
      const bytes = fast ? i.block.subarray(0, i.size) : readInode(i, 4096);
      return utf8.decode(bytes);
    },
  };
  return fs;
}

