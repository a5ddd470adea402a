import { test } from 'node:test';
import assert from 'node:assert/strict';
import { powerPlan } from './power.ts';

test('a power plan does what is asked, refuses what is already so, and after a crash does only what is left', () => {
  assert.deepEqual(powerPlan('boot', false, []), { kind: 'act', stop: false, start: true });
  assert.deepEqual(powerPlan('boot', true, []), { kind: 'refuse', reason: 'The server is already running.' });
  assert.deepEqual(powerPlan('shutdown', true, []), { kind: 'act', stop: true, start: false });
  assert.deepEqual(powerPlan('shutdown', false, []), { kind: 'refuse', reason: 'The server is not running.' });
  assert.deepEqual(powerPlan('reboot', true, []), { kind: 'act', stop: true, start: true });
  assert.deepEqual(powerPlan('reboot', false, []), { kind: 'act', stop: false, start: true }, 'a stopped guest is booted');
  // Finishing after a crash: a boot whose create began is done once the domain is there.
  assert.deepEqual(powerPlan('boot', true, [{ step: 'power-start', phase: 'begin' }]), { kind: 'act', stop: false, start: false });
  assert.deepEqual(powerPlan('shutdown', false, [{ step: 'power-stop', phase: 'begin' }]), { kind: 'act', stop: false, start: false });
  // A reboot whose stop is done is not stopped again (it may already run again).
  const stopped = [{ step: 'power-stop', phase: 'begin' }, { step: 'power-stop', phase: 'done' }];
  assert.deepEqual(powerPlan('reboot', true, stopped), { kind: 'act', stop: false, start: false });
  assert.deepEqual(powerPlan('reboot', false, stopped), { kind: 'act', stop: false, start: true });
  // A reboot killed during its stop: stop (if still up), then start.
  assert.deepEqual(powerPlan('reboot', true, [{ step: 'power-stop', phase: 'begin' }]), { kind: 'act', stop: true, start: true });
});
