/**
 * The parent's side of served disks and cache lookups (serveRequests): the child that asks is guest-controlled, so
 * what it sends is hostile input. Real reads answer; garbage, oversized reads and floods end it.
 */
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockReader } from '../drivers/driver.ts';
import { MAX_READ } from '../disk/source.ts';
import { serveRequests } from './child.ts';
import { fileCache } from './cache.ts';
import type { KernelReport } from '../kernel/types.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i & 0xff));
const reader: BlockReader = {
  size: bytes.length,
  read: async (o, n) => {
    if (o + n > bytes.length) throw new Error(`read of ${n} bytes at ${o} is outside the disk`);
    return new Uint8Array(bytes.subarray(o, o + n));
  },
  close: async () => {},
};

function serve(): { req: PassThrough; ans: Buffer[]; abused: string[]; settled: () => Promise<void> } {
  const req = new PassThrough();
  const res = new PassThrough();
  const ans: Buffer[] = [];
  const abused: string[] = [];
  res.on('data', (b: Buffer) => ans.push(b));
  serveRequests(req, res, { served: [reader], cache: null, disks: [] }, (why) => abused.push(why));
  return { req, ans, abused, settled: () => new Promise((r) => setTimeout(r, 20)) };
}

test('served reads: data, a read outside the disk, an unknown disk', async () => {
  const s = serve();
  s.req.write('0 16 4\n');
  await s.settled();
  s.req.write('0 4095 2\n');
  await s.settled();
  s.req.write('7 0 1\n');
  await s.settled();
  const all = Buffer.concat(s.ans);
  assert.equal(all[0], 0x44);
  assert.equal(all.readUInt32LE(1), 4);
  assert.deepEqual([...all.subarray(5, 9)], [16, 17, 18, 19]);
  const e1 = all.subarray(9);
  assert.equal(e1[0], 0x45);
  assert.match(e1.subarray(5, 5 + e1.readUInt32LE(1)).toString(), /outside the disk/);
  const e2 = e1.subarray(5 + e1.readUInt32LE(1));
  assert.equal(e2[0], 0x45);
  assert.match(e2.subarray(5).toString(), /no such served disk/);
  assert.deepEqual(s.abused, []);
});

test('served reads: garbage, an oversized read and a flood of requests end the child', async () => {
  for (const [input, why] of [
    ['0 0 1; rm -rf /\n', /malformed/],
    ['x'.repeat(5000), /malformed/],
    ['K 1234\n', /malformed/],
    ['F {"a":1}\n', /malformed/],
    [`0 0 ${MAX_READ + 1}\n`, /more than/],
    ['0 0 1\n'.repeat(10), /without waiting/],
  ] as const) {
    const s = serve();
    s.req.write(input);
    await s.settled();
    assert.equal(s.abused.length, 1, JSON.stringify(input.slice(0, 30)));
    assert.match(s.abused[0]!, why);
  }
});

test('cache lookups: a kernel verdict by sha256; a file sha256 only for the asking child\'s own disks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-serve-'));
  try {
    const cache = fileCache(dir);
    const sha = 'a'.repeat(64);
    cache.rememberSha('/dev/vg0/other-customer', 'fp1', sha);
    cache.rememberSha('/dev/vg0/mine[2]', 'fp1', sha);
    const req = new PassThrough();
    const res = new PassThrough();
    const ans: Buffer[] = [];
    res.on('data', (b: Buffer) => ans.push(b));
    const abused: string[] = [];
    serveRequests(req, res, { served: [], cache, disks: [{ path: '/dev/vg0/mine', vdev: 'xvda' }] }, (why) => abused.push(why));
    const ask = async (line: string) => {
      ans.length = 0;
      req.write(`${line}\n`);
      await new Promise((r) => setTimeout(r, 20));
      const all = Buffer.concat(ans);
      return { status: String.fromCharCode(all[0]!), body: all.subarray(5, 5 + all.readUInt32LE(1)).toString() };
    };
    assert.deepEqual(await ask(`F ${JSON.stringify(['/dev/vg0/mine[2]', 'fp1'])}`), { status: 'D', body: sha });
    assert.deepEqual(await ask(`F ${JSON.stringify(['/dev/vg0/other-customer', 'fp1'])}`), { status: 'E', body: 'not cached' });
    assert.deepEqual(await ask(`K ${sha}`), { status: 'E', body: 'not cached' });
    cache.storeKernel({ file: '/boot/vmlinuz', sha256: sha, error: null } as unknown as KernelReport);
    const hit = await ask(`K ${sha}`);
    assert.equal(hit.status, 'D');
    assert.equal((JSON.parse(hit.body) as KernelReport).sha256, sha);
    assert.deepEqual(abused, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
