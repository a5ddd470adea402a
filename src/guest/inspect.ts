/**
 * Inspects one guest offline, the way its bootloader would see it: disks → filesystems → root
 * and /boot → boot menu → the kernel each entry boots → the verdict. Guest data is only ever read;
 * every string in the report is guest text as found (escape it on output).
 */
import { parseBlsEntry, orderBls } from '../boot/bls.ts';
import { EXTLINUX_CONFIGS, parseExtlinux } from '../boot/extlinux.ts';
import { parseGrubLegacy } from '../boot/grub-legacy.ts';
import { parseGrub2 } from '../boot/grub2.ts';
import { parseGrubenv } from '../boot/grubenv.ts';
import { type BootMenu, BootConfigError, MAX_CONFIG_BYTES } from '../boot/types.ts';
import { type GuestTree, isDataError, readPath, resolve } from '../fs/path.ts';
import type { Filesystem } from '../fs/types.ts';
import { ABANDONED, type KernelResult } from '../kernel/types.ts';
import type { VerdictCache } from './cache.ts';
import {
  consoleFacts,
  type ConsoleFacts,
  cmdlineWords,
  kernelConfigFacts,
  type KernelConfigFacts,
  LEGACY_RELEASE_FILES,
  type OsInfo,
  parseFstab,
  parseLegacyRelease,
  parseOsRelease,
  rootNaming,
  type RootNaming,
} from './facts.ts';
import { guestVerdict, type EntryKernel, type Verdict } from './verdict.ts';
import { type DiskReport, type DiskSpec, findVolume, oneLine, openVolumes, type Volume } from './volumes.ts';

/** A kernel file is read whole from the guest; Xen's loader and the kernel reader cap it the same. */
const MAX_KERNEL_BYTES = 256 * 1024 * 1024;
/** Installed kernels looked at in /boot (a guest keeps two or three). */
const MAX_INSTALLED = 16;
const MAX_BLS_FILES = 256;

export type InspectOptions = {
  /** Name shown in reports: the xl config's `name`, else the first disk. */
  name?: string;
  /** Data directory for the kernel verdict cache; null disables the cache. */
  dataDir: string | null;
  /** The xl config passes PCI devices through. */
  pci?: boolean;
  /** A dom0 kernel file the xl config boots directly (`kernel = ...`), instead of the guest's menu. */
  directKernel?: string | null;
  /** The command line the xl config gives that kernel (`cmdline`, else `root=ROOT EXTRA`). */
  directCmdline?: string | null;
  /**
   * That file as the contained child gets it: opened by its parent (a descriptor number), or why
   * the parent could not open it. Without it the file is opened by path.
   */
  directKernelPassed?: { fd: number } | { error: string };
  /** How the xl config boots the guest, for the report (null without a config). */
  hostBoot?: string | null;
  /** Notes from reading the xl config (disks not read, shape errors). */
  notes?: string[];
  /** Read every kernel even when the default one already boots PVH (slower on a cold cache). */
  allKernels?: boolean;
  /**
   * How many other kernels to start reading while the default one is read, on cores that would
   * otherwise idle (one guest inspected on a multi-core dom0). They are abandoned, and listed as
   * not read, if the default kernel boots PVH; otherwise the verdict needs them anyway. Default 0.
   */
  speculate?: number;
};

export type KernelCheck = {
  /** Guest path (or the dom0 path for a direct kernel). */
  path: string;
  result: KernelResult;
  /** True when the verdict came from the cache (same sha256). */
  cached: boolean;
  /** /boot/config-VERSION, when present, and whether it agrees with what the image says. */
  config: (KernelConfigFacts & { agrees: boolean }) | null;
};

export type GuestReport = {
  guest: string;
  /** How the xl config boots the guest (`bootloader = "pygrub"`, a direct kernel, ...), or null. */
  hostBoot: string | null;
  disks: DiskReport[];
  volumes: { name: string; devices: string[]; fs: string | null; uuid: string | null; label: string | null; problem: string | null }[];
  root: string | null;
  mounts: { mountpoint: string; volume: string }[];
  os: OsInfo | null;
  /** Userland width from /bin/sh's ELF header; the kernel's own is in `kernels`. */
  userlandArch: 'x86_64' | 'i386' | null;
  boot: (Omit<BootMenu, 'entries'> & { entries: (BootMenu['entries'][number] & { kernelPath: string | null })[] }) | null;
  kernels: KernelCheck[];
  /** Kernels in /boot or the menu not read because the default one already boots PVH (see allKernels). */
  kernelsNotRead: string[];
  console: ConsoleFacts | null;
  rootDevice: { fstab: RootNaming | null; cmdline: RootNaming | null };
  verdict: Verdict;
  warnings: string[];
};

const td = new TextDecoder('utf-8');

/**
 * Inspects a guest from its disks, with the verdict cache `cache` (by default the one in
 * `opts.dataDir`, if any).
 * @example
 * await inspectGuest([{ path: '/dev/vg0/web1-disk', vdev: 'xvda' }], { dataDir: dataDir() })
 * // => { guest: '/dev/vg0/web1-disk', os: { id: 'debian', ... }, boot: { loader: 'grub2', ... }, verdict: { verdict: 'ready', ... }, ... }
 */
export async function inspectGuest(disks: DiskSpec[], opts: InspectOptions, cache?: VerdictCache | null): Promise<GuestReport> {
  // The data directory's cache unless one is given (the contained child's asks its parent);
  // imported only then, as it loads node:crypto, which a child with known kernels never needs.
  const c = cache !== undefined ? cache : opts.dataDir === null ? null : (await import('./cache.ts')).fileCache(opts.dataDir);
  const opened = openVolumes(disks);
  try {
    return await inspectOpened(disks, opened, opts, c);
  } finally {
    opened.close();
  }
}

async function inspectOpened(disks: DiskSpec[], opened: ReturnType<typeof openVolumes>, opts: InspectOptions, cache: VerdictCache | null): Promise<GuestReport> {
  const warnings: string[] = [...(opts.notes ?? [])];
  for (const d of opened.disks) {
    if (d.error !== null) warnings.push(`${d.path}: ${d.error}`);
    warnings.push(...d.warnings.map((w) => `${d.path}: ${w}`));
  }
  const vols = opened.volumes;
  for (const v of vols) if (v.fs) warnings.push(...v.fs.warnings);

  const report: GuestReport = {
    guest: opts.name ?? disks[0]?.path ?? '?',
    hostBoot: opts.hostBoot ?? null,
    disks: opened.disks,
    volumes: vols.map((v) => ({ name: v.name, devices: v.devices, fs: v.fs?.type ?? null, uuid: v.fs?.uuid ?? null, label: v.fs?.label ?? null, problem: v.problem })),
    root: null,
    mounts: [],
    os: null,
    userlandArch: null,
    boot: null,
    kernels: [],
    kernelsNotRead: [],
    console: null,
    rootDevice: { fstab: null, cmdline: null },
    verdict: { verdict: 'unknown', reasons: ['not inspected'] },
    warnings,
  };

  const direct = opts.directKernel ? await checkDirect(opts.directKernel, opts.directKernelPassed, cache) : null;
  if (direct) report.kernels.push(direct);

  // The root filesystem: the one with /etc/fstab or /etc/os-release (both preferred).
  const has = (fs: Filesystem, p: string) => resolve({ root: fs, mounts: [] }, p).ok;
  const scored = vols
    .filter((v): v is Volume & { fs: Filesystem } => v.fs !== null)
    .map((v) => ({ v, score: (has(v.fs, '/etc/fstab') ? 2 : 0) + (has(v.fs, '/etc/os-release') || has(v.fs, '/usr/lib/os-release') ? 1 : 0) }))
    .filter((x) => x.score > 0)
    .sort((a, b) => b.score - a.score);
  const rootVol = scored[0]?.v ?? null;
  if (scored.length > 1) warnings.push(`several root filesystems found (${scored.map((s) => s.v.name).join(', ')}); using ${rootVol!.name}`);
  const holdsBoot = (fs: Filesystem, under: BootDir) => bootMarkers(under).some((p) => has(fs, p));
  const bootOnly = rootVol === null ? vols.find((v) => v.fs && (holdsBoot(v.fs, '/') || holdsBoot(v.fs, '/boot'))) : undefined;

  if (rootVol === null && bootOnly === undefined) {
    const problems = vols.map((v) => `${v.name}: ${v.problem ?? 'no /etc/fstab or /etc/os-release'}`);
    const unreadable = vols.length === 0 ? 'no disk could be opened' : `no root filesystem was found (${problems.join('; ')})`;
    if (direct) report.console = consoleFacts(opts.directCmdline ?? null, null, 'xl-config');
    report.verdict = guestVerdict({ pci: opts.pci ?? false, unreadable, bootUnreadable: null, menu: null, entryKernels: [], installed: [], os: null, directKernel: direct, console: report.console });
    return report;
  }
  const rootFs = (rootVol ?? bootOnly)!.fs!;
  report.root = (rootVol ?? bootOnly)!.name;
  const tree: GuestTree = { root: rootFs, mounts: [] };

  // /boot from fstab, else a filesystem that looks like a /boot partition when / has no kernels.
  const fstabText = readText(tree, '/etc/fstab');
  const fstab = fstabText === null ? [] : parseFstab(fstabText);
  const rootEntry = fstab.find((e) => e.file === '/');
  report.rootDevice.fstab = rootEntry ? rootNaming(rootEntry.spec) : null;
  const bootEntry = fstab.find((e) => e.file === '/boot');
  let bootVol: Volume | null = null;
  if (bootEntry) {
    bootVol = findVolume(vols, bootEntry.spec);
    if (bootVol === null) warnings.push(`fstab mounts ${bootEntry.spec} on /boot, but no disk given holds it`);
    else if (bootVol.fs === null) warnings.push(`/boot (${bootVol.name}) cannot be read: ${bootVol.problem}`);
  }
  if (rootVol !== null && bootVol?.fs == null && !holdsBoot(rootFs, '/boot')) {
    const guess = vols.find((v) => v !== rootVol && v.fs && holdsBoot(v.fs, '/'));
    if (guess) {
      bootVol = guess;
      if (!bootEntry) warnings.push(`/boot is not in fstab; using ${guess.name}, which holds a boot loader config`);
    }
  }
  if (bootVol?.fs && rootVol !== null) {
    tree.mounts.push({ mountpoint: '/boot', fs: bootVol.fs });
    report.mounts.push({ mountpoint: '/boot', volume: bootVol.name });
  }
  // A boot-only filesystem seen alone: its top level is /boot.
  const bootTree: GuestTree = rootVol === null ? { root: rootFs, mounts: [] } : tree;
  // (A root filesystem without /etc/fstab or os-release, as a minimal guest has, keeps its /boot.)
  const bootPrefix = rootVol === null && !holdsBoot(rootFs, '/boot') ? '' : '/boot';

  report.os = readOs(tree, warnings);
  report.userlandArch = elfArch(tree, '/bin/sh');

  // The boot menu, in pygrub's search order.
  let bootUnreadable: string | null = null;
  if (bootEntry && (bootVol === null || bootVol.fs === null)) bootUnreadable = `fstab mounts ${bootEntry.spec} on /boot, which cannot be read`;
  let menu: BootMenu | null = null;
  try {
    menu = findMenu(bootTree, bootPrefix, warnings);
  } catch (err) {
    if (err instanceof BootConfigError) warnings.push(err.message);
    else if (isDataError(err)) bootUnreadable = oneLine(err);
    else throw err;
  }

  // The kernel each entry boots, resolved where GRUB would look: the filesystem holding the config first.
  const checks = new Map<string, Promise<KernelCheck | { missing: string }>>();
  const kernelAt = (guestPath: string, signal?: AbortSignal): Promise<KernelCheck | { missing: string }> => {
    let p = checks.get(guestPath);
    if (p === undefined) {
      p = checkGuestKernel(bootTree, guestPath, cache, signal);
      checks.set(guestPath, p);
    }
    return p;
  };
  // The installed kernels in /boot, for "ready after reboot" when the default one is not PVH-capable.
  let installedPaths: string[] = [];
  const bootDir = resolve(bootTree, bootPrefix === '' ? '/' : '/boot');
  if (bootDir.ok && bootDir.node.kind === 'dir') {
    try {
      installedPaths = bootDir.fs
        .list(bootDir.node)
        .map((e) => e.name)
        .filter((n) => /^(vmlinuz|vmlinux|kernel|bzImage)-/.test(n) && !n.endsWith('.old'))
        .sort()
        .slice(0, MAX_INSTALLED)
        .map((n) => `${bootPrefix}/${n}`);
    } catch (err) {
      if (!isDataError(err)) throw err;
      bootUnreadable ??= oneLine(err);
    }
  }
  const entryKernels: (EntryKernel | null)[] = [];
  let defaultReady = false;
  const withPaths: NonNullable<GuestReport['boot']>['entries'] = [];
  if (menu !== null) {
    const cfgDir = menu.file.slice(0, menu.file.lastIndexOf('/'));
    // Resolve every entry's kernel path first.
    const found: (string | null)[] = [];
    const lookedAt: string[][] = [];
    for (const e of menu.entries) {
      if (e.type !== 'linux' || e.kernel === null || e.kernel === '') {
        found.push(null);
        lookedAt.push([]);
        withPaths.push({ ...e, kernelPath: null });
        continue;
      }
      const candidates = kernelCandidates(e.kernel, bootPrefix, cfgDir);
      let at: string | null = null;
      for (const c of candidates) {
        const r = resolve(bootTree, c);
        if (r.ok) {
          at = r.path;
          break;
        }
        if (r.error === 'EIO') bootUnreadable ??= r.message;
        if (r.error === 'ELOOP') warnings.push(r.message);
      }
      found.push(at);
      lookedAt.push(candidates);
      withPaths.push({ ...e, kernelPath: at });
    }
    // Unless every kernel is wanted, read the default entry's first: when it boots PVH the
    // others cannot change the verdict, and each cold kernel costs a decompression.
    const d = menu.default;
    const dPath = d.decided ? found[d.index] : null;
    if (!opts.allKernels && dPath) {
      // Meanwhile, the next kernels the verdict would need if the default one is not PVH-capable.
      const spare = new AbortController();
      const others = [...found, ...installedPaths].filter((p): p is string => p != null && p !== dPath);
      // Only when /boot/config-VERSION does not promise CONFIG_XEN_PVH: most defaults boot PVH,
      // and a needless read slows the one that matters.
      // (Read only when there are cores to speculate with: a config is a few hundred KiB.)
      const spareCores = Math.max(0, opts.speculate ?? 0);
      const hint = spareCores === 0 ? null : kernelConfig(bootTree, dPath);
      const speculative = spareCores === 0 || hint?.xenPvh ? [] : [...new Set(others)].slice(0, spareCores);
      const c = kernelAt(dPath);
      for (const p of speculative) void kernelAt(p, spare.signal);
      const dc = await c;
      if (!('missing' in dc) && dc.result.error === null && dc.result.pvh.capable) {
        defaultReady = true;
        // Not needed after all: stop them, and report the ones not finished as not read.
        spare.abort();
        for (const p of speculative) {
          const s = await checks.get(p)!;
          if (!('missing' in s) && s.result.error === ABANDONED) checks.delete(p);
        }
      }
    }
    const pending = menu.entries.map((e, i): Promise<EntryKernel> | EntryKernel | null => {
      const at = found[i];
      if (e.type !== 'linux' || e.kernel === null || e.kernel === '') return null;
      if (at == null) return { path: null, missing: `does not exist in the guest (looked at ${lookedAt[i]!.join(', ')})` };
      if (defaultReady && at !== dPath) return { path: at, skipped: true };
      return kernelAt(at).then((c) => ('missing' in c ? { path: at, missing: c.missing } : { path: c.path, result: c.result }));
    });
    entryKernels.push(...(await Promise.all(pending)));
    report.boot = { ...menu, entries: withPaths };
  }

  const installed: { path: string; result: KernelResult }[] = [];
  const wanted = defaultReady ? installedPaths.filter((p) => checks.has(p)) : installedPaths;
  report.kernelsNotRead = [...new Set([...installedPaths, ...entryKernels.flatMap((k) => (k && 'skipped' in k ? [k.path] : []))])].filter((p) => !checks.has(p));
  for (const c of await Promise.all(wanted.map((p) => kernelAt(p)))) {
    if (!('missing' in c)) installed.push({ path: c.path, result: c.result });
  }

  const seen = new Set<string>();
  for (const p of checks.values()) {
    const c = await p;
    if ('missing' in c || seen.has(c.path)) continue;
    seen.add(c.path);
    report.kernels.push(c);
  }
  for (const k of report.kernels) {
    if (k.config && !k.config.agrees) warnings.push(`${k.config.file} disagrees with ${k.path} about CONFIG_XEN_PVH`);
  }

  const dflt = menu?.default.decided ? menu.entries[menu.default.index] : undefined;
  // A kernel booted from dom0 gets its command line from the xl config, not from the guest's menu.
  const args = direct ? (opts.directCmdline ?? null) : (dflt?.args ?? null);
  if (direct || dflt) {
    report.console = consoleFacts(args, report.os, direct ? 'xl-config' : 'guest-menu');
    const root = cmdlineWords(args ?? '').find((w) => w.startsWith('root='));
    report.rootDevice.cmdline = root ? rootNaming(root.slice('root='.length)) : null;
  }
  report.verdict = guestVerdict({ pci: opts.pci ?? false, unreadable: null, bootUnreadable, menu, entryKernels, installed, os: report.os, directKernel: direct, console: report.console });
  return report;
}

/** Where the boot files are looked for: a /boot directory, or the top of a filesystem that is /boot. */
type BootDir = '/' | '/boot';

/**
 * Paths whose presence marks a filesystem as holding the boot loader's config: GRUB's directories,
 * BLS entries and syslinux's config files (EXTLINUX_CONFIGS), under /boot or at the top.
 */
function bootMarkers(under: BootDir): string[] {
  const dirs = ['/grub', '/grub2', '/loader'];
  if (under === '/') return [...dirs, ...EXTLINUX_CONFIGS.filter((p) => !p.startsWith('/boot/'))];
  return [...dirs.map((d) => `/boot${d}`), ...EXTLINUX_CONFIGS.filter((p) => p.startsWith('/boot/'))];
}

/** Where a menu's kernel path may be: as written under the boot filesystem, then from the guest root. */
function kernelCandidates(kernel: string, bootPrefix: string, cfgDir: string): string[] {
  const k = kernel.startsWith('/') ? kernel : `${cfgDir}/${kernel}`;
  const out = [bootPrefix !== '' && !k.startsWith('/boot/') ? `/boot${k}` : k, k];
  return [...new Set(out)];
}

function readText(tree: GuestTree, path: string, max = MAX_CONFIG_BYTES): string | null {
  const r = readPath(tree, path, max);
  return r.ok ? td.decode(r.data) : null;
}

function readOs(tree: GuestTree, warnings: string[]): OsInfo | null {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    const r = readPath(tree, p, 64 * 1024);
    if (r.ok) return parseOsRelease(td.decode(r.data), p);
    if (r.error !== 'ENOENT') warnings.push(r.message);
  }
  for (const [p, id] of LEGACY_RELEASE_FILES) {
    const t = readText(tree, p, 64 * 1024);
    if (t !== null) return parseLegacyRelease(t, p, id);
  }
  return null;
}

function elfArch(tree: GuestTree, path: string): 'x86_64' | 'i386' | null {
  const r = resolve(tree, path);
  if (!r.ok || r.node.kind !== 'file' || r.node.size < 20 || r.node.size > 64 * 1024 * 1024) return null;
  try {
    const b = r.fs.read(r.node, 64 * 1024 * 1024);
    if (b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46) return null;
    const machine = b[18]! | (b[19]! << 8);
    return machine === 62 ? 'x86_64' : machine === 3 ? 'i386' : null;
  } catch (err) {
    if (isDataError(err)) return null;
    throw err;
  }
}

/** Finds and parses the boot config: grub.cfg (with grubenv and BLS entries), extlinux.conf, menu.lst. */
function findMenu(tree: GuestTree, prefix: string, warnings: string[]): BootMenu | null {
  const env = (dir: string) => {
    const t = readText(tree, `${dir}/grubenv`, 64 * 1024);
    if (t === null) return null;
    const e = parseGrubenv(t);
    if (typeof e === 'string') {
      warnings.push(`${dir}/grubenv: ${e}`);
      return null;
    }
    return e;
  };
  const bls = (grubenv: Map<string, string> | null) => {
    const dir = resolve(tree, `${prefix}/loader/entries`);
    if (!dir.ok || dir.node.kind !== 'dir') return [];
    const names = dir.fs.list(dir.node).map((e) => e.name).filter((n) => n.endsWith('.conf')).sort().slice(0, MAX_BLS_FILES);
    const entries = names.flatMap((n) => {
      const t = readText(tree, `${prefix}/loader/entries/${n}`, 64 * 1024);
      if (t === null) return [];
      const e = parseBlsEntry(n.slice(0, -'.conf'.length), t, grubenv);
      warnings.push(...e.warnings);
      return [e];
    });
    return orderBls(entries);
  };
  for (const dir of [`${prefix}/grub`, `${prefix}/grub2`]) {
    const file = `${dir}/grub.cfg`;
    const text = readText(tree, file);
    if (text === null) continue;
    const grubenv = env(dir);
    // Debian's 41_custom sources custom.cfg when it exists: whether it does decides some defaults.
    const siblings = new Map<string, string | null>();
    const custom = readPath(tree, `${dir}/custom.cfg`, MAX_CONFIG_BYTES);
    if (custom.ok) siblings.set('custom.cfg', td.decode(custom.data));
    else if (custom.error === 'ENOENT') siblings.set('custom.cfg', null);
    return parseGrub2({ file, text, grubenv, bls: bls(grubenv), siblings });
  }
  for (const file of EXTLINUX_CONFIGS) {
    const text = readText(tree, file);
    if (text !== null) return parseExtlinux({ file, text });
  }
  for (const file of [`${prefix}/grub/menu.lst`, `${prefix}/grub/grub.conf`]) {
    const text = readText(tree, file);
    if (text !== null) return parseGrubLegacy({ file, text, savedDefault: readText(tree, `${prefix}/grub/default`, 4096) });
  }
  const entries = bls(null);
  if (entries.length > 0) {
    return {
      loader: 'bls',
      file: `${prefix}/loader/entries`,
      entries,
      default: { decided: true, index: 0, reason: 'no grub.cfg: the newest BLS entry' },
      warnings: [],
    };
  }
  return null;
}

async function judge(bytes: Uint8Array, label: string, cache: VerdictCache | null, signal?: AbortSignal): Promise<{ result: KernelResult; cached: boolean }> {
  // Without a cache there is nothing to look up: the kernel reader hashes the bytes itself.
  // node:crypto is loaded here, not at start: a child whose kernels are known never needs it.
  const sha256 = cache === null ? undefined : process.getBuiltinModule('node:crypto').createHash('sha256').update(bytes).digest('hex');
  const hit = sha256 === undefined ? null : cache!.kernel(sha256);
  if (hit !== null) return { result: { ...hit, file: label }, cached: true };
  // Loaded on a cache miss only: most guests of a fleet share kernels already judged.
  const { inspectKernelBytes } = await import('../kernel/inspect.ts');
  const result = await inspectKernelBytes(bytes, label, { sha256, signal });
  if (result.error === null) cache?.storeKernel(result);
  return { result, cached: false };
}

async function checkGuestKernel(tree: GuestTree, path: string, cache: VerdictCache | null, signal?: AbortSignal): Promise<KernelCheck | { missing: string }> {
  const where = resolve(tree, path);
  if (!where.ok) return { missing: where.error === 'ENOENT' ? 'does not exist in the guest' : `cannot be read: ${where.message}` };
  // An unchanged kernel file seen before on this disk: its verdict without reading it again.
  const fp = cache === null || where.node.kind !== 'file' ? null : where.fs.fingerprint(where.node);
  const sha = fp === null ? null : cache!.knownSha(where.fs.name, fp);
  const known = sha === null ? null : cache!.kernel(sha);
  let result: KernelResult;
  let cached: boolean;
  let resolvedPath: string;
  if (known !== null) {
    result = { ...known, file: where.path };
    cached = true;
    resolvedPath = where.path;
  } else {
    const r = readPath(tree, path, MAX_KERNEL_BYTES);
    if (!r.ok) return { missing: r.error === 'ENOENT' ? 'does not exist in the guest' : `cannot be read: ${r.message}` };
    ({ result, cached } = await judge(r.data, r.path, cache, signal));
    resolvedPath = r.path;
    if (fp !== null && result.error === null) cache!.rememberSha(where.fs.name, fp, result.sha256);
  }
  const facts = kernelConfig(tree, resolvedPath);
  const config = facts === null ? null : { ...facts, agrees: result.error !== null || facts.xenPvh === result.pvh.capable };
  return { path: resolvedPath, result, cached, config };
}

/** /boot/config-VERSION beside /boot/vmlinuz-VERSION, which corroborates CONFIG_XEN_PVH; null when absent. */
function kernelConfig(tree: GuestTree, kernelPath: string): KernelConfigFacts | null {
  const m = /^(.*\/)(?:vmlinuz|vmlinux|kernel|bzImage)-([^/]+)$/.exec(kernelPath);
  if (!m) return null;
  const file = `${m[1]}config-${m[2]}`;
  const t = readText(tree, file, 4 * 1024 * 1024);
  return t === null ? null : kernelConfigFacts(t, file);
}

async function checkDirect(path: string, passed: InspectOptions['directKernelPassed'], cache: VerdictCache | null): Promise<KernelCheck> {
  const { inspectKernelFile, readKernelFd } = await import('../kernel/inspect.ts');
  if (passed === undefined) {
    const r = await inspectKernelFile(path);
    if (r.error === null && cache !== null && cache.kernel(r.sha256) === null) cache.storeKernel(r);
    return { path, result: r, cached: false, config: null };
  }
  if ('error' in passed) return { path, result: { file: path, error: passed.error }, cached: false, config: null };
  // A dom0 kernel is shared by many guests: its verdict is looked up by the sha256 of these bytes.
  const bytes = readKernelFd(passed.fd, MAX_KERNEL_BYTES);
  if (typeof bytes === 'string') return { path, result: { file: path, error: bytes }, cached: false, config: null };
  return { path, ...(await judge(bytes, path, cache)), config: null };
}
