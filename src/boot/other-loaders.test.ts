import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderBls, parseBlsEntry } from './bls.ts';
import { parseGrub2 } from './grub2.ts';
import { parseGrubLegacy } from './grub-legacy.ts';
import { parseExtlinux } from './extlinux.ts';
import { parseGrubenv } from './grubenv.ts';
import { grubenv } from './testdata/debian-grub.ts';

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

test('extlinux: DEFAULT label, MENU DEFAULT under a UI, DEFAULT as a command line', () => {
  const text = `UI menu.c32\nDEFAULT old\nLABEL old\n  MENU LABEL Old kernel\n  KERNEL /boot/vmlinuz-old\n  APPEND root=/dev/xvda1 initrd=/boot/initrd-old\nLABEL new\n  MENU LABEL New kernel\n  MENU DEFAULT\n  LINUX /boot/vmlinuz-new\n  INITRD /boot/initrd-new\n  APPEND root=/dev/xvda1 console=hvc0\n`;
  const m = parseExtlinux({ file: 'e', text });
  assert.ok(m.default.decided);
  assert.equal(m.entries[m.default.index]!.kernel, '/boot/vmlinuz-new');
  assert.deepEqual(m.entries[0]!.initrd, ['/boot/initrd-old']);
  const plain = parseExtlinux({ file: 'e', text: text.replace('UI menu.c32\n', '') });
  assert.ok(plain.default.decided && plain.entries[plain.default.index]!.kernel === '/boot/vmlinuz-old');
  const cmd = parseExtlinux({ file: 'e', text: 'DEFAULT /vmlinuz root=/dev/xvda1\n' });
  assert.ok(cmd.default.decided && cmd.entries[cmd.default.index]!.kernel === '/vmlinuz');
});
