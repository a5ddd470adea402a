/**
 * The web UI in a real browser: Debian's Chromium driven by playwright-core against a live
 * `buildServer` on 127.0.0.1, backed by the real fleet on simulated hosts. Screenshots of the main
 * pages go to artifacts/web/ (gitignored).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { ARTIFACTS, signIn as signInAt, startUi, type UiUnderTest } from '../../test/support/chromium.ts';
import { eventBus } from '../fleet/events.ts';
import { openFleet, type Fleet } from '../fleet/fleet.ts';
import { startSwitch } from '../fleet/switch.ts';
import { startRehearsal } from '../fleet/rehearse.ts';
import { rehearsals, type Rehearsal } from '../store/rehearsals.ts';
import type { Guest } from '../store/schema.ts';
import type { SimHost } from '../drivers/sim/world.ts';
import { simOf as simBehind } from '../drivers/sim/driver.ts';
import { STORES } from '../../test/support/stores.ts';

let dir: string; // one per store
let started: number; // when this store's run began
let fleet: Fleet;
let ui: UiUnderTest;
let base: string;
let browser: BrowserContext;
const tokens: Record<'operator' | 'alice' | 'bob', string> = { operator: '', alice: '', bob: '' };
let aliceGuest: Guest; // PVH-capable, switched by alice in the browser
let alicePvOnly: Guest; // its verdict says PVH, its kernel cannot: the switch rolls back
let aliceOld: Guest; // on a host without hvm: PVH refused
let bobGuest: Guest;
const sims: SimHost[] = [];

async function addSimHost(name: string, spec: Record<string, unknown>) {
  const host = await fleet.store.addHost({
    name, transport: 'sim', endpoint: JSON.stringify(spec), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 3,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  const r = await fleet.scan(host);
  assert.deepEqual(r.errors, []);
  sims.push(simBehind(fleet.hosts.driverFor(host))!);
  return host;
}
const simOf = (g: Guest) => sims.find((s) => s.state.guests[g.name])!;

for (const store of STORES) describe(`the web UI on ${store.kind}`, () => {
  before(async () => {
    started = Date.now();
    dir = mkdtempSync(join(tmpdir(), 'pvhctl-web-'));
    sims.length = 0; // the other store's hosts have the same guest names
    const bus = eventBus();
    fleet = await openFleet({ dataDir: dir, store: store.kind === 'sqlite' ? undefined : await store.location(), onEvent: (e) => bus.emit(e), verify: { bootTimeoutMs: 5000, pollMs: 20 }, shutdownTimeoutMs: 3000 });
    // A fleet with some history: three hosts, one with 32-bit PV still on, one without hvm.
    await addSimHost('xen-lon-01', { guests: 40, seed: 21, pv32: true, pvOnly: 0.15, bootMs: 300, shutdownMs: 200 });
    await addSimHost('xen-lon-02', { guests: 30, seed: 22, pvOnly: 0.1, bootMs: 5, shutdownMs: 5 });
    await addSimHost('xen-old-03', { guests: 12, seed: 23, noHvm: true, bootMs: 5, shutdownMs: 5 });
    const guests = await fleet.store.listGuests();
    const capable = (g: Guest) => simOf(g).state.guests[g.name]!.kernel.pvh && simOf(g).state.guests[g.name]!.kernel.arch === 'x86_64';
    const lon1 = (await fleet.store.getHost('xen-lon-01'))!;
    const lon2 = (await fleet.store.getHost('xen-lon-02'))!;
    aliceGuest = guests.find((g) => g.host_id === lon1.id && capable(g))!;
    alicePvOnly = guests.find((g) => g.host_id === lon1.id && !simOf(g).state.guests[g.name]!.kernel.pvh)!;
    bobGuest = guests.find((g) => g.host_id === lon1.id && capable(g) && g.id !== aliceGuest.id)!;
    await fleet.store.updateGuest(aliceGuest.id, { owner: 'alice' });
    await fleet.store.updateGuest(alicePvOnly.id, { owner: 'alice' });
    const old3 = (await fleet.store.getHost('xen-old-03'))!;
    aliceOld = guests.find((g) => g.host_id === old3.id)!;
    await fleet.store.updateGuest(aliceOld.id, { owner: 'alice' });
    // A verdict gone stale (the kernel was swapped since the scan): only the boot can tell.
    const swapped = JSON.parse(alicePvOnly.verdict!);
    swapped.pvh = { capable: true, reason: 'stale verdict' };
    await fleet.store.updateGuest(alicePvOnly.id, { verdict: JSON.stringify(swapped) });
    await fleet.store.updateGuest(bobGuest.id, { owner: 'bob' });
    // History: most of xen-lon-02 moved to PVH; one stale verdict rolled back; one needs attention.
    const lon2Guests = guests.filter((g) => g.host_id === lon2.id);
    const movable = lon2Guests.filter(capable).slice(0, 18);
    await Promise.all(movable.map(async (g) => {
      const r = await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'operator' });
      if (r.kind === 'started') await r.finished;
    }));
    const stale = lon2Guests.find((g) => !simOf(g).state.guests[g.name]!.kernel.pvh);
    if (stale) {
      const v = JSON.parse(stale.verdict!);
      v.pvh = { capable: true, reason: 'stale verdict' };
      await fleet.store.updateGuest(stale.id, { verdict: JSON.stringify(v) });
      const r = await startSwitch(fleet.ctx, (await fleet.store.getGuestById(stale.id))!, 'pvh', { force: false, actor: 'operator' });
      if (r.kind === 'started') await r.finished;
    }
    const doomed = lon2Guests.filter(capable).find((g) => !movable.includes(g))!;
    simOf(doomed).state.guests[doomed.name]!.faults.push({ kind: 'panic', count: 2 });
    const r = await startSwitch(fleet.ctx, doomed, 'pvh', { force: false, actor: 'operator' });
    assert.equal(r.kind, 'started');
    if (r.kind === 'started') assert.equal((await r.finished).status, 'needs-attention');
    // A guest-controlled-looking string where the UI shows text: it must stay text.
    await fleet.store.updateGuest(doomed.id, { attention: '<img src=x onerror="document.title=\'owned\'">The server could not be brought back' });

    tokens.operator = await fleet.store.addToken('operator', null);
    tokens.alice = await fleet.store.addToken('customer', 'alice');
    tokens.bob = await fleet.store.addToken('customer', 'bob');
    ui = await startUi(fleet, bus);
    base = ui.base;
    browser = ui.browser;
  });

  after(async () => {
    await ui?.close();
    await fleet?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const signIn = (who: keyof typeof tokens): Promise<Page> => signInAt(browser, base, tokens[who]);
  const shot = (page: Page, name: string) => ui.shot(page, name);

  test('the page is served with a strict content security policy; assets need no token, data does', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal((await fetch(`${base}/ui/app.js`)).status, 200);
    for (const path of ['/ui/..%2f..%2fpackage.json', '/ui/%2e%2e/api/server.ts', '/ui/app.js%00.css']) {
      const r = await fetch(`${base}${path}`);
      assert.ok(r.status === 401 || r.status === 404, `${path}: ${r.status}`);
    }
    assert.equal((await fetch(`${base}/ui/nothing.js`)).status, 404);
    assert.equal((await fetch(`${base}/v1/summary`)).status, 401);
    assert.equal((await fetch(`${base}/v1/guests`)).status, 401);
  });

  test('a wrong token is refused at sign-in', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/`);
    await shot(page, '0-sign-in');
    await page.fill('#token', 'pvh_not-a-real-token');
    await page.click('button[type=submit]');
    await page.waitForSelector('text=That token was not accepted.');
    // a revoked and an expired token: refused, and the page says which
    const revoked = await fleet.store.addToken('customer', 'alice');
    const id = (await fleet.store.listTokens()).at(-1)!.id;
    assert.ok(await fleet.store.revokeToken(id));
    const expired = await fleet.store.addToken('operator', null, new Date(Date.now() - 1000).toISOString());
    for (const [t, why] of [[revoked, 'This token was revoked'], [expired, 'This token expired']] as const) {
      await page.fill('#token', t);
      await page.click('button[type=submit]');
      await page.waitForSelector(`text=${why}`);
    }
    await page.close();
  });

  test('operator: the fleet at a glance, hosts, guests, and a guest page with the config diff', async () => {
    const page = await signIn('operator');
    await page.waitForSelector('text=Fleet overview');
    await page.waitForSelector('.donut');
    const total = (await fleet.store.listGuests()).length;
    assert.equal(await page.textContent('.tiles .tile:first-child .n'), String(total));
    assert.ok((await page.locator('.matrix td.heat').count()) >= 4);
    assert.equal(await page.locator('.hosts-progress tr').count(), 3);
    await page.waitForSelector('text=32-bit guests and their path');
    assert.ok((await page.locator('.path').count()) >= 1, 'the 32-bit guests of xen-lon-01 are listed with a path');
    // the needs-attention guest shows, and its hostile text stayed text
    await page.waitForSelector('ul.events li.att');
    assert.match((await page.textContent('ul.events li.att')) ?? '', /<img src=x onerror=/);
    assert.notEqual(await page.title(), 'owned');
    await shot(page, '1-operator-overview');

    await page.click('nav a[href="#/hosts"]');
    await page.waitForSelector('table.hosts');
    assert.match((await page.textContent('table.hosts')) ?? '', /xen-3\.0-x86_32p/);
    await page.click('[data-scan=xen-old-03]');
    await page.waitForSelector('text=12 guests, 0 new');
    await shot(page, '2-operator-hosts');

    await page.click('nav a[href="#/guests"]');
    await page.waitForSelector('table.list tbody tr');
    const states = await page.locator('table.list tbody td.state').allTextContents();
    // unknown ('?') only where a rollback failed and nobody has looked since
    const attention = (await fleet.store.listGuests({ health: 'needs-attention' })).length;
    assert.ok(states.length > 0 && states.filter((s) => s !== 'running' && s !== 'stopped').every((s) => s === '?'), [...new Set(states)].join(','));
    assert.ok(states.filter((s) => s === '?').length <= attention, `run state shown: ${[...new Set(states)].join(',')}`);
    await page.fill('input[type=search]', aliceGuest.name);
    await page.waitForFunction("document.querySelectorAll('table.list tbody tr').length === 1");
    await page.fill('input[type=search]', '');
    await shot(page, '3-operator-guests');

    await page.goto(`${base}/#/guest/${bobGuest.id}`);
    await page.waitForSelector('text=Inspection report');
    await page.click('[data-action=check-pvh]');
    await page.waitForSelector('pre.diff');
    assert.match((await page.textContent('pre.diff')) ?? '', /\+type = "pvh"/);
    await shot(page, '4-operator-guest-preview');
    await page.close();
  });

  test('customer: sees only their servers, switches one to PVH and watches it finish', async () => {
    const page = await signIn('alice');
    await page.waitForSelector('text=My servers');
    const names = await page.locator('.server h2').allTextContents();
    assert.deepEqual(names.sort(), [aliceGuest.name, alicePvOnly.name, aliceOld.name].sort());
    assert.equal(await page.locator('nav a[href="#/hosts"]').count(), 0, 'no operator pages');
    await shot(page, '5-customer-home');

    // a host without hvm: PVH is refused before anything happens, in plain words
    await page.click(`.server[data-guest="${aliceOld.name}"]`);
    await page.click('[data-action=check-pvh]');
    await page.waitForSelector('.refusal');
    assert.match((await page.textContent('.refusal')) ?? '', /not possible/);
    assert.equal(simOf(aliceOld).state.domains[aliceOld.name]!.type, 'pv');
    await page.goBack();

    await page.click(`.server[data-guest="${aliceGuest.name}"]`);
    await page.waitForSelector('text=What this server can run as');
    await page.click('[data-action=check-pvh]');
    await page.waitForSelector('.ok-box');
    // customer words: no dom0 paths, xl keys or ELF notes on a customer's page
    const words = (await page.textContent('main')) ?? '';
    assert.doesNotMatch(words, /\/var\/lib|\/etc\/xen|\/usr\/lib|PHYS32|ELF|xen-3\.0|builder|vfb/, words);
    assert.equal(await page.locator('pre.diff').count(), 0, 'no settings file diff for customers');
    // the switch restarts the server: it asks first, and says how long it will be down
    await page.click('[data-action=switch-pvh]');
    await page.waitForSelector('[data-action=confirm-switch]');
    assert.match((await page.textContent('.confirm')) ?? '', /Restart .* in PVH mode now\? It will be down for (about \d+ seconds \(measured on the last \d+ switch(es)? on this host\)|usually under)/);
    assert.equal(simOf(aliceGuest).state.domains[aliceGuest.name]!.type, 'pv', 'nothing happened before the confirmation');
    await page.click('[data-action=confirm-switch]');
    // live progress: the steps appear while the switch runs (boots take 300 ms on this host)
    await page.waitForSelector('ol.steps li[data-step=shutdown]');
    await page.waitForSelector('ol.steps li[data-step=verify]');
    await page.waitForSelector('.status[data-status=done]', { timeout: 60_000 });
    assert.match((await page.textContent('.status')) ?? '', /now runs in PVH mode/);
    for (const step of ['pre-check', 'keep-config', 'shutdown', 'write-config', 'create', 'verify']) {
      assert.equal(await page.getAttribute(`ol.steps li[data-step=${step}]`, 'class'), 'done', step);
    }
    await page.waitForSelector('.guest-head .pill.t-pvh');
    await shot(page, '6-customer-switched');
    assert.equal((await fleet.store.getGuestById(aliceGuest.id))!.current_type, 'pvh');
    assert.equal(simOf(aliceGuest).state.domains[aliceGuest.name]!.type, 'pvh');
    await page.close();
  });

  test('customer: a switch that fails is rolled back, and the page says so in plain words', async () => {
    const page = await signIn('alice');
    const before = Buffer.from(simOf(alicePvOnly).state.files[alicePvOnly.config_path]!, 'base64');
    await page.click(`.server[data-guest="${alicePvOnly.name}"]`);
    await page.click('[data-action=check-pvh]');
    await page.waitForSelector('[data-action=switch-pvh]');
    await page.click('[data-action=switch-pvh]');
    await page.click('[data-action=confirm-switch]');
    await page.waitForSelector('ol.steps li[data-step=rollback-restore]', { timeout: 60_000 });
    await page.waitForSelector('.status[data-status=rolled-back]', { timeout: 60_000 });
    const text = (await page.textContent('.status')) ?? '';
    assert.match(text, /The switch to PVH did not work/);
    assert.match(text, /restarted in PV mode with its settings unchanged/);
    assert.doesNotMatch(text, /xl |ELF|PHYS32|domid/, 'no operator detail for customers');
    await page.waitForSelector('td .st.s-rolled-back');
    await shot(page, '8-customer-rolled-back');
    assert.equal(simOf(alicePvOnly).state.domains[alicePvOnly.name]!.type, 'pv');
    assert.deepEqual(Buffer.from(simOf(alicePvOnly).state.files[alicePvOnly.config_path]!, 'base64'), before, 'config byte-identical');
    await page.close();
  });

  test("customer: another customer's server can be neither seen nor acted on, in the UI or the API", async () => {
    const page = await signIn('alice');
    await page.goto(`${base}/#/guest/${bobGuest.id}`);
    await page.waitForSelector('text=Not found (or not yours).');
    assert.doesNotMatch((await page.textContent('main')) ?? '', new RegExp(bobGuest.name));
    await shot(page, '7-customer-not-yours');
    const before = simOf(bobGuest).state.domains[bobGuest.name]!.domid;
    const status = await page.evaluate(
      async ({ id, token }) => {
        const call = async (path: string, method = 'GET', body?: unknown) =>
          (await fetch(path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })).status;
        return {
          get: await call(`/v1/guests/${id}`),
          ops: await call(`/v1/guests/${id}/operations`),
          check: await call(`/v1/guests/${id}/check`, 'POST', { to: 'pvh' }),
          switch: await call(`/v1/guests/${id}/switch`, 'POST', { to: 'pvh' }),
          rollback: await call(`/v1/guests/${id}/rollback`, 'POST'),
          summary: await call('/v1/summary'),
          hosts: await call('/v1/hosts'),
          list: await (await fetch('/v1/guests', { headers: { authorization: `Bearer ${token}` } })).json(),
        };
      },
      { id: bobGuest.id, token: tokens.alice },
    );
    assert.deepEqual({ ...status, list: undefined }, { get: 404, ops: 404, check: 404, switch: 404, rollback: 404, summary: 403, hosts: 403, list: undefined });
    assert.ok((status.list as { owner: string }[]).every((g) => g.owner === 'alice'));
    assert.equal(simOf(bobGuest).state.domains[bobGuest.name]!.domid, before, "bob's server was not touched");
    assert.equal((await fleet.store.getGuestById(bobGuest.id))!.current_type, 'pv');
    // and bob sees only his
    const bob = await signIn('bob');
    await bob.waitForSelector('.server h2');
    assert.deepEqual(await bob.locator('.server h2').allTextContents(), [bobGuest.name]);
    await bob.close();
    await page.close();
  });

  test('a test boot from the guest page: the customer reads that it came up, the operator reads the detail; guest text stays text', async () => {
    const sim = simOf(bobGuest);
    const domid = sim.state.domains[bobGuest.name]!.domid;
    const bob = await signIn('bob');
    await bob.goto(`${base}/#/guest/${bobGuest.id}`);
    await bob.waitForSelector('[data-rehearsal=none]');
    await bob.click('[data-action=rehearse]');
    await bob.waitForSelector('[data-rehearsal=passed]', { timeout: 60_000 });
    assert.match((await bob.textContent('.rehearsals .rehearsal-message')) ?? '', /^Your server was test-booted in PVH mode on a copy of its disk on \d{4}-\d\d-\d\d: it came up\. Your server itself was not touched\.$/);
    assert.equal(await bob.locator('.rehearsals dl, .rehearsals pre').count(), 0, 'no operator detail for customers');
    await shot(bob, '9-customer-test-boot');
    assert.equal(sim.state.domains[bobGuest.name]!.domid, domid, 'the server kept running');
    assert.equal(sim.state.domains[bobGuest.name]!.type, 'pv');
    await bob.close();

    // A failed test boot (the kernel panics as PVH), its console holding guest text that looks like markup.
    sim.state.guests[bobGuest.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    const r = await startRehearsal(fleet.ctx, bobGuest, { actor: 'operator' });
    assert.equal(r.kind, 'started');
    const failed = await (r as { finished: Promise<Rehearsal> }).finished;
    assert.equal(failed.status, 'failed');
    await rehearsals(fleet.store).update(failed.id, { console_tail: `${failed.console_tail}\n<img src=x onerror="document.title='owned'">` });
    const op = await signIn('operator');
    await op.goto(`${base}/#/guest/${bobGuest.id}`);
    await op.waitForSelector('[data-rehearsal=failed]');
    const text = (await op.textContent('.rehearsals')) ?? '';
    assert.match(text, /it did not come up \(/);
    assert.match(text, /failed at verify/);
    assert.match(text, /6\.1\.0-26-amd64/);
    await op.click('.rehearsals details summary');
    assert.match((await op.textContent('.rehearsals pre.console')) ?? '', /Kernel panic - not syncing[\s\S]*<img src=x onerror=/);
    assert.equal(await op.locator('.rehearsals img').count(), 0, 'console text is text');
    assert.notEqual(await op.title(), 'owned');
    await shot(op, '10-operator-test-boot-failed');
    assert.equal(sim.state.domains[bobGuest.name]!.domid, domid, 'the server kept running');
    await op.close();
  });

  test('populate-on-demand (memory < maxmem): the operator is offered maxmem = memory or accepting PoD, sees the preview of each and switches with the choice; the customer reads only why', async () => {
    const taken = [aliceGuest.id, alicePvOnly.id, bobGuest.id];
    const lon1 = (await fleet.store.getHost('xen-lon-01'))!;
    const g = (await fleet.store.listGuests()).find((x) => x.host_id === lon1.id && x.current_type === 'pv' && !taken.includes(x.id) && simOf(x).state.guests[x.name]!.kernel.pvh && simOf(x).state.guests[x.name]!.kernel.arch === 'x86_64')!;
    const sim = simOf(g);
    const config = () => Buffer.from(sim.state.files[g.config_path]!, 'base64').toString('utf8');
    sim.state.files[g.config_path] = Buffer.from(config().replace(/^memory = 1024$/m, 'memory = 1024\nmaxmem = 4096')).toString('base64');
    await fleet.store.updateGuest(g.id, { owner: 'carol' });

    const carol = await signInAt(browser, base, await fleet.store.addToken('customer', 'carol'));
    await carol.goto(`${base}/#/guest/${g.id}`);
    await carol.click('[data-action=check-pvh]');
    await carol.waitForSelector('.refusal');
    assert.match((await carol.textContent('.refusal')) ?? '', /starts with 1024 MB of memory but may grow to 4096 MB/);
    assert.equal(await carol.locator('.refusal button').count(), 0, 'the choice is the operator\'s');
    await carol.close();

    const page = await signIn('operator');
    await page.goto(`${base}/#/guest/${g.id}`);
    await page.click('[data-action=check-pvh]');
    await page.waitForSelector('[data-action=pod-accept]');
    assert.match((await page.textContent('.refusal')) ?? '', /^PVH: not possible\. pod: memory \(1024 MB\) is below maxmem \(4096 MB\)/);
    assert.equal(await page.textContent('[data-action=pod-maxmem-equals-memory]'), 'Set maxmem to memory (1024 MB) and check again');
    await page.click('[data-action=pod-accept]');
    await page.waitForSelector('.ok-box');
    assert.match((await page.textContent('.ok-box')) ?? '', /populate-on-demand.*\(accepted\)/);
    assert.doesNotMatch((await page.textContent('pre.diff')) ?? '', /^[-+]maxmem/m);
    // Checking again without a choice refuses again: the choice holds for one preview only.
    await page.click('[data-action=check-pvh]');
    await page.click('[data-action=pod-maxmem-equals-memory]');
    await page.waitForSelector('pre.diff');
    const diff = (await page.textContent('pre.diff')) ?? '';
    assert.match(diff, /^-maxmem = 4096$/m);
    assert.match(diff, /^\+maxmem = 1024$/m);
    await page.click('[data-action=switch-pvh]');
    assert.match((await page.textContent('.confirm')) ?? '', /with maxmem set to memory \(1024 MB\)/);
    await shot(page, '11-operator-pod-choice');
    await page.click('[data-action=confirm-switch]');
    await page.waitForSelector('.status[data-status=done]', { timeout: 60_000 });
    const op = (await fleet.store.listOperations({ guestId: g.id, limit: 1 }))[0]!;
    assert.deepEqual([op.status, op.pod], ['done', 'maxmem-equals-memory']);
    assert.match(config(), /^maxmem = 1024$/m);
    assert.equal(sim.state.domains[g.name]!.type, 'pvh');
    await page.close();
  });

  test('screenshots were written', () => {
    // by this store's run: the other store's run writes the same names
    for (const n of ['0-sign-in', '1-operator-overview', '2-operator-hosts', '3-operator-guests', '4-operator-guest-preview', '5-customer-home', '6-customer-switched', '7-customer-not-yours', '8-customer-rolled-back', '9-customer-test-boot', '10-operator-test-boot-failed', '11-operator-pod-choice']) {
      const png = join(ARTIFACTS, `${n}.png`);
      assert.ok(existsSync(png) && statSync(png).mtimeMs >= started, n);
    }
  });
});
