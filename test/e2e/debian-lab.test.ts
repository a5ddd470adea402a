/**
 * Real Debian systems on the Xen lab (lab/debian.ts: mmdebstrap, systemd, a getty on hvc0, grub.cfg
 * from the system's own update-grub with Debian's stock command line), as a customer has them: the
 * system boots as PV through PV GRUB as shipped; pvhctl rehearses it as PVH on a snapshot of its LV
 * while it keeps running (same domid), then switches it to PVH through the fleet and the SSH
 * driver; its own userland (pvhctl-lab-report.service reading /sys/hypervisor/guest_type) says
 * PVH, and its kernel command line is still the stock one (no console= added).
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labExec, type LabEndpoint } from '../../lab/lab.ts';
import { PVH_ATTEMPTS, SWITCH_BOOT_DIED, withRetries } from '../../lab/retries.ts';
import { bootGuest } from '../../lab/guest-boot.ts';
import { DEBIAN_ENV, findCmdline, findMarker, labDebianGuests, VG } from '../../lab/guests.ts';
import { addLabHost, attachLab, rehearsalCleanupScript, type AttachedLab } from '../support/lab.ts';
import { openFleet, type Fleet } from '../../src/fleet/fleet.ts';
import { startRehearsal } from '../../src/fleet/rehearse.ts';
import { operatorRefusalWords } from '../../src/fleet/reasons.ts';
import { startSwitch } from '../../src/fleet/switch.ts';
import type { Rehearsal } from '../../src/store/rehearsals.ts';
import type { Operation } from '../../src/store/schema.ts';

let lab: LabEndpoint;
let attached: AttachedLab | undefined;
let fleet: Fleet;
const dir = mkdtempSync(join(tmpdir(), 'pvhctl-e2e-debian-'));
const NAMES = labDebianGuests().map((g) => g.name);
/** Run unless the lab was built without its Debian guests (PVHCTL_LAB_DEBIAN=0, lab/guests.ts labDebianGuests). */
const SKIP = NAMES.length > 0 ? false : `${DEBIAN_ENV}=0: this lab was built without its real Debian guests`;
/** A systemd boot through PV GRUB under nested TCG: GRUB reads kernel and initramfs at 0.1-2 MiB/s. */
const BOOT_S = 900;

async function dom0(command: string, timeoutMs = 60_000): Promise<string> {
  const r = await labExec(lab, command, timeoutMs);
  assert.equal(r.code, 0, `dom0: ${command}: ${r.stderr}`);
  return r.stdout;
}

const consoleOf = (name: string) => dom0(`cat /var/log/xen/console/guest-${name}.log 2>/dev/null; true`);
const guest = async (name: string) => (await fleet.store.getGuest(name))[0]!;

/** What the guest's userland printed after `before` (its console log as it was): its marker and command line, waited for. */
async function reportAfter(name: string, before: string, waitMs = 600_000) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const now = await consoleOf(name);
    const fresh = now.startsWith(before) ? now.slice(before.length) : now;
    // The unit prints the marker, then the command line: both, or the deadline.
    const m = findMarker(fresh);
    const line = findCmdline(fresh);
    if ((m !== null && line !== null) || Date.now() > deadline) return { marker: m, cmdline: line };
    await new Promise((r) => setTimeout(r, 5000));
  }
}

before(async () => {
  if (SKIP !== false) return;
  attached = await attachLab();
  lab = attached.lab;
  for (const name of NAMES) {
    const t0 = Date.now();
    const r = await withRetries(lab, `debian-lab.test.ts: ${name} PV boot`, 3, () => bootGuest(lab, name, `/etc/xen/${name}.cfg`, BOOT_S), (b) => (b.kind === 'marker' ? null : b.kind));
    assert.equal(r.kind, 'marker', `${name} did not boot as PV: ${JSON.stringify(r).slice(-2000)}`);
    process.stderr.write(`debian-lab: ${name} PV boot (PV GRUB to its systemd unit's marker) ${Date.now() - t0} ms\n`);
  }
  fleet = await openFleet({ dataDir: dir, verify: { bootTimeoutMs: BOOT_S * 1000, pollMs: 3000 }, shutdownTimeoutMs: 180_000 });
  await addLabHost(fleet, lab);
});

after(async () => {
  if (lab !== undefined) {
    await labExec(lab, rehearsalCleanupScript(VG)).catch(() => {});
  }
  await fleet?.close();
  await attached?.release();
  rmSync(dir, { recursive: true, force: true });
});

if (SKIP !== false) test('the real Debian guests: booted PV, rehearsed, switched to PVH', { skip: SKIP }, () => {});

for (const name of NAMES) {
  test(`${name}: booted as PV by PV GRUB as shipped, its systemd unit says PV; its grub.cfg is update-grub's, stock command line`, async () => {
    const log = await consoleOf(name);
    const m = findMarker(log);
    assert.equal(m?.guestType, 'PV');
    assert.equal(m?.disk, name);
    const line = findCmdline(log);
    assert.ok(line !== null, 'the unit printed the kernel command line');
    // GRUB's x86 Linux loader puts BOOT_IMAGE= first; its Xen loader passes the arguments alone.
    assert.match(line, /^(BOOT_IMAGE=\/boot\/vmlinuz-\S+ )?root=UUID=[0-9a-f-]{36} ro\s+quiet\s*$/, 'Debian\'s stock line from update-grub');
    assert.doesNotMatch(line, /console=/);
    assert.match(log, /Debian GNU\/Linux 12 \S+ hvc0/, 'the getty on hvc0 printed its login banner');
  });

  test(`${name}: rehearsed as PVH on a snapshot of its LV while it runs: passes, the guest keeps its domid`, async (t: TestContext) => {
    const domid = (await dom0(`xl domid ${name}`)).trim();
    const t0 = Date.now();
    const r = await withRetries(lab, `debian-lab.test.ts: ${name} rehearsal`, PVH_ATTEMPTS, async () => {
      const req = await startRehearsal(fleet.ctx, await guest(name), { actor: 'e2e' });
      assert.equal(req.kind, 'started', req.kind === 'refused' ? req.reason : '');
      return (req as { finished: Promise<Rehearsal> }).finished;
    }, (x) => (x.status === 'failed' && x.step === 'verify' && SWITCH_BOOT_DIED.test(x.reason ?? '') ? `PVH boot died (${x.reason}; ${x.detail})` : null), (l) => t.diagnostic(l));
    t.diagnostic(`rehearsal ${Date.now() - t0} ms`);
    assert.equal(r.status, 'passed', `${r.step}: ${r.reason} (${r.detail})\n${r.console_tail ?? ''}`);
    assert.equal((await dom0(`xl domid ${name}`)).trim(), domid, 'the guest kept running while the rehearsal ran');
    assert.equal((await dom0(`lvs --noheadings -o lv_name ${VG} | grep pvhctl-rehearse- || true`)).trim(), '', 'no snapshot left');
    assert.equal((await guest(name)).current_type, 'pv');
  });

  test(`${name}: switched to PVH by the control plane; its own userland says PVH, with the stock command line`, async (t: TestContext) => {
    const t0 = Date.now();
    const { op, log } = await withRetries(lab, `debian-lab.test.ts: ${name} switch to pvh`, PVH_ATTEMPTS, async () => {
      const log = await consoleOf(name);
      const s = await startSwitch(fleet.ctx, await guest(name), 'pvh', { force: false, actor: 'e2e' });
      assert.equal(s.kind, 'started', s.kind === 'refused' ? operatorRefusalWords(s.refusal) : '');
      return { op: await (s as { finished: Promise<Operation> }).finished, log };
    }, ({ op }) => (op.status !== 'done' && SWITCH_BOOT_DIED.test(op.reason ?? '') ? `PVH boot died (${op.reason}; ${op.detail})` : null), (l) => t.diagnostic(l));
    t.diagnostic(`switch ${Date.now() - t0} ms`);
    assert.equal(op.status, 'done', `${op.reason} (${op.detail})`);
    const seen = await reportAfter(name, log);
    assert.equal(seen.marker?.guestType, 'PVH', 'guest_type from the guest\'s own systemd unit');
    assert.equal(seen.marker?.disk, name);
    assert.ok(seen.cmdline !== null && !seen.cmdline.includes('console='), `stock command line: ${seen.cmdline}`);
    assert.match(await dom0(`cat /etc/xen/${name}.cfg`), /^type = "pvh"$/m);
    assert.equal((await guest(name)).current_type, 'pvh');
  });
}
