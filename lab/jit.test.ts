import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runEnd } from './jit.ts';
import { link, reference, sleb, wasmLink } from './jit-probe.ts';

test("runEnd reads the dom0 wrapper's rc line: 128+N is signal N, a missing line is a lost run", () => {
  assert.deepEqual(runEnd('rc=0\n'), { kind: 'exit', code: 0 });
  assert.deepEqual(runEnd('rc=1\nsome stderr\n'), { kind: 'exit', code: 1 });
  assert.deepEqual(runEnd('rc=134\n# Fatal error in , line 0\n'), { kind: 'signal', signal: 6 });
  assert.deepEqual(runEnd('rc=139\n'), { kind: 'signal', signal: 11 });
  assert.equal(runEnd('ssh: connection reset').kind, 'lost');
  assert.equal(runEnd('xrc=0\n').kind, 'lost');
});

test('the JIT probe: its hand-made WebAssembly link computes what the JavaScript link and the reference do, for seeds of every LEB128 length and sign', () => {
  assert.deepEqual(sleb(-1), [0x7f]);
  assert.deepEqual(sleb(63), [0x3f]);
  assert.deepEqual(sleb(64), [0xc0, 0x00]);
  assert.deepEqual(sleb(-65), [0xbf, 0x7f]);
  assert.deepEqual(sleb(2 ** 31 - 1), [0xff, 0xff, 0xff, 0xff, 0x07]);
  assert.equal(reference(7, 2), 6950);
  for (const seed of [0, 7, -7, 64, -65, 1_000_003, -(2 ** 31), 2 ** 31 - 1]) {
    for (const n of [0, 1, 45]) {
      const want = (reference(seed, n) + 5) | 0;
      assert.equal(link(seed)(n, () => 5), want, `js seed ${seed} n ${n}`);
      assert.equal(wasmLink(seed)(n, () => 5), want, `wasm seed ${seed} n ${n}`);
    }
  }
});

test('the JIT probe runs its rounds (forced tier-up, WebAssembly, a GC under every chain) on two threads and finds every result right', () => {
  const probe = fileURLToPath(new URL('jit-probe.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', probe, '1', '1'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^threads 2 rounds [1-9]\d* functions [1-9]\d* gcs [1-9]\d* wrong 0\n$/);
  const bare = spawnSync(process.execPath, [probe, '1', '0'], { encoding: 'utf8', timeout: 120_000 });
  assert.notEqual(bare.status, 0);
  assert.match(bare.stderr, /run with --expose-gc --allow-natives-syntax/);
});
