/**
 * Hostile and broken kernel images, made from real ones: each gets a one-line error (or a
 * verdict) in bounded time and memory, and nothing crashes or hangs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { kernel, vmlinux } from '../../test/fixtures/kernels.ts';
import { parseSetupHeader } from './bzimage.ts';
import { inspectKernelBytes, inspectKernelFile } from './inspect.ts';
import type { KernelResult } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-bad-'));

function failure(r: KernelResult): string {
  assert.notEqual(r.error, null, 'expected an error');
  assert.ok(!r.error!.includes('\n'), 'one line');
  return r.error!;
}

test('truncated bzImage: inside the setup header, and inside the payload', async () => {
  const bz = readFileSync((await kernel('amd64')).vmlinuz);
  assert.match(failure(await inspectKernelBytes(bz.subarray(0, 1000), 'cut-1000')), /payload .* runs past the end of the file \(1000 bytes\)/);
  assert.match(failure(await inspectKernelBytes(bz.subarray(0, 0x230), 'cut-0x230')), /not a kernel image/);
  const half = bz.subarray(0, bz.length >> 1);
  assert.match(failure(await inspectKernelBytes(half, 'cut-half')), /payload .* runs past the end of the file/);
});

test('wrong magic: text, zeros, an ELF that is not x86', async () => {
  assert.match(failure(await inspectKernelBytes(Buffer.from('#!/bin/sh\necho hi\n'), 'script')), /^not a kernel image: no bzImage header/);
  assert.match(failure(await inspectKernelBytes(Buffer.alloc(4096), 'zeros')), /not a kernel image/);
  const arm = Buffer.from(readFileSync(await vmlinux('amd64')).subarray(0, 1 << 20));
  arm.writeUInt16LE(183, 18); // EM_AARCH64
  const r = await inspectKernelBytes(arm, 'arm');
  assert.ok(r.error !== null || (r.pv.capable === false && r.pvh.capable === false && r.arch === null));
});

test('corrupt xz stream: bytes flipped in the payload', async () => {
  const bz = Buffer.from(readFileSync((await kernel('amd64')).vmlinuz));
  const h = parseSetupHeader(bz);
  assert.ok(h.ok);
  for (let i = 0; i < 64; i++) bz[h.header.payloadStart + 200 + i * 7]! ^= 0x5a;
  assert.match(failure(await inspectKernelBytes(bz, 'flipped')), /corrupt xz stream|not an ELF image/);
});

test('payload_offset past the end of the file', async () => {
  const bz = Buffer.from(readFileSync((await kernel('amd64')).vmlinuz));
  bz.writeUInt32LE(0x7fffffff, 0x248);
  assert.match(failure(await inspectKernelBytes(bz, 'offset')), /runs past the end of the file/);
});

test('an old boot protocol without payload fields', async () => {
  const bz = Buffer.from(readFileSync((await kernel('amd64')).vmlinuz));
  bz.writeUInt16LE(0x0206, 0x206);
  assert.match(failure(await inspectKernelBytes(bz, 'old')), /boot protocol 2\.06 is older than 2\.08/);
});

test('ELF with absurd phnum, phoff past the end, and absurd note sizes', async () => {
  const elf = readFileSync(await vmlinux('amd64'));
  const phnum = Buffer.from(elf.subarray(0, 4 << 20));
  phnum.writeUInt16LE(0xffff, 56);
  assert.match(failure(await inspectKernelBytes(phnum, 'phnum')), /65535 program headers/);

  const phoff = Buffer.from(elf.subarray(0, 4 << 20));
  phoff.writeBigUInt64LE(1n << 40n, 32);
  assert.match(failure(await inspectKernelBytes(phoff, 'phoff')), /program header table \(bytes \d+\.\.\d+\) lies past the end of the image/);

  const phoff2 = Buffer.from(elf.subarray(0, 4 << 20));
  phoff2.writeBigUInt64LE(1n << 62n, 32);
  assert.match(failure(await inspectKernelBytes(phoff2, 'phoff2')), /e_phoff .* out of range/);

  // the first note header claims a 4 GiB description: the walk stops there, in the segment and in
  // the .notes section alike (Xen's fallback), so no Xen note is believed
  const notes = Buffer.from(elf);
  const noteOff = Number(notes.readBigUInt64LE(64 + 4 * 56 + 8)); // the 5th program header of Debian's amd64 vmlinux is PT_NOTE
  assert.equal(notes.readUInt32LE(64 + 4 * 56), 4, 'PT_NOTE');
  notes.writeUInt32LE(0xffffffff, noteOff + 4);
  const r = await inspectKernelBytes(notes, 'notesz');
  assert.ok(r.error === null);
  assert.deepEqual([r.notes.length, r.notesFrom, r.pv.capable, r.pvh.capable], [0, null, false, false]);
});

test('a decompression bomb: a tiny zstd file that inflates past 1 GiB is stopped at the cap', async () => {
  // An ELF header whose only PT_NOTE lies 2 GiB in, then zeros: 1.1 GiB of zeros compress to ~40 KB.
  const head = Buffer.alloc(4096);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(head);
  head.writeUInt16LE(2, 16);
  head.writeUInt16LE(62, 18);
  head.writeBigUInt64LE(64n, 32);
  head.writeUInt16LE(56, 54);
  head.writeUInt16LE(1, 56);
  head.writeUInt32LE(4, 64); // PT_NOTE
  head.writeBigUInt64LE(2n << 30n, 64 + 8);
  head.writeBigUInt64LE(64n, 64 + 32);
  const z = zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } });
  const parts: Buffer[] = [];
  z.on('data', (b: Buffer) => parts.push(b));
  const done = new Promise((r) => z.on('end', r));
  z.write(head);
  const zeros = Buffer.alloc(16 << 20);
  for (let i = 0; i < 70; i++) if (!z.write(zeros)) await new Promise((r) => z.once('drain', r));
  z.end();
  await done;
  const bomb = Buffer.concat(parts);
  assert.ok(bomb.length < 1 << 20, `bomb is ${bomb.length} bytes`);
  const file = join(dir, 'bomb.zst');
  writeFileSync(file, bomb);
  const before = process.memoryUsage().rss;
  assert.match(failure(await inspectKernelFile(file)), /decompressed output passes 1073741824 bytes/);
  assert.ok(process.memoryUsage().rss - before < 200 << 20, 'the stream is not kept in memory');
});

test('the same bomb through a child decompressor (xz), with a lower cap', async () => {
  const xz = execFileSync('bash', ['-c', 'head -c 300000000 /dev/zero | xz -1 -T1 -c | head -c 100000000'], { maxBuffer: 64 << 20 });
  // not an ELF: stops at the header check
  assert.match(failure(await inspectKernelBytes(xz, 'zeros.xz')), /decompressed payload is not an ELF image/);
  const elfHead = Buffer.from(readFileSync(await vmlinux('amd64')).subarray(0, 64));
  elfHead.writeUInt16LE(0, 56); // no program headers: Xen goes on to the section headers...
  elfHead.writeBigUInt64LE(200_000_000n, 40); // ...which this header puts 200 MB in
  const withElf = execFileSync('bash', ['-c', '{ cat; head -c 300000000 /dev/zero; } | xz -1 -T1 -c'], { input: elfHead, maxBuffer: 64 << 20 });
  assert.match(failure(await inspectKernelBytes(withElf, 'elf-zeros.xz', { maxOutputBytes: 64 << 20 })), /passes 67108864 bytes/);
});

test('a directory, a missing file, a FIFO, an empty file, an unreadable file', async () => {
  mkdirSync(join(dir, 'd'));
  assert.equal(failure(await inspectKernelFile(join(dir, 'd'))), 'is a directory, not a kernel image');
  assert.equal(failure(await inspectKernelFile(join(dir, 'nope'))), 'no such file');
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  assert.equal(failure(await inspectKernelFile(join(dir, 'fifo'))), 'is not a regular file');
  writeFileSync(join(dir, 'empty'), '');
  assert.equal(failure(await inspectKernelFile(join(dir, 'empty'))), 'is empty');
  writeFileSync(join(dir, 'secret'), 'x', { mode: 0o000 });
  if (process.getuid?.() === 0) {
    // root reads anything: check as an unprivileged user through the CLI
    const r = (() => {
      try {
        execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, 'bin/pvhctl.js', 'kernel', join(dir, 'secret')], {
          stdio: ['ignore', 'pipe', 'pipe'],
          encoding: 'utf8',
        });
        return { status: 0, stderr: '' };
      } catch (e) {
        return e as { status: number; stderr: string };
      }
    })();
    assert.equal(r.status, 1);
    assert.match(r.stderr, /secret: permission denied\n$/);
  } else {
    assert.equal(failure(await inspectKernelFile(join(dir, 'secret'))), 'permission denied');
  }
});

test('an abandoned read (AbortSignal) ends with a one-line error, before or during decompression', async () => {
  const bytes = readFileSync((await kernel('amd64')).vmlinuz);
  const before = new AbortController();
  before.abort();
  assert.match(failure(await inspectKernelBytes(bytes, 'k', { signal: before.signal })), /abandoned|aborted/);
  const during = new AbortController();
  const pending = inspectKernelBytes(bytes, 'k', { signal: during.signal });
  setImmediate(() => during.abort());
  assert.match(failure(await pending), /abandoned|aborted/);
});
