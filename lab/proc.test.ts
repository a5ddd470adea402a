import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { alive, withLock } from './proc.ts';

test('alive knows this process and refuses nonsense pids', () => {
  assert.equal(alive(process.pid), true);
  assert.equal(alive(0), false);
  assert.equal(alive(-5), false);
  assert.equal(alive(1.5), false);
});

test('withLock serialises holders and takes over a dead holder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-lock-'));
  const lock = join(dir, 'l');
  try {
    const order: string[] = [];
    await Promise.all([
      withLock(lock, async () => { order.push('a+'); await new Promise((r) => setTimeout(r, 300)); order.push('a-'); }),
      withLock(lock, async () => { order.push('b+'); order.push('b-'); }),
    ]);
    assert.deepEqual([order.indexOf('a-') === order.indexOf('a+') + 1, order.indexOf('b-') === order.indexOf('b+') + 1], [true, true]);
    assert.equal(existsSync(lock), false);
    writeFileSync(lock, '999999999'); // no such process
    assert.equal(await withLock(lock, async () => readFileSync(lock, 'utf8')), String(process.pid));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
