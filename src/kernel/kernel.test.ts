/**
 * Kernel readiness on real Debian 12 kernels (fetched with apt-get download, cached), their
 * re-packings with every compression Linux supports, and a cross-check of every Xen note against
 * binutils' `readelf -n` on the extracted vmlinux.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kernel, noPvhKernel, repacked, vmlinux } from '../../test/fixtures/kernels.ts';
import { inspectKernelFile, inspectKernelFiles } from './inspect.ts';
import type { KernelReport, KernelResult, XenNote } from './types.ts';

function ok(r: KernelResult): KernelReport {
  if (r.error !== null) assert.fail(`${r.file}: ${r.error}`);
  return r;
}

/** Xen notes as readelf prints them: type and description bytes, in file order. */
function readelfXenNotes(file: string): Array<{ type: number; desc: Buffer }> {
  const out = execFileSync('readelf', ['-n', '--wide', file], { encoding: 'latin1', maxBuffer: 16 << 20 });
  const known: Record<string, number> = { 'NT_VERSION (version)': 1, 'NT_ARCH (architecture)': 2, 'GO BUILDID': 4 };
  const notes: Array<{ type: number; desc: Buffer }> = [];
  for (const line of out.split('\n')) {
    const m = /^\s+Xen\s+0x([0-9a-f]+)\t(.*?)\t\s*description data: ([0-9a-f ]*)$/.exec(line);
    if (m === null) continue;
    const t = /\(0x([0-9a-f]+)\)$/.exec(m[2]!);
    const type = t !== null ? parseInt(t[1]!, 16) : known[m[2]!];
    assert.ok(type !== undefined, `readelf note type not understood: ${m[2]}`);
    notes.push({ type, desc: Buffer.from(m[3]!.replace(/ /g, ''), 'hex') });
  }
  return notes;
}

/** The end (p_offset + p_filesz) of the furthest PT_NOTE segment as `readelf -l` lists them. */
function noteSegmentsEnd(file: string): number {
  const out = execFileSync('readelf', ['-lW', file], { encoding: 'latin1', maxBuffer: 16 << 20 });
  const ends = [...out.matchAll(/^\s+NOTE\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s/gm)]
    .filter((m) => parseInt(m[1]!, 16) !== 0)
    .map((m) => parseInt(m[1]!, 16) + parseInt(m[2]!, 16));
  assert.ok(ends.length > 0, 'readelf lists a NOTE segment');
  return Math.max(...ends);
}

/** What a note's value must be, derived independently from readelf's bytes. */
function expectedValue(type: number, desc: Buffer): string | string[] {
  if ([5, 6, 7, 8, 9, 10, 11].includes(type)) {
    const nul = desc.indexOf(0);
    return desc.subarray(0, nul < 0 ? desc.length : nul).toString('latin1');
  }
  const word = (b: Buffer) => `0x${BigInt('0x' + (Buffer.from(b).reverse().toString('hex') || '0')).toString(16)}`;
  if (type === 13 || type === 17 || type === 19) {
    const w = type === 13 && desc.length === 16 ? 8 : 4;
    const parts: string[] = [];
    for (let o = 0; o + w <= desc.length; o += w) parts.push(word(desc.subarray(o, o + w)));
    return parts;
  }
  return word(desc);
}

function assertNotesMatchReadelf(notes: XenNote[], elfFile: string) {
  const ref = readelfXenNotes(elfFile);
  assert.ok(ref.length > 0, 'readelf found Xen notes');
  assert.deepEqual(
    notes.map((n) => [n.type, n.value]),
    ref.map((r) => [r.type, expectedValue(r.type, r.desc)]),
  );
}

test('Debian amd64 (xz): PV as xen-3.0-x86_64 and PVH; notes agree with readelf -n', async () => {
  const k = await kernel('amd64');
  const r = ok(await inspectKernelFile(k.vmlinuz));
  assert.equal(r.format, 'bzImage');
  assert.equal(r.compression, 'xz');
  assert.equal(r.arch, 'x86_64');
  assert.equal(r.elfClass, 64);
  assert.equal(r.release, k.release);
  assert.match(r.version!, /^6\.1\.0-\d+-amd64 \(debian-kernel@lists\.debian\.org\)/);
  assert.deepEqual([r.pv.capable, r.pv.abi, r.pvh.capable], [true, 'xen-3.0-x86_64', true]);
  assert.equal(r.notesFrom, 'PT_NOTE');
  // streaming stopped at the notes, well before the end of the 60+ MB vmlinux
  const full = readFileSync(await vmlinux('amd64')).length;
  assert.ok(r.bytesDecompressed < full * 0.6, `read ${r.bytesDecompressed} of ${full} bytes`);
  // exactly the end of the last PT_NOTE segment (readelf -l), however far xz ran ahead: the
  // report is the same under any timing
  assert.equal(r.bytesDecompressed, noteSegmentsEnd(await vmlinux('amd64')));
  assertNotesMatchReadelf(r.notes, await vmlinux('amd64'));
});

test('Debian cloud-amd64 (lz4 legacy frame): PV and PVH', async () => {
  const k = await kernel('cloud-amd64');
  const r = ok(await inspectKernelFile(k.vmlinuz));
  assert.equal(r.compression, 'lz4');
  assert.deepEqual([r.pv.capable, r.pv.abi, r.pvh.capable], [true, 'xen-3.0-x86_64', true]);
  assertNotesMatchReadelf(r.notes, await vmlinux('cloud-amd64'));
});

test('Debian 686-pae: PVH only; passes the PV note checks but has no PV entry (the trap)', async () => {
  const k = await kernel('686-pae');
  const r = ok(await inspectKernelFile(k.vmlinuz));
  assert.equal(r.arch, 'x86_32p');
  assert.equal(r.elfClass, 32);
  assert.equal(r.machine, 'i386');
  assert.equal(r.pvh.capable, true);
  assert.equal(r.pv.capable, false);
  assert.equal(r.pv.abi, 'xen-3.0-x86_32p');
  assert.match(r.pv.reason, /no PV entry point \(no ENTRY note/);
  const names = r.notes.map((n) => n.name);
  for (const n of ['XEN_VERSION', 'GUEST_OS', 'LOADER', 'PHYS32_ENTRY']) assert.ok(names.includes(n), n);
  assert.ok(!names.includes('ENTRY'));
  assertNotesMatchReadelf(r.notes, await vmlinux('686-pae'));
});

test('Debian 686 (no Xen support): neither, with the message Xen would print', async () => {
  const k = await kernel('686');
  const r = ok(await inspectKernelFile(k.vmlinuz));
  assert.equal(r.notes.length, 0);
  assert.equal(r.arch, 'x86_32');
  assert.equal(r.pv.capable, false);
  assert.equal(r.pvh.capable, false);
  assert.match(r.pvh.xenMessage!, /Will only load images built for the generic loader or Linux images/);
  assert.deepEqual(readelfXenNotes(await vmlinux('686')), []);
});

test('an uncompressed vmlinux ELF reads the same as its bzImage, version from the banner', async () => {
  const k = await kernel('amd64');
  const fromBz = ok(await inspectKernelFile(k.vmlinuz));
  const r = ok(await inspectKernelFile(await vmlinux('amd64')));
  assert.equal(r.format, 'elf');
  assert.equal(r.compression, 'none');
  assert.deepEqual(r.notes, fromBz.notes);
  assert.equal(r.release, k.release);
  assert.match(r.version!, /debian-kernel@lists\.debian\.org/);
});

for (const c of ['gzip', 'bzip2', 'lzma', 'lzo', 'zstd', 'xz', 'lz4'] as const) {
  test(`the amd64 vmlinux re-packed with ${c}: bzImage and bare payload give the original notes`, async () => {
    const orig = ok(await inspectKernelFile((await kernel('amd64')).vmlinuz));
    const { bzImage, payload } = await repacked('amd64', c);
    const r = ok(await inspectKernelFile(bzImage));
    assert.equal(r.compression, c);
    assert.equal(r.format, 'bzImage');
    assert.deepEqual(r.notes, orig.notes);
    assert.deepEqual([r.pv, r.pvh], [orig.pv, orig.pvh]);
    const bare = ok(await inspectKernelFile(payload));
    assert.equal(bare.format, 'compressed');
    assert.equal(bare.compression, c);
    assert.deepEqual(bare.notes, orig.notes);
    assert.equal(bare.release, orig.release, 'the version comes from the banner inside the image');
  });
}

test('a real kernel with its PHYS32_ENTRY note renamed: PV yes, PVH no with xc_dom_guest_type', async () => {
  const r = ok(await inspectKernelFile(await noPvhKernel()));
  assert.equal(r.pv.capable, true);
  assert.equal(r.pvh.capable, false);
  assert.equal(r.pvh.xenMessage, 'xc_dom_guest_type: image not capable of booting inside a HVM container');
  assert.ok(r.notes.some((n) => n.name === 'UNKNOWN_32280'));
});

test('many files at once: results in input order, failures alongside', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-k-'));
  writeFileSync(join(dir, 'junk'), 'not a kernel at all\n');
  const files = [(await kernel('amd64')).vmlinuz, join(dir, 'junk'), (await kernel('686-pae')).vmlinuz, join(dir, 'missing')];
  const seen: number[] = [];
  const rs = await inspectKernelFiles(files, { concurrency: 2, onResult: (_r, i) => seen.push(i) });
  assert.deepEqual(seen, [0, 1, 2, 3]);
  assert.deepEqual(rs.map((r) => r.file), files);
  assert.deepEqual(rs.map((r) => r.error === null), [true, false, true, false]);
  assert.match(rs[1]!.error!, /not a kernel image/);
  assert.equal(rs[3]!.error, 'no such file');
});

for (const c of ['lz4', 'zstd', 'lzo', 'lzma'] as const) {
  test(`a bare ${c} payload of the 686 kernel (no Xen notes, read to the end, size trailer kept): neither`, async () => {
    const { payload } = await repacked('686', c);
    const r = ok(await inspectKernelFile(payload));
    assert.equal(r.format, 'compressed');
    assert.equal(r.notes.length, 0);
    assert.deepEqual([r.pv.capable, r.pvh.capable], [false, false]);
    assert.equal(r.release, (await kernel('686')).release);
  });
}
