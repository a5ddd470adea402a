/**
 * Makes the lab's "no PVH entry" kernel from a real Debian bzImage: decompress its payload, rename
 * the Xen PHYS32_ENTRY note (type 18) to an unknown type so that Xen's ELF loader no longer finds
 * it, gzip the vmlinux and point the setup header's payload_offset and payload_length at it.
 * Xen's PV loader unpacks the payload itself (tools/libs/guest/xg_dom_bzimageloader.c), so the
 * image still boots as PV; a PVH boot fails with "image not capable of booting inside a HVM
 * container". The bytes work is pure; only the xz decompression runs the system's `xz`.
 */
import { execFile } from 'node:child_process';
import { gzipSync } from 'node:zlib';

/** Xen's ELF note type numbers used here (xen/include/public/elfnote.h). */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;
/** The type the note is renamed to: unknown to every Xen, so it is skipped. */
export const RENAMED_NOTE_TYPE = 0x7e18;

const SETUP_SECTS = 0x1f1;
const HDRS = 0x202;
const PAYLOAD_OFFSET = 0x248;
const PAYLOAD_LENGTH = 0x24c;

export type Payload = { start: number; length: number };

/**
 * Where a bzImage's compressed payload lies (boot protocol >= 2.08), or an error naming the cause.
 * @example
 * bzPayload(bzimageBytes) // => { start: 17408, length: 7890123 }
 */
export function bzPayload(image: Uint8Array): Payload {
  if (image.length < 0x250) throw new Error('too short for a bzImage setup header');
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (dv.getUint32(HDRS, true) !== 0x53726448) throw new Error('no HdrS magic at 0x202: not a bzImage');
  if (dv.getUint16(0x206, true) < 0x208) throw new Error('boot protocol older than 2.08 has no payload fields');
  const sects = image[SETUP_SECTS] === 0 ? 4 : image[SETUP_SECTS]!;
  const start = (sects + 1) * 512 + dv.getUint32(PAYLOAD_OFFSET, true);
  const length = dv.getUint32(PAYLOAD_LENGTH, true);
  if (start + length > image.length) throw new Error(`payload (${start}+${length}) runs past the end (${image.length})`);
  return { start, length };
}

/**
 * Renames every Xen note of type `from` in a 64-bit little-endian ELF's PT_NOTE segments to `to`,
 * in place, and returns how many were renamed.
 * @example
 * renameXenNote(vmlinux, XEN_ELFNOTE_PHYS32_ENTRY, RENAMED_NOTE_TYPE) // => 1
 */
export function renameXenNote(elf: Uint8Array, from: number, to: number): number {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.length < 64 || dv.getUint32(0, false) !== 0x7f454c46) throw new Error('not an ELF file');
  if (elf[4] !== 2 || elf[5] !== 1) throw new Error('not a 64-bit little-endian ELF');
  const phoff = Number(dv.getBigUint64(32, true));
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  if (phentsize < 56 || phnum > 64 || phoff + phnum * phentsize > elf.length) throw new Error('bad program header table');
  let renamed = 0;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (dv.getUint32(ph, true) !== 4 /* PT_NOTE */) continue;
    const off = Number(dv.getBigUint64(ph + 8, true));
    const size = Number(dv.getBigUint64(ph + 32, true));
    if (off + size > elf.length) throw new Error(`PT_NOTE ${i} runs past the end`);
    let p = off;
    while (p + 12 <= off + size) {
      const namesz = dv.getUint32(p, true);
      const descsz = dv.getUint32(p + 4, true);
      const name = Buffer.from(elf.subarray(p + 12, p + 12 + namesz)).toString('latin1');
      if (name === 'Xen\0' && dv.getUint32(p + 8, true) === from) {
        dv.setUint32(p + 8, to, true);
        renamed++;
      }
      p += 12 + align4(namesz) + align4(descsz);
    }
  }
  return renamed;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * A new bzImage: the original with its payload replaced by `payload` and payload_length patched
 * (payload_offset is unchanged). The decompressor code after the payload moves with it, so only
 * loaders that unpack the payload themselves, as Xen's does, can boot the result.
 */
export function withPayload(image: Uint8Array, payload: Uint8Array): Uint8Array {
  const { start, length } = bzPayload(image);
  const tail = image.subarray(start + length);
  const out = new Uint8Array(start + payload.length + tail.length);
  out.set(image.subarray(0, start));
  out.set(payload, start);
  out.set(tail, start + payload.length);
  new DataView(out.buffer).setUint32(PAYLOAD_LENGTH, payload.length, true);
  return out;
}

function xzDecompress(data: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // --single-stream: the kernel's payload ends with a 4-byte size after the xz stream.
    const child = execFile('xz', ['-dc', '--single-stream'], { encoding: 'buffer', maxBuffer: 256 << 20 }, (err, stdout) => {
      if (err) reject(new Error(`xz: ${err.message.split('\n')[0]}`));
      else resolve(stdout);
    });
    child.stdin!.end(data);
  });
}

/**
 * Reads a real bzImage (xz payload, as Debian's are) and returns the no-PVH bzImage.
 * @example
 * await noPvhKernel(await readFile('vmlinuz-6.1.0-56-amd64')) // => Uint8Array (a bzImage without PHYS32_ENTRY)
 */
export async function noPvhKernel(image: Uint8Array): Promise<Uint8Array> {
  const { start, length } = bzPayload(image);
  const vmlinux = await xzDecompress(image.subarray(start, start + length));
  const n = renameXenNote(vmlinux, XEN_ELFNOTE_PHYS32_ENTRY, RENAMED_NOTE_TYPE);
  if (n !== 1) throw new Error(`expected one PHYS32_ENTRY note, found ${n}`);
  return withPayload(image, gzipSync(vmlinux, { level: 6 }));
}
