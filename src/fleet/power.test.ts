import { test } from 'node:test';
import assert from 'node:assert/strict';
import { powerPlan, startPower, type PowerAction } from './power.ts';
import { openFleet } from './fleet.ts';
import { outcomeWords } from './reasons.ts';
import { simOf } from '../drivers/sim/driver.ts';
import type { Guest } from '../store/schema.ts';
import { STORES } from '../../test/support/stores.ts';

test('a power plan does what is asked, refuses what is already so, and after a crash does only what is left', () => {
  assert.deepEqual(powerPlan('boot', false, []), { kind: 'act', stop: false, start: true });
  assert.deepEqual(powerPlan('boot', true, []), { kind: 'refuse', refusal: { code: 'already-running' } });
  assert.deepEqual(powerPlan('shutdown', true, []), { kind: 'act', stop: true, start: false });
  assert.deepEqual(powerPlan('shutdown', false, []), { kind: 'refuse', refusal: { code: 'not-running' } });
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

for (const store of STORES) {
  /** A fleet of one simulated host with three guests, and a power action run to its end. */
  async function setup() {
    const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), verify: { bootTimeoutMs: 500, pollMs: 2 }, shutdownTimeoutMs: 1000 });
    const host = await fleet.store.addHost({
      name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 3, seed: 4, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    await fleet.scan(host);
    const sim = simOf(fleet.hosts.driverFor(host))!;
    const ended = async (g: Guest, action: PowerAction) => {
      const r = await startPower(fleet.ctx, (await fleet.store.getGuestById(g.id))!, action, { actor: 'op' });
      return r.kind === 'started' ? r.finished : assert.fail(r.refusal.code);
    };
    return { fleet, sim, ended };
  }

  test(`a refused power action is stored as its code and parameters, worded for each reader at the edge (${store.kind})`, async () => {
    const { fleet, sim, ended } = await setup();
    try {
      const [a, b] = (await fleet.store.listGuests()).filter((g) => sim.state.domains[g.name] !== undefined);
      const boot = await ended(a!, 'boot');
      assert.equal(boot.status, 'refused');
      assert.deepEqual([boot.reason_code, JSON.parse(boot.reason_params!)], ['already-running', {}]);
      assert.equal(outcomeWords(boot, 'customer'), 'The server is already running.');
      assert.equal(outcomeWords(boot, 'operator'), 'already-running: the domain is already running');
      // A shutdown that does not finish in time: never destroyed, the limit in the parameters.
      sim.state.guests[b!.name]!.faults.push({ kind: 'slow-shutdown', ms: 60_000, count: 1 });
      const slow = await ended(b!, 'shutdown');
      assert.deepEqual([slow.status, slow.reason_code, JSON.parse(slow.reason_params!)], ['refused', 'shutdown-timeout', { seconds: 1 }]);
      assert.match(outcomeWords(slow, 'customer'), /^The server did not shut down within 1 s; it is still running\./);
      // An xl call that fails before the domain changes: the cause kept, xl's words for operators only.
      assert.equal((await ended(a!, 'shutdown')).status, 'done');
      sim.state.files[a!.config_path] = Buffer.from('name = "broken"\r\n').toString('base64');
      const failed = await ended(a!, 'boot');
      assert.equal(failed.reason_code, 'power-failed');
      assert.equal(outcomeWords(failed, 'customer'), 'That did not work: the host refused to start the server.');
      assert.match(outcomeWords(failed, 'operator'), /^power-failed: the xl call failed before the domain changed: xl create \/etc\/xen\//);
      assert.doesNotMatch(outcomeWords(failed, 'customer'), /\/etc\/xen|xl /);
    } finally {
      await fleet.close();
    }
  });

  test(`a power action's outcome is stored as a code: done, and a reboot that left the guest down (${store.kind})`, async () => {
    const { fleet, sim, ended } = await setup();
    try {
      const [a] = (await fleet.store.listGuests()).filter((g) => sim.state.domains[g.name] !== undefined);
      const rebooted = await ended(a!, 'reboot');
      assert.deepEqual([rebooted.status, rebooted.reason_code, JSON.parse(rebooted.reason_params!)], ['done', 'powered', { action: 'reboot' }]);
      assert.equal(outcomeWords(rebooted, 'customer'), 'The server was restarted.');
      assert.equal(outcomeWords(rebooted, 'operator'), 'powered: reboot done');
      // The config breaks while it runs: the reboot shuts it down and cannot start it again.
      sim.state.files[a!.config_path] = Buffer.from('name = "broken"\r\n').toString('base64');
      const down = await ended(a!, 'reboot');
      assert.deepEqual([down.status, down.reason_code], ['needs-attention', 'reboot-left-down']);
      assert.equal(outcomeWords(down, 'customer'), 'The server was shut down but could not be started again (the host refused to start the server). Our team has been alerted.');
      assert.match(outcomeWords(down, 'operator'), /^reboot-left-down: shut down, then xl create failed: xl create \/etc\/xen\/.+; the guest is down, marked needs-attention for an operator$/);
      assert.equal((await fleet.store.getGuestById(a!.id))!.attention, outcomeWords(down, 'customer'));
    } finally {
      await fleet.close();
    }
  });
}
