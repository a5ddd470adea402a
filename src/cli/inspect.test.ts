import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { debianKernel, type KernelFlavour } from '../debian/apt.ts';
import { inspectInChild } from '../guest/child.ts';
import { guestImage } from '../guest/testdata/images.ts';
import { fixtureGuests } from '../guest/testdata/guests.ts';

const run = promisify(execFile);
const bin = new URL('../../bin/pvhctl.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'pvhctl-cli-inspect-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { ...process.env, PVHCTL_DATA: join(dir, 'data') };

async function pvhctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, ...args], { env, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let images: Record<string, string> = {};
let hostile = '';
before(async () => {
  const rel = { amd64: '', 'cloud-amd64': '', '686-pae': '', '686': '' } as Record<KernelFlavour, string>;
  for (const f of Object.keys(rel) as KernelFlavour[]) rel[f] = (await debianKernel(f)).release;
  const g = fixtureGuests(rel);
  images = {
    ready: await guestImage(g.gpt),
    reboot: await guestImage(g['default-not-pvh']),
    logical: await guestImage(g.logical),
    alpine: await guestImage(g.alpine),
    broken: await guestImage(g['bad-superblock']),
  };
  // A guest whose menu title carries terminal escapes and bidi controls.
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'boot/grub'), { recursive: true });
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc/fstab'), '/dev/xvda1 / ext4 defaults 0 1\n');
  writeFileSync(join(tree, 'etc/os-release'), 'PRETTY_NAME="evil\x1b]0;pwned\x07\u202eOS"\nID=evil\n');
  writeFileSync(join(tree, 'boot/grub/grub.cfg'), "menuentry 'Linux \x1b[2J\u202e' {\n linux /boot/vmlinuz-x\n}\n");
  hostile = join(dir, 'hostile.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, hostile, '8M']);
});

test('inspect --json: one line per guest, verdicts, exit 0', async () => {
  const r = await pvhctl(['inspect', '--json', images.ready!, images.reboot!, images.logical!]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.verdict.verdict), ['ready', 'ready-after-reboot', 'ready']);
  assert.equal(lines[0].guest, images.ready);
});

test('inspect: a disk that cannot be opened is a one-line error and exit 1; the others are reported', async () => {
  const r = await pvhctl(['inspect', images.ready!, join(dir, 'missing.img')]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /verdict {3}ready/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /missing\.img: .*no such file/);
});

test('inspect: usage errors exit 2', async () => {
  assert.equal((await pvhctl(['inspect'])).code, 2);
  assert.equal((await pvhctl(['inspect', '--bogus', 'x'])).code, 2);
  assert.equal((await pvhctl(['inspect', '--jobs', '0', 'x'])).code, 2);
});

test('inspect: guest strings are escaped in text and JSON output', async () => {
  for (const args of [['inspect', hostile], ['inspect', '--json', hostile]]) {
    const r = await pvhctl(args);
    assert.doesNotMatch(r.stdout, /[\x1b\x07\u202e]/);
    assert.match(r.stdout, /\\x1b/);
  }
  const text = await pvhctl(['inspect', hostile]);
  assert.match(text.stdout, /verdict {3}blocked/, 'the default kernel does not exist');
});

test('inspect wording: a kernel not read because the default boots PVH is "not read (not needed)"; a missing one is "kernel missing"; a volume is named once', async () => {
  const r = await pvhctl(['inspect', '--no-cache', images.alpine!, images.broken!, hostile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\/boot\/vmlinuz-lts {2}not read \(not needed\)/);
  assert.match(r.stdout, /\/boot\/vmlinuz-x {2}kernel missing/);
  assert.equal(r.stdout.match(/kernel missing/g)?.length, 1, 'only the kernel that does not exist');
  const broken = r.stdout.split('\n').filter((l) => l.includes('corrupt ext4 superblock'));
  assert.equal(broken.length, 2, 'the verdict reason and the volume line');
  for (const l of broken) assert.equal(l.split(images.broken!).length - 1, 1, `the image is named once: ${l}`);
});

test('child limits: time and output limits end an inspection with a one-line error', async () => {
  const slow = await inspectInChild([{ path: images.reboot!, vdev: null }], { dataDir: null, name: 'slow' }, { timeoutMs: 50 });
  assert.deepEqual(slow, { guest: 'slow', error: 'inspection timed out after 0 s' });
  const chatty = await inspectInChild([{ path: images.ready!, vdev: null }], { dataDir: join(dir, 'data'), name: 'chatty' }, { maxOutputBytes: 100 });
  assert.ok('error' in chatty && /more than 100 bytes/.test(chatty.error));
  const small = await inspectInChild([{ path: images.reboot!, vdev: null }], { dataDir: null, name: 'small' }, { heapMiB: 4 });
  // Too small a heap kills the child; the caller gets a one-line error, not a crash.
  assert.ok('error' in small && /^inspection failed: /.test(small.error), JSON.stringify(small).slice(0, 200));
  // The address-space limit holds Buffers too: Node cannot even start in 1 GiB.
  const tight = await inspectInChild([{ path: images.ready!, vdev: null }], { dataDir: null, name: 'tight' }, { addressSpaceMiB: 1024 });
  assert.ok('error' in tight && /ran out of its memory limit/.test(tight.error), JSON.stringify(tight).slice(0, 200));
});

test('inspect --config: xl disks with partition vdevs, PCI passthrough, a direct kernel, a bad config', async () => {
  const rel = { amd64: '', 'cloud-amd64': '', '686-pae': '', '686': '' } as Record<KernelFlavour, string>;
  for (const f of Object.keys(rel) as KernelFlavour[]) rel[f] = (await debianKernel(f)).release;
  const g = fixtureGuests(rel);
  const root = await guestImage(g['split-root']);
  const boot = await guestImage(g['split-boot']);
  const disks = `disk = [ 'phy:${root},xvda2,w',\n  'format=raw, vdev=xvda1, access=rw, target=${boot}' ]\n`;
  const cfg = (name: string, body: string) => {
    const f = join(dir, `${name}.cfg`);
    writeFileSync(f, `name = "${name}"\nmemory = 1024\n${body}`);
    return f;
  };
  const web1 = cfg('web1', `bootloader = "pygrub"\n${disks}`);
  const pci = cfg('pci1', `bootloader = "pygrub"\n${disks}pci = [ '0000:01:00.0' ]\n`);
  const direct = cfg('direct1', `kernel = "${(await debianKernel('686')).vmlinuz}"\nroot = "/dev/xvda2 ro"\nextra = "quiet"\n${disks}`);
  const bad = cfg('bad1', 'bootloader = pygrub(\n');
  const r = await pvhctl(['inspect', '--json', '--config', web1, '--config', pci, '--config', direct, '--config', bad]);
  assert.equal(r.code, 1);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(out.map((o) => o.guest), ['web1', 'pci1', 'direct1', bad]);
  assert.equal(out[0].verdict.verdict, 'ready', JSON.stringify(out[0].verdict));
  assert.deepEqual(out[0].mounts.map((m: { mountpoint: string }) => m.mountpoint), ['/boot']);
  assert.equal(out[0].hostBoot, 'bootloader = "pygrub"');
  assert.equal(out[1].verdict.verdict, 'blocked');
  assert.equal(out[2].verdict.verdict, 'needs-kernel');
  assert.match(out[2].verdict.reasons.join(' '), /kernel= in the xl config/);
  // The direct kernel's command line is the xl config's (root= and extra=), not the guest menu's.
  assert.deepEqual(out[2].console, { consoles: [], hvc0: false, source: 'xl-config', note: out[2].console.note });
  assert.match(out[2].console.note, /the switch adds console=hvc0 to the xl config itself/);
  assert.equal(out[2].rootDevice.cmdline.spec, '/dev/xvda2');
  assert.match(out[3].error, /bad1\.cfg:3:\d+: config parsing error near `pygrub/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('inspect on a terminal: a progress bar on stderr for many guests, results still one JSON line each', async () => {
  const guests = [images.ready!, images.logical!, images.ready!, images.logical!];
  // util-linux's script(1) gives the command a pseudo-terminal, as an operator's shell would.
  const cmd = [process.execPath, bin, 'inspect', '--json', '--jobs', '1', ...guests].map((a) => `'${a}'`).join(' ');
  const { stdout } = await run('script', ['-qec', cmd, '/dev/null'], { env, maxBuffer: 64 << 20 });
  assert.match(stdout, /\[#{7,8}\.{22,23}\] 1\/4/);
  const lines = stdout.replace(/\r?\x1b\[K(\[[#.]*\] \d+\/\d+ [^\r\n]*)?/g, '').split(/\r?\n/).filter((l) => l.startsWith('{'));
  assert.deepEqual(lines.map((l) => JSON.parse(l).verdict.verdict), ['ready', 'ready', 'ready', 'ready']);
});

test('a served disk (on a remote host, read block by block through the parent) gives the same report as the disk read in place', async () => {
  const { localRunner } = await import('../drivers/xl/local.ts');
  const runner = localRunner();
  for (const img of [images.ready!, images.logical!]) {
    const direct = await inspectInChild([{ path: img, vdev: 'xvda' }], { dataDir: null, name: 'g' });
    const reader = await runner.openBlocks(img as never);
    let requests = 0;
    const counting = { size: reader.size, close: () => reader.close(), read: (o: number, n: number) => (requests++, reader.read(o, n)) };
    try {
      const served = await inspectInChild([{ path: img, vdev: 'xvda', served: { size: reader.size } }], { dataDir: null, name: 'g' }, {}, [counting]);
      assert.deepEqual(served, direct);
      assert.ok(requests > 0, 'the child read through its parent');
    } finally {
      reader.close();
    }
  }
  // A served disk the parent has no reader for is a disk error, not a crash or a hang.
  const orphan = await inspectInChild([{ path: 'nowhere', vdev: 'xvda', served: { size: 1 << 20 } }], { dataDir: null, name: 'g' });
  assert.ok('error' in orphan && typeof orphan.error === 'string' && /no such served disk/.test(orphan.error), JSON.stringify(orphan).slice(0, 300));
});
