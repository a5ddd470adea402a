/**
 * The first boot of the lab's unpacked Debian systems (deb12-i386): this host cannot execute i386
 * code, so lab/debian.ts only unpacks the system; here it configures itself, natively under Xen,
 * in a lab built with its unpacked image. The lab's 686-pae kernel and first-boot initramfs boot it
 * as PVH from dom0 (/etc/xen/NAME-first-boot.cfg), its own second stage runs in a chroot
 * (lab/debian/first-boot.sh: dpkg, the initramfs, update-grub on the real /dev/xvda) and powers
 * off; then the configured LV is copied out of dom0 (zstd in dom0, over SSH) into the image's
 * cache directory (configuredName()), checked on this host (e2fsck, grub.cfg, dpkg's database).
 * Later lab builds put the configured image on the data disk, like deb12-amd64's.
 */
import { spawn, execFile } from 'node:child_process';
import { closeSync, existsSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../src/debian/apt.ts';
import { buildDebian, configuredName, DEBIAN_SYSTEMS, type DebianImage, type DebianSystem } from './debian.ts';
import { bootGuest } from './guest-boot.ts';
import { DEBIAN_I386_ENV, labDebianGuests, VG } from './guests.ts';
import { labExec, startLab, stopLab, waitForToolstack, type LabEndpoint } from './lab.ts';
import { PVH_ATTEMPTS, recordRetry } from './retries.ts';
import { withLock } from './proc.ts';

const run = promisify(execFile);

/**
 * The emulator's flake as `xl dmesg` shows it: the guest's vCPU triple-faulted with RIP in Xen's
 * own code segment (e008); seen on the first attempt after 6 minutes of dpkg (lab/README.md).
 */
export const TRIPLE_FAULT_IN_XEN = /Triple fault[\s\S]{0,400}RIP:\s+e008:/;

/** The line the first-boot initramfs prints when the second stage has ended: its exit status. */
const DONE = /PVHCTL-LAB-FIRSTBOOT name=(\S+) rc=(\S+)/;

/**
 * How long the first boot's console may stay silent (one maintainer script under nested TCG), in
 * seconds; bootGuest bounds the whole boot at PROGRESS_CAP times this (2 hours).
 */
const SILENT_S = 1800;

/**
 * What a first boot's console says: the second stage's exit status (`0`, a number, `mount` or
 * `umount`) and the steps it reached with their seconds, or null when it never ended.
 * @example
 * firstBootResult('PVHCTL-LAB-FIRSTBOOT step=essential t=3s\nPVHCTL-LAB-FIRSTBOOT name=deb12-i386 rc=0\n', 'deb12-i386')
 * // => { rc: '0', steps: [{ step: 'essential', s: 3 }] }
 */
export function firstBootResult(console: string, name: string): { rc: string; steps: { step: string; s: number }[] } | null {
  const steps: { step: string; s: number }[] = [];
  let rc: string | null = null;
  for (const line of console.slice(-1 << 20).split(/\r?\n/)) {
    const st = /PVHCTL-LAB-FIRSTBOOT step=([a-z-]{1,32}) t=(\d{1,7})s/.exec(line);
    if (st !== null) steps.push({ step: st[1]!, s: Number(st[2]) });
    const d = DONE.exec(line);
    if (d !== null && d[1] === name) rc = d[2]!.slice(0, 16);
  }
  return rc === null ? null : { rc, steps };
}

/**
 * The first-boot systems this lab wants (PVHCTL_LAB_DEB_I386=1), each configured: built (or found
 * cached) unpacked, then configured on a first boot in a lab of its own unless its configured
 * image is cached. Nothing to do, and no apt call, when the lab wants none.
 */
export async function configureDebianSystems(log: (line: string) => void = () => {}): Promise<DebianImage[]> {
  const wanted = new Set(labDebianGuests().map((g) => g.name));
  const out: DebianImage[] = [];
  for (const s of DEBIAN_SYSTEMS.filter((x) => x.configure === 'first-boot' && wanted.has(x.name))) out.push(await configure(s, log));
  return out;
}

/**
 * Whether the lab stage has deb12-i386 when PVHCTL_LAB_DEB_I386 is not set: yes when this machine's
 * cache holds its configured image for the current packages (the lab then only copies it), no
 * when it does not, since configuring it takes a first boot of about 25 minutes of nested
 * emulation, which `PVHCTL_LAB_DEB_I386=1` asks for. Finding out may unpack the system (about 2
 * minutes with mmdebstrap); a machine that cannot (no i386 in apt) has it left out. `log` gets the
 * one line that says which and why.
 */
export async function i386Default(log: (line: string) => void): Promise<boolean> {
  const s = DEBIAN_SYSTEMS.find((x) => x.configure === 'first-boot');
  if (s === undefined) return false;
  const img = await buildDebian(s, log).catch((err: Error) => err);
  if (img instanceof Error) {
    log(`${s.name}: left out of this lab (its packages could not be unpacked here: ${img.message.split('\n')[0]!.slice(0, 200)})`);
    return false;
  }
  if (img.state === 'configured') {
    log(`${s.name}: in this lab, its configured image cached (${img.imageZst}); ${DEBIAN_I386_ENV}=0 leaves it out`);
    return true;
  }
  log(`${s.name}: left out of this lab: not configured on this machine yet (a first boot of about 25 minutes; ${DEBIAN_I386_ENV}=1 runs it)`);
  return false;
}

async function configure(s: DebianSystem, log: (line: string) => void): Promise<DebianImage> {
  const first = await buildDebian(s, log);
  if (first.state === 'configured') return first;
  const dir = join(cacheDir('lab', 'debian'), `${s.name}-${first.key}`);
  await withLock(join(cacheDir('lab', 'debian'), `${s.name}.first-boot.lock`), async () => {
    if (!existsSync(join(dir, configuredName()))) await firstBoot(s, first, dir, log);
  });
  return buildDebian(s, log);
}

/**
 * Runs the first boot, in a fresh lab per attempt (each run's overlay starts from the unpacked
 * image: an attempt that died mid-dpkg leaves nothing behind). An attempt whose guest
 * triple-faulted in Xen's own code (the emulator's nested-SVM flake, lab/README.md) is retried, up
 * to PVH_ATTEMPTS in all, and recorded in that run's retries.log; any other failure is final.
 */
async function firstBoot(s: DebianSystem, img: DebianImage, dir: string, log: (line: string) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const r = await firstBootAttempt(s, img, dir, log);
    if (r.kind === 'done') return;
    if (r.kind === 'failed' || attempt >= PVH_ATTEMPTS) throw new Error(r.message);
    log(recordRetry(r.lab, `${s.name} first boot`, r.message));
  }
}

type Attempt = { kind: 'done' } | { kind: 'failed'; message: string } | { kind: 'flake'; message: string; lab: LabEndpoint };

async function firstBootAttempt(s: DebianSystem, img: DebianImage, dir: string, log: (line: string) => void): Promise<Attempt> {
  const t0 = Date.now();
  log(`${s.name}: first boot in the lab (configures the unpacked packages natively under Xen)`);
  const lab = await startLab({ log, firstBoot: true });
  try {
    await waitForToolstack(lab);
    const t1 = Date.now();
    const r = await bootGuest(lab, s.name, `/etc/xen/${s.name}-first-boot.cfg`, SILENT_S);
    const console = 'console' in r ? r.console : r.output;
    const full = await labExec(lab, `cat /var/log/xen/console/guest-${s.name}.log`, 120_000).then((x) => x.stdout, () => console);
    writeFileSync(join(dir, 'first-boot.log'), full);
    const res = firstBootResult(full, s.name);
    if (r.kind !== 'died' || res === null || res.rc !== '0') {
      const last = res?.steps.at(-1);
      const message = `${s.name}: first boot failed (${r.kind}, second stage ${res === null ? `never ended, last step ${last === undefined ? 'none' : `${last.step} at ${last.s} s`}` : `exit ${res.rc}`}); its console is in ${join(dir, 'first-boot.log')}: ${full.slice(-600).replace(/[^\x20-\x7e\n]/g, '?')}`;
      const dmesg = await labExec(lab, 'xl dmesg | tail -c 8192', 60_000).then((x) => x.stdout, () => '');
      return r.kind === 'died' && res === null && TRIPLE_FAULT_IN_XEN.test(dmesg) ? { kind: 'flake', message, lab } : { kind: 'failed', message };
    }
    const secondStageS = Math.round((Date.now() - t1) / 1000);
    log(`${s.name}: second stage done in ${secondStageS} s (${res.steps.map((x) => `${x.step} ${x.s} s`).join(', ')}); copying its LV out of dom0`);
    await copyOut(lab, s.name, join(dir, `${configuredName()}.tmp`));
    await check(join(dir, `${configuredName()}.tmp`), img.uuid, dir);
    writeFileSync(join(dir, 'first-boot.json'), JSON.stringify({ secondStageS, steps: res.steps, totalS: Math.round((Date.now() - t0) / 1000) }, null, 2) + '\n');
    renameSync(join(dir, `${configuredName()}.tmp`), join(dir, configuredName()));
    log(`${s.name}: configured image cached in ${join(dir, configuredName())} (${Math.round((Date.now() - t0) / 1000)} s in all)`);
    return { kind: 'done' };
  } finally {
    await stopLab(lab);
  }
}

/**
 * Streams dom0's LV, compressed in dom0, into `dest` with the system ssh (the host key pinned). On
 * stdin: zstd ignores a block device named as its input ("not a regular file -- ignored", exit 1).
 */
async function copyOut(lab: LabEndpoint, name: string, dest: string): Promise<void> {
  const knownHosts = join(lab.runDir, 'known_hosts');
  writeFileSync(knownHosts, `[${lab.host}]:${lab.port} ${lab.hostKey}\n`);
  const fd = openSync(dest, 'w');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('ssh', ['-p', String(lab.port), '-i', lab.keyPath, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes',
        `${lab.user}@${lab.host}`, `zstd -q -3 -c < /dev/${VG}/${name}`], { stdio: ['ignore', fd, 'pipe'] });
      let err = '';
      child.stderr?.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-2000); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30 * 60_000);
      child.once('error', reject);
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`copying /dev/${VG}/${name} out of dom0 failed (${sig ?? `exit ${code}`}): ${err.trim()}`));
      });
    });
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks a configured image on this host before it is cached: the stream whole, the filesystem
 * clean (`e2fsck -fn`), its UUID the build's, a grub.cfg from update-grub booting root=UUID=, and
 * dpkg's database filled.
 */
async function check(zst: string, uuid: string, dir: string): Promise<void> {
  const img = join(dir, 'check.img');
  try {
    await run('sh', ['-c', 'zstd -q -dc "$0" > "$1"', zst, img], { maxBuffer: 1 << 20 });
    await run('e2fsck', ['-fn', img], { maxBuffer: 16 << 20 }).catch((e: { stdout?: string }) => {
      throw new Error(`configured image: e2fsck -fn found errors: ${(e.stdout ?? '').slice(-600)}`);
    });
    const { stdout: blk } = await run('blkid', ['-o', 'value', '-s', 'UUID', img]);
    if (blk.trim() !== uuid) throw new Error(`configured image: filesystem UUID ${blk.trim()}, not the build's ${uuid}`);
    const cat = async (path: string) => (await run('debugfs', ['-R', `cat ${path}`, img], { maxBuffer: 64 << 20 })).stdout;
    const grub = await cat('/boot/grub/grub.cfg');
    if (!grub.includes('### BEGIN /etc/grub.d/10_linux ###') || !new RegExp(`linux\\s+/boot/vmlinuz-\\S+-686-pae root=UUID=${uuid} ro\\s+quiet`).test(grub)) {
      throw new Error(`configured image: /boot/grub/grub.cfg is not update-grub's with root=UUID=${uuid}: ${grub.slice(0, 400)}`);
    }
    const status = await cat('/var/lib/dpkg/status');
    const installed = status.split('\n').filter((l) => l === 'Status: install ok installed').length;
    if (installed < 100) throw new Error(`configured image: dpkg lists ${installed} packages installed`);
  } finally {
    rmSync(img, { force: true });
  }
}
