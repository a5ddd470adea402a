/**
 * Kernel readiness: reads one kernel image (bzImage, ELF vmlinux or a bare compressed payload)
 * and reports its Xen notes and whether Xen boots it as PV and as PVH. Decompression streams,
 * and stops as soon as the PT_NOTE segments are read (about a third into an amd64 vmlinux).
 */
import { createHash } from 'node:crypto';
import { constants, fstatSync, readSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseSetupHeader } from './bzimage.ts';
import { decompress } from './decompress.ts';
import { EHDR_SIZE, EM_386, EM_X86_64, parseElfHeader, parseNotes, parseProgramHeaders, parseSectionHeaders, PT_NOTE, SHT_NOTE, stringAt, type ElfNote } from './elf.ts';
import { decodeXenNote } from './notes.ts';
import { isElf, sniffCompression } from './sniff.ts';
import { bufferSource, streamSource, type ByteSource, type Range } from './source.ts';
import { ABANDONED, type Compression, type KernelFormat, type KernelReport, type KernelResult } from './types.ts';
import { archOf, pvhVerdict, pvVerdict } from './verdict.ts';

export type InspectLimits = {
  /** Largest file read (a bzImage is 5–15 MB, a vmlinux 15–100 MB). */
  maxFileBytes: number;
  /** Decompressed output cap: Xen's own (XSA-25) is 1 GiB. */
  maxOutputBytes: number;
  /** Wall-clock limit for one decompressor child. */
  timeoutMs: number;
  /** Total notes walked, as Xen's ELF_MAX_TOTAL_NOTE_COUNT. */
  maxNotes: number;
  /** Largest note area read. */
  maxNoteArea: number;
};

export const DEFAULT_LIMITS: InspectLimits = {
  maxFileBytes: 256 << 20,
  maxOutputBytes: 1 << 30,
  timeoutMs: 120_000,
  maxNotes: 65536,
  maxNoteArea: 16 << 20,
};

class KernelError extends Error {}

/**
 * Reads and judges one kernel image file. Never throws: a file that cannot be read gives
 * `{ file, error }` with a one-line cause.
 * @example
 * await inspectKernelFile('/boot/vmlinuz-6.1.0-26-amd64')
 * // => { file, format: 'bzImage', compression: 'xz', arch: 'x86_64', pv: { capable: true, abi: 'xen-3.0-x86_64', ... }, pvh: { capable: true, ... }, error: null, ... }
 */
export async function inspectKernelFile(file: string, limits: Partial<InspectLimits> = {}): Promise<KernelResult> {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  let bytes: Buffer;
  try {
    bytes = await readBounded(file, lim.maxFileBytes);
  } catch (err) {
    return { file, error: fsMessage(err) };
  }
  return inspectKernelBytes(bytes, file, lim);
}

/**
 * As inspectKernelFile, for an image already in memory (for example read from a guest's disk).
 * `sha256` may carry the bytes' hash when the caller has it already (a verdict cache lookup);
 * `signal` abandons the read (its decompressor is killed) and gives `{ file, error }`.
 */
export async function inspectKernelBytes(
  bytes: Uint8Array,
  file: string,
  limits: Partial<InspectLimits> & { sha256?: string; signal?: AbortSignal } = {},
): Promise<KernelResult> {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  try {
    return await analyse(bytes, file, lim, limits.sha256, limits.signal);
  } catch (err) {
    if (limits.signal?.aborted) return { file, error: ABANDONED };
    const msg = err instanceof Error ? err.message : String(err);
    return { file, error: msg.split('\n')[0] ?? msg };
  }
}

/**
 * Inspects many files, `concurrency` at a time (default: one per core; decompressors run as
 * child processes or on libuv's pool, so every core is busy). Results come back in input order;
 * `onResult` sees each as soon as it and all before it are done.
 */
export async function inspectKernelFiles(
  files: string[],
  opts: { concurrency?: number; limits?: Partial<InspectLimits>; onResult?: (r: KernelResult, index: number) => void } = {},
): Promise<KernelResult[]> {
  const results: KernelResult[] = new Array(files.length);
  const done: boolean[] = new Array(files.length).fill(false);
  let next = 0;
  let emitted = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      results[i] = await inspectKernelFile(files[i]!, opts.limits);
      done[i] = true;
      while (emitted < files.length && done[emitted]) {
        opts.onResult?.(results[emitted]!, emitted);
        emitted++;
      }
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? availableParallelism(), files.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}

/**
 * A kernel image from a descriptor opened by someone else (the contained child gets a dom0 kernel
 * file that way, never its path): its bytes, or why not as one line.
 * @example
 * readKernelFd(6, 256 << 20) // => Buffer | 'is empty'
 */
export function readKernelFd(fd: number, max: number): Buffer | string {
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return 'is not a regular file';
    if (st.size > max) return `is ${st.size} bytes, larger than any kernel (limit ${max})`;
    if (st.size === 0) return 'is empty';
    const buf = Buffer.alloc(st.size);
    for (let got = 0; got < st.size; ) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) return 'changed while it was read';
      got += n;
    }
    return buf;
  } catch (err) {
    return fsMessage(err);
  }
}

async function readBounded(file: string, max: number): Promise<Buffer> {
  // stat before open, and open non-blocking: opening a FIFO for reading would wait for a writer
  const pre = await stat(file);
  if (pre.isDirectory()) throw new KernelError('is a directory, not a kernel image');
  if (!pre.isFile() && !pre.isBlockDevice()) throw new KernelError('is not a regular file');
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile() && !st.isBlockDevice()) throw new KernelError('is not a regular file');
    if (st.size > max) throw new KernelError(`is ${st.size} bytes, larger than any kernel (limit ${max})`);
    if (st.size === 0) throw new KernelError('is empty');
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

function fsMessage(err: unknown): string {
  if (err instanceof KernelError) return err.message;
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a kernel image';
    default:
      return e.message?.split('\n')[0] ?? String(err);
  }
}

const hex4 = (b: Uint8Array) => Buffer.from(b.subarray(0, 6)).toString('hex').replace(/(..)/g, '$1 ').trim();

async function analyse(bytes: Uint8Array, file: string, lim: InspectLimits, knownSha256?: string, signal?: AbortSignal): Promise<KernelReport> {
  const sha256 = knownSha256 ?? createHash('sha256').update(bytes).digest('hex');
  let format: KernelFormat;
  let compression: Compression;
  let version: string | null = null;
  let bootProtocol: string | null = null;
  let payload: Uint8Array;

  const setup = parseSetupHeader(bytes);
  if (setup.ok) {
    format = 'bzImage';
    bootProtocol = setup.header.protocol;
    version = setup.header.version;
    const raw = bytes.subarray(setup.header.payloadStart, setup.header.payloadStart + setup.header.payloadLength);
    const c = sniffCompression(raw);
    if (c === null) {
      if (!isElf(raw)) throw new KernelError(`bzImage payload is in no compression Xen knows (starts ${hex4(raw)})`);
      compression = 'none';
      payload = raw;
    } else {
      compression = c;
      // Linux appends the uncompressed size (4 bytes) to every payload; for gzip it is the
      // stream's own ISIZE, for the others it is extra bytes strict decoders reject.
      payload = c === 'gzip' ? raw : raw.subarray(0, raw.length - 4);
    }
  } else if (setup.error !== null) {
    throw new KernelError(setup.error);
  } else if (isElf(bytes)) {
    format = 'elf';
    compression = 'none';
    payload = bytes;
  } else {
    const c = sniffCompression(bytes);
    if (c === null) throw new KernelError(`not a kernel image: no bzImage header (HdrS), ELF magic or known compression magic (starts ${hex4(bytes)})`);
    format = 'compressed';
    compression = c;
    payload = bytes;
  }

  const trailerSize = format === 'compressed' && payload.length >= 4 ? Buffer.from(payload.subarray(payload.length - 4)).readUInt32LE() : undefined;
  const source: ByteSource =
    compression === 'none'
      ? bufferSource(payload)
      : streamSource(() => decompress(payload, compression as Exclude<Compression, 'none'>, { timeoutMs: lim.timeoutMs, trailerSize, signal }), {
          maxBytes: lim.maxOutputBytes,
          maxPasses: 3,
        }, version === null ? { needle: BANNER, after: 256 } : undefined);
  try {
    const elf = await readXenInfo(source, lim, format !== 'elf' && compression !== 'none');
    if (version === null) {
      const banner = await source.find(BANNER, 0, lim.maxOutputBytes, 256).catch(() => null);
      if (banner !== null) version = bannerVersion(banner.bytes);
    }
    const arch = archOf(elf.machine, elf.xenNotes);
    return {
      file,
      format,
      compression,
      version,
      release: version?.split(' ')[0] ?? null,
      arch,
      elfClass: elf.elfClass,
      machine: elf.machine === EM_X86_64 ? 'x86_64' : elf.machine === EM_386 ? 'i386' : `EM_${elf.machine}`,
      bootProtocol,
      notes: elf.xenNotes,
      notesFrom: elf.notesFrom,
      pv: pvVerdict({ machine: elf.machine, notes: elf.xenNotes, noteArea: elf.noteArea, guestInfo: elf.guestInfo }),
      pvh: pvhVerdict({ machine: elf.machine, notes: elf.xenNotes, noteArea: elf.noteArea, guestInfo: null }),
      bytesDecompressed: compression === 'none' ? 0 : source.needed,
      sha256,
      error: null,
    };
  } finally {
    await source.close();
  }
}

/** Linux's linux_banner (init/version.c), in .rodata: before the notes in x86 vmlinux. */
const BANNER = Buffer.from('Linux version ');

function bannerVersion(b: Uint8Array): string | null {
  const s = Buffer.from(b).toString('latin1').slice('Linux version '.length);
  const end = s.search(/[\n\0]/);
  const v = (end < 0 ? s : s.slice(0, end)).trim();
  return /^[0-9]/.test(v) ? v : null;
}

type ElfInfo = {
  elfClass: 32 | 64;
  machine: number;
  xenNotes: ReturnType<typeof decodeXenNote>[];
  notesFrom: KernelReport['notesFrom'];
  noteArea: boolean;
  guestInfo: Record<string, string> | null;
};

/** Xen's elf_xen_parse order: PT_NOTE segments, else SHT_NOTE sections, else `__xen_guest`. */
async function readXenInfo(src: ByteSource, lim: InspectLimits, decompressed: boolean): Promise<ElfInfo> {
  const [head] = await src.readRanges([{ offset: 0, length: EHDR_SIZE }]).catch(() => {
    throw new KernelError(`${decompressed ? 'decompressed payload' : 'image'} is shorter than an ELF header`);
  });
  if (!isElf(head!)) throw new KernelError(`${decompressed ? 'decompressed payload' : 'image'} is not an ELF image (starts ${hex4(head!)})`);
  const h = parseElfHeader(head!);
  const counter = { count: 0 };
  const xen = (notes: ElfNote[]) => notes.filter((n) => n.name === 'Xen').map((n) => decodeXenNote(n, h.littleEndian));

  let noteArea = false;
  const xenNotes: ElfInfo['xenNotes'] = [];
  const result = (notesFrom: ElfInfo['notesFrom'], guestInfo: ElfInfo['guestInfo'] = null): ElfInfo => ({
    elfClass: h.elfClass,
    machine: h.machine,
    xenNotes,
    notesFrom,
    noteArea,
    guestInfo,
  });
  if (h.phnum > 0) {
    const [ph] = await src.readRanges([{ offset: h.phoff, length: h.phnum * h.phentsize, what: 'program header table' }]);
    // Some binutils leave p_offset 0 on note segments; Xen skips those, and so do we.
    const segs = parseProgramHeaders(ph!, h).filter((p) => p.type === PT_NOTE && p.offset !== 0);
    noteArea = segs.length > 0;
    // Bytes before the first note segment are needed again only by the SHT_NOTE fallback for a
    // kernel whose note segments hold no Xen notes (then read by another pass), and the note
    // sections are in the note segments as linked: a stream need not keep what lies before them.
    if (segs.length > 0) src.keepFrom(Math.min(...segs.map((p) => p.offset)));
    const ranges = boundedRanges(segs.map((s) => ({ offset: s.offset, length: s.filesz, what: 'PT_NOTE segment' })), lim.maxNoteArea);
    const areas = await src.readRanges(ranges);
    for (const a of areas) xenNotes.push(...xen(parseNotes(a, h.littleEndian, counter, lim.maxNotes)));
  }
  if (xenNotes.length > 0) return result('PT_NOTE');

  // Fallback: SHT_NOTE sections, then the legacy __xen_guest section (read only when there are section headers).
  if (h.shnum === 0 || h.shoff === 0) return result(null);
  const [sh] = await src.readRanges([{ offset: h.shoff, length: h.shnum * h.shentsize, what: 'section header table' }]);
  const sections = parseSectionHeaders(sh!, h);
  const noteSecs = sections.slice(1).filter((s) => s.type === SHT_NOTE && s.size > 0);
  const strtab = sections[h.shstrndx];
  const want: Range[] = boundedRanges(noteSecs.map((s) => ({ offset: s.offset, length: s.size, what: 'SHT_NOTE section' })), lim.maxNoteArea);
  const strRange = strtab !== undefined && strtab.size > 0 && strtab.size <= 1 << 20 ? { offset: strtab.offset, length: strtab.size, what: 'section name table' } : null;
  const got = await src.readRanges(strRange === null ? want : [...want, strRange]);
  if (noteSecs.length > 0) noteArea = true;
  for (const a of got.slice(0, want.length)) xenNotes.push(...xen(parseNotes(a, h.littleEndian, counter, lim.maxNotes)));
  if (xenNotes.length > 0) return result('SHT_NOTE');

  const names = strRange === null ? null : got[want.length]!;
  const guest = names === null ? undefined : sections.find((s) => stringAt(names, s.nameOffset) === '__xen_guest');
  if (guest === undefined || guest.size === 0) return result(null);
  const [gi] = await src.readRanges([{ offset: guest.offset, length: Math.min(guest.size, 4096), what: '__xen_guest section' }]);
  return result('__xen_guest', parseGuestInfo(gi!));
}

/** Caps each range and their total at `max` bytes. */
function boundedRanges(ranges: Range[], max: number): Range[] {
  let left = max;
  const out: Range[] = [];
  for (const r of ranges) {
    const len = Math.min(r.length, left);
    if (len <= 0) break;
    out.push({ ...r, length: len });
    left -= len;
  }
  return out;
}

/**
 * The legacy `__xen_guest` string: `KEY=VALUE,` pairs up to a NUL, names cut at 31 and values
 * at 127 characters as in libelf's elf_xen_parse_guest_info.
 * @example
 * parseGuestInfo(Buffer.from('GUEST_OS=linux,XEN_VER=xen-3.0,PAE=yes\0')) // => { GUEST_OS: 'linux', XEN_VER: 'xen-3.0', PAE: 'yes' }
 */
export function parseGuestInfo(b: Uint8Array): Record<string, string> {
  const nul = b.indexOf(0);
  const s = Buffer.from(nul >= 0 ? b.subarray(0, nul) : b).toString('latin1');
  const out: Record<string, string> = Object.create(null);
  for (const pair of s.split(',').slice(0, 256)) {
    const eq = pair.indexOf('=');
    const name = (eq < 0 ? pair : pair.slice(0, eq)).slice(0, 31);
    if (name !== '') out[name] = eq < 0 ? '' : pair.slice(eq + 1, eq + 128);
  }
  return out;
}
