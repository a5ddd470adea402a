/**
 * Test support: a script run in an inspection child's containment (child.ts spawnContained, as
 * the inspection worker is) that reports what it finds from inside, as JSON on stdout. Its job
 * (on JOB_FD) says what to look at: `facts` (its credentials, limits, environment, and what it can
 * do with the descriptor passed to it and with the path behind it), or `decompress` (it starts
 * the real decompressor on the passed payload, reads one chunk, reports both pids and waits), or
 * `spin` (it burns processor time until a limit stops it).
 */
import { readFileSync, openSync, readdirSync, writeSync } from 'node:fs';
import { decompress } from '../../kernel/decompress.ts';
import { FIRST_PASSED_FD, JOB_FD } from '../containment.ts';

type ProbeJob = { mode: 'facts'; path: string } | { mode: 'decompress' } | { mode: 'spin' };

const errno = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
};

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(JOB_FD, 'utf8')) as ProbeJob;
  if (job.mode === 'facts') {
    const facts = {
      status: readFileSync('/proc/self/status', 'utf8'),
      limits: readFileSync('/proc/self/limits', 'utf8'),
      env: process.env,
      fdinfo: readFileSync(`/proc/self/fdinfo/${FIRST_PASSED_FD}`, 'utf8'),
      writeFd: errno(() => writeSync(FIRST_PASSED_FD, 'x')),
      readFd: errno(() => readFileSync(FIRST_PASSED_FD)),
      openRead: errno(() => openSync(job.path, 'r')),
      openWrite: errno(() => openSync(job.path, 'r+')),
      reopenWrite: errno(() => openSync(`/proc/self/fd/${FIRST_PASSED_FD}`, 'r+')),
    };
    writeSync(1, JSON.stringify(facts));
    return;
  }
  if (job.mode === 'spin') for (;;);
  const it = decompress(readFileSync(FIRST_PASSED_FD), 'xz', { timeoutMs: 600_000 })[Symbol.asyncIterator]();
  await it.next();
  // The decompressor now blocks on its full pipe, alive, until someone kills it.
  const children = readdirSync('/proc/self/task').flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/).filter((x) => x !== ''));
  writeSync(1, `${JSON.stringify({ child: process.pid, decompressors: children.map(Number) })}\n`);
  await new Promise(() => undefined);
}

main().catch((err: unknown) => {
  writeSync(2, `${String(err)}\n`);
  process.exit(1);
});
