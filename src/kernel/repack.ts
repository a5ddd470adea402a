/**
 * Kernel image surgery for tests and the lab: extract the vmlinux from a bzImage, recompress it
 * with the standard tools the way Linux's build does, put a new payload into a bzImage (patching
 * payload_length), and rename a Xen note (to make a kernel without the PVH entry from a real one).
 * Only Xen's loaders need to boot the results: they read the payload, not the stub decompressor.
 */
import { spawn } from 'node:child_process';
import { parseSetupHeader } from './bzimage.ts';
import { decompress } from './decompress.ts';
import { parseElfHeader, parseProgramHeaders, PT_NOTE } from './elf.ts';
import { sniffCompression } from './sniff.ts';
import type { Compression } from './types.ts';

/** The commands of Linux's scripts/Makefile.lib and arch/x86/boot/compressed/Makefile. */
const COMPRESSORS: Record<Exclude<Compression, 'none'>, [string, string[]]> = {
  gzip: ['gzip', ['-n', '-f', '-9', '-c']],
  bzip2: ['bzip2', ['-9', '-c']],
  // scripts/xz_wrap.sh for x86: BCJ filter, CRC32, 32 MiB dictionary
  xz: ['xz', ['--check=crc32', '--x86', '--lzma2=,dict=32MiB', '-c']],
  lzma: ['xz', ['--format=lzma', '-9', '-c']],
  lzo: ['lzop', ['-9', '-c']],
  lz4: ['lz4', ['-l', '-9', '-c']],
  zstd: ['zstd', ['-22', '--ultra', '-c', '-q']],
};

function pipeThrough(cmd: string, args: string[], input: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} exited ${code}: ${err.trim()}`))));
    child.stdin.end(input);
  });
}

/**
 * Compresses a vmlinux as Linux does for a bzImage payload, size trailer included.
 * @example
 * const payload = await compressPayload(vmlinux, 'zstd') // ends with the 4-byte little-endian size
 */
export async function compressPayload(vmlinux: Uint8Array, compression: Exclude<Compression, 'none'>): Promise<Buffer> {
  const [cmd, args] = COMPRESSORS[compression];
  const body = await pipeThrough(cmd, args, vmlinux);
  if (compression === 'gzip') return body; // gzip's own ISIZE is the trailer
  const size = Buffer.alloc(4);
  size.writeUInt32LE(vmlinux.length >>> 0);
  return Buffer.concat([body, size]);
}

/** Decompresses a bzImage's whole payload: the vmlinux ELF (bounded at 1 GiB). */
export async function extractVmlinux(bzImage: Uint8Array): Promise<Buffer> {
  const setup = parseSetupHeader(bzImage);
  if (!setup.ok) throw new Error(setup.error ?? 'not a bzImage (no HdrS)');
  const raw = bzImage.subarray(setup.header.payloadStart, setup.header.payloadStart + setup.header.payloadLength);
  const c = sniffCompression(raw);
  if (c === null) throw new Error('bzImage payload is not compressed in a known format');
  const payload = c === 'gzip' ? raw : raw.subarray(0, raw.length - 4);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of decompress(payload, c, { timeoutMs: 300_000 })) {
    total += chunk.length;
    if (total > 1 << 30) throw new Error('payload inflates past 1 GiB');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * A copy of `bzImage` with its payload replaced by `payload`; payload_length and syssize patched.
 * @example
 * const lz4Kernel = replacePayload(amd64Vmlinuz, await compressPayload(vmlinux, 'lz4'))
 */
export function replacePayload(bzImage: Uint8Array, payload: Uint8Array): Buffer {
  const setup = parseSetupHeader(bzImage);
  if (!setup.ok) throw new Error(setup.error ?? 'not a bzImage (no HdrS)');
  const { payloadStart, payloadLength, setupSects } = setup.header;
  const out = Buffer.concat([bzImage.subarray(0, payloadStart), payload, bzImage.subarray(payloadStart + payloadLength)]);
  out.writeUInt32LE(payload.length, 0x24c);
  out.writeUInt32LE(Math.ceil((out.length - (setupSects + 1) * 512) / 16), 0x1f4);
  return out;
}

/**
 * Changes the type of every `Xen` note of type `from` to `to` in a vmlinux (in a copy), for
 * example PHYS32_ENTRY (18) to an unused number, which makes Xen ignore it. Returns the copy
 * and how many notes were changed.
 */
export function retypeXenNote(vmlinux: Uint8Array, from: number, to: number): { image: Buffer; changed: number } {
  const image = Buffer.from(vmlinux);
  const h = parseElfHeader(image);
  const phdrs = parseProgramHeaders(image.subarray(h.phoff), h);
  let changed = 0;
  for (const p of phdrs.filter((p) => p.type === PT_NOTE && p.offset !== 0)) {
    let o = p.offset;
    const end = p.offset + p.filesz;
    while (o + 12 <= end) {
      const namesz = h.littleEndian ? image.readUInt32LE(o) : image.readUInt32BE(o);
      const descsz = h.littleEndian ? image.readUInt32LE(o + 4) : image.readUInt32BE(o + 4);
      const type = h.littleEndian ? image.readUInt32LE(o + 8) : image.readUInt32BE(o + 8);
      const name = image.subarray(o + 12, o + 12 + namesz).toString('latin1').replace(/\0+$/, '');
      if (name === 'Xen' && type === from) {
        if (h.littleEndian) image.writeUInt32LE(to, o + 8);
        else image.writeUInt32BE(to, o + 8);
        changed++;
      }
      o += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return { image, changed };
}
