import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGrub2 } from './grub2.ts';
import { tokenize } from './grub2-script.ts';
import { parseGrubenv } from './grubenv.ts';
import { debianGrubCfg, grubenv } from './testdata/debian-grub.ts';
import { BootConfigError } from './types.ts';

const UUID = '5a3c0e8e-1b2f-4c55-9d55-0a1b2c3d4e5f';
const kernels = ['6.1.0-56-amd64', '6.1.0-50-amd64'];

function menu(grubDefault: string, env: Record<string, string> | null, extra: Partial<Parameters<typeof debianGrubCfg>[0]> = {}) {
  const text = debianGrubCfg({ kernels, rootUuid: UUID, grubDefault, ...extra });
  const ge = env === null ? null : parseGrubenv(grubenv(env));
  assert.ok(typeof ge !== 'string');
  return parseGrub2({ file: '/boot/grub/grub.cfg', text, grubenv: ge });
}

function chosen(m: ReturnType<typeof menu>) {
  assert.ok(m.default.decided, m.default.decided ? '' : m.default.reason);
  return m.entries[m.default.index]!;
}

test('Debian 12 grub.cfg: entries, submenu paths, kernels, ids', () => {
  const m = menu('0', {});
  assert.deepEqual(
    m.entries.map((e) => [e.title, e.submenu.length, e.kernel]),
    [
      ['Debian GNU/Linux', 0, '/boot/vmlinuz-6.1.0-56-amd64'],
      ['Debian GNU/Linux, with Linux 6.1.0-56-amd64', 1, '/boot/vmlinuz-6.1.0-56-amd64'],
      ['Debian GNU/Linux, with Linux 6.1.0-56-amd64 (recovery mode)', 1, '/boot/vmlinuz-6.1.0-56-amd64'],
      ['Debian GNU/Linux, with Linux 6.1.0-50-amd64', 1, '/boot/vmlinuz-6.1.0-50-amd64'],
      ['Debian GNU/Linux, with Linux 6.1.0-50-amd64 (recovery mode)', 1, '/boot/vmlinuz-6.1.0-50-amd64'],
      ['UEFI Firmware Settings', 0, null],
    ],
  );
  assert.equal(m.entries[0]!.id, `gnulinux-simple-${UUID}`);
  assert.equal(m.entries[0]!.args, `root=UUID=${UUID} ro quiet`);
  assert.deepEqual(m.entries[0]!.initrd, ['/boot/initrd.img-6.1.0-56-amd64']);
  assert.equal(m.entries[5]!.conditional, true, 'the UEFI entry exists only on EFI');
  assert.equal(chosen(m).title, 'Debian GNU/Linux');
});

test('GRUB_DEFAULT=saved: saved_entry as an id path into the submenu (where pygrub boots the wrong kernel)', () => {
  const m = menu('saved', { saved_entry: `gnulinux-advanced-${UUID}>gnulinux-6.1.0-50-amd64-advanced-${UUID}` });
  assert.equal(chosen(m).kernel, '/boot/vmlinuz-6.1.0-50-amd64');
  assert.equal(chosen(m).title, 'Debian GNU/Linux, with Linux 6.1.0-50-amd64');
  assert.match(m.default.reason, /saved_entry/);
});

test('saved_entry as a title path, and a plain title', () => {
  const m = menu('saved', { saved_entry: 'Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-50-amd64 (recovery mode)' });
  assert.equal(chosen(m).args, `root=UUID=${UUID} ro single`);
  const t = menu('saved', { saved_entry: 'Debian GNU/Linux' });
  assert.equal(chosen(t).title, 'Debian GNU/Linux');
});

test('next_entry wins over saved_entry (a one-time boot)', () => {
  const m = menu('saved', { saved_entry: '0', next_entry: '1>2' });
  assert.equal(chosen(m).title, 'Debian GNU/Linux, with Linux 6.1.0-50-amd64');
});

test('GRUB_DEFAULT=saved with no grubenv, or an unknown saved_entry, boots entry 0 (menu.c)', () => {
  assert.equal(chosen(menu('saved', null)).title, 'Debian GNU/Linux');
  const m = menu('saved', { saved_entry: 'no-such-entry' });
  assert.equal(m.default.decided, false, 'a name not found may be in custom.cfg, which 41_custom sources');
});

test('custom.cfg beside grub.cfg: absent, a name not found is entry 0; present, its entries are read in place', () => {
  const text = debianGrubCfg({ kernels, rootUuid: UUID, grubDefault: 'saved' });
  const env = parseGrubenv(grubenv({ saved_entry: 'My kernel' })) as Map<string, string>;
  const absent = parseGrub2({ file: 'g', text, grubenv: env, siblings: new Map([['custom.cfg', null]]) });
  assert.ok(absent.default.decided && absent.default.index === 0);
  const custom = "menuentry 'My kernel' {\n  linux /boot/vmlinuz-custom root=/dev/xvda1\n}\n";
  const present = parseGrub2({ file: 'g', text, grubenv: env, siblings: new Map([['custom.cfg', custom]]) });
  assert.ok(present.default.decided);
  assert.equal(present.entries[present.default.index]!.kernel, '/boot/vmlinuz-custom');
  // A custom.cfg that sources itself ends (depth cap) instead of looping.
  const loop = parseGrub2({ file: 'g', text, grubenv: env, siblings: new Map([['custom.cfg', 'source $prefix/custom.cfg\n' + custom]]) });
  assert.ok(loop.entries.length < 40);
});

test('numeric and submenu defaults; a submenu alone boots its first entry', () => {
  assert.equal(chosen(menu('1>3', {})).title, 'Debian GNU/Linux, with Linux 6.1.0-50-amd64 (recovery mode)');
  assert.equal(chosen(menu('1', {})).title, 'Debian GNU/Linux, with Linux 6.1.0-56-amd64');
  assert.equal(chosen(menu('99', {})).title, 'Debian GNU/Linux', 'out of range is entry 0');
});

test('a separate /boot: kernel paths are relative to the boot partition', () => {
  const m = menu('0', {}, { bootPrefix: '', bootUuid: '11111111-2222-3333-4444-555555555555' });
  assert.equal(chosen(m).kernel, '/vmlinuz-6.1.0-56-amd64');
});

test('cannot decide: the default set under a condition only known at boot', () => {
  const text = "if loadfont unicode; then\n  set default=1\nfi\nmenuentry 'A' { linux /a }\nmenuentry 'B' { linux /b }\n";
  const m = parseGrub2({ file: 'g', text, grubenv: null });
  assert.equal(m.default.decided, false);
  // ...unless both arms agree.
  const same = "if loadfont unicode; then\n  set default=1\nelse\n  set default=1\nfi\nmenuentry 'A' { linux /a }\nmenuentry 'B' { linux /b }\n";
  assert.equal(chosen(parseGrub2({ file: 'g', text: same, grubenv: null })).title, 'B');
  // An entry that may or may not exist before the default shifts the index.
  const shifted = "set default=1\nif [ -e /x ]; then menuentry 'X' { linux /x }\nfi\nmenuentry 'A' { linux /a }\nmenuentry 'B' { linux /b }\n";
  assert.equal(parseGrub2({ file: 'g', text: shifted, grubenv: null }).default.decided, false);
});

test('guest text is parsed, never evaluated; quoting and escapes as GRUB reads them', () => {
  const text = [
    "menuentry \"it's \\\"quoted\\\" \\$HOME\" --id 'x' {",
    "  linux (hd0,msdos1)/boot/vmlinuz-$(reboot) root=/dev/xvda1 console=hvc0 `id`",
    '}',
    '',
  ].join('\n');
  const m = parseGrub2({ file: 'g', text, grubenv: null });
  assert.equal(m.entries[0]!.title, 'it\'s "quoted" $HOME');
  assert.equal(m.entries[0]!.kernel, '/boot/vmlinuz-$(reboot)');
  assert.equal(m.entries[0]!.args, 'root=/dev/xvda1 console=hvc0 `id`');
});

test('bad input: one-line errors naming file and line; nesting and size capped', () => {
  assert.throws(() => parseGrub2({ file: 'g.cfg', text: "menuentry 'A' {\n linux /a\n", grubenv: null }), (e: Error) => e instanceof BootConfigError && /g\.cfg:\d+: missing \}/.test(e.message));
  assert.throws(() => parseGrub2({ file: 'g.cfg', text: "menuentry 'A\n", grubenv: null }), /unterminated single quote/);
  const deep = 'if true; then\n'.repeat(100) + 'fi\n'.repeat(100);
  assert.throws(() => parseGrub2({ file: 'g.cfg', text: deep, grubenv: null }), /nested deeper/);
  assert.throws(() => parseGrub2({ file: 'g.cfg', text: 'x'.repeat(2 << 20), grubenv: null }), /over the/);
  const many = "menuentry 'A' { linux /a }\n".repeat(3000);
  const m = parseGrub2({ file: 'g.cfg', text: many, grubenv: null });
  assert.equal(m.entries.length, 1024);
  assert.match(m.warnings.join(), /more than 1024/);
});

test('grubenv: escapes, padding, and a file that is not one', () => {
  const env = parseGrubenv(grubenv({ saved_entry: 'a\\b', next_entry: 'x\ny' }));
  assert.ok(env instanceof Map);
  assert.equal(env.get('saved_entry'), 'a\\b');
  assert.equal(env.get('next_entry'), 'x\ny');
  assert.equal(typeof parseGrubenv('saved_entry=0\n'), 'string');
});

test('fuzz: mutated Debian configs give a menu or a BootConfigError, nothing else (bounded cases)', () => {
  const base = debianGrubCfg({ kernels, rootUuid: UUID, grubDefault: 'saved' });
  const env = parseGrubenv(grubenv({ saved_entry: '1>2' })) as Map<string, string>;
  const alphabet = ['{', '}', "'", '"', '\\', '$', '${', ';', '\n', 'if ', 'fi', 'then', 'menuentry ', 'submenu ', '>', 'set default=', ' ', '#'];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  let menus = 0;
  for (let c = 0; c < 400; c++) {
    let t = base;
    for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) {
      const at = Math.floor(rnd() * t.length);
      const r = rnd();
      if (r < 0.4) t = t.slice(0, at) + alphabet[Math.floor(rnd() * alphabet.length)] + t.slice(at);
      else if (r < 0.8) t = t.slice(0, at) + t.slice(at + 1 + Math.floor(rnd() * 20));
      else t = t.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 256)) + t.slice(at + 1);
    }
    try {
      const m = parseGrub2({ file: 'fuzz.cfg', text: t, grubenv: env });
      if (m.default.decided) assert.ok(m.default.index >= 0 && m.default.index < m.entries.length);
      menus++;
    } catch (err) {
      if (!(err instanceof BootConfigError)) throw err;
    }
  }
  assert.ok(menus > 50);
});

test('tokenize: runs of plain and double-quoted text keep escapes, a lone $, an escaped space, line numbers and a comment at the end', () => {
  const toks = tokenize('set a=x$y"p \\$q\\"r\n s\\t"\\ b;echo "${c}"\n# end', 'grub.cfg');
  const show = toks.map((t) => (t.t === 'word' ? `${t.line}:${t.w.map((p) => (p.literal ? `'${p.text}'` : p.text)).join('+')}` : `${t.line}:${t.t}`));
  assert.deepEqual(show, ['1:set', '1:a=x$y+p \\$q"r\n s\\t+\' \'+b', '2:sep', '2:echo', '2:${c}', '2:sep']);
});
