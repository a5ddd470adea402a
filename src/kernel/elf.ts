/**
 * ELF headers, program headers, section headers and notes, parsed from byte ranges with every
 * count and size bounded. Offsets are plain numbers: a value past 2^53 is reported as an error,
 * no real kernel comes near it.
 */

export const PT_NOTE = 4;
export const SHT_NOTE = 7;
export const EM_386 = 3;
export const EM_X86_64 = 62;

/** Bounds: real kernels have a handful of program headers and about 40 sections. */
export const MAX_PHNUM = 4096;
export const MAX_SHNUM = 65535;

export type ElfHeader = {
  elfClass: 32 | 64;
  littleEndian: boolean;
  type: number;
  machine: number;
  entry: bigint;
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
};

export type ProgramHeader = { type: number; offset: number; filesz: number };
export type SectionHeader = { nameOffset: number; type: number; offset: number; size: number };
export type ElfNote = { name: string; type: number; desc: Uint8Array };

export class ElfError extends Error {}

/** Size of the ELF header for a class. */
export const EHDR_SIZE = 64;

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function toNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`${what} ${v} is out of range`);
  return Number(v);
}

/**
 * Parses the ELF header from the first 52 (32-bit) or 64 (64-bit) bytes.
 * @example
 * parseElfHeader(vmlinuxHead).machine // => 62 (EM_X86_64)
 */
export function parseElfHeader(buf: Uint8Array): ElfHeader {
  if (buf.length < 52) throw new ElfError(`ELF header truncated (${buf.length} bytes)`);
  const cls = buf[4];
  if (cls !== 1 && cls !== 2) throw new ElfError(`unknown ELF class ${cls}`);
  const data = buf[5];
  if (data !== 1 && data !== 2) throw new ElfError(`unknown ELF data encoding ${data}`);
  const le = data === 1;
  const v = view(buf);
  const elfClass = cls === 1 ? 32 : 64;
  if (elfClass === 64 && buf.length < 64) throw new ElfError(`ELF64 header truncated (${buf.length} bytes)`);
  const h: ElfHeader =
    elfClass === 64
      ? {
          elfClass,
          littleEndian: le,
          type: v.getUint16(16, le),
          machine: v.getUint16(18, le),
          entry: v.getBigUint64(24, le),
          phoff: toNumber(v.getBigUint64(32, le), 'e_phoff'),
          shoff: toNumber(v.getBigUint64(40, le), 'e_shoff'),
          phentsize: v.getUint16(54, le),
          phnum: v.getUint16(56, le),
          shentsize: v.getUint16(58, le),
          shnum: v.getUint16(60, le),
          shstrndx: v.getUint16(62, le),
        }
      : {
          elfClass,
          littleEndian: le,
          type: v.getUint16(16, le),
          machine: v.getUint16(18, le),
          entry: BigInt(v.getUint32(24, le)),
          phoff: v.getUint32(28, le),
          shoff: v.getUint32(32, le),
          phentsize: v.getUint16(42, le),
          phnum: v.getUint16(44, le),
          shentsize: v.getUint16(46, le),
          shnum: v.getUint16(48, le),
          shstrndx: v.getUint16(50, le),
        };
  const minPhent = elfClass === 64 ? 56 : 32;
  const minShent = elfClass === 64 ? 64 : 40;
  if (h.phnum > MAX_PHNUM) throw new ElfError(`ELF has ${h.phnum} program headers (more than ${MAX_PHNUM}): not a kernel`);
  if (h.phnum > 0 && h.phentsize < minPhent) throw new ElfError(`ELF e_phentsize ${h.phentsize} is smaller than ${minPhent}`);
  if (h.shnum > 0 && h.shentsize < minShent) throw new ElfError(`ELF e_shentsize ${h.shentsize} is smaller than ${minShent}`);
  return h;
}

/** Parses `h.phnum` program headers from the bytes at e_phoff. */
export function parseProgramHeaders(buf: Uint8Array, h: ElfHeader): ProgramHeader[] {
  if (buf.length < h.phnum * h.phentsize) throw new ElfError('program header table truncated');
  const v = view(buf);
  const le = h.littleEndian;
  const out: ProgramHeader[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const o = i * h.phentsize;
    out.push(
      h.elfClass === 64
        ? { type: v.getUint32(o, le), offset: toNumber(v.getBigUint64(o + 8, le), 'p_offset'), filesz: toNumber(v.getBigUint64(o + 32, le), 'p_filesz') }
        : { type: v.getUint32(o, le), offset: v.getUint32(o + 4, le), filesz: v.getUint32(o + 16, le) },
    );
  }
  return out;
}

/** Parses `h.shnum` section headers from the bytes at e_shoff. */
export function parseSectionHeaders(buf: Uint8Array, h: ElfHeader): SectionHeader[] {
  if (buf.length < h.shnum * h.shentsize) throw new ElfError('section header table truncated');
  const v = view(buf);
  const le = h.littleEndian;
  const out: SectionHeader[] = [];
  for (let i = 0; i < h.shnum; i++) {
    const o = i * h.shentsize;
    out.push(
      h.elfClass === 64
        ? {
            nameOffset: v.getUint32(o, le),
            type: v.getUint32(o + 4, le),
            offset: toNumber(v.getBigUint64(o + 24, le), 'sh_offset'),
            size: toNumber(v.getBigUint64(o + 32, le), 'sh_size'),
          }
        : { nameOffset: v.getUint32(o, le), type: v.getUint32(o + 4, le), offset: v.getUint32(o + 16, le), size: v.getUint32(o + 20, le) },
    );
  }
  return out;
}

/** The NUL-terminated string at `offset` of a string table, or null when it runs off the end. */
export function stringAt(table: Uint8Array, offset: number, max = 256): string | null {
  if (offset >= table.length) return null;
  const end = Math.min(table.length, offset + max);
  const nul = table.subarray(offset, end).indexOf(0);
  if (nul < 0) return null;
  return Buffer.from(table.subarray(offset, offset + nul)).toString('latin1');
}

const round4 = (n: number) => (n + 3) & ~3;

/**
 * Walks the notes in one note area the way Xen's libelf does (name and desc each padded to 4
 * bytes, whatever the ELF class). A note whose sizes run past the area ends the walk; more than
 * `maxNotes` in all is an error (Xen: "too many ELF notes").
 * @example
 * parseNotes(noteSegment, le, { count: 0 }, 65536) // => [{ name: 'Xen', type: 18, desc: Uint8Array(4) }, ...]
 */
export function parseNotes(area: Uint8Array, littleEndian: boolean, counter: { count: number }, maxNotes: number): ElfNote[] {
  const v = view(area);
  const out: ElfNote[] = [];
  let o = 0;
  while (o + 12 <= area.length) {
    if (counter.count >= maxNotes) throw new ElfError(`too many ELF notes (more than ${maxNotes})`);
    counter.count++;
    const namesz = v.getUint32(o, littleEndian);
    const descsz = v.getUint32(o + 4, littleEndian);
    const type = v.getUint32(o + 8, littleEndian);
    const nameStart = o + 12;
    const descStart = nameStart + round4(namesz);
    const next = descStart + round4(descsz);
    if (namesz > area.length || descsz > area.length || next > area.length) break;
    const rawName = area.subarray(nameStart, nameStart + namesz);
    const nul = rawName.indexOf(0);
    const name = Buffer.from(nul >= 0 ? rawName.subarray(0, nul) : rawName).toString('latin1');
    out.push({ name, type, desc: area.subarray(descStart, descStart + descsz) });
    o = next;
  }
  return out;
}
