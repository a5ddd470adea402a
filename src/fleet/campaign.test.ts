import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFleet, type Fleet } from './fleet.ts';
import { simOf } from '../drivers/sim/driver.ts';
import type { SimHost } from '../drivers/sim/world.ts';
import { STORES } from '../../test/support/stores.ts';
import { campaigns, type CampaignGuest } from '../store/campaigns.ts';
import { noticeKey, type Notice, type NoticeResult, type Notifier } from './notice.ts';
import type { Clock } from './campaign-rules.ts';
import { readOverview } from './overview-input.ts';
import {
  cancelCampaign,
  chooseSlot,
  createCampaign,
  pauseCampaign,
  postpone,
  resumeCampaign,
  showCampaign,
  slotChoices,
  startCampaign,
  switchEarly,
  startCampaignTicker,
  tickCampaign,
  type TickReport,
} from './campaign.ts';

/** A clock the test moves. */
const testClock = (iso: string) => {
  let t = new Date(iso);
  return { now: () => t, set: (s: string) => (t = new Date(s)) } satisfies Clock & { set(s: string): Date };
};

/** Records every notice; sends each identity once, as the real one does. */
function recordingNotifier(): Notifier & { sent: Notice[] } {
  const sent: Notice[] = [];
  const ids = new Map<string, string>();
  return {
    sent,
    async send(n: Notice): Promise<NoticeResult> {
      const key = `${n.campaignId}/${n.guestId}/${n.kind}/${noticeKey(n)}`;
      const had = ids.get(key);
      if (had !== undefined) return { status: 'already-sent', messageId: had };
      ids.set(key, `<${ids.size}@test>`);
      sent.push(n);
      return { status: 'sent', messageId: ids.get(key)! };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const store of STORES) {
  const FAST = { verify: { bootTimeoutMs: 400, pollMs: 2 }, shutdownTimeoutMs: 300 };

  async function setup(): Promise<{ fleet: Fleet; sim: SimHost }> {
    const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), ...FAST });
    const host = await fleet.store.addHost({
      name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 10, seed: 5, pvOnly: 0, bootMs: 3, shutdownMs: 3 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 4,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    assert.deepEqual((await fleet.scan(host)).errors, []);
    return { fleet, sim: simOf(fleet.hosts.driverFor(host))! };
  }

  /** Waits until no operation is pending or running (the switches run in this process). */
  async function settle(fleet: Fleet) {
    while ((await fleet.store.listOperations({ status: ['pending', 'running'] })).length > 0) await sleep(10);
  }

  const rowsOf = async (fleet: Fleet, name: string) => (await showCampaign(fleet.store, name)).guests;
  const ran = (r: TickReport) => (r.kind === 'ran' ? r : assert.fail(`tick did not run: ${JSON.stringify(r)}`));

  test(`a campaign across windows: notices to the right owner on time, a postponement and an early switch, a canary failure pauses it with the reason, resume finishes it, nothing runs outside a window (${store.kind})`, async () => {
    const { fleet, sim } = await setup();
    const clock = testClock('2026-12-06T12:00:00Z'); // a Sunday
    const notifier = recordingNotifier();
    const deps = { clock, notifier };
    const names = (await fleet.store.listGuests()).map((g) => g.name).sort();
    // The canary is the host's first guest by name: its PVH boot panics, so the switch rolls back.
    sim.state.guests[names[0]!]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });

    const created = await createCampaign(fleet.store, {
      name: 'winter',
      scope: { hosts: ['sim1'], guests: [], owners: [] },
      windows: { sim1: 'Tue-Thu 02:00-05:00 Europe/Berlin' },
      settings: { canary: 1, noticeDays: 2, perHost: 4, switchEstimateMs: 10 * 60_000, postponeDays: 7 },
      actor: 'op',
    });
    assert.equal(created.status, 'draft');
    assert.deepEqual(await tickCampaign(fleet.ctx, 'winter', deps), { campaign: 'winter', kind: 'not-running', status: 'draft' });
    const started = await startCampaign(fleet.store, 'winter', 'op', clock);
    assert.equal(started.status, 'running');
    let rows = await rowsOf(fleet, 'winter');
    assert.equal(rows.length, 10);
    const canary = rows.find((g) => g.wave === 0)!;
    assert.equal(canary.guest_name, names[0]);
    assert.equal(canary.wave_kind, 'canary');
    // Slots from two days on (the notice period): Wed 9 Dec 02:00-05:00 CET is 01:00-04:00Z; wave 1 Thu; wave 2 the Tuesday after.
    assert.deepEqual([canary.slot_start, canary.slot_end], ['2026-12-09T01:00:00.000Z', '2026-12-09T04:00:00.000Z']);
    const wave = (n: number) => rows.filter((g) => g.wave === n);
    assert.equal(wave(1).length, 4);
    assert.ok(wave(1).every((g) => g.slot_start === '2026-12-10T01:00:00.000Z'));
    assert.ok(wave(2).length >= 1 && wave(2).every((g) => g.slot_start === '2026-12-15T01:00:00.000Z'));

    /** Ticks at `iso`, checking that whatever it submits is inside its slot. */
    const tickAt = async (iso: string) => {
      clock.set(iso);
      const before = await rowsOf(fleet, 'winter');
      const r = ran(await tickCampaign(fleet.ctx, 'winter', deps));
      for (const name of r.submitted) {
        const g = before.find((x) => x.guest_name === name)!;
        assert.ok(Date.parse(g.slot_start!) <= clock.now().getTime() && clock.now().getTime() + 10 * 60_000 <= Date.parse(g.slot_end!), `${name} submitted at ${iso} outside ${g.slot_start}..${g.slot_end}`);
      }
      return r;
    };
    const owners = new Map(rows.map((g) => [g.guest_name, g.owner]));

    // Sunday: nothing due yet (the first slot is more than two days away).
    assert.deepEqual((await tickAt('2026-12-06T12:30:00Z')).mailed, []);
    // Monday 01:00Z: exactly two days before the canary's slot: its notice, to its owner.
    const mon = await tickAt('2026-12-07T01:00:00Z');
    assert.deepEqual(mon.mailed, [{ guest: canary.guest_name, kind: 'notice', status: 'sent' }]);
    assert.equal(notifier.sent[0]!.owner, owners.get(canary.guest_name));
    assert.equal(notifier.sent[0]!.slot?.timeZone, 'Europe/Berlin');
    assert.deepEqual(notifier.sent[0]!.path, { path: 'pvh-now' });
    // Tuesday 01:30Z, inside Tuesday's window: the canary's reminder and wave 1's notices; nothing
    // is submitted (no guest's slot is today).
    const tue = await tickAt('2026-12-08T01:30:00Z');
    assert.deepEqual(tue.submitted, []);
    assert.deepEqual(tue.mailed.filter((m) => m.kind === 'reminder').map((m) => m.guest), [canary.guest_name]);
    assert.deepEqual(tue.mailed.filter((m) => m.kind === 'notice').map((m) => m.guest).sort(), wave(1).map((g) => g.guest_name).sort());
    for (const n of notifier.sent) assert.equal(n.owner, owners.get(n.guestName));
    // A second tick at the same time sends nothing again.
    assert.deepEqual((await tickAt('2026-12-08T01:31:00Z')).mailed, []);

    // Customers of wave 2: one postpones a week, one switches now (early, through the queue).
    const [late, early] = wave(2);
    assert.ok(late && early, 'wave 2 has two guests');
    const stranger = await postpone(fleet.store, 'winter', late.guest_id, 7, { kind: 'customer', owner: 'somebody-else' });
    assert.deepEqual(stranger, { ok: false, refusal: { code: 'not-in-campaign' } });
    const p = await postpone(fleet.store, 'winter', late.guest_id, 7, { kind: 'customer', owner: late.owner! });
    assert.ok(p.ok);
    assert.equal(p.guest.slot_start, '2026-12-22T01:00:00.000Z');
    assert.deepEqual(await postpone(fleet.store, 'winter', late.guest_id, 1, { kind: 'customer', owner: late.owner! }), { ok: false, refusal: { code: 'already-postponed' } });
    const e = await switchEarly(fleet.ctx, 'winter', early.guest_id, { kind: 'customer', owner: early.owner! });
    assert.ok(e.ok);
    // Visible in show at once.
    rows = await rowsOf(fleet, 'winter');
    assert.equal(rows.find((g) => g.guest_id === late.guest_id)!.choice, 'postponed');
    assert.equal(rows.find((g) => g.guest_id === early.guest_id)!.choice, 'early');
    assert.equal(rows.find((g) => g.guest_id === early.guest_id)!.status, 'submitted');
    await settle(fleet);
    const afterEarly = await tickAt('2026-12-08T02:00:00Z');
    assert.deepEqual(afterEarly.recorded, [{ guest: early.guest_name, status: 'switched' }]);
    assert.deepEqual(afterEarly.submitted, []);
    assert.ok(afterEarly.mailed.some((m) => m.guest === early.guest_name && m.kind === 'result'));

    // Wednesday, a minute before the window: nothing runs.
    assert.deepEqual((await tickAt('2026-12-09T00:59:00Z')).submitted, []);
    // At its opening, two ticks at once submit the canary once.
    clock.set('2026-12-09T01:00:00Z');
    const both = await Promise.all([tickCampaign(fleet.ctx, 'winter', deps), tickCampaign(fleet.ctx, 'winter', deps), tickCampaign(fleet.ctx, 'winter', deps)]);
    assert.deepEqual(both.flatMap((r) => (r.kind === 'ran' ? r.submitted : [])), [canary.guest_name]);
    assert.equal((await fleet.store.listOperations({ guestId: canary.guest_id })).length, 1);
    await settle(fleet);
    const failed = await tickAt('2026-12-09T01:20:00Z');
    assert.deepEqual(failed.recorded, [{ guest: canary.guest_name, status: 'rolled-back' }]);
    assert.match(failed.paused ?? '', /^wave 0 \(canary\): 1 of 1 failed, above its threshold \(any failure\)/);
    let shown = await showCampaign(fleet.store, 'winter');
    assert.equal(shown.campaign.status, 'paused');
    assert.match(shown.campaign.pause_reason!, new RegExp(canary.guest_name));
    const result = notifier.sent.find((n) => n.kind === 'result' && n.guestId === canary.guest_id)!;
    assert.equal(result.outcome?.kind, 'rolled-back');

    // Paused through Thursday's window: wave 1 is not started, and moves on once the window is over.
    assert.deepEqual((await tickAt('2026-12-10T01:30:00Z')).submitted, []);
    await resumeCampaign(fleet.store, 'winter', 'op');
    // Resumed at 03:55Z: a 10-minute switch would end after the 04:00Z close: not started, moved to the next window.
    const tooLate = await tickAt('2026-12-10T03:55:00Z');
    assert.deepEqual(tooLate.submitted, []);
    assert.deepEqual(tooLate.moved.map((m) => m.to), wave(1).map(() => '2026-12-15T01:00:00.000Z'));
    assert.equal(tooLate.paused, null);
    // The next Sunday and Monday: notices for Tuesday's slots; then Tuesday's window runs wave 1, then wave 2.
    await tickAt('2026-12-13T01:00:00Z');
    const tue15 = await tickAt('2026-12-15T01:00:00Z');
    assert.deepEqual(tue15.submitted.sort(), wave(1).map((g) => g.guest_name).sort());
    await settle(fleet);
    const w1 = await tickAt('2026-12-15T01:30:00Z');
    assert.deepEqual(w1.recorded.map((r) => r.status), wave(1).map(() => 'switched'));
    assert.deepEqual(w1.submitted.sort(), wave(2).filter((g) => g.guest_id !== late.guest_id && g.guest_id !== early.guest_id).map((g) => g.guest_name).sort());
    await settle(fleet);
    await tickAt('2026-12-15T02:30:00Z');
    // Wave 3 on Wednesday; then only the postponed guest is left: its notice, its slot, and the campaign is done.
    shown = await showCampaign(fleet.store, 'winter');
    assert.deepEqual(shown.guests.filter((g) => g.status === 'planned').map((g) => g.guest_name), [late.guest_name, ...wave(3).map((g) => g.guest_name)]);
    assert.deepEqual((await tickAt('2026-12-16T01:00:00Z')).submitted, wave(3).map((g) => g.guest_name));
    await settle(fleet);
    await tickAt('2026-12-16T01:30:00Z');
    await tickAt('2026-12-20T01:00:00Z');
    assert.ok(notifier.sent.some((n) => n.kind === 'notice' && n.guestId === late.guest_id && n.slot?.start.toISOString() === '2026-12-22T01:00:00.000Z'));
    assert.deepEqual((await tickAt('2026-12-22T01:00:00Z')).submitted, [late.guest_name]);
    await settle(fleet);
    const last = await tickAt('2026-12-22T01:10:00Z');
    assert.equal(last.done, true);
    shown = await showCampaign(fleet.store, 'winter');
    assert.equal(shown.campaign.status, 'done');
    assert.equal(shown.counts.switched, 9);
    assert.equal(shown.counts['rolled-back'], 1);
    // Each guest in the sim is what the campaign says.
    for (const g of shown.guests) assert.equal(sim.state.domains[g.guest_name]!.type, g.status === 'switched' ? 'pvh' : 'pv', g.guest_name);
    // Every mail went to the guest's own owner, and no identity twice.
    const ids = notifier.sent.map((n) => `${n.guestId}/${n.kind}/${noticeKey(n)}`);
    assert.equal(new Set(ids).size, ids.length);
    for (const n of notifier.sent) assert.equal(n.owner, owners.get(n.guestName));
    await fleet.close();
  });

  test(`customer choices: another slot inside the bounds only, postpone within the limit, nothing once paused or cancelled; operator verbs refuse the wrong state (${store.kind})`, async () => {
    const { fleet } = await setup();
    const clock = testClock('2026-12-06T12:00:00Z');
    await createCampaign(fleet.store, { name: 'c2', scope: { hosts: [], guests: [], owners: [] }, windows: { sim1: 'Tue 02:00-05:00' }, settings: { canary: 0, noticeDays: 7, lengthDays: 21, postponeDays: 7 }, actor: 'op' });
    await assert.rejects(pauseCampaign(fleet.store, 'c2', 'op', 'why'), /is draft, not running/);
    await startCampaign(fleet.store, 'c2', 'op', clock);
    await assert.rejects(startCampaign(fleet.store, 'c2', 'op', clock), /only a draft starts/);
    const g = (await rowsOf(fleet, 'c2')).find((r) => r.status === 'planned') as CampaignGuest;
    // Tuesdays 02:00-05:00 UTC (the host's zone, UTC by default), from now to the campaign's end.
    const choices = await slotChoices(fleet.store, 'c2', g.guest_id, clock);
    // Three waves of four from a week on: the 15th, 22nd and 29th; the campaign ends with the last.
    assert.equal((await showCampaign(fleet.store, 'c2')).campaign.ends_at, '2026-12-29T05:00:00.000Z');
    assert.deepEqual(choices.map((o) => o.start.toISOString()), ['2026-12-08T02:00:00.000Z', '2026-12-15T02:00:00.000Z', '2026-12-22T02:00:00.000Z', '2026-12-29T02:00:00.000Z']);
    const who = { kind: 'customer' as const, owner: g.owner! };
    assert.deepEqual(await chooseSlot(fleet.store, 'c2', g.guest_id, new Date('2026-12-08T02:30:00Z'), who, clock), { ok: false, refusal: { code: 'not-a-slot' } });
    assert.deepEqual(await chooseSlot(fleet.store, 'c2', g.guest_id, new Date('2027-02-02T02:00:00Z'), who, clock), { ok: false, refusal: { code: 'outside-bounds', until: (await showCampaign(fleet.store, 'c2')).campaign.ends_at } });
    const moved = await chooseSlot(fleet.store, 'c2', g.guest_id, new Date('2026-12-08T02:00:00Z'), who, clock);
    assert.ok(moved.ok && moved.guest.slot_start === '2026-12-08T02:00:00.000Z' && moved.guest.choice === 'slot');
    assert.deepEqual(await postpone(fleet.store, 'c2', g.guest_id, 8, who), { ok: false, refusal: { code: 'postpone-too-long', maxDays: 7 } });
    const audit = await fleet.store.listAudit(20);
    assert.ok(audit.some((a) => a.action === 'campaign-choice' && a.actor === `customer:${g.owner}` && a.detail === 'c2: slot 2026-12-08T02:00:00.000Z'));
    await pauseCampaign(fleet.store, 'c2', 'op', 'holiday');
    assert.deepEqual(await postpone(fleet.store, 'c2', g.guest_id, 3, who), { ok: false, refusal: { code: 'not-running', status: 'paused' } });
    await cancelCampaign(fleet.store, 'c2', 'op');
    const after = await showCampaign(fleet.store, 'c2');
    assert.equal(after.campaign.status, 'cancelled');
    assert.equal(after.counts.planned, 0);
    assert.ok(after.counts.skipped > 0);
    assert.deepEqual(await tickCampaign(fleet.ctx, 'c2', { clock, notifier: recordingNotifier() }), { campaign: 'c2', kind: 'not-running', status: 'cancelled' });
    assert.equal(await campaigns(fleet.store).setStatus(after.campaign.id, ['running'], 'paused'), false);
    await fleet.close();
  });

  test(`the overview shows each campaign's progress: state, wave, guests notified, chose, switched, failed, held with its reason, the next slot, and why it paused (${store.kind})`, async () => {
    const { fleet, sim } = await setup();
    const clock = testClock('2026-12-06T12:00:00Z'); // a Sunday
    const deps = { clock, notifier: recordingNotifier() };
    const all = (await fleet.store.listGuests()).sort((a, b) => (a.name < b.name ? -1 : 1));
    // The last guest by name needs an operator: the planner holds it back.
    const heldBack = all.at(-1)!;
    await fleet.store.updateGuest(heldBack.id, { health: 'needs-attention', attention: 'left half-switched' });
    sim.state.guests[all[0]!.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    await createCampaign(fleet.store, { name: 'prog', scope: { hosts: [], guests: [], owners: [] }, windows: { sim1: 'Tue-Thu 02:00-05:00 Europe/Berlin' }, settings: { canary: 1, noticeDays: 2, perHost: 4, switchEstimateMs: 10 * 60_000 }, actor: 'op' });
    const progressAt = async (iso: string) => {
      clock.set(iso);
      const o = await readOverview(fleet.store, { weeks: 2, now: clock.now().getTime() });
      assert.equal(o.campaigns.length, 1);
      return o.campaigns[0]!;
    };
    let p = await progressAt('2026-12-06T12:00:00Z');
    assert.equal(p.state, 'draft');
    assert.equal(p.wave, null);
    assert.equal(p.nextSlot, null);
    assert.deepEqual(p.counts, { waiting: 9, notified: 0, chose: 0, running: 0, switched: 0, failed: 0, held: 1, already: 0, skipped: 0 });
    assert.deepEqual(p.held.map((h) => [h.guest, h.words]), [[heldBack.name, 'blocked: health is needs-attention after its last operation']]);
    assert.deepEqual(p.windows, { sim1: 'Tue-Thu 02:00-05:00 Europe/Berlin' });

    await startCampaign(fleet.store, 'prog', 'op', clock);
    await tickCampaign(fleet.ctx, 'prog', deps);
    p = await progressAt('2026-12-07T01:00:00Z');
    await tickCampaign(fleet.ctx, 'prog', deps);
    p = await progressAt('2026-12-07T01:00:00Z');
    assert.equal(p.state, 'running');
    assert.deepEqual(p.wave, { n: 0, kind: 'canary' });
    // Monday 01:00Z: the canary's notice is out (its slot, Wednesday 02:00 CET, is two days away).
    assert.deepEqual(p.counts, { waiting: 8, notified: 1, chose: 0, running: 0, switched: 0, failed: 0, held: 1, already: 0, skipped: 0 });
    assert.deepEqual(p.nextSlot, { start: '2026-12-09T01:00:00.000Z', end: '2026-12-09T04:00:00.000Z', hosts: [{ host: 'sim1', guests: 1 }] });
    // A customer of wave 2 postpones: counted as a choice at once.
    const rows = await rowsOf(fleet, 'prog');
    const late = rows.find((g) => g.wave === 2)!;
    assert.ok((await postpone(fleet.store, 'prog', late.guest_id, 7, { kind: 'customer', owner: late.owner! })).ok);
    p = await progressAt('2026-12-07T01:05:00Z');
    assert.equal(p.counts.chose, 1);

    // Wednesday: the canary runs and rolls back; the campaign pauses and says why.
    await progressAt('2026-12-09T01:00:00Z');
    assert.deepEqual(ran(await tickCampaign(fleet.ctx, 'prog', deps)).submitted, [all[0]!.name]);
    p = await progressAt('2026-12-09T01:00:00Z');
    assert.equal(p.counts.running, 1);
    await settle(fleet);
    await tickCampaign(fleet.ctx, 'prog', deps);
    p = await progressAt('2026-12-09T01:20:00Z');
    assert.equal(p.state, 'paused');
    assert.match(p.pauseReason ?? '', /^wave 0 \(canary\): 1 of 1 failed/);
    assert.equal(p.counts.failed, 1);
    assert.deepEqual(p.failed.map((f) => [f.guest, f.status]), [[all[0]!.name, 'rolled-back']]);
    assert.deepEqual(p.waves[0], { n: 0, kind: 'canary', guests: 1, switched: 0, failed: 1, running: 0, planned: 0 });
    // Its next slot: wave 1's, Thursday.
    assert.equal(p.nextSlot?.start, '2026-12-10T01:00:00.000Z');
    assert.deepEqual(p.wave, { n: 1, kind: 'main' });

    // Resumed, wave 1 switches in Thursday's window.
    await resumeCampaign(fleet.store, 'prog', 'op');
    await progressAt('2026-12-10T01:00:00Z');
    await tickCampaign(fleet.ctx, 'prog', deps);
    await settle(fleet);
    await tickCampaign(fleet.ctx, 'prog', deps);
    p = await progressAt('2026-12-10T01:30:00Z');
    assert.equal(p.state, 'running');
    assert.equal(p.pauseReason, null);
    assert.equal(p.counts.switched, rows.filter((g) => g.wave === 1).length);
    assert.deepEqual(p.wave, { n: 2, kind: 'main' });
    await fleet.close();
  });

  test(`the background ticker (serve, worker) runs a campaign's tick until stopped (${store.kind})`, async () => {
    const { fleet } = await setup();
    const clock = testClock('2026-12-08T02:30:00Z');
    await createCampaign(fleet.store, { name: 'bg', scope: { hosts: [], guests: [], owners: [] }, windows: { sim1: 'daily 02:00-05:00' }, settings: { canary: 1, noticeDays: 0 }, actor: 'op' });
    await startCampaign(fleet.store, 'bg', 'op', clock);
    const notifier = recordingNotifier();
    const ticker = startCampaignTicker(fleet.ctx, { clock, notifier, everyMs: 20 });
    while (!(await rowsOf(fleet, 'bg')).some((g) => g.status === 'switched')) await sleep(20);
    await ticker.stop();
    assert.ok(notifier.sent.some((n) => n.kind === 'notice') && notifier.sent.some((n) => n.kind === 'result'));
    await settle(fleet);
    await fleet.close();
  });

  test(`a guest moved by its customer into the canary's window waits until the canary is over (${store.kind})`, async () => {
    const { fleet } = await setup();
    const clock = testClock('2026-12-06T12:00:00Z');
    const deps = { clock, notifier: recordingNotifier() };
    await createCampaign(fleet.store, { name: 'gate', scope: { hosts: [], guests: [], owners: [] }, windows: { sim1: 'daily 02:00-05:00' }, settings: { canary: 1, noticeDays: 1 }, actor: 'op' });
    await startCampaign(fleet.store, 'gate', 'op', clock);
    const rows = await rowsOf(fleet, 'gate');
    const canary = rows.find((g) => g.wave === 0)!;
    const mover = rows.find((g) => g.wave === 2)!;
    const moved = await chooseSlot(fleet.store, 'gate', mover.guest_id, new Date(canary.slot_start!), { kind: 'customer', owner: mover.owner! }, clock);
    assert.ok(moved.ok);
    clock.set(canary.slot_start!);
    const first = ran(await tickCampaign(fleet.ctx, 'gate', deps));
    assert.deepEqual(first.submitted, [canary.guest_name]);
    await settle(fleet);
    clock.set(new Date(Date.parse(canary.slot_start!) + 60_000).toISOString());
    const second = ran(await tickCampaign(fleet.ctx, 'gate', deps));
    assert.deepEqual(second.recorded, [{ guest: canary.guest_name, status: 'switched' }]);
    assert.deepEqual(second.submitted, [mover.guest_name]);
    await settle(fleet);
    await fleet.close();
  });

  test(`a slot's guests go to the switch machinery in one bulk request per round, up to each host's free places; a busy guest gives its place to the next; rows, audit and mail as one by one (${store.kind})`, async () => {
    const { fleet } = await setup();
    const clock = testClock('2026-12-08T02:30:00Z');
    const deps = { clock, notifier: recordingNotifier() };
    await createCampaign(fleet.store, { name: 'bulk', scope: { hosts: [], guests: [], owners: [] }, windows: { sim1: 'daily 02:00-05:00' }, settings: { canary: 0, noticeDays: 0 }, actor: 'op' });
    await startCampaign(fleet.store, 'bulk', 'op', clock);
    const first = (await rowsOf(fleet, 'bulk')).filter((g) => g.wave === 0);
    assert.equal(first.length, 4, 'wave 0 fills sim1\'s limit of 4');
    // The first of them has another change in progress (a queued operation nobody runs): it takes
    // one of sim1's four places, and is refused as busy.
    const [busyOne, ...rest] = first;
    const other = await fleet.store.createOperationIfIdle({ guest_id: busyOne!.guest_id, kind: 'switch', from_type: 'pv', to_type: 'pvh', force: 0, requested_by: 'op', pod: null }, async () => {}, 'queued');
    assert.ok(other !== null);
    const bulk: number[] = [];
    let single = 0;
    const { createOperationsIfIdle, createOperationIfIdle } = fleet.store;
    fleet.store.createOperationsIfIdle = (os, ...a) => (bulk.push(os.length), createOperationsIfIdle(os, ...a));
    fleet.store.createOperationIfIdle = (...a) => (single++, createOperationIfIdle(...a));
    const tick = ran(await tickCampaign(fleet.ctx, 'bulk', deps));
    // Round one: three places, three guests asked for at once (the busy one among them); round two: its place to the fourth.
    assert.deepEqual([bulk, single], [[3, 1], 0]);
    assert.deepEqual(tick.submitted, rest.map((g) => g.guest_name));
    assert.deepEqual(tick.mailed.map((m) => m.guest), first.map((g) => g.guest_name));
    const after = await rowsOf(fleet, 'bulk');
    const row = (id: number) => after.find((g) => g.id === id)!;
    assert.deepEqual([row(busyOne!.id).status, row(busyOne!.id).claimed_at, row(busyOne!.id).operation_id], ['planned', null, null]);
    const audit = await fleet.store.listAudit(1000);
    for (const g of rest) {
      const r = row(g.id);
      const op = (await fleet.store.getOperation(r.operation_id!))!;
      assert.deepEqual([r.status, op.guest_id, op.requested_by, r.slot_start, r.slot_end], ['submitted', g.guest_id, 'campaign:bulk', g.slot_start, g.slot_end]);
      assert.equal(audit.filter((a) => a.target === g.guest_name && a.action === 'switch' && a.actor === 'campaign:bulk' && a.detail === 'to pvh').length, 1);
      assert.equal(audit.filter((a) => a.target === g.guest_name && a.action === 'campaign-submit' && a.detail === `bulk: operation ${op.id} to pvh`).length, 1);
    }
    assert.equal(audit.filter((a) => a.target === busyOne!.guest_name && a.action === 'campaign-submit').length, 0);
    // They run (here, under the host's limit) and the next tick records them, as before.
    await fleet.store.updateOperation(other.id, { status: 'refused', reason: 'test' });
    await settle(fleet);
    clock.set('2026-12-08T02:40:00Z');
    const next = ran(await tickCampaign(fleet.ctx, 'bulk', deps));
    assert.deepEqual(next.recorded.map((x) => x.guest).sort(), rest.map((g) => g.guest_name).sort());
    assert.ok(next.recorded.every((x) => x.status === 'switched'), JSON.stringify(next.recorded));
    assert.deepEqual(next.submitted, [busyOne!.guest_name]);
    await settle(fleet);
    await fleet.close();
  });

}
