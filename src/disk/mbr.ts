/**
 * The DOS/MBR partition table: four primary entries in sector 0 and, inside an extended
 * partition, a chain of EBRs holding one logical partition each (Linux numbers them from 5).
 * A hostile chain can loop or run forever, so links are followed at most MAX_LOGICAL times and a
 * sector is never visited twice. Reference: Linux block/partitions/msdos.c.
 */
import { type ByteSource, view } from './source.ts';
import type { Partition } from './types.ts';

const SECTOR = 512;
/** Linux's msdos.c stops at the minors available; 128 logicals is more than any real disk carries. */
export const MAX_LOGICAL = 128;
const EXTENDED = new Set([0x05, 0x0f, 0x85]);

export type Entry = { status: number; type: number; lba: number; sectors: number };

function entries(sector: Uint8Array): Entry[] {
  const dv = view(sector);
  const out: Entry[] = [];
  for (let i = 0; i < 4; i++) {
    const at = 446 + 16 * i;
    out.push({ status: dv.getUint8(at), type: dv.getUint8(at + 4), lba: dv.getUint32(at + 8, true), sectors: dv.getUint32(at + 12, true) });
  }
  return out;
}

function hasSignature(sector: Uint8Array): boolean {
  return sector[510] === 0x55 && sector[511] === 0xaa;
}

/**
 * Sector 0's four entries, or null when sector 0 is not an MBR (no 55 AA, or status bytes that no MBR has).
 * @example
 * mbrEntries(disk.read(0, 512)) // => [{ status: 0x80, type: 0x83, lba: 2048, sectors: 98304 }, ...] or null
 */
export function mbrEntries(sector0: Uint8Array): Entry[] | null {
  if (sector0.length < SECTOR || !hasSignature(sector0)) return null;
  const es = entries(sector0);
  // A FAT or NTFS boot sector also ends in 55 AA; its "status" bytes are code, not 0x00/0x80.
  if (es.some((e) => e.status !== 0 && e.status !== 0x80)) return null;
  return es;
}

/**
 * Reads the MBR partitions of `disk` (primary and logical), or returns null when sector 0 is not an
 * MBR. Entries outside the disk are kept, clipped by the reader, and reported in `warnings`.
 * @example
 * readMbr(openSource('disk.img')) // => { diskId: '0x1234abcd', partitions: [{ number: 1, start: 1048576, ... }], warnings: [] }
 */
export function readMbr(disk: ByteSource): { diskId: string; partitions: Partition[]; warnings: string[] } | null {
  if (disk.size < SECTOR) return null;
  const sector0 = disk.read(0, SECTOR);
  const es = mbrEntries(sector0);
  if (es === null) return null;
  const diskIdNum = view(sector0).getUint32(440, true);
  const diskId = diskIdNum.toString(16).padStart(8, '0');
  const partitions: Partition[] = [];
  const warnings: string[] = [];
  const make = (number: number, type: number, lba: number, sectors: number, status: number, logical: boolean): Partition => {
    const start = lba * SECTOR;
    const size = sectors * SECTOR;
    if (start + size > disk.size) warnings.push(`partition ${number} ends past the end of the disk (${start + size} > ${disk.size} bytes)`);
    return {
      number,
      start,
      size,
      type: `0x${type.toString(16).padStart(2, '0')}`,
      partuuid: `${diskId}-${number.toString(16).padStart(2, '0')}`,
      name: null,
      bootable: status === 0x80,
      logical,
    };
  };
  let extended: Entry | null = null;
  es.forEach((e, i) => {
    if (e.type === 0 || e.sectors === 0) return;
    partitions.push(make(i + 1, e.type, e.lba, e.sectors, e.status, false));
    if (EXTENDED.has(e.type) && extended === null) extended = e;
  });
  if (extended !== null) readLogical(disk, extended, partitions, warnings, make);
  return { diskId: `0x${diskId}`, partitions, warnings };
}

function readLogical(
  disk: ByteSource,
  ext: Entry,
  out: Partition[],
  warnings: string[],
  make: (n: number, t: number, lba: number, s: number, st: number, logical: boolean) => Partition,
): void {
  const seen = new Set<number>();
  let ebr = ext.lba;
  let number = 5;
  for (let hop = 0; hop <= MAX_LOGICAL; hop++) {
    if (hop === MAX_LOGICAL) {
      warnings.push(`extended partition: more than ${MAX_LOGICAL} logical partitions; stopped`);
      return;
    }
    if (seen.has(ebr)) {
      warnings.push(`extended partition: EBR chain loops back to sector ${ebr}; stopped`);
      return;
    }
    seen.add(ebr);
    if ((ebr + 1) * SECTOR > disk.size) {
      warnings.push(`extended partition: EBR at sector ${ebr} is past the end of the disk; stopped`);
      return;
    }
    const sector = disk.read(ebr * SECTOR, SECTOR);
    if (!hasSignature(sector)) {
      warnings.push(`extended partition: EBR at sector ${ebr} has no 55 AA signature; stopped`);
      return;
    }
    const [data, link] = entries(sector);
    // The logical partition is relative to this EBR; the next link relative to the extended partition.
    if (data !== undefined && data.type !== 0 && data.sectors !== 0 && !EXTENDED.has(data.type)) {
      out.push(make(number, data.type, ebr + data.lba, data.sectors, data.status, true));
      number++;
    }
    if (link === undefined || !EXTENDED.has(link.type) || link.sectors === 0) return;
    ebr = ext.lba + link.lba;
  }
}
