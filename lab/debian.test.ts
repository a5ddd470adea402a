import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configuredName, DEBIAN_SYSTEMS, debianKey, imageMiB, mmdebstrapArgs, REQUIRED } from './debian.ts';
import { firstBootResult, TRIPLE_FAULT_IN_XEN } from './debian-first-boot.ts';
import { EXTENT_MIB } from './guests.ts';

test('a Debian image is sized tightly: a quarter over its files and 48 MiB, in whole extents; an unpacked one has its files\' size again for its first boot\'s dpkg', () => {
  assert.equal(imageMiB(400, 'build'), 548);
  assert.equal(imageMiB(1, 'build'), 52);
  assert.equal(imageMiB(400, 'first-boot'), 948);
  for (const [configure, factor] of [['build', 1.25], ['first-boot', 2.25]] as const) {
    for (const used of [0, 1, 99, 333, 1000]) {
      const mib = imageMiB(used, configure);
      assert.equal(mib % EXTENT_MIB, 0);
      assert.ok(mib >= used * factor + 48 && mib < used * factor + 48 + EXTENT_MIB, `${configure} ${used} -> ${mib}`);
    }
  }
});

test('the cache key changes with a package version, the package list and the build scripts, and only then', () => {
  const s = DEBIAN_SYSTEMS[0]!;
  const k = debianKey(s, 'systemd 252.39-1~deb12u2\n', 'hooks');
  assert.match(k, /^[0-9a-f]{16}$/);
  assert.equal(debianKey(s, 'systemd 252.39-1~deb12u2\n', 'hooks'), k);
  assert.equal(debianKey({ ...s, include: [...s.include].reverse() }, 'systemd 252.39-1~deb12u2\n', 'hooks'), k, 'order of the list does not matter');
  assert.notEqual(debianKey(s, 'systemd 252.39-1~deb12u3\n', 'hooks'), k);
  assert.notEqual(debianKey(s, 'systemd 252.39-1~deb12u2\n', 'hooks2'), k);
  assert.notEqual(debianKey({ ...s, include: [...s.include, 'openssh-server'] }, 'systemd 252.39-1~deb12u2\n', 'hooks'), k);
});

test('deb12-i386 is unpacked at build and configured on its first boot; deb12-amd64 is installed at build', () => {
  const i386 = DEBIAN_SYSTEMS.find((x) => x.name === 'deb12-i386')!;
  assert.equal(i386.arch, 'i386');
  assert.equal(i386.configure, 'first-boot');
  assert.ok(i386.include.includes('linux-image-686-pae'));
  assert.equal(DEBIAN_SYSTEMS.find((x) => x.name === 'deb12-amd64')!.configure, 'build');
  assert.notEqual(debianKey(i386, 'v\n', 'hooks'), debianKey({ ...i386, name: 'deb12-amd64' }, 'v\n', 'hooks'));
  assert.match(configuredName(), /^configured-[0-9a-f]{16}\.img\.zst$/);
});

test('a first boot\'s console gives the second stage\'s exit status and its steps; hostile text is bounded', () => {
  const log = 'PVHCTL-LAB-FIRSTBOOT step=essential t=3s\r\nnoise\nPVHCTL-LAB-FIRSTBOOT step=configure t=1200s\nPVHCTL-LAB-FIRSTBOOT name=deb12-i386 rc=0\n';
  assert.deepEqual(firstBootResult(log, 'deb12-i386'), { rc: '0', steps: [{ step: 'essential', s: 3 }, { step: 'configure', s: 1200 }] });
  assert.equal(firstBootResult('PVHCTL-LAB-FIRSTBOOT step=essential t=3s\n', 'deb12-i386'), null, 'never ended');
  assert.equal(firstBootResult('PVHCTL-LAB-FIRSTBOOT name=other rc=0\n', 'deb12-i386'), null, 'another guest\'s line');
  assert.equal(firstBootResult('PVHCTL-LAB-FIRSTBOOT name=deb12-i386 rc=2\n', 'deb12-i386')?.rc, '2');
  assert.equal(firstBootResult(`PVHCTL-LAB-FIRSTBOOT name=deb12-i386 rc=${'9'.repeat(5000)}\n`, 'deb12-i386')?.rc.length, 16);
});

test('deb12-i386 is only unpacked, with the required set, the .debs kept and its hook as an extract hook (the only one mmdebstrap runs for --variant=extract)', () => {
  const args = mmdebstrapArgs(DEBIAN_SYSTEMS.find((x) => x.name === 'deb12-i386')!, 'U');
  assert.ok(args.includes('--variant=extract'));
  assert.ok(args.includes('--architectures=i386'));
  assert.ok(args.includes('--skip=cleanup/apt/cache'));
  const include = args.find((a) => a.startsWith('--include='))!.slice('--include='.length).split(',');
  for (const p of [...REQUIRED, 'linux-image-686-pae', 'systemd-sysv', 'grub2-common']) assert.ok(include.includes(p), p);
  assert.ok(args.some((a) => /^--extract-hook=sh \S+\/debian\/unpack-hook\.sh "\$1" deb12-i386 U$/.test(a)), args.join(' '));
  assert.ok(!args.some((a) => /^--(customize|essential)-hook=/.test(a)), 'never run for --variant=extract');
  const amd64 = mmdebstrapArgs(DEBIAN_SYSTEMS[0]!, 'U');
  assert.ok(amd64.includes('--variant=minbase'));
  assert.ok(amd64.some((a) => a.startsWith('--customize-hook=')));
});

test('a first boot is retried only for the emulator\'s triple fault in Xen\'s own code (as xl dmesg printed it in the lab)', () => {
  const seen = '(XEN) [  401.948682] d1v0 Triple fault - invoking HVM shutdown action 1\n(XEN) [  401.950741] *** Dumping Dom1 vcpu#0 state: ***\n'
    + '(XEN) [  401.951894] ----[ Xen-4.17.7  x86_64  debug=n  Not tainted ]----\n(XEN) [  401.952305] CPU:    0\n(XEN) [  401.952563] RIP:    e008:[<ffff82d0402044a5>]\n';
  assert.match(seen, TRIPLE_FAULT_IN_XEN);
  assert.doesNotMatch(seen.replace('e008', '0010'), TRIPLE_FAULT_IN_XEN, 'a triple fault in the guest\'s own code is the guest\'s failure');
  assert.doesNotMatch('(XEN) d1v0 RIP:    e008:[<ffff82d0402044a5>]\n', TRIPLE_FAULT_IN_XEN);
});
