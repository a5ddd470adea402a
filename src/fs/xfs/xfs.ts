/**
 * A read-only XFS reader (v5, the default since xfsprogs 3.2.3 and on RHEL 8/9, and v4):
 * superblock, inodes located by number (AG, block, slot), the data fork in its three formats
 * (local, extent list, bmbt B+tree), directories in short-form, block and leaf/node form (only
 * the data blocks are read, as xfs_readdir does), regular files with holes and unwritten extents
 * read as zeros, local and remote symlinks. It never writes and replays no log; checksums (CRC32C)
 * are not verified, but every v5 block's magic, owner and level are, and every count, depth and
 * size followed from the guest is bounded.
 * Reference: Linux fs/xfs/libxfs/xfs_format.h, xfs_da_format.h, xfs_bmap_btree.h, xfs_dir2_*.c,
 * and the XFS Algorithms & Data Structures book (xfs-documentation).
 */
import { type ByteSource, OutOfBounds, view } from '../../disk/source.ts';
import { S_IFDIR, S_IFLNK, S_IFMT, nodeKind } from '../mode.ts';
import { type DirEntry, type Filesystem, FsError, type FsNode } from '../types.ts';
import {
  BMAP_CRC_MAGIC,
  BMAP_MAGIC,
  DIFLAG2_NREXT64,
  DIFLAG_REALTIME,
  DIR2_BLOCK_MAGIC,
  DIR2_DATA_MAGIC,
  DIR2_DATA_SPACE_BYTES,
  DIR3_BLOCK_MAGIC,
  DIR3_DATA_MAGIC,
  type Extent,
  FORMAT,
  INCOMPAT,
  SYMLINK_MAGIC,
  SYMLINK_MAXLEN,
  type Superblock,
  XFS_DINODE_MAGIC,
  XFS_SB_MAGIC,
  be64,
  decodeExtent,
  parseSuperblock,
} from './layout.ts';
import { logWarning } from './log.ts';

/** XFS_BM_MAXLEVELS for 64-bit extent counts is 9 (xfs_bmbt_maxlevels_ondisk); one spare. */
const MAX_BMBT_LEVELS = 10;
/** bmbt blocks read for one file before giving up. */
const MAX_BMBT_BLOCKS = 65536;
/** Extents kept for one file. */
const MAX_EXTENTS = 1 << 20;
/** A directory's data larger than this is not read (a /boot or /etc has a few hundred entries). */
export const MAX_DIR_BYTES = 64 * 1024 * 1024;
const MAX_DIR_ENTRIES = 1 << 20;
/** Inodes kept in the cache. */
const INODE_CACHE = 4096;
/** File bytes read per source read (a kernel is read in a few pieces). */
const READ_CHUNK = 16 * 1024 * 1024;

export type Inode = {
  ino: number;
  mode: number;
  version: number;
  format: number;
  size: number;
  /** Data fork extents as di_nextents (or di_big_nextents) gives them. */
  nextents: number;
  flags: number;
  gen: number;
  /** The data fork's bytes inside the inode (local data, extent list or bmbt root). */
  fork: Uint8Array;
  raw: Uint8Array;
};

/**
 * True when the source starts with an XFS superblock magic (no other checks).
 * @example
 * isXfs(partitionSource(disk, part)) // => true for `mkfs.xfs` output
 */
export function isXfs(src: ByteSource): boolean {
  if (src.size < 512) return false;
  return view(src.read(0, 4)).getUint32(0, false) === XFS_SB_MAGIC;
}

/**
 * Opens an XFS filesystem read-only; throws FsError with a one-line cause when it cannot.
 * @example
 * const fs = openXfs(openSource('boot.img')); fs.list(fs.root()).map((e) => e.name) // => ['grub2', 'loader', 'vmlinuz-…']
 */
export function openXfs(src: ByteSource): Filesystem & { sb: Superblock; inode(ino: number): Inode; extents(i: Inode): Extent[] } {
  if (src.size < 512) throw new FsError(`${src.name}: too small for an XFS filesystem`);
  const sb = parseSuperblock(src.read(0, 512), src.size, src.name);
  const name = src.name;
  const bs = sb.blockSize;
  const v5 = sb.version === 5;
  const warnings: string[] = [];
  if (sb.incompat & INCOMPAT.NEEDSREPAIR) warnings.push(`${name}: the XFS filesystem is marked as needing xfs_repair; files may read wrong`);
  if (sb.inProgress) warnings.push(`${name}: the XFS superblock says mkfs did not finish`);

  /** Byte offset of filesystem block `fsb` (AG number in the high bits, AG block in the low agblklog bits). */
  const fsbToByte = (fsb: number, what: string): number => {
    const agno = Math.floor(fsb / 2 ** sb.agBlkLog);
    const agbno = fsb % 2 ** sb.agBlkLog;
    const linear = agno * sb.agBlocks + agbno;
    if (!Number.isSafeInteger(fsb) || fsb < 0 || agno >= sb.agCount || agbno >= sb.agBlocks || linear >= sb.dblocks) {
      throw new FsError(`${name}: ${what}: block ${fsb} is outside the filesystem`);
    }
    return linear * bs;
  };
  const readFsBlocks = (fsb: number, count: number, what: string): Uint8Array => {
    const at = fsbToByte(fsb, what);
    // The run must stay inside its AG (extents never cross one) and the filesystem.
    fsbToByte(fsb + count - 1, what);
    return src.read(at, count * bs);
  };

  const cache = new Map<number, Inode>();
  const inode = (ino: number): Inode => {
    const hit = cache.get(ino);
    if (hit !== undefined) return hit;
    if (!Number.isSafeInteger(ino) || ino < 1) throw new FsError(`${name}: inode ${ino} is out of range`);
    // XFS_INO_TO_AGNO / AGBNO / OFFSET: the inode number is its own address.
    const slot = ino % 2 ** sb.inoPBLog;
    const agBits = sb.agBlkLog + sb.inoPBLog;
    const agno = Math.floor(ino / 2 ** agBits);
    const agbno = Math.floor(ino / 2 ** sb.inoPBLog) % 2 ** sb.agBlkLog;
    if (agno >= sb.agCount || agbno >= sb.agBlocks || agno * sb.agBlocks + agbno >= sb.dblocks) throw new FsError(`${name}: inode ${ino} is out of range`);
    const raw = src.read((agno * sb.agBlocks + agbno) * bs + slot * sb.inodeSize, sb.inodeSize);
    const dv = view(raw);
    if (dv.getUint16(0, false) !== XFS_DINODE_MAGIC) throw new FsError(`${name}: inode ${ino}: bad magic (not an inode)`);
    const version = dv.getUint8(4);
    if (v5 ? version !== 3 : version !== 1 && version !== 2) throw new FsError(`${name}: inode ${ino}: version ${version} on a v${sb.version} filesystem`);
    if (version === 3 && be64(dv, 152) !== ino) throw new FsError(`${name}: inode ${ino}: di_ino says ${be64(dv, 152)}`);
    const literal = version === 3 ? 176 : 100;
    const forkoff = dv.getUint8(82);
    const forkSize = forkoff === 0 ? sb.inodeSize - literal : forkoff * 8;
    if (literal + forkSize > sb.inodeSize) throw new FsError(`${name}: inode ${ino}: attribute fork offset ${forkoff} is past the inode`);
    const nrext64 = version === 3 && (dv.getBigUint64(120, false) & BigInt(DIFLAG2_NREXT64)) !== 0n;
    const size = be64(dv, 56);
    if (size > 2 ** 53 - 1 || size === Infinity) throw new FsError(`${name}: inode ${ino}: size out of range`);
    const node: Inode = {
      ino,
      mode: dv.getUint16(2, false),
      version,
      format: dv.getUint8(5),
      size,
      nextents: nrext64 ? be64(dv, 24) : dv.getUint32(76, false),
      flags: dv.getUint16(90, false),
      gen: dv.getUint32(92, false),
      fork: raw.subarray(literal, literal + forkSize),
      raw,
    };
    if (cache.size >= INODE_CACHE) cache.clear();
    cache.set(ino, node);
    return node;
  };

  const stat = (ino: number): FsNode => {
    const i = inode(ino);
    if (i.mode === 0) throw new FsError(`${name}: inode ${ino} is not in use`);
    return { id: ino, kind: nodeKind(i.mode), size: i.size };
  };

  /** The data fork's extents in file order, from the inode's list or its bmbt (bounded). */
  const extents = (i: Inode): Extent[] => {
    const where = `inode ${i.ino}`;
    if (i.flags & DIFLAG_REALTIME) throw new FsError(`${name}: ${where}: realtime files are not supported`);
    const out: Extent[] = [];
    const push = (e: Extent) => {
      if (out.length >= MAX_EXTENTS) throw new FsError(`${name}: ${where}: more than ${MAX_EXTENTS} extents`);
      const last = out[out.length - 1];
      // Records are sorted and disjoint; anything else is corruption (and could make reads loop).
      if (last !== undefined && e.offset < last.offset + last.count) throw new FsError(`${name}: ${where}: extents out of order at file block ${e.offset}`);
      if (e.count === 0) throw new FsError(`${name}: ${where}: empty extent at file block ${e.offset}`);
      out.push(e);
    };
    if (i.format === FORMAT.EXTENTS) {
      if (i.nextents * 16 > i.fork.length) throw new FsError(`${name}: ${where}: ${i.nextents} extents do not fit the inode's data fork`);
      const dv = view(i.fork);
      for (let k = 0; k < i.nextents; k++) push(decodeExtent(dv, k * 16));
      return out;
    }
    if (i.format !== FORMAT.BTREE) throw new FsError(`${name}: ${where}: data fork format ${i.format} has no extents`);
    // xfs_bmdr_block in the inode: level, numrecs, then keys and pointers sized to the fork.
    const root = view(i.fork);
    const level = root.getUint16(0, false);
    const numrecs = root.getUint16(2, false);
    const rootMax = Math.floor((i.fork.length - 4) / 16);
    if (level === 0 || level >= MAX_BMBT_LEVELS) throw new FsError(`${name}: ${where}: bmbt root level ${level}`);
    if (numrecs === 0 || numrecs > rootMax) throw new FsError(`${name}: ${where}: bmbt root has ${numrecs} records (at most ${rootMax})`);
    const hdr = v5 ? 72 : 24;
    const nodeMax = Math.floor((bs - hdr) / 16);
    let budget = MAX_BMBT_BLOCKS;
    const walk = (fsb: number, expectLevel: number): void => {
      if (--budget < 0) throw new FsError(`${name}: ${where}: bmbt too large or looping`);
      const b = readFsBlocks(fsb, 1, `${where} bmbt`);
      const dv = view(b);
      const magic = dv.getUint32(0, false);
      if (magic !== (v5 ? BMAP_CRC_MAGIC : BMAP_MAGIC)) throw new FsError(`${name}: ${where}: bmbt block ${fsb} has bad magic`);
      const lvl = dv.getUint16(4, false);
      const n = dv.getUint16(6, false);
      if (lvl !== expectLevel) throw new FsError(`${name}: ${where}: bmbt block ${fsb} is at level ${lvl}, expected ${expectLevel}`);
      if (v5 && be64(dv, 56) !== i.ino) throw new FsError(`${name}: ${where}: bmbt block ${fsb} belongs to inode ${be64(dv, 56)}`);
      if (n === 0 || n > nodeMax) throw new FsError(`${name}: ${where}: bmbt block ${fsb} has ${n} records`);
      if (lvl === 0) {
        for (let k = 0; k < n; k++) push(decodeExtent(dv, hdr + k * 16));
        return;
      }
      // Interior block: keys (8 bytes each) for nodeMax records, then the pointers.
      for (let k = 0; k < n; k++) walk(be64(dv, hdr + nodeMax * 8 + k * 8), lvl - 1);
    };
    for (let k = 0; k < numrecs; k++) walk(be64(root, 4 + rootMax * 8 + k * 8), level - 1);
    return out;
  };

  /** Bytes [0, length) of the inode's data, holes and unwritten extents as zeros. */
  const readData = (i: Inode, length: number): Uint8Array => {
    const out = new Uint8Array(length);
    if (length === 0) return out;
    if (i.format === FORMAT.LOCAL) {
      if (length > i.fork.length) throw new FsError(`${name}: inode ${i.ino}: ${length} bytes do not fit the inode's data fork`);
      out.set(i.fork.subarray(0, length));
      return out;
    }
    const lastBlock = Math.ceil(length / bs);
    for (const e of extents(i)) {
      if (e.offset >= lastBlock) break;
      if (e.unwritten) continue;
      const count = Math.min(e.count, lastBlock - e.offset);
      fsbToByte(e.block + count - 1, `inode ${i.ino}`);
      const start = fsbToByte(e.block, `inode ${i.ino}`);
      const chunkBlocks = READ_CHUNK / bs;
      for (let done = 0; done < count; done += chunkBlocks) {
        const n = Math.min(chunkBlocks, count - done);
        const fileAt = (e.offset + done) * bs;
        // whole blocks must lie on the disk, as before (the same error for a cut-short image)
        if (start + (done + n) * bs > src.size) src.read(start + done * bs, n * bs);
        // straight into the file's buffer (the last block may be cut short): no copy
        src.readInto(start + done * bs, out.subarray(fileAt, Math.min(fileAt + n * bs, length)));
      }
    }
    return out;
  };

  const readInode = (i: Inode, max: number): Uint8Array => {
    if (i.size > max) throw new FsError(`${name}: inode ${i.ino} is ${i.size} bytes, over the ${max}-byte limit`);
    return readData(i, i.size);
  };

  const utf8 = new TextDecoder('utf-8');
  const entry = (out: DirEntry[], nameBytes: Uint8Array, ino: number) => {
    const n = utf8.decode(nameBytes);
    if (n === '.' || n === '..') return;
    if (out.length >= MAX_DIR_ENTRIES) throw new FsError(`${name}: directory has more than ${MAX_DIR_ENTRIES} entries`);
    out.push({ name: n, id: ino });
  };

  /** Short-form directory (xfs_dir2_sf_hdr + entries) inside the inode. */
  const listShortForm = (i: Inode, out: DirEntry[]) => {
    const f = i.fork;
    const len = Math.min(i.size, f.length);
    if (len < 6) throw new FsError(`${name}: directory inode ${i.ino}: short-form header truncated`);
    const dv = view(f.subarray(0, len));
    const count = dv.getUint8(0);
    const i8 = dv.getUint8(1) !== 0;
    const inoLen = i8 ? 8 : 4;
    let at = 2 + inoLen;
    for (let k = 0; k < count; k++) {
      // namelen, offset[2], name, [ftype], inumber
      if (at + 3 > len) throw new FsError(`${name}: directory inode ${i.ino}: short-form entry ${k} truncated`);
      const nl = dv.getUint8(at);
      const inoAt = at + 3 + nl + (sb.ftype ? 1 : 0);
      if (nl === 0 || inoAt + inoLen > len) throw new FsError(`${name}: directory inode ${i.ino}: short-form entry ${k} truncated`);
      const ino = i8 ? be64(dv, inoAt) : dv.getUint32(inoAt, false);
      entry(out, f.subarray(at + 3, at + 3 + nl), ino);
      at = inoAt + inoLen;
    }
  };

  /** The data entries of one directory block (block form: up to the leaf array; data form: the whole block). */
  const parseDataBlock = (ino: number, b: Uint8Array, out: DirEntry[]) => {
    const dv = view(b);
    const magic = dv.getUint32(0, false);
    let end = b.length;
    const hdr = v5 ? 64 : 16;
    if (magic === DIR2_BLOCK_MAGIC || magic === DIR3_BLOCK_MAGIC) {
      if (magic !== (v5 ? DIR3_BLOCK_MAGIC : DIR2_BLOCK_MAGIC)) throw new FsError(`${name}: directory inode ${ino}: v${v5 ? 4 : 5} block on a v${sb.version} filesystem`);
      // xfs_dir2_block_tail: count, stale at the end; the leaf array of `count` 8-byte entries before it.
      const count = dv.getUint32(b.length - 8, false);
      end = b.length - 8 - count * 8;
      if (count > b.length / 8 || end < hdr) throw new FsError(`${name}: directory inode ${ino}: block tail count ${count} is too large`);
    } else if (magic === DIR2_DATA_MAGIC || magic === DIR3_DATA_MAGIC) {
      if (magic !== (v5 ? DIR3_DATA_MAGIC : DIR2_DATA_MAGIC)) throw new FsError(`${name}: directory inode ${ino}: v${v5 ? 4 : 5} data block on a v${sb.version} filesystem`);
    } else {
      throw new FsError(`${name}: directory inode ${ino}: data block has bad magic 0x${magic.toString(16)}`);
    }
    if (v5 && be64(dv, 40) !== ino) throw new FsError(`${name}: directory inode ${ino}: data block belongs to inode ${be64(dv, 40)}`);
    let at = hdr;
    while (at + 8 <= end) {
      if (dv.getUint16(at, false) === 0xffff) {
        // xfs_dir2_data_unused: freetag, length (a multiple of 8), ..., tag
        const len = dv.getUint16(at + 2, false);
        if (len < 8 || len % 8 !== 0 || at + len > end) {
          warnings.push(`${name}: directory inode ${ino}: corrupt free space at byte ${at}; rest of that block skipped`);
          return;
        }
        at += len;
        continue;
      }
      // xfs_dir2_data_entry: inumber, namelen, name, [ftype], padding, tag; 8-byte aligned.
      const nl = dv.getUint8(at + 8);
      const len = Math.ceil((8 + 1 + nl + (sb.ftype ? 1 : 0) + 2) / 8) * 8;
      if (nl === 0 || at + len > end) {
        warnings.push(`${name}: directory inode ${ino}: corrupt entry at byte ${at}; rest of that block skipped`);
        return;
      }
      entry(out, b.subarray(at + 9, at + 9 + nl), be64(dv, at));
      at += len;
    }
  };

  const list = (dir: FsNode): DirEntry[] => {
    const i = inode(dir.id);
    if ((i.mode & S_IFMT) !== S_IFDIR) throw new FsError(`${name}: inode ${dir.id} is not a directory`);
    const out: DirEntry[] = [];
    if (i.format === FORMAT.LOCAL) {
      listShortForm(i, out);
      return out;
    }
    // Block, leaf and node directories: read every directory block in the data space [0, 32 GiB);
    // the leaf (hash index) and free-space blocks above it only repeat what the data blocks hold.
    const perDirBlock = sb.dirBlockSize / bs;
    const dataEnd = DIR2_DATA_SPACE_BYTES / bs;
    let bytes = 0;
    let pending: { dirBlock: number; parts: Uint8Array[] } | null = null;
    for (const e of extents(i)) {
      if (e.offset >= dataEnd) break;
      const count = Math.min(e.count, dataEnd - e.offset);
      bytes += count * bs;
      if (bytes > MAX_DIR_BYTES) throw new FsError(`${name}: directory inode ${i.ino} is larger than ${MAX_DIR_BYTES} bytes`);
      if (e.unwritten) continue;
      const data = readFsBlocks(e.block, count, `directory inode ${i.ino}`);
      // A directory block of several filesystem blocks may be split across extents: assemble it.
      for (let k = 0; k < count; k++) {
        const fileBlock = e.offset + k;
        const dirBlock = Math.floor(fileBlock / perDirBlock);
        // A directory block is assembled only from consecutive file blocks starting at its first.
        if (pending === null || pending.dirBlock !== dirBlock || fileBlock !== dirBlock * perDirBlock + pending.parts.length) {
          pending = null;
          if (fileBlock % perDirBlock !== 0) continue; // the start of this directory block is missing
          pending = { dirBlock, parts: [] };
        }
        pending.parts.push(data.subarray(k * bs, (k + 1) * bs));
        if (pending.parts.length === perDirBlock) {
          const whole = perDirBlock === 1 ? pending.parts[0]! : Buffer.concat(pending.parts);
          pending = null;
          parseDataBlock(i.ino, whole, out);
        }
      }
    }
    return out;
  };

  const readlink = (node: FsNode): string => {
    const i = inode(node.id);
    if ((i.mode & S_IFMT) !== S_IFLNK) throw new FsError(`${name}: inode ${node.id} is not a symlink`);
    if (i.size > SYMLINK_MAXLEN) throw new FsError(`${name}: symlink inode ${node.id} is ${i.size} bytes long`);
    if (i.format === FORMAT.LOCAL) return utf8.decode(readData(i, i.size));
    if (!v5) return utf8.decode(readData(i, i.size));
    // v5 remote symlink: each block starts with xfs_dsymlink_hdr (56 bytes) saying which bytes it holds.
    const parts: Uint8Array[] = [];
    let have = 0;
    for (const e of extents(i)) {
      if (have >= i.size) break;
      const data = readFsBlocks(e.block, Math.min(e.count, Math.ceil(SYMLINK_MAXLEN / (bs - 56)) + 1), `symlink inode ${i.ino}`);
      for (let k = 0; k * bs < data.length && have < i.size; k++) {
        const b = data.subarray(k * bs, (k + 1) * bs);
        const dv = view(b);
        if (dv.getUint32(0, false) !== SYMLINK_MAGIC) throw new FsError(`${name}: symlink inode ${i.ino}: remote block has bad magic`);
        const offset = dv.getUint32(4, false);
        const n = dv.getUint32(8, false);
        if (offset !== have || n === 0 || n > bs - 56 || have + n > i.size || be64(dv, 32) !== i.ino) {
          throw new FsError(`${name}: symlink inode ${i.ino}: remote block header is inconsistent`);
        }
        parts.push(b.subarray(56, 56 + n));
        have += n;
      }
    }
    if (have !== i.size) throw new FsError(`${name}: symlink inode ${i.ino}: ${have} of ${i.size} bytes found`);
    return utf8.decode(Buffer.concat(parts));
  };

  try {
    const log = logWarning(src, sb);
    if (log !== null) warnings.push(`${name}: ${log}`);
  } catch (err) {
    // A damaged log does not stop reading files; it only leaves cleanliness unknown.
    if (!(err instanceof FsError || err instanceof OutOfBounds || err instanceof RangeError)) throw err;
    warnings.push(`${name}: the XFS log could not be read (${err.message}); whether it is clean is unknown`);
  }

  return {
    type: 'xfs',
    name,
    uuid: sb.uuid,
    label: sb.label === '' ? null : sb.label,
    warnings,
    sb,
    inode,
    extents,
    root: () => stat(sb.rootIno),
    stat,
    list,
    lookup(dir, wanted) {
      const hit = list(dir).find((e) => e.name === wanted);
      return hit === undefined ? null : stat(hit.id);
    },
    read(node, max) {
      const i = inode(node.id);
      if ((i.mode & S_IFMT) === S_IFDIR) throw new FsError(`${name}: inode ${node.id} is a directory`);
      if (i.format !== FORMAT.LOCAL && i.format !== FORMAT.EXTENTS && i.format !== FORMAT.BTREE) {
        throw new FsError(`${name}: inode ${node.id}: data fork format ${i.format} holds no file data`);
      }
      return readInode(i, max);
    },
    fingerprint(node) {
      const i = inode(node.id);
      const hex = (a: number, b: number) => Buffer.from(i.raw.subarray(a, b)).toString('hex');
      // di_gen, di_size, di_mtime and di_ctime (seconds and nanoseconds, or bigtime nanoseconds).
      return `${sb.uuid}:${node.id}:${i.gen}:${i.size}:${hex(40, 48)}:${hex(48, 56)}`;
    },
    readlink,
  };
}
