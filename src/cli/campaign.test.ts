import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CampaignPlan, HeldGuest } from '../fleet/planner.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'pvhctl.js');

/** Runs pvhctl on data directory `dir`: `run` gives the exit code and output, `ok` the output of a command that must succeed. */
function cli(dir: string) {
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const ok = (...args: string[]) => {
    const r = run(...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  return { run, ok };
}

type PlanJson = { policy: unknown; waves: CampaignPlan['waves']; held: (HeldGuest & { words: { operator: string; customer: string } })[] };

test('pvhctl campaign plan on a simulated fleet: every guest once, limits, canary, what switches showed; changes nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-campaign-'));
  const { run, ok } = cli(dir);
  try {
    ok('host', 'add', 'sim1', '--sim', '30:3', '--max-parallel', '3');
    ok('host', 'add', 'sim2', '--sim', '20:4', '--max-parallel', '1');
    ok('host', 'add', 'hvm1', '--sim', '5:5', '--role', 'hvm-dedicated');
    ok('scan');
    type Listed = { id: number; name: string; host: string; canBecome: string };
    const guests = JSON.parse(ok('guest', 'list', '--json')) as Listed[];
    // What booting showed reaches the plan: a PVH kernel that panics as PVH, switched (rolled back:
    // PVH refuted, so the shim) or rehearsed (failed: not scheduled); a switched guest is done.
    const [panics, rehearsed] = guests.filter((g) => g.host === 'sim1' && g.canBecome === 'pvh');
    const pvh = guests.find((g) => g.host === 'sim2' && g.canBecome === 'pvh')!;
    assert.ok(panics && rehearsed && pvh, JSON.stringify(guests.map((g) => g.canBecome)));
    const simFile = join(dir, 'sim', 'sim1.json');
    const state = JSON.parse(readFileSync(simFile, 'utf8'));
    for (const g of [panics, rehearsed]) state.guests[g.name].faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    writeFileSync(simFile, JSON.stringify(state));
    assert.equal(JSON.parse(run('switch', panics.name, '--to', 'pvh', '--boot-timeout', '20', '--json').out).status, 'rolled-back');
    assert.equal(run('rehearse', rehearsed.name, '--boot-timeout', '20').code, 3);
    assert.equal(JSON.parse(ok('switch', pvh.name, '--to', 'pvh', '--json')).status, 'done');

    const store = join(dir, 'pvhctl.sqlite');
    const sha = () => createHash('sha256').update(readFileSync(store)).digest('hex');
    const before = { store: sha(), guests: ok('guest', 'list', '--json') };
    const plan = JSON.parse(ok('campaign', 'plan', '--canary', '4', '--json')) as PlanJson;
    assert.deepEqual({ store: sha(), guests: ok('guest', 'list', '--json') }, before, 'a plan changes nothing');

    const scheduled = plan.waves.flatMap((w) => w.hosts.flatMap((h) => h.switches));
    assert.deepEqual([...scheduled.map((s) => s.id), ...plan.held.map((h) => h.id)].sort((a, b) => a - b), guests.map((g) => g.id).sort((a, b) => a - b));
    assert.equal(plan.waves[0]!.kind, 'canary');
    assert.equal(plan.waves[0]!.hosts.reduce((n, h) => n + h.switches.length, 0), 4);
    const limit: Record<string, number> = { sim1: 3, sim2: 1 };
    for (const w of plan.waves) for (const h of w.hosts) assert.ok(h.switches.length <= limit[h.host]! && h.limit === limit[h.host], `wave ${w.n} ${h.host}`);
    assert.deepEqual(scheduled.find((s) => s.id === panics.id), { id: panics.id, name: panics.name, host: 'sim1', path: 'pv-shim', to: 'pvh-shim', pv32: false });
    const held = new Map(plan.held.map((h) => [h.name, h]));
    assert.deepEqual(held.get(pvh.name)!.path, { path: 'done', type: 'pvh' });
    assert.deepEqual(held.get(rehearsed.name)!.path, { path: 'blocked', why: { code: 'rehearsal-failed', to: 'pvh', rule: 'verify' } });
    assert.match(held.get(rehearsed.name)!.words.customer, /a test start in PVH mode, on a copy of its disks, did not come up/);
    assert.equal(held.get(pvh.name)!.words.customer, 'The server already runs in PVH mode.');
    const onHvm = plan.held.filter((h) => h.host === 'hvm1');
    assert.equal(onHvm.length, 5);
    for (const h of onHvm) {
      assert.deepEqual(h.path, { path: 'blocked', why: { code: 'hvm-dedicated-host' } });
      assert.equal(h.words.operator, 'blocked: the host role is hvm-dedicated: move the guest to a pv-pvh host');
    }

    // --per-host under the hosts' own limit, --host to one host, and the operator's text.
    const one = JSON.parse(ok('campaign', 'plan', '--per-host', '1', '--canary', '0', '--host', 'sim1', '--json')) as PlanJson;
    assert.ok(one.waves.every((w) => w.kind === 'main' && w.hosts.length === 1 && w.hosts[0]!.host === 'sim1' && w.hosts[0]!.switches.length === 1));
    const text = ok('campaign', 'plan', '--canary', '2');
    assert.match(text, /^\d+ guests in \d+ waves; \d+ held back\n\nwave 0 \(canary\)\n {2}sim1 {2}\(at most 3 at once\)\n/);
    assert.match(text, new RegExp(`\\n {2}sim2/${pvh.name} {2}done: already pvh\\n`));

    // Usage errors exit 2, a host that is not there 1, each with one line.
    for (const bad of [['campaign', 'plan', '--canary', 'x'], ['campaign', 'plan', '--per-host', '0'], ['campaign', 'go'], ['campaign']]) {
      const r = run(...bad);
      assert.equal(r.code, 2, bad.join(' '));
    }
    const missing = run('campaign', 'plan', '--host', 'nope');
    assert.equal(missing.code, 1);
    assert.equal(missing.err, 'pvhctl campaign: no host named "nope"\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pvhctl campaign create, start, run, show, pause, resume, cancel on a simulated fleet, with one-line errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-campaign-run-'));
  const { run, ok } = cli(dir);
  try {
    ok('host', 'add', 'sim1', '--sim', '6:3', '--max-parallel', '2');
    ok('scan');
    // A window open now for three hours (UTC), so that the slots are today's.
    const h = new Date().getUTCHours();
    const hh = (n: number) => `${String((n + 24) % 24).padStart(2, '0')}:00`;
    const window = `sim1=daily ${hh(h - 1)}-${hh(h + 2)} UTC`;
    const bad = run('campaign', 'create', 'c1', '--window', 'sim1=Tux 02:00-03:00');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^pvhctl campaign: host sim1: window "Tux 02:00-03:00": "Tux" is not a day/);
    assert.equal(bad.err.trim().split('\n').length, 1);
    const created = JSON.parse(ok('campaign', 'create', 'c1', '--window', window, '--canary', '1', '--notice-days', '0', '--switch-minutes', '1', '--json'));
    assert.equal(created.campaign.status, 'draft');
    assert.equal(created.campaign.windows.sim1, `daily ${hh(h - 1)}-${hh(h + 2)} UTC`);
    const started = JSON.parse(ok('campaign', 'start', 'c1', '--json'));
    const canary = started.guests.find((g: { wave: number | null }) => g.wave === 0);
    assert.ok(Date.parse(canary.slot_start) <= Date.now() && Date.now() < Date.parse(canary.slot_end));
    // One tick: the canary's notice (no notice period) and its switch, finished before run returns.
    assert.equal(ok('campaign', 'run', '--once'), `c1: started ${canary.guest_name}\n`);
    const second = JSON.parse(ok('campaign', 'run', '--once', '--json').trim().split('\n')[0]!);
    assert.deepEqual(second.recorded, [{ guest: canary.guest_name, status: 'switched' }]);
    const shown = JSON.parse(ok('campaign', 'show', 'c1', '--json'));
    assert.equal(shown.guests.find((g: { guest_id: number }) => g.guest_id === canary.guest_id).status, 'switched');
    assert.match(ok('campaign', 'show', 'c1'), new RegExp(`sim1/${canary.guest_name}  wave 0 \\(canary\\)  switched`));
    ok('campaign', 'pause', 'c1', '--reason', 'change freeze');
    assert.match(ok('campaign', 'list'), /^c1  paused  \(paused by operator:.*: change freeze\)$/m);
    ok('campaign', 'resume', 'c1');
    ok('campaign', 'cancel', 'c1');
    assert.match(ok('campaign', 'list'), /^c1  cancelled$/m);
    const again = run('campaign', 'start', 'c1');
    assert.equal(again.code, 1);
    assert.match(again.err, /campaign c1 is cancelled, not a draft/);
    assert.equal(run('campaign', 'show', 'nope').code, 1);
    assert.equal(run('campaign', 'frobnicate').code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pvhctl host set-time-zone: an IANA zone only (one line, nothing written otherwise), shown by host list and show, and a window without a zone is read in it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-campaign-tz-'));
  const { run, ok } = cli(dir);
  try {
    ok('host', 'add', 'sim1', '--sim', '4:3');
    ok('scan');
    const zoneOf = () => (JSON.parse(ok('host', 'list', '--json')) as { timeZone: string }[])[0]!.timeZone;
    assert.equal(zoneOf(), 'UTC');
    for (const zone of ['Mars/Olympus', 'Europe/Berlin; rm -rf /', '+01:00', 'x'.repeat(200)]) {
      const bad = run('host', 'set-time-zone', 'sim1', zone);
      assert.equal(bad.code, 1, zone);
      assert.match(bad.err, /^pvhctl host: time zone ".*" is not an IANA time zone \(Europe\/Berlin, UTC\)\n$/);
      assert.ok(bad.err.length < 200);
    }
    assert.equal(run('host', 'set-time-zone', 'nosuch', 'Europe/Berlin').code, 1);
    assert.equal(run('host', 'set-time-zone', 'sim1').code, 2);
    assert.equal(zoneOf(), 'UTC');
    // Any spelling Node's ICU knows, stored in its canonical form.
    assert.equal(ok('host', 'set-time-zone', 'sim1', 'europe/berlin'), 'host sim1: time zone Europe/Berlin (was UTC)\n');
    assert.equal(zoneOf(), 'Europe/Berlin');
    assert.match(ok('host', 'list'), /^sim1 .* Europe\/Berlin$/m);
    assert.match(ok('host', 'show', 'sim1'), /^timeZone +Europe\/Berlin$/m);
    // A window that names no zone is the host's: its slots are 02:00 Berlin wall time.
    const created = JSON.parse(ok('campaign', 'create', 'tz', '--window', 'sim1=Tue 02:00-05:00', '--canary', '1', '--json'));
    assert.equal(created.campaign.windows.sim1, 'Tue 02:00-05:00 Europe/Berlin');
    const started = JSON.parse(ok('campaign', 'start', 'tz', '--json')) as { guests: { slot_start: string | null }[] };
    const berlin = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    const slots = started.guests.filter((g) => g.slot_start !== null);
    assert.ok(slots.length > 0);
    for (const g of slots) assert.equal(berlin.format(new Date(g.slot_start!)), 'Tue 02:00');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a new campaign takes the settings file's campaign section for what its flags leave out, and keeps it", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvhctl-campaign-defaults-'));
  const conf = join(dir, 'pvhctl.conf');
  const env = { PATH: process.env.PATH, HOME: dir, PVHCTL_CONFIG: conf };
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir], { encoding: 'utf8', env });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const ok = (...args: string[]) => {
    const r = run(...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    return r.out;
  };
  try {
    writeFileSync(conf, '[campaign]\ncanary = 2\nnotice_days = 3\npostpone_days = 5\nswitch_minutes = 20\ncanary_threshold = 50\nwave_threshold = 25\ndays = 30\n');
    ok('host', 'add', 'sim1', '--sim', '6:3', '--max-parallel', '2');
    ok('scan');
    const plan = JSON.parse(ok('campaign', 'plan', '--json')) as { policy: { canary: number }; waves: { kind: string; guests: unknown[] }[] };
    assert.equal(plan.policy.canary, 2);
    type Shown = { campaign: { policy: Record<string, unknown> } };
    const fromFile = JSON.parse(ok('campaign', 'create', 'c1', '--window', 'sim1=daily 02:00-05:00 UTC', '--json')) as Shown;
    assert.deepEqual(
      { ...fromFile.campaign.policy, pv32First: undefined, perHost: undefined, pvOnly: undefined },
      { canary: 2, noticeDays: 3, postponeDays: 5, switchEstimateMs: 20 * 60_000, canaryThreshold: 0.5, waveThreshold: 0.25, lengthDays: 30, pv32First: undefined, perHost: undefined, pvOnly: undefined },
    );
    // A flag overrides the file; the campaign made before keeps what it was created with.
    const flagged = JSON.parse(ok('campaign', 'create', 'c2', '--window', 'sim1=daily 02:00-05:00 UTC', '--canary', '1', '--notice-days', '0', '--json')) as Shown;
    assert.equal(flagged.campaign.policy.canary, 1);
    assert.equal(flagged.campaign.policy.noticeDays, 0);
    assert.equal(flagged.campaign.policy.waveThreshold, 0.25);
    writeFileSync(conf, '[campaign]\nnotice_days = 9\n');
    assert.equal((JSON.parse(ok('campaign', 'show', 'c1', '--json')) as Shown).campaign.policy.noticeDays, 3);
    // A value out of range is one line naming the file's line, and no campaign is made.
    writeFileSync(conf, '[campaign]\nwave_threshold = 101\n');
    const bad = run('campaign', 'create', 'c3', '--window', 'sim1=daily 02:00-05:00 UTC');
    assert.equal(bad.code, 2);
    assert.equal(bad.err, `pvhctl campaign: ${conf}:2: campaign.wave_threshold: 101 is out of range 0..100\n`);
    writeFileSync(conf, '');
    assert.match(run('campaign', 'show', 'c3').err, /^pvhctl campaign: no campaign named "c3"\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
