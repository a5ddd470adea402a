import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { openFleet } from '../fleet/fleet.ts';
import { buildServer, eventBus } from './server.ts';

async function setup() {
  const bus = eventBus();
  const fleet = await openFleet({ dataDir: ':memory:', verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200, onEvent: (e) => bus.emit(e) });
  const host = await fleet.store.addHost({
    name: 'sim1', transport: 'sim', endpoint: null, key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null, sim_spec: JSON.stringify({ guests: 20, seed: 5, bootMs: 2, shutdownMs: 2 }),
  });
  await fleet.scan(host);
  const app = await buildServer(fleet, { logger: pino({ level: 'silent' }), bus });
  const operator = await fleet.store.addToken('operator', null);
  const guests = await fleet.store.listGuests();
  const owner = guests[0]!.owner!;
  const customer = await fleet.store.addToken('customer', owner);
  return { fleet, app, operator, customer, owner, guests, sim: fleet.hosts.simFor(host)! };
}
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

test('tokens: none is 401; customers see only their guests and get 404 for others; hosts are for operators', async () => {
  const { fleet, app, operator, customer, owner, guests } = await setup();
  assert.equal((await app.inject({ method: 'GET', url: '/v1/guests' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/guests', headers: auth('pvh_wrongwrongwrong') })).statusCode, 401);
  const all = (await app.inject({ method: 'GET', url: '/v1/guests', headers: auth(operator) })).json();
  assert.equal(all.length, 20);
  const mine = (await app.inject({ method: 'GET', url: '/v1/guests', headers: auth(customer) })).json() as { owner: string }[];
  assert.ok(mine.length >= 1 && mine.every((g) => g.owner === owner));
  const other = guests.find((g) => g.owner !== owner)!;
  assert.equal((await app.inject({ method: 'GET', url: `/v1/guests/${other.id}`, headers: auth(customer) })).statusCode, 404);
  assert.equal((await app.inject({ method: 'POST', url: `/v1/guests/${other.id}/switch`, headers: auth(customer), payload: { to: 'pvh' } })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/hosts', headers: auth(customer) })).statusCode, 403);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/hosts', headers: auth(operator) })).json().length, 1);
  assert.equal((await app.inject({ method: 'POST', url: `/v1/guests/${other.id}/switch`, headers: auth(operator), payload: { to: 'hvm-ish' } })).statusCode, 400);
  await app.close();
  await fleet.close();
});

test('a customer checks and switches their guest, and follows it over SSE to the end', async () => {
  const { fleet, app, customer, owner, sim } = await setup();
  const mine = (await fleet.store.listGuests({ owner })).find((g) => sim.state.guests[g.name]!.kernel.pvh)!;
  const check = (await app.inject({ method: 'POST', url: `/v1/guests/${mine.id}/check`, headers: auth(customer), payload: { to: 'pvh' } })).json();
  assert.equal(check.allowed, true);
  assert.match(check.diff, /\+type = "pvh"/);
  const res = await app.inject({ method: 'POST', url: `/v1/guests/${mine.id}/switch`, headers: auth(customer), payload: { to: 'pvh' } });
  assert.equal(res.statusCode, 202);
  const op = res.json();
  const sse = await app.inject({ method: 'GET', url: `/v1/operations/${op.id}/events`, headers: auth(customer) });
  assert.equal(sse.headers['content-type'], 'text/event-stream');
  assert.match(sse.body, /event: step\ndata: \{"step":"pre-check","phase":"begin"/);
  assert.match(sse.body, /event: end\ndata: \{"status":"done"/);
  assert.doesNotMatch(sse.body, /"detail"/);
  const final = (await app.inject({ method: 'GET', url: `/v1/operations/${op.id}`, headers: auth(customer) })).json();
  assert.equal(final.status, 'done');
  assert.equal(final.journal.length, 12);
  assert.equal((await app.inject({ method: 'GET', url: `/v1/guests/${mine.id}`, headers: auth(customer) })).json().type, 'pvh');
  await app.close();
  await fleet.close();
});

test('OpenAPI document; Prometheus metrics for operators only, without per-guest labels', async () => {
  const { fleet, app, operator, customer, guests } = await setup();
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  assert.match(doc.openapi, /^3\./);
  assert.ok(doc.paths['/v1/guests/{id}/switch'].post);
  assert.ok(doc.paths['/v1/operations/{id}/events'].get);
  const op = (await app.inject({ method: 'POST', url: `/v1/guests/${guests[0]!.id}/switch`, headers: auth(operator), payload: { to: 'pvh' } })).json();
  await app.inject({ method: 'GET', url: `/v1/operations/${op.id}/events`, headers: auth(operator) });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401, 'no token, no metrics');
  assert.equal((await app.inject({ method: 'GET', url: '/metrics', headers: auth(customer) })).statusCode, 403, 'customers get none');
  const m = (await app.inject({ method: 'GET', url: '/metrics', headers: auth(operator) })).body;
  assert.match(m, /pvhctl_guests\{type="pv",health="ok"\} \d+/);
  assert.match(m, /pvhctl_operations_total\{kind="switch",status="(done|rolled-back)"\} 1/);
  for (const g of guests) assert.ok(!m.includes(g.name), `metrics mention ${g.name}`);
  await app.close();
  await fleet.close();
});

test('every numeric parameter of every route is bounded: bad values get 400 with words, never 500', async () => {
  const { fleet, app, operator } = await setup();
  await app.ready();
  type Param = { in: string; name: string; schema?: { type?: string } };
  const doc = app.swagger() as { paths: Record<string, Record<string, { parameters?: Param[] }>> };
  const bad = ['1e309', '-1e309', 'Infinity', '1e20', '9007199254740993', '99999999999999999999', '2147483648', '-1', '1.5', 'abc', '', '%00'];
  let routes = 0;
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const numeric = (op.parameters ?? []).filter((p) => p.schema?.type === 'integer');
      if (numeric.length === 0) continue;
      routes++;
      for (const p of numeric) {
        for (const v of bad) {
          let url = path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === p.name ? v : '1'));
          if (p.in === 'query') url += `?${p.name}=${v}`;
          const res = await app.inject({ method: method.toUpperCase() as 'GET', url, headers: auth(operator), ...(method === 'post' ? { payload: { to: 'pvh' } } : {}) });
          assert.equal(res.statusCode, 400, `${method} ${url}: ${res.body}`);
          assert.match(res.json().error, new RegExp(`^${p.name} must be (a whole number|at least -?\\d+|at most \\d+)$`), `${method} ${url}`);
        }
      }
    }
  }
  assert.ok(routes >= 8, `routes with numeric parameters: ${routes}`);
  await app.close();
  await fleet.close();
});

test('metrics are cheap: scrapes arriving together, and within the interval, share one reading of the store', async () => {
  const { fleet, app, operator } = await setup();
  let reads = 0;
  const count = fleet.store.countGuests;
  fleet.store.countGuests = () => {
    reads++;
    return count();
  };
  const scrape = () => app.inject({ method: 'GET', url: '/metrics', headers: auth(operator) });
  const all = await Promise.all(Array.from({ length: 16 }, scrape));
  assert.ok(all.every((r) => r.statusCode === 200 && /pvhctl_guests\{/.test(r.body)));
  for (let i = 0; i < 16; i++) assert.equal((await scrape()).statusCode, 200);
  assert.equal(reads, 1, '32 scrapes, one fleet-wide count');
  await app.close();
  await fleet.close();
});

test("a customer's view of an operation has the outcome in words and no operator detail (owner, requested_by, detail)", async () => {
  const { fleet, app, operator, customer, owner } = await setup();
  const mine = (await fleet.store.listGuests({ owner }))[0]!;
  const op = (await app.inject({ method: 'POST', url: `/v1/guests/${mine.id}/switch`, headers: auth(customer), payload: { to: 'pvh' } })).json();
  await app.inject({ method: 'GET', url: `/v1/operations/${op.id}/events`, headers: auth(customer) });
  const theirs = (await app.inject({ method: 'GET', url: `/v1/operations/${op.id}`, headers: auth(customer) })).json();
  const full = (await app.inject({ method: 'GET', url: `/v1/operations/${op.id}`, headers: auth(operator) })).json();
  assert.equal(theirs.id, op.id);
  assert.match(theirs.reason, /^The server /);
  for (const key of ['owner', 'requested_by', 'detail', 'force', 'kept_version_id', 'new_version_id']) {
    assert.ok(!(key in theirs), `customers see ${key}`);
    assert.ok(key in full, `operators see ${key}`);
  }
  assert.ok(theirs.journal.length > 0 && theirs.journal.every((j: object) => Object.keys(j).sort().join() === 'at,phase,step'));
  assert.ok(full.journal.some((j: { detail: string | null }) => j.detail !== null));
  assert.match(full.requested_by, /^token:\d+$/);
  assert.match(full.owner, /^[^:]+:\d+$/);
  await app.close();
  await fleet.close();
});
