/**
 * The SSH runner against a real SSH server: Debian's dropbear (unpacked from its package, as the
 * lab's dom0 has it), run on a loopback port inside a private mount namespace whose /root/.ssh
 * holds this test's key, so nothing on the machine changes.
 */
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchDeb, unpackDeb } from '../../debian/apt.ts';
import { hostPath } from '../driver.ts';
import { sshRunner, parseEndpoint } from './ssh.ts';
import { xlDriver } from './driver.ts';
import { localRunner } from './local.ts';
import type { Runner } from './runner.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvhctl-ssh-'));
let server: ChildProcess | undefined;
let port = 0;
let hostKey = '';
let runner: Runner;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
const accepts = (p: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect(p, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });

before(async () => {
  const roots = await Promise.all(['^dropbear-bin$', '^libtomcrypt1$', '^libtommath1$'].map(async (p) => unpackDeb(await fetchDeb(p))));
  const [db] = roots;
  const libs = roots.map((r) => join(r, 'usr/lib/x86_64-linux-gnu')).join(':');
  const env = { ...process.env, LD_LIBRARY_PATH: libs };
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
  execFileSync(join(db!, 'usr/bin/dropbearkey'), ['-t', 'ed25519', '-f', join(dir, 'host')], { env, stdio: 'ignore' });
  hostKey = execFileSync(join(db!, 'usr/bin/dropbearkey'), ['-y', '-f', join(dir, 'host')], { env, encoding: 'utf8' })
    .split('\n')
    .find((l) => l.startsWith('ssh-ed25519 '))!
    .split(' ')
    .slice(0, 2)
    .join(' ');
  port = await freePort();
  const script =
    'mkdir -p /root/.ssh && mount -t tmpfs -o mode=700 tmpfs /root/.ssh && cp "$1" /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys && ' +
    'exec env LD_LIBRARY_PATH="$2" "$3" -F -E -s -p 127.0.0.1:"$4" -r "$5" -P "$6"';
  server = spawn('unshare', ['--mount', 'sh', '-c', script, 'sh', join(dir, 'id.pub'), libs, join(db!, 'usr/sbin/dropbear'), String(port), join(dir, 'host'), join(dir, 'pid')], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(await accepts(port)); i++) await new Promise((r) => setTimeout(r, 100));
  runner = sshRunner({ endpoint: parseEndpoint(`root@127.0.0.1:${port}`), keyPath: join(dir, 'id'), hostKey });
});

after(async () => {
  await runner?.close();
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

test('exec over SSH runs validated argument lists and reports exit codes', async () => {
  const r = await runner.exec(['echo', 'hello', '/etc/xen/a.cfg']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.toString(), 'hello /etc/xen/a.cfg\n');
  assert.notEqual((await runner.exec(['false'])).code, 0);
  await assert.rejects(runner.exec(['echo', '$(touch /tmp/pwned)']), /refusing/);
});

test('configs go over stdin byte-exact, atomically, with the old one kept; reads and copies are bounded', async () => {
  const path = hostPath(join(dir, 'web1.cfg'));
  writeFileSync(path, 'name = "web1"\ntype = "pv"\n');
  const bytes = new Uint8Array(256).map((_, i) => i);
  await assert.rejects(runner.writeFileAtomic(path, bytes, new TextEncoder().encode('name = "other"\n')), /changed since it was read/);
  await runner.writeFileAtomic(path, bytes, new TextEncoder().encode('name = "web1"\ntype = "pv"\n'));
  assert.deepEqual(new Uint8Array(readFileSync(path)), bytes);
  const kept = readdirSync(dir).filter((f) => f.startsWith('web1.cfg.pvhctl-'));
  assert.equal(kept.length, 1, kept.join(' '));
  assert.match(kept[0]!, /^web1\.cfg\.pvhctl-\d{8}T\d{6}Z$/);
  assert.equal(readFileSync(join(dir, kept[0]!), 'utf8'), 'name = "web1"\ntype = "pv"\n');
  assert.deepEqual(await runner.readFile(path, 256), bytes);
  await assert.rejects(runner.readFile(path, 255), /over the 255-byte limit/);
  await assert.rejects(runner.readFile(hostPath(join(dir, 'missing.cfg')), 100), /no such file/);
  assert.deepEqual(await runner.listFiles(hostPath(dir)), { files: [join(dir, 'host'), join(dir, 'id'), join(dir, 'id.pub'), join(dir, 'pid'), path, join(dir, kept[0]!)].sort(), skipped: [] });
});

test('a config directory lists the same over SSH as locally: regular files, symbolic links skipped and never followed', async () => {
  const cfgs = join(dir, 'cfgs');
  mkdirSync(cfgs);
  writeFileSync(join(dir, 'secret'), 'root:SECRET-HASH:19700::::::\n');
  writeFileSync(join(cfgs, 'web1.cfg'), 'name = "web1"\n');
  symlinkSync(join(dir, 'secret'), join(cfgs, 'evil.cfg'));
  symlinkSync(join(dir, 'nowhere'), join(cfgs, 'dangling.cfg'));
  mkdirSync(join(cfgs, 'sub.cfg'));
  const expected = {
    files: [join(cfgs, 'web1.cfg')],
    skipped: [
      { path: join(cfgs, 'dangling.cfg'), why: 'symlink' },
      { path: join(cfgs, 'evil.cfg'), why: 'symlink' },
    ],
  };
  assert.deepEqual(await runner.listFiles(hostPath(cfgs)), expected);
  assert.deepEqual(await localRunner().listFiles(hostPath(cfgs)), expected);
});

test('a file is read the same over SSH as locally: a symbolic link is refused, never followed; a FIFO never blocks the read', async () => {
  const files = join(dir, 'read');
  mkdirSync(files);
  writeFileSync(join(dir, 'secret2'), 'root:SECRET-HASH:19700::::::\n');
  writeFileSync(join(files, 'web1.cfg'), 'name = "web1"\n');
  symlinkSync(join(dir, 'secret2'), join(files, 'evil.cfg'));
  execFileSync('mkfifo', [join(files, 'fifo.cfg')]);
  for (const r of [runner, localRunner()]) {
    assert.equal(Buffer.from(await r.readFile(hostPath(join(files, 'web1.cfg')), 1024)).toString(), 'name = "web1"\n');
    await assert.rejects(r.readFile(hostPath(join(files, 'evil.cfg')), 1024), (err: Error) => /symbolic link; not followed/.test(err.message) && !err.message.includes('SECRET'));
    await assert.rejects(r.readFile(hostPath(join(files, 'nothing.cfg')), 1024), (err: Error) => /no such file/.test(err.message));
    await assert.rejects(r.readFile(hostPath(join(files, 'web1.cfg')), 4), (err: Error) => /limit/.test(err.message));
  }
  // A FIFO with no writer: refused locally (fstat), read as empty over SSH (O_NONBLOCK: no writer
  // is end of file); neither waits for a writer.
  await assert.rejects(localRunner().readFile(hostPath(join(files, 'fifo.cfg')), 1024), /not a regular file/);
  assert.equal((await runner.readFile(hostPath(join(files, 'fifo.cfg')), 1024)).length, 0);
});

test('a disk is read over SSH block by block, never copied whole', async () => {
  const disk = hostPath(join(dir, 'disk.img'));
  const bytes = randomBytes(3 * 1024 * 1024 + 123);
  writeFileSync(disk, bytes);
  const r = await runner.openBlocks(disk);
  try {
    assert.equal(r.size, bytes.length);
    for (const [at, n] of [[0, 512], [262_100, 200], [1_000_000, 1_500_000], [bytes.length - 7, 7], [5, 0]] as const) {
      assert.deepEqual(Buffer.from(await r.read(at, n)), bytes.subarray(at, at + n), `${n} bytes at ${at}`);
    }
    await assert.rejects(r.read(bytes.length - 1, 2), /outside the disk/);
  } finally {
    r.close();
  }
  await assert.rejects(runner.openBlocks(hostPath(join(dir, 'no-such-disk'))), /not a block device or regular file/);
  // hostPath() already refuses such a path; the runner's shell quoting refuses it again.
  assert.throws(() => hostPath(`${dir}/x'$(touch ${dir}/pwned)'`), /invalid host path/);
  await assert.rejects(runner.openBlocks(`${dir}/x'$(touch ${dir}/pwned)'` as never), /refusing/);
});

test('the xl driver over SSH: a missing console log reads as empty; a wrong host key is refused', async () => {
  const d = xlDriver('ssh-test', runner);
  assert.equal(await d.consoleTail(('no-such-guest' as never), 100), '');
  const other = sshRunner({ endpoint: parseEndpoint(`root@127.0.0.1:${port}`), keyPath: join(dir, 'id'), hostKey: `ssh-ed25519 ${Buffer.alloc(51, 1).toString('base64')}` });
  await assert.rejects(other.exec(['true']), (err: Error) => /unreachable|verification|Handshake/i.test(`${(err as { kind?: string }).kind} ${err.message}`));
  await other.close();
});

test('interactive over SSH (what xl console runs on): a terminal on the host, keys in, output back, close ends it', async () => {
  const ch = await runner.interactive!(['cat']);
  let out = '';
  ch.onData((b) => (out += Buffer.from(b).toString('utf8')));
  const closed = new Promise<void>((resolve) => ch.onClose(resolve));
  ch.write(new TextEncoder().encode('hello console\r'));
  for (let i = 0; i < 200 && !/hello console[\s\S]*hello console/.test(out); i++) await new Promise((r) => setTimeout(r, 25));
  // once echoed by the terminal, once written back by cat: a real pty on the far side
  assert.match(out, /hello console[\s\S]*hello console/);
  ch.close();
  await closed;
  await assert.rejects(runner.interactive!(['xl', 'console', '$(id)']), /refusing/);
});
