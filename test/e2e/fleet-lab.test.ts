/**
 * The control plane end to end against the Xen lab (real Xen 4.17 under QEMU, reached over real
 * SSH with the xl driver): discover and scan the lab host, switch the PV-GRUB and the direct-kernel
 * guests to PVH (the guest itself reports PVH on its console), see the guest whose kernel lacks
 * PVH refused, and with --force fail to boot and roll back to PV with its config byte-identical,
 * and switch the 32-bit guest, which this Xen cannot run as PV at all.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labExec, type LabEndpoint } from '../../lab/lab.ts';
import { PVH_ATTEMPTS, SWITCH_BOOT_DIED, withRetries } from '../../lab/retries.ts';
import { attachLab, guestConsole, markerAfter as markerOf, type AttachedLab } from '../support/lab.ts';
import { bootGuest } from '../../lab/guest-boot.ts';
import { openFleet, type Fleet } from '../../src/fleet/fleet.ts';
import { startSwitch } from '../../src/fleet/switch.ts';
import type { GuestVerdict } from '../../src/fleet/seams.ts';
import type { Operation } from '../../src/store/schema.ts';

let lab: LabEndpoint;
let attached: AttachedLab | undefined;
let fleet: Fleet;
const dir = mkdtempSync(join(tmpdir(), 'pvhctl-e2e-'));

before(async () => {
  attached = await attachLab();
  lab = attached.lab;
  // The PV guests run as a customer's would before the campaign: started from their configs.
  for (const name of ['pvgrub64', 'direct64', 'nopvh']) {
    const r = await withRetries(lab, `fleet-lab.test.ts: ${name} PV boot`, 2, () => bootGuest(lab, name, `/etc/xen/${name}.cfg`, 180), (b) => (b.kind === 'marker' ? null : b.kind));
    assert.equal(r.kind, 'marker', `${name} did not boot as PV: ${JSON.stringify(r).slice(0, 400)}`);
  }
  fleet = await openFleet({ dataDir: dir, verify: { bootTimeoutMs: 240_000, pollMs: 2000 }, shutdownTimeoutMs: 60_000 });
  await fleet.store.addHost({
    name: 'lab', transport: 'ssh', endpoint: `root@127.0.0.1:${lab.port}`, key_path: lab.keyPath, host_key: lab.hostKey, config_dir: '/etc/xen',
    role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
});

after(async () => {
  await fleet?.close();
  await attached?.release();
  rmSync(dir, { recursive: true, force: true });
});

const guest = async (name: string) => (await fleet.store.getGuest(name))[0]!;
const verdict = async (name: string) => JSON.parse((await guest(name)).verdict!) as GuestVerdict;
const configInDom0 = async (name: string) => (await labExec(lab, `cat /etc/xen/${name}.cfg`)).stdout;
const consoleOf = (name: string) => guestConsole(lab, name);
const markerAfter = (name: string, before: string) => markerOf(lab, name, before);

/**
 * Switches; a switch whose PVH boot died is retried (PVH_ATTEMPTS in all), each retry recorded.
 * Returns the last operation and the guest's console log as it was just before that attempt:
 * a failed attempt's rollback boots the guest as PV, and its PV marker must not be taken for
 * the marker of the attempt that counts.
 */
async function switchTo(t: TestContext, name: string, to: 'pvh' | 'pvh-shim', force: boolean): Promise<{ op: Operation; log: string }> {
  return withRetries(lab, `fleet-lab.test.ts: ${name} switch to ${to}`, PVH_ATTEMPTS, async () => {
    const log = await consoleOf(name);
    const r = await startSwitch(fleet.ctx, await guest(name), to, { force, actor: 'e2e' });
    assert.equal(r.kind, 'started', r.kind === 'refused' ? r.refusal.code : '');
    return { op: await (r as { finished: Promise<Operation> }).finished, log };
  }, ({ op }) => (op.status !== 'done' && SWITCH_BOOT_DIED.test(op.reason ?? '') ? `PVH boot died (${op.reason}; ${op.detail})` : null), (line) => t.diagnostic(line));
}

test('discover and scan the lab host over SSH: capabilities, guests, verdicts from kernels and disks', async () => {
  const r = await fleet.scan((await fleet.store.getHost('lab'))!);
  const host = (await fleet.store.getHost('lab'))!;
  assert.match(host.xen_version!, /^4\.17/);
  assert.match(host.virt_caps!, /\bhvm\b/);
  assert.doesNotMatch(host.xen_caps!, /xen-3\.0-x86_32p/);
  const names = (await fleet.store.listGuests()).map((g) => g.name).sort();
  for (const n of ['direct64', 'nopvh', 'pae32', 'pvgrub64']) assert.ok(names.includes(n), `${n} not discovered (${names.join(' ')}; ${r.errors.join('; ')})`);
  assert.equal((await guest('pvgrub64')).current_type, 'pv');
  const pvgrub = await verdict('pvgrub64');
  assert.equal(pvgrub.source, 'disk');
  assert.ok(pvgrub.pvh.capable, pvgrub.pvh.reason);
  const direct = await verdict('direct64');
  assert.equal(direct.source, 'kernel');
  assert.ok(direct.pvh.capable && direct.pv.capable);
  const nopvh = await verdict('nopvh');
  assert.ok(nopvh.pv.capable && !nopvh.pvh.capable, nopvh.pvh.reason);
  const pae = await verdict('pae32');
  assert.ok(pae.pvh.capable && !pae.pv.capable, `${pae.source}: ${pae.pvh.reason}`);
  assert.equal(pae.arch, 'x86_32p');
});

for (const name of ['pvgrub64', 'direct64']) {
  test(`${name}: PV → PVH, verified, and the guest itself reports PVH`, async (t) => {
    const { op, log } = await switchTo(t, name, 'pvh', true);
    assert.equal(op.status, 'done', `${op.reason} (${op.detail})`);
    assert.equal((await markerAfter(name, log))?.guestType, 'PVH');
    assert.match(await configInDom0(name), /^type = "pvh"$/m);
    assert.equal((await guest(name)).current_type, 'pvh');
  });
}

test('nopvh: refused by the pre-check; forced, its PVH boot fails and it rolls back to PV, config byte-identical', async (t) => {
  const before = await configInDom0('nopvh');
  const refused = await startSwitch(fleet.ctx, await guest('nopvh'), 'pvh', { force: false, actor: 'e2e' });
  assert.equal(refused.kind, 'started');
  const r0 = await (refused as { finished: Promise<Operation> }).finished;
  assert.equal(r0.status, 'refused');
  const { op, log } = await switchTo(t, 'nopvh', 'pvh', true);
  assert.equal(op.status, 'rolled-back', `${op.reason} (${op.detail})`);
  assert.match(op.reason!, /kernel has no PVH support/);
  assert.equal(await configInDom0('nopvh'), before);
  assert.equal((await markerAfter('nopvh', log))?.guestType, 'PV');
  assert.equal((await guest('nopvh')).current_type, 'pv');
});

test('pae32: a 32-bit guest this Xen cannot run as PV (no xen-3.0-x86_32p) is switched to PVH', async (t) => {
  const { op, log } = await switchTo(t, 'pae32', 'pvh', false);
  assert.equal(op.status, 'done', `${op.reason} (${op.detail})`);
  assert.equal((await markerAfter('pae32', log))?.guestType, 'PVH');
  assert.match(await configInDom0('pae32'), /^type = "pvh"$/m);
  assert.equal((await guest('pae32')).current_type, 'pvh');
});
