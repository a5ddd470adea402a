/** The verdict rules on hand-made note sets: each branch of Xen's checks and pvhctl's ENTRY rule. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EM_386, EM_X86_64 } from './elf.ts';
import { parseFeatures } from './notes.ts';
import type { XenNote } from './types.ts';
import { archOf, pvhVerdict, pvOnHost, pvVerdict, type XenImageInfo } from './verdict.ts';
import { parseGuestInfo } from './inspect.ts';

const s = (type: number, name: string, value: string): XenNote => ({ type, name, value });
const linuxPv = [s(6, 'GUEST_OS', 'linux'), s(5, 'XEN_VERSION', 'xen-3.0'), s(8, 'LOADER', 'generic')];
const entry = s(1, 'ENTRY', '0xffffffff81000000');
const phys = s(18, 'PHYS32_ENTRY', '0x1000000');
const info = (machine: number, notes: XenNote[], extra: Partial<XenImageInfo> = {}): XenImageInfo => ({ machine, notes, noteArea: true, guestInfo: null, ...extra });

test('64-bit with ENTRY and PHYS32_ENTRY: both', () => {
  const i = info(EM_X86_64, [...linuxPv, entry, phys]);
  assert.deepEqual([pvVerdict(i).capable, pvVerdict(i).abi, pvhVerdict(i).capable], [true, 'xen-3.0-x86_64', true]);
});

test('PHYS32_ENTRY alone is enough for PVH, whatever the other notes say', () => {
  const i = info(EM_386, [s(6, 'GUEST_OS', 'FreeBSD'), phys]);
  assert.equal(pvhVerdict(i).capable, true);
  const pv = pvVerdict(i);
  assert.equal(pv.capable, false);
  assert.match(pv.capable ? '' : pv.xenMessage!, /Will only load images built for the generic loader or Linux images \(Not '' and 'FreeBSD'\)/);
});

test('PV notes without ENTRY (686-pae style): PV no with the reason, ABI still reported', () => {
  const i = info(EM_386, [...linuxPv, s(9, 'PAE_MODE', 'yes'), phys]);
  const pv = pvVerdict(i);
  assert.deepEqual([pv.capable, pv.abi], [false, 'xen-3.0-x86_32p']);
  assert.equal(archOf(EM_386, i.notes), 'x86_32p');
});

test('32-bit PAE and bimodal PV kernels run as xen-3.0-x86_32p; non-PAE as x86_32, refused', () => {
  for (const mode of ['yes', 'bimodal']) {
    const pv = pvVerdict(info(EM_386, [...linuxPv, entry, s(9, 'PAE_MODE', mode)]));
    assert.deepEqual([pv.capable, pv.abi], [true, 'xen-3.0-x86_32p'], mode);
  }
  // "yes[extended-cr3]" is only understood in the legacy __xen_guest form, as in libelf
  const ext = pvVerdict(info(EM_386, [...linuxPv, entry, s(9, 'PAE_MODE', 'yes[extended-cr3]')]));
  assert.equal(ext.abi, 'xen-3.0-x86_32');
  const np = pvVerdict(info(EM_386, [...linuxPv, entry]));
  assert.deepEqual([np.capable, np.abi], [false, 'xen-3.0-x86_32']);
  assert.match(np.capable ? '' : np.xenMessage!, /guest type xen-3.0-x86_32 not supported by xen kernel, sorry/);
});

test('Xen version other than xen-3.0 is refused with Xen\'s message', () => {
  const pv = pvVerdict(info(EM_X86_64, [s(6, 'GUEST_OS', 'linux'), s(5, 'XEN_VERSION', 'xen-2.0'), entry]));
  assert.equal(pv.capable, false);
  assert.equal(pv.capable ? '' : pv.xenMessage, "ERROR: Xen will only load images built for Xen v3.0 (Not 'xen-2.0')");
});

test('no note area at all: "Not a Xen-ELF image"', () => {
  const i = info(EM_X86_64, [], { noteArea: false });
  assert.equal(pvhVerdict(i).capable ? '' : (pvhVerdict(i) as { xenMessage: string }).xenMessage, "ERROR: Not a Xen-ELF image: No ELF notes or '__xen_guest' section found");
});

test('legacy __xen_guest section: PV only, PAE from PAE=yes[extended-cr3]', () => {
  const gi = parseGuestInfo(Buffer.from('GUEST_OS=linux,GUEST_VER=2.6,XEN_VER=xen-3.0,VIRT_BASE=0xC0000000,VIRT_ENTRY=0xC0100000,PAE=yes[extended-cr3]\0junk'));
  assert.equal(gi.PAE, 'yes[extended-cr3]');
  const i = info(EM_386, [], { noteArea: false, guestInfo: gi });
  assert.deepEqual([pvVerdict(i).capable, pvVerdict(i).abi], [true, 'xen-3.0-x86_32p']);
  assert.equal(pvhVerdict({ ...i, guestInfo: null }).capable, false);
});

test('FEATURES: !dom0 refuses to be a guest; an unknown required feature invalidates the image', () => {
  const dom0 = info(EM_X86_64, [...linuxPv, entry, phys, s(10, 'FEATURES', 'writable_page_tables|!dom0')]);
  assert.equal(pvVerdict(dom0).capable, false);
  assert.equal(pvhVerdict(dom0).capable, false);
  assert.match(pvVerdict(dom0).reason, /only runs as dom0/);
  const unk = info(EM_X86_64, [...linuxPv, entry, phys, s(10, 'FEATURES', '!no_such_feature')]);
  assert.match(pvhVerdict(unk).reason, /no_such_feature/);
  assert.deepEqual([...parseFeatures('!writable_page_tables|pae_pgdir_above_4gb|bogus').supported], ['writable_page_tables', 'pae_pgdir_above_4gb']);
});

test('a later note of the same type wins, as in libelf', () => {
  const i = info(EM_X86_64, [...linuxPv, entry, s(5, 'XEN_VERSION', 'xen-9.9')]);
  assert.equal(pvVerdict(i).capable, false);
});

test('pvOnHost: the ABI must be in xen_caps (Debian 12 has no xen-3.0-x86_32p)', () => {
  const caps = 'xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64';
  assert.deepEqual(pvOnHost({ capable: true, abi: 'xen-3.0-x86_64', reason: '' }, caps), { ok: true });
  assert.deepEqual(pvOnHost({ capable: true, abi: 'xen-3.0-x86_32p', reason: '' }, caps), {
    ok: false,
    xenMessage: 'xc_dom_compat_check: guest type xen-3.0-x86_32p not supported by xen kernel, sorry',
  });
  assert.deepEqual(pvOnHost({ capable: true, abi: 'xen-3.0-x86_32p', reason: '' }, `${caps} xen-3.0-x86_32p`), { ok: true });
});
