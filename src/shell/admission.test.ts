import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admit, DEFAULT_ADMISSION, parseMaxStartups } from './admission.ts';

test('below start every connection is let in; at full or at the per-source limit none is', () => {
  for (const total of [0, 5, 9]) assert.deepEqual(admit({ total, fromSource: 0 }, DEFAULT_ADMISSION, 0), { kind: 'accept' });
  assert.deepEqual(admit({ total: 100, fromSource: 0 }, DEFAULT_ADMISSION, 0.999), { kind: 'drop', why: 'full' });
  assert.deepEqual(admit({ total: 250, fromSource: 0 }, DEFAULT_ADMISSION, 0.999), { kind: 'drop', why: 'full' });
  assert.deepEqual(admit({ total: 0, fromSource: 10 }, DEFAULT_ADMISSION, 0.999), { kind: 'drop', why: 'per-source' });
  assert.deepEqual(admit({ total: 0, fromSource: 9 }, DEFAULT_ADMISSION, 0.999), { kind: 'accept' });
});

test('between start and full the drop probability rises linearly from rate to 100%, as sshd computes it', () => {
  const limits = { maxStartups: { start: 10, rate: 30, full: 100 }, perSource: 1000 };
  // the share of 1000 evenly spread random numbers that are dropped is the probability
  const dropped = (total: number) => {
    let n = 0;
    for (let i = 0; i < 1000; i++) if (admit({ total, fromSource: 0 }, limits, i / 1000).kind === 'drop') n++;
    return n / 1000;
  };
  assert.equal(dropped(10), 0.3);
  assert.equal(dropped(55), 0.65);
  assert.ok(dropped(99) > 0.99 && dropped(99) < 1);
  assert.equal(dropped(100), 1);
});

test('MaxStartups is written start:rate:full or one number; anything else is refused in words', () => {
  assert.deepEqual(parseMaxStartups('10:30:100'), { ok: true, value: { start: 10, rate: 30, full: 100 } });
  assert.deepEqual(parseMaxStartups('20'), { ok: true, value: { start: 20, rate: 100, full: 20 } });
  for (const bad of ['', '10:30', '10:30:100:1', 'a:b:c', '-1:30:100', '10:0:100', '10:101:100', '200:30:100', '0', '1e3', '10:30:1e9', ' 10:30:100']) {
    const r = parseMaxStartups(bad);
    assert.equal(r.ok, false, bad);
    assert.match(r.ok ? '' : r.error, /^(expected|FULL|rate|START) /, bad);
  }
});
