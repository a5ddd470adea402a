/**
 * Rehearsal end to end against the Xen lab (real Xen 4.17 under QEMU, real LVM snapshots in dom0,
 * reached over real SSH with the xl driver): a guest running as PV is test-booted as PVH in the
 * throwaway domain pvhctl-rehearse-NAME on a snapshot of its own LV, and keeps running untouched
 * (same domid, its LV's bytes and device-mapper table unchanged); the guest whose kernel lacks
 * PVH is refused by the verdict and, forced through `pvhctl rehearse --force`, fails at Xen's
 * refusal; a volume group without free extents is "cannot rehearse". Nothing is ever left behind.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { labExec, type LabEndpoint } from '../../lab/lab.ts';
import { PVH_ATTEMPTS, SWITCH_BOOT_DIED, withRetries } from '../../lab/retries.ts';
import { bootGuest } from '../../lab/guest-boot.ts';
import { findMarker, VG, type Marker } from '../../lab/guests.ts';
import { addLabHost, attachLab, rehearsalCleanupScript, type AttachedLab } from '../support/lab.ts';
import { openFleet, type Fleet } from '../../src/fleet/fleet.ts';
import { startRehearsal } from '../../src/fleet/rehearse.ts';
import { customerMessage, rehearsalConfigPath, rehearsalName } from '../../src/fleet/rehearse-plan.ts';
import type { Rehearsal } from '../../src/store/rehearsals.ts';

const run = promisify(execFile);
const FILLER = 'pvhctl-test-filler';

let lab: LabEndpoint;
let attached: AttachedLab | undefined;
let fleet: Fleet;
const dir = mkdtempSync(join(tmpdir(), 'pvhctl-e2e-rehearse-'));

/** Runs a dom0 command that must succeed; its stdout. */
async function dom0(command: string, timeoutMs = 60_000): Promise<string> {
  const r = await labExec(lab, command, timeoutMs);
  assert.equal(r.code, 0, `dom0: ${command}: ${r.stderr}`);
  return r.stdout;
}

/** Everything a rehearsal could leave in dom0: its domains, snapshot LVs, config files. Empty when none. */
const leftovers = () =>
  dom0(`{ xl list | awk '{ print $1 }' | grep '^pvhctl-rehearse-'; lvs --noheadings -o lv_name ${VG} | grep pvhctl-rehearse-; ls -a /etc/xen | grep pvhctl-rehearse-; } | sed 's/^ *//'; true`);

/** The running guest as dom0 sees it: domid, its LV's bytes (md5), attributes and device-mapper table. */
const guestState = (name: string) =>
  dom0(`xl domid ${name}; md5sum /dev/${VG}/${name} | cut -d' ' -f1; lvs --noheadings -o lv_attr,lv_size ${VG}/${name}; dmsetup table ${VG}-${name}`);

before(async () => {
  attached = await attachLab();
  lab = attached.lab;
  // The guests run as PV, as a customer's do before a campaign.
  for (const name of ['direct64', 'nopvh']) {
    const r = await withRetries(lab, `rehearse-lab.test.ts: ${name} PV boot`, 2, () => bootGuest(lab, name, `/etc/xen/${name}.cfg`, 180), (b) => (b.kind === 'marker' ? null : b.kind));
    assert.equal(r.kind, 'marker', `${name} did not boot as PV: ${JSON.stringify(r).slice(0, 400)}`);
  }
  fleet = await openFleet({ dataDir: dir, verify: { bootTimeoutMs: 240_000, pollMs: 2000 }, shutdownTimeoutMs: 60_000 });
  await addLabHost(fleet, lab);
});

after(async () => {
  // Whatever a failed test left: the filler LV, and any rehearsal snapshot (guests are reset by the next suite).
  if (lab !== undefined) {
    await labExec(lab, rehearsalCleanupScript(VG, FILLER)).catch(() => {});
  }
  await fleet?.close();
  await attached?.release();
  rmSync(dir, { recursive: true, force: true });
});

const guest = async (name: string) => (await fleet.store.getGuest(name))[0]!;

/** What the test saw of the rehearsal domain while it ran (right after verification passed). */
type Seen = { type: string; nics: number; disks: string[]; onReboot: string; onCrash: string; config: string; lvs: string; marker: Marker | null; guestDomid: string };

/**
 * Rehearses `name` (retried when its PVH boot died, PVH_ATTEMPTS in all, each retry recorded),
 * looking at dom0 once verification has passed and before the domain is destroyed.
 */
async function rehearseWatched(t: TestContext, name: string): Promise<{ r: Rehearsal; seen: Seen | null; seenError: string | null }> {
  const rname = rehearsalName(name);
  return withRetries(lab, `rehearse-lab.test.ts: ${name} rehearsal`, PVH_ATTEMPTS, async () => {
    let seen: Seen | null = null;
    let seenError: string | null = null;
    fleet.ctx.afterJournal = async (_id, _seq, step, phase) => {
      if (step !== 'verify' || phase !== 'done') return;
      try {
        const list = JSON.parse(await dom0(`xl list -l ${rname}`)) as { config: Record<string, any> }[];
        const c = list[0]!.config;
        t.diagnostic(`xl list -l ${rname}: ${JSON.stringify({ c_info: c.c_info, disks: c.disks, nics: c.nics, on_reboot: c.on_reboot, on_crash: c.on_crash })}`);
        // The guest's own word, from its userland (the lab init reads /sys/hypervisor/guest_type and its disk).
        let marker: Marker | null = null;
        for (let i = 0; i < 30 && marker === null; i++) {
          marker = findMarker(await dom0(`cat /var/log/xen/console/guest-${rname}.log 2>/dev/null; true`));
          if (marker === null) await new Promise((res) => setTimeout(res, 2000));
        }
        seen = {
          type: String(c.c_info?.type),
          nics: (c.nics ?? []).length,
          disks: (c.disks ?? []).map((d: { pdev_path: string }) => d.pdev_path),
          onReboot: String(c.on_reboot), onCrash: String(c.on_crash),
          config: await dom0(`cat ${rehearsalConfigPath('/etc/xen', name)}`),
          lvs: await dom0(`lvs --noheadings --separator : -o lv_name,origin,lv_attr ${VG}/${rname}-xvda`),
          marker,
          guestDomid: (await dom0(`xl domid ${name}`)).trim(),
        };
      } catch (err) {
        seenError = String(err);
      }
    };
    try {
      const req = await startRehearsal(fleet.ctx, await guest(name), { actor: 'e2e' });
      assert.equal(req.kind, 'started', req.kind === 'refused' ? req.reason : '');
      return { r: await (req as { finished: Promise<Rehearsal> }).finished, seen, seenError };
    } finally {
      delete fleet.ctx.afterJournal;
    }
  }, ({ r }) => (r.status === 'failed' && r.step === 'verify' && SWITCH_BOOT_DIED.test(r.reason ?? '') ? `PVH boot died (${r.reason}; ${r.detail})` : null), (line) => t.diagnostic(line));
}

test('direct64, running as PV: test-booted as PVH on a snapshot of its LV in pvhctl-rehearse-direct64 (no vif, destroy on reboot and crash), verified; it keeps running untouched and nothing is left', async (t) => {
  const before = await guestState('direct64');
  const domid = before.split('\n')[0]!;
  const { r, seen, seenError } = await rehearseWatched(t, 'direct64');
  assert.equal(r.status, 'passed', `${r.step}: ${r.reason} (${r.detail})\n${r.console_tail ?? ''}`);
  assert.equal(seenError, null);
  assert.ok(seen !== null, 'the rehearsal domain was seen after verification');
  const s = seen as Seen;
  const snap = `/dev/${VG}/pvhctl-rehearse-direct64-xvda`;
  assert.equal(s.type, 'pvh');
  assert.equal(s.nics, 0, 'no network interface');
  assert.deepEqual(s.disks, [snap]);
  // xl list -l (libxl's JSON) leaves these out here; the config xl create read says them.
  assert.ok(['undefined', 'destroy'].includes(s.onReboot) && ['undefined', 'destroy'].includes(s.onCrash), `${s.onReboot} ${s.onCrash}`);
  assert.match(s.config, /^on_reboot = "destroy"$/m);
  assert.match(s.config, /^on_crash = "destroy"$/m);
  assert.match(s.config, /^type = "pvh"$/m);
  assert.match(s.config, new RegExp(`target=${snap}"`));
  assert.doesNotMatch(s.config, /^vif\b/m);
  assert.match(s.lvs.trim(), /^pvhctl-rehearse-direct64-xvda:direct64:s/, 'an LVM snapshot of the guest LV');
  // The guest's userland (its init) booted from the snapshot and says PVH, and which disk it mounted.
  assert.equal(s.marker?.guestType, 'PVH', 'marker of the rehearsal domain');
  assert.equal(s.marker?.disk, 'direct64');
  assert.equal(s.guestDomid, domid, 'the guest kept running while the rehearsal ran');
  assert.match(customerMessage(r), /^Your server was test-booted in PVH mode on a copy of its disk on \d{4}-\d\d-\d\d: it came up\./);
  assert.equal(await guestState('direct64'), before, 'same domid, same LV bytes, attributes and dm table');
  assert.equal(await leftovers(), '');
  assert.equal((await guest('direct64')).current_type, 'pv');
});

test('nopvh: refused by its verdict with nothing made; forced with `pvhctl rehearse --force`, it fails at Xen\'s refusal, keeps running, and nothing is left', async () => {
  const before = await guestState('nopvh');
  const req = await startRehearsal(fleet.ctx, await guest('nopvh'), { actor: 'e2e' });
  assert.equal(req.kind, 'started');
  const refused = await (req as { finished: Promise<Rehearsal> }).finished;
  assert.equal(refused.status, 'cannot-rehearse');
  assert.equal(refused.step, 'plan');
  assert.equal(refused.rule, 'refused');
  assert.equal(await leftovers(), '');
  // The CLI, on the same data directory, against the lab over SSH: exit 3, the step and Xen's reason.
  const cli = await run(process.execPath, ['bin/pvhctl.js', 'rehearse', 'nopvh', '--force', '--data-dir', dir], { timeout: 600_000 })
    .then(() => ({ code: 0, out: '' }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }));
  assert.equal(cli.code, 3, cli.out);
  assert.match(cli.out, /nopvh: failed at create: Your server was test-booted in PVH mode on a copy of its disk on .*: it did not come up/);
  assert.match(cli.out, /detail .*image not capable of booting inside a HVM container/);
  assert.equal(await guestState('nopvh'), before, 'same domid, same LV bytes, attributes and dm table');
  assert.equal(await leftovers(), '');
});

test('a volume group without free extents: cannot rehearse, with why, and nothing made', async () => {
  await dom0(`lvcreate -q -y -Z n -W n -l 100%FREE -n ${FILLER} ${VG}`);
  try {
    const req = await startRehearsal(fleet.ctx, await guest('direct64'), { actor: 'e2e' });
    assert.equal(req.kind, 'started');
    const r = await (req as { finished: Promise<Rehearsal> }).finished;
    assert.equal(r.status, 'cannot-rehearse');
    assert.equal(r.rule, 'vg-full');
    assert.match(r.reason!, /^volume group vg0 has 0 free extents \(0 MiB\) and the snapshots need 8 \(32 MiB\)$/);
    assert.match(customerMessage(r), /could not be test-booted in PVH mode on .*: its host has no room for a copy of its disks right now\. /);
    assert.equal(await leftovers(), '');
  } finally {
    await dom0(`lvremove -f ${VG}/${FILLER}`);
  }
});
