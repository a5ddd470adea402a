import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BootEntry, BootMenu } from '../boot/types.ts';
import type { KernelReport, KernelResult } from '../kernel/types.ts';
import { guestVerdict, type VerdictInput } from './verdict.ts';
import { consoleFacts, type OsInfo } from './facts.ts';

// Unit tests of the pure verdict over hand-made kernel results; the real-kernel tests are in inspect.test.ts.
function kernel(file: string, pvh: boolean, pv: KernelReport['pv']['abi'] | null, arch: KernelReport['arch'] = 'x86_64'): KernelResult {
  return {
    file,
    format: 'bzImage',
    compression: 'xz',
    version: null,
    release: null,
    arch,
    elfClass: 64,
    machine: null,
    bootProtocol: null,
    notes: [],
    notesFrom: null,
    pv: pv ? { capable: true, abi: pv, reason: 'has ENTRY' } : { capable: false, abi: null, reason: 'no ENTRY', xenMessage: null },
    pvh: pvh ? { capable: true, reason: 'PHYS32_ENTRY' } : { capable: false, reason: 'no PHYS32_ENTRY note', xenMessage: null },
    bytesDecompressed: 0,
    sha256: '0'.repeat(64),
    error: null,
  } as KernelResult;
}
const entry = (title: string, k: string): BootEntry => ({ title, id: null, submenu: [], type: 'linux', kernel: k, initrd: [], args: '', conditional: false });
const menu = (entries: BootEntry[], d: BootMenu['default']): BootMenu => ({ loader: 'grub2', file: '/boot/grub/grub.cfg', entries, default: d, warnings: [] });
const base = (over: Partial<VerdictInput>): VerdictInput => ({
  pci: false,
  unreadable: null,
  bootUnreadable: null,
  menu: null,
  entryKernels: [],
  installed: [],
  os: { id: 'debian', idLike: [], versionId: '9', prettyName: 'Debian 9', source: '/etc/os-release' },
  directKernel: null,
  ...over,
});

test('PCI passthrough blocks, whatever the kernel', () => {
  const v = guestVerdict(base({ pci: true, menu: menu([entry('a', '/a')], { decided: true, index: 0, reason: '' }), entryKernels: [{ path: '/a', result: kernel('/a', true, 'xen-3.0-x86_64') }] }));
  assert.equal(v.verdict, 'blocked');
  assert.match(v.reasons[0]!, /PCI passthrough/);
});

test('a 32-bit PV-only kernel → shim; a 64-bit PV-only kernel → needs-kernel with the shim as a stopgap', () => {
  const m = menu([entry('old', '/old')], { decided: true, index: 0, reason: '' });
  const shim = guestVerdict(base({ menu: m, entryKernels: [{ path: '/old', result: kernel('/old', false, 'xen-3.0-x86_32p', 'x86_32p') }] }));
  assert.equal(shim.verdict, 'shim');
  assert.match(shim.reasons.join(' '), /linux-image-686-pae/);
  const nk = guestVerdict(base({ menu: m, entryKernels: [{ path: '/old', result: kernel('/old', false, 'xen-3.0-x86_64') }] }));
  assert.ok(nk.verdict === 'needs-kernel' && /linux-image-amd64/.test(nk.install));
  assert.match(nk.reasons.join(' '), /PV shim/);
});

test('undecided default: ready only when every menu kernel boots PVH, else unknown', () => {
  const m = menu([entry('a', '/a'), entry('b', '/b')], { decided: false, reason: 'depends on a boot-time condition' });
  const all = guestVerdict(base({ menu: m, entryKernels: [{ path: '/a', result: kernel('/a', true, null) }, { path: '/b', result: kernel('/b', true, null) }] }));
  assert.equal(all.verdict, 'ready');
  const some = guestVerdict(base({ menu: m, entryKernels: [{ path: '/a', result: kernel('/a', true, null) }, { path: '/b', result: kernel('/b', false, null) }] }));
  assert.equal(some.verdict, 'unknown');
  assert.match(some.reasons[0]!, /cannot be decided: depends on a boot-time condition/);
});

test('installed but not in the menu → ready-after-reboot telling to regenerate the menu; unreadable /boot → blocked; no menu → unknown', () => {
  const m = menu([entry('a', '/a')], { decided: true, index: 0, reason: '' });
  const v = guestVerdict(base({ menu: m, entryKernels: [{ path: '/a', result: kernel('/a', false, null) }], installed: [{ path: '/boot/vmlinuz-new', result: kernel('/n', true, null) }] }));
  assert.ok(v.verdict === 'ready-after-reboot' && v.entry === null && /update-grub/.test(v.reasons.join(' ')));
  assert.equal(guestVerdict(base({ bootUnreadable: 'EIO' })).verdict, 'blocked');
  assert.equal(guestVerdict(base({})).verdict, 'unknown');
  const direct = guestVerdict(base({ directKernel: { path: '/xen/vmlinuz', result: kernel('/xen/vmlinuz', true, null) } }));
  assert.ok(direct.verdict === 'ready' && direct.kernel === '/xen/vmlinuz');
});

test('a ready guest without console=hvc0: the verdict says, in words, that its kernel messages reach the xl console under PVH only with it, and how to add it for its distribution', () => {
  const m = menu([entry('Debian', '/k')], { decided: true, index: 0, reason: '' });
  const ek = [{ path: '/k', result: kernel('/k', true, 'xen-3.0-x86_64') }];
  const os = (id: string, idLike: string[] = []): OsInfo => ({ id, idLike, versionId: null, prettyName: null, source: '/etc/os-release' });
  const cases: [OsInfo | null, RegExp][] = [
    [os('debian'), /GRUB_CMDLINE_LINUX in \/etc\/default\/grub, then run update-grub/],
    [os('ubuntu', ['debian']), /GRUB_CMDLINE_LINUX in \/etc\/default\/grub, then run update-grub/],
    [os('rocky', ['rhel', 'centos', 'fedora']), /grubby --update-kernel=ALL --args=console=hvc0/],
    [os('alpine'), /default_kernel_opts in \/etc\/update-extlinux.conf, then run update-extlinux/],
    [null, /in the guest's boot loader configuration/],
  ];
  for (const [o, hint] of cases) {
    const v = guestVerdict(base({ os: o, menu: m, entryKernels: ek, console: consoleFacts('root=/dev/xvda1 ro quiet', o, 'guest-menu') }));
    assert.equal(v.verdict, 'ready');
    const said = v.reasons.join(' ');
    assert.match(said, /only with console=hvc0 on the kernel command line/);
    assert.match(said, /only when it boots as PV/);
    assert.match(said, hint);
    assert.doesNotMatch(said, /by itself, but add/);
  }
  // With console=hvc0 there is nothing to say; a kernel from dom0 is fixed by the switch itself.
  const ok = guestVerdict(base({ menu: m, entryKernels: ek, console: consoleFacts('ro console=hvc0', null, 'guest-menu') }));
  assert.equal(ok.reasons.length, 1);
  const direct = guestVerdict(base({ directKernel: { path: '/xen/k', result: kernel('/xen/k', true, null) }, console: consoleFacts('root=/dev/xvda1', null, 'xl-config') }));
  assert.match(direct.reasons.join(' '), /the switch adds console=hvc0 to the xl config itself/);
  // The shim boots the PV entry, which picks hvc0 by itself: no note.
  const shim = guestVerdict(base({ menu: m, entryKernels: [{ path: '/k', result: kernel('/k', false, 'xen-3.0-x86_32p', 'x86_32p') }], console: consoleFacts('', null, 'guest-menu') }));
  assert.equal(shim.verdict, 'shim');
  assert.doesNotMatch(shim.reasons.join(' '), /console=hvc0/);
});
