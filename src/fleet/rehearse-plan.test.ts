import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPath, type DiskBacking } from '../drivers/driver.ts';
import { cowBytes, customerMessage, DEFAULT_REHEARSAL, hostRoom, memoryCheck, planSnapshots, rehearsalOptions, strayOf, userlandSign } from './rehearse-plan.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const lv = (name: string, size: number, free: number, vg = 'vg0'): DiskBacking => ({ kind: 'lv', path: hostPath(`/dev/${vg}/${name}`), vg, lv: name, sizeBytes: size, extentBytes: 4 * MiB, vgFreeExtents: free, origin: null, invalid: false });

test("the operator's units: percent, GiB, MiB; the floor never above the cap; what is not given is left out", () => {
  assert.deepEqual(rehearsalOptions({ cowPercent: 25, cowMaxGib: 0.125, reserveMb: 512.4 }), { reserveMb: 512, cowFraction: 0.25, cowMaxBytes: 128 * 1024 ** 2, cowMinBytes: 128 * 1024 ** 2 });
  assert.deepEqual(rehearsalOptions({ cowMaxGib: 4 }), { cowMaxBytes: 4 * 1024 ** 3, cowMinBytes: DEFAULT_REHEARSAL.cowMinBytes });
  assert.deepEqual(rehearsalOptions({}), {});
});

test('the CoW area: a tenth of the disk, at least 256 MiB, at most 16 GiB, never more than the disk, whole extents', () => {
  assert.equal(cowBytes(10 * GiB, 4 * MiB, DEFAULT_REHEARSAL), 1 * GiB);
  assert.equal(cowBytes(1 * GiB, 4 * MiB, DEFAULT_REHEARSAL), 256 * MiB);
  assert.equal(cowBytes(2000 * GiB, 4 * MiB, DEFAULT_REHEARSAL), 16 * GiB);
  assert.equal(cowBytes(100 * MiB, 4 * MiB, DEFAULT_REHEARSAL), 100 * MiB);
  assert.equal(cowBytes(10 * GiB + 1, 4 * MiB, DEFAULT_REHEARSAL) % (4 * MiB), 0);
  assert.equal(cowBytes(10 * GiB, 4 * MiB, { ...DEFAULT_REHEARSAL, cowFraction: 0.5, cowMaxBytes: 2 * GiB }), 2 * GiB);
});

test('snapshots: LVs need the dm snapshot target and room in their VG for every CoW area together; files get reflinks; nothing else', () => {
  const two = [{ backing: lv('web1', 10 * GiB, 500), vdev: 'xvda' }, { backing: lv('web1-data', 10 * GiB, 500), vdev: 'xvdb' }];
  const full = planSnapshots('web1', two, ['snapshot'], DEFAULT_REHEARSAL);
  assert.ok(!full.ok && full.rule === 'vg-full', JSON.stringify(full));
  assert.match(full.reason, /vg0 has 500 free extents \(2000 MiB\) and the snapshots need 512 \(2048 MiB\)/);
  const ok = planSnapshots('web1', two.map((d) => ({ ...d, backing: { ...d.backing, vgFreeExtents: 512 } as DiskBacking })), ['snapshot'], DEFAULT_REHEARSAL);
  assert.ok(ok.ok);
  assert.deepEqual(ok.snapshots.map((s) => s.path), ['/dev/vg0/pvhctl-rehearse-web1-xvda', '/dev/vg0/pvhctl-rehearse-web1-xvdb']);
  const noDm = planSnapshots('web1', two, ['linear'], DEFAULT_REHEARSAL);
  assert.ok(!noDm.ok && noDm.rule === 'no-dm-snapshot');
  const snapOfSnap = planSnapshots('web1', [{ backing: { ...lv('s', GiB, 999), origin: 'web1' } as DiskBacking, vdev: 'xvda' }], ['snapshot'], DEFAULT_REHEARSAL);
  assert.ok(!snapOfSnap.ok && snapOfSnap.rule === 'snapshot-of-snapshot');
  const file = planSnapshots('web1', [{ backing: { kind: 'file', path: hostPath('/srv/xen/web1.img'), sizeBytes: GiB }, vdev: null }], [], DEFAULT_REHEARSAL);
  assert.ok(file.ok);
  assert.deepEqual(file.snapshots, [{ method: 'reflink', origin: '/srv/xen/web1.img', path: '/srv/xen/pvhctl-rehearse-web1-disk0.img' }]);
  const dev = planSnapshots('web1', [{ backing: { kind: 'other', path: hostPath('/dev/sdb1'), what: 'a block device that is not an LVM logical volume' }, vdev: 'xvda' }], ['snapshot'], DEFAULT_REHEARSAL);
  assert.ok(!dev.ok && dev.rule === 'not-snapshottable' && /\/dev\/sdb1 is a block device that is not an LVM logical volume/.test(dev.reason));
  // A hostile vdev never reaches a name.
  const weird = planSnapshots('web1', [{ backing: lv('web1', GiB, 999), vdev: 'xvda;rm' }], ['snapshot'], DEFAULT_REHEARSAL);
  assert.ok(weird.ok && weird.snapshots[0]!.path === '/dev/vg0/pvhctl-rehearse-web1-disk0');
});

test('memory: the guest\'s memory out of free memory less the reserve and what other test boots hold', () => {
  assert.deepEqual(memoryCheck(1024, 2048, 1024, 0), { ok: true });
  const r = memoryCheck(1024, 2048, 1024, 512);
  assert.ok(!r.ok && /512 MiB held for other test boots/.test(r.reason));
});

test('strays from the journal: every begin names what it makes; hostile details are refused, not acted on', () => {
  const spec = { method: 'lvm-snapshot', origin: '/dev/vg0/web1', vg: 'vg0', name: 'pvhctl-rehearse-web1-xvda', cowBytes: GiB, path: '/dev/vg0/pvhctl-rehearse-web1-xvda' };
  const s = strayOf([
    { step: 'plan', phase: 'begin', detail: null },
    { step: 'snapshot', phase: 'begin', detail: JSON.stringify(spec) },
    { step: 'snapshot', phase: 'done', detail: null },
    { step: 'write-config', phase: 'begin', detail: '/etc/xen/.pvhctl-rehearse-web1.cfg' },
    { step: 'create', phase: 'begin', detail: 'pvhctl-rehearse-web1' },
  ]);
  assert.deepEqual(s, { snapshots: [spec], configPath: '/etc/xen/.pvhctl-rehearse-web1.cfg', domain: 'pvhctl-rehearse-web1' });
  assert.throws(() => strayOf([{ step: 'snapshot', phase: 'begin', detail: JSON.stringify({ ...spec, path: '/dev/vg0/../../etc/passwd' }) }]), /invalid host path/);
  assert.throws(() => strayOf([{ step: 'create', phase: 'begin', detail: 'x; reboot' }]), /invalid domain name/);
});

test('customer words: came up, did not come up, could not be test-booted, interrupted; one full stop', () => {
  const at = '2026-12-06T14:00:00.000Z';
  assert.equal(customerMessage({ status: 'passed', reason: null, updated_at: at }), 'Your server was test-booted in PVH mode on a copy of its disk on 2026-12-06: it came up. Your server itself was not touched.');
  assert.equal(
    customerMessage({ status: 'failed', reason: 'the server crashed while starting', updated_at: at }),
    'Your server was test-booted in PVH mode on a copy of its disk on 2026-12-06: it did not come up (the server crashed while starting). Your server itself was not touched.',
  );
  assert.equal(
    customerMessage({ status: 'cannot-rehearse', reason: 'The server already runs in PVH mode.', updated_at: at }),
    'Your server could not be test-booted in PVH mode on 2026-12-06: The server already runs in PVH mode. Your server itself was not touched.',
  );
  assert.match(customerMessage({ status: 'failed', rule: 'interrupted', reason: 'x', updated_at: at }), /was interrupted before it finished; its copy was removed/);
  // The operators' reasons (volume groups, dom0 paths, domain names, xl errors) never reach a customer.
  for (const [rule, reason] of [
    ['vg-full', 'volume group vg0 has 12 free extents (48 MiB) and the snapshots need 2560 (10240 MiB)'],
    ['not-snapshottable', '/dev/sdb3 is a block device: pvhctl can test-boot only LVM volumes'],
    ['name-taken', 'a domain named pvhctl-rehearse-web1 already exists on the host'],
    ['config', '/etc/xen/web1.cfg:3: config parsing error near `disk`'],
    ['memory', 'the test boot needs 1024 MiB; the host has 900 MiB free'],
    ['no-dm-snapshot', "dom0's kernel has no device-mapper snapshot target (`dmsetup targets` does not list snapshot)"],
  ] as const) {
    const m = customerMessage({ status: 'cannot-rehearse', rule, reason, updated_at: at });
    assert.doesNotMatch(m, /vg0|\/dev\/|\/etc\/xen|pvhctl-rehearse|MiB|dmsetup|parsing/, `${rule}: ${m}`);
    assert.match(m, /^Your server could not be test-booted in PVH mode on 2026-12-06: [a-z].*\. Your server itself was not touched\.$/);
  }
  // A row with a rule this version does not know keeps its stored words.
  assert.match(customerMessage({ status: 'cannot-rehearse', rule: 'from-a-newer-version', reason: 'Its words.', updated_at: at }), /: Its words\. Your server/);
});

test("the guest's userland is up: a getty's login prompt or a guest_type report; kernel text, hostile or not, is not", () => {
  assert.equal(userlandSign('[    1.0] Booting paravirtualized kernel on Xen PVH\r\n\r\nDebian GNU/Linux 12 web1 hvc0\r\n\r\nweb1 login: '), 'web1 login:');
  assert.equal(userlandSign('\x1b[0mweb1 login: root\r\nPassword: '), null, 'an answered prompt further up does not count twice');
  assert.equal(userlandSign('login: '), 'login:');
  assert.equal(userlandSign('pvhctl-lab guest direct64: guest_type=PVH mode=marker\n'), 'guest_type=PVH');
  assert.equal(userlandSign('PVHCTL-LAB-MARKER name=a guest_type=PV disk=a\n'), 'guest_type=PV');
  assert.equal(userlandSign('[    0.000000] Booting paravirtualized kernel on Xen PVH\n[    2.1] Run /init as init process\n'), null);
  assert.equal(userlandSign(''), null);
  assert.equal(userlandSign('Kernel panic - not syncing: VFS: Unable to mount root fs\n'), null);
  assert.equal(userlandSign(`${'x'.repeat(100)} login:`), null, 'not a host name');
  assert.equal(userlandSign('a\n'.repeat(200_000)), null, 'bounded');
});

test("the host's slots and memory: test boots and switches against max_parallel; only test boots whose domain xl's free_memory did not count yet are subtracted", () => {
  const boot = (inFreeMemory: boolean) => ({ memoryMb: 1024, inFreeMemory });
  assert.deepEqual(hostRoom(1024, 8192, 1024, { host: 'xen1', maxParallel: 3, rehearsals: [boot(true)], operations: 1 }), { ok: true });
  assert.deepEqual(hostRoom(1024, 8192, 1024, { host: 'xen1', maxParallel: 3, rehearsals: [boot(true), boot(false)], operations: 1 }), {
    ok: false, rule: 'host-busy', reason: 'cannot rehearse now: 3 test boots or switches already run on xen1 (its limit is 3)',
  });
  // A limit of 0 is read as 1, as the limiter reads it.
  assert.equal(hostRoom(1024, 8192, 1024, { host: 'xen1', maxParallel: 0, rehearsals: [], operations: 1 }).ok, false);
  // 3000 free: 1024 reserve, 1024 held by a boot whose domain is not made yet, 1024 needed -> no room; made -> room.
  const held = hostRoom(1024, 3000, 1024, { host: 'xen1', maxParallel: 4, rehearsals: [boot(false)], operations: 0 });
  assert.deepEqual(held.ok ? null : held.rule, 'memory');
  assert.deepEqual(hostRoom(1024, 3000, 1024, { host: 'xen1', maxParallel: 4, rehearsals: [boot(true)], operations: 0 }), { ok: true });
});
