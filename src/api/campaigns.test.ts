import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { openFleet } from '../fleet/fleet.ts';
import { eventBus } from '../fleet/events.ts';
import { buildApi } from './server.ts';
import { STORES } from '../../test/support/stores.ts';

const auth = (t: string) => ({ authorization: `Bearer ${t}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const store of STORES) {
  test(`campaign API: operators create, start, show and pause; a customer sees only their guests' slots and switches now, picks a slot, postpones once, in their words (${store.kind})`, async () => {
    const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200 });
    const host = await fleet.store.addHost({
      name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 30, seed: 5, pvOnly: 0, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    await fleet.scan(host);
    const app = await buildApi(fleet, { logger: pino({ level: 'silent' }), bus: eventBus() });
    const operator = await fleet.store.addToken('operator', null);
    const guests = await fleet.store.listGuests();
    // An owner with two guests: one postpones and picks a slot, the other switches now.
    const byOwner = new Map<string, typeof guests>();
    for (const g of guests) byOwner.set(g.owner!, [...(byOwner.get(g.owner!) ?? []), g]);
    const [owner, mine] = [...byOwner].find(([, gs]) => gs.length >= 2)!;
    const customer = await fleet.store.addToken('customer', owner);
    const other = guests.find((g) => g.owner !== owner)!;
    const call = (method: 'GET' | 'POST', url: string, token: string, payload?: object) => app.inject({ method, url, headers: auth(token), ...(payload ? { payload } : {}) });

    assert.equal((await call('GET', '/v1/campaigns', customer)).statusCode, 403);
    assert.deepEqual((await call('GET', '/v1/campaigns', operator)).json(), []);
    const bad = await call('POST', '/v1/campaigns', operator, { name: 'w', windows: { sim1: 'Tue 02:00-02:00' } });
    assert.equal(bad.statusCode, 409);
    assert.match(bad.json().error, /^host sim1: window "Tue 02:00-02:00": the time range is empty$/);
    assert.equal((await call('POST', '/v1/campaigns', operator, { name: 'w', windows: {}, settings: { canary: -1 } })).statusCode, 400);
    const nohost = await call('POST', '/v1/campaigns', operator, { name: 'w', hosts: ['xen9'], windows: {} });
    assert.deepEqual([nohost.statusCode, nohost.json()], [409, { error: 'no host named "xen9"' }]);
    const made = await call('POST', '/v1/campaigns', operator, { name: 'w', windows: { sim1: 'daily 02:00-05:00 Europe/Berlin' }, settings: { canary: 2, noticeDays: 3, postponeDays: 10 } });
    assert.equal(made.statusCode, 201, made.body);
    assert.equal(made.json().campaign.status, 'draft');
    assert.equal((await call('POST', '/v1/campaigns/w/start', operator)).statusCode, 200);
    assert.equal((await call('POST', '/v1/campaigns/w/start', operator)).statusCode, 409);
    assert.equal((await call('POST', '/v1/campaigns/nope/start', operator)).statusCode, 404);

    // The customer's view: their guest's slot in Berlin time, and the other slots to pick.
    assert.equal((await call('GET', `/v1/guests/${other.id}/campaigns`, customer)).statusCode, 404);
    const [a, b] = mine;
    const views = (await call('GET', `/v1/guests/${a!.id}/campaigns`, customer)).json();
    assert.ok(Array.isArray(views) && views.length === 1, JSON.stringify(views).slice(0, 200));
    const view = views[0];
    assert.equal(view.campaign, 'w');
    assert.equal(view.status, 'planned');
    assert.equal(view.slot.timeZone, 'Europe/Berlin');
    assert.match(view.slotWords, /^\w{3}, \d{1,2} \w{3} \d{4}, 02:00 to 05:00 \(Europe\/Berlin\)$/);
    assert.equal(view.postponeDays, 10);
    assert.ok(view.choices.length >= 2);

    const postponed = await call('POST', `/v1/guests/${a!.id}/campaign/postpone`, customer, { campaign: 'w', days: 2 });
    assert.equal(postponed.statusCode, 200, postponed.body);
    assert.equal(postponed.json().choice, 'postponed');
    const again = await call('POST', `/v1/guests/${a!.id}/campaign/postpone`, customer, { campaign: 'w', days: 1 });
    assert.equal(again.statusCode, 409);
    assert.deepEqual(again.json(), { error: 'This switch was postponed once already; pick another time in the campaign instead.', code: 'already-postponed' });
    const pick = view.choices[1].start;
    const picked = await call('POST', `/v1/guests/${a!.id}/campaign/slot`, customer, { campaign: 'w', start: pick });
    assert.equal(picked.statusCode, 200, picked.body);
    assert.equal(picked.json().slot_start, pick);
    assert.equal((await call('POST', `/v1/guests/${a!.id}/campaign/slot`, customer, { campaign: 'w', start: 'yesterday' })).statusCode, 400);
    assert.equal((await call('POST', `/v1/guests/${other.id}/campaign/switch-now`, customer, { campaign: 'w' })).statusCode, 404);
    const now = await call('POST', `/v1/guests/${b!.id}/campaign/switch-now`, customer, { campaign: 'w' });
    assert.equal(now.statusCode, 200, now.body);
    assert.equal(now.json().status, 'submitted');
    while ((await fleet.store.listOperations({ status: ['pending', 'running'] })).length > 0) await sleep(10);
    assert.equal((await fleet.store.getGuestById(b!.id))!.current_type, 'pvh');

    // The operator's view shows both choices at once.
    const shown = (await call('GET', '/v1/campaigns/w', operator)).json();
    const rowOf = (id: number) => shown.guests.find((g: { guest_id: number }) => g.guest_id === id);
    assert.equal(rowOf(a!.id).choice, 'slot');
    assert.equal(rowOf(a!.id).postponed, 1);
    assert.equal(rowOf(b!.id).choice, 'early');
    assert.equal((await call('POST', '/v1/campaigns/w/pause', operator, { reason: 'freeze' })).json().pause_reason, `paused by token:1: freeze`);
    const paused = await call('POST', `/v1/guests/${a!.id}/campaign/slot`, customer, { campaign: 'w', start: pick });
    assert.equal(paused.statusCode, 409);
    assert.match(paused.json().error, /campaign is paused/);
    await app.close();
    await fleet.close();
  });

  test(`POST /v1/campaigns takes the server's campaign defaults (the settings file) for what the request leaves out (${store.kind})`, async () => {
    const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200 });
    try {
      const host = await fleet.store.addHost({
        name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 6, seed: 5, pvOnly: 0, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
        xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
      });
      await fleet.scan(host);
      const { DEFAULT_SETTINGS } = await import('../fleet/campaign-rules.ts');
      const campaignDefaults = { ...DEFAULT_SETTINGS, canary: 1, noticeDays: 2, waveThreshold: 0.3 };
      const app = await buildApi(fleet, { logger: pino({ level: 'silent' }), bus: eventBus(), campaignDefaults });
      const operator = await fleet.store.addToken('operator', null);
      const post = (payload: object) => app.inject({ method: 'POST', url: '/v1/campaigns', headers: auth(operator), payload });
      const fromDefaults = await post({ name: 'a', windows: { sim1: 'daily 02:00-05:00 UTC' } });
      assert.equal(fromDefaults.statusCode, 201, fromDefaults.body);
      assert.deepEqual(fromDefaults.json().campaign.policy, campaignDefaults);
      const given = await post({ name: 'b', windows: { sim1: 'daily 02:00-05:00 UTC' }, settings: { noticeDays: 5 } });
      assert.deepEqual(given.json().campaign.policy, { ...campaignDefaults, noticeDays: 5 });
      await app.close();
    } finally {
      await fleet.close();
    }
  });
}
