/**
 * A customer's power action from the Xen Shell and an operator's switch on the same guest at
 * once: they go through the same one-operation-per-guest rule, so exactly one acts on the guest
 * and the other is refused in words. Run on both stores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventBus } from '../fleet/events.ts';
import { openFleet, type Fleet } from '../fleet/fleet.ts';
import { startSwitch } from '../fleet/switch.ts';
import { customerRefusalWords } from '../fleet/reasons.ts';
import type { Guest } from '../store/schema.ts';
import type { SimHost } from '../drivers/sim/world.ts';
import { STORES } from '../../test/support/stores.ts';
import { fleetBackend, type Result, type ShellBackend } from './backend.ts';
import { simOf } from '../drivers/sim/driver.ts';

/** What one side did: acted on the guest, or was refused (with the words it was refused in). */
type Side = { ran: true; status: string } | { ran: false; words: string };

const fromShell = (r: Result<string>): Side => (r.ok ? { ran: true, status: 'done' } : /in progress/i.test(r.error) ? { ran: false, words: r.error } : { ran: true, status: `failed: ${r.error}` });

async function switchSide(fleet: Fleet, g: Guest): Promise<Side> {
  const r = await startSwitch(fleet.ctx, g, 'pvh', { force: false, actor: 'operator' });
  if (r.kind === 'refused') return { ran: false, words: customerRefusalWords(r.refusal) };
  return { ran: true, status: (await r.finished).status };
}

for (const store of STORES) {
  async function setup(): Promise<{ fleet: Fleet; sim: SimHost; backend: ShellBackend; guests: Guest[] }> {
    const hub = eventBus();
    const fleet = await openFleet({ dataDir: ':memory:', store: await store.location(), onEvent: hub.emit, verify: { bootTimeoutMs: 2000, pollMs: 2 }, shutdownTimeoutMs: 2000 });
    const host = await fleet.store.addHost({
      name: 'sim1', transport: 'sim', endpoint: JSON.stringify({ guests: 8, seed: 21, pvOnly: 0, bootMs: 5, shutdownMs: 200 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 4,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    await fleet.scan(host);
    const sim = simOf(fleet.hosts.driverFor(host))!;
    const guests = await fleet.store.listGuests();
    for (const g of guests) await fleet.store.updateGuest(g.id, { owner: 'alice' });
    return { fleet, sim, backend: fleetBackend(fleet, hub), guests: await fleet.store.listGuests() };
  }

  /** Exactly one side ran; the other was refused with a sentence, not a code. */
  const exactlyOne = (power: Side, sw: Side) => {
    assert.equal([power, sw].filter((s) => s.ran).length, 1, `power: ${JSON.stringify(power)}; switch: ${JSON.stringify(sw)}`);
    const refused = (power.ran ? sw : power) as { words: string };
    assert.match(refused.words, /^[A-Za-z].* in progress/);
    assert.doesNotMatch(refused.words, /\bbusy\b|operation \d|[A-Z_]{4,}/);
    const ran = (power.ran ? power : sw) as { status: string };
    assert.equal(ran.status, 'done');
  };

  test(`a reboot from the shell while a switch runs is refused in words, and the reverse (${store.kind})`, async () => {
    const { fleet, sim, backend, guests } = await setup();
    try {
      // The reboot has begun acting (its first step is under way) when the switch is asked for.
      const g1 = guests[0]!;
      const domid = sim.state.domains[g1.name]!.domid;
      let sw1: Promise<Side> | null = null;
      const power1 = fromShell(await backend.power('alice', g1.name, 'reboot', () => void (sw1 ??= switchSide(fleet, g1))));
      assert.ok(sw1 !== null, 'the reboot reported its progress');
      exactlyOne(power1, await sw1!);
      assert.equal(power1.ran, true);
      assert.notEqual(sim.state.domains[g1.name]!.domid, domid, 'rebooted');
      assert.equal(sim.state.domains[g1.name]!.type, 'pv', 'not switched');

      // The switch has begun (its operation exists) when the customer asks for a reboot.
      const g2 = guests[1]!;
      const r = await startSwitch(fleet.ctx, g2, 'pvh', { force: false, actor: 'operator' });
      assert.equal(r.kind, 'started');
      const power2 = fromShell(await backend.power('alice', g2.name, 'reboot', () => {}));
      exactlyOne(power2, { ran: true, status: r.kind === 'started' ? (await r.finished).status : 'refused' });
      assert.equal(sim.state.domains[g2.name]!.type, 'pvh', 'switched');

      // Asked for in the same tick, in both orders.
      for (const [i, g] of [guests[2]!, guests[3]!].entries()) {
        const power = () => backend.power('alice', g.name, 'reboot', () => {}).then(fromShell);
        const [p, s] = i === 0 ? await Promise.all([power(), switchSide(fleet, g)]) : ((await Promise.all([switchSide(fleet, g), power()])).reverse() as [Side, Side]);
        exactlyOne(p, s);
      }
      assert.deepEqual(await fleet.store.unfinishedOperations(), []);
      // The power actions are operations in the journal like the switches.
      const kinds = (await fleet.store.listOperations({ guestId: g1.id })).map((o) => `${o.kind}:${o.status}`);
      assert.deepEqual(kinds, ['reboot:done']);
      const steps = (await fleet.store.journalOf((await fleet.store.listOperations({ guestId: g1.id }))[0]!.id)).map((j) => `${j.step}:${j.phase}`);
      assert.deepEqual(steps, ['power-stop:begin', 'power-stop:done', 'power-start:begin', 'power-start:done']);
    } finally {
      await fleet.close();
    }
  });
}
