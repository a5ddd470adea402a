/**
 * A campaign against the Xen lab (real Xen 4.17 under QEMU, reached over real SSH with the xl
 * driver), its mail through a real SMTP relay on loopback: a campaign over direct64 (a PVH-capable
 * kernel booted from dom0) and nopvh (a PV-only kernel) whose host window opens a minute ahead.
 * Nothing runs before it opens; as it opens the customer gets the notice (no notice period), then
 * direct64 is switched and verified on real Xen (the guest itself reports PVH) and the customer
 * gets the result; nopvh, in a campaign that does not use the PV shim, is held in PV with why, in
 * words. Kept to one guest boot and one switch: it adds to every run's lab time.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ParsedMail } from 'mailparser';
import { labExec, type LabEndpoint } from '../../lab/lab.ts';
import { PVH_ATTEMPTS, SWITCH_BOOT_DIED, withRetries } from '../../lab/retries.ts';
import { bootGuest } from '../../lab/guest-boot.ts';
import { findMarker } from '../../lab/guests.ts';
import { addLabHost, attachLab, type AttachedLab } from '../support/lab.ts';
import { relay } from '../support/smtp-relay.ts';
import { createCampaign, guestCampaigns, showCampaign, startCampaign, tickCampaign, type CampaignDetail } from '../../src/fleet/campaign.ts';
import { realClock } from '../../src/fleet/campaign-rules.ts';
import { openFleet, type Fleet } from '../../src/fleet/fleet.ts';
import { readOverview } from '../../src/fleet/overview-input.ts';
import { customerPathWords } from '../../src/fleet/plan-words.ts';
import { parseAddress, type MailAddress } from '../../src/notify/address.ts';
import { mailStore } from '../../src/notify/mail-store.ts';
import { smtpNotifier } from '../../src/notify/smtp.ts';

const OWNER = 'acme';
const ADDRESS = 'ops@acme.example';
let lab: LabEndpoint;
let attached: AttachedLab | undefined;
let smtp: Awaited<ReturnType<typeof relay>>;
/** Each attempt's fleet (a retry starts from a fresh store: a rolled-back switch would refute PVH in the old one). */
const fleets: Fleet[] = [];
const dir = mkdtempSync(join(tmpdir(), 'pvhctl-e2e-campaign-'));
const t0 = Date.now();

before(async () => {
  attached = await attachLab();
  lab = attached.lab;
  smtp = await relay();
});

after(async () => {
  for (const f of fleets) await f.close();
  await smtp?.close();
  await attached?.release();
  rmSync(dir, { recursive: true, force: true });
  process.stderr.write(`campaign-lab.test.ts: ${Date.now() - t0} ms in all, of which ${attached?.startMs ?? 0} ms attaching to the lab\n`);
});

/** A fleet on a store of its own with the lab host scanned, direct64 and nopvh owned by OWNER, whose address is on record. */
async function labFleet(n: number): Promise<Fleet> {
  const fleet = await openFleet({ dataDir: join(dir, String(n)), verify: { bootTimeoutMs: 240_000, pollMs: 2000 }, shutdownTimeoutMs: 60_000 });
  fleets.push(fleet);
  await addLabHost(fleet, lab);
  for (const name of ['direct64', 'nopvh']) {
    const g = (await fleet.store.getGuest(name))[0];
    assert.ok(g, `${name} not discovered`);
    await fleet.store.updateGuest(g.id, { owner: OWNER });
  }
  await mailStore(fleet.store).setContact(OWNER, (parseAddress(ADDRESS) as { address: MailAddress }).address);
  return fleet;
}

const HHMM = (t: Date) => t.toISOString().slice(11, 16);
const consoleOf = async (name: string) => (await labExec(lab, `cat /var/log/xen/console/guest-${name}.log 2>/dev/null; true`)).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mailsOf = (campaign: string) => smtp.received.filter((m) => (m.text ?? '').includes(`Campaign: ${campaign}`));

/** One campaign run: created and started now, ticked every 5 s until nobody is left to switch or it paused. */
async function runCampaign(n: number): Promise<{ fleet: Fleet; name: string; shown: CampaignDetail; log: string; mailedBeforeOpen: ParsedMail[]; submittedBeforeOpen: string[]; phases: string }> {
  const name = `lab-${n}`;
  const t1 = Date.now();
  const fleet = await labFleet(n);
  const scanned = Date.now();
  // A window opening at the next whole minute at least a minute ahead, an hour long (UTC).
  const open = new Date(Math.ceil((Date.now() + 60_000) / 60_000) * 60_000);
  const close = new Date(open.getTime() + 60 * 60_000);
  await createCampaign(fleet.store, {
    name, scope: { hosts: ['lab'], guests: ['direct64', 'nopvh'], owners: [] }, windows: { lab: `daily ${HHMM(open)}-${HHMM(close)} UTC` },
    settings: { canary: 1, noticeDays: 0, pvOnly: 'hold' }, actor: 'e2e',
  });
  await startCampaign(fleet.store, name, 'e2e', realClock);
  const deps = { clock: realClock, notifier: smtpNotifier(fleet.store, { host: '127.0.0.1', port: smtp.port, security: 'none', from: (parseAddress('pvhctl@lab.example') as { address: MailAddress }).address, auth: null, ca: null, linkBase: 'https://pvh.lab.example/', linkLifetimeMs: 86_400_000, tries: 3, backoffMs: 100 }) };
  // Before the window nothing is submitted (and, with no notice period, nothing mailed: the notice
  // goes out as the slot opens, before the switch). Meanwhile the guest runs as PV, as a
  // customer's does before its slot.
  const first = await tickCampaign(fleet.ctx, name, deps);
  assert.equal(first.kind, 'ran');
  const booted = await withRetries(lab, `campaign-lab.test.ts: direct64 PV boot`, 2, () => bootGuest(lab, 'direct64', '/etc/xen/direct64.cfg', 180), (b) => (b.kind === 'marker' ? null : b.kind));
  assert.equal(booted.kind, 'marker', `direct64 did not boot as PV: ${JSON.stringify(booted).slice(0, 400)}`);
  const bootedAt = Date.now();
  const submittedBeforeOpen: string[] = first.kind === 'ran' ? [...first.submitted] : [];
  while (Date.now() < open.getTime()) {
    const r = await tickCampaign(fleet.ctx, name, deps);
    if (r.kind === 'ran') submittedBeforeOpen.push(...r.submitted);
    await sleep(Math.min(5000, Math.max(0, open.getTime() - Date.now())));
  }
  const mailedBeforeOpen = [...mailsOf(name)];
  const log = await consoleOf('direct64');
  // In the window: ticks until the campaign is done or paused (a safety bound, not a measure).
  const giveUp = Date.now() + 20 * 60_000;
  for (;;) {
    const r = await tickCampaign(fleet.ctx, name, deps);
    if (r.kind === 'not-running' || (r.kind === 'ran' && (r.done || r.paused !== null))) break;
    assert.ok(Date.now() < giveUp, `campaign ${name} still running after 20 minutes: ${JSON.stringify(await showCampaign(fleet.store, name)).slice(0, 600)}`);
    await sleep(5000);
  }
  const phases = `scan ${scanned - t1} ms, create to PV boot done ${bootedAt - scanned} ms, waiting for the window ${open.getTime() - bootedAt} ms, window open to done ${Date.now() - open.getTime()} ms`;
  return { fleet, name, shown: await showCampaign(fleet.store, name), log, mailedBeforeOpen, submittedBeforeOpen, phases };
}

test('a campaign on the lab: nothing before the window; in it the notice, direct64 switched and verified on real Xen in it, the result mailed; nopvh held in PV with why', async (t) => {
  const run = await withRetries(lab, 'campaign-lab.test.ts: direct64 campaign switch', PVH_ATTEMPTS, runCampaign, (r) => {
    const g = r.shown.guests.find((x) => x.guest_name === 'direct64');
    return g?.status === 'rolled-back' && SWITCH_BOOT_DIED.test(g.outcome_reason ?? '') ? `PVH boot died (${g.outcome_reason})` : null;
  }, (line) => t.diagnostic(line));
  const { fleet, name, shown } = run;
  t.diagnostic(`campaign ${name}: ${JSON.stringify(shown.counts)}; ${run.phases}`);
  const direct = shown.guests.find((g) => g.guest_name === 'direct64')!;
  const nopvh = shown.guests.find((g) => g.guest_name === 'nopvh')!;

  // Before the window: nothing submitted, nothing mailed.
  assert.deepEqual(run.submittedBeforeOpen, []);
  assert.deepEqual(run.mailedBeforeOpen, []);
  // As it opened: the notice, to the owner's address, naming the slot; then the switch.
  const [notice, ...results] = mailsOf(name);
  assert.ok(notice);
  assert.equal(notice.subject, 'Planned maintenance of your server "direct64"');
  assert.deepEqual(notice.to && !Array.isArray(notice.to) ? notice.to.value.map((a) => a.address) : null, [ADDRESS]);
  assert.match(notice.text ?? '', /has its maintenance slot on .* \(UTC time\)/);
  assert.match(notice.text ?? '', /https:\/\/pvh\.lab\.example\/g\/\d+\?/);

  // In the window: switched, inside its slot, and verified on real Xen.
  assert.equal(shown.campaign.status, 'done', shown.campaign.pause_reason ?? '');
  assert.equal(direct.status, 'switched', direct.outcome_reason ?? '');
  const op = (await fleet.store.getOperation(direct.operation_id!))!;
  assert.equal(op.status, 'done');
  assert.ok(op.created_at >= direct.slot_start! && op.updated_at <= direct.slot_end!, `${op.created_at}..${op.updated_at} outside ${direct.slot_start}..${direct.slot_end}`);
  assert.ok(notice.date !== undefined && notice.date.getTime() <= Date.parse(op.created_at), `notice sent ${notice.date?.toISOString()}, switch started ${op.created_at}`);
  const after = await consoleOf('direct64');
  assert.equal(findMarker(after.startsWith(run.log) ? after.slice(run.log.length) : after)?.guestType, 'PVH', 'the guest itself reports PVH');
  assert.match((await labExec(lab, 'cat /etc/xen/direct64.cfg')).stdout, /^type = "pvh"$/m);
  assert.equal((await fleet.store.getGuest('direct64'))[0]!.current_type, 'pvh');

  // The result, once, to the same customer.
  assert.equal(results.length, 1, results.map((m) => m.subject).join('; '));
  assert.equal(results[0]!.subject, 'Your server "direct64" now runs in PVH mode');
  assert.match(results[0]!.text ?? '', /Your server was switched to PVH mode and runs again\. There is nothing for you to do\./);

  // nopvh: held in PV, untouched, with why in the operator's and the customer's words.
  assert.equal(nopvh.status, 'held');
  assert.deepEqual(JSON.parse(nopvh.path), { path: 'blocked', why: { code: 'shim-not-used' } });
  assert.deepEqual(await fleet.store.listOperations({ guestId: nopvh.guest_id }), []);
  const progress = (await readOverview(fleet.store, { weeks: 1, now: Date.now() })).campaigns.find((c) => c.name === name)!;
  assert.deepEqual(progress.held.map((h) => [h.guest, h.words]), [['nopvh', 'blocked: the kernel has no PHYS32_ENTRY (PV only) and this campaign does not use the PV shim (--pv-only hold)']]);
  assert.equal(progress.counts.switched, 1);
  const mine = (await guestCampaigns(fleet.store, nopvh.guest_id, realClock)).find((c) => c.campaign === name)!;
  assert.equal(customerPathWords(mine.path), "The server's kernel cannot run in PVH mode, so it stays in PV mode for now; a kernel with PVH support would let it move.");
  assert.equal((await fleet.store.getGuest('nopvh'))[0]!.current_type, 'pv');
  assert.ok(!mailsOf(name).some((m) => /nopvh/.test(m.subject ?? '')), 'no mail about nopvh: nothing happens to it');
});
