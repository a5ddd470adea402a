/**
 * `pvhctl inspect DISK... [--json]`: reads each guest disk offline, as its bootloader would, and
 * says what happens to the guest under PVH. Each guest is inspected in its own contained child
 * process; many at once, with a progress bar on a terminal.
 * Exit 0 when every guest was inspected (whatever the verdicts), 1 when some could not be, 2 usage.
 */
import { availableParallelism } from 'node:os';
import type { GuestFailure } from '../guest/child.ts';
import { inspectInChild } from '../guest/child.ts';
import { dataDir } from '../guest/cache.ts';
import type { GuestReport, InspectOptions } from '../guest/inspect.ts';
import type { DiskSpec } from '../guest/volumes.ts';
import { printable } from '../util/escape.ts';
import { parse, UsageError } from './args.ts';

export const help = `usage: pvhctl inspect [--json] [--jobs N] [--timeout S] [--no-cache] [DISK...] [--config CFG]...

Reads each guest disk (a raw image or a block device such as an LVM volume) read-only, never
mounting it, or the disks an xl config gives a guest (--config, repeatable; its vdevs, PCI
passthrough and a directly booted kernel are taken into account): partitions (MBR, GPT), ext2/3/4
and XFS, the boot menu (GRUB 2 with grubenv, BLS, GRUB legacy, extlinux), the kernel each entry
boots, and gives one verdict per guest:

  ready               the default kernel boots as PVH
  ready-after-reboot  an installed kernel does, once it is made the default
  needs-kernel        no installed kernel does; what to install
  shim                keep the PV kernel running inside the PV shim
  blocked             something prevents the switch (PCI passthrough, unreadable /boot, ...)
  unknown             it could not be decided, and why

  --json       one JSON object per guest, one per line (guest strings escaped)
  --jobs N     inspect N guests at once (default: one per core)
  --timeout S  give up on one guest after S seconds (default 120)
  --all-kernels  read every kernel, not only the default one when it already boots PVH
  --no-cache   do not use the kernel verdict cache ($PVHCTL_DATA/kernel-verdicts)

exit status: 0 every guest was inspected; 1 some could not be; 2 usage error
`;

const isFailure = (r: GuestReport | GuestFailure): r is GuestFailure => 'error' in r && typeof (r as GuestFailure).error === 'string';

/**
 * JSON with every string escaped (guest text may hold terminal controls or bidi characters).
 * @example
 * toJsonLine({ guest: 'web1', error: 'timed out' }) // => '{"guest":"web1","error":"timed out"}\n'
 */
export function toJsonLine(r: GuestReport | GuestFailure): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'string' ? printable(v) : v)) + '\n';
}

/**
 * The human-readable report of one guest; every guest-derived string is escaped.
 * @example
 * formatGuest(report) // => '/srv/web1.img\n  verdict   ready\n  ...'
 */
export function formatGuest(r: GuestReport): string {
  const p = printable;
  const v = r.verdict;
  const lines = [`${p(r.guest)}`, `  verdict   ${v.verdict}`];
  for (const reason of v.reasons) lines.push(`            - ${p(reason)}`);
  if (r.hostBoot !== null) lines.push(`  xl boot   ${p(r.hostBoot)}`);
  lines.push(`  os        ${r.os ? `${p(r.os.prettyName ?? r.os.id ?? '?')} (${p(r.os.source)})` : 'unknown'}`);
  const arches = [...new Set(r.kernels.flatMap((k) => (k.result.error === null && k.result.arch ? [k.result.arch] : [])))];
  lines.push(`  arch      kernel ${arches.join(', ') || 'unknown'}; userland ${r.userlandArch ?? 'unknown'}`);
  for (const d of r.disks) lines.push(`  disk      ${p(d.path)}: ${d.error !== null ? p(d.error) : d.table === 'none' ? 'no partition table' : d.table.toUpperCase()}`);
  for (const vol of r.volumes) {
    const role = vol.name === r.root ? ' (root)' : r.mounts.find((m) => m.volume === vol.name) ? ` (${r.mounts.find((m) => m.volume === vol.name)!.mountpoint})` : '';
    lines.push(`    ${p(vol.name)}${role}: ${vol.fs !== null ? `${vol.fs} UUID=${p(vol.uuid ?? '?')}` : p(vol.problem ?? '?')} as ${p(vol.devices[0] ?? '?')}`);
  }
  if (r.boot) {
    lines.push(`  boot      ${r.boot.loader} ${p(r.boot.file)}`);
    lines.push(`  default   ${r.boot.default.decided ? '' : 'cannot decide: '}${p(r.boot.default.reason)}`);
    r.boot.entries.forEach((e, i) => {
      const mark = r.boot!.default.decided && r.boot!.default.index === i ? '*' : ' ';
      const k = r.kernels.find((x) => x.path === e.kernelPath);
      const pvh = k !== undefined ? (k.result.error !== null ? 'unreadable' : k.result.pvh.capable ? 'PVH yes' : 'PVH no') : notJudged(r, e);
      lines.push(`    ${mark}${String(i).padStart(2)} ${p([...e.submenu, e.title].join(' > '))}${e.conditional ? ' (conditional)' : ''}`);
      lines.push(`          ${p(e.kernelPath ?? e.kernel ?? '-')}  ${pvh}${e.args ? `  ${p(e.args)}` : ''}`);
    });
  } else lines.push('  boot      no boot menu found');
  if (r.kernels.length > 0) lines.push('  kernels');
  if (r.kernelsNotRead.length > 0) lines.push(`  not read  ${r.kernelsNotRead.map(p).join(', ')} (the default kernel boots PVH; --all-kernels reads them)`);
  for (const k of r.kernels) {
    const res = k.result;
    if (res.error !== null) {
      lines.push(`    ${p(k.path)}: ${p(res.error)}`);
      continue;
    }
    const cfg = k.config ? `; ${p(k.config.file)} ${k.config.agrees ? 'agrees' : 'DISAGREES'} (CONFIG_XEN_PVH=${k.config.xenPvh ? 'y' : 'n'}, CONFIG_XEN_PV=${k.config.xenPv ? 'y' : 'n'})` : '';
    lines.push(`    ${p(k.path)}  ${res.arch ?? '?'} ${res.compression}  PVH ${res.pvh.capable ? 'yes' : 'no'}  PV ${res.pv.capable ? `yes (${res.pv.abi})` : 'no'}${k.cached ? '  [cached]' : ''}${cfg}`);
  }
  if (r.console) lines.push(`  console   ${p(r.console.note)}`);
  const naming = [r.rootDevice.fstab ? `fstab ${p(r.rootDevice.fstab.note)}` : null, r.rootDevice.cmdline ? `root= ${p(r.rootDevice.cmdline.note)}` : null].filter(Boolean);
  if (naming.length > 0) lines.push(`  root dev  ${naming.join('; ')}`);
  for (const w of r.warnings) lines.push(`  warning   ${p(w)}`);
  return lines.join('\n') + '\n';
}

/** Why a menu entry's kernel has no verdict: not a Linux entry, not found, not needed, or unreadable. */
function notJudged(r: GuestReport, e: NonNullable<GuestReport['boot']>['entries'][number]): string {
  if (e.type !== 'linux') return e.type;
  if (e.kernelPath === null) return 'kernel missing';
  // The default kernel boots PVH, so the others were not read (--all-kernels reads them).
  if (r.kernelsNotRead.includes(e.kernelPath)) return 'not read (not needed)';
  return 'kernel unreadable';
}

/** A one-line progress bar for a terminal: `[#####.....] 5/10 NAME`. */
function progress(done: number, total: number, name: string): string {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const label = printable(name).slice(-40);
  return `\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
}

/**
 * Runs `pvhctl inspect` and returns its exit code.
 * @example
 * await run(['--json', '/srv/web1.img']) // => 0
 */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' },
    jobs: { type: 'string' },
    timeout: { type: 'string' },
    'no-cache': { type: 'boolean' },
    config: { type: 'string', multiple: true },
    'all-kernels': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  const configs = values.config ?? [];
  if (positionals.length === 0 && configs.length === 0) throw new UsageError('no guest disk or --config given\n' + help);
  const jobs = values.jobs === undefined ? availableParallelism() : Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 256) throw new UsageError(`--jobs takes a whole number from 1 to 256, not '${values.jobs}'`);
  const timeout = values.timeout === undefined ? 120 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 86400) throw new UsageError(`--timeout takes seconds, not '${values.timeout}'`);

  type Guest = { name: string; disks: DiskSpec[]; options?: Partial<InspectOptions>; error?: string };
  const guests: Guest[] = positionals.map((d) => ({ name: d, disks: [{ path: d, vdev: null }] }));
  // xl's config parser is loaded only when a config is given (start-up matters for one guest).
  const { xlGuest } = configs.length > 0 ? await import('../guest/xl.ts') : { xlGuest: null };
  for (const c of configs) {
    const g = xlGuest!(c);
    if (typeof g === 'string') guests.push({ name: c, disks: [], error: g });
    else guests.push({ name: g.name, disks: g.disks, options: { pci: g.pci, directKernel: g.directKernel, directCmdline: g.directCmdline, hostBoot: g.boot, notes: g.notes } });
  }
  const data = values['no-cache'] ? null : dataDir();
  const tty = process.stderr.isTTY === true && guests.length > 1;
  const results: (GuestReport | GuestFailure)[] = new Array(guests.length);
  let next = 0;
  let finished = 0;
  let printed = 0;
  let failed = 0;
  let first = true;
  const flush = () => {
    // Print in input order as soon as a result and all before it are in.
    while (printed < guests.length && results[printed] !== undefined) {
      const r = results[printed]!;
      if (tty) process.stderr.write('\r\x1b[K');
      if (isFailure(r)) {
        failed++;
        process.stderr.write(`pvhctl inspect: ${printable(r.guest)}: ${printable(r.error)}\n`);
        if (values.json) process.stdout.write(toJsonLine(r));
      } else if (values.json) process.stdout.write(toJsonLine(r));
      else {
        process.stdout.write((first ? '' : '\n') + formatGuest(r));
        first = false;
      }
      printed++;
    }
  };
  const timeoutMs = timeout * 1000;
  const slots = Math.min(jobs, guests.length);
  // Cores no other guest will use read a guest's other kernels while its default one is read.
  const speculate = Math.min(3, Math.max(0, Math.floor(availableParallelism() / slots) - 1));
  const worker = async () => {
    while (next < guests.length) {
      const i = next++;
      const g = guests[i]!;
      const options: InspectOptions = { ...g.options, name: g.name, dataDir: data, allKernels: values['all-kernels'] === true, speculate };
      // One contained child per guest, started once its disks are opened (they are passed to it).
      const r: GuestReport | GuestFailure = g.error !== undefined ? { guest: g.name, error: g.error } : await inspectInChild(g.disks, options, { timeoutMs });
      // A guest none of whose disks could be opened is an input that failed.
      results[i] = !isFailure(r) && r.disks.length > 0 && r.disks.every((d) => d.error !== null) ? { guest: g.name, error: r.disks.map((d) => d.error).join('; ') } : r;
      finished++;
      flush();
      if (tty && finished < guests.length) process.stderr.write(progress(finished, guests.length, g.name));
    }
  };
  if (tty) process.stderr.write(progress(0, guests.length, ''));
  await Promise.all(Array.from({ length: slots }, worker));
  if (tty) process.stderr.write('\r\x1b[K');
  return failed > 0 ? 1 : 0;
}
