/**
 * Builds simulated hosts with a realistic mix of guests, deterministically from a seed: most run a
 * 64-bit kernel that boots PV and PVH (direct from dom0 or through PV GRUB), some an old PV-only
 * kernel (their switch must roll back or use the shim), a few 32-bit PAE kernels.
 */
import { rng } from '../../util/rng.ts';
import { existsSync } from 'node:fs';
import { loadSim, putBytes, saveSim, type SimGuest, type SimHost, type SimHostState, type SimKernel } from './world.ts';

export type SimSpec = {
  name: string;
  guests: number;
  seed: number;
  /** `xen-3.0-x86_32p` in xen_caps (32-bit PV on). Default false, as on Debian 12's Xen. */
  pv32?: boolean;
  /** No `hvm` in virt_caps (old hardware): PVH impossible. */
  noHvm?: boolean;
  bootMs?: number;
  shutdownMs?: number;
  /** Share of PV-only kernels, 0..1 (default 0.1). */
  pvOnly?: number;
};

export const PVGRUB64 = '/usr/lib/grub-xen/grub-x86_64-xen.bin';
export const PVGRUB32 = '/usr/lib/grub-xen/grub-i386-xen.bin';

/** An xl config as an operator writes one (comments, blank lines, lists across lines). */
export function simConfig(name: string, kernel: string, boot: SimGuest['boot']): string {
  const k =
    boot === 'direct'
      ? `kernel = "${kernel}"\nramdisk = "/boot/guests/initrd.img-6.1.0-26-amd64"\nextra = "root=/dev/xvda1 ro console=hvc0"\n`
      : `kernel = "${kernel}"\n`;
  return `# ${name}: customer VPS\nname = "${name}"\n${k}memory = 1024\nvcpus = 2\ndisk = [\n  'phy:/dev/vg0/${name},xvda,w',\n]\nvif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0' ]\non_crash = "preserve"\n`;
}

/**
 * Creates a simulated host, or reloads it from `file` when that exists (a restarted process).
 * @example
 * makeSimHost({ name: 'sim1', guests: 2, seed: 7 }).state.guests // => { 'sim1-g0000': {...}, 'sim1-g0001': {...} }
 */
export function makeSimHost(spec: SimSpec, file: string | null = null): SimHost {
  if (file !== null && existsSync(file)) return loadSim(file);
  const r = rng(spec.seed);
  const state: SimHostState = {
    name: spec.name,
    xenVersion: '4.17.5-pre',
    xenCaps: ['xen-3.0-x86_64', ...(spec.pv32 ? ['xen-3.0-x86_32p'] : []), ...(spec.noHvm ? [] : ['hvm-3.0-x86_32', 'hvm-3.0-x86_32p', 'hvm-3.0-x86_64'])],
    virtCaps: spec.noHvm ? ['pv'] : ['pv', 'hvm', 'hap'],
    files: {},
    guests: {},
    domains: {},
    consoles: {},
    nextDomid: 1,
    volumes: {},
    // A production host's storage: room for snapshots in vg0, and the dm snapshot target.
    vgs: { vg0: { extentBytes: 4 * 1024 * 1024, freeExtents: 25_600 } },
    dmTargets: ['snapshot-merge', 'snapshot-origin', 'snapshot', 'striped', 'linear', 'error'],
    totalMemoryMb: spec.guests * 1024 + 8192,
    faults: [],
    downCalls: 0,
    calls: 0,
    bootMs: spec.bootMs ?? 5,
    shutdownMs: spec.shutdownMs ?? 5,
  };
  const h: SimHost = { state, file };
  const pvOnly = spec.pvOnly ?? 0.1;
  for (let i = 0; i < spec.guests; i++) {
    const name = `${spec.name}-g${String(i).padStart(4, '0')}`;
    const x = r();
    let kernel: SimKernel = { pv: true, pvh: true, arch: 'x86_64' };
    if (x < pvOnly) kernel = { pv: true, pvh: false, arch: 'x86_64' };
    else if (x < pvOnly + 0.03 && spec.pv32) kernel = { pv: true, pvh: true, arch: 'x86_32p' };
    const boot: SimGuest['boot'] = r() < 0.7 ? 'direct' : 'pvgrub';
    const kpath = boot === 'direct' ? '/boot/guests/vmlinuz-6.1.0-26-amd64' : kernel.arch === 'x86_64' ? PVGRUB64 : PVGRUB32;
    const configPath = `/etc/xen/${name}.cfg`;
    state.guests[name] = { name, owner: `customer${Math.floor(r() * 50)}`, configPath, kernel, boot, faults: [] };
    putBytes(h, configPath, new TextEncoder().encode(simConfig(name, kpath, boot)));
    state.volumes![`/dev/vg0/${name}`] = { kind: 'lv', vg: 'vg0', sizeBytes: 10 * 1024 ** 3, origin: null, cowBytes: 0 };
    state.domains[name] = {
      name,
      domid: state.nextDomid++,
      type: 'pv',
      pvshim: false,
      state: 'running',
      readyAt: 0,
      hung: false,
      shutdownAt: null,
      vbd: 1,
      vif: 1,
      memoryMb: 1024,
      disks: [`/dev/vg0/${name}`],
    };
  }
  saveSim(h);
  return h;
}
