/**
 * The GUID partition table: a header at LBA 1 (and a backup at the disk's last LBA) whose CRC32
 * covers the header, pointing at an entry array whose CRC32 is in the header. The array is read
 * where the header says (not assumed at LBA 2), empty entries are skipped, and the entry count and
 * size are capped before anything is allocated. Reference: UEFI 2.10 §5.3, Linux block/partitions/efi.c.
 */
import { type ByteSource, u64, view } from './source.ts';
import type { Partition } from './types.ts';

/**
 * zlib's CRC-32, with node:zlib loaded at the first GPT disk rather than at start: the contained
 * inspection child starts per guest, and most guests' disks have an MBR.
 */
const crc32 = (data: Uint8Array): number => process.getBuiltinModule('node:zlib').crc32(data);

/** The UEFI minimum array is 128 entries; Linux reads any count, but real disks carry 128. */
export const MAX_ENTRIES = 4096;
export const MAX_ENTRY_SIZE = 4096;
/** The entry array read at once is capped: 4096 entries × 128 bytes, or fewer larger ones. */
export const MAX_ARRAY_BYTES = 1024 * 1024;

/**
 * A GUID in its usual text form (the first three fields are little-endian on disk).
 * @example
 * guid(bytes) // => '0fc63daf-8483-4772-8e79-3d69d8477de4'
 */
export function guid(b: Uint8Array): string {
  const h = (i: number) => b[i]!.toString(16).padStart(2, '0');
  const r = (idx: number[]) => idx.map(h).join('');
  return `${r([3, 2, 1, 0])}-${r([5, 4])}-${r([7, 6])}-${r([8, 9])}-${r([10, 11, 12, 13, 14, 15])}`;
}

type Header = { myLba: number; alternateLba: number; entriesLba: number; count: number; entrySize: number; entriesCrc: number; diskGuid: string };

function readHeader(disk: ByteSource, lba: number, sectorSize: number): Header | string {
  if (!Number.isSafeInteger(lba) || lba < 1 || (lba + 1) * sectorSize > disk.size) return `header LBA ${lba} is outside the disk`;
  const sec = disk.read(lba * sectorSize, sectorSize);
  if (new TextDecoder('latin1').decode(sec.subarray(0, 8)) !== 'EFI PART') return `no "EFI PART" signature at LBA ${lba}`;
  const dv = view(sec);
  const headerSize = dv.getUint32(12, true);
  if (headerSize < 92 || headerSize > sectorSize) return `header at LBA ${lba} has a bad size ${headerSize}`;
  const copy = sec.slice(0, headerSize);
  copy.fill(0, 16, 20);
  const want = dv.getUint32(16, true);
  if (crc32(copy) !== want) return `header at LBA ${lba} fails its CRC32 check`;
  const h: Header = {
    myLba: u64(dv, 24),
    alternateLba: u64(dv, 32),
    entriesLba: u64(dv, 72),
    count: dv.getUint32(80, true),
    entrySize: dv.getUint32(84, true),
    entriesCrc: dv.getUint32(88, true),
    diskGuid: guid(sec.subarray(56, 72)),
  };
  if (h.myLba !== lba) return `header at LBA ${lba} says it is at LBA ${h.myLba}`;
  if (h.entrySize < 128 || h.entrySize > MAX_ENTRY_SIZE || h.entrySize % 8 !== 0) return `header at LBA ${lba}: bad entry size ${h.entrySize}`;
  if (h.count > MAX_ENTRIES) return `header at LBA ${lba}: ${h.count} entries exceeds the cap of ${MAX_ENTRIES}`;
  if (h.count * h.entrySize > MAX_ARRAY_BYTES) return `header at LBA ${lba}: entry array of ${h.count * h.entrySize} bytes exceeds the cap`;
  return h;
}

function readEntries(disk: ByteSource, h: Header, sectorSize: number): Partition[] | string {
  const bytes = h.count * h.entrySize;
  const at = h.entriesLba * sectorSize;
  if (!Number.isSafeInteger(at) || at + bytes > disk.size) return `entry array at LBA ${h.entriesLba} is outside the disk`;
  const arr = disk.read(at, bytes);
  if (crc32(arr) !== h.entriesCrc) return `entry array at LBA ${h.entriesLba} fails its CRC32 check`;
  const out: Partition[] = [];
  for (let i = 0; i < h.count; i++) {
    const e = arr.subarray(i * h.entrySize, (i + 1) * h.entrySize);
    if (e.subarray(0, 16).every((x) => x === 0)) continue; // unused entry
    const dv = view(e);
    const first = u64(dv, 32);
    const last = u64(dv, 40);
    if (last < first) continue;
    const name = new TextDecoder('utf-16le').decode(e.subarray(56, 128)).replace(/\0.*$/s, '');
    const attrs = dv.getBigUint64(48, true);
    out.push({
      number: i + 1,
      start: first * sectorSize,
      size: (last - first + 1) * sectorSize,
      type: guid(e.subarray(0, 16)),
      partuuid: guid(e.subarray(16, 32)),
      name,
      // Attribute bit 2: legacy BIOS bootable.
      bootable: (attrs & 4n) !== 0n,
      logical: false,
    });
  }
  return out;
}

/**
 * Reads the GPT of `disk`: the primary header and array, else the backup ones (with a warning).
 * Returns null when neither header is found at 512- or 4096-byte sectors; a string when a GPT is
 * there but unusable.
 * @example
 * readGpt(openSource('disk.img')) // => { diskGuid: '…', sectorSize: 512, partitions: [...], warnings: [] }
 */
export function readGpt(disk: ByteSource): { diskGuid: string; sectorSize: number; partitions: Partition[]; warnings: string[] } | string | null {
  const problems: string[] = [];
  for (const sectorSize of [512, 4096]) {
    if (disk.size < sectorSize * 2) continue;
    const warnings: string[] = [];
    const primary = readHeader(disk, 1, sectorSize);
    const candidates: [string, Header | string][] = [['primary', primary]];
    const lastLba = Math.floor(disk.size / sectorSize) - 1;
    const backupLba = typeof primary === 'string' ? lastLba : primary.alternateLba;
    if (typeof primary === 'string' && primary.startsWith('no "EFI PART"')) {
      const backup = readHeader(disk, backupLba, sectorSize);
      if (typeof backup === 'string' && backup.startsWith('no "EFI PART"')) continue;
      candidates.push(['backup', backup]);
    } else if (typeof primary === 'string') {
      candidates.push(['backup', readHeader(disk, backupLba, sectorSize)]);
    }
    for (const [which, h] of candidates) {
      if (typeof h === 'string') {
        problems.push(`GPT ${which} ${h}`);
        continue;
      }
      const parts = readEntries(disk, h, sectorSize);
      if (typeof parts === 'string') {
        problems.push(`GPT ${which} ${parts}`);
        continue;
      }
      if (which === 'backup') warnings.push(`GPT primary header unusable (${problems.join('; ')}); read the backup`);
      for (const p of parts) {
        if (p.start + p.size > disk.size) warnings.push(`partition ${p.number} ends past the end of the disk`);
      }
      return { diskGuid: h.diskGuid, sectorSize, partitions: parts, warnings };
    }
    return problems.join('; ');
  }
  return problems.length > 0 ? problems.join('; ') : null;
}
