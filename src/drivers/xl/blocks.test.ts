/**
 * The block server protocol with the real host-side program (sh, dd, stat, blockdev) run locally:
 * reads of every shape, and a disk that shrinks under the reader, which must give an error for
 * that read and keep the framing of the next ones.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { blockReader } from './blocks.ts';
import { localRunner } from './local.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-blocks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('block reads: small (cached chunks), across chunks, large (split requests), at the end', async () => {
  const disk = join(dir, 'disk.img');
  const bytes = randomBytes(20 * 1024 * 1024 + 5);
  writeFileSync(disk, bytes);
  const r = await localRunner().openBlocks(disk as never);
  try {
    assert.equal(r.size, bytes.length);
    const cases = [[0, 4096], [4096, 4096], [262_143, 2], [1_048_575, 1_048_577], [3_000_000, 17_000_000], [bytes.length - 1, 1]] as const;
    for (const [at, n] of cases) assert.ok(Buffer.from(await r.read(at, n)).equals(bytes.subarray(at, at + n)), `${n} bytes at ${at}`);
    await assert.rejects(r.read(-1, 1), /outside the disk/);
    await assert.rejects(r.read(0, bytes.length + 1), /outside the disk/);
  } finally {
    r.close();
  }
});

test('a disk that shrinks after it was opened: that read fails in one line, the next ones still work', async () => {
  const disk = join(dir, 'shrinks.img');
  const bytes = randomBytes(8 * 1024 * 1024);
  writeFileSync(disk, bytes);
  const r = await localRunner().openBlocks(disk as never);
  try {
    truncateSync(disk, 4 * 1024 * 1024 + 100);
    await assert.rejects(r.read(4 * 1024 * 1024, 2 * 1024 * 1024), /bytes instead of/);
    assert.ok(Buffer.from(await r.read(100, 50)).equals(bytes.subarray(100, 150)));
    await assert.rejects(r.read(7 * 1024 * 1024, 512), /instead of|failed/);
    assert.ok(Buffer.from(await r.read(4 * 1024 * 1024 - 200, 100)).equals(bytes.subarray(4 * 1024 * 1024 - 200, 4 * 1024 * 1024 - 100)));
  } finally {
    r.close();
  }
});

test('what the host cannot serve is a one-line error', async () => {
  await assert.rejects(localRunner().openBlocks(join(dir, 'missing') as never), /not a block device or regular file/);
  await assert.rejects(localRunner().openBlocks(dir as never), /not a block device or regular file/);
});

test('a host that breaks the protocol fails the reader in one line, never buffers without bound', async () => {
  const host = (script: (req: string, out: PassThrough) => void) => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    stdin.on('data', (b: Buffer) => script(b.toString(), stdout));
    return { stdin, stdout, close: () => stdout.destroy() };
  };
  const noNewline = host(() => {});
  noNewline.stdout.write('S' + '9'.repeat(300));
  await assert.rejects(blockReader('h', noNewline, 2000), /garbled answer/);
  const tooMuch = host((_req, out) => out.write('D 999999999\n'));
  tooMuch.stdout.write('S 1048576\n');
  const r = await blockReader('h', tooMuch, 2000);
  await assert.rejects(r.read(0, 512), /999999999 bytes sent for a read of/);
  await assert.rejects(r.read(0, 512), /999999999 bytes sent/, 'the reader stays failed');
});
