/**
 * Bounded mutation fuzzing of the kernel reader on real headers and streams: every case must
 * end in a report or a one-line error, never an exception, a crash or a hang.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { kernel, vmlinux } from '../../test/fixtures/kernels.ts';
import { fuzzCases, fuzzSeed, mutate, rng } from '../../test/support/fuzz.ts';
import { parseSetupHeader } from './bzimage.ts';
import { parseElfHeader, parseProgramHeaders, PT_NOTE } from './elf.ts';
import { inspectKernelBytes } from './inspect.ts';
import { replacePayload } from './repack.ts';
import type { KernelResult } from './types.ts';

const seed = fuzzSeed();
const limits = { timeoutMs: 30_000, maxOutputBytes: 256 << 20 };

/** A real vmlinux cut down to its ELF header, program headers and note segment (moved to 4096). */
function compactElf(elf: Buffer): Buffer {
  const h = parseElfHeader(elf);
  const phdrs = parseProgramHeaders(elf.subarray(h.phoff), h);
  const i = phdrs.findIndex((p) => p.type === PT_NOTE);
  const note = phdrs[i]!;
  const out = Buffer.concat([Buffer.from(elf.subarray(0, 4096)), elf.subarray(note.offset, note.offset + note.filesz)]);
  const at = h.phoff + i * h.phentsize;
  if (h.elfClass === 64) out.writeBigUInt64LE(4096n, at + 8);
  else out.writeUInt32LE(4096, at + 4);
  return out;
}

function check(r: KernelResult, what: string) {
  if (r.error !== null) {
    assert.equal(typeof r.error, 'string', what);
    assert.ok(r.error.length > 0 && !r.error.includes('\n'), `${what}: one-line error, got ${JSON.stringify(r.error)}`);
  } else {
    assert.equal(typeof r.pv.capable, 'boolean', what);
    assert.equal(typeof r.pvh.capable, 'boolean', what);
    assert.ok(Array.isArray(r.notes), what);
  }
}

test(`fuzz: mutated ELF headers, program headers and Xen notes (seed ${seed})`, async () => {
  const corpus = [compactElf(readFileSync(await vmlinux('amd64'))), compactElf(readFileSync(await vmlinux('686-pae')))];
  const r = rng(seed);
  const n = fuzzCases(5000);
  for (let i = 0; i < n; i++) {
    const base = corpus[i % corpus.length]!;
    const input = mutate(base, r, 0, r() < 0.5 ? 512 : base.length);
    check(await inspectKernelBytes(input, `elf#${i}`, limits), `seed ${seed} case ${i}`);
  }
});

test(`fuzz: mutated gzip streams and bzImage setup headers around real notes (seed ${seed})`, async () => {
  const bz = readFileSync((await kernel('amd64')).vmlinuz);
  const small = compactElf(readFileSync(await vmlinux('amd64')));
  const gz = zlib.gzipSync(small);
  const image = replacePayload(bz, gz);
  const h = parseSetupHeader(image);
  assert.ok(h.ok);
  const r = rng(seed ^ 0x5eed);
  const n = fuzzCases(2000);
  for (let i = 0; i < n; i++) {
    const input =
      i % 2 === 0
        ? mutate(image, r, 0x1f0, 0x270) // the setup header fields
        : mutate(image, r, h.header.payloadStart, h.header.payloadStart + Math.min(gz.length, 4096));
    check(await inspectKernelBytes(input, `bz#${i}`, limits), `seed ${seed} case ${i}`);
  }
});

test(`fuzz: mutated real xz payloads through the child decompressor (seed ${seed})`, async () => {
  const bz = readFileSync((await kernel('686-pae')).vmlinuz);
  const h = parseSetupHeader(bz);
  assert.ok(h.ok);
  // The payload's first 512 KiB: a real xz stream, cut short, then mutated.
  const head = bz.subarray(h.header.payloadStart, h.header.payloadStart + (512 << 10));
  const r = rng(seed ^ 0xc0de);
  const n = fuzzCases(100);
  for (let i = 0; i < n; i++) {
    check(await inspectKernelBytes(mutate(head, r, 0, 4096), `xz#${i}`, limits), `seed ${seed} case ${i}`);
  }
});
