/**
 * The Xen lab's lifecycle: boot the built lab (Xen 4.17 + an initramfs dom0) under
 * qemu-system-x86_64 (TCG), reach dom0 over real SSH on a host-forwarded loopback port, collect
 * logs, stop. QEMU runs in its own process group; a watchdog ends it when the process that
 * started it dies (also by SIGKILL), unless the lab was started detached (`pvhctl lab up`).
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'ssh2';
import { cacheDir } from '../src/debian/apt.ts';
import { buildLab, type LabBuild } from './build.ts';
import { configureDebianSystems } from './debian-first-boot.ts';
import { FIRMWARE_DIRS, labQemu } from './qemu-build.ts';
import { alive } from './proc.ts';

export { alive };

const run = promisify(execFile);

/** What a running lab is: enough to reach it, stop it and find its logs (JSON-serialisable). */
export type LabEndpoint = {
  host: '127.0.0.1';
  port: number;
  user: 'root';
  keyPath: string;
  /** dom0's SSH host key (`ssh-ed25519 BASE64`), pinned: no other key is accepted. */
  hostKey: string;
  pid: number;
  runDir: string;
  serialLog: string;
  buildDir: string;
  startedAt: string;
};

export type StartOptions = {
  /** Keep QEMU running after this process exits (for `pvhctl lab up`). */
  detach?: boolean;
  /** Guest memory of the whole QEMU machine in MiB (dom0 takes 1024). */
  memoryMiB?: number;
  log?: (line: string) => void;
  /** QEMU's -cpu and -accel, for experiments on the nested-SVM flake (lab/flake.ts); default QEMU_CPU, QEMU_ACCEL. */
  cpu?: string;
  accel?: string;
  /** Emulated CPUs (QEMU's -smp); default QEMU_SMP. For experiments (lab/jit.ts). */
  smp?: number;
  /** dom0's memory in MiB (Xen's dom0_mem); default DOM0_MEM_MIB. For experiments (lab/jit.ts). */
  dom0MemMiB?: number;
  /**
   * The lab of an unpacked Debian system's first boot (lab/debian-first-boot.ts): built with the
   * unpacked image as it is. Without it, such a system (PVHCTL_LAB_DEB_I386=1) is configured first.
   */
  firstBoot?: boolean;
};

/** Emulated CPUs: two, so that dom0 and a guest each have one. */
export const QEMU_SMP = 2;
/** dom0's memory in MiB: its rootfs lives in RAM, and the installed pvhctl runs there. */
export const DOM0_MEM_MIB = 1024;

/** The CPU model Xen needs under TCG: SVM and NPT for PVH (lab-notes.md lists what failed). */
export const QEMU_CPU = 'qemu64,+svm,+npt';
/** Multi-threaded TCG: one host thread per emulated CPU. */
export const QEMU_ACCEL = 'tcg,thread=multi';

/**
 * Result of one command run in dom0 over SSH. `code` is -1 when SSH gave no exit status: then
 * `signal` is the signal that ended the command when SSH reported one (`SEGV`, `KILL`), and its
 * absence means the command's end was never reported (the connection was lost).
 */
export type ExecResult = { code: number; stdout: string; stderr: string; signal?: string };

const MAX_OUTPUT = 16 << 20;

/** Where runs keep their overlay disk, serial log and QEMU log. */
function runsDir(): string {
  return cacheDir('lab', 'runs');
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Refuses QEMU versions the lab is known to break on (lab-notes.md: 10.0 loses PVH guests). */
export function checkQemuVersion(versionLine: string): string | null {
  const m = /version (\d+)\.(\d+)/.exec(versionLine);
  if (m === null) return `cannot read the QEMU version from '${versionLine.slice(0, 80)}'`;
  return m[1] === '7' ? null : `QEMU ${m[1]}.${m[2]} is not Debian 12's 7.2; the lab's PVH guests fail on newer QEMU (apt-get install qemu-system-x86=1:7.2*)`;
}

/**
 * The QEMU command line for a lab build (lab-notes.md explains each choice).
 * @example
 * qemuArgs(build, { port: 2222, overlay: '/r/data.qcow2', serialLog: '/r/serial.log', pidFile: '/r/qemu.pid', memoryMiB: 3072 })
 * // => ['-accel', 'tcg,thread=multi', '-M', 'q35', '-cpu', 'qemu64,+svm,+npt', ...]
 */
export function qemuArgs(
  b: Pick<LabBuild, 'xen' | 'vmlinuz' | 'initrd'>,
  o: { port: number; overlay: string; serialLog: string; pidFile: string; memoryMiB: number; cpu?: string; accel?: string; smp?: number; dom0MemMiB?: number },
): string[] {
  const smp = o.smp ?? QEMU_SMP;
  const dom0 = o.dom0MemMiB ?? DOM0_MEM_MIB;
  if (!Number.isInteger(smp) || smp < 1 || smp > 8) throw new Error(`bad QEMU -smp ${smp}: 1 to 8`);
  if (!Number.isInteger(dom0) || dom0 < 256 || dom0 >= o.memoryMiB) throw new Error(`bad dom0_mem ${dom0} MiB: 256 up to the machine's ${o.memoryMiB}`);
  for (const v of [o.cpu, o.accel]) if (v !== undefined && !/^[a-z0-9][a-z0-9_.,=+-]{0,200}$/i.test(v)) throw new Error(`bad QEMU -cpu/-accel value '${v}'`);
  for (const p of [b.vmlinuz, b.initrd]) if (p.includes(',')) throw new Error(`${p}: a multiboot module path cannot hold a comma`);
  // bootscrub=false: scrubbing 2 GiB of free RAM costs emulated CPU time the boots need.
  const xenCmdline = `console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all console_timestamps=boot bootscrub=false dom0_mem=${dom0}M,max:${dom0}M`;
  return [
    '-accel', o.accel ?? QEMU_ACCEL, '-M', 'q35', '-cpu', o.cpu ?? QEMU_CPU, '-m', String(o.memoryMiB), '-smp', String(smp),
    '-display', 'none', '-monitor', 'none', '-serial', `file:${o.serialLog}`, '-no-reboot', '-pidfile', o.pidFile,
    '-drive', `file=${o.overlay},if=virtio,format=qcow2,cache=unsafe`,
    // Only the loopback address: dom0's SSH is never reachable from outside this machine.
    '-netdev', `user,id=n0,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:${o.port}-10.0.2.15:22`, '-device', 'virtio-net-pci,netdev=n0,romfile=',
    '-kernel', b.xen, '-append', xenCmdline,
    '-initrd', `${b.vmlinuz} console=hvc0 earlyprintk=xen rdinit=/init,${b.initrd}`,
  ];
}

/** Keeps the newest `keep` run directories (their logs) and removes the rest. */
function pruneRuns(keep: number): void {
  const dir = runsDir();
  const runs = readdirSync(dir).map((n) => ({ n, t: statSync(join(dir, n)).mtimeMs })).sort((a, b) => b.t - a.t);
  for (const r of runs.slice(keep)) {
    const pidFile = join(dir, r.n, 'qemu.pid');
    if (existsSync(pidFile) && alive(Number(readFileSync(pidFile, 'utf8').trim()))) continue;
    rmSync(join(dir, r.n), { recursive: true, force: true });
  }
}

const cleanups = new Set<() => void>();
let hooked = false;

/** Ends the lab's QEMU when this process exits or is told to stop; SIGKILL is the watchdog's job. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of cleanups) c();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const c of cleanups) c();
      process.kill(process.pid, sig);
    });
  }
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * Builds the lab if needed and boots it; returns once QEMU runs (not yet the toolstack: see
 * waitForToolstack). Throws with the QEMU log when QEMU exits at once.
 * @example
 * const lab = await startLab(); // => { host: '127.0.0.1', port: 41234, user: 'root', keyPath: '.../id_ed25519', ... }
 */
export async function startLab(opts: StartOptions = {}): Promise<LabEndpoint> {
  const log = opts.log ?? (() => {});
  const qemu = await labQemu(log);
  const { stdout: qv } = await run(qemu, ['--version']).catch(() => {
    throw new Error(`${qemu} does not run: remove it to have it built again`);
  });
  const bad = checkQemuVersion(qv.split('\n')[0] ?? '');
  if (bad !== null) throw new Error(bad);
  if (opts.firstBoot !== true) await configureDebianSystems(log);
  const build = await buildLab(log);
  pruneRuns(5);
  const runDir = mkdtempSync(join(runsDir(), `${new Date().toISOString().replace(/[:.]/g, '-')}-`));
  const overlay = join(runDir, 'data.qcow2');
  // The built data disk stays pristine: each run writes to its own copy-on-write overlay.
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', build.dataDisk, '-F', 'raw', overlay]);
  const serialLog = join(runDir, 'serial.log');
  const pidFile = join(runDir, 'qemu.pid');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const args = qemuArgs(build, { port, overlay, serialLog, pidFile, memoryMiB: opts.memoryMiB ?? 3072, cpu: opts.cpu, accel: opts.accel, smp: opts.smp, dom0MemMiB: opts.dom0MemMiB });
    const out = openSync(join(runDir, 'qemu.log'), 'a');
    const child = spawn(qemu, [...FIRMWARE_DIRS.flatMap((d) => ['-L', d]), ...args], { detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${qemu} could not be started`);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const cleanup = () => killGroup(pid, 'SIGKILL');
    if (!opts.detach) {
      cleanups.add(cleanup);
      hookExit();
      exited.then(() => cleanups.delete(cleanup));
      // The watchdog outlives a SIGKILLed parent and then ends QEMU.
      spawn('sh', ['-c', 'while kill -0 "$0" 2>/dev/null && kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -TERM "$1" 2>/dev/null; sleep 5; kill -KILL "$1" 2>/dev/null', String(process.pid), String(pid)], {
        detached: true, stdio: 'ignore',
      }).unref();
    }
    child.unref();
    // QEMU fails at once when the port was taken in between; try another one.
    const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 1500))]);
    if (early === 'running') {
      const lab: LabEndpoint = {
        host: '127.0.0.1', port, user: 'root', keyPath: build.keyPath, hostKey: build.hostKey, pid, runDir, serialLog,
        buildDir: build.dir, startedAt: new Date().toISOString(),
      };
      writeFileSync(join(runDir, 'endpoint.json'), JSON.stringify(lab, null, 2) + '\n');
      log(`lab: QEMU pid ${pid}, dom0 SSH on 127.0.0.1:${port}, logs in ${runDir}`);
      return lab;
    }
    const qlog = readFileSync(join(runDir, 'qemu.log'), 'utf8');
    if (attempt >= 2 || !/hostfwd|Could not set up host forwarding/i.test(qlog)) {
      throw new Error(`QEMU exited with ${early}: ${qlog.trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
}

const clients = new Map<string, Promise<Client>>();

function connect(lab: LabEndpoint, timeoutMs: number): Promise<Client> {
  const key = `${lab.port}:${lab.pid}`;
  const known = clients.get(key);
  if (known !== undefined) return known;
  const pinned = Buffer.from(lab.hostKey.split(' ')[1] ?? '', 'base64');
  const p = new Promise<Client>((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    c.once('error', (err) => {
      clients.delete(key);
      reject(err);
    });
    c.once('close', () => clients.delete(key));
    c.connect({
      host: lab.host, port: lab.port, username: lab.user, privateKey: readFileSync(lab.keyPath),
      readyTimeout: timeoutMs, keepaliveInterval: 5000, keepaliveCountMax: 6,
      hostVerifier: (k: Buffer) => k.equals(pinned),
    });
  });
  clients.set(key, p);
  return p;
}

/** Closes this process's SSH connection to the lab, if any. */
export async function disconnect(lab: LabEndpoint): Promise<void> {
  const key = `${lab.port}:${lab.pid}`;
  const p = clients.get(key);
  clients.delete(key);
  if (p !== undefined) (await p.catch(() => null))?.end();
}

/**
 * Runs a shell command in dom0 over SSH and returns its exit code and output (each capped at
 * 16 MiB). Rejects on connection failure or when `timeoutMs` passes.
 * @example
 * await labExec(lab, 'xl info | grep virt_caps') // => { code: 0, stdout: 'virt_caps : pv hvm hap ...\n', stderr: '' }
 */
export async function labExec(lab: LabEndpoint, command: string, timeoutMs = 60_000): Promise<ExecResult> {
  const client = await connect(lab, Math.min(timeoutMs, 20_000));
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => finish(new Error(`dom0: '${command.slice(0, 60)}' timed out after ${timeoutMs} ms`)), timeoutMs);
    const finish = (err: Error | null, res?: ExecResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(res!);
    };
    client.exec(command, (err, stream) => {
      if (err) return finish(err);
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let size = 0;
      const take = (into: Buffer[]) => (d: Buffer) => {
        size += d.length;
        if (size <= MAX_OUTPUT) into.push(d);
      };
      stream.on('data', take(out));
      stream.stderr.on('data', take(errOut));
      let code = -1;
      let signal: string | undefined;
      // ssh2 reports exit(code), or exit(null, signalName, ...) for a command ended by a signal.
      stream.on('exit', (c: number | null, sig?: string) => {
        code = c ?? -1;
        if (c === null && typeof sig === 'string') signal = sig;
      });
      stream.on('close', () => finish(null, { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errOut).toString('utf8'), ...(signal === undefined ? {} : { signal }) }));
    });
  });
}

/** The last `lines` lines of a text file, or '' when it does not exist. */
function tail(path: string, lines: number): string {
  if (!existsSync(path)) return '';
  return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
}

/**
 * Waits until dom0's toolstack answers over SSH (`xl info` lists xen_caps); throws with the end
 * of the serial log when QEMU dies or `timeoutMs` passes. Returns the milliseconds it waited.
 */
export async function waitForToolstack(lab: LabEndpoint, timeoutMs = 240_000): Promise<number> {
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < timeoutMs) {
    if (!alive(lab.pid)) throw new Error(`lab QEMU (pid ${lab.pid}) exited before the toolstack came up:\n${tail(lab.serialLog, 15)}`);
    // The serial log says when dom0's init has started sshd; until then SSH is only refused.
    if (readFileSync(lab.serialLog, 'utf8').includes('pvhctl-lab: toolstack up')) {
      try {
        const r = await labExec(lab, 'xl info', 20_000);
        if (r.code === 0 && r.stdout.includes('xen_caps')) return Date.now() - t0;
        last = r.stderr.trim();
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
        await disconnect(lab);
      }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`lab toolstack not up after ${timeoutMs} ms (${last}):\n${tail(lab.serialLog, 15)}`);
}

/**
 * Copies the lab's logs into `dest`: QEMU's and the serial console (Xen and dom0), and over SSH
 * `xl dmesg`, `xl list` and every guest console log. Best effort: returns the files written.
 */
export async function collectLogs(lab: LabEndpoint, dest: string): Promise<string[]> {
  mkdirSync(dest, { recursive: true });
  const written: string[] = [];
  for (const f of ['serial.log', 'qemu.log']) {
    const src = join(lab.runDir, f);
    if (existsSync(src)) {
      copyFileSync(src, join(dest, f));
      written.push(join(dest, f));
    }
  }
  if (!alive(lab.pid)) return written;
  const remote: [string, string][] = [
    ['xl-dmesg.log', 'xl dmesg'],
    ['xl-list.log', 'xl list'],
    ['guest-consoles.log', 'for f in /var/log/xen/console/*.log; do [ -f "$f" ] && echo "==> $f" && tail -c 262144 "$f"; done; true'],
    ['dom0-dmesg.log', 'dmesg'],
  ];
  for (const [name, cmd] of remote) {
    try {
      const r = await labExec(lab, cmd, 30_000);
      writeFileSync(join(dest, name), r.stdout + r.stderr);
      written.push(join(dest, name));
    } catch {
      /* dom0 unreachable: the serial log is what there is */
    }
  }
  return written;
}

/**
 * Stops the lab: SIGTERM to QEMU's process group, SIGKILL after `timeoutMs`, then removes the
 * run's overlay disk (its logs stay in runDir). Safe to call twice.
 */
export async function stopLab(lab: LabEndpoint, timeoutMs = 10_000): Promise<void> {
  await disconnect(lab);
  if (alive(lab.pid)) {
    killGroup(lab.pid, 'SIGTERM');
    const t0 = Date.now();
    while (alive(lab.pid) && Date.now() - t0 < timeoutMs) await new Promise((r) => setTimeout(r, 100));
    if (alive(lab.pid)) killGroup(lab.pid, 'SIGKILL');
  }
  rmSync(join(lab.runDir, 'data.qcow2'), { force: true });
}
