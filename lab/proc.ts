/**
 * Process helpers for the lab's shell side: liveness by pid, and an exclusive lock file so that
 * two test processes starting the lab at once build it once.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

/**
 * Whether a process exists (signal 0; EPERM means it exists but is not ours).
 * @example
 * alive(process.pid) // => true
 */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding the lock file `path` (created exclusively, holding our pid). A lock whose
 * holder is gone is taken over; waiting ends with an error after `timeoutMs`.
 * @example
 * await withLock('/cache/lab/build.lock', () => build()) // => build()'s result
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = NaN;
      try {
        holder = Number.parseInt(readFileSync(path, 'utf8').slice(0, 16), 10);
      } catch {
        continue; // released between our open and read
      }
      if (!alive(holder)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() - t0 > timeoutMs) throw new Error(`${path}: still held by pid ${holder} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}
