/**
 * ext2/3/4 on-disk constants and the superblock, as Linux's fs/ext4/ext4.h names them.
 * Only what a read-only path walk needs; offsets are from the start of each structure.
 */
import { view } from '../../disk/source.ts';
import { uuidText } from '../mode.ts';
import { FsError } from '../types.ts';

export const EXT4_SUPER_MAGIC = 0xef53;
export const SUPERBLOCK_OFFSET = 1024;

export const INCOMPAT = {
  COMPRESSION: 0x1,
  FILETYPE: 0x2,
  RECOVER: 0x4,
  JOURNAL_DEV: 0x8,
  META_BG: 0x10,
  EXTENTS: 0x40,
  BIT64: 0x80,
  MMP: 0x100,
  FLEX_BG: 0x200,
  EA_INODE: 0x400,
  DIRDATA: 0x1000,
  CSUM_SEED: 0x2000,
  LARGEDIR: 0x4000,
  INLINE_DATA: 0x8000,
  ENCRYPT: 0x10000,
  CASEFOLD: 0x20000,
} as const;

/** Incompatible features this reader understands; any other bit means "cannot read safely". */
export const INCOMPAT_SUPPORTED =
  INCOMPAT.FILETYPE | INCOMPAT.RECOVER | INCOMPAT.META_BG | INCOMPAT.EXTENTS | INCOMPAT.BIT64 | INCOMPAT.MMP |
  INCOMPAT.FLEX_BG | INCOMPAT.EA_INODE | INCOMPAT.CSUM_SEED | INCOMPAT.LARGEDIR | INCOMPAT.INLINE_DATA |
  INCOMPAT.ENCRYPT | INCOMPAT.CASEFOLD;

export const COMPAT_HAS_JOURNAL = 0x4;
export const RO_COMPAT_METADATA_CSUM = 0x400;
export const RO_COMPAT_GDT_CSUM = 0x10;
/** Allocation (and the block bitmap) counts clusters of 2^s_log_cluster_size blocks; extents still count blocks. */
export const RO_COMPAT_BIGALLOC = 0x200;
/** ext4.h's EXT4_MAX_CLUSTER_LOG_SIZE (30) less EXT4_MIN_BLOCK_LOG_SIZE (10): the largest s_log_cluster_size. */
const MAX_LOG_CLUSTER = 20;

export const INODE_FLAGS = { INDEX: 0x1000, EXTENTS: 0x80000, INLINE_DATA: 0x10000000, ENCRYPT: 0x800, EA_INODE: 0x200000 } as const;

export { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../mode.ts';

export const ROOT_INO = 2;

export type Superblock = {
  inodesCount: number;
  blocksCount: number;
  firstDataBlock: number;
  blockSize: number;
  /** Bytes per allocation cluster: the block size unless bigalloc. */
  clusterSize: number;
  /** Blocks per group: clusters per group times blocks per cluster. Group arithmetic is in blocks. */
  blocksPerGroup: number;
  clustersPerGroup: number;
  inodesPerGroup: number;
  inodeSize: number;
  featureCompat: number;
  featureIncompat: number;
  featureRoCompat: number;
  descSize: number;
  firstMetaBg: number;
  groupCount: number;
  uuid: string;
  label: string;
};


/**
 * Parses and sanity-checks the 1024-byte superblock; throws FsError naming the bad field.
 * @example
 * parseSuperblock(src.read(1024, 1024), src.size, 'disk.img[1]') // => { blockSize: 4096, ... }
 */
export function parseSuperblock(b: Uint8Array, deviceSize: number, name: string): Superblock {
  const dv = view(b);
  if (dv.getUint16(0x38, true) !== EXT4_SUPER_MAGIC) throw new FsError(`${name}: no ext2/3/4 superblock (bad magic)`);
  const bad = (what: string) => new FsError(`${name}: corrupt ext4 superblock: ${what}`);
  const logBlock = dv.getUint32(0x18, true);
  if (logBlock > 6) throw bad(`block size 1024<<${logBlock}`);
  const blockSize = 1024 << logBlock;
  const rev = dv.getUint32(0x4c, true);
  const inodeSize = rev === 0 ? 128 : dv.getUint16(0x58, true);
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) throw bad(`inode size ${inodeSize}`);
  const featureIncompat = dv.getUint32(0x60, true);
  const is64 = (featureIncompat & INCOMPAT.BIT64) !== 0;
  const blocksCount = dv.getUint32(0x4, true) + (is64 ? dv.getUint32(0x150, true) * 2 ** 32 : 0);
  const firstDataBlock = dv.getUint32(0x14, true);
  const blocksPerGroup = dv.getUint32(0x20, true);
  const inodesPerGroup = dv.getUint32(0x28, true);
  const inodesCount = dv.getUint32(0x0, true);
  let descSize = is64 ? dv.getUint16(0xfe, true) : 32;
  if (is64 && (descSize < 32 || descSize > 1024 || (descSize & (descSize - 1)) !== 0)) throw bad(`descriptor size ${descSize}`);
  if (!is64) descSize = 32;
  // The block bitmap has one bit per cluster: under bigalloc a group spans clustersPerGroup
  // clusters of several blocks, so blocksPerGroup exceeds blockSize * 8 by design. The checks are
  // ext4_fill_super()'s (fs/ext4/super.c).
  const bigalloc = (dv.getUint32(0x64, true) & RO_COMPAT_BIGALLOC) !== 0;
  const logCluster = dv.getUint32(0x1c, true);
  if (bigalloc && (logCluster < logBlock || logCluster > MAX_LOG_CLUSTER)) throw bad(`cluster size 1024<<${logCluster} with ${blockSize}-byte blocks`);
  const clusterSize = bigalloc ? 1024 * 2 ** logCluster : blockSize;
  const clustersPerGroup = bigalloc ? dv.getUint32(0x24, true) : blocksPerGroup;
  if (clustersPerGroup === 0 || clustersPerGroup > blockSize * 8) throw bad(`${bigalloc ? 'clusters' : 'blocks'} per group ${clustersPerGroup}`);
  if (blocksPerGroup !== clustersPerGroup * (clusterSize / blockSize)) throw bad(`blocks per group ${blocksPerGroup} is not ${clustersPerGroup} clusters of ${clusterSize / blockSize} blocks`);
  if (inodesPerGroup === 0 || inodesPerGroup > blockSize * 8) throw bad(`inodes per group ${inodesPerGroup}`);
  if (firstDataBlock >= blocksCount) throw bad(`first data block ${firstDataBlock}`);
  if (blocksCount * blockSize > deviceSize) throw bad(`${blocksCount} blocks of ${blockSize} bytes exceed the ${deviceSize}-byte device`);
  const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  if (inodesCount > groupCount * inodesPerGroup) throw bad(`${inodesCount} inodes in ${groupCount} groups of ${inodesPerGroup}`);
  const label = new TextDecoder('utf-8').decode(b.subarray(0x78, 0x88)).replace(/\0.*$/s, '');
  return {
    inodesCount,
    blocksCount,
    firstDataBlock,
    blockSize,
    clusterSize,
    blocksPerGroup,
    clustersPerGroup,
    inodesPerGroup,
    inodeSize,
    featureCompat: dv.getUint32(0x5c, true),
    featureIncompat,
    featureRoCompat: dv.getUint32(0x64, true),
    descSize,
    firstMetaBg: dv.getUint32(0x104, true),
    groupCount,
    uuid: uuidText(b.subarray(0x68, 0x78)),
    label,
  };
}
