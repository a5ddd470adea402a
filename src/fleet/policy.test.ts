import { DriverError } from '../drivers/driver.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allowed, type HostCaps } from './policy.ts';
import type { ConfigFacts, GuestVerdict } from './seams.ts';
import { resumeFrom } from './steps.ts';
import { sinceBoot } from './verify.ts';
import { customerReason } from './messages.ts';

// Debian 12's Xen 4.17 as the lab shows it: no 32-bit PV.
const debian: HostCaps = { xenCaps: ['xen-3.0-x86_64', 'hvm-3.0-x86_32', 'hvm-3.0-x86_32p', 'hvm-3.0-x86_64'], virtCaps: ['pv', 'hvm', 'hap'], role: 'pv-pvh' };
const facts: ConfigFacts = { name: 'g', type: 'pv', kernel: '/boot/vmlinuz', ramdisk: null, bootloader: null, pci: false, disks: [] };
const v = (pv: boolean, pvh: boolean, abi = 'xen-3.0-x86_64'): GuestVerdict => ({
  pv: { capable: pv, abi, reason: pv ? 'ENTRY note' : 'no ENTRY note' },
  pvh: { capable: pvh, reason: pvh ? 'PHYS32_ENTRY' : 'no PHYS32_ENTRY note' },
  arch: abi === 'xen-3.0-x86_64' ? 'x86_64' : 'x86_32p',
  source: 'kernel',
  inspection: null,
  kernelVersion: '6.1.0',
});

test('PVH needs hvm on the host and PHYS32_ENTRY in the kernel', () => {
  assert.deepEqual(allowed('pvh', debian, v(true, true), facts), { ok: true });
  assert.equal(allowed('pvh', { ...debian, virtCaps: ['pv'], xenCaps: ['xen-3.0-x86_64'] }, v(true, true), facts).ok, false);
  const r = allowed('pvh', debian, v(true, false), facts);
  assert.deepEqual(r, { ok: false, refusal: { code: 'kernel-no-pvh', detail: 'no PHYS32_ENTRY note' } });
  assert.ok(!allowed('pvh', debian, v(true, true), { ...facts, pci: true }).ok);
});

test('a 32-bit PV target needs xen-3.0-x86_32p in xen_caps; the shim needs a PV kernel', () => {
  const r = allowed('pv', debian, v(true, false, 'xen-3.0-x86_32p'), facts);
  assert.deepEqual(r, { ok: false, refusal: { code: 'host-no-abi', abi: 'xen-3.0-x86_32p' } });
  assert.deepEqual(allowed('pv', { ...debian, xenCaps: [...debian.xenCaps, 'xen-3.0-x86_32p'] }, v(true, false, 'xen-3.0-x86_32p'), facts), { ok: true });
  assert.deepEqual(allowed('pvh-shim', debian, v(true, false, 'xen-3.0-x86_32p'), facts), { ok: true });
  assert.equal(allowed('pvh-shim', debian, v(false, true, 'xen-3.0-x86_32p'), facts).ok, false);
});

test('an uninspected guest is refused', () => {
  const r = allowed('pvh', debian, null, facts);
  assert.deepEqual(r, { ok: false, refusal: { code: 'not-inspected', detail: null } });
});

test('resume decisions from the journal', () => {
  const j = (...s: string[]) => s.map((x) => ({ step: x.split(':')[0]!, phase: x.split(':')[1]! }));
  assert.deepEqual(resumeFrom(j('pre-check:begin'), false), { kind: 'rollback' });
  assert.deepEqual(resumeFrom(j('pre-check:begin', 'pre-check:done', 'keep-config:begin', 'keep-config:done', 'shutdown:begin', 'shutdown:done', 'write-config:begin'), false), { kind: 'rollback' });
  assert.deepEqual(resumeFrom(j('shutdown:done', 'write-config:begin'), true), { kind: 'resume-create' });
  assert.deepEqual(resumeFrom(j('verify:begin', 'rollback-stop:begin'), true), { kind: 'continue-rollback' });
});

test('console since boot, and customer words for xl errors', () => {
  assert.equal(sinceBoot('Kernel panic\nbooting again\n', 'Kernel panic\n'), 'booting again\n');
  assert.equal(sinceBoot('fresh\n', 'rotated away\n'), 'fresh\n');
  assert.equal(customerReason(new DriverError('failed', 'xl create /etc/xen/a.cfg: xc_dom_guest_type: image not capable of booting inside a HVM container', 'no-pvh-entry')), "the server's kernel has no PVH support");
  assert.equal(customerReason(new DriverError('unreachable', 'xen1: connect ECONNREFUSED 10.0.0.5:22')), 'the host could not be reached');
  assert.equal(customerReason(new DriverError('failed', 'something odd')), 'the host refused to start the server');
  // The words come from the code, never from the text: a message that reads like a known failure is not one.
  assert.equal(customerReason(new Error('image not capable of booting inside a HVM container')), 'the host refused to start the server');
});

test('refusals and rollback messages end in one full stop, whatever the reason they quote ends in', async () => {
  const { rolledBackMessage } = await import('./messages.ts');
  const { customerRefusalWords, operatorRefusalWords } = await import('./reasons.ts');
  const kernelReason = 'The kernel has Xen PV notes but no PVH entry point (no PHYS32_ENTRY note; Linux needs CONFIG_XEN_PVH, 4.11 or later).';
  const verdict = { ...v(true, false), pvh: { capable: false, reason: kernelReason }, pv: { capable: false, abi: null, reason: 'No Xen notes.' } };
  for (const to of ['pvh', 'pvh-shim', 'pv'] as const) {
    const r = allowed(to, debian, verdict, facts);
    assert.ok(!r.ok, to);
    for (const words of r.ok ? [] : [customerRefusalWords(r.refusal), `${operatorRefusalWords(r.refusal)}.`]) assert.ok(words.endsWith('.') && !words.includes('..'), `${to}: ${words}`);
  }
  assert.doesNotMatch(rolledBackMessage('pv', 'pvh', 'the server crashed.'), /\.\./);
});

test('step words: undo and rollback share their first step, which must not say something went wrong', async () => {
  const { stepWords } = await import('./words.ts');
  assert.doesNotMatch(stepWords('rollback-stop'), /wrong|fail|error/i);
});

test('downtime: measured on the host (the median, rounded up to 10 s), else a stated default', async () => {
  const { downtimeEstimate, downtimeWords } = await import('./downtime.ts');
  assert.deepEqual(downtimeEstimate([41_000, 38_000, 52_000]), { seconds: 50, basis: 'measured', switches: 3 });
  assert.deepEqual(downtimeEstimate([]), { seconds: 120, basis: 'default' });
  assert.deepEqual(downtimeEstimate([NaN, -5]), { seconds: 120, basis: 'default' });
  assert.equal(downtimeEstimate([300]).seconds, 10);
  assert.equal(downtimeWords({ seconds: 50, basis: 'measured', switches: 1 }), 'about 50 seconds (measured on the last 1 switch on this host)');
  assert.equal(downtimeWords({ seconds: 120, basis: 'default' }), 'usually under 2 minutes (no switch on this host has been measured yet)');
});
