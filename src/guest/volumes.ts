/**
 * A guest's disks → its filesystems: each disk's partition table, each partition (or the whole
 * disk) probed for a filesystem reader, with the names Linux inside the guest would give it
 * (`/dev/xvda2` from the vdev, PARTUUID=, UUID=, LABEL=) so fstab and `root=` can be matched.
 * Each filesystem reader (ext2/3/4, XFS) is one row in FILESYSTEMS.
 */
import { partitionSource, readPartitionTable } from '../disk/partitions.ts';
import { type ByteSource, fdSource, openSource, servedSource } from '../disk/source.ts';
import type { Partition, PartitionTable } from '../disk/types.ts';
import { isExt4, openExt4 } from '../fs/ext4/ext4.ts';
import { isXfs, openXfs } from '../fs/xfs/xfs.ts';
import { isDataError } from '../fs/path.ts';
import type { Filesystem } from '../fs/types.ts';

/** Filesystem readers, tried in order: a cheap magic check, then the reader. */
const FILESYSTEMS: { type: string; probe: (s: ByteSource) => boolean; open: (s: ByteSource) => Filesystem }[] = [
  { type: 'ext2/3/4', probe: isExt4, open: openExt4 },
  { type: 'xfs', probe: isXfs, open: openXfs },
];

/** MBR extended-partition containers hold no filesystem. */
const CONTAINER_TYPES = new Set(['0x05', '0x0f', '0x85']);

/**
 * One disk as the xl config (or the command line) gives it. `vdev` is what the guest sees, e.g.
 * `xvda` or `xvda1`. `served` marks a disk on a remote host that the inspection child reads through
 * its parent (servedSource), with its size. `passed` is a local disk as the contained child gets
 * it: opened read-only by its parent (the descriptor number), or why the parent could not open it;
 * without either, the disk is opened by path.
 */
export type DiskSpec = { path: string; vdev: string | null; served?: { size: number }; passed?: { fd: number } | { error: string } };

export type Volume = {
  /** `disk.img[2]` or `disk.img` for a whole-disk filesystem. */
  name: string;
  /** Device names inside the guest: `/dev/xvda2`, and the emulated-name twin for `sd*`/`hd*` vdevs. */
  devices: string[];
  partition: Partition | null;
  fs: Filesystem | null;
  /** Why no filesystem could be read here (unknown type, corrupt superblock), without the volume's name. */
  problem: string | null;
};

export type DiskReport = { path: string; vdev: string | null; table: PartitionTable['scheme']; warnings: string[]; error: string | null };

/**
 * Opens every disk read-only and finds its filesystems. Never throws for guest data: problems are
 * in `error`, `warnings` and each volume's `problem`. Call `close()` when done.
 * @example
 * const g = openVolumes([{ path: 'guest.img', vdev: 'xvda' }]); g.volumes.map((v) => v.devices[0]) // => ['/dev/xvda1', '/dev/xvda2']
 */
export function openVolumes(disks: DiskSpec[]): { disks: DiskReport[]; volumes: Volume[]; close(): void } {
  const sources: ByteSource[] = [];
  const reports: DiskReport[] = [];
  const volumes: Volume[] = [];
  disks.forEach((d, i) => {
    const vdev = d.vdev ?? `xvd${String.fromCharCode(97 + Math.min(i, 25))}`;
    let src: ByteSource;
    try {
      if (d.passed !== undefined && 'error' in d.passed) throw new Error(d.passed.error);
      src = d.passed !== undefined ? fdSource(d.passed.fd, d.path) : d.served === undefined ? openSource(d.path) : servedSource(i, d.path, d.served.size);
    } catch (err) {
      reports.push({ path: d.path, vdev: d.vdev, table: 'none', warnings: [], error: oneLine(err) });
      return;
    }
    sources.push(src);
    // A vdev naming a partition (xvda1) is a whole-disk filesystem as far as the guest is concerned.
    const vdevIsPartition = /[0-9]$/.test(vdev);
    let table: PartitionTable;
    try {
      table = vdevIsPartition ? { scheme: 'none', partitions: [], warnings: [] } : readPartitionTable(src);
    } catch (err) {
      if (!isDataError(err)) throw err;
      table = { scheme: 'none', partitions: [], warnings: [oneLine(err)] };
    }
    reports.push({ path: d.path, vdev: d.vdev, table: table.scheme, warnings: table.warnings, error: null });
    const twins = (dev: string) => {
      // sda/hda vdevs appear as xvd* inside a PV or PVH guest; keep both spellings for matching.
      const m = /^(sd|hd)([a-z]+)([0-9]*)$/.exec(dev);
      return m ? [`/dev/${dev}`, `/dev/xvd${m[2]}${m[3]}`] : [`/dev/${dev}`];
    };
    // Without an xl config the vdev is not known: a whole-disk filesystem of a PV guest is
    // usually given as xvda1 (or xvda), so both names match its fstab.
    const wholeNames = d.vdev === null ? [...twins(vdev), ...twins(`${vdev}1`)] : twins(vdev);
    const targets: { part: Partition | null; source: ByteSource; devices: string[] }[] =
      table.partitions.length === 0
        ? [{ part: null, source: src, devices: wholeNames }]
        : table.partitions
            .filter((p) => !CONTAINER_TYPES.has(p.type))
            .map((p) => ({ part: p, source: partitionSource(src, p), devices: twins(`${vdev}${p.number}`) }));
    for (const t of targets) volumes.push(probe(t.source, t.part, t.devices));
  });
  return {
    disks: reports,
    volumes,
    close() {
      for (const s of sources) s.close();
    },
  };
}

function probe(source: ByteSource, partition: Partition | null, devices: string[]): Volume {
  const base = { name: source.name, devices, partition };
  for (const f of FILESYSTEMS) {
    try {
      if (!f.probe(source)) continue;
      return { ...base, fs: f.open(source), problem: null };
    } catch (err) {
      if (!isDataError(err)) throw err;
      return { ...base, fs: null, problem: withoutName(oneLine(err), source.name) };
    }
  }
  return { ...base, fs: null, problem: identify(source) };
}

/**
 * A reader's message without the volume's name in front: readers name their source (FsError's
 * rule), and every report of a volume's problem already starts with the volume's name.
 */
function withoutName(message: string, name: string): string {
  return message.startsWith(`${name}: `) ? message.slice(name.length + 2) : message;
}

/** Signatures of things found on guest disks that pvhctl does not read (yet), for a clear reason. */
const KNOWN: { what: string; at: number; magic: string }[] = [
  { what: 'an LVM physical volume, whose logical volumes pvhctl does not read yet', at: 512 + 24, magic: 'LVM2 001' },
  { what: 'a LUKS encrypted volume, which cannot be read from dom0', at: 0, magic: 'LUKS\xba\xbe' },
  { what: 'swap space', at: 4096 - 10, magic: 'SWAPSPACE2' },
  { what: 'a Btrfs filesystem, which pvhctl does not read yet', at: 65536 + 64, magic: '_BHRfS_M' },
  { what: 'a Linux software RAID member, which pvhctl does not read yet', at: 4096, magic: '\xfc\x4e\x2b\xa9' },
];

/**
 * Says what a volume with no readable filesystem holds, when its signature is a known one.
 * @example
 * identify(partitionSource(disk, lvmPartition)) // => 'an LVM physical volume, whose logical volumes pvhctl does not read yet'
 */
export function identify(source: ByteSource): string {
  for (const k of KNOWN) {
    const magic = Buffer.from(k.magic, 'latin1');
    if (source.size < k.at + magic.length) continue;
    try {
      if (Buffer.from(source.read(k.at, magic.length)).equals(magic)) return k.what;
    } catch (err) {
      if (!isDataError(err)) throw err;
    }
  }
  return 'no filesystem pvhctl can read (it reads ext2/3/4 and XFS)';
}

/**
 * The first line of an error's message, for one-line reports.
 * @example
 * oneLine(new Error('a\nb')) // => 'a'
 */
export function oneLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0] ?? m;
}

/**
 * The volume an fstab or `root=` spec names: UUID=, LABEL=, PARTUUID=, PARTLABEL=, /dev/disk/by-*, /dev/NAME.
 * @example
 * findVolume(volumes, 'UUID=5a3c0e8e-…') // => the volume whose filesystem has that UUID
 */
export function findVolume(volumes: Volume[], spec: string): Volume | null {
  const eq = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.*)$/i.exec(spec);
  const byDir = /^\/dev\/disk\/by-(uuid|label|partuuid|partlabel)\/(.*)$/.exec(spec);
  const key = (eq?.[1] ?? byDir?.[1] ?? '').toUpperCase();
  const value = (eq?.[2] ?? byDir?.[2] ?? '').replace(/^"(.*)"$/, '$1');
  const lower = value.toLowerCase();
  switch (key) {
    case 'UUID':
      return volumes.find((v) => v.fs?.uuid?.toLowerCase() === lower) ?? null;
    case 'LABEL':
      return volumes.find((v) => v.fs?.label === value) ?? null;
    case 'PARTUUID':
      return volumes.find((v) => v.partition?.partuuid.toLowerCase() === lower) ?? null;
    case 'PARTLABEL':
      return volumes.find((v) => v.partition?.name === value) ?? null;
  }
  return volumes.find((v) => v.devices.includes(spec)) ?? null;
}
