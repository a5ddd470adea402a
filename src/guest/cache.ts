/**
 * The kernel verdict cache: a fleet runs few distinct kernels, so each kernel's result is kept
 * under its content hash (sha256) in the data directory and reused for every guest carrying the
 * same bytes. Entries are written atomically (temporary file, then rename); only successful reads
 * are cached, since a failure may come from a limit rather than from the kernel itself.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { KernelReport } from '../kernel/types.ts';

/**
 * $PVHCTL_DATA, else ~/.local/share/pvhctl.
 * @example
 * dataDir() // => '/root/.local/share/pvhctl'
 */
export function dataDir(): string {
  return process.env.PVHCTL_DATA ?? join(homedir(), '.local', 'share', 'pvhctl');
}

/**
 * The cache as inspection uses it. In the contained child it is the parent's (childCache in
 * child-io.ts): the child never opens the data directory, and what it learns is only a proposal
 * the parent checks before storing.
 */
export type VerdictCache = {
  kernel(sha256: string): KernelReport | null;
  storeKernel(report: KernelReport): void;
  /** The sha256 known for an unchanged kernel file on `disk` (see knownSha). */
  knownSha(disk: string, fingerprint: string): string | null;
  rememberSha(disk: string, fingerprint: string, sha256: string): void;
};

/**
 * The verdict cache in a data directory.
 * @example
 * fileCache(dataDir()).kernel('e3b0c442…') // => KernelReport | null
 */
export function fileCache(dir: string): VerdictCache {
  return {
    kernel: (sha) => cachedKernel(dir, sha),
    storeKernel: (r) => storeKernel(dir, r),
    knownSha: (disk, fp) => knownSha(dir, disk, fp),
    rememberSha: (disk, fp, sha) => rememberSha(dir, disk, fp, sha),
  };
}

/** Bumped when the kernel verdict logic changes, so old entries are not reused. */
const VERSION = 1;

function entryPath(dir: string, sha256: string): string {
  return join(dir, 'kernel-verdicts', `v${VERSION}-${sha256}.json`);
}

/**
 * A cached kernel report for these bytes, or null.
 * @example
 * cachedKernel(dataDir(), 'e3b0c442…') // => { format: 'bzImage', pvh: { capable: true, ... }, ... } | null
 */
export function cachedKernel(dir: string, sha256: string): KernelReport | null {
  if (!/^[0-9a-f]{64}$/.test(sha256)) return null;
  try {
    const r = JSON.parse(readFileSync(entryPath(dir, sha256), 'utf8')) as KernelReport;
    return r.sha256 === sha256 && r.error === null ? r : null;
  } catch {
    return null;
  }
}

/**
 * Stores a kernel report under its sha256 (best effort: a read-only data dir only loses speed).
 * @example
 * storeKernel(dataDir(), report) // writes kernel-verdicts/v1-<sha256>.json
 */
export function storeKernel(dir: string, report: KernelReport): void {
  if (!/^[0-9a-f]{64}$/.test(report.sha256)) return;
  try {
    const path = entryPath(dir, report.sha256);
    mkdirSync(join(dir, 'kernel-verdicts'), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(report));
    renameSync(tmp, path);
  } catch {
    // The cache is an optimisation; inspection goes on without it.
  }
}

/**
 * The sha256 last seen for a kernel file identified by where it is (the dom0 disk and partition)
 * and its filesystem fingerprint (inode, generation, size, change times), so that a rescan does
 * not read and hash an unchanged kernel again. Keyed by the dom0 disk name too: a guest controls
 * its own filesystem's fingerprints, never the path of another guest's disk.
 * @example
 * knownSha(dataDir(), '/dev/vg0/web1[2]', 'uuid:12:0:8245760:1700000000:…') // => 'e3b0…' | null
 */
export function knownSha(dir: string, disk: string, fingerprint: string): string | null {
  try {
    const sha = readFileSync(shaPath(dir, disk, fingerprint), 'utf8').trim();
    return /^[0-9a-f]{64}$/.test(sha) ? sha : null;
  } catch {
    return null;
  }
}

/**
 * Remembers the sha256 of a kernel file for knownSha (best effort).
 * @example
 * rememberSha(dataDir(), '/dev/vg0/web1[2]', fingerprint, report.sha256)
 */
export function rememberSha(dir: string, disk: string, fingerprint: string, sha256: string): void {
  try {
    mkdirSync(join(dir, 'kernel-files'), { recursive: true });
    const path = shaPath(dir, disk, fingerprint);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, sha256);
    renameSync(tmp, path);
  } catch {
    // an optimisation only
  }
}

function shaPath(dir: string, disk: string, fingerprint: string): string {
  return join(dir, 'kernel-files', createHash('sha256').update(`${VERSION}\0${disk}\0${fingerprint}`).digest('hex'));
}
