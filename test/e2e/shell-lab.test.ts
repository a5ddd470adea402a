/**
 * The Xen Shell against the Xen lab: a customer logs in with Debian's OpenSSH client to
 * `pvhctl shell`, whose fleet reaches the lab's dom0 over real SSH with the xl driver; `check`,
 * `mode pvh` verified on real Xen 4.17, and `console` showing the guest's own output (the guest
 * prints /sys/hypervisor/guest_type), detached with Ctrl-].
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { labExec, type LabEndpoint } from '../../lab/lab.ts';
import { PVH_ATTEMPTS, SWITCH_BOOT_DIED, withRetries } from '../../lab/retries.ts';
import { attachLab, type AttachedLab } from '../support/lab.ts';
import { bootGuest } from '../../lab/guest-boot.ts';
import { eventBus } from '../../src/fleet/events.ts';
import { openFleet, type Fleet } from '../../src/fleet/fleet.ts';
import { fleetBackend } from '../../src/shell/backend.ts';
import { startShellServer, type ShellServer } from '../../src/shell/server.ts';
import { customerKeys, parsePublicKey } from '../../src/store/customer-keys.ts';

const run = promisify(execFile);
const GUEST = 'direct64';
const dir = mkdtempSync(join(tmpdir(), 'pvhctl-shell-lab-'));
let lab: LabEndpoint;
let attached: AttachedLab | undefined;
let fleet: Fleet;
let server: ShellServer;
const key = join(dir, 'carol');

before(async () => {
  attached = await attachLab();
  lab = attached.lab;
  const r = await withRetries(lab, `shell-lab.test.ts: ${GUEST} PV boot`, 2, () => bootGuest(lab, GUEST, `/etc/xen/${GUEST}.cfg`, 180), (b) => (b.kind === 'marker' ? null : b.kind));
  assert.equal(r.kind, 'marker', `${GUEST} did not boot as PV`);
  const hub = eventBus();
  fleet = await openFleet({ dataDir: dir, onEvent: (e) => hub.emit(e), verify: { bootTimeoutMs: 240_000, pollMs: 2000 }, shutdownTimeoutMs: 60_000 });
  const host = await fleet.store.addHost({
    name: 'lab', transport: 'ssh', endpoint: `root@127.0.0.1:${lab.port}`, key_path: lab.keyPath, host_key: lab.hostKey, config_dir: '/etc/xen',
    role: 'pv-pvh', max_parallel: 1, xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
  });
  await fleet.scan(host);
  const g = (await fleet.store.getGuest(GUEST))[0];
  assert.ok(g, `${GUEST} was not discovered`);
  await fleet.store.updateGuest(g.id, { owner: 'carol' });
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status, 0);
  const k = parsePublicKey(readFileSync(`${key}.pub`, 'utf8'));
  assert.ok(k.ok);
  const keys = customerKeys(fleet.store);
  await keys.add('carol', k.key);
  server = await startShellServer({ backend: fleetBackend(fleet, hub, { consolePollMs: 500 }), findKey: (c, b) => keys.find(c, b), dataDir: dir, port: 0 });
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${server.port} ${server.hostKeyPublic}\n`);
});

after(async () => {
  spawnSync('tmux', ['-L', `pvhctl-shell-lab-${process.pid}`, 'kill-server']);
  await server?.close();
  await fleet?.close();
  await attached?.release();
  rmSync(dir, { recursive: true, force: true });
});

const sshArgs = () => ['-F', '/dev/null', '-i', key, '-p', String(server.port), '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes', `carol+${GUEST}@127.0.0.1`];
async function ssh(command: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run('ssh', [...sshArgs(), command], { timeout: 600_000 });
    return { code: 0, out: r.stdout };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

test('check over SSH: the lab guest can run as PVH, the host has no 32-bit PV', async () => {
  const r = await ssh('check');
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`^${GUEST} runs in PV mode`, 'm'));
  assert.match(r.out, /^ {2}pvh +yes +can switch/m);
  const s = await ssh('status');
  assert.match(s.out, /running as PV \(/);
});

test('mode pvh: switched on real Xen, verified, the guest itself says PVH', async (t) => {
  const r = await withRetries(lab, 'shell-lab.test.ts: mode pvh', PVH_ATTEMPTS, () => ssh('mode pvh'),
    (o) => (o.code !== 0 && SWITCH_BOOT_DIED.test(o.out) ? `PVH boot died (${o.out.slice(-300)})` : null), (line) => t.diagnostic(line));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /Shutting the server down cleanly/);
  assert.match(r.out, /Waiting for it to boot/);
  assert.match(r.out, /The server now runs in PVH mode\./);
  assert.match((await ssh('status')).out, /running as PVH \(/);
});

test("console shows the guest's own output; Ctrl-] detaches", async () => {
  // xenconsole locks /var/lock/xenconsole.DOMID: the lab's dom0 has /var/lock as Debian's does.
  assert.match((await labExec(lab, 'readlink /var/lock && test -d /var/lock/ && echo dir')).stdout, /\/run\/lock\ndir/);
  const tmux = (...a: string[]) => spawnSync('tmux', ['-L', `pvhctl-shell-lab-${process.pid}`, ...a]).stdout?.toString() ?? '';
  const cmd = ['ssh', '-tt', ...sshArgs()].map((a) => `'${a}'`).join(' ');
  tmux('new-session', '-d', '-s', 'c', '-x', '160', '-y', '50', cmd);
  tmux('set-option', '-t', 'c', 'remain-on-exit', 'on');
  const waitFor = async (re: RegExp) => {
    for (let i = 0; i < 600; i++) {
      const screen = tmux('capture-pane', '-p', '-t', 'c', '-S', '-200');
      if (re.test(screen)) return screen;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`never saw ${re}:\n${tmux('capture-pane', '-p', '-t', 'c', '-S', '-200')}`);
  };
  await waitFor(new RegExp(`xen-shell carol:${GUEST}>`));
  tmux('send-keys', '-t', 'c', 'console', 'Enter');
  await waitFor(/Press Ctrl-\] to detach/);
  await waitFor(new RegExp(`PVHCTL-LAB-MARKER name=${GUEST} guest_type=PVH`));
  // xl console runs on a terminal in dom0 over SSH: interactive, not the read-only fallback
  assert.doesNotMatch(tmux('capture-pane', '-p', '-t', 'c', '-S', '-200'), /read-only: the console log/);
  tmux('send-keys', '-t', 'c', 'C-]');
  await waitFor(/Detached from the console\./);
  tmux('send-keys', '-t', 'c', 'exit', 'Enter');
  await waitFor(/Bye\./);
});
