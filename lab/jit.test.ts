import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runEnd } from './jit.ts';

test("runEnd reads the dom0 wrapper's rc line: 128+N is signal N, a missing line is a lost run", () => {
  assert.deepEqual(runEnd('rc=0\n'), { kind: 'exit', code: 0 });
  assert.deepEqual(runEnd('rc=1\nsome stderr\n'), { kind: 'exit', code: 1 });
  assert.deepEqual(runEnd('rc=134\n# Fatal error in , line 0\n'), { kind: 'signal', signal: 6 });
  assert.deepEqual(runEnd('rc=139\n'), { kind: 'signal', signal: 11 });
  assert.equal(runEnd('ssh: connection reset').kind, 'lost');
  assert.equal(runEnd('xrc=0\n').kind, 'lost');
});
