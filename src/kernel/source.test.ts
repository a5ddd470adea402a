/** The forward-only stream seen as random access: reads behind the stream come from kept chunks, or a restart. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { streamSource } from './source.ts';

const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
async function* chunks(): AsyncGenerator<Buffer> {
  for (let o = 0; o < data.length; o += 8192) yield Buffer.from(data.subarray(o, o + 8192));
}

test('a read behind the stream is served from the first pass when it was kept, else by one restart', async () => {
  for (const retainBytes of [undefined, 0]) {
    let opened = 0;
    const src = streamSource(() => (opened++, chunks()), { maxBytes: 1 << 20, maxPasses: 3, retainBytes });
    const [tail] = await src.readRanges([{ offset: 290_000, length: 1000 }]);
    assert.deepEqual(tail, data.subarray(290_000, 291_000));
    // behind the stream, past the 64 KiB head, straddling chunk boundaries
    const [mid, late] = await src.readRanges([{ offset: 100_000, length: 20_000 }, { offset: 295_000, length: 5000 }]);
    assert.deepEqual(mid, data.subarray(100_000, 120_000));
    assert.deepEqual(late, data.subarray(295_000, 300_000));
    assert.equal(opened, retainBytes === 0 ? 2 : 1, `retainBytes ${retainBytes}`);
    await assert.rejects(src.readRanges([{ offset: 299_000, length: 2000, what: 'tail' }]), /tail \(bytes 299000\.\.301000\) lies past the end/);
    await src.close();
  }
});
