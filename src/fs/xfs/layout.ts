/**
 * XFS on-disk constants, the superblock and the packed extent record, as Linux's
 * fs/xfs/libxfs/xfs_format.h and xfs_da_format.h name them. Everything on disk is big-endian.
 * Only what a read-only path walk needs; offsets are from the start of each structure.
 */
import { view } from '../../disk/source.ts';
import { uuidText } from '../mode.ts';
import { FsError } from '../types.ts';

export const XFS_SB_MAGIC = 0x58465342; // 'XFSB'
export const XFS_DINODE_MAGIC = 0x494e; // 'IN'
export const BMAP_MAGIC = 0x424d4150; // 'BMAP' (v4 bmbt block)
export const BMAP_CRC_MAGIC = 0x424d4133; // 'BMA3'
export const DIR2_BLOCK_MAGIC = 0x58443242; // 'XD2B'
export const DIR3_BLOCK_MAGIC = 0x58444233; // 'XDB3'
export const DIR2_DATA_MAGIC = 0x58443244; // 'XD2D'
export const DIR3_DATA_MAGIC = 0x58444433; // 'XDD3'
export const SYMLINK_MAGIC = 0x58534c4d; // 'XSLM'

/** sb_versionnum bits (XFS_SB_VERSION_*). */
export const VERSION = { NUMBITS: 0xf, DIRV2: 0x2000, BORG: 0x4000, MOREBITS: 0x8000 } as const;
/** sb_features2 bits used here. */
export const FEATURES2 = { CRC: 0x100, FTYPE: 0x200 } as const;
/** sb_features_incompat (v5) bits, xfs_format.h. */
export const INCOMPAT = {
  FTYPE: 0x1,
  SPINODES: 0x2,
  META_UUID: 0x4,
  BIGTIME: 0x8,
  NEEDSREPAIR: 0x10,
  NREXT64: 0x20,
  EXCHRANGE: 0x40,
  PARENT: 0x80,
} as const;
/**
 * Incompatible features that change nothing a reader of directories and file data looks at, or
 * that it understands (NREXT64 moves the extent count). Any other bit (METADIR, ZONED, ...) means
 * "cannot read safely".
 */
export const INCOMPAT_SUPPORTED =
  INCOMPAT.FTYPE | INCOMPAT.SPINODES | INCOMPAT.META_UUID | INCOMPAT.BIGTIME | INCOMPAT.NEEDSREPAIR | INCOMPAT.NREXT64 |
  INCOMPAT.EXCHRANGE | INCOMPAT.PARENT;

/** di_format values (enum xfs_dinode_fmt). */
export const FORMAT = { DEV: 0, LOCAL: 1, EXTENTS: 2, BTREE: 3 } as const;
export const DIFLAG_REALTIME = 0x1;
export const DIFLAG2_NREXT64 = 1 << 4;

/** Directory data lives at dir offsets [0, 32 GiB); leaf and free blocks sit above (XFS_DIR2_LEAF_OFFSET). */
export const DIR2_DATA_SPACE_BYTES = 32 * 2 ** 30;
/** XFS_SYMLINK_MAXLEN. */
export const SYMLINK_MAXLEN = 1024;

export type Superblock = {
  version: 4 | 5;
  blockSize: number;
  blockLog: number;
  dblocks: number;
  agBlocks: number;
  agCount: number;
  agBlkLog: number;
  inodeSize: number;
  inoPBLog: number;
  dirBlockSize: number;
  rootIno: number;
  logStart: number;
  logBlocks: number;
  ftype: boolean;
  incompat: number;
  roCompat: number;
  uuid: string;
  label: string;
  inProgress: boolean;
};

/**
 * A big-endian u64 as a Number; beyond 2^53 (no real filesystem) becomes Infinity so bounds checks fail.
 * @example
 * be64(view(sb), 8) // => 8192 (sb_dblocks)
 */
export function be64(dv: DataView, at: number): number {
  const v = dv.getBigUint64(at, false);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
}

const log2 = (n: number): number => 31 - Math.clz32(n);
const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/**
 * Parses and sanity-checks the primary superblock (sector 0 of AG 0); throws FsError naming the bad field.
 * Geometry is checked the way xfs_validate_sb_common does: power-of-two sizes in range, logs that
 * agree with the sizes, AG count and size that cover dblocks, dblocks within the device.
 * @example
 * parseSuperblock(src.read(0, 512), src.size, 'disk.img[1]') // => { version: 5, blockSize: 4096, rootIno: 128, ... }
 */
export function parseSuperblock(b: Uint8Array, deviceSize: number, name: string): Superblock {
  const dv = view(b);
  if (dv.getUint32(0, false) !== XFS_SB_MAGIC) throw new FsError(`${name}: no XFS superblock (bad magic)`);
  const bad = (what: string) => new FsError(`${name}: corrupt XFS superblock: ${what}`);
  const versionnum = dv.getUint16(100, false);
  const v = versionnum & VERSION.NUMBITS;
  if (v !== 4 && v !== 5) throw new FsError(`${name}: XFS superblock version ${v} is not supported (only 4 and 5)`);
  const blockSize = dv.getUint32(4, false);
  const blockLog = dv.getUint8(120);
  if (!isPow2(blockSize) || blockSize < 512 || blockSize > 65536 || log2(blockSize) !== blockLog) throw bad(`block size ${blockSize} (log ${blockLog})`);
  const sectSize = dv.getUint16(102, false);
  if (!isPow2(sectSize) || sectSize < 512 || sectSize > 32768 || log2(sectSize) !== dv.getUint8(121)) throw bad(`sector size ${sectSize}`);
  const inodeSize = dv.getUint16(104, false);
  const minInode = v === 5 ? 512 : 256;
  if (!isPow2(inodeSize) || inodeSize < minInode || inodeSize > 2048 || inodeSize > blockSize || log2(inodeSize) !== dv.getUint8(122)) throw bad(`inode size ${inodeSize}`);
  const inoPBLog = dv.getUint8(123);
  if (dv.getUint16(106, false) !== blockSize / inodeSize || log2(blockSize / inodeSize) !== inoPBLog) throw bad(`inodes per block ${dv.getUint16(106, false)}`);
  const agBlocks = dv.getUint32(84, false);
  const agCount = dv.getUint32(88, false);
  const agBlkLog = dv.getUint8(124);
  // XFS_MIN_AG_BLOCKS is 64; an AG is at most 1 TiB (XFS_MAX_AG_BYTES).
  if (agBlocks < 64 || agBlocks * blockSize > 2 ** 40 || agBlkLog !== Math.ceil(Math.log2(agBlocks))) throw bad(`AG size ${agBlocks} blocks (log ${agBlkLog})`);
  if (agCount === 0 || agCount > 1 << 24) throw bad(`AG count ${agCount}`);
  const dblocks = be64(dv, 8);
  if (!(dblocks > (agCount - 1) * agBlocks && dblocks <= agCount * agBlocks)) throw bad(`${dblocks} blocks do not fit ${agCount} AGs of ${agBlocks}`);
  if (dblocks * blockSize > deviceSize) throw bad(`${dblocks} blocks of ${blockSize} bytes exceed the ${deviceSize}-byte device`);
  if (agBlkLog + inoPBLog > 32) throw bad(`inode number layout (agblklog ${agBlkLog} + inopblog ${inoPBLog})`);
  const dirBlkLog = dv.getUint8(192);
  const dirBlockSize = blockSize * 2 ** dirBlkLog;
  if (dirBlockSize > 65536) throw bad(`directory block size ${dirBlockSize}`);
  if (v === 4 && !(versionnum & VERSION.DIRV2)) throw new FsError(`${name}: XFS v4 with version 1 directories is not supported`);
  if (versionnum & VERSION.BORG) throw new FsError(`${name}: XFS with ASCII case-insensitive names (version=ci) is not supported`);
  const features2 = versionnum & VERSION.MOREBITS ? dv.getUint32(200, false) : 0;
  if (v === 5 !== ((features2 & FEATURES2.CRC) !== 0)) throw bad(`version ${v} with features2 0x${features2.toString(16)}`);
  const incompat = v === 5 ? dv.getUint32(216, false) : 0;
  const roCompat = v === 5 ? dv.getUint32(212, false) : 0;
  const unsupported = incompat & ~INCOMPAT_SUPPORTED;
  if (unsupported !== 0) throw new FsError(`${name}: XFS incompatible features 0x${unsupported.toString(16)} are not supported`);
  if (be64(dv, 16) !== 0 || be64(dv, 24) !== 0) throw new FsError(`${name}: XFS with a realtime subvolume is not supported`);
  const rootIno = be64(dv, 56);
  const logStart = be64(dv, 48);
  const logBlocks = dv.getUint32(96, false);
  const label = new TextDecoder('utf-8').decode(b.subarray(108, 120)).replace(/\0.*$/s, '');
  return {
    version: v,
    blockSize,
    blockLog,
    dblocks,
    agBlocks,
    agCount,
    agBlkLog,
    inodeSize,
    inoPBLog,
    dirBlockSize,
    rootIno,
    logStart,
    logBlocks,
    ftype: v === 5 ? (incompat & INCOMPAT.FTYPE) !== 0 : (features2 & FEATURES2.FTYPE) !== 0,
    incompat,
    roCompat,
    // fstab's UUID= and blkid use sb_uuid; sb_meta_uuid (META_UUID) only stamps metadata blocks.
    uuid: uuidText(b.subarray(32, 48)),
    label: label === '' ? '' : label,
    inProgress: dv.getUint8(126) !== 0,
  };
}

/** One mapping of the data fork: file blocks [offset, offset+count) at filesystem block `block`. */
export type Extent = { offset: number; block: number; count: number; unwritten: boolean };

const MASK21 = (1n << 21n) - 1n;
const MASK9 = (1n << 9n) - 1n;
const MASK54 = (1n << 54n) - 1n;

/**
 * Decodes the 128-bit packed extent record (xfs_bmbt_rec: flag:1, startoff:54, startblock:52,
 * blockcount:21, most significant first) at `at`.
 * @example
 * decodeExtent(view(fork), 0) // => { offset: 0, block: 24, count: 1, unwritten: false }
 */
export function decodeExtent(dv: DataView, at: number): Extent {
  const l0 = dv.getBigUint64(at, false);
  const l1 = dv.getBigUint64(at + 8, false);
  return {
    unwritten: l0 >> 63n === 1n,
    offset: Number((l0 >> 9n) & MASK54),
    block: Number(((l0 & MASK9) << 43n) | (l1 >> 21n)),
    count: Number(l1 & MASK21),
  };
}
