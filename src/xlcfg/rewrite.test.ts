import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { debianKernel, fetchDeb, unpackDeb } from '../debian/apt.ts';
import { inspectKernelFile } from '../kernel/inspect.ts';
import { isFailure } from '../kernel/types.ts';
import { modelOf } from './model.ts';
import { parseXlConfig } from './parser.ts';
import { convertConfig, DEBIAN_BOOT_PATHS, kernelCheckFrom, type KernelReadiness, type Rewrite } from './rewrite.ts';
import { validateConfig } from './validate.ts';
import { effectiveSettings } from './parser.ts';
import { buildXluDump, runXlu } from '../../test/support/xlu/harness.ts';
import type { XlConfig } from './types.ts';

function parse(text: string): XlConfig {
  const r = parseXlConfig(text, 'guest.cfg');
  assert.ok(r.ok);
  return r.config;
}

function ok(r: Rewrite): Extract<Rewrite, { ok: true }> {
  assert.ok(r.ok, r.ok ? '' : r.refusal);
  return r;
}

const PV_DIRECT = `# web1
name = "web1"
builder = "generic"
kernel = "/srv/xen/web1/vmlinuz"
ramdisk = "/srv/xen/web1/initrd.img"
root = "/dev/xvda1 ro"
memory = 1024
disk = [ 'phy:/dev/vg0/web1,xvda,w' ]
vif = [ 'bridge=xenbr0' ]
vnc = 1
vnclisten = "0.0.0.0"
e820_host = 1
`;

// Unit tests use a stand-in verdict; the real-kernel test below uses the kernel readiness check.
const pvhCapable: KernelReadiness = { readable: true, pv: true, pvh: true, abi: 'xen-3.0-x86_64', reason: 'PHYS32_ENTRY note present', pvReason: 'Xen PV notes present' };

test('PV → PVH, direct kernel: type set where builder was, builder dropped, vnc → vfb, e820_host dropped', () => {
  const r = ok(convertConfig(parse(PV_DIRECT), 'pvh', { kernelCheck: () => pvhCapable }));
  assert.equal(r.text, `# web1
name = "web1"
type = "pvh"
kernel = "/srv/xen/web1/vmlinuz"
ramdisk = "/srv/xen/web1/initrd.img"
root = "/dev/xvda1 ro"
extra = "console=hvc0"
memory = 1024
disk = [ 'phy:/dev/vg0/web1,xvda,w' ]
vif = [ 'bridge=xenbr0' ]
vfb = [ "vnc=1,vnclisten=0.0.0.0" ]
`);
  assert.ok(r.reasons.some((x) => /PHYS32_ENTRY/.test(x)));
  assert.deepEqual(validateConfig(r.config).findings.filter((f) => f.severity !== 'warning'), []);
});

test('PV → PVH refuses a kernel without the PVH entry, and says when the kernel could not be read', () => {
  const no = convertConfig(parse(PV_DIRECT), 'pvh', { kernelCheck: () => ({ readable: true, pv: true, pvh: false, abi: 'xen-3.0-x86_64', reason: 'no PHYS32_ENTRY note', pvReason: 'Xen PV notes present' }) });
  assert.ok(!no.ok && /cannot boot as PVH: no PHYS32_ENTRY/.test(no.refusal));
  const unread = ok(convertConfig(parse(PV_DIRECT), 'pvh', { kernelCheck: () => ({ readable: false, reason: 'ENOENT' }) }));
  assert.ok(unread.warnings.some((w) => /could not be read here \(ENOENT\)/.test(w)));
});

test('PV → PVH: PV GRUB (kernel or firmware) becomes the PVH GRUB image; pygrub is kept', () => {
  const grub = ok(convertConfig(parse('name = "a"\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\ndisk = [ "/dev/vg/a,,xvda" ]\n'), 'pvh'));
  assert.equal(grub.text, `name = "a"\ntype = "pvh"\nkernel = "${DEBIAN_BOOT_PATHS.pvhGrub}"\ndisk = [ "/dev/vg/a,,xvda" ]\n`);
  const fw = ok(convertConfig(parse('name = "a"\nfirmware = "pvgrub32"\n'), 'pvh', { paths: { pvhGrub: '/opt/grub-pvh.bin' } }));
  assert.equal(fw.text, 'name = "a"\ntype = "pvh"\nkernel = "/opt/grub-pvh.bin"\n');
  const pygrub = ok(convertConfig(parse('name = "a"\nbootloader = "pygrub"\n'), 'pvh'));
  assert.equal(pygrub.text, 'name = "a"\ntype = "pvh"\nbootloader = "pygrub"\n');
});

test('PV → PVH refuses pci passthrough, an HVM or PVH guest, and a config xl would refuse', () => {
  const pci = convertConfig(parse('name = "a"\nbootloader = "pygrub"\npci = [ "01:00.0" ]\n'), 'pvh');
  assert.ok(!pci.ok && /passthrough/.test(pci.refusal));
  const hvm = convertConfig(parse('name = "a"\ntype = "hvm"\n'), 'pvh');
  assert.ok(!hvm.ok && /HVM, not PV/.test(hvm.refusal));
  const bad = convertConfig(parse('name = "a"\nbuilder = "linux"\nkernel = "/k"\n'), 'pvh');
  assert.ok(!bad.ok && /Invalid domain type linux/.test(bad.refusal));
});

test('PV → PVH with the shim keeps the PV kernel and sets pvshim = 1', () => {
  const r = ok(convertConfig(parse(PV_DIRECT), 'pvh-shim'));
  assert.match(r.text, /type = "pvh"\npvshim = 1\nkernel = "\/srv\/xen\/web1\/vmlinuz"/);
  const fw = ok(convertConfig(parse('name = "a"\nfirmware = "pvgrub64"\n'), 'pvh-shim', { paths: { shim: '/opt/xen-shim' } }));
  assert.equal(fw.text, `name = "a"\ntype = "pvh"\npvshim = 1\npvshim_path = "/opt/xen-shim"\nkernel = "${DEBIAN_BOOT_PATHS.pvGrub64}"\n`);
});

test('PVH → PV: the PVH GRUB becomes the PV GRUB of the guest width; 32-bit refused without host support', () => {
  const cfg = parse(`name = "a"\ntype = "pvh"\nkernel = "${DEBIAN_BOOT_PATHS.pvhGrub}"\n`);
  const r64 = ok(convertConfig(cfg, 'pv', { guestArch: 'x86_64' }));
  assert.equal(r64.text, `name = "a"\ntype = "pv"\nkernel = "${DEBIAN_BOOT_PATHS.pvGrub64}"\n`);
  const r32 = convertConfig(cfg, 'pv', { guestArch: 'x86_32p', host32bitPv: false });
  assert.ok(!r32.ok && /lacks 32-bit PV/.test(r32.refusal));
  assert.ok(ok(convertConfig(cfg, 'pv', { guestArch: 'x86_32p', host32bitPv: true })).text.includes(DEBIAN_BOOT_PATHS.pvGrub32));
  const unknown = convertConfig(cfg, 'pv');
  assert.ok(!unknown.ok && /architecture is unknown/.test(unknown.refusal));
  const shim = ok(convertConfig(parse('name = "a"\ntype = "pvh"\npvshim = 1\nkernel = "/k"\n'), 'pv', { kernelCheck: () => pvhCapable }));
  assert.equal(shim.text, 'name = "a"\ntype = "pv"\nkernel = "/k"\n');
  const k32 = convertConfig(parse('name = "a"\ntype = "pvh"\nkernel = "/k"\n'), 'pv', { kernelCheck: () => ({ readable: true, pv: true, pvh: true, abi: 'xen-3.0-x86_32p', reason: '', pvReason: '' }) });
  assert.ok(!k32.ok && /32-bit PV/.test(k32.refusal));
});

test('real Debian kernels: amd64 converts to PVH after the PHYS32_ENTRY check; 686 (no Xen notes) is refused', async () => {
  const amd64 = await debianKernel('amd64');
  const i686 = await debianKernel('686');
  const checks = new Map<string, KernelReadiness>();
  for (const k of [amd64.vmlinuz, i686.vmlinuz, '/nonexistent/vmlinuz']) checks.set(k, kernelCheckFrom(await inspectKernelFile(k)));
  const cfg = (k: string) => parse(`name = "a"\nkernel = "${k}"\nroot = "/dev/xvda1"\n`);
  const good = ok(convertConfig(cfg(amd64.vmlinuz), 'pvh', { kernelCheck: (p) => checks.get(p)! }));
  assert.match(good.text, /type = "pvh"/);
  assert.ok(good.reasons.some((x) => x.includes('PHYS32_ENTRY')));
  const bad = convertConfig(cfg(i686.vmlinuz), 'pvh', { kernelCheck: (p) => checks.get(p)! });
  assert.ok(!bad.ok && /cannot boot as PVH/.test(bad.refusal), bad.ok ? '' : bad.refusal);
  // the shim boots its guest as PV: a kernel with no Xen notes cannot run under it either
  const shim = convertConfig(cfg(i686.vmlinuz), 'pvh-shim', { kernelCheck: (p) => checks.get(p)! });
  assert.ok(!shim.ok && /cannot run under the PV shim, which boots it as PV: .*Xen/.test(shim.refusal), shim.ok ? '' : shim.refusal);
  const shim64 = ok(convertConfig(cfg(amd64.vmlinuz), 'pvh-shim', { kernelCheck: (p) => checks.get(p)! }));
  assert.ok(shim64.reasons.some((x) => x.includes('xen-3.0-x86_64')), shim64.reasons.join('; '));
  assert.ok(ok(convertConfig(cfg('/nonexistent/vmlinuz'), 'pvh-shim', { kernelCheck: (p) => checks.get(p)! })).warnings.some((w) => w.includes('could not be read here')));
  const missing = ok(convertConfig(cfg('/nonexistent/vmlinuz'), 'pvh', { kernelCheck: (p) => checks.get(p)! }));
  assert.ok(missing.warnings.some((w) => w.includes('could not be read here')));
});

test('real GRUB images (grub-xen-host): PV GRUB → PVH GRUB gives a kernel Xen boots as PVH; rollback gives one it boots as PV', async () => {
  const dir = await unpackDeb(await fetchDeb('^grub-xen-host$'), ['./usr/lib/grub-xen']);
  const at = (f: string) => join(dir, 'usr/lib/grub-xen', f);
  const paths = { pvhGrub: at('grub-i386-xen_pvh.bin'), pvGrub64: at('grub-x86_64-xen.bin'), pvGrub32: at('grub-i386-xen.bin') };
  const pvh = ok(convertConfig(parse(`name = "a"\nkernel = "${paths.pvGrub64}"\n`), 'pvh', { paths }));
  const newKernel = modelOf(pvh.config).kernel!;
  assert.equal(newKernel, paths.pvhGrub);
  const verdict = await inspectKernelFile(newKernel);
  assert.ok(!isFailure(verdict) && verdict.pvh.capable, 'the PVH GRUB image carries PHYS32_ENTRY');
  const back = ok(convertConfig(pvh.config, 'pv', { paths, guestArch: 'x86_64' }));
  const pvVerdict = await inspectKernelFile(modelOf(back.config).kernel!);
  assert.ok(!isFailure(pvVerdict) && pvVerdict.pv.capable && pvVerdict.pv.abi === 'xen-3.0-x86_64', 'the 64-bit PV GRUB boots as 64-bit PV');
});

/** Direct-kernel PV configs as customers write them, and the command line xl must read after the switch. */
const CONSOLE_CASES: { config: string; key: 'extra' | 'cmdline'; after: string }[] = [
  // No extra at all: one is added after root.
  { config: 'name = "a"\nkernel = "/k"\nroot = "/dev/xvda1 ro"\n', key: 'extra', after: 'console=hvc0' },
  // The customer's words are kept, byte for byte, with odd spacing and quotes.
  { config: "name = 'a'\nkernel = '/k'\nextra = '  quiet  splash=\"x y\"\tloglevel=3'  # mine\n", key: 'extra', after: '  quiet  splash="x y"\tloglevel=3 console=hvc0' },
  // Another console stays (Linux writes kernel messages to every console= given).
  { config: 'name = "a"\nkernel = "/k"\nextra = "console=ttyS0,115200n8"\n', key: 'extra', after: 'console=ttyS0,115200n8 console=hvc0' },
  // cmdline overrides root and extra in xl: it is the one that gets the word.
  { config: 'name = "a"\nkernel = "/k"\nextra = "quiet"\ncmdline = "root=/dev/xvda1 ro"\n', key: 'cmdline', after: 'root=/dev/xvda1 ro console=hvc0' },
  // extra built with += (Xen >= 4.13): the last statement carries the whole effective value.
  { config: 'name = "a"\nkernel = "/k"\nextra = "quiet"\nextra += " panic=10"\n', key: 'extra', after: 'quiet panic=10 console=hvc0' },
  // Already there (with options, or trailing space): nothing changes.
  { config: 'name = "a"\nkernel = "/k"\nextra = "console=hvc0,115200 quiet"\n', key: 'extra', after: 'console=hvc0,115200 quiet' },
  { config: 'name = "a"\nkernel = "/k"\nextra = "quiet "\n', key: 'extra', after: 'quiet console=hvc0' },
  // An empty extra.
  { config: 'name = "a"\nkernel = "/k"\nextra = ""\n', key: 'extra', after: 'console=hvc0' },
];

test('PV → PVH, direct kernel: console=hvc0 goes on the command line xl reads, every other word and key kept (read back by libxlutil)', async () => {
  const bin = buildXluDump();
  const outs = CONSOLE_CASES.map((c) => ok(convertConfig(parse(c.config), 'pvh', { kernelCheck: () => pvhCapable })));
  const before = await runXlu(bin, CONSOLE_CASES.map((c) => c.config));
  const after = await runXlu(bin, outs.map((o) => o.text));
  CONSOLE_CASES.forEach((c, i) => {
    const a = after[i]!;
    const b = before[i]!;
    assert.ok(a.kind === 'ok' && b.kind === 'ok', c.config);
    const value = (r: typeof a, k: string) => (r.kind === 'ok' ? r.settings.find((x) => x.key === k)?.value : undefined);
    assert.equal(value(a, c.key), c.after, c.config);
    // Nothing else xl reads changed, except type and builder.
    for (const s of b.settings) if (!['type', 'builder', c.key].includes(s.key)) assert.deepEqual(value(a, s.key), s.value, `${c.config}: ${s.key}`);
    // Idempotent: the added word is found again and not added twice.
    const again = convertConfig(outs[i]!.config, 'pvh', { kernelCheck: () => pvhCapable });
    assert.ok(!again.ok, 'a PVH config is not converted twice');
    const unchanged = c.after.includes('console=hvc0') && !c.config.includes(c.after);
    assert.equal(outs[i]!.reasons.some((r) => r.startsWith('console=hvc0 added')), unchanged, c.config);
  });
  // The comment after the edited statement survives.
  assert.match(outs[1]!.text, /# mine\n$/);
  // The same rule, run on the output with type reset to PV, adds nothing.
  const reset = outs.map((o) => ok(convertConfig(parse(o.text.replace('type = "pvh"', 'type = "pv"')), 'pvh', { kernelCheck: () => pvhCapable })));
  reset.forEach((r, i) => assert.equal(r.text.replace('type = "pvh"', ''), outs[i]!.text.replace('type = "pvh"', ''), 'console=hvc0 added twice'));
});

test('console=hvc0 is added only for a kernel booted from dom0 as PVH: not for PVH GRUB, pygrub or the shim; a list-shaped extra is reported', () => {
  const grub = ok(convertConfig(parse('name = "a"\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\nextra = "quiet"\n'), 'pvh', {}));
  assert.equal(effectiveSettings(grub.config).get('extra')!.value, 'quiet', "extra is PVH GRUB's own command line there, not Linux's");
  const pygrub = ok(convertConfig(parse('name = "a"\nbootloader = "pygrub"\n'), 'pvh', {}));
  assert.equal(effectiveSettings(pygrub.config).get('extra'), undefined);
  const shim = ok(convertConfig(parse('name = "a"\nkernel = "/k"\nextra = "quiet"\n'), 'pvh-shim', {}));
  assert.equal(effectiveSettings(shim.config).get('extra')!.value, 'quiet', 'under the shim the PV entry path picks hvc0 itself');
  const list = ok(convertConfig(parse('name = "a"\nkernel = "/k"\nextra = [ "quiet" ]\n'), 'pvh', { kernelCheck: () => pvhCapable }));
  assert.ok(list.warnings.some((w) => /extra is a list/.test(w)), list.warnings.join('; '));
});

test('real Debian amd64 kernel from dom0 with a stock command line: the PVH config adds console=hvc0 to extra', async () => {
  const amd64 = await debianKernel('amd64');
  const check = kernelCheckFrom(await inspectKernelFile(amd64.vmlinuz));
  const r = ok(convertConfig(parse(`name = "a"\nkernel = "${amd64.vmlinuz}"\nroot = "/dev/xvda1 ro"\nextra = "quiet"\n`), 'pvh', { kernelCheck: () => check }));
  assert.equal(effectiveSettings(r.config).get('extra')!.value, 'quiet console=hvc0');
});

test('memory < maxmem (populate-on-demand under PVH) is refused unless the operator sets maxmem = memory or accepts PoD', () => {
  const text = 'name = "web"\nkernel = "/usr/lib/grub-xen/grub-x86_64-xen.bin"\nmemory = 512\nmaxmem = 2048\n';
  for (const target of ['pvh', 'pvh-shim'] as const) {
    const refused = convertConfig(parse(text), target, {});
    assert.equal(refused.ok, false, target);
    assert.match(refused.ok ? '' : refused.refusal, /memory \(512 MB\) is below maxmem \(2048 MB\): under PVH that makes it a populate-on-demand guest, which can crash with "out of PoD memory"; an operator can set maxmem = memory, or accept populate-on-demand/);
    const equal = convertConfig(parse(text), target, { pod: 'maxmem-equals-memory' });
    assert.ok(equal.ok, target);
    assert.match(equal.text, /^maxmem = 512$/m);
    assert.match(equal.text, /^memory = 512$/m);
    const accepted = convertConfig(parse(text), target, { pod: 'accept' });
    assert.ok(accepted.ok, target);
    assert.match(accepted.text, /^maxmem = 2048$/m);
    assert.ok(accepted.warnings.some((w) => /populate-on-demand.*\(accepted\)/.test(w)));
  }
  // memory = maxmem, or no maxmem: nothing to choose
  assert.ok(convertConfig(parse(text.replace('maxmem = 2048', 'maxmem = 512')), 'pvh', {}).ok);
  assert.ok(convertConfig(parse(text.replace('maxmem = 2048\n', '')), 'pvh', {}).ok);
});
