/**
 * The customer's maintenance card in a real browser (Debian's Chromium, playwright-core) against a
 * live `buildServer` on a simulated fleet: the slot in the host's time zone, another window chosen,
 * a postponement refused the second time in words, and switch now. Screenshot in artifacts/web/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { buildServer } from '../compose/servers.ts';
import { eventBus } from '../fleet/events.ts';
import { openFleet } from '../fleet/fleet.ts';
import { createCampaign, showCampaign, startCampaign } from '../fleet/campaign.ts';
import { realClock } from '../fleet/campaign-rules.ts';
import { ARTIFACTS, launchChromium, signIn } from '../../test/support/chromium.ts';
import { STORES } from '../../test/support/stores.ts';

for (const store of STORES) {
  test(`customer: the maintenance card shows the slot in Berlin time; another window, postpone once, switch now (${store.kind})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvhctl-web-maint-'));
    const bus = eventBus();
    const fleet = await openFleet({ dataDir: dir, store: store.kind === 'sqlite' ? undefined : await store.location(), onEvent: (e) => bus.emit(e), verify: { bootTimeoutMs: 5000, pollMs: 20 }, shutdownTimeoutMs: 3000 });
    const host = await fleet.store.addHost({
      name: 'xen-ber-01', transport: 'sim', endpoint: JSON.stringify({ guests: 6, seed: 31, pvOnly: 0, bootMs: 50, shutdownMs: 20 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    await fleet.scan(host);
    const [a, b] = await fleet.store.listGuests();
    await fleet.store.updateGuest(a!.id, { owner: 'carol' });
    await fleet.store.updateGuest(b!.id, { owner: 'carol' });
    await createCampaign(fleet.store, { name: 'winter', scope: { hosts: [], guests: [], owners: [] }, windows: { 'xen-ber-01': 'Tue-Thu 02:00-05:00 Europe/Berlin' }, settings: { canary: 0, postponeDays: 7 }, actor: 'op' });
    await startCampaign(fleet.store, 'winter', 'op', realClock);
    const token = await fleet.store.addToken('customer', 'carol');
    const app = await buildServer(fleet, { logger: pino({ level: 'silent' }), bus });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const browser = await launchChromium();
    try {
      const page = await signIn(browser, base, token);
      await page.goto(`${base}/#/guest/${a!.id}`);
      await page.waitForSelector('[data-maintenance=slot]');
      assert.match((await page.textContent('[data-maintenance=slot]')) ?? '', /^The switch to the new mode is planned for \w{3}, \d{1,2} \w{3} \d{4}, 02:00 to 05:00 \(Europe\/Berlin\)$/);
      // Another window: the third offered.
      const third = await page.locator('[data-maintenance=windows] option').nth(2).getAttribute('value');
      await page.selectOption('[data-maintenance=windows]', third!);
      await page.click('[data-action=maintenance-slot]');
      await page.waitForSelector('text=your choice: another window');
      assert.equal((await showCampaign(fleet.store, 'winter')).guests.find((g) => g.guest_id === a!.id)!.slot_start, third);
      await page.fill('[data-maintenance=days]', '3');
      await page.click('[data-action=maintenance-postpone]');
      await page.waitForSelector('text=your choice: postponed');
      // Postponing is offered once: the card no longer shows it.
      assert.equal(await page.locator('[data-action=maintenance-postpone]').count(), 0);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'maintenance-customer.png'), fullPage: true });
      await page.goto(`${base}/#/guest/${b!.id}`);
      await page.waitForSelector('[data-action=maintenance-now]');
      await page.click('[data-action=maintenance-now]');
      await page.waitForSelector('.guest-head .pill.t-pvh', { timeout: 60_000 });
      assert.equal((await fleet.store.getGuestById(b!.id))!.current_type, 'pvh');
      assert.equal((await showCampaign(fleet.store, 'winter')).guests.find((g) => g.guest_id === b!.id)!.choice, 'early');
      await page.close();
    } finally {
      await browser.close();
      await app.close();
      await fleet.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
