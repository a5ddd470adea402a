import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { openFleet } from '../fleet/fleet.ts';
import { eventBus } from '../fleet/events.ts';
import { startSwitch } from '../fleet/switch.ts';
import { simOf } from '../drivers/sim/driver.ts';
import { buildApi } from './server.ts';
import { STORES, type TestStore } from '../../test/support/stores.ts';

async function setup(store: TestStore) {
  const bus = eventBus();
  const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200, onEvent: (e) => bus.emit(e) });
  const host = await fleet.store.addHost({
    name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 16, seed: 7, pv32: true, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  const sim = simOf(fleet.hosts.driverFor(host))!;
  const app = await buildApi(fleet, { logger: pino({ level: 'silent' }), bus });
  const operator = await fleet.store.addToken('operator', null);
  const guests = await fleet.store.listGuests();
  const customer = await fleet.store.addToken('customer', guests[0]!.owner!);
  return { fleet, app, operator, customer, guests, sim };
}
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

for (const store of STORES) {
  test(`GET /v1/readiness and /v1/campaign/overview: operators only; the counts follow switches and rollbacks; /metrics has them per host (${store.kind})`, async (t) => {
    const { fleet, app, operator, customer, guests, sim } = await setup(store);
    t.after(async () => {
      await app.close();
      await fleet.close();
    });
    for (const url of ['/v1/readiness', '/v1/campaign/overview']) {
      assert.equal((await app.inject({ method: 'GET', url })).statusCode, 401, url);
      assert.equal((await app.inject({ method: 'GET', url, headers: auth(customer) })).statusCode, 403, url);
      assert.equal((await app.inject({ method: 'GET', url: `${url}?host=nope`, headers: auth(operator) })).statusCode, 404, url);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/v1/campaign/overview?weeks=0', headers: auth(operator) })).statusCode, 400);

    // Two switches to PVH that succeed, one that rolls back.
    const capable = guests.filter((g) => sim.state.guests[g.name]!.kernel.pvh);
    const [a, b, c] = capable;
    assert.ok(a && b && c);
    sim.state.guests[c.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    for (const g of [a, b, c]) {
      const r = await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'test' });
      assert.equal(r.kind, 'started');
      if (r.kind === 'started') await r.finished;
    }
    const pv = (await fleet.store.listGuests()).filter((g) => g.current_type === 'pv').length;
    assert.equal(pv, guests.length - 2);

    const res = await app.inject({ method: 'GET', url: '/v1/campaign/overview?weeks=4', headers: auth(operator) });
    assert.equal(res.statusCode, 200, res.body);
    const o = res.json();
    assert.equal(o.weeks.length, 4);
    assert.deepEqual(o.weeks.map((w: { pvLeft: number }) => w.pvLeft), [guests.length, guests.length, guests.length, pv]);
    assert.equal(o.weeks[3].offPv, 2);
    assert.equal(o.weeks[3].rolledBack, 1);
    assert.deepEqual(o.failures.map((f: { guest: string; status: string }) => [f.guest, f.status]), [[c.name, 'rolled-back']]);
    assert.ok(o.failures[0].reason.length > 0);
    assert.deepEqual(o.campaigns, []);
    assert.equal(o.hosts[0].byType.pvh, 2);
    assert.match(o.readiness.hosts[0].words.withoutPv, /^no: \d+ guests are PV: /);

    const r = (await app.inject({ method: 'GET', url: '/v1/readiness?host=sim1', headers: auth(operator) })).json();
    assert.equal(r.totals.pvLeft, pv);
    assert.equal(r.hosts[0].withoutPv32.kind === 'not-ready', r.totals.pv32Left + r.totals.pv32Unknown > 0);

    const m = (await app.inject({ method: 'GET', url: '/metrics', headers: auth(operator) })).body;
    assert.match(m, new RegExp(`^pvhctl_pv_guests\\{host="sim1"\\} ${pv}$`, 'm'));
    assert.match(m, new RegExp(`^pvhctl_pv32_guests\\{host="sim1",width="32"\\} ${r.totals.pv32Left}$`, 'm'));
    assert.match(m, /^pvhctl_xen_ready\{host="sim1",without="pv"\} 0$/m);
    assert.match(m, /^pvhctl_campaign_failures\{status="rolled-back"\} 1$/m);
    assert.match(m, /^pvhctl_plan_waves \d+$/m);
    for (const g of guests) assert.ok(!m.includes(g.name), `metrics mention ${g.name}`);

    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.equal(doc.paths['/v1/readiness'].get.operationId, 'getReadiness');
    assert.equal(doc.paths['/v1/campaign/overview'].get.operationId, 'getCampaignOverview');
    assert.ok(doc.paths['/v1/campaign/overview'].get.responses['403']);
  });
}
