/**
 * The Xen Shell end to end: Debian's OpenSSH client (ssh -i KEY, BatchMode, a generated
 * known_hosts) against a live server on 127.0.0.1, backed by the real fleet on the simulated
 * driver. Exec mode for the commands and their exit codes; tmux for the interactive line editor,
 * tab completion and the console.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { openFleet, type Fleet } from '../fleet/fleet.ts';
import { customerKeys, parsePublicKey } from '../store/customer-keys.ts';
import type { Guest } from '../store/schema.ts';
import type { SimHost } from '../drivers/sim/world.ts';
import { eventBus } from '../fleet/events.ts';
import { fleetBackend } from './backend.ts';
import { startShellServer, type ShellServer } from './server.ts';
import { simOf } from '../drivers/sim/driver.ts';
import { STORES } from '../../test/support/stores.ts';

const run = promisify(execFile);
let dir: string; // one per store: the shell's host key and the test's keys live in it
let fleet: Fleet;
let server: ShellServer;
let sim: SimHost;
let alice: Guest; // PVH-capable
let alicePvOnly: Guest; // kernel without PVH
let bobs: Guest;

function keygen(name: string): string {
  const file = join(dir, name);
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', file]);
  assert.equal(r.status, 0, r.stderr?.toString());
  return file;
}

const sshArgs = (key: string, user: string, port = server.port) => [
  '-F', '/dev/null',
  '-i', key,
  '-p', String(port),
  '-o', 'BatchMode=yes',
  '-o', 'IdentitiesOnly=yes',
  '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
  '-o', 'StrictHostKeyChecking=yes',
  '-o', 'LogLevel=ERROR',
  `${user}@127.0.0.1`,
];

/** Runs one shell command over ssh; resolves with its output and exit status. */
async function ssh(key: string, user: string, command: string, port = server.port): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run('ssh', [...sshArgs(key, user, port), command], { timeout: 60_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, out: err.stdout ?? '', err: err.stderr ?? '' };
  }
}

for (const store of STORES) describe(`the Xen Shell on ${store.kind}`, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvhctl-shell-'));
    const hub = eventBus();
    fleet = await openFleet({ dataDir: dir, store: store.kind === 'sqlite' ? undefined : await store.location(), onEvent: hub.emit, verify: { bootTimeoutMs: 2000, pollMs: 5 }, shutdownTimeoutMs: 2000 });
    const host = await fleet.store.addHost({
      name: 'xen1', transport: 'sim', endpoint: JSON.stringify({ guests: 12, seed: 11, pvOnly: 0.3, bootMs: 20, shutdownMs: 20 }), key_path: null, config_dir: '/etc/xen', role: 'pv-pvh', max_parallel: 2,
      xen_version: null, xen_caps: null, virt_caps: null, last_seen: null,
    });
    const scan = await fleet.scan(host);
    assert.deepEqual(scan.errors, []);
    sim = simOf(fleet.hosts.driverFor(host))!;
    const guests = await fleet.store.listGuests();
    const capable = guests.filter((g) => sim.state.guests[g.name]!.kernel.pvh);
    const pvOnly = guests.filter((g) => !sim.state.guests[g.name]!.kernel.pvh);
    assert.ok(capable.length >= 2 && pvOnly.length >= 1, 'the seed gives both kinds of guest');
    alice = capable[0]!;
    alicePvOnly = pvOnly[0]!;
    bobs = capable[1]!;
    for (const g of guests) await fleet.store.updateGuest(g.id, { owner: 'nobody' });
    await fleet.store.updateGuest(alice.id, { owner: 'alice' });
    await fleet.store.updateGuest(alicePvOnly.id, { owner: 'alice' });
    await fleet.store.updateGuest(bobs.id, { owner: 'bob' });

    const keys = customerKeys(fleet.store);
    for (const who of ['alice', 'bob']) {
      const k = parsePublicKey(readFileSync(`${keygen(who)}.pub`, 'utf8'));
      assert.ok(k.ok);
      await keys.add(who, k.key);
    }
    keygen('mallory'); // a key nobody registered
    server = await startShellServer({ backend: fleetBackend(fleet, hub, { consolePollMs: 50 }), findKey: (c, b) => keys.find(c, b), dataDir: dir, port: 0 });
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${server.port} ${server.hostKeyPublic}\n`);
  });

  after(async () => {
    await server?.close();
    await fleet?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const key = (who: string) => join(dir, who);

  test('the host key is made once, 0600, and OpenSSH verifies it against known_hosts', async () => {
    const st = spawnSync('stat', ['-c', '%a', join(dir, 'shell', 'ssh_host_ed25519_key')]).stdout.toString().trim();
    assert.equal(st, '600');
    const r = await ssh(key('alice'), `alice+${alice.name}`, 'status');
    assert.equal(r.code, 0, r.err);
    writeFileSync(join(dir, 'known_hosts.bad'), `[127.0.0.1]:${server.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n`);
    const bad = await run('ssh', [...sshArgs(key('alice'), 'alice').map((a) => a.replace('known_hosts', 'known_hosts.bad')), 'status']).catch((e: { code: number; stderr: string }) => e);
    assert.equal((bad as { code: number }).code, 255);
    assert.match((bad as { stderr: string }).stderr, /HOST IDENTIFICATION HAS CHANGED|host key .* differs|verification failed/i);
  });

  test('status and check show the customer their own server in plain words', async () => {
    const s = await ssh(key('alice'), `alice+${alice.name}`, 'status');
    assert.equal(s.code, 0, s.err);
    assert.match(s.out, new RegExp(`^${alice.name} on host xen1`, 'm'));
    assert.match(s.out, /mode: +PV/);
    assert.match(s.out, /running as PV \(running, domain id \d+\)/);
    const c = await ssh(key('alice'), `alice+${alicePvOnly.name}`, 'check');
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /runs in PV mode/);
    assert.match(c.out, /^ {2}pvh +no +/m);
    assert.match(c.out, /^ {2}pv +now +/m);
  });

  test('unknown commands, bad arguments and shell metacharacters get a one-line error and exit 2', async () => {
    const cases: [string, RegExp][] = [
      ['frobnicate', /^unknown command "frobnicate"; type "help" for the list$/m],
      ['mode hvm', /mode: unknown mode "hvm"; choose pvh, pvh-shim or pv/],
      ['status now', /status: takes no arguments/],
      ['status; cat /etc/passwd', /plain words only: ";" is not allowed/],
      ['$(id)', /plain words only: "\$" is not allowed/],
      ['use ../../etc', /plain words only|is not a server name/],
    ];
    for (const [line, want] of cases) {
      const r = await ssh(key('alice'), `alice+${alice.name}`, line);
      assert.equal(r.code, 2, `${line}: ${r.out}${r.err}`);
      assert.match(r.out, want, line);
      assert.doesNotMatch(r.out, /root:x:0/);
    }
    const refused = (await fleet.store.listAudit(500)).filter((e) => e.actor === 'customer:alice' && e.action === 'shell.refused');
    assert.ok(refused.some((e) => e.detail === 'status; cat /etc/passwd'), 'refused lines are audited');
  });

  test('a customer can neither log in as, see nor act on another customer\'s server', async () => {
    // bob's key does not log in as alice, and an unregistered key logs in as nobody
    for (const [k, user] of [['bob', 'alice'], ['mallory', 'alice'], ['mallory', 'mallory']] as const) {
      const r = await ssh(key(k), user, 'status');
      assert.equal(r.code, 255, `${k} as ${user}`);
      assert.match(r.err, /Permission denied \(publickey\)/);
    }
    // alice naming bob's guest gets the same answer as for a guest that does not exist
    const viaLogin = await ssh(key('alice'), `alice+${bobs.name}`, 'reboot');
    assert.equal(viaLogin.code, 1);
    assert.match(viaLogin.out, new RegExp(`You have no server called "${bobs.name}"`));
    const a = await ssh(key('alice'), 'alice', 'guests');
    assert.doesNotMatch(a.out, new RegExp(bobs.name));
    assert.match(a.out, new RegExp(alice.name));
    const none = await ssh(key('alice'), 'alice+no-such-guest', 'status');
    assert.match(none.out, /You have no server called "no-such-guest"/);
    const bobRunning = sim.state.domains[bobs.name];
    assert.equal(bobRunning?.state, 'running', "bob's server was not touched");
  });

  test('mode pvh switches the server, verified, and undo puts it back; history and the audit log say so', async () => {
    const before = Buffer.from(sim.state.files[alice.config_path]!, 'base64');
    const dry = await ssh(key('alice'), `alice+${alice.name}`, 'mode pvh --dry-run');
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /would change/);
    assert.match(dry.out, /^\+type = "pvh"/m);
    assert.equal(sim.state.domains[alice.name]!.type, 'pv', 'a dry run changes nothing');

    const r = await ssh(key('alice'), `alice+${alice.name}`, 'mode pvh');
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /Saving a copy of the current settings/);
    assert.match(r.out, /Waiting for it to boot/);
    assert.match(r.out, /The server now runs in PVH mode\./);
    assert.equal(sim.state.domains[alice.name]!.type, 'pvh');

    const again = await ssh(key('alice'), `alice+${alice.name}`, 'mode pvh');
    assert.equal(again.code, 1);
    assert.match(again.out, /already runs in PVH mode/);

    const u = await ssh(key('alice'), `alice+${alice.name}`, 'undo');
    assert.equal(u.code, 0, u.out);
    assert.match(u.out, /runs in PV mode again/);
    assert.equal(sim.state.domains[alice.name]!.type, 'pv');
    assert.deepEqual(Buffer.from(sim.state.files[alice.config_path]!, 'base64'), before, 'config byte-identical after undo');

    const h = await ssh(key('alice'), `alice+${alice.name}`, 'history');
    assert.match(h.out, /switch PV → PVH: The server now runs in PVH mode\./);
    assert.match(h.out, /undo \(back to PV\)/);

    const audit = await fleet.store.listAudit(500);
    const mine = audit.filter((e) => e.actor === 'customer:alice');
    for (const action of ['shell.login', 'shell.mode', 'switch', 'rollback', 'shell.undo', 'shell.logout']) {
      assert.ok(mine.some((e) => e.action === action), `audited: ${action}`);
    }
  });

  test('a switch the kernel cannot do is refused before anything changes', async () => {
    const r = await ssh(key('alice'), `alice+${alicePvOnly.name}`, 'mode pvh');
    assert.equal(r.code, 1);
    assert.match(r.out, /cannot start in PVH mode/);
    assert.equal(sim.state.domains[alicePvOnly.name]!.type, 'pv');
  });

  test('shutdown, boot and reboot act on the server and say what happened', async () => {
    const g = `alice+${alicePvOnly.name}`;
    const s = await ssh(key('alice'), g, 'shutdown');
    assert.equal(s.code, 0, s.out);
    assert.match(s.out, /has shut down/);
    assert.equal(sim.state.domains[alicePvOnly.name], undefined);
    assert.match((await ssh(key('alice'), g, 'status')).out, /state: +not running/);
    assert.match((await ssh(key('alice'), g, 'shutdown')).out, /not running/);
    const b = await ssh(key('alice'), g, 'boot');
    assert.equal(b.code, 0, b.out);
    assert.equal(sim.state.domains[alicePvOnly.name]?.state, 'running');
    const id = sim.state.domains[alicePvOnly.name]!.domid;
    const rb = await ssh(key('alice'), g, 'reboot');
    assert.equal(rb.code, 0, rb.out);
    assert.notEqual(sim.state.domains[alicePvOnly.name]!.domid, id, 'a new domain after the reboot');
  });

  test('no way out: the sftp subsystem and TCP forwarding are refused', async () => {
    // what sftp asks for: the sftp subsystem
    const sftp = await run('ssh', ['-s', ...sshArgs(key('alice'), 'alice'), 'sftp'], { timeout: 30_000 }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((sftp as { code?: number }).code, 255);
    assert.match((sftp as { stderr: string }).stderr, /subsystem request failed/);
    // -W asks the server to open a TCP connection for the client (direct-tcpip): refused
    const fwd = await run('ssh', ['-W', '127.0.0.1:22', ...sshArgs(key('alice'), 'alice')], { timeout: 30_000 }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((fwd as { code?: number }).code, 255);
    assert.match((fwd as { stderr: string }).stderr, /open failed|administratively prohibited|stdio forwarding failed/);
  });

  /**
   * Opens `n` TCP connections from the loopback address `from` that send `banner` (or nothing)
   * and then stay silent; resolves once each was either greeted by the server or closed by it.
   */
  async function hangers(port: number, from: string, n: number, banner: string | null): Promise<{ sockets: Socket[]; greeted: () => number; closed: () => Promise<void> }> {
    const sockets: Socket[] = [];
    const greeted = new Set<Socket>();
    const closedAll: Promise<void>[] = [];
    const settled: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const s = connect({ port, host: '127.0.0.1', localAddress: from });
      s.on('error', () => {});
      if (banner !== null) s.on('connect', () => s.write(banner));
      sockets.push(s);
      closedAll.push(new Promise((resolve) => s.once('close', () => resolve())));
      settled.push(new Promise((resolve) => {
        s.once('data', () => {
          greeted.add(s);
          resolve();
        });
        s.once('close', () => resolve());
      }));
    }
    await Promise.all(settled);
    return { sockets, greeted: () => [...greeted].filter((s) => !s.destroyed && s.readyState === 'open').length, closed: () => Promise.all(closedAll).then(() => {}) };
  }

  test('sockets that send only a banner, or nothing, cannot lock customers out (MaxStartups, per source)', async () => {
    const keys = customerKeys(fleet.store);
    const lines: string[] = [];
    const guarded = await startShellServer({
      backend: fleetBackend(fleet, eventBus(), { consolePollMs: 50 }),
      findKey: (c, b) => keys.find(c, b),
      dataDir: dir,
      port: 0,
      loginGraceMs: 10 * 60_000,
      // no early drop below 50 pending, so the customer's login is certain to be let in
      admission: { maxStartups: { start: 50, rate: 30, full: 100 }, perSource: 10 },
      log: (l) => lines.push(l),
    });
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${guarded.port} ${guarded.hostKeyPublic}\n`, { flag: 'a' });
    const opened: Socket[] = [];
    try {
      // as many as the old 64-connection table held, and more, from two other addresses
      const banners = await hangers(guarded.port, '127.0.0.2', 70, 'SSH-2.0-OpenSSH_9.2\r\n');
      const silent = await hangers(guarded.port, '127.0.0.3', 20, null);
      opened.push(...banners.sockets, ...silent.sockets);
      const r = await ssh(key('alice'), `alice+${alice.name}`, 'status', guarded.port);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, new RegExp(`^${alice.name} on host xen1`, 'm'));
      assert.equal(banners.greeted(), 10, 'one address holds at most its per-source share');
      assert.equal(silent.greeted(), 10);
      assert.ok(lines.some((l) => /dropped a connection from 127\.0\.0\.2: per-source/.test(l)), lines.join('\n'));
    } finally {
      for (const s of opened) s.destroy();
      await guarded.close();
    }
  });

  test('the login grace time closes connections that do not log in, banner or not', async () => {
    const keys = customerKeys(fleet.store);
    const quick = await startShellServer({
      backend: fleetBackend(fleet, eventBus()),
      findKey: (c, b) => keys.find(c, b),
      dataDir: dir,
      port: 0,
      loginGraceMs: 300,
    });
    const opened: Socket[] = [];
    try {
      const banners = await hangers(quick.port, '127.0.0.4', 3, 'SSH-2.0-OpenSSH_9.2\r\n');
      const silent = await hangers(quick.port, '127.0.0.5', 3, null);
      opened.push(...banners.sockets, ...silent.sockets);
      // bounded only so that a server without the timer fails instead of hanging the suite; the
      // bound is cleared once the sockets close, or it alone would keep this process up for a minute
      let bound: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        Promise.all([banners.closed(), silent.closed()]).then(() => 'closed'),
        new Promise<string>((resolve) => { bound = setTimeout(() => resolve('still open'), 60_000); }),
      ]);
      clearTimeout(bound);
      assert.equal(outcome, 'closed');
    } finally {
      for (const s of opened) s.destroy();
      await quick.close();
    }
  });

  /** tmux: a real terminal for the interactive shell. */
  function tmux(...args: string[]): string {
    const r = spawnSync('tmux', ['-L', `pvhctl-shell-${process.pid}`, ...args]);
    return r.stdout?.toString() ?? '';
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** Waits until the screen matches `re`, or with `last`, until its last non-blank line does. */
  async function screenShows(re: RegExp, last = false, tries = 200): Promise<string> {
    let screen = '';
    for (let i = 0; i < tries; i++) {
      screen = tmux('capture-pane', '-p', '-t', 'xs');
      const text = last ? (screen.split('\n').filter((l) => l.trim() !== '').pop() ?? '') : screen;
      if (re.test(text)) return screen;
      await sleep(100);
    }
    assert.fail(`screen never showed ${re}:\n${screen}`);
  }

  test('interactive: prompt, tab completion, history, console with Ctrl-] to detach', async () => {
    const cmd = ['ssh', '-tt', ...sshArgs(key('alice'), 'alice')].map((a) => `'${a}'`).join(' ');
    tmux('new-session', '-d', '-s', 'xs', '-x', '120', '-y', '40', cmd);
    tmux('set-option', '-t', 'xs', 'remain-on-exit', 'on');
    try {
      await screenShows(/Welcome to the Xen Shell, alice/);
      await screenShows(/^xen-shell alice>\s*$/, true);
      tmux('send-keys', '-t', 'xs', `use ${alice.name.slice(0, 6)}`, 'Tab');
      await screenShows(new RegExp(`^xen-shell alice> use ${alice.name.slice(0, 6)}.+`), true);
      tmux('send-keys', '-t', 'xs', 'C-u');
      tmux('send-keys', '-t', 'xs', `use ${alice.name}`, 'Enter');
      await screenShows(new RegExp(`^xen-shell alice:${alice.name}>\\s*$`), true);
      tmux('send-keys', '-t', 'xs', 'che', 'Tab');
      await screenShows(new RegExp(`alice:${alice.name}> check\\s*$`), true);
      tmux('send-keys', '-t', 'xs', 'Enter');
      await screenShows(/^ {2}pvh-shim /m);
      tmux('send-keys', '-t', 'xs', 'Up');
      await screenShows(new RegExp(`alice:${alice.name}> check$`), true);
      tmux('send-keys', '-t', 'xs', 'C-u', 'bogus', 'Enter');
      await screenShows(/unknown command "bogus"/);
      tmux('send-keys', '-t', 'xs', 'console', 'Enter');
      await screenShows(/Press Ctrl-\] to detach/);
      // keys reach the guest: the simulated getty answers Enter with a login prompt and echoes
      tmux('send-keys', '-t', 'xs', 'Enter');
      await screenShows(new RegExp(`${alice.name} login:\\s*$`), true);
      tmux('send-keys', '-t', 'xs', 'status');
      await screenShows(new RegExp(`${alice.name} login: status$`), true);
      tmux('send-keys', '-t', 'xs', 'C-]');
      const detached = await screenShows(/Detached from the console\./);
      assert.doesNotMatch(detached.split('Press Ctrl-]').at(-1) ?? '', /mode: +PV/, 'what was typed went to the guest, not the shell');
      await screenShows(new RegExp(`^xen-shell alice:${alice.name}>\\s*$`), true);
      // the console ends when the domain goes (a reboot from a second session), and says so
      const scrollback = () => tmux('capture-pane', '-p', '-t', 'xs', '-S', '-300');
      const attaches = () => scrollback().match(/Press Ctrl-\] to detach/g)?.length ?? 0;
      const attachesBefore = attaches();
      tmux('send-keys', '-t', 'xs', 'console', 'Enter');
      for (let i = 0; i < 300 && attaches() <= attachesBefore; i++) await sleep(100);
      // attached once the guest's getty answers a key; under load a key typed while the console
      // attaches can arrive before it, so Enter is sent again every few seconds (bounded)
      await sleep(1000); // the console's replay of the log tail has landed
      const logins = () => scrollback().match(/login:/g)?.length ?? 0;
      const loginsBefore = logins();
      for (let i = 0; i < 600 && logins() <= loginsBefore; i++) {
        if (i % 50 === 0) tmux('send-keys', '-t', 'xs', 'Enter');
        await sleep(100);
      }
      assert.ok(logins() > loginsBefore, 'the getty answered through the re-attached console');
      const boots = (screen: string) => screen.match(/Linux version/g)?.length ?? 0;
      const rb = await ssh(key('alice'), `alice+${alice.name}`, 'reboot');
      assert.equal(rb.code, 0, rb.out);
      await screenShows(/The console closed: the server (stopped|restarted)\./);
      await screenShows(new RegExp(`^xen-shell alice:${alice.name}>\\s*$`), true);
      const before = boots(tmux('capture-pane', '-p', '-t', 'xs', '-S', '-300'));
      tmux('send-keys', '-t', 'xs', 'console', 'Enter');
      for (let i = 0; i < 100 && boots(tmux('capture-pane', '-p', '-t', 'xs', '-S', '-300')) <= before; i++) await sleep(100);
      assert.ok(boots(tmux('capture-pane', '-p', '-t', 'xs', '-S', '-300')) > before, 'the new boot is in the backlog');
      const detaches = () => tmux('capture-pane', '-p', '-t', 'xs', '-S', '-300').match(/Detached from the console\./g)?.length ?? 0;
      const d0 = detaches();
      tmux('send-keys', '-t', 'xs', 'C-]');
      for (let i = 0; i < 100 && detaches() <= d0; i++) await sleep(100);
      assert.equal(detaches(), d0 + 1);
      tmux('send-keys', '-t', 'xs', 'exit', 'Enter');
      await screenShows(/Bye\./);
    } finally {
      tmux('kill-server');
    }
  });

  test('the console of a stopped server falls back to its log, read-only, and says so', async () => {
    const g = `alice+${alicePvOnly.name}`;
    assert.equal((await ssh(key('alice'), g, 'shutdown')).code, 0);
    assert.equal((await fleet.store.getGuestById(alicePvOnly.id))!.run_state, 'stopped', 'the fleet knows it is stopped');
    const cmd = ['ssh', '-tt', ...sshArgs(key('alice'), g)].map((a) => `'${a}'`).join(' ');
    tmux('new-session', '-d', '-s', 'xs', '-x', '120', '-y', '40', cmd);
    try {
      await screenShows(new RegExp(`^xen-shell alice:${alicePvOnly.name}>\\s*$`), true);
      tmux('send-keys', '-t', 'xs', 'console', 'Enter');
      await screenShows(/No interactive console: the server is not running\.\n\(read-only: the console log, as the guest writes it\)/);
      await screenShows(/Linux version/); // its last boot, from the log
      tmux('send-keys', '-t', 'xs', 'C-]');
      await screenShows(/Detached from the console\./);
    } finally {
      tmux('kill-server');
      assert.equal((await ssh(key('alice'), g, 'boot')).code, 0);
    }
  });

  test("a dom0 whose xenconsole cannot take its lock: the shell says so and follows the log read-only, while the server runs", async () => {
    const g = `alice+${alice.name}`;
    // xenconsole gives up after the shell has counted it as attached (as on the slow lab)
    sim.state.faults.push({ kind: 'no-var-lock', ms: 2500 });
    const cmd = ['ssh', '-tt', ...sshArgs(key('alice'), g)].map((a) => `'${a}'`).join(' ');
    tmux('new-session', '-d', '-s', 'xs', '-x', '160', '-y', '40', cmd);
    try {
      await screenShows(new RegExp(`^xen-shell alice:${alice.name}>\\s*$`), true);
      tmux('send-keys', '-t', 'xs', 'console', 'Enter');
      const screen = await screenShows(/\(read-only: the console log, as the guest writes it\)/, false, 400);
      assert.match(screen, /No interactive console: the host's console service could not take its lock file \(No such file or directory\)\./);
      assert.doesNotMatch(screen, /The console closed/);
      // the log keeps coming: a reboot's new boot shows up without re-attaching
      const boots = () => (tmux('capture-pane', '-p', '-t', 'xs', '-S', '-300').match(/Linux version/g) ?? []).length;
      const before = boots();
      assert.equal((await ssh(key('alice'), g, 'reboot')).code, 0);
      for (let i = 0; i < 200 && boots() <= before; i++) await sleep(50);
      assert.ok(boots() > before, 'the read-only console followed the new boot');
      tmux('send-keys', '-t', 'xs', 'C-]');
      await screenShows(/Detached from the console\./);
    } finally {
      sim.state.faults = sim.state.faults.filter((f) => f.kind !== 'no-var-lock');
      tmux('kill-server');
    }
  });
});
