import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFleet } from '../fleet/fleet.ts';
import { eventBus } from '../fleet/events.ts';
import { createCampaign, showCampaign, startCampaign } from '../fleet/campaign.ts';
import { realClock } from '../fleet/campaign-rules.ts';
import { fleetBackend } from './backend.ts';
import { complete, parseLine } from './commands.ts';
import { STORES } from '../../test/support/stores.ts';

test('parseLine: maintenance [now | slot N | postpone DAYS], anything else a one-line usage error', () => {
  assert.deepEqual(parseLine('maintenance'), { ok: true, command: { cmd: 'maintenance', action: { kind: 'show' } } });
  assert.deepEqual(parseLine('maintenance NOW'), { ok: true, command: { cmd: 'maintenance', action: { kind: 'now' } } });
  assert.deepEqual(parseLine('maintenance slot 2'), { ok: true, command: { cmd: 'maintenance', action: { kind: 'slot', n: 2 } } });
  assert.deepEqual(parseLine('maintenance postpone 7'), { ok: true, command: { cmd: 'maintenance', action: { kind: 'postpone', days: 7 } } });
  for (const bad of ['maintenance slot', 'maintenance slot 0', 'maintenance postpone -3', 'maintenance now please', 'maintenance later', 'maintenance slot 1234']) {
    const r = parseLine(bad);
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.equal(r.error, 'maintenance: usage: maintenance [now | slot N | postpone DAYS]');
  }
  assert.deepEqual(complete('maintenance p', []), { insert: 'ostpone ', choices: [] });
});

for (const store of STORES) {
  test(`Xen Shell maintenance: a customer sees their slot in the host's time zone, picks another, postpones once, switches now; another customer's server is not theirs (${store.kind})`, async () => {
    const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200 });
    const host = await fleet.store.addHost({
      name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 6, seed: 9, pvOnly: 0, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    await fleet.scan(host);
    const guests = await fleet.store.listGuests();
    for (const g of guests) await fleet.store.updateGuest(g.id, { owner: g.id === guests[0]!.id ? 'bob' : 'alice' });
    const backend = fleetBackend(fleet, eventBus());
    const [, a, b] = guests;
    assert.deepEqual(await backend.maintenance('alice', a!.name, { kind: 'show' }), { ok: true, value: 'No maintenance is planned for this server.' });
    await createCampaign(fleet.store, { name: 'winter', scope: { hosts: [], guests: [], owners: [] }, windows: { sim1: 'Tue-Thu 02:00-05:00 Europe/Berlin' }, settings: { canary: 0, postponeDays: 7 }, actor: 'op' });
    await startCampaign(fleet.store, 'winter', 'op', realClock);
    const shown = await backend.maintenance('alice', a!.name, { kind: 'show' });
    assert.ok(shown.ok);
    assert.match(shown.value, /^Maintenance "winter": the server's switch is planned for \w{3}, \d{1,2} \w{3} \d{4}, 02:00 to 05:00 \(Europe\/Berlin\)\.$/m);
    assert.match(shown.value, /^ {2}2\. \w{3}, .* 02:00 to 05:00 \(Europe\/Berlin\)$/m);
    assert.match(shown.value, /postpones it once, by up to 7 days/);
    assert.equal((await backend.maintenance('alice', guests[0]!.name, { kind: 'show' })).ok, false);
    const picked = await backend.maintenance('alice', a!.name, { kind: 'slot', n: 2 });
    assert.ok(picked.ok, picked.ok ? '' : picked.error);
    assert.match(picked.value, /^Your server's maintenance window is now \w{3}, .* 02:00 to 05:00 \(Europe\/Berlin\)\.$/);
    assert.deepEqual(await backend.maintenance('alice', a!.name, { kind: 'slot', n: 99 }), { ok: false, error: 'there is no window number 99; "maintenance" lists them' });
    assert.ok((await backend.maintenance('alice', a!.name, { kind: 'postpone', days: 3 })).ok);
    assert.deepEqual(await backend.maintenance('alice', a!.name, { kind: 'postpone', days: 3 }), { ok: false, error: 'This switch was postponed once already; pick another time in the campaign instead.' });
    assert.deepEqual(await backend.maintenance('alice', b!.name, { kind: 'now' }), { ok: true, value: 'The switch has started; "status" follows it.' });
    const rows = (await showCampaign(fleet.store, 'winter')).guests;
    assert.equal(rows.find((r) => r.guest_id === a!.id)!.choice, 'postponed');
    assert.equal(rows.find((r) => r.guest_id === b!.id)!.choice, 'early');
    while ((await fleet.store.listOperations({ status: ['pending', 'running'] })).length > 0) await new Promise((r) => setTimeout(r, 10));
    // Until the campaign's tick records its outcome, its row says the switch is under way.
    assert.deepEqual(await backend.maintenance('alice', b!.name, { kind: 'show' }), { ok: true, value: 'Maintenance "winter": the switch is in progress.' });
    assert.equal((await fleet.store.getGuestById(b!.id))!.current_type, 'pvh');
    await fleet.close();
  });
}
