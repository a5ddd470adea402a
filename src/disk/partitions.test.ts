import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync, openSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readPartitionTable } from './partitions.ts';
import { memorySource, openSource, sliceSource } from './source.ts';
import { readMbr, MAX_LOGICAL } from './mbr.ts';
import { readGpt } from './gpt.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-disk-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A sparse image partitioned by the real sfdisk (no loop device, no kernel involvement). */
function sfdisk(name: string, sizeMiB: number, script: string): string {
  const img = join(dir, name);
  writeFileSync(img, '');
  truncateSync(img, sizeMiB * 1024 * 1024);
  execFileSync('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', img], { input: script });
  return img;
}

function sfdiskJson(img: string): { partitiontable: { partitions: { node: string; start: number; size: number; type: string; uuid?: string; name?: string }[] } } {
  return JSON.parse(execFileSync('sfdisk', ['--json', img], { encoding: 'utf8' }));
}

test('MBR: primaries and logicals match sfdisk --json', () => {
  const img = sfdisk('mbr.img', 64, 'label: dos\nlabel-id: 0x1234abcd\n,8M,83,*\n,8M,82\n,,5\n,4M,83\n,4M,83\n,,83\n');
  const src = openSource(img);
  const t = readPartitionTable(src);
  assert.equal(t.scheme, 'mbr');
  const want = sfdiskJson(img).partitiontable.partitions;
  assert.deepEqual(
    t.partitions.map((p) => [p.number, p.start / 512, p.size / 512, p.type.replace(/^0x0?/, '')]),
    want.map((p) => [Number(p.node.match(/(\d+)$/)![1]), p.start, p.size, p.type]),
  );
  assert.deepEqual(t.partitions.filter((p) => p.logical).map((p) => p.number), [5, 6, 7]);
  assert.equal(t.partitions[0]!.bootable, true);
  assert.equal(t.partitions[0]!.partuuid, '1234abcd-01');
  assert.equal(t.partitions.find((p) => p.number === 6)!.partuuid, '1234abcd-06');
  src.close();
});

test('GPT: entries read where the header says, empty ones skipped, names and GUIDs', () => {
  const img = join(dir, 'gpt.img');
  // Entries 2 and 4 left empty: numbering follows the array slot, as Linux's does.
  sfdisk(
    'gpt.img',
    64,
    `label: gpt\n${img}1 : size=1M, type=21686148-6449-6E6F-744E-656564454649, name=bios\n` +
      `${img}3 : size=16M, type=L, name=boot\n${img}5 : type=L, name="root fs"\n`,
  );
  const t = readPartitionTable(openSource(img));
  assert.equal(t.scheme, 'gpt');
  const want = sfdiskJson(img).partitiontable.partitions;
  assert.deepEqual(
    t.partitions.map((p) => [p.start / 512, p.size / 512, p.type.toUpperCase(), p.partuuid.toUpperCase(), p.name]),
    want.map((p) => [p.start, p.size, p.type, p.uuid, p.name]),
  );
  assert.deepEqual(t.partitions.map((p) => p.number), [1, 3, 5]);
  assert.equal(t.partitions[2]!.name, 'root fs');
});

test('GPT with the entry array moved (sfdisk table-length and a non-default first LBA)', () => {
  // 256 entries: the array spans LBA 2..65; partitions start after it.
  const img = sfdisk('gpt-long.img', 32, 'label: gpt\ntable-length: 256\n,4M,L\n,,L\n');
  const t = readPartitionTable(openSource(img));
  assert.equal(t.scheme, 'gpt');
  assert.equal(t.partitions.length, 2);
});

test('GPT: a corrupted primary header falls back to the backup, with a warning', () => {
  const img = sfdisk('gpt-bad.img', 32, 'label: gpt\n,4M,L\n,,L\n');
  const fd = openSync(img, 'r+');
  writeSync(fd, Buffer.from('XX'), 0, 2, 512 + 100 - 100 + 30); // inside the primary header
  closeSync(fd);
  const t = readPartitionTable(openSource(img));
  assert.equal(t.scheme, 'gpt');
  assert.equal(t.partitions.length, 2);
  assert.match(t.warnings.join('\n'), /backup/);
});

test('GPT: a corrupted entry array (CRC) and a wiped backup is an unusable GPT, not a crash', () => {
  const img = sfdisk('gpt-bad2.img', 32, 'label: gpt\n,4M,L\n,,L\n');
  const bytes = new Uint8Array(readFileSync(img));
  bytes[1024 + 40] = bytes[1024 + 40]! ^ 0xff; // first entry's first LBA, primary array
  bytes.fill(0, bytes.length - 512); // backup header gone
  const t = readPartitionTable(memorySource(bytes));
  assert.equal(t.scheme, 'none');
  assert.match(t.warnings.join('\n'), /CRC32/);
});

test('MBR: a looping EBR chain and an over-long chain stop with a warning', () => {
  const img = sfdisk('loop.img', 16, 'label: dos\n,1M,83\n,,5\n,1M,83\n,1M,83\n');
  const bytes = new Uint8Array(readFileSync(img));
  const ext = readMbr(memorySource(bytes))!;
  const extStart = ext.partitions.find((p) => p.number === 2)!.start;
  // Point the first EBR's link entry back at itself.
  const link = extStart + 446 + 16;
  bytes[link + 4] = 0x05;
  new DataView(bytes.buffer).setUint32(link + 8, 0, true);
  new DataView(bytes.buffer).setUint32(link + 12, 2048, true);
  const t = readMbr(memorySource(bytes))!;
  assert.match(t.warnings.join('\n'), /loops/);
  assert.equal(t.partitions.filter((p) => p.logical).length, 1);

  // A chain of MAX_LOGICAL+10 distinct EBRs, each one sector apart.
  const big = new Uint8Array(4 * 1024 * 1024);
  big[510] = 0x55;
  big[511] = 0xaa;
  const dv = new DataView(big.buffer);
  big[446 + 4] = 0x05;
  dv.setUint32(446 + 8, 1, true);
  dv.setUint32(446 + 12, 4000, true);
  for (let i = 0; i < MAX_LOGICAL + 10; i++) {
    const at = (1 + i) * 512;
    big[at + 510] = 0x55;
    big[at + 511] = 0xaa;
    big[at + 446 + 4] = 0x83;
    dv.setUint32(at + 446 + 8, 1000, true);
    dv.setUint32(at + 446 + 12, 1, true);
    big[at + 462 + 4] = 0x05;
    dv.setUint32(at + 462 + 8, i + 1, true);
    dv.setUint32(at + 462 + 12, 1, true);
  }
  const many = readMbr(memorySource(big))!;
  assert.equal(many.partitions.filter((p) => p.logical).length, MAX_LOGICAL);
  assert.match(many.warnings.join('\n'), /more than/);
});

test('no table: a whole-disk filesystem and a FAT-like boot sector are not MBRs', () => {
  assert.equal(readPartitionTable(memorySource(new Uint8Array(4096))).scheme, 'none');
  const fat = new Uint8Array(4096);
  fat[510] = 0x55;
  fat[511] = 0xaa;
  fat[446] = 0x33; // code, not a status byte
  assert.equal(readPartitionTable(memorySource(fat)).scheme, 'none');
});

test('byte sources refuse reads past the end and clip partitions to the disk', () => {
  const src = memorySource(new Uint8Array(1000), 'm');
  assert.throws(() => src.read(990, 20), /past the end/);
  assert.throws(() => src.read(-1, 2), /bad read/);
  const s = sliceSource(src, 900, 500, 'm[1]');
  assert.equal(s.size, 100);
  assert.throws(() => s.read(50, 60), /past the end/);
  assert.throws(() => openSource(dir), /not a regular file or block device/);
});

test('fuzz: mutated MBR/GPT sectors never throw and never loop (bounded cases)', () => {
  const base = [
    new Uint8Array(readFileSync(sfdisk('fz1.img', 8, 'label: dos\n,1M,83\n,,5\n,1M,83\n,,83\n'))),
    new Uint8Array(readFileSync(sfdisk('fz2.img', 8, 'label: gpt\n,1M,L\n,,L\n'))),
  ];
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 600; i++) {
    const img = base[i % 2]!.slice();
    const n = 1 + Math.floor(rnd() * 8);
    for (let k = 0; k < n; k++) {
      // Mostly the first 34 sectors (tables), sometimes anywhere (EBRs, backup GPT).
      const at = rnd() < 0.8 ? Math.floor(rnd() * 34 * 512) : Math.floor(rnd() * img.length);
      img[at] = Math.floor(rnd() * 256);
    }
    const t = readPartitionTable(memorySource(img));
    for (const p of t.partitions) assert.ok(Number.isFinite(p.start) || t.warnings.length > 0);
    readGpt(memorySource(img));
  }
});
