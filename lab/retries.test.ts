import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readRetries, retriesLog, SWITCH_BOOT_DIED, withRetries } from './retries.ts';
import { customerOutcomeWords, operatorOutcomeWords, type Outcome } from '../src/fleet/outcomes.ts';
import type { BootCheck } from '../src/fleet/verify.ts';

test('withRetries retries while the result flaked, at most `attempts` times, and records every retry in retries.log', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'pvhctl-retries-'));
  try {
    const lab = { runDir };
    const notes: string[] = [];
    const results = ['died', 'died', 'marker'];
    const r = await withRetries(lab, 'direct64 PVH boot', 3, async (n) => results[n - 1]!, (x) => (x === 'died' ? 'died\nin Xen' : null), (l) => notes.push(l));
    assert.equal(r, 'marker');
    assert.equal(notes.length, 2);
    const lines = readRetries(lab);
    assert.deepEqual(lines, notes);
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z direct64 PVH boot: attempt 1 of 3 died in Xen; retrying$/);
    assert.match(lines[1]!, /attempt 2 of 3/);
    // the last attempt's result is returned as it is, and not recorded as a retry
    let calls = 0;
    assert.equal(await withRetries(lab, 'x', 3, async () => (calls++, 'died'), () => 'died'), 'died');
    assert.equal(calls, 3);
    assert.equal(readRetries(lab).length, 4);
    assert.equal(readFileSync(retriesLog(lab), 'utf8').split('\n').length, 5);
    // a result that did not flake is never retried
    calls = 0;
    assert.equal(await withRetries(lab, 'y', 3, async () => (calls++, 'refused'), () => null), 'refused');
    assert.equal(calls, 1);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('readRetries of a run without retries is empty; SWITCH_BOOT_DIED tells a dead boot from a rollback for cause', () => {
  assert.deepEqual(readRetries({ runDir: '/nonexistent' }), []);
  assert.ok(SWITCH_BOOT_DIED.test('the guest crashed during its PVH boot'));
  assert.ok(!SWITCH_BOOT_DIED.test('kernel has no PVH support'));
  // What pvhctl itself says of a PVH boot that died (the domain gone right after xl create, or
  // crashed), to operators (`pvhctl switch --json`'s reason) and to customers; not of a boot
  // refused by Xen or one that never reported.
  const died = (boot: BootCheck): Outcome => ({ code: 'rolled-back', from: 'pv', to: 'pvh', failure: { kind: 'verify', boot, detail: 'domain gone after xl create' }, restarted: true });
  for (const boot of [{ check: 'domain-gone', panic: false, silentPvh: true }, { check: 'crashed' }] as const) {
    assert.ok(SWITCH_BOOT_DIED.test(operatorOutcomeWords(died(boot))), operatorOutcomeWords(died(boot)));
    assert.ok(SWITCH_BOOT_DIED.test(customerOutcomeWords(died(boot))), customerOutcomeWords(died(boot)));
  }
  assert.ok(!SWITCH_BOOT_DIED.test(operatorOutcomeWords({ code: 'rolled-back', from: 'pv', to: 'pvh', failure: { kind: 'verify', boot: { check: 'timeout', waiting: 'frontends', port: null, seconds: 120, silentPvh: false }, detail: 'no sign of life' }, restarted: true })));
});
