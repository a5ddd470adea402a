import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderBls, parseBlsEntry } from './bls.ts';
import { parseGrub2 } from './grub2.ts';
import { parseGrubLegacy } from './grub-legacy.ts';
import { parseExtlinux } from './extlinux.ts';
import { parseGrubenv } from './grubenv.ts';
import { grubenv } from './testdata/debian-grub.ts';
import { alpineExtlinux } from './testdata/alpine-extlinux.ts';
import { BootConfigError } from './types.ts';
import { fuzzCases, fuzzSeed, rng } from '../../test/support/fuzz.ts';

/** RHEL 8's grub.cfg around blscfg (grub2-mkconfig with GRUB_ENABLE_BLSCFG=true). */
const rhel8 = `set pager=1

if [ -f \${config_directory}/grubenv ]; then
  load_env -f \${config_directory}/grubenv
elif [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "\${next_entry}" ] ; then
   set default="\${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="\${saved_entry}"
fi
### BEGIN /etc/grub.d/10_linux ###
insmod part_msdos
insmod xfs
set root='hd0,msdos1'
insmod blscfg
blscfg
### END /etc/grub.d/10_linux ###
`;

const mid = '3f2a9c1e0d5b4a6f8e7d6c5b4a392817';

test('BLS entries under RHEL 8 grub.cfg: newest first, $kernelopts from grubenv, saved_entry by id', () => {
  const env = parseGrubenv(grubenv({ saved_entry: `${mid}-4.18.0-477.el8.x86_64`, kernelopts: 'root=/dev/mapper/rhel-root ro console=hvc0' })) as Map<string, string>;
  const files = ['4.18.0-477.el8.x86_64', '4.18.0-513.el8.x86_64', '0-rescue'].map((v) =>
    parseBlsEntry(
      `${mid}-${v}`,
      `title Red Hat Enterprise Linux (${v}) 8.9 (Ootpa)\nversion ${v}\nlinux /vmlinuz-${v}\ninitrd /initramfs-${v}.img $tuned_initrd\noptions $kernelopts $tuned_params\nid rhel-${v}\ngrub_users $grub_users\ngrub_arg --unrestricted\ngrub_class kernel\n`,
      env,
    ),
  );
  const ordered = orderBls(files);
  assert.deepEqual(ordered.map((e) => e.version), ['4.18.0-513.el8.x86_64', '4.18.0-477.el8.x86_64', '0-rescue']);
  assert.equal(ordered[0]!.args, 'root=/dev/mapper/rhel-root ro console=hvc0');
  const m = parseGrub2({ file: '/boot/grub2/grub.cfg', text: rhel8, grubenv: env, bls: ordered });
  assert.ok(m.default.decided);
  assert.equal(m.entries[m.default.index]!.kernel, '/vmlinuz-4.18.0-477.el8.x86_64');
  // Without saved_entry: the newest.
  const m2 = parseGrub2({ file: 'g', text: rhel8, grubenv: new Map([['kernelopts', 'x']]), bls: ordered });
  assert.ok(m2.default.decided);
  assert.equal(m2.entries[m2.default.index]!.kernel, '/vmlinuz-4.18.0-513.el8.x86_64');
});

test('BLS: a missing $kernelopts is a warning, not a guess', () => {
  const e = parseBlsEntry('x', 'linux /vmlinuz\noptions $kernelopts quiet\n', null);
  assert.equal(e.args, 'quiet');
  assert.match(e.warnings.join(), /kernelopts/);
});

const menuLst = `# menu.lst - See: grub(8), info grub, update-grub(8)
default\t\tsaved
timeout\t\t5
## ## End Default Options ##
title\t\tDebian GNU/Linux, kernel 2.6.32-5-xen-amd64
root\t\t(hd0,0)
kernel\t\t/boot/vmlinuz-2.6.32-5-xen-amd64 root=/dev/xvda1 ro console=hvc0
initrd\t\t/boot/initrd.img-2.6.32-5-xen-amd64
savedefault

title\t\tDebian GNU/Linux, kernel 6.1.0-56-amd64
root\t\t(hd0,0)
kernel\t\t(hd0,0)/boot/vmlinuz-6.1.0-56-amd64 root=/dev/xvda1 ro
initrd\t\t/boot/initrd.img-6.1.0-56-amd64
`;

test('GRUB legacy: default saved reads /boot/grub/default; numbers; out of range is 0', () => {
  const m = parseGrubLegacy({ file: '/boot/grub/menu.lst', text: menuLst, savedDefault: '1\n#\n' });
  assert.equal(m.entries.length, 2);
  assert.ok(m.default.decided && m.default.index === 1);
  assert.equal(m.entries[1]!.kernel, '/boot/vmlinuz-6.1.0-56-amd64');
  assert.equal(m.entries[0]!.args, 'root=/dev/xvda1 ro console=hvc0');
  const none = parseGrubLegacy({ file: 'm', text: menuLst, savedDefault: null });
  assert.ok(none.default.decided && none.default.index === 0);
  const far = parseGrubLegacy({ file: 'm', text: menuLst.replace('default\t\tsaved', 'default 7'), savedDefault: null });
  assert.ok(far.default.decided && far.default.index === 0 && /past the last/.test(far.default.reason));
});

const kernelOf = (m: ReturnType<typeof parseExtlinux>) => (m.default.decided ? m.entries[m.default.index]!.kernel : null);

test('extlinux: DEFAULT label, MENU DEFAULT under a UI, DEFAULT as a command line', () => {
  const text = `UI menu.c32\nDEFAULT nolabel\nLABEL old\n  MENU LABEL Old kernel\n  KERNEL /boot/vmlinuz-old\n  APPEND root=/dev/xvda1 initrd=/boot/initrd-old\nLABEL new\n  MENU LABEL New kernel\n  MENU DEFAULT\n  LINUX /boot/vmlinuz-new\n  INITRD /boot/initrd-new\n  APPEND root=/dev/xvda1 console=hvc0\n`;
  const m = parseExtlinux({ file: 'e', text });
  assert.equal(kernelOf(m), '/boot/vmlinuz-new');
  assert.deepEqual(m.entries[0]!.initrd, ['/boot/initrd-old']);
  // syslinux 6's menu: with a UI line, a DEFAULT naming a label wins over MENU DEFAULT (has_ui && globaldefault).
  assert.equal(kernelOf(parseExtlinux({ file: 'e', text: text.replace('DEFAULT nolabel', 'DEFAULT old') })), '/boot/vmlinuz-old');
  const plain = parseExtlinux({ file: 'e', text: text.replace('UI menu.c32\n', '').replace('DEFAULT nolabel', 'DEFAULT old') });
  assert.equal(kernelOf(plain), '/boot/vmlinuz-old');
  const cmd = parseExtlinux({ file: 'e', text: 'DEFAULT /vmlinuz root=/dev/xvda1\n' });
  assert.ok(cmd.default.decided && cmd.entries[cmd.default.index]!.kernel === '/vmlinuz' && cmd.entries[cmd.default.index]!.type === 'linux');
});

test("extlinux: Alpine's update-extlinux config (DEFAULT menu.c32, no UI line) boots the MENU DEFAULT entry, not a kernel named menu.c32", () => {
  const root = 'UUID=5a3c0e8e-0b7e-4c1e-9d52-7f3b2a1c0d9e';
  const m = parseExtlinux({ file: '/boot/extlinux.conf', text: alpineExtlinux({ kernels: ['lts', 'virt'], default: 'virt', root }) });
  assert.ok(m.default.decided, m.default.reason);
  assert.equal(m.entries.length, 2, 'the MENU SEPARATOR is no entry');
  const d = m.entries[m.default.index]!;
  assert.equal(d.title, 'Linux virt');
  assert.equal(d.kernel, 'vmlinuz-virt');
  assert.deepEqual(d.initrd, ['initramfs-virt']);
  assert.equal(d.args, `root=${root} modules=sd-mod,usb-storage,ext4 quiet rootfstype=ext4`);
  assert.match(m.default.reason, /menu module.*MENU DEFAULT/);
  // No MENU DEFAULT (update-extlinux.conf's default= names no kernel): the menu's first entry.
  const none = parseExtlinux({ file: 'e', text: alpineExtlinux({ kernels: ['lts', 'virt'], default: '0', root }) });
  assert.equal(kernelOf(none), 'vmlinuz-lts');
  // vesamenu.c32 is the same menu module; keywords are case-insensitive (in ASCII only).
  const vesa = parseExtlinux({ file: 'e', text: alpineExtlinux({ kernels: ['lts', 'virt'], default: 'virt', root }).replace('DEFAULT menu.c32', 'default vesamenu.c32') });
  assert.equal(kernelOf(vesa), 'vmlinuz-virt');
  // With Xen installed: mboot.c32 entries boot xen.gz as a multiboot kernel.
  const xen = parseExtlinux({ file: 'e', text: alpineExtlinux({ kernels: ['lts'], default: 'xen-lts', root, xen: true }) });
  assert.ok(xen.default.decided);
  const x = xen.entries[xen.default.index]!;
  assert.equal(x.type, 'multiboot');
  assert.equal(x.kernel, 'xen.gz');
  assert.match(x.args!, /^--- vmlinuz-lts root=/);
  assert.equal(xen.entries[1]!.type, 'linux');
});

test('extlinux: other COM32 modules and boot sectors are not Linux kernels; an unknown UI module is undecided; hidden entries are not the menu default', () => {
  const chain = parseExtlinux({ file: 'e', text: 'DEFAULT chain.c32 hd0 1\nLABEL a\n  LINUX /vmlinuz\n' });
  assert.ok(chain.default.decided);
  assert.equal(chain.entries[chain.default.index]!.type, 'other');
  const bs = parseExtlinux({ file: 'e', text: 'DEFAULT win\nLABEL win\n  KERNEL /ntldr.bss\n' });
  assert.ok(bs.default.decided && bs.entries[bs.default.index]!.type === 'chainloader');
  const gfx = parseExtlinux({ file: 'e', text: 'UI gfxboot.c32 bootlogo\nLABEL a\n  LINUX /vmlinuz\n' });
  assert.ok(!gfx.default.decided);
  assert.match(gfx.default.reason, /gfxboot\.c32/);
  const hidden = parseExtlinux({ file: 'e', text: 'UI menu.c32\nDEFAULT h\nLABEL h\n  MENU HIDE\n  LINUX /vmlinuz-h\nLABEL s\n  LINUX /vmlinuz-s\n' });
  assert.equal(kernelOf(hidden), '/vmlinuz-s', "the menu's find_label skips the hidden menu");
  const disabled = parseExtlinux({ file: 'e', text: 'DEFAULT menu.c32\nLABEL a\n  MENU DEFAULT\n  MENU DISABLE\n  LINUX /vmlinuz-a\nLABEL b\n  LINUX /vmlinuz-b\n' });
  assert.ok(!disabled.default.decided, 'a disabled first entry with no runnable MENU DEFAULT');
  // A MENU DEFAULT inside a submenu is that submenu's; the top menu starts at its own first entry.
  const sub = parseExtlinux({ file: 'e', text: 'DEFAULT menu.c32\nLABEL top\n  LINUX /vmlinuz-top\nMENU BEGIN Old\n  LABEL old\n    MENU DEFAULT\n    LINUX /vmlinuz-old\nMENU END\n' });
  assert.equal(kernelOf(sub), '/vmlinuz-top');
  assert.deepEqual(sub.entries[1]!.submenu, ['Old']);
  const subFirst = parseExtlinux({ file: 'e', text: 'DEFAULT menu.c32\nMENU BEGIN Old\n  LABEL old\n    LINUX /vmlinuz-old\nMENU END\nLABEL top\n  LINUX /vmlinuz-top\n' });
  assert.ok(!subFirst.default.decided, subFirst.default.reason);
  // With UI, DEFAULT may name a label inside a submenu (the menu starts in that submenu).
  assert.equal(kernelOf(parseExtlinux({ file: 'e', text: 'UI menu.c32\nDEFAULT old\nLABEL top\n  LINUX /vmlinuz-top\nMENU BEGIN\n  LABEL old\n    LINUX /vmlinuz-old\nMENU END\n' })), '/vmlinuz-old');
  // Other line separators inside a line, and a CR that ends it (as syslinux reads it): no crash.
  const odd = parseExtlinux({ file: 'e', text: 'DEFAULT a\u2028b\nLABEL a\u2028b\n  LINUX /vmlinuz\r junk\n' });
  assert.ok(odd.default.decided && odd.entries[odd.default.index]!.kernel === '/vmlinuz');
  const kelvin = parseExtlinux({ file: 'e', text: 'LABEL a\n  LINUX /vmlinuz\n  \u212AERNEL /x.c32\n' });
  assert.equal(kernelOf(kelvin), '/vmlinuz');
});

const seed = fuzzSeed();

test(`fuzz: mutated syslinux configs (UI, DEFAULT menu.c32, MENU DEFAULT, COM32) give a consistent menu or a BootConfigError (seed ${seed})`, () => {
  const root = 'UUID=5a3c0e8e-0b7e-4c1e-9d52-7f3b2a1c0d9e';
  const corpus = [
    alpineExtlinux({ kernels: ['lts', 'virt'], default: 'virt', root }),
    alpineExtlinux({ kernels: ['lts', 'virt'], default: 'xen-virt', root, xen: true }),
    'UI vesamenu.c32\nDEFAULT b\nLABEL a\n  MENU HIDE\n  KERNEL /vmlinuz-a\nLABEL b\n  MENU DEFAULT\n  LINUX /vmlinuz-b\n  APPEND initrd=/i root=/dev/xvda1\n',
  ];
  const words = ['\n', ' ', 'DEFAULT ', 'UI ', 'LABEL ', 'MENU DEFAULT\n', 'MENU HIDE\n', 'MENU SEPARATOR\n', 'MENU BEGIN ', 'MENU END\n', 'MENU DISABLE\n', 'MENU LABEL ', 'COM32 ', 'KERNEL ', 'LINUX ', 'APPEND ', 'INITRD ', 'menu.c32', 'mboot.c32', '.c32', '.bss', 'initrd=', '---', '#'];
  const r = rng(seed);
  const pick = (n: number) => Math.floor(r() * n);
  let decided = 0;
  for (let c = 0; c < fuzzCases(3000); c++) {
    let t = corpus[c % corpus.length]!;
    for (let k = 0; k < 1 + pick(5); k++) {
      const at = pick(t.length + 1);
      const x = r();
      if (x < 0.5) t = t.slice(0, at) + words[pick(words.length)] + t.slice(at);
      else if (x < 0.85) t = t.slice(0, at) + t.slice(at + 1 + pick(30));
      else t = t.slice(0, at) + String.fromCharCode(pick(256)) + t.slice(at + 1);
    }
    let m: ReturnType<typeof parseExtlinux>;
    try {
      m = parseExtlinux({ file: 'fuzz.conf', text: t });
    } catch (err) {
      if (!(err instanceof BootConfigError)) throw err;
      continue;
    }
    assert.ok(m.default.reason.length > 0);
    if (!m.default.decided) continue;
    decided++;
    assert.ok(Number.isInteger(m.default.index) && m.default.index >= 0 && m.default.index < m.entries.length, `case ${c}: index in range`);
    for (const e of m.entries) {
      // A .c32 file is a COM32 module, not a Linux kernel, unless a LINUX line says so.
      if (e.type === 'linux' && /\.c32$/i.test(e.kernel ?? '')) assert.match(t, /^\s*linux\s/im, `case ${c}: ${e.kernel} is no Linux kernel`);
    }
  }
  assert.ok(decided > fuzzCases(3000) / 2, `most mutated configs still decide (${decided})`);
});
