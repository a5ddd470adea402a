/**
 * Which partition table a disk carries: GPT (behind a protective MBR, type 0xEE), MBR, or none
 * (a whole-disk filesystem, the usual layout of PV guests whose vdev is `xvda1`).
 */
import { readGpt } from './gpt.ts';
import { mbrEntries, readMbr } from './mbr.ts';
import { type ByteSource, sliceSource } from './source.ts';
import type { Partition, PartitionTable } from './types.ts';

/**
 * Reads the partition table of `disk`. Never throws for a bad table: problems become warnings and
 * the disk is then treated as unpartitioned (a whole-disk filesystem is still looked for).
 * @example
 * readPartitionTable(openSource('gpt.img')) // => { scheme: 'gpt', partitions: [...], ... }
 */
export function readPartitionTable(disk: ByteSource): PartitionTable {
  if (disk.size < 512) return { scheme: 'none', partitions: [], warnings: [] };
  const es = mbrEntries(disk.read(0, 512));
  if (es !== null && es.some((e) => e.type === 0xee)) {
    const gpt = readGpt(disk);
    if (gpt !== null && typeof gpt !== 'string') return { scheme: 'gpt', ...gpt };
    return { scheme: 'none', partitions: [], warnings: [`protective MBR but no usable GPT: ${gpt ?? 'no GPT header found'}`] };
  }
  if (es !== null) {
    const mbr = readMbr(disk);
    if (mbr !== null && mbr.partitions.length > 0) return { scheme: 'mbr', ...mbr };
  }
  // No MBR: a GPT whose protective MBR was wiped is still worth reading (Linux does with gpt=).
  const gpt = readGpt(disk);
  if (gpt !== null && typeof gpt !== 'string') return { scheme: 'gpt', ...gpt, warnings: [...gpt.warnings, 'GPT found without a protective MBR'] };
  return { scheme: 'none', partitions: [], warnings: [] };
}

/**
 * A byte source for one partition, named `disk[N]`.
 * @example
 * partitionSource(disk, table.partitions[0]).read(1024, 1024) // an ext4 superblock, perhaps
 */
export function partitionSource(disk: ByteSource, p: Partition): ByteSource {
  return sliceSource(disk, p.start, p.size, `${disk.name}[${p.number}]`);
}
