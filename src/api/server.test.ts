import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { openFleet } from '../fleet/fleet.ts';
import { eventBus } from '../fleet/events.ts';
import { buildApi } from './server.ts';
import { simOf } from '../drivers/sim/driver.ts';
import { decodeVerdict, encodeVerdict } from '../fleet/stored-verdict.ts';
import type { Verdict } from '../guest/verdict.ts';
import { STORES, type TestStore } from '../../test/support/stores.ts';

async function setup(store: TestStore) {
  const bus = eventBus();
  const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200, onEvent: (e) => bus.emit(e) });
  const host = await fleet.store.addHost({
    name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 20, seed: 5, bootMs: 2, shutdownMs: 2 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  const app = await buildApi(fleet, { logger: pino({ level: 'silent' }), bus });
  const operator = await fleet.store.addToken('operator', null);
  const guests = await fleet.store.listGuests();
  const owner = guests[0]!.owner!;
  const customer = await fleet.store.addToken('customer', owner);
  return { fleet, app, operator, customer, owner, guests, sim: simOf(fleet.hosts.driverFor(host))! };
}
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

for (const store of STORES) {
  test(`tokens: none is 401; customers see only their guests and get 404 for others; hosts are for operators (${store.kind})`, async () => {
    const { fleet, app, operator, customer, owner, guests } = await setup(store);
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

  test(`a customer checks and switches their guest, and follows it over SSE to the end (${store.kind})`, async () => {
    const { fleet, app, customer, owner, sim } = await setup(store);
    const mine = (await fleet.store.listGuests({ owner })).find((g) => sim.state.guests[g.name]!.kernel.pvh)!;
    const check = (await app.inject({ method: 'POST', url: `/v1/guests/${mine.id}/check`, headers: auth(customer), payload: { to: 'pvh' } })).json();
    assert.equal(check.allowed, true);
    assert.equal(check.diff, null, 'the settings file diff is for operators');
    assert.match(check.changes[0], /settings are switched from PV to PVH mode/);
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

  test(`OpenAPI document; Prometheus metrics for operators only, without per-guest labels (${store.kind})`, async () => {
    const { fleet, app, operator, customer, guests } = await setup(store);
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

  test(`a customer starts a rehearsal of their guest; GET /v1/guests/{id} shows its result in their words; others' guests are 404 (${store.kind})`, async () => {
    const { fleet, app, customer, owner, guests, sim } = await setup(store);
    const mine = (await fleet.store.listGuests({ owner })).find((g) => sim.state.guests[g.name]!.kernel.pvh)!;
    const other = guests.find((g) => g.owner !== owner)!;
    assert.equal((await app.inject({ method: 'POST', url: `/v1/guests/${other.id}/rehearse`, headers: auth(customer) })).statusCode, 404);
    const domid = sim.state.domains[mine.name]!.domid;
    const res = await app.inject({ method: 'POST', url: `/v1/guests/${mine.id}/rehearse`, headers: auth(customer), payload: {} });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().status, 'running');
    let g;
    for (let i = 0; i < 500; i++) {
      g = (await app.inject({ method: 'GET', url: `/v1/guests/${mine.id}`, headers: auth(customer) })).json();
      if (g.rehearsals[0]?.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(g.rehearsals[0].status, 'passed', JSON.stringify(g.rehearsals[0]));
    assert.match(g.rehearsals[0].message, /^Your server was test-booted in PVH mode on a copy of its disk on \d{4}-\d\d-\d\d: it came up\./);
    assert.equal(g.rehearsals[0].kernel, '6.1.0-26-amd64');
    assert.equal(g.type, 'pv');
    assert.equal(sim.state.domains[mine.name]!.domid, domid, 'the guest kept running');
    await app.close();
    await fleet.close();
  });

  test(`every numeric parameter of every route is bounded: bad values get 400 with words, never 500 (${store.kind})`, async () => {
    const { fleet, app, operator } = await setup(store);
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

  test(`a switch that rolls back counts: the guest no longer shows the target it could not boot as (${store.kind})`, async () => {
    const { fleet, app, operator, sim } = await setup(store);
    const shimOnly = (await fleet.store.listGuests()).find((g) => !sim.state.guests[g.name]!.kernel.pvh && JSON.parse(g.verdict!).pv.capable)!;
    const get = async () => (await app.inject({ method: 'GET', url: `/v1/guests/${shimOnly.id}`, headers: auth(operator) })).json();
    assert.equal((await get()).canBecome, 'pvh-shim');
    sim.state.guests[shimOnly.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    const op = (await app.inject({ method: 'POST', url: `/v1/guests/${shimOnly.id}/switch`, headers: auth(operator), payload: { to: 'pvh-shim' } })).json();
    await app.inject({ method: 'GET', url: `/v1/operations/${op.id}/events`, headers: auth(operator) });
    assert.equal((await fleet.store.getOperation(op.id))!.status, 'rolled-back');
    const after = await get();
    assert.equal(after.canBecome, 'did-not-boot');
    assert.deepEqual(after.didNotBoot, ['pvh-shim']);
    const listed = (await app.inject({ method: 'GET', url: '/v1/guests', headers: auth(operator) })).json() as { id: number; canBecome: string }[];
    assert.equal(listed.find((g) => g.id === shimOnly.id)!.canBecome, 'did-not-boot');
    await app.close();
    await fleet.close();
  });

  test(`the API keeps the whole inspection verdict and the next step it names (${store.kind})`, async () => {
    const { fleet, app, operator } = await setup(store);
    const [g] = await fleet.store.listGuests();
    const inspection = { verdict: 'needs-kernel', install: 'linux-image-686-pae', reasons: ['no installed kernel has the PVH entry point: install linux-image-686-pae'] } satisfies Verdict;
    await fleet.store.updateGuest(g!.id, { verdict: encodeVerdict({ ...decodeVerdict(g!.verdict)!, pv: { capable: false, abi: null, reason: 'no PV entry point' }, pvh: { capable: false, reason: 'no PHYS32_ENTRY note' }, source: 'disk', inspection }) });
    const got = (await app.inject({ method: 'GET', url: `/v1/guests/${g!.id}`, headers: auth(operator) })).json();
    assert.deepEqual(got.verdict.inspection, inspection);
    assert.equal(got.canBecome, 'none');
    assert.deepEqual(got.next, { kind: 'install-kernel', install: 'linux-image-686-pae' });
    await app.close();
    await fleet.close();
  });

  test(`metrics are cheap: scrapes arriving together, and within the interval, share one reading of the store (${store.kind})`, async () => {
    const { fleet, app, operator } = await setup(store);
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

  test(`customers get words, not dom0 paths and ELF notes; every check says the downtime to expect, measured on the host (${store.kind})`, async () => {
    const { fleet, app, operator, customer, owner, sim, guests } = await setup(store);
    const mine = await fleet.store.listGuests({ owner });
    const check = async (t: string, id: number, to = 'pvh') => (await app.inject({ method: 'POST', url: `/v1/guests/${id}/check`, headers: auth(t), payload: { to } })).json();
    const capable = mine.find((g) => sim.state.guests[g.name]!.kernel.pvh);
    if (capable !== undefined) {
      const c = await check(customer, capable.id);
      assert.equal(c.allowed, true);
      assert.equal(c.diff, null);
      assert.doesNotMatch(JSON.stringify(c), /\/etc\/xen|\/var\/lib|\/usr\/lib|PHYS32|builder/);
      assert.deepEqual([c.downtime.basis, c.downtime.seconds], ['default', 120]);
      assert.match((await check(operator, capable.id)).diff, /\+type = "pvh"/);
    }
    // an operator's PV-only guest refused for PVH: the operator sees the ELF note, a customer would not
    const pvOnly = guests.find((g) => !sim.state.guests[g.name]!.kernel.pvh)!;
    await fleet.store.updateGuest(pvOnly.id, { owner });
    assert.match((await check(operator, pvOnly.id)).reason, /PHYS32_ENTRY/);
    const refused = await check(customer, pvOnly.id);
    assert.equal(refused.allowed, false);
    assert.doesNotMatch(refused.reason, /PHYS32|ELF|CONFIG_/);
    assert.match(refused.reason, /built without PVH support/);
    // after two measured switches on this host, the estimate comes from them
    for (const g of guests.filter((x) => sim.state.guests[x.name]!.kernel.pvh).slice(0, 2)) {
      const op = (await app.inject({ method: 'POST', url: `/v1/guests/${g.id}/switch`, headers: auth(operator), payload: { to: 'pvh' } })).json();
      await app.inject({ method: 'GET', url: `/v1/operations/${op.id}/events`, headers: auth(operator) });
    }
    const next = guests.find((x) => sim.state.guests[x.name]!.kernel.pvh && x.current_type === 'pv' && !guests.filter((y) => sim.state.guests[y.name]!.kernel.pvh).slice(0, 2).includes(x));
    if (next !== undefined) {
      const d = (await check(operator, next.id)).downtime;
      assert.equal(d.basis, 'measured');
      assert.equal(d.switches, 2);
      assert.match(d.words, /^about \d+ seconds \(measured on the last 2 switches on this host\)$/);
    }
    await app.close();
    await fleet.close();
  });

  test(`a customer's view of an operation has the outcome in words and no operator detail (owner, requested_by, detail) (${store.kind})`, async () => {
    const { fleet, app, operator, customer, owner } = await setup(store);
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

  test(`populate-on-demand: check and switch take the operator's "pod" choice alike (the diff shows maxmem = memory); a customer's is ignored by both (${store.kind})`, async () => {
    const { fleet, app, operator, customer, owner, sim, guests } = await setup(store);
    const [g, h] = guests.filter((x) => sim.state.guests[x.name]!.kernel.pvh);
    for (const x of [g!, h!]) {
      await fleet.store.updateGuest(x.id, { owner });
      const text = Buffer.from(sim.state.files[x.config_path]!, 'base64').toString('utf8').replace(/^memory = 1024$/m, 'memory = 1024\nmaxmem = 4096');
      sim.state.files[x.config_path] = Buffer.from(text).toString('base64');
    }
    const check = async (t: string, id: number, pod?: string) => (await app.inject({ method: 'POST', url: `/v1/guests/${id}/check`, headers: auth(t), payload: { to: 'pvh', ...(pod === undefined ? {} : { pod }) } })).json();
    // Refused with the PoD code either way; the customer's params carry only the memory sizes.
    const refused = await check(operator, g!.id);
    assert.deepEqual([refused.allowed, refused.code, refused.params], [false, 'pod', { to: 'pvh', memory: 1024, maxmem: 4096 }]);
    const theirs = await check(customer, g!.id, 'maxmem-equals-memory');
    assert.deepEqual([theirs.allowed, theirs.code, theirs.params], [false, 'pod', { to: 'pvh', memory: 1024, maxmem: 4096 }]);
    assert.match(theirs.reason, /^The server starts with 1024 MB of memory but may grow to 4096 MB/);
    // The operator's choice: the preview shows what it changes.
    const equal = await check(operator, g!.id, 'maxmem-equals-memory');
    assert.equal(equal.allowed, true, equal.reason);
    assert.match(equal.diff, /^-maxmem = 4096\n\+maxmem = 1024$/m);
    const accepted = await check(operator, g!.id, 'accept');
    assert.equal(accepted.allowed, true, accepted.reason);
    assert.doesNotMatch(accepted.diff, /^[-+]maxmem/m);
    assert.ok(accepted.changes.some((c: string) => /populate-on-demand.*\(accepted\)/.test(c)), accepted.changes.join('\n'));
    assert.equal((await app.inject({ method: 'POST', url: `/v1/guests/${g!.id}/check`, headers: auth(operator), payload: { to: 'pvh', pod: 'sometimes' } })).statusCode, 400);
    // The switch treats the customer's choice as the check does: ignored, so refused at its pre-check.
    const run = async (t: string, id: number, pod: string) => {
      const op = (await app.inject({ method: 'POST', url: `/v1/guests/${id}/switch`, headers: auth(t), payload: { to: 'pvh', pod } })).json();
      await app.inject({ method: 'GET', url: `/v1/operations/${op.id}/events`, headers: auth(operator) });
      return (await fleet.store.getOperation(op.id))!;
    };
    const customers = await run(customer, h!.id, 'accept');
    assert.deepEqual([customers.status, customers.reason_code, customers.pod], ['refused', 'pod', null]);
    const done = await run(operator, g!.id, 'maxmem-equals-memory');
    assert.deepEqual([done.status, done.pod], ['done', 'maxmem-equals-memory']);
    assert.match(Buffer.from(sim.state.files[g!.config_path]!, 'base64').toString('utf8'), /^maxmem = 1024$/m);
    await app.close();
    await fleet.close();
  });

  test(`a refusal comes with its code and params beside the words, in the reader's voice; a stored one is worded again; an old row's prose still reads (${store.kind})`, async () => {
    const { fleet, app, operator, customer, owner, sim, guests } = await setup(store);
    const pvOnly = guests.find((g) => !sim.state.guests[g.name]!.kernel.pvh)!;
    await fleet.store.updateGuest(pvOnly.id, { owner });
    const check = async (t: string) => (await app.inject({ method: 'POST', url: `/v1/guests/${pvOnly.id}/check`, headers: auth(t), payload: { to: 'pvh' } })).json();
    const c = await check(customer);
    assert.deepEqual([c.allowed, c.code, c.params], [false, 'kernel-no-pvh', {}]);
    const o = await check(operator);
    assert.equal(o.code, 'kernel-no-pvh');
    assert.match(o.params.detail, /PHYS32_ENTRY/);
    assert.match(o.reason, /^kernel-no-pvh: the kernel cannot boot as PVH: /);
    // The operator's switch is refused at its pre-check: the row keeps the code and its params.
    const started = (await app.inject({ method: 'POST', url: `/v1/guests/${pvOnly.id}/switch`, headers: auth(operator), payload: { to: 'pvh' } })).json();
    await app.inject({ method: 'GET', url: `/v1/operations/${started.id}/events`, headers: auth(operator) });
    const row = (await fleet.store.getOperation(started.id))!;
    assert.deepEqual([row.status, row.reason_code, JSON.parse(row.reason_params!).detail], ['refused', 'kernel-no-pvh', o.params.detail]);
    const theirs = (await app.inject({ method: 'GET', url: `/v1/operations/${started.id}`, headers: auth(customer) })).json();
    assert.deepEqual([theirs.reason_code, theirs.reason_params, theirs.reason], ['kernel-no-pvh', {}, c.reason]);
    const full = (await app.inject({ method: 'GET', url: `/v1/operations/${started.id}`, headers: auth(operator) })).json();
    assert.deepEqual([full.reason_code, full.reason_params.detail], ['kernel-no-pvh', o.params.detail]);
    const list = (await app.inject({ method: 'GET', url: `/v1/guests/${pvOnly.id}/operations`, headers: auth(customer) })).json();
    assert.deepEqual([list[0].reason_code, list[0].reason_params, list[0].reason], ['kernel-no-pvh', {}, c.reason]);
    assert.doesNotMatch(JSON.stringify(list), /PHYS32|ELF/);
    // A row from before codes: its prose is what everyone reads.
    await fleet.store.updateOperation(started.id, { reason: 'Old words.', reason_code: null, reason_params: null });
    const old = (await app.inject({ method: 'GET', url: `/v1/operations/${started.id}`, headers: auth(customer) })).json();
    assert.deepEqual([old.reason, old.reason_code, old.reason_params], ['Old words.', null, null]);
    // A second request while one runs: 409 with the code, in the reader's words.
    const other = guests.find((g) => g.id !== pvOnly.id)!;
    await fleet.store.updateGuest(other.id, { owner });
    await fleet.store.createOperationIfIdle({ guest_id: other.id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 'test' }, async () => {}, 'queued');
    const busy = await app.inject({ method: 'POST', url: `/v1/guests/${other.id}/switch`, headers: auth(customer), payload: { to: 'pvh' } });
    assert.equal(busy.statusCode, 409);
    assert.deepEqual(busy.json(), { error: 'Another change to this server is in progress.', code: 'busy', params: {} });
    await app.close();
    await fleet.close();
  });
}
