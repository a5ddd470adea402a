/**
 * The Debian package, built as `npm run package` builds it (or that build while still current),
 * checked by lintian, and installed for real with dpkg into a throwaway Debian 12 root
 * (mmdebstrap, minbase; cached) that has no Node.js: there pvhctl answers, reads a real Debian
 * kernel, reads its settings file, the installed systemd units pass `systemd-analyze verify`, and
 * so do pvhctl.service and pvhctl-worker@.service with the example local-xl drop-in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { thePackage } from '../support/deb.ts';
import { cacheDir, debianKernel } from '../../src/debian/apt.ts';

/** What the root has besides minbase: the package's Depends, and systemd for `systemd-analyze`. */
const INCLUDE = ['systemd', 'openssh-client', 'xz-utils', 'bzip2', 'zstd', 'lz4', 'lzop', 'libstdc++6'];

/** A Debian 12 minbase tarball with INCLUDE, made once and kept in ~/.cache/pvhctl/deb-root. */
function debianRoot(): string {
  const dir = cacheDir('deb-root');
  const tar = join(dir, `bookworm-minbase-${INCLUDE.join('+')}.tar`);
  if (!existsSync(tar)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('mmdebstrap', ['--quiet', '--variant=minbase', `--include=${INCLUDE.join(',')}`, '--mode=root', 'bookworm', `${tar}.part`], { stdio: ['ignore', 'ignore', 'inherit'] });
    renameSync(`${tar}.part`, tar);
  }
  return tar;
}

/** Runs a shell command in the root with its own /proc, with a clean environment. */
function inRoot(root: string, script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t proc proc "$0/proc" && exec chroot "$0" /bin/sh -c "$1"`, root, script], {
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts a long-running command in the root and waits for `ready` in its output. */
async function serveInRoot(root: string, script: string, ready: RegExp): Promise<{ match: RegExpExecArray; stop: () => Promise<void> }> {
  const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t proc proc "$0/proc" && exec chroot "$0" /bin/sh -c "$1"`, root, script], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  };
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let out = '';
    const look = (b: Buffer) => {
      out += b.toString();
      const m = ready.exec(out);
      if (m) resolve(m);
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.once('exit', (code) => reject(new Error(`${script}: exit ${code}: ${out}`)));
  });
  return { match, stop };
}

test('the .deb: lintian clean of errors, installs with dpkg on Debian 12 without Node.js, runs there', async (t) => {
  const deb = thePackage();
  assert.match(basename(deb), /^pvhctl_\d+\.\d+\.\d+_amd64\.deb$/);
  t.diagnostic(`${basename(deb)}: ${(statSync(deb).size / 1024 / 1024).toFixed(1)} MiB`);

  const info = execFileSync('dpkg-deb', ['--field', deb, 'Depends', 'Recommends', 'Installed-Size'], { encoding: 'utf8' });
  assert.doesNotMatch(info, /nodejs|\bnpm\b/);
  assert.match(info, /Recommends: .*xen-utils-common/);

  // Errors fail the test; the warnings that remain are reported (and listed in docs/architecture.md).
  const lint = spawnSync('lintian', ['--fail-on', 'error', deb], { encoding: 'utf8' });
  assert.equal(lint.status, 0, lint.stdout + lint.stderr);
  assert.doesNotMatch(lint.stdout, /^E: /m);
  for (const line of lint.stdout.split('\n').filter((l) => l.startsWith('W: '))) t.diagnostic(line);

  const root = mkdtempSync(join(tmpdir(), 'pvhctl-debroot-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  execFileSync('tar', ['-C', root, '-xf', debianRoot()]);
  copyFileSync(deb, join(root, 'tmp/pvhctl.deb'));
  const kernel = await debianKernel('amd64');
  copyFileSync(kernel.vmlinuz, join(root, 'tmp/vmlinuz'));

  const install = inRoot(root, 'dpkg -i /tmp/pvhctl.deb');
  assert.equal(install.status, 0, install.stdout + install.stderr);

  const noNode = inRoot(root, 'command -v node || command -v nodejs || ls /usr/lib/node_modules /usr/share/nodejs');
  assert.notEqual(noNode.status, 0, `a Node.js outside the package: ${noNode.stdout}`);

  const help = inRoot(root, 'pvhctl --help');
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: pvhctl /);
  const version = inRoot(root, 'pvhctl --version');
  assert.equal(version.status, 0, version.stderr);
  assert.match(version.stdout, /^pvhctl \d+\.\d+\.\d+ \(Node\.js v24\./);

  // The application ships as plain JavaScript (scripts/package.ts shippedSource): starting it
  // compiles no WebAssembly (Node's type stripping is amaro's), so the packaged node runs it with
  // --jitless, which has no WebAssembly at all; so does an inspection, which builds its child's
  // program from those modules (src/guest/bundle.ts).
  const modules = inRoot(root, 'find /usr/lib/pvhctl/bin /usr/lib/pvhctl/src /usr/lib/pvhctl/lab -name "*.ts" ! -name "*.d.ts"');
  assert.equal(modules.status, 0, modules.stderr);
  assert.equal(modules.stdout, '', 'no TypeScript module is shipped');
  const jitless = '/usr/lib/pvhctl/runtime/bin/node --jitless /usr/lib/pvhctl/bin/pvhctl.js';
  const jv = inRoot(root, `${jitless} --version`);
  assert.equal(jv.status, 0, jv.stderr);
  assert.match(jv.stdout, /^pvhctl \d+\.\d+\.\d+ /);
  const jk = inRoot(root, `${jitless} kernel --json /tmp/vmlinuz`);
  assert.equal(jk.status, 0, jk.stderr);
  assert.equal(JSON.parse(jk.stdout.trim().split('\n')[0]!).pvh.capable, true);
  const ji = inRoot(root, `truncate -s 4M /tmp/zero.img && PVHCTL_DATA=/tmp/inspect-data ${jitless} inspect --json --no-cache /tmp/zero.img && ls /tmp/inspect-data/child-script`);
  assert.equal(ji.status, 0, ji.stderr);
  assert.match(ji.stdout, /"verdict":"unknown".*no filesystem pvhctl can read/);
  assert.match(ji.stdout, /^[0-9a-f]{32}\.bin$/m, 'the inspection child ran from its program');
  // The store, a host, a scan: ssh2 (its poly1305 is WebAssembly) is loaded only to speak SSH.
  const js = inRoot(root, `export PVHCTL_DATA_DIR=/tmp/jitless-data; ${jitless} host add sim1 --sim 2 && ${jitless} scan && ${jitless} guest list`);
  assert.equal(js.status, 0, js.stderr);
  assert.match(js.stdout, /^sim1: 2 guests \(2 new\), 2 inspected, 0 errors$/m);

  const k = inRoot(root, 'pvhctl kernel --json /tmp/vmlinuz');
  assert.equal(k.status, 0, k.stderr);
  const report = JSON.parse(k.stdout.trim().split('\n')[0]!);
  assert.equal(report.release, kernel.release);
  assert.equal(report.compression, 'xz', 'decompressed in the root, with its xz');
  assert.equal(report.pvh.capable, true, JSON.stringify(report.pvh));

  const show = inRoot(root, 'pvhctl settings show');
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /^store\.data_dir\s+"\/var\/lib\/pvhctl"\s+\/etc\/pvhctl\/pvhctl\.conf:\d+$/m);
  writeFileSync(join(root, 'tmp/broken.conf'), '[api]\nport = 8080\nport = 8081\n');
  const broken = inRoot(root, 'PVHCTL_CONFIG=/tmp/broken.conf pvhctl serve');
  assert.equal(broken.status, 2);
  assert.match(broken.stderr, /^pvhctl serve: \/tmp\/broken\.conf:3: [^\n]+\n$/);

  // The API (fastify, swagger, pino, prom-client, kysely) and the Xen Shell (ssh2) start from
  // the pruned production dependencies and answer.
  const served = await serveInRoot(root, 'PVHCTL_DATA_DIR=/tmp/data exec pvhctl serve --sim 3 --port 0', /"address":"(http:\/\/127\.0\.0\.1:\d+)".*"pvhctl serving"/);
  try {
    const token = readFileSync(join(root, 'tmp/data/operator-token'), 'utf8').trim();
    const guests = (await (await fetch(`${served.match[1]}/v1/guests`, { headers: { authorization: `Bearer ${token}` } })).json()) as unknown[];
    assert.equal(guests.length, 3);
    assert.equal((await fetch(`${served.match[1]}/openapi.json`)).status, 200);
  } finally {
    await served.stop();
  }
  const shell = await serveInRoot(root, 'PVHCTL_DATA_DIR=/tmp/data exec pvhctl shell --port 0', /^pvhctl shell: listening on 127\.0\.0\.1:\d+ \(host key ssh-ed25519 /m);
  await shell.stop();

  const layout = inRoot(root, [
    'stat -c "%U:%G %a %n" /var/lib/pvhctl /etc/pvhctl /etc/pvhctl/pvhctl.conf',
    'dpkg-query -W -f="\\${Conffiles}\\n" pvhctl',
    'ls /usr/share/man/man8/pvhctl.8.gz /usr/share/man/man5/pvhctl.conf.5.gz /usr/share/bash-completion/completions/pvhctl',
  ].join(' && '));
  assert.equal(layout.status, 0, layout.stderr);
  assert.match(layout.stdout, /^pvhctl:pvhctl 750 \/var\/lib\/pvhctl$/m);
  assert.match(layout.stdout, /^root:pvhctl 640 \/etc\/pvhctl\/pvhctl\.conf$/m);
  assert.match(layout.stdout, /\/etc\/pvhctl\/pvhctl\.conf [0-9a-f]{32}/);

  const verify = inRoot(root, 'systemd-analyze verify --man=no pvhctl.service pvhctl-shell.service pvhctl-worker@1.service 2>&1');
  assert.equal(verify.status, 0, verify.stdout);
  assert.equal(verify.stdout, '', 'systemd-analyze verify has no complaint');

  // The example drop-in for the local driver, installed as its header says, for the API and the
  // workers: systemd reads it cleanly (a misspelt key would be reported here) and it turns each
  // into a root service with device access, while ProtectSystem=strict and the rest stay.
  const security = (s: string) => s.split('\n').filter((l) => /\b(User=\/DynamicUser=|PrivateDevices=|ProtectSystem=) /.test(l)).map((l) => l.trim().replace(/\s+\d+\.\d+$/, '').replace(/\s{2,}/g, '  '));
  const before = inRoot(root, 'systemd-analyze security --offline=yes pvhctl.service');
  assert.equal(before.status, 0, before.stderr);
  const asUser = security(before.stdout);
  assert.ok(asUser.includes('✓ User=/DynamicUser=  Service runs under a static non-root user identity'), asUser.join('\n'));
  assert.ok(asUser.includes('✓ PrivateDevices=  Service has no access to hardware devices'), asUser.join('\n'));
  const dropin = inRoot(root, [
    'mkdir -p /etc/systemd/system/pvhctl.service.d /etc/systemd/system/pvhctl-worker@.service.d',
    'cp /usr/share/doc/pvhctl/examples/local-xl.conf /etc/systemd/system/pvhctl.service.d/',
    'cp /usr/share/doc/pvhctl/examples/local-xl.conf /etc/systemd/system/pvhctl-worker@.service.d/',
    'systemd-analyze verify --man=no pvhctl.service pvhctl-worker@1.service 2>&1',
  ].join(' && '));
  assert.equal(dropin.status, 0, dropin.stdout);
  assert.equal(dropin.stdout, '', 'systemd-analyze verify has no complaint about the drop-in');
  for (const unit of ['pvhctl.service', 'pvhctl-worker@1.service']) {
    const asRoot = inRoot(root, `systemd-analyze security --offline=yes ${unit}`);
    assert.equal(asRoot.status, 0, asRoot.stderr);
    const after = security(asRoot.stdout);
    assert.ok(after.includes('✗ User=/DynamicUser=  Service runs as root user'), `${unit}:\n${after.join('\n')}`);
    assert.ok(after.includes('✗ PrivateDevices=  Service potentially has access to hardware devices'), `${unit}:\n${after.join('\n')}`);
    assert.ok(after.includes('✓ ProtectSystem=  Service has strict read-only access to the OS file hierarchy'), `${unit}:\n${after.join('\n')}`);
  }
  inRoot(root, 'rm -r /etc/systemd/system/pvhctl.service.d /etc/systemd/system/pvhctl-worker@.service.d');

  const purge = inRoot(root, 'dpkg --purge pvhctl && ! id pvhctl 2>/dev/null && ! test -e /var/lib/pvhctl && ! test -e /usr/lib/pvhctl');
  assert.equal(purge.status, 0, purge.stdout + purge.stderr);
});
