/**
 * The kernel verdict cache: a fleet runs few distinct kernels, so each kernel's result is kept
 * under its content hash (sha256) in the data directory and reused for every guest carrying the
 * same bytes. Entries are written atomically (temporary file, then rename); only successful reads
 * are cached, since a failure may come from a limit rather than from the kernel itself.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { KernelReport } from '../kernel/types.ts';

/** $PVHCTL_DATA, else ~/.local/share/pvhctl. */
export function dataDir(): string {
  return process.env.PVHCTL_DATA ?? join(homedir(), '.local', 'share', 'pvhctl');
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

/** Stores a kernel report under its sha256 (best effort: a read-only data dir only loses speed). */
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
