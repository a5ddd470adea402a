/**
 * The config of a rehearsal: a throwaway domain that boots a guest's own disks, through copy-on-write
 * snapshots, with the PVH config the real switch would write, while the guest keeps running. A pure
 * function of that PVH config: renamed, every disk pointed at its snapshot, no network interface and
 * no device another domain could share, destroyed on reboot, crash and poweroff.
 */
import { parseDiskSpec, type XlDisk } from './disk.ts';
import { modelOf } from './model.ts';
import { effectiveSettings } from './parser.ts';
import { printXlConfig, removeSetting, setSetting, type XlNewValue } from './printer.ts';
import type { XlConfig } from './types.ts';

/**
 * Keys that give a domain something beyond its disks and console: the network (a second domain
 * with the guest's MAC on the guest's bridge would take its traffic), framebuffers (a fixed VNC
 * display), a vTPM, shared 9p filesystems, channels, USB, passthrough, and the uuid (two domains
 * cannot share one). xl.cfg(5) "Devices" and "Other Options".
 */
export const REHEARSAL_DROPPED_KEYS = [
  'uuid', 'vif', 'vfb', 'vkb', 'vtpm', 'p9', 'pvcalls', 'channel', 'usbctrl', 'usbdev', 'pci', 'dtdev', 'iomem', 'ioports', 'irqs', 'rdm',
  'vdispl', 'vsnd', 'virtio', 'vuart', 'gfx_passthru',
];

/** What happens to the rehearsal domain when the guest stops, reboots or crashes: it goes away. */
export const REHEARSAL_ACTIONS = ['on_poweroff', 'on_reboot', 'on_crash', 'on_watchdog', 'on_soft_reset'];

export type RehearsalConfig = { ok: true; config: XlConfig; text: string; memoryMb: number; changes: string[] } | { ok: false; reason: string };

/**
 * Derives the rehearsal config from the PVH config the switch would write. `snapshots` maps each
 * disk target of the config to the snapshot that replaces it; a disk with no snapshot refuses.
 * @example
 * rehearsalConfig(parse('name = "web"\ntype = "pvh"\nmemory = 1024\ndisk = [ "phy:/dev/vg0/web,xvda,w" ]\nvif = [ "bridge=xenbr0" ]\n'),
 *   'pvhctl-rehearse-web', new Map([['/dev/vg0/web', '/dev/vg0/pvhctl-rehearse-web-xvda']]))
 * // => { ok: true, text: 'name = "pvhctl-rehearse-web"\ntype = "pvh"\nmemory = 1024\ndisk = [ "format=raw, vdev=xvda, access=rw, target=/dev/vg0/pvhctl-rehearse-web-xvda" ]\non_poweroff = "destroy"\n...', memoryMb: 1024, ... }
 */
export function rehearsalConfig(config: XlConfig, name: string, snapshots: ReadonlyMap<string, string>): RehearsalConfig {
  const m = modelOf(config);
  if (!m.type.ok || m.type.type !== 'pvh') return { ok: false, reason: `the config to rehearse is ${m.type.ok ? m.type.type.toUpperCase() : 'of no readable type'}, not PVH` };
  if (m.shapeErrors.length > 0) return { ok: false, reason: `the config has values xl would ignore: ${m.shapeErrors.join('; ')}` };
  if (m.memory === null || !m.memory.ok || m.memory.value <= 0) {
    return { ok: false, reason: `the config sets no usable memory (${m.memory === null ? 'none' : m.memory.ok ? m.memory.value : m.memory.error}), so the memory the rehearsal needs is not known` };
  }
  const disks: string[] = [];
  for (const d of m.disks) {
    if (!d.result.ok) return { ok: false, reason: `disk ${JSON.stringify(d.spec)}: ${d.result.error}` };
    const disk = d.result.disk;
    // An empty drive has nothing to copy, and a read-only cdrom image can be shared; everything
    // else boots from its copy only.
    if (disk.target === null || (disk.cdrom && disk.access === 'ro')) {
      disks.push(d.spec);
      continue;
    }
    const snap = snapshots.get(disk.target);
    if (snap === undefined) return { ok: false, reason: `disk ${disk.vdev} (${disk.target}) has no snapshot: the rehearsal would write to the guest's own disk` };
    disks.push(diskOnSnapshot(disk, snap));
  }
  if (!disks.some((spec) => parseDiskSpec(spec).ok)) return { ok: false, reason: 'the config has no disk to boot from' };

  let c = config;
  const changes: string[] = [];
  const edit = (r: { ok: true; config: XlConfig } | { ok: false; error: string }, why: string): string | null => {
    if (!r.ok) return r.error;
    c = r.config;
    changes.push(why);
    return null;
  };
  const settings = effectiveSettings(config);
  const steps: (() => string | null)[] = [
    () => edit(setSetting(c, 'name', name, {}), `name = "${name}": cannot be taken for a real guest`),
    ...REHEARSAL_DROPPED_KEYS.filter((k) => settings.has(k)).map((k) => () => edit(removeSetting(c, k), `${k} removed: the rehearsal must not share it with the running guest`)),
    () => edit(setSetting(c, 'disk', disks as XlNewValue, { after: ['memory', 'name'] }), 'every disk points at its snapshot'),
    ...REHEARSAL_ACTIONS.map((k) => () => edit(setSetting(c, k, 'destroy', { after: ['disk'] }), `${k} = "destroy": the rehearsal never restarts`)),
  ];
  for (const step of steps) {
    const err = step();
    if (err !== null) return { ok: false, reason: err };
  }
  // Read back as xl would: what boots is exactly the snapshots, under the new name, with no network.
  const after = modelOf(c);
  const targets = after.disks.flatMap((d) => (d.result.ok && d.result.disk.target !== null ? [d.result.disk.target] : []));
  const leaked = targets.filter((t) => ![...snapshots.values()].includes(t) && !m.disks.some((d) => d.result.ok && d.result.disk.cdrom && d.result.disk.target === t));
  if (after.name !== name || after.vifs.length > 0 || leaked.length > 0) return { ok: false, reason: `internal check: the rehearsal config does not read back as derived (${leaked.join(', ')})` };
  return { ok: true, config: c, text: printXlConfig(c), memoryMb: m.memory.value, changes };
}

/** A disk spec in xl's key=value form with the snapshot as its target (`target=` last: it takes the rest). */
function diskOnSnapshot(d: XlDisk, snapshot: string): string {
  const parts = [`format=${d.format}`, `vdev=${d.vdev}`, `access=${d.access}`];
  if (d.cdrom) parts.push('devtype=cdrom');
  if (d.backendtype !== null) parts.push(`backendtype=${d.backendtype}`);
  // backend= (a driver domain) and script= (a hotplug script for the origin) do not apply to a
  // snapshot in dom0; the flags pvhctl does not interpret are kept.
  parts.push(...d.other, `target=${snapshot}`);
  return parts.join(', ');
}
