import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openFleet, type Fleet } from './fleet.ts';
import type { Guest } from '../store/schema.ts';
import { startSwitch, startSwitches, startRollback, precheck, type SwitchRequest } from './switch.ts';
import { operatorRefusalWords, outcomeView, outcomeWords } from './reasons.ts';
import { domainName } from '../drivers/driver.ts';
import { runningType } from './verify.ts';
import type { SimSpec } from '../drivers/sim/fleet.ts';
import type { SimHost } from '../drivers/sim/world.ts';
import { STORES } from '../../test/support/stores.ts';
import { simOf } from '../drivers/sim/driver.ts';

for (const store of STORES) {
  const FAST = { verify: { bootTimeoutMs: 300, pollMs: 2 }, shutdownTimeoutMs: 200 };

  async function setup(spec: Partial<SimSpec> = {}, maxParallel = 4): Promise<{ fleet: Fleet; sim: SimHost; guests: Guest[] }> {
    const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), ...FAST });
    const host = await fleet.store.addHost({
      name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 30, seed: 3, pvOnly: 0.25, bootMs: 3, shutdownMs: 3, ...spec }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: maxParallel,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    const scan = await fleet.scan(host);
    assert.deepEqual(scan.errors, []);
    const sim = simOf(fleet.hosts.driverFor(host))!;
    return { fleet, sim, guests: await fleet.store.listGuests() };
  }

  const finished = async (r: SwitchRequest) => {
    assert.equal(r.kind, 'started', r.kind === 'refused' ? r.refusal.code : '');
    return r.kind === 'started' ? r.finished : assert.fail();
  };
  const pick = (sim: SimHost, guests: Guest[], pvh: boolean, boot?: 'direct' | 'pvgrub') =>
    guests.find((g) => sim.state.guests[g.name]!.kernel.pvh === pvh && (boot === undefined || sim.state.guests[g.name]!.boot === boot))!;
  const configOnHost = (sim: SimHost, g: Guest) => Buffer.from(sim.state.files[g.config_path]!, 'base64').toString('utf8');

  test(`scan imports every guest with its owner, type, verdict and a kept config version (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    assert.equal(guests.length, 30);
    for (const g of guests) {
      assert.equal(g.current_type, 'pv');
      assert.equal(g.owner, sim.state.guests[g.name]!.owner);
      assert.equal(JSON.parse(g.verdict!).pvh.capable, sim.state.guests[g.name]!.kernel.pvh);
      assert.equal((await fleet.store.listConfigVersions(g.id)).length, 1);
    }
    const host = (await fleet.store.getHost('sim1'))!;
    assert.match(host.xen_caps!, /hvm-3\.0-x86_64/);
    await fleet.close();
  });

  for (const boot of ['direct', 'pvgrub'] as const) {
    test(`a PVH-capable ${boot} guest switches to PVH and is verified (${store.kind})`, async () => {
      const { fleet, sim, guests } = await setup();
      const g = pick(sim, guests, true, boot);
      const op = await finished(await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' }));
      assert.equal(op.status, 'done', op.detail ?? '');
      assert.equal(sim.state.domains[g.name]!.type, 'pvh');
      assert.match(configOnHost(sim, g), /^type = "pvh"$/m);
      if (boot === 'pvgrub') assert.match(configOnHost(sim, g), /grub-i386-xen_pvh\.bin/);
      assert.equal((await fleet.store.getGuestById(g.id))!.current_type, 'pvh');
      const steps = (await fleet.store.journalOf(op.id)).map((j) => `${j.step}:${j.phase}`);
      assert.deepEqual(steps, ['pre-check:begin', 'pre-check:done', 'keep-config:begin', 'keep-config:done', 'shutdown:begin', 'shutdown:done', 'write-config:begin', 'write-config:done', 'create:begin', 'create:done', 'verify:begin', 'verify:done']);
      await fleet.close();
    });

    test(`a ${boot} guest whose kernel lacks PVH is refused at pre-check, and with a stale verdict rolls back byte-identical (${store.kind})`, async () => {
      const { fleet, sim, guests } = await setup();
      const g = pick(sim, guests, false, boot);
      const before = configOnHost(sim, g);
      const refused = await finished(await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' }));
      assert.equal(refused.status, 'refused');
      assert.match(refused.reason!, /cannot start in PVH mode/);
      // The verdict says PVH but the kernel was swapped since: the boot fails and is rolled back.
      const stale = JSON.parse(g.verdict!);
      stale.pvh = { capable: true, reason: 'stale' };
      await fleet.store.updateGuest(g.id, { verdict: JSON.stringify(stale) });
      const op = await finished(await startSwitch(fleet.ctx, (await fleet.store.getGuestById(g.id))!, 'pvh', { force: false, actor: 'op' }));
      assert.equal(op.status, 'rolled-back', op.detail ?? '');
      assert.match(op.reason!, /kernel (has no PVH support|stopped with an error)|crashed/);
      assert.match(op.reason!, /restarted in PV mode with its settings unchanged/);
      assert.equal(configOnHost(sim, g), before);
      assert.equal(sim.state.domains[g.name]!.type, 'pv');
      assert.equal(sim.state.domains[g.name]!.state, 'running');
      assert.equal((await fleet.store.getGuestById(g.id))!.current_type, 'pv');
      await fleet.close();
    });
  }

  test(`injected faults: a panic or a hang in the new type rolls back; a slow shutdown without --force leaves the guest untouched (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const capable = guests.filter((g) => sim.state.guests[g.name]!.kernel.pvh);
    const [a, b, c] = capable;
    sim.state.guests[a!.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    sim.state.guests[b!.name]!.faults.push({ kind: 'hang', onType: 'pvh', count: 1 });
    sim.state.guests[c!.name]!.faults.push({ kind: 'slow-shutdown', ms: 5000, count: 1 });
    const before = new Map([a, b, c].map((g) => [g!.name, configOnHost(sim, g!)]));
    const [opA, opB, opC] = await Promise.all([a, b, c].map(async (g) => finished(await startSwitch(fleet.ctx, g!, 'pvh', { force: false, actor: 'op' }))));
    assert.equal(opA!.status, 'rolled-back');
    assert.match(opA!.reason!, /crashed|kernel stopped/);
    assert.equal(opB!.status, 'rolled-back');
    assert.match(opB!.reason!, /did not finish starting/);
    assert.equal(opC!.status, 'rolled-back');
    assert.match(opC!.reason!, /did not shut down within/);
    for (const g of [a, b, c]) {
      assert.equal(configOnHost(sim, g!), before.get(g!.name));
      assert.equal(sim.state.domains[g!.name]?.type, 'pv', g!.name);
    }
    await fleet.close();
  });

  test(`a host that cannot say whether the guest runs refuses the switch: nothing acts on a guest whose state before is unknown (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const g = guests.find((x) => sim.state.guests[x.name]!.kernel.pvh)!;
    const before = configOnHost(sim, g);
    // The first question (xl list, retried 4 times) is lost; the host answers again just after.
    // Had the switch gone on, the panic would roll it back, and a rollback does not boot a guest
    // whose state before is unknown: a running guest would be left stopped.
    sim.state.faults.push({ kind: 'lost-connection', calls: 4 });
    sim.state.guests[g.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    const op = await finished(await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' }));
    assert.deepEqual([op.status, op.reason_code, op.prior_state], ['refused', 'host-unreachable', null]);
    assert.match(outcomeWords(op, 'operator'), /connection lost/);
    assert.equal(configOnHost(sim, g), before, 'the config is untouched');
    assert.equal(sim.state.domains[g.name]?.type, 'pv', 'the guest still runs, as PV');
    await fleet.close();
  });

  test(`--force destroys a guest that will not shut down, then switches it (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const g = pick(sim, guests, true);
    sim.state.guests[g.name]!.faults.push({ kind: 'slow-shutdown', ms: 60_000, count: 1 });
    const op = await finished(await startSwitch(fleet.ctx, g, 'pvh', { force: true, actor: 'op' }));
    assert.equal(op.status, 'done', op.detail ?? '');
    assert.equal(sim.state.domains[g.name]!.type, 'pvh');
    await fleet.close();
  });

  test(`a lost connection is retried; a host that stays away leaves the guest marked as needing attention (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const [g, h] = guests.filter((x) => sim.state.guests[x.name]!.kernel.pvh);
    sim.state.faults.push({ kind: 'lost-connection', calls: 2 });
    const ok = await finished(await startSwitch(fleet.ctx, g!, 'pvh', { force: false, actor: 'op' }));
    assert.equal(ok.status, 'done', ok.detail ?? '');
    // The host reboots during the switch and does not answer for longer than the retries last.
    sim.state.faults.push({ kind: 'host-reboot', afterCalls: 6, downCalls: 1000 });
    const op = await finished(await startSwitch(fleet.ctx, h!, 'pvh', { force: false, actor: 'op' }));
    assert.equal(op.status, 'needs-attention', op.detail ?? '');
    const gh = (await fleet.store.getGuestById(h!.id))!;
    assert.equal(gh.health, 'needs-attention');
    assert.match(gh.attention!, /could not be brought back/);
    // When the host is back, a rollback brings the guest back in PV with its original config.
    sim.state.downCalls = 0;
    const rb = await finished(await startRollback(fleet.ctx, gh, 'op'));
    assert.equal(rb.status, 'rolled-back', rb.detail ?? '');
    assert.equal(sim.state.domains[h!.name]!.type, 'pv');
    assert.equal((await fleet.store.getGuestById(h!.id))!.health, 'ok');
    await fleet.close();
  });

  test(`the per-host limit bounds how many guests are down at once (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup({ guests: 12, bootMs: 10, shutdownMs: 10 }, 3);
    let down = 0;
    let maxDown = 0;
    fleet.ctx.onEvent = (e) => {
      if (e.step === 'shutdown' && e.phase === 'begin') maxDown = Math.max(maxDown, ++down);
      if (e.phase === 'done' && e.status !== undefined) down--;
    };
    const capable = guests.filter((g) => sim.state.guests[g.name]!.kernel.pvh);
    const ops = await Promise.all(capable.map(async (g) => finished(await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' }))));
    assert.ok(ops.every((o) => o.status === 'done'));
    assert.ok(maxDown <= 3 && maxDown >= 2, `max ${maxDown} at once`);
    await fleet.close();
  });

  test(`many switches asked at once: one operation per guest, the busy guest refused, the per-host limit kept, each journaled and audited (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup({ guests: 12, bootMs: 10, shutdownMs: 10 }, 3);
    const capable = guests.filter((g) => sim.state.guests[g.name]!.kernel.pvh);
    // One guest is already busy (a switch held at its shutdown), and one is asked for twice.
    let release!: () => void;
    let atShutdown!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const reached = new Promise<void>((resolve) => (atShutdown = resolve));
    fleet.ctx.afterJournal = (_id, _seq, step, phase) => (step === 'shutdown' && phase === 'begin' ? (atShutdown(), gate) : undefined);
    const held = await startSwitch(fleet.ctx, capable[0]!, 'pvh', { force: false, actor: 'op' });
    assert.equal(held.kind, 'started');
    await reached;
    delete fleet.ctx.afterJournal;
    let down = 1;
    let maxDown = 1;
    fleet.ctx.onEvent = (e) => {
      if (e.step === 'shutdown' && e.phase === 'begin') maxDown = Math.max(maxDown, ++down);
      if (e.phase === 'done' && e.status !== undefined) down--;
    };
    const batch = await startSwitches(fleet.ctx, [...capable, capable[1]!].map((g) => ({ guest: g, to: 'pvh' as const })), { force: false, actor: 'op' });
    assert.deepEqual(batch.busy.map((g) => g.name).sort(), [capable[0]!.name, capable[1]!.name].sort());
    assert.equal(batch.started.length, capable.length - 1);
    release();
    const ops = await Promise.all(batch.started.map((s) => (s.run.where === 'here' ? s.run.finished : assert.fail('no queue here'))));
    assert.ok(ops.every((o) => o.status === 'done'), ops.map((o) => `${o.status} ${o.detail}`).join('; '));
    assert.equal((await finished(held)).status, 'done');
    assert.ok(maxDown <= 3, `max ${maxDown} at once`);
    for (const s of batch.started) {
      assert.equal((await fleet.store.getGuestById(s.guest.id))!.current_type, 'pvh');
      assert.ok((await fleet.store.journalOf(s.operation.id)).some((e) => e.step === 'verify' && e.phase === 'done'));
    }
    assert.equal((await fleet.store.listAudit(1000)).filter((a) => a.action === 'switch').length, capable.length, 'one audit row per operation');
    await fleet.close();
  });

  test(`a second switch of a busy guest is refused; rollback undoes a finished switch; dry-run changes nothing (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const g = pick(sim, guests, true);
    const original = configOnHost(sim, g);
    const plan = await precheck(fleet.ctx, g, 'pvh');
    assert.ok(plan.ok);
    assert.match(plan.diff, /^\+type = "pvh"$/m);
    assert.equal(configOnHost(sim, g), original);
    // The first switch is held at its shutdown until the second has been asked for: a switch of
    // the simulator's guests takes milliseconds, and it must not end before the second comes.
    let asked!: () => void;
    const gate = new Promise<void>((resolve) => (asked = resolve));
    fleet.ctx.afterJournal = (_id, _seq, step, phase) => (step === 'shutdown' && phase === 'begin' ? gate : undefined);
    const first = await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' });
    const second = await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' });
    asked();
    delete fleet.ctx.afterJournal;
    assert.equal(second.kind, 'refused');
    assert.equal((await finished(first)).status, 'done');
    const rb = await finished(await startRollback(fleet.ctx, (await fleet.store.getGuestById(g.id))!, 'op'));
    assert.equal(rb.status, 'rolled-back', rb.detail ?? '');
    assert.equal(configOnHost(sim, g), original);
    const d = sim.state.domains[g.name]!;
    assert.equal(runningType({ ...d, state: 'running' }), 'pv');
    void domainName;
    await fleet.close();
  });

  test(`host policy: no PVH without hvm, no 32-bit PV without xen-3.0-x86_32p, (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup({ noHvm: true });
    const g = pick(sim, guests, true);
    const r = await finished(await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' }));
    assert.equal(r.status, 'refused');
    assert.match(r.reason!, /no hardware virtualisation/);
    await fleet.close();
  });

  test(`a stopped guest is switched and booted; a stopped guest whose boot fails gets its config back and stays stopped (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const ok = pick(sim, guests, true);
    const bad = pick(sim, guests, false, 'direct');
    delete sim.state.domains[ok.name];
    delete sim.state.domains[bad.name];
    const before = configOnHost(sim, bad);
    const op = await finished(await startSwitch(fleet.ctx, ok, 'pvh', { force: false, actor: 'op' }));
    assert.equal(op.status, 'done', op.detail ?? '');
    assert.equal(op.prior_state, 'stopped');
    assert.equal(sim.state.domains[ok.name]!.type, 'pvh');
    const stale = JSON.parse(bad.verdict!);
    stale.pvh = { capable: true, reason: 'stale' };
    await fleet.store.updateGuest(bad.id, { verdict: JSON.stringify(stale) });
    const rb = await finished(await startSwitch(fleet.ctx, (await fleet.store.getGuestById(bad.id))!, 'pvh', { force: false, actor: 'op' }));
    assert.equal(rb.status, 'rolled-back', rb.detail ?? '');
    assert.match(rb.reason!, /stays stopped/);
    assert.equal(sim.state.domains[bad.name], undefined);
    assert.equal(configOnHost(sim, bad), before);
    await fleet.close();
  });

  test(`--force overrides a kernel verdict (the boot fails and rolls back) but never the host policy (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const g = pick(sim, guests, false, 'direct');
    const before = configOnHost(sim, g);
    const op = await finished(await startSwitch(fleet.ctx, g, 'pvh', { force: true, actor: 'op' }));
    assert.equal(op.status, 'rolled-back', op.detail ?? '');
    assert.match(op.reason!, /kernel has no PVH support/);
    assert.equal(configOnHost(sim, g), before);
    assert.equal(sim.state.domains[g.name]!.type, 'pv');
    const j = await fleet.store.journalOf(op.id);
    assert.match(j.find((e) => e.step === 'pre-check' && e.phase === 'done')!.detail!, /--force overrides the inspection verdict \(kernel-no-pvh\)/);
    await fleet.close();
  });

  test(`scan warns about a running domain with no config, and skips pvhctl's own kept versions (${store.kind})`, async () => {
    const { fleet, sim } = await setup();
    sim.state.domains['handmade'] = { name: 'handmade', domid: 999, type: 'pv', pvshim: false, state: 'running', readyAt: 0, hung: false, shutdownAt: null, vbd: 1, vif: 1 };
    sim.state.files['/etc/xen/sim1-g0000.cfg.pvhctl-20261124T201500Z'] = sim.state.files['/etc/xen/sim1-g0000.cfg']!;
    sim.state.files['/etc/xen/xl.conf'] = Buffer.from('autoballoon="off"\n').toString('base64');
    const r = await fleet.scan((await fleet.store.getHost('sim1'))!);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, ['domain handmade runs but has no config in /etc/xen']);
    assert.equal(r.guests, 30);
    await fleet.close();
  });

  test(`populate-on-demand: a guest with memory < maxmem is refused for PVH in words, unless the operator sets maxmem = memory or accepts PoD (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const [a, b] = guests.filter((g) => sim.state.guests[g.name]!.kernel.pvh);
    for (const g of [a!, b!]) {
      const text = configOnHost(sim, g).replace(/^memory = 1024$/m, 'memory = 1024\nmaxmem = 4096');
      sim.state.files[g.config_path] = Buffer.from(text).toString('base64');
    }
    const before = configOnHost(sim, a!);
    const pre = await precheck(fleet.ctx, a!, 'pvh');
    assert.equal(pre.ok, false);
    assert.match(pre.ok ? '' : operatorRefusalWords(pre.refusal), /memory \(1024 MB\) is below maxmem \(4096 MB\): under PVH that makes it a populate-on-demand guest, which can crash with "out of PoD memory"; choose: maxmem = memory .* or accept populate-on-demand/);
    const refused = await startSwitch(fleet.ctx, a!, 'pvh', { force: false, actor: 'op' });
    const op = refused.kind === 'started' ? await refused.finished : assert.fail('not started');
    assert.equal(op.status, 'refused');
    // The customer is told why in words (memory that may grow, crashes), not "ask us to look at them".
    assert.equal(outcomeWords(op, 'customer'), 'The server starts with 1024 MB of memory but may grow to 4096 MB, which in PVH mode hands memory out on demand and can crash the server, so nothing was changed; ask us to fix its memory at 1024 MB, or to switch it anyway.');
    assert.equal(configOnHost(sim, a!), before, 'nothing changed');
    assert.equal(sim.state.domains[a!.name]!.type, 'pv');

    const fixed = await finished(await startSwitch(fleet.ctx, a!, 'pvh', { force: false, actor: 'op', pod: 'maxmem-equals-memory' }));
    assert.equal(fixed.status, 'done', fixed.detail ?? '');
    // The choice rides on the operation, which is all a worker elsewhere (or a resume) reads.
    assert.equal(fixed.pod, 'maxmem-equals-memory');
    assert.equal(op.pod, null);
    assert.match(configOnHost(sim, a!), /^maxmem = 1024$/m);
    assert.equal(sim.state.domains[a!.name]!.type, 'pvh');

    const accepted = await finished(await startSwitch(fleet.ctx, b!, 'pvh', { force: false, actor: 'op', pod: 'accept' }));
    assert.equal(accepted.status, 'done', accepted.detail ?? '');
    assert.match(configOnHost(sim, b!), /^maxmem = 4096$/m);
    await fleet.close();
  });

  test(`a switch's outcome is stored as a code with its parameters: switched, which check failed and the rollback, a failed rollback, an undo; worded per reader (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const [ok, panics, slow, lost] = guests.filter((g) => sim.state.guests[g.name]!.kernel.pvh);
    const params = (o: { reason_params: string | null }) => JSON.parse(o.reason_params!);

    const done = await finished(await startSwitch(fleet.ctx, ok!, 'pvh', { force: false, actor: 'op' }));
    assert.deepEqual([done.status, done.reason_code, params(done)], ['done', 'switched', { from: 'pv', to: 'pvh' }]);
    assert.equal(outcomeWords(done, 'customer'), 'The server now runs in PVH mode.');
    assert.equal(outcomeWords(done, 'operator'), 'switched: pv → pvh, verified');

    // The new type's boot fails a check: which check, what the rollback did.
    sim.state.guests[panics!.name]!.faults.push({ kind: 'panic', onType: 'pvh', count: 1 });
    const rb = await finished(await startSwitch(fleet.ctx, panics!, 'pvh', { force: false, actor: 'op' }));
    assert.equal(rb.status, 'rolled-back');
    assert.equal(rb.reason_code, 'rolled-back');
    const p = params(rb);
    assert.deepEqual([p.from, p.to, p.restarted, p.failure.kind], ['pv', 'pvh', true, 'verify']);
    assert.ok(['panic', 'crashed', 'domain-gone'].includes(p.failure.boot.check), JSON.stringify(p));
    assert.equal(rb.reason, outcomeWords(rb, 'customer'), 'the prose beside the code is the customer words');
    assert.match(outcomeWords(rb, 'customer'), /^The switch to PVH did not work: .*\. The server was restarted in PV mode with its settings unchanged\.$/);
    assert.match(outcomeWords(rb, 'operator'), new RegExp(`^rolled-back: verify failed \\(${p.failure.boot.check}\\): .+; config restored, restarted as pv and verified$`));
    const customer = outcomeView(rb, 'customer');
    assert.equal(customer.reason_code, 'rolled-back');
    assert.doesNotMatch(JSON.stringify(customer.reason_params), /detail|console/, 'customers get no operator detail');
    assert.equal((outcomeView(rb, 'operator').reason_params as { failure: { detail: string } }).failure.detail, p.failure.detail);

    sim.state.guests[slow!.name]!.faults.push({ kind: 'slow-shutdown', ms: 5000, count: 1 });
    const timedOut = await finished(await startSwitch(fleet.ctx, slow!, 'pvh', { force: false, actor: 'op' }));
    assert.deepEqual([timedOut.reason_code, params(timedOut).failure], ['rolled-back', { kind: 'shutdown-timeout', seconds: 0 }]);
    assert.match(outcomeWords(timedOut, 'operator'), /^rolled-back: xl shutdown -w did not finish within 0 s; no --force, so no destroy; config restored/);

    // The host goes away for good: the rollback fails too, the guest is left for an operator.
    sim.state.faults.push({ kind: 'host-reboot', afterCalls: 6, downCalls: 1000 });
    const attention = await finished(await startSwitch(fleet.ctx, lost!, 'pvh', { force: false, actor: 'op' }));
    assert.deepEqual([attention.status, attention.reason_code], ['needs-attention', 'rollback-failed']);
    assert.equal(params(attention).cause.kind, 'unreachable');
    assert.match(outcomeWords(attention, 'customer'), /^The server could not be brought back in PV mode automatically \(the host could not be reached\)\. Our team has been alerted/);
    assert.match(outcomeWords(attention, 'operator'), /^rollback-failed: .+; rollback failed: .+; the guest is left down or unchecked, marked needs-attention for an operator$/);
    assert.equal((await fleet.store.getGuestById(lost!.id))!.attention, outcomeWords(attention, 'customer'));

    sim.state.downCalls = 0;
    const undo = await finished(await startRollback(fleet.ctx, (await fleet.store.getGuestById(ok!.id))!, 'token:7'));
    assert.deepEqual([undo.status, undo.reason_code, params(undo)], ['rolled-back', 'undone', { from: 'pv', by: 'token:7' }]);
    assert.equal(outcomeWords(undo, 'customer'), 'The server was put back in PV mode with its earlier settings.');
    assert.deepEqual(outcomeView(undo, 'customer').reason_params, { from: 'pv' }, 'who asked is not for customers');
    await fleet.close();
  });

  test(`a switch journals a step's end with the next step's begin: 12 entries, in order, in 7 writes (${store.kind})`, async () => {
    const { fleet, sim, guests } = await setup();
    const g = pick(sim, guests, true);
    const writes: number[] = [];
    let transactions = 0;
    const tx = fleet.store.tx;
    fleet.store.tx = (fn) => (transactions++, tx(fn));
    const journalSteps = fleet.store.journalSteps;
    fleet.store.journalSteps = async (id, entries, ...rest) => {
      writes.push(entries.length);
      return journalSteps(id, entries, ...rest);
    };
    const op = await finished(await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'op' }));
    assert.equal(op.status, 'done', op.detail ?? '');
    const entries = await fleet.store.journalOf(op.id);
    assert.deepEqual(entries.map((e) => `${e.step} ${e.phase}`), ['pre-check', 'keep-config', 'shutdown', 'write-config', 'create', 'verify'].flatMap((s) => [`${s} begin`, `${s} done`]));
    assert.deepEqual(entries.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual(writes, [1, 2, 2, 2, 2, 2, 1]);
    // Beside the journal's: the config versions kept, and the end. The type it switches from goes with the pre-check's end.
    assert.equal(transactions, 2);
    assert.equal(op.from_type, 'pv');
    await fleet.close();
  });
}
