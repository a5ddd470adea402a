/**
 * Xen's ELF notes (xen/include/public/elfnote.h), decoded by name, and the domain-builder
 * parameters Xen derives from them (xen/common/libelf/libelf-dominfo.c).
 */
import type { ElfNote } from './elf.ts';
import type { XenNote } from './types.ts';

export const XEN_ELFNOTE = {
  INFO: 0,
  ENTRY: 1,
  HYPERCALL_PAGE: 2,
  VIRT_BASE: 3,
  PADDR_OFFSET: 4,
  XEN_VERSION: 5,
  GUEST_OS: 6,
  GUEST_VERSION: 7,
  LOADER: 8,
  PAE_MODE: 9,
  FEATURES: 10,
  BSD_SYMTAB: 11,
  HV_START_LOW: 12,
  L1_MFN_VALID: 13,
  SUSPEND_CANCEL: 14,
  INIT_P2M: 15,
  MOD_START_PFN: 16,
  SUPPORTED_FEATURES: 17,
  PHYS32_ENTRY: 18,
  PHYS32_RELOC: 19,
} as const;

const NAMES = Object.fromEntries(Object.entries(XEN_ELFNOTE).map(([k, v]) => [v, k])) as Record<number, string>;
const STRING_NOTES = new Set<number>([5, 6, 7, 8, 9, 10, 11]);
/** Notes holding several numbers: L1_MFN_VALID (mask, value), SUPPORTED_FEATURES (u32 bitmaps), PHYS32_RELOC (align, min, max). */
const ARRAY_NOTES: Record<number, number> = { 13: 0, 17: 4, 19: 4 };

/** Longest note string kept: Xen copies LOADER & co. into 16-byte buffers; FEATURES is longer. */
const MAX_STRING = 1024;
const MAX_RAW = 64;

function numeric(desc: Uint8Array, le: boolean): bigint | null {
  const v = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
  switch (desc.length) {
    case 1:
      return BigInt(desc[0]!);
    case 2:
      return BigInt(v.getUint16(0, le));
    case 4:
      return BigInt(v.getUint32(0, le));
    case 8:
      return v.getBigUint64(0, le);
    default:
      return null; // Xen's elf_note_numeric reads such a note as 0
  }
}

const hex = (n: bigint) => `0x${n.toString(16)}`;

function array(desc: Uint8Array, width: number, le: boolean): string[] {
  const out: string[] = [];
  for (let o = 0; o + width <= desc.length && out.length < 64; o += width) {
    const n = numeric(desc.subarray(o, o + width), le);
    if (n !== null) out.push(hex(n));
  }
  return out;
}

/** A note string: the bytes up to the first NUL, bounded. */
export function noteString(desc: Uint8Array): string {
  const nul = desc.indexOf(0);
  const bytes = desc.subarray(0, Math.min(nul >= 0 ? nul : desc.length, MAX_STRING));
  return Buffer.from(bytes).toString('latin1');
}

/**
 * Decodes one note owned by `Xen` into its printable form.
 * @example
 * decodeXenNote({ name: 'Xen', type: 18, desc: Uint8Array.of(0xd0, 0x0a, 0x00, 0x01) }, true)
 * // => { type: 18, name: 'PHYS32_ENTRY', value: '0x1000ad0' }
 */
export function decodeXenNote(note: ElfNote, le: boolean): XenNote {
  const name = NAMES[note.type] ?? `UNKNOWN_${note.type}`;
  if (STRING_NOTES.has(note.type)) return { type: note.type, name, value: noteString(note.desc) };
  const width = ARRAY_NOTES[note.type];
  if (width !== undefined) {
    const w = width === 0 ? (note.desc.length === 16 ? 8 : 4) : width;
    return { type: note.type, name, value: array(note.desc, w, le) };
  }
  const n = NAMES[note.type] !== undefined ? numeric(note.desc, le) : null;
  if (n !== null) return { type: note.type, name, value: hex(n) };
  return { type: note.type, name, value: Buffer.from(note.desc.subarray(0, MAX_RAW)).toString('hex') };
}

/** The Xen features by bit (xen/include/public/features.h), as libelf's FEATURES parser knows them. */
const FEATURE_NAMES = [
  'writable_page_tables',
  'writable_descriptor_tables',
  'auto_translated_physmap',
  'supervisor_mode_kernel',
  'pae_pgdir_above_4gb',
  null,
  null,
  null,
  'hvm_callback_vector',
  null,
  null,
  'dom0',
] as const;

export type Features = { supported: Set<string>; required: Set<string>; unknownRequired: string | null };

/**
 * Splits a FEATURES string (`a|b|!c`) as elf_xen_parse_features does: `!` marks a required
 * feature, and a required feature Xen does not know makes the whole image invalid.
 * @example
 * parseFeatures('!writable_page_tables|pae_pgdir_above_4gb').required // => Set { 'writable_page_tables' }
 */
export function parseFeatures(s: string): Features {
  const out: Features = { supported: new Set(), required: new Set(), unknownRequired: null };
  for (const raw of s.split('|').slice(0, 256)) {
    const f = raw.slice(0, 62);
    if (f === '') continue;
    const req = f.startsWith('!');
    const name = req ? f.slice(1) : f;
    if (FEATURE_NAMES.includes(name as never)) {
      out.supported.add(name);
      if (req) out.required.add(name);
    } else if (req && out.unknownRequired === null) {
      out.unknownRequired = name;
    }
  }
  return out;
}
