/**
 * The real deployment (#15): pvhctl's Debian package installed with dpkg on the Xen lab's dom0,
 * run there with the local driver on the host it manages. The .deb is copied in with scp, `dpkg
 * -i` checks its Depends against dom0's dpkg database (lab/build.sh lists what the build
 * unpacked), and the installed pvhctl scans dom0 and switches direct64 to PVH (the guest itself
 * prints guest_type=PVH), then rolls it back. The package is purged at the end, so dom0 is left as
 * the next suite expects.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labExec, type ExecResult, type LabEndpoint } from '../../lab/lab.ts';
import { findMarker } from '../../lab/guests.ts';
import { PVH_ATTEMPTS, SWITCH_BOOT_DIED, withRetries } from '../../lab/retries.ts';
import { DEB_DOM0_ENV, debDom0Enabled, thePackage } from '../support/deb.ts';
import { attachLab, type AttachedLab } from '../support/lab.ts';

/**
 * Debian's dpkg, by path: dom0's login shell is busybox sh, which runs its own applets before
 * anything on PATH, and busybox has a `dpkg` applet of its own (no database checks worth the name).
 */
const DPKG = '/usr/bin/dpkg';
/** What purging leaves: nothing of pvhctl (user, group, data, program) may remain. */
const PURGE = `${DPKG} --purge pvhctl && ! getent passwd pvhctl && ! getent group pvhctl && ! test -e /var/lib/pvhctl && ! test -e /usr/lib/pvhctl && ! test -e /usr/bin/pvhctl`;

let lab: LabEndpoint;
let deb: string;
let attached: AttachedLab | undefined;
const scratch = mkdtempSync(join(tmpdir(), 'pvhctl-deb-dom0-'));

/**
 * How a command that did not exit by itself ended, with the end of dom0's dmesg and its memory (an
 * OOM kill or a segfault line with its ip tells a silent death apart from V8's own checks), or ''
 * when it exited. A shell reports signal N as exit 128+N; SSH reports a signal by name, or nothing
 * when the connection was lost.
 */
async function afterSignal(r: ExecResult): Promise<string> {
  const how = r.code > 128 ? `died by signal ${r.code - 128}` : r.signal !== undefined ? `died by SIG${r.signal}` : r.code === -1 ? 'no exit status: the SSH connection was lost' : '';
  if (how === '') return '';
  const k = await labExec(lab, 'dmesg | tail -n 20; free -m', 60_000).catch((err: Error) => ({ stdout: `ssh: ${err.message}` }));
  return `\n${how}; dom0's dmesg and memory:\n${k.stdout}`;
}

/** Runs a command in dom0; asserts it exits 0 and returns its stdout. */
async function ok(command: string, timeoutMs = 120_000): Promise<string> {
  const r = await labExec(lab, command, timeoutMs);
  assert.equal(r.code, 0, `dom0: ${command}: exit ${r.code}\n${r.stdout}${r.stderr}${await afterSignal(r)}`);
  return r.stdout;
}

/**
 * On by default (PVHCTL_LAB_DEB_DOM0=0 skips it): while the package shipped TypeScript, the
 * installed pvhctl died by V8's JIT-page check on the emulated dom0 in 2 of 4 whole-suite runs. It
 * now compiles no WebAssembly (the package ships JavaScript, ssh2 loads only to speak SSH);
 * lab/README.md has the runs since.
 */
const ENABLED = debDom0Enabled();
const SKIP = ENABLED ? false : `${DEB_DOM0_ENV}=0: the installed pvhctl on the lab's dom0 is left out`;

test(`${DEB_DOM0_ENV}: on unset, empty or 1, off with 0; another value is refused in one line`, () => {
  assert.equal(debDom0Enabled({}), true);
  assert.equal(debDom0Enabled({ [DEB_DOM0_ENV]: '' }), true);
  assert.equal(debDom0Enabled({ [DEB_DOM0_ENV]: '1' }), true);
  assert.equal(debDom0Enabled({ [DEB_DOM0_ENV]: '0' }), false);
  assert.throws(() => debDom0Enabled({ [DEB_DOM0_ENV]: 'yes' }), /^Error: PVHCTL_LAB_DEB_DOM0 must be 1 \(the default: [^\n]+\) or 0 \(skip that\), not 'yes'$/);
  assert.throws(() => debDom0Enabled({ [DEB_DOM0_ENV]: 'x\x1b[2J'.repeat(20) }), (e: Error) => !e.message.includes('\x1b') && !e.message.includes('\n') && e.message.length < 200);
});

before(async () => {
  if (!ENABLED) return;
  deb = thePackage(); // before the lab: a build under the lab lock would keep others waiting
  attached = await attachLab();
  lab = attached.lab;
});

after(async () => {
  if (!ENABLED) return rmSync(scratch, { recursive: true, force: true });
  // A failed test must not leave the package (or its user) for the next suite.
  if (lab !== undefined) await labExec(lab, `test -e /var/lib/dpkg/info/pvhctl.list && { ${PURGE}; }; rm -f /tmp/pvhctl.deb; true`, 120_000).catch(() => {});
  await attached?.release();
  rmSync(scratch, { recursive: true, force: true });
});

test('the .deb installs with dpkg on the lab dom0, and pvhctl there switches a guest to PVH with the local driver', { skip: SKIP }, async (t) => {
  // dom0's dpkg database lists what the lab build unpacked: the package's Depends are really
  // there, and a dependency nobody installed is refused.
  const depends = execFileSync('dpkg-deb', ['--field', deb, 'Depends'], { encoding: 'utf8' }).split(',').map((d) => d.trim().split(/[ (]/)[0]!);
  const listed = await ok(`${DPKG}-query -W -f '\${Package} \${db:Status-Abbrev}\\n' ${depends.join(' ')}`);
  for (const d of depends) assert.match(listed, new RegExp(`^${d.replace(/[.+]/g, '\\$&')} ii $`, 'm'), `${d} not installed in dom0's database:\n${listed}`);
  const refused = await labExec(lab, [
    'd=$(mktemp -d) && mkdir -p "$d/DEBIAN"',
    `printf 'Package: needs-nodejs\\nVersion: 1\\nArchitecture: all\\nMaintainer: t <t@example.com>\\nDepends: nodejs\\nDescription: t\\n' > "$d/DEBIAN/control"`,
    '/usr/bin/dpkg-deb -b "$d" /tmp/needs-nodejs.deb >/dev/null',
    `${DPKG} -i /tmp/needs-nodejs.deb; rc=$?; ${DPKG} --purge needs-nodejs >/dev/null; rm -rf "$d" /tmp/needs-nodejs.deb; exit $rc`,
  ].join(' && '), 60_000);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /needs-nodejs depends on nodejs; however:\s+Package nodejs is not installed/);

  // scp into dom0 (dom0's scp is openssh-client's, one of the package's Depends), pinning its key.
  const knownHosts = join(scratch, 'known_hosts');
  writeFileSync(knownHosts, `[${lab.host}]:${lab.port} ${lab.hostKey}\n`);
  const t0 = Date.now();
  execFileSync('scp', ['-O', '-q', '-P', String(lab.port), '-i', lab.keyPath, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes',
    deb, `${lab.user}@${lab.host}:/tmp/pvhctl.deb`], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
  t.diagnostic(`scp of ${(statSync(deb).size / 1024 / 1024).toFixed(1)} MiB into dom0: ${Date.now() - t0} ms`);

  // dpkg -i unpacks 33 MiB of xz under nested emulation: 3-4 minutes at load 25; a 5-minute bound
  // was too short once at load 20. The bound is for a hang.
  const install = await ok(`${DPKG} -i /tmp/pvhctl.deb 2>&1 && rm /tmp/pvhctl.deb`, 900_000);
  assert.match(install, /^Setting up pvhctl \(/m);
  assert.match(await ok('pvhctl --version'), /^pvhctl \d+\.\d+\.\d+ \(Node\.js v24\./);
  assert.equal(await ok(`${DPKG} --audit`), '', 'dpkg --audit finds nothing half-installed or broken');
  assert.match(await ok('stat -c "%U:%G %a" /var/lib/pvhctl && id -u pvhctl'), /^pvhctl:pvhctl 750\n\d+\n$/);

  // pvhctl on the host it manages: the local driver, as root (what the local-xl.conf drop-in gives
  // pvhctl.service), on the data directory the package made.
  await ok('pvhctl host add dom0 --local');
  // Exit 1 means some config could not be read; direct64's must have been (checked below).
  // Scans took 47-239 s at load 6-12 (docs/benchmarks.md); the bound is for a hang.
  const scan = await labExec(lab, 'pvhctl scan', 900_000);
  assert.ok(scan.code === 0 || scan.code === 1, `pvhctl scan: exit ${scan.code}\n${scan.stdout}${scan.stderr}${await afterSignal(scan)}`);
  for (const line of scan.stderr.split('\n').filter((l) => l !== '')) t.diagnostic(`pvhctl scan: ${line}`);
  const guests = JSON.parse(await ok('pvhctl guest list --json')) as { name: string; type: string; canBecome: string }[];
  const direct64 = guests.find((g) => g.name === 'direct64');
  assert.deepEqual([direct64?.type, direct64?.canBecome], ['pv', 'pvh'], JSON.stringify(guests));

  const config = await ok('cat /etc/xen/direct64.cfg');
  const consoleLog = async () => (await labExec(lab, 'cat /var/log/xen/console/guest-direct64.log 2>/dev/null; true')).stdout;
  type Switched = { code: number; op: { status: string; reason?: string; detail?: string }; stderr: string; before: string };
  const { code, op, stderr, before: logBefore } = await withRetries(lab, 'deb-dom0.test.ts: direct64 switch to pvh', PVH_ATTEMPTS, async (): Promise<Switched> => {
    const before = await consoleLog();
    const r = await labExec(lab, 'pvhctl switch direct64 --to pvh --boot-timeout 240 --json', 600_000);
    return { code: r.code, op: JSON.parse(r.stdout.trim().split('\n').at(-1) || '{}'), stderr: r.stderr, before };
  }, ({ op }) => (op.status !== 'done' && SWITCH_BOOT_DIED.test(op.reason ?? '') ? `PVH boot died (${op.reason}; ${op.detail})` : null), (l) => t.diagnostic(l));
  assert.equal(code, 0, `${JSON.stringify(op)}\n${stderr}`);
  assert.equal(op.status, 'done', JSON.stringify(op));
  assert.match(await ok('xl list -l direct64'), /"c_info": \{[^}]*"type": "pvh"/);
  assert.match(await ok('cat /etc/xen/direct64.cfg'), /^type\s*=\s*"pvh"/m);
  // Verification passes once the disk connects, a moment before the guest's init prints its marker.
  let marker = null;
  for (const deadline = Date.now() + 120_000; marker === null && Date.now() < deadline; await new Promise((r) => setTimeout(r, 3000))) {
    const now = await consoleLog();
    marker = findMarker(now.startsWith(logBefore) ? now.slice(logBefore.length) : now);
  }
  assert.equal(marker?.guestType, 'PVH', `direct64's console after the switch: ${JSON.stringify(marker)}`);

  // Rolled back by the installed pvhctl: the config is the one it had, byte for byte.
  const back = JSON.parse((await ok('pvhctl rollback direct64 --json', 600_000)).trim().split('\n').at(-1)!) as { status: string };
  assert.equal(back.status, 'rolled-back', JSON.stringify(back));
  assert.equal(await ok('cat /etc/xen/direct64.cfg'), config);
  await ok('xl destroy direct64 2>/dev/null; true');

  const purge = await labExec(lab, PURGE, 120_000);
  assert.equal(purge.code, 0, purge.stdout + purge.stderr);
});
