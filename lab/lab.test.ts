/**
 * The Xen lab, end to end: one lab boot (real Xen 4.17 under QEMU), the run's shared one or this
 * file's own (test/support/lab.ts); everything is checked over real SSH in dom0 with the real
 * `xl`. Guests boot one at a time. A PVH boot that dies is retried (QEMU nested-SVM flake,
 * lab/retries.ts); each retry is reported as a test diagnostic and in the run's retries.log.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { bootGuest, destroyGuest, type GuestBootResult } from './guest-boot.ts';
import { GRUB, GUESTS, labDebianGuests, VG, pvhEditScript, type BootExpectation, type LabGuest } from './guests.ts';
import { PVH_ATTEMPTS, withRetries } from './retries.ts';
import { collectLogs, labExec, type LabEndpoint } from './lab.ts';
import { attachLab, type AttachedLab } from '../test/support/lab.ts';
import { printable } from '../src/util/escape.ts';

let lab: LabEndpoint;
let attached: AttachedLab | undefined;
const timings: string[] = [];

before(async () => {
  attached = await attachLab();
  lab = attached.lab;
  timings.push(attached.shared ? `attached to the run's lab, reset in ${attached.startMs} ms` : `lab started, toolstack up in ${attached.startMs} ms`);
});

after(async () => {
  await attached?.release();
  if (attached !== undefined) process.stderr.write(`lab timings:\n  ${timings.join('\n  ')}\nlab logs: ${join(lab.runDir, 'logs')}\n`);
});

function describeBoot(r: GuestBootResult): string {
  const text = r.kind === 'marker' ? JSON.stringify(r.marker) : r.kind === 'hang' ? `vbd state ${r.vbdState}` : r.output + ('console' in r ? r.console : '');
  return `${r.kind} after ${r.ms} ms: ${printable(text.slice(-1200))}`;
}

/** Boots; a PVH boot that died is retried (up to PVH_ATTEMPTS in all), each retry recorded. */
async function boot(t: TestContext, g: LabGuest, cfg: string, pvh: boolean, waitS = 300): Promise<GuestBootResult> {
  const what = `${g.name} ${pvh ? 'PVH' : 'as shipped'}`;
  return withRetries(lab, `lab.test.ts: ${what} boot`, pvh ? PVH_ATTEMPTS : 1, async (n) => {
    const r = await bootGuest(lab, g.name, cfg, waitS);
    timings.push(`${what}${n > 1 ? ` (attempt ${n})` : ''}: ${r.kind} in ${r.ms} ms`);
    return r;
  }, (r) => (r.kind === 'died' ? `died (${describeBoot(r).slice(0, 300)})` : null), (line) => t.diagnostic(line));
}

test('xl info shows HAP, and no 32-bit PV ABI (xen-3.0-x86_32p)', async () => {
  const r = await labExec(lab, 'xl info');
  assert.equal(r.code, 0, r.stderr);
  const caps = /^virt_caps\s*:\s*(.*)$/m.exec(r.stdout)?.[1] ?? '';
  assert.match(caps, /\bhap\b/, `virt_caps: ${caps}`);
  assert.match(caps, /\bpv\b/);
  const xenCaps = /^xen_caps\s*:\s*(.*)$/m.exec(r.stdout)?.[1] ?? '';
  assert.match(xenCaps, /xen-3\.0-x86_64/);
  assert.doesNotMatch(xenCaps, /xen-3\.0-x86_32p/);
});

test('every guest disk is an LVM volume in dom0 and every config uses it as phy:', async () => {
  const r = await labExec(lab, `lvm lvs --noheadings -o lv_name,vg_name ${VG}; for g in /etc/xen/*.cfg; do grep -H '^disk' "$g"; done`);
  assert.equal(r.code, 0, r.stderr);
  for (const g of [...GUESTS, ...labDebianGuests()]) {
    assert.match(r.stdout, new RegExp(`^\\s*${g.name}\\s+${VG}\\s*$`, 'm'));
    assert.ok(r.stdout.includes(`/etc/xen/${g.name}.cfg:disk = [ 'phy:/dev/${VG}/${g.name},xvda,w' ]`), r.stdout);
  }
});

/** Checks one boot against what the guest's definition promises (guest still running). */
async function assertBoot(g: LabGuest, r: GuestBootResult, want: BootExpectation, guestType: 'PV' | 'PVH'): Promise<void> {
  switch (want.kind) {
    case 'marker':
      assert.equal(r.kind, 'marker', describeBoot(r));
      if (r.kind !== 'marker') return;
      assert.equal(r.marker.name, g.name);
      assert.equal(r.marker.guestType, want.guestType);
      assert.equal(r.marker.guestType, guestType);
      assert.equal(r.marker.disk, g.name, 'the guest mounted its own LVM volume');
      return;
    case 'grub-marker': {
      assert.equal(r.kind, 'marker', describeBoot(r));
      if (r.kind === 'marker') assert.equal(r.marker.loader, 'grub');
      const l = await labExec(lab, `xl list -l ${g.name}`);
      assert.match(l.stdout, /"type\.pvh": \{\s*"pvshim": "True"/, 'running under the PV shim');
      return;
    }
    case 'fails':
      assert.equal(r.kind, 'refused', describeBoot(r));
      assert.ok(r.kind === 'refused' && r.output.includes(want.message), `xl said: ${printable(r.output)}`);
      return;
    case 'hangs':
      assert.equal(r.kind, 'hang', describeBoot(r));
      // Its disk never connects: XenbusState 4 (Connected) is what verification waits for.
      if (r.kind === 'hang') assert.notEqual(r.vbdState, 4);
      return;
  }
}

// One guest at a time: parallel boots on the lab's two emulated CPUs contend for the block hotplug
// script's lock until libxl's hotplug timeout kills it, and gain little.
describe('guests boot as their configs say', { concurrency: 1 }, () => {
  for (const g of GUESTS) {
    test(`${g.name}: ${g.summary}`, async (t) => {
      const shipped = await boot(t, g, `/etc/xen/${g.name}.cfg`, g.type === 'pvh');
      await assertBoot(g, shipped, g.expect.shipped, g.type === 'pv' ? 'PV' : 'PVH').finally(() => destroyGuest(lab, g.name));
      const asPvh = g.expect.asPvh;
      if (asPvh === null) return;

      const edit = await labExec(lab, pvhEditScript(g.name));
      assert.equal(edit.code, 0, edit.stderr);
      assert.match(edit.stdout, /^type = "pvh"$/m);
      if (g.boot.kind === 'grub') assert.ok(edit.stdout.includes(`kernel = "${GRUB.pvh}"`));
      const r = await boot(t, g, `/etc/xen/${g.name}-pvh.cfg`, true);
      try {
        await t.test(`${g.name} edited by hand to PVH`, () => assertBoot(g, r, asPvh, 'PVH'));
      } finally {
        await destroyGuest(lab, g.name);
      }
    });
  }
});

test('collectLogs gathers the serial console (Xen and dom0), xl dmesg and the guest consoles', async () => {
  const dir = join(lab.runDir, 'logs-check');
  const files = await collectLogs(lab, dir);
  const names = files.map((f) => f.slice(dir.length + 1));
  for (const n of ['serial.log', 'xl-dmesg.log', 'guest-consoles.log', 'dom0-dmesg.log']) assert.ok(names.includes(n), `${n} in ${names}`);
  const serial = readFileSync(join(dir, 'serial.log'), 'utf8');
  assert.match(serial, /\(XEN\) .*Xen version 4\.17/);
  assert.match(serial, /pvhctl-lab: toolstack up/);
  assert.match(readFileSync(join(dir, 'guest-consoles.log'), 'utf8'), /==> \/var\/log\/xen\/console\/guest-direct64\.log/);
});
