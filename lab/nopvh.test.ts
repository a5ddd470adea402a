import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { debianKernel } from '../src/debian/apt.ts';
import { bzPayload, noPvhKernel, renameXenNote, RENAMED_NOTE_TYPE, withPayload, XEN_ELFNOTE_PHYS32_ENTRY } from './nopvh.ts';

/** Xen note types of an ELF file as `readelf -n` reports them (owner Xen). */
function xenNoteTypes(elf: Uint8Array): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-nopvh-'));
  try {
    writeFileSync(join(dir, 'vmlinux'), elf);
    const out = execFileSync('readelf', ['-n', '-W', join(dir, 'vmlinux')], { encoding: 'utf8', maxBuffer: 16 << 20 });
    return [...out.matchAll(/^\s+Xen\s+0x[0-9a-f]+\s+(?:Unknown note type: \(0x([0-9a-f]+)\)|NT_VERSION)/gm)].map((m) => (m[1] === undefined ? 1 : parseInt(m[1], 16)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the no-PVH kernel is the real amd64 kernel with PHYS32_ENTRY renamed and nothing else changed', async () => {
  const k = await debianKernel('amd64');
  const orig = readFileSync(k.vmlinuz);
  const out = await noPvhKernel(orig);
  const p = bzPayload(out);
  assert.deepEqual([...out.subarray(0, 0x248)], [...orig.subarray(0, 0x248)], 'setup header kept up to payload_offset');
  const payload = Buffer.from(out.subarray(p.start, p.start + p.length));
  assert.deepEqual([...payload.subarray(0, 2)], [0x1f, 0x8b], 'gzip payload, which Xen unpacks');
  const vmlinux = gunzipSync(payload);
  assert.equal(payload.readUInt32LE(payload.length - 4), vmlinux.length % 2 ** 32, 'size trailer Xen reads');
  const types = xenNoteTypes(vmlinux);
  assert.ok(!types.includes(XEN_ELFNOTE_PHYS32_ENTRY), `notes: ${types}`);
  assert.ok(types.includes(RENAMED_NOTE_TYPE));
  // The original, decompressed the classic way, has the note: the rename is what removed it.
  const start = bzPayload(orig);
  const origElf = execFileSync('xz', ['-dc', '--single-stream'], { input: orig.subarray(start.start, start.start + start.length), maxBuffer: 256 << 20 });
  const origTypes = xenNoteTypes(origElf);
  assert.ok(origTypes.includes(XEN_ELFNOTE_PHYS32_ENTRY));
  assert.equal(origTypes.length, types.length);
  assert.equal(Buffer.compare(origElf.subarray(0, 64), vmlinux.subarray(0, 64)), 0);
});

test('bzPayload and renameXenNote refuse bad input with one clear error', () => {
  assert.throws(() => bzPayload(new Uint8Array(100)), /too short/);
  assert.throws(() => bzPayload(new Uint8Array(4096)), /no HdrS magic/);
  const img = new Uint8Array(4096);
  img.set([0x48, 0x64, 0x72, 0x53], 0x202);
  img[0x206] = 0x07;
  img[0x207] = 0x02;
  assert.throws(() => bzPayload(img), /older than 2\.08/);
  img[0x206] = 0x0f;
  new DataView(img.buffer).setUint32(0x24c, 1 << 30, true);
  assert.throws(() => bzPayload(img), /runs past the end/);
  assert.throws(() => renameXenNote(new Uint8Array(10), 18, 1), /not an ELF/);
  const elf32 = new Uint8Array(64);
  elf32.set([0x7f, 0x45, 0x4c, 0x46, 1, 1]);
  assert.throws(() => renameXenNote(elf32, 18, 1), /64-bit/);
});

test('renameXenNote and bzPayload survive mutated headers (bounded fuzz)', async () => {
  const k = await debianKernel('amd64');
  const head = readFileSync(k.vmlinuz).subarray(0, 8192);
  // A small ELF with one PT_NOTE holding one Xen note of type 18.
  const elf = new Uint8Array(256);
  const dv = new DataView(elf.buffer);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setBigUint64(32, 64n, true);
  dv.setUint16(54, 56, true);
  dv.setUint16(56, 1, true);
  dv.setUint32(64, 4, true);
  dv.setBigUint64(72, 128n, true);
  dv.setBigUint64(96, 24n, true);
  dv.setUint32(128, 4, true);
  dv.setUint32(132, 8, true);
  dv.setUint32(136, 18, true);
  elf.set([0x58, 0x65, 0x6e, 0], 140);
  assert.equal(renameXenNote(elf.slice(), 18, RENAMED_NOTE_TYPE), 1);
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    const e = elf.slice();
    const h = head.slice();
    for (let j = 0; j < 4; j++) {
      e[rnd() % e.length] = rnd() & 0xff;
      h[0x1f0 + (rnd() % 0x70)] = rnd() & 0xff;
    }
    for (const f of [() => renameXenNote(e, 18, 1), () => bzPayload(h), () => withPayload(h, new Uint8Array(8))]) {
      try {
        f();
      } catch (err) {
        assert.ok(err instanceof Error && err.message.length > 0 && !err.message.includes('\n'));
      }
    }
  }
});
