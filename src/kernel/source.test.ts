/** The forward-only stream seen as random access: reads behind the stream come from kept chunks, or a restart. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bufferSource, streamSource, type ByteSource } from './source.ts';

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

test('keepFrom: bytes behind the stream from that offset on come from the first pass, bytes before it from another pass, identical', async () => {
  for (const keep of [100_000, 100_001, 104_000]) {
    let opened = 0;
    const src = streamSource(() => (opened++, chunks()), { maxBytes: 1 << 20, maxPasses: 3 });
    const [first] = await src.readRanges([{ offset: 90_000, length: 100 }]);
    assert.deepEqual(first, data.subarray(90_000, 90_100));
    src.keepFrom(keep); // some of it kept already: dropped
    const [tail] = await src.readRanges([{ offset: 290_000, length: 1000 }]);
    assert.deepEqual(tail, data.subarray(290_000, 291_000));
    const [kept] = await src.readRanges([{ offset: keep, length: 50_000 }]);
    assert.deepEqual(kept, data.subarray(keep, keep + 50_000));
    assert.equal(opened, 1, 'kept: no second pass');
    const [before] = await src.readRanges([{ offset: 70_000, length: 40_000 }]);
    assert.deepEqual(before, data.subarray(70_000, 110_000));
    assert.equal(opened, 2, 'not kept: a second pass');
    await src.close();
  }
});

/** The same data cut into chunks whose sizes a seeded generator picks, each after a random pause. */
function jittered(seed: number): () => AsyncGenerator<Buffer> {
  return async function* () {
    let x = seed;
    const next = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x);
    for (let o = 0; o < data.length; ) {
      const n = 1 + (next() % 40_000);
      if (next() % 4 === 0) await new Promise((r) => setTimeout(r, next() % 3));
      yield Buffer.from(data.subarray(o, o + n));
      o += n;
    }
  };
}

test('needed is the end of the furthest byte the reads and searches asked for, whatever the chunking and timing', async () => {
  const needle = data.subarray(150_000, 150_006);
  const absent = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const steps = async (src: ByteSource) => {
    const seen: number[] = [];
    await src.readRanges([{ offset: 0, length: 64 }]);
    seen.push(src.needed);
    await src.readRanges([{ offset: 70_000, length: 100 }, { offset: 100_000, length: 10 }]);
    seen.push(src.needed);
    const hit = await src.find(needle, 120_000, 100_000, 20);
    seen.push(hit?.offset ?? -1, src.needed);
    assert.equal(await src.find(absent, 160_000, 30_000, 0), null);
    seen.push(src.needed);
    assert.equal(await src.find(absent, 200_000, 1 << 20, 0), null);
    seen.push(src.needed);
    await src.close();
    return seen;
  };
  const at = data.indexOf(needle, 120_000);
  const expected = [64, 100_010, at, at + 26, 190_000, 300_000];
  assert.deepEqual(await steps(bufferSource(data)), expected);
  for (const seed of [1, 2, 3, 42, 1234]) {
    for (const retainBytes of [undefined, 0]) {
      assert.deepEqual(await steps(streamSource(jittered(seed), { maxBytes: 1 << 20, maxPasses: 3, retainBytes })), expected, `seed ${seed}`);
    }
  }
});
