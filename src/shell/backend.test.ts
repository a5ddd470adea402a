/**
 * The Xen Shell's backend on a simulated fleet: what a customer reads is in words, while the
 * operators' audit log keeps xl's own errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventBus } from '../fleet/events.ts';
import { openFleet } from '../fleet/fleet.ts';
import { precheck } from '../fleet/switch.ts';
import { auditOutcome, fleetBackend } from './backend.ts';
import { simOf } from '../drivers/sim/driver.ts';

test('history shows customers words, never raw xl errors or host paths; the audit log keeps them for operators', async () => {
  const hub = eventBus();
  const fleet = await openFleet({ dataDir: ':memory:', onEvent: hub.emit, verify: { bootTimeoutMs: 500, pollMs: 2 }, shutdownTimeoutMs: 500 });
  try {
    const host = await fleet.store.addHost({
      name: 'sim1', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null, sim_spec: JSON.stringify({ guests: 3, seed: 4, bootMs: 2, shutdownMs: 2 }),
    });
    await fleet.scan(host);
    const sim = simOf(fleet.hosts.driverFor(host))!;
    const [g] = await fleet.store.listGuests();
    await fleet.store.updateGuest(g!.id, { owner: 'alice' });
    const backend = fleetBackend(fleet, hub);
    assert.equal((await backend.power('alice', g!.name, 'shutdown', () => {})).ok, true);
    sim.state.files[g!.config_path] = Buffer.from('name = "broken"\r\n').toString('base64'); // xl would refuse it
    const boot = await backend.power('alice', g!.name, 'boot', () => {});
    assert.equal(boot.ok, false);
    // a switch refused at the pre-check on the same broken file
    const pre = await precheck(fleet.ctx, (await fleet.store.getGuestById(g!.id))!, 'pvh');
    assert.equal(pre.ok, false);
    assert.doesNotMatch(pre.ok ? '' : pre.reason, /\/etc\/xen|parsing error/);
    assert.match(pre.ok ? '' : (pre.detail ?? ''), /\/etc\/xen\/.*config parsing error/, 'operators keep the detail');

    const h = await backend.history('alice', g!.name);
    assert.ok(h.ok);
    const text = h.value.map((e) => `${e.what}: ${e.outcome}`).join('\n');
    assert.match(text, /boot: That did not work: the host refused to start the server/);
    assert.match(text, /shutdown: The server has shut down/);
    assert.doesNotMatch(text, /\/etc\/xen|parsing error|xl create/);
    const audit = await fleet.store.listAudit(50);
    assert.ok(audit.some((e) => e.action === 'operation-refused' && /^boot: failed: xl create \/etc\/xen\/.*config parsing error/.test(e.detail ?? '')), 'the audit log keeps xl\'s error');
    const [op] = await fleet.store.listOperations({ guestId: g!.id, limit: 1 });
    assert.match(op!.detail ?? '', /xl create \/etc\/xen\/.*config parsing error/, 'and so does the operation, for operators');
  } finally {
    await fleet.close();
  }
});

test('an audit detail with no customer wording shows nothing rather than operator detail', () => {
  assert.equal(auditOutcome('done'), 'done');
  assert.equal(auditOutcome('shutdown timed out'), 'it did not shut down in time');
  assert.equal(auditOutcome('failed: connect ECONNREFUSED 10.0.0.5:22'), 'failed: the host could not be reached');
  assert.equal(auditOutcome('dom0 10.0.0.5 pid 4711'), '');
  assert.equal(auditOutcome(null), '');
});
