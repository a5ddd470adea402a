/**
 * Recognises the compression of a kernel payload by its magic bytes, as Xen's bzImage loader
 * and Linux's decompressors do (xen-facts.md lists them).
 */
import type { Compression } from './types.ts';

const MAGICS: ReadonlyArray<[Exclude<Compression, 'none'>, number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['bzip2', [0x42, 0x5a, 0x68]], // "BZh"
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]], // legacy frame
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lzma', [0x5d, 0x00]], // properties byte 0x5d (lc=3 lp=0 pb=2), then the dictionary size
];

/**
 * The compression whose magic starts `buf`, or null.
 * @example
 * sniffCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) // => 'xz'
 */
export function sniffCompression(buf: Uint8Array): Exclude<Compression, 'none'> | null {
  for (const [name, magic] of MAGICS) {
    if (buf.length >= magic.length && magic.every((b, i) => buf[i] === b)) return name;
  }
  return null;
}

/** True when `buf` starts with the ELF magic. */
export function isElf(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}
