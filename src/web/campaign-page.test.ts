/**
 * The operators' campaign page in a real browser (Debian's Chromium through playwright-core, as
 * web.test.ts does) against a live `buildServer` on simulated hosts with a few weeks of history:
 * switches spread over past weeks, one that rolled back, one that needs attention. The charts'
 * counts are read from the DOM and checked against the history the test made; a paused campaign's
 * card shows its state, its reason, its guests by where they are and its next slot. Screenshots go to
 * artifacts/web/ (gitignored).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ARTIFACTS, signIn as signInAt, startUi, type UiUnderTest } from '../../test/support/chromium.ts';
import { eventBus } from '../fleet/events.ts';
import { openFleet, type Fleet } from '../fleet/fleet.ts';
import { weekStart } from '../fleet/overview.ts';
import { createCampaign, pauseCampaign, showCampaign, startCampaign } from '../fleet/campaign.ts';
import { realClock } from '../fleet/campaign-rules.ts';
import { startSwitch } from '../fleet/switch.ts';
import type { Guest } from '../store/schema.ts';
import type { SimHost } from '../drivers/sim/world.ts';
import { simOf as simBehind } from '../drivers/sim/driver.ts';
import { STORES } from '../../test/support/stores.ts';

const WEEK = 7 * 86_400_000;
let dir: string; // one per store
let fleet: Fleet;
let ui: UiUnderTest;
let operator = '';
let customer = '';
const sims: SimHost[] = [];
/** Switches off PV per week, oldest of the 12 weeks first, as the test made them. */
const offPv = new Array<number>(12).fill(0);
let rolledBack: Guest;
let attention: Guest;

async function addSimHost(name: string, spec: Record<string, unknown>, role: 'pv-pvh' | 'hvm-dedicated' = 'pv-pvh') {
  const host = await fleet.store.addHost({
    name, transport: 'sim', endpoint: JSON.stringify(spec), key_path: null, config_dir: '/etc/xen', role, max_parallel: 3,
    xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  assert.deepEqual((await fleet.scan(host)).errors, []);
  sims.push(simBehind(fleet.hosts.driverFor(host))!);
}
const kernelOf = (g: Guest) => sims.find((s) => s.state.guests[g.name])!.state.guests[g.name]!;

/** Switches a guest to PVH and waits for the end; returns the operation's final status. */
async function switchToPvh(g: Guest): Promise<string> {
  const r = await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'operator' });
  assert.equal(r.kind, 'started');
  return r.kind === 'started' ? (await r.finished).status : 'refused';
}

for (const store of STORES) describe(`the campaign page on ${store.kind}`, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvhctl-campaign-web-'));
    sims.length = 0; // the other store's hosts have the same guest names
    offPv.fill(0);
    const bus = eventBus();
    fleet = await openFleet({ dataDir: dir, store: store.kind === 'sqlite' ? undefined : await store.location(), onEvent: (e) => bus.emit(e), verify: { bootTimeoutMs: 5000, pollMs: 20 }, shutdownTimeoutMs: 3000 });
    await addSimHost('xen-fra-01', { guests: 36, seed: 31, pv32: true, pvOnly: 0.15, bootMs: 5, shutdownMs: 5 });
    await addSimHost('xen-fra-02', { guests: 24, seed: 32, pvOnly: 0.1, bootMs: 5, shutdownMs: 5 });
    await addSimHost('xen-hvm-01', { guests: 4, seed: 33, bootMs: 5, shutdownMs: 5 }, 'hvm-dedicated');
    // Two 32-bit PV guests on xen-fra-01: one with a PVH-capable kernel, one PV-only (the shim's).
    const fra1 = (await fleet.store.getHost('xen-fra-01'))!;
    const [a32, b32] = await fleet.store.listGuests({ hostId: fra1.id });
    kernelOf(a32!).kernel = { ...kernelOf(a32!).kernel, pv: true, pvh: true, arch: 'x86_32p' };
    kernelOf(b32!).kernel = { ...kernelOf(b32!).kernel, pv: true, pvh: false, arch: 'x86_32p' };
    assert.deepEqual((await fleet.scan(fra1)).errors, []);
    const guests = await fleet.store.listGuests();
    const capable = guests.filter((g) => kernelOf(g).kernel.pvh && kernelOf(g).kernel.arch === 'x86_64');
    // History: 3, 5, 4, 6 switches in the last four weeks (the last is this week), each dated back in the journal.
    const plan = [3, 5, 4, 6];
    const thisWeek = weekStart(Date.now());
    let k = 0;
    for (const [i, n] of plan.entries()) {
      const week = 12 - plan.length + i;
      for (let j = 0; j < n; j++) {
        const g = capable[k++]!;
        assert.equal(await switchToPvh(g), 'done');
        // Into its week: Tuesday of that week (or now, for this week's own).
        const at = week === 11 ? new Date() : new Date(thisWeek - (11 - week) * WEEK + 86_400_000 + j * 60_000);
        const op = (await fleet.store.listOperations({ guestId: g.id, limit: 1 }))[0]!;
        await fleet.store.db.updateTable('operations').set({ updated_at: at.toISOString() }).where('id', '=', op.id).execute();
        offPv[week]!++;
      }
    }
    // This week: one switch that rolled back, one that needs attention (its words look like markup).
    rolledBack = capable[k++]!;
    kernelOf(rolledBack).faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    assert.equal(await switchToPvh(rolledBack), 'rolled-back');
    attention = capable[k++]!;
    kernelOf(attention).faults.push({ kind: 'panic', count: 2 });
    assert.equal(await switchToPvh(attention), 'needs-attention');
    await fleet.store.updateGuest(attention.id, { attention: '<img src=x onerror="document.title=\'owned\'">The server could not be brought back' });

    // A campaign over the whole fleet, started and paused by an operator (their words look like markup).
    await createCampaign(fleet.store, { name: 'winter', scope: { hosts: [], guests: [], owners: [] }, windows: { 'xen-fra-01': 'Tue-Thu 02:00-05:00 Europe/Berlin', 'xen-fra-02': 'Tue-Thu 02:00-05:00' }, settings: { canary: 2 }, actor: 'operator' });
    await startCampaign(fleet.store, 'winter', 'operator', realClock);
    await pauseCampaign(fleet.store, 'winter', 'operator', '<b>freeze</b> over the holidays');

    operator = await fleet.store.addToken('operator', null);
    customer = await fleet.store.addToken('customer', guests[0]!.owner!);
    ui = await startUi(fleet, bus);
  });

  after(async () => {
    // The browser and server first: they read the fleet.
    await ui?.close();
    await fleet?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const signIn = (token: string): Promise<Page> => signInAt(ui.browser, ui.base, token);

  test('operator: the campaign page charts PV guests per week, switches, hosts with readiness, waves and failures, with the right counts', async () => {
    const page = await signIn(operator);
    await page.click('nav a[href="#/campaign"]');
    await page.waitForSelector('[data-chart=pv-per-week] svg circle.dot');
    const guests = await fleet.store.listGuests();
    const pvNow = guests.filter((g) => g.current_type === 'pv').length;
    // PV left at the end of each week: now, plus the switches of every later week (forward from the history made above).
    const expected = offPv.map((_, i) => pvNow + offPv.slice(i + 1).reduce((a, b) => a + b, 0));
    const dots = await page.locator('[data-chart=pv-per-week] circle.dot').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    assert.deepEqual(dots, expected);
    assert.equal(await page.textContent('[data-tile=pv-left] .n'), String(pvNow));
    const moved = await page.locator('[data-chart=switches-per-week] rect[data-series="Moved off PV"]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    assert.deepEqual(moved, offPv);
    const failedCols = await page.locator('[data-chart=switches-per-week] rect[data-series="Switch rolled back"]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))));
    assert.deepEqual(failedCols, [...new Array(11).fill(0), 1]);
    // The same figures as a table, for reading.
    await page.click('[data-chart=pv-per-week] details.as-table summary');
    const cells = await page.locator('[data-chart=pv-per-week] details.as-table tbody tr td:last-child').allTextContents();
    assert.deepEqual(cells.map(Number), expected);
    // Charts carry a title and a description for screen readers.
    assert.match((await page.getAttribute('[data-chart=pv-per-week] svg', 'aria-labelledby')) ?? '', /^chart-\d+-t chart-\d+-d$/);
    assert.match((await page.textContent('[data-chart=pv-per-week] svg desc')) ?? '', new RegExp(`to ${pvNow} in the week of`));

    // Hosts: guests by mode and readiness; the host with 32-bit PV guests is not ready for a Xen without them.
    const rows = page.locator('table.hosts-ready tbody tr[data-host]');
    assert.equal(await rows.count(), 3);
    for (const h of await fleet.store.listHosts()) {
      const pv = guests.filter((g) => g.host_id === h.id && g.current_type === 'pv').length;
      assert.equal(await page.getAttribute(`tr[data-host="${h.name}"] td[data-pv]`, 'data-pv'), String(pv), h.name);
    }
    assert.equal(await page.textContent('tr[data-host="xen-fra-01"] td.ready:nth-of-type(5)'), 'no');
    assert.match((await page.getAttribute('tr[data-host="xen-fra-01"] td.ready:nth-of-type(5)', 'title')) ?? '', /^no: 2 guests are 32-bit PV: /);
    assert.equal(await page.getAttribute('tr[data-host="xen-fra-01"] td[data-pv32]', 'data-pv32'), '2');
    // xen-fra-02's Xen has no xen-3.0-x86_32p: it runs none already.
    assert.equal(await page.textContent('tr[data-host="xen-fra-02"] td.ready:nth-of-type(5)'), 'already');

    // Failures: the needs-attention guest first, its words kept as text; then the rollback.
    const failures = page.locator('[data-chart=failures] li');
    assert.deepEqual(await failures.evaluateAll((els) => els.map((e) => e.getAttribute('data-failure'))), ['needs-attention', 'rolled-back']);
    assert.match((await failures.nth(0).textContent()) ?? '', new RegExp(`^${attention.name} .*<img src=x onerror=`));
    assert.match((await failures.nth(1).textContent()) ?? '', new RegExp(`^${rolledBack.name} `));
    assert.equal(await page.locator('[data-chart=failures] img').count(), 0);
    assert.notEqual(await page.title(), 'owned');

    // Waves of the plan: a canary first, every wave within the host limits.
    const waves = await page.locator('[data-chart=waves] table.waves tr[data-wave]').evaluateAll((els) => els.map((e) => e.className));
    assert.equal(waves[0], 'canary');
    const api = (await (await fetch(`${ui.base}/v1/campaign/overview`, { headers: { authorization: `Bearer ${operator}` } })).json()) as { waves: unknown[] };
    assert.equal(waves.length, Math.min(12, api.waves.length));

    // The campaign's card: paused with the operator's reason (as text), its counts, its next slot, held guests and why.
    const card = page.locator('[data-campaign=winter]');
    assert.equal(await card.getAttribute('data-state'), 'paused');
    assert.equal(await card.locator('[data-field=state]').textContent(), 'Paused');
    assert.equal(await card.locator('[data-field=pause-reason]').textContent(), 'Why it paused: paused by operator: <b>freeze</b> over the holidays');
    assert.equal(await card.locator('[data-field=pause-reason] b').count(), 1);
    const shown = await showCampaign(fleet.store, 'winter');
    const count = async (key: string) => Number(await card.locator(`[data-count=${key}] b`).textContent());
    assert.equal(await count('waiting'), shown.counts.planned);
    const already = shown.guests.filter((g) => g.status === 'held' && JSON.parse(g.path).path === 'done').length;
    assert.ok(already > 0);
    assert.equal(await count('already'), already);
    assert.equal(await count('held'), shown.counts.held - already);
    assert.equal(await card.locator('[data-held]').count(), shown.counts.held - already);
    assert.equal(await count('switched'), 0);
    assert.equal(await card.locator('[data-field=wave]').textContent(), 'At the canary (wave 0)');
    const first = shown.guests.filter((g) => g.slot_start !== null).map((g) => g.slot_start!).sort()[0]!;
    assert.match((await card.locator('[data-field=next-slot]').textContent()) ?? '', new RegExp(`^Next slot: ${first.slice(0, 16).replace('T', ' ')} UTC to `));
    await card.locator('details.held summary').click();
    assert.match((await card.locator(`[data-held="${attention.name}"]`).textContent()) ?? '', /health is needs-attention after its last operation$/);
    assert.equal(await card.locator('tr[data-wave]').count(), new Set(shown.guests.filter((g) => g.wave !== null).map((g) => g.wave)).size);
    await page.locator('[data-campaign=winter]').scrollIntoViewIfNeeded();
    await ui.shot(page, '11-operator-campaign');
    assert.ok(existsSync(join(ARTIFACTS, '11-operator-campaign.png')));
    await page.close();
  });

  test('customer: no campaign page, and the overview API refuses them', async () => {
    const page = await signIn(customer);
    assert.equal(await page.locator('nav a[href="#/campaign"]').count(), 0);
    const status = await page.evaluate(async (token) => (await fetch('/v1/campaign/overview', { headers: { authorization: `Bearer ${token}` } })).status, customer);
    assert.equal(status, 403);
    await page.close();
  });
});
