/**
 * The contained child that inspects one guest (started by child.ts, its code given as one script
 * by bundle.ts): checks that its containment is in force, reads `{ disks, options, contain, cache }`
 * as JSON on JOB_FD, inspects the disks its parent opened for it, and writes `{ report, learned }`
 * as JSON on stdout. It opens no path of its own: disks come as descriptors, cache lookups go to
 * the parent, and what it learns for the cache is only proposed (the parent decides).
 */
import { readFileSync, writeSync } from 'node:fs';
import { askParent } from '../disk/source.ts';
import type { KernelReport } from '../kernel/types.ts';
import type { VerdictCache } from './cache.ts';
import { type Containment, containmentProblems, JOB_FD } from './containment.ts';
import { type InspectOptions, inspectGuest } from './inspect.ts';
import type { DiskSpec } from './volumes.ts';

/** What a child sends its parent: `cache` says whether the verdict cache is in use. */
export type ChildJob = { disks: DiskSpec[]; options: InspectOptions; contain: Containment; cache: boolean };

/** Cache entries the child proposes (child.ts checks them before storing). */
export type Learned = { kernels: KernelReport[]; files: { disk: string; fingerprint: string; sha256: string }[] };

/** The longest cache answer taken from the parent (a kernel report is a few KiB). */
const MAX_CACHE_ANSWER = 1024 * 1024;

/** The parent's verdict cache, asked over the request descriptors; stores are collected in `learned`. */
function parentCache(learned: Learned): VerdictCache {
  return {
    kernel(sha256) {
      const a = askParent(`K ${sha256}`, { max: MAX_CACHE_ANSWER }, 'the verdict cache');
      if (a.status === 'E') return null;
      const r = JSON.parse(Buffer.from(a.body).toString('utf8')) as KernelReport;
      return r.sha256 === sha256 && r.error === null ? r : null;
    },
    storeKernel: (r) => void learned.kernels.push(r),
    knownSha(disk, fingerprint) {
      const a = askParent(`F ${JSON.stringify([disk, fingerprint])}`, { max: 64 }, 'the verdict cache');
      const sha = a.status === 'D' ? Buffer.from(a.body).toString('latin1') : '';
      return /^[0-9a-f]{64}$/.test(sha) ? sha : null;
    },
    rememberSha: (disk, fingerprint, sha256) => void learned.files.push({ disk, fingerprint, sha256 }),
  };
}

/** Writes all of `text` to a descriptor that may be non-blocking. */
function writeAll(fd: number, text: string): void {
  const b = Buffer.from(text, 'utf8');
  for (let off = 0; off < b.length; ) {
    try {
      off += writeSync(fd, b, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(JOB_FD, 'utf8')) as ChildJob;
  const problems = containmentProblems(readFileSync('/proc/self/status', 'utf8'), readFileSync('/proc/self/limits', 'utf8'), job.contain);
  if (problems.length > 0) {
    writeAll(2, `containment not in force: ${problems.join('; ')}\n`);
    process.exit(3);
  }
  const learned: Learned = { kernels: [], files: [] };
  const report = await inspectGuest(job.disks, job.options, job.cache ? parentCache(learned) : null);
  writeAll(1, JSON.stringify({ report, learned }));
}

main().catch((err: unknown) => {
  writeAll(2, `${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
  process.exit(1);
});
