import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Verdict } from '../guest/verdict.ts';
import { becoming, nextStep, path32 } from './become.ts';
import type { GuestVerdict } from './seams.ts';
import { decodeVerdict, encodeVerdict } from './stored-verdict.ts';

const v = (pv: boolean, pvh: boolean, inspection: Verdict | null = null): GuestVerdict => ({
  pv: { capable: pv, abi: pv ? 'xen-3.0-x86_64' : null, reason: pv ? 'has a PV entry point' : 'no PV entry point' },
  pvh: { capable: pvh, reason: pvh ? 'has a PHYS32_ENTRY note' : 'no PHYS32_ENTRY note' },
  arch: 'x86_64',
  source: inspection === null ? 'kernel' : 'disk',
  kernelVersion: '6.1.0-56-amd64',
  inspection,
});
const afterReboot: Verdict = { verdict: 'ready-after-reboot', kernel: '/boot/vmlinuz-6.1.0-56-amd64', entry: 'Advanced options > Debian 6.1', reasons: ['r'] };
const needsKernel: Verdict = { verdict: 'needs-kernel', install: 'linux-image-686-pae (Debian)', reasons: ['r'] };

test('becoming: PVH first, then the shim, less what a rolled-back switch refuted', () => {
  assert.deepEqual(becoming(v(true, true)), { can: 'pvh' });
  assert.deepEqual(becoming(v(true, false)), { can: 'pvh-shim', next: null });
  assert.deepEqual(becoming(v(true, true), new Set(['pvh'])), { can: 'pvh-shim', next: null });
  assert.deepEqual(becoming(v(true, true), new Set(['pvh', 'pvh-shim'])), { can: 'did-not-boot', next: null });
  assert.deepEqual(becoming(v(false, false)), { can: 'none', next: null });
  assert.deepEqual(becoming(null), { can: 'unknown', why: null });
  assert.deepEqual(becoming({ ...v(false, false), source: 'unknown', pvh: { capable: false, reason: 'the disk could not be read' } }), { can: 'unknown', why: 'the disk could not be read' });
  assert.deepEqual(becoming(v(true, true), new Set(), false), { can: 'host-no-hvm' });
  assert.deepEqual(becoming(v(false, false), new Set(), false), { can: 'none', next: null });
});

test('the inspection verdict survives to "what next": a reboot into an installed kernel, or a kernel to install', () => {
  assert.deepEqual(becoming(v(true, false, afterReboot)), { can: 'pvh-shim', next: { kind: 'reboot-into', kernel: '/boot/vmlinuz-6.1.0-56-amd64', entry: 'Advanced options > Debian 6.1' } });
  assert.deepEqual(becoming(v(false, false, needsKernel)), { can: 'none', next: { kind: 'install-kernel', install: 'linux-image-686-pae (Debian)' } });
  assert.equal(nextStep(v(true, true, { verdict: 'ready', kernel: '/boot/vmlinuz', reasons: [] })), null);
  assert.equal(nextStep(v(true, false, { verdict: 'shim', kernel: '/boot/vmlinuz', reasons: [] })), null);
});

test('path32 is a view of becoming, with the guest type and the host', () => {
  assert.deepEqual(path32('pvh', v(true, true), true), { path: 'done', why: 'already pvh' });
  assert.equal(path32('pv', v(true, true), true).path, 'pvh');
  assert.equal(path32('pv', v(true, false), true).path, 'pvh-shim');
  assert.match(path32('pv', v(true, false), false).why, /no hvm/);
  assert.deepEqual(path32('pv', v(false, false), true), { path: 'blocked', why: 'no PHYS32_ENTRY note' });
  assert.deepEqual(path32('pv', null, true), { path: 'unknown', why: 'not inspected yet' });
});

test('the stored verdict keeps the whole inspection verdict, with its version', () => {
  const text = encodeVerdict(v(true, false, afterReboot));
  assert.equal(JSON.parse(text).version, 2);
  assert.deepEqual(decodeVerdict(text), v(true, false, afterReboot));
  // Version 1 rows (no version field) had only the booleans.
  const { inspection: _, ...old } = v(true, false);
  assert.deepEqual(decodeVerdict(JSON.stringify(old)), v(true, false));
  // A newer version or a damaged row is not guessed at: not inspected.
  assert.equal(decodeVerdict(JSON.stringify({ ...old, version: 3 })), null);
  assert.equal(decodeVerdict('{"pv":'), null);
  assert.equal(decodeVerdict('[1]'), null);
  assert.equal(decodeVerdict(null), null);
});
