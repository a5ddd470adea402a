/**
 * Runs each guest inspection in its own Node process with a heap cap (--max-old-space-size), a
 * wall-clock limit and an output limit, as pygrub's CVE history says a parser of guest disks in
 * dom0 must be contained. The child and anything it starts (decompressors) form one process
 * group, which is killed as a whole when a limit is hit.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { MAX_READ } from '../disk/source.ts';
import type { BlockReader } from '../drivers/driver.ts';
import type { GuestReport, InspectOptions } from './inspect.ts';
import type { DiskSpec } from './volumes.ts';

/**
 * `heapMiB` caps V8's heap; `addressSpaceMiB` (RLIMIT_AS, set with util-linux's prlimit) caps all
 * of the child's memory, Buffers included, and is inherited by the decompressors it starts. Node
 * itself reserves about 1.2 GiB of address space before running anything, hence the 2 GiB default.
 */
export type ChildLimits = { heapMiB: number; addressSpaceMiB: number; timeoutMs: number; maxOutputBytes: number };

export const DEFAULT_CHILD_LIMITS: ChildLimits = { heapMiB: 512, addressSpaceMiB: 2048, timeoutMs: 120_000, maxOutputBytes: 16 * 1024 * 1024 };

const PRLIMIT = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p)) ?? null;

/** An inspection that could not finish: the guest and a one-line cause. */
export type GuestFailure = { guest: string; error: string };

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** A child process started ahead of its guest (see startChild): it waits for its job on stdin. */
export type StartedChild = {
  /**
   * Gives the child its guest and resolves with the report or a one-line failure. `served[i]`
   * reads disk i for the child when that disk is `served` (on a remote host).
   */
  run(disks: DiskSpec[], options: InspectOptions, timeoutMs?: number, served?: (BlockReader | undefined)[]): Promise<GuestReport | GuestFailure>;
  /** Ends a child that was never given a guest. */
  discard(): void;
};

/**
 * Starts a contained child that will inspect one guest. Starting it before its guest is known
 * lets Node's start-up overlap the previous guest's work when many guests are inspected.
 * @example
 * const c = startChild(); await c.run([{ path: 'guest.img', vdev: 'xvda' }], { dataDir: null }) // => { verdict: ... }
 */
export function startChild(limits: Partial<ChildLimits> = {}): StartedChild {
  const lim = { ...DEFAULT_CHILD_LIMITS, ...limits };
  const node = [process.execPath, `--max-old-space-size=${lim.heapMiB}`, '--disable-warning=ExperimentalWarning', WORKER];
  const argv = PRLIMIT === null ? node : [PRLIMIT, `--as=${lim.addressSpaceMiB * 1024 * 1024}`, '--', ...node];
  const child = spawn(argv[0]!, argv.slice(1), {
    // fds 3 and 4: read requests for served disks, and their answers (servedSource).
    stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    detached: true,
    // The compile cache on from the first module (the worker included) halves a child's start-up.
    env: { ...process.env, NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? join(tmpdir(), 'pvhctl-compile-cache') },
  });
  const out: Buffer[] = [];
  let outBytes = 0;
  let err = '';
  let failure: string | null = null;
  const kill = (why: string) => {
    failure ??= why;
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  child.stdout.on('data', (c: Buffer) => {
    outBytes += c.length;
    if (outBytes > lim.maxOutputBytes) kill(`inspection wrote more than ${lim.maxOutputBytes} bytes`);
    else out.push(c);
  });
  child.stderr.on('data', (c: Buffer) => {
    if (err.length < 4096) err += c.toString('utf8');
  });
  child.on('error', (e) => kill(`cannot start the inspection process: ${e.message}`));
  child.stdin.on('error', () => undefined);
  return {
    discard() {
      kill('not used');
      child.stdin.destroy();
    },
    async run(disks, options, timeoutMs = lim.timeoutMs, served = []) {
      const guest = options.name ?? disks[0]?.path ?? '?';
      serveReads(child.stdio[3] as Readable, child.stdio[4] as Writable, served, (why) => kill(`the inspection ${why}`));
      // The time limit counts from when the child has its guest, not from its start.
      const timer = setTimeout(() => kill(`inspection timed out after ${Math.round(timeoutMs / 1000)} s`), timeoutMs);
      child.stdin.end(JSON.stringify({ disks, options }));
      const { code, signal } = await closed;
      clearTimeout(timer);
      if (failure !== null) return { guest, error: failure };
      if (code !== 0) {
        const why = /out of memory|Allocation failed|Cannot allocate memory|Array buffer allocation failed/i.test(err)
          ? `ran out of its memory limit (${lim.heapMiB} MiB heap, ${lim.addressSpaceMiB} MiB in all)`
          : signal !== null
            ? `killed by ${signal}`
            : err.trim().split('\n').pop() || `exit status ${code}`;
        return { guest, error: `inspection failed: ${why}` };
      }
      try {
        return JSON.parse(Buffer.concat(out).toString('utf8')) as GuestReport;
      } catch {
        return { guest, error: 'inspection produced unreadable output' };
      }
    },
  };
}

/** Requests a child may have outstanding: it reads synchronously, so one at a time. */
const MAX_OUTSTANDING = 4;

/**
 * Answers a child's read requests for served disks, one at a time, in order. Only the disks given
 * to this child, only within their size (the reader checks) and MAX_READ per request: the child
 * parses guest data, so its requests are hostile input too. A child that floods requests or sends
 * garbage is reported through `abuse` (child.ts then kills it).
 * @example
 * serveReads(child.stdio[3], child.stdio[4], [reader], (why) => kill(why))
 */
export function serveReads(requests: Readable, answers: Writable, served: (BlockReader | undefined)[], abuse: (why: string) => void): void {
  answers.on('error', () => undefined);
  requests.on('error', () => undefined);
  let pending = '';
  let outstanding = 0;
  let chain = Promise.resolve();
  const answer = (status: 'D' | 'E', body: Uint8Array) => {
    const head = Buffer.alloc(5);
    head[0] = status.charCodeAt(0);
    head.writeUInt32LE(body.length, 1);
    answers.write(head);
    answers.write(body);
  };
  const stop = (why: string) => {
    requests.destroy();
    abuse(why);
  };
  requests.setEncoding('latin1');
  requests.on('data', (text: string) => {
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    if (pending.length > 64) return stop('sent a malformed disk read request');
    for (const l of lines) {
      const m = /^(\d{1,3}) (\d{1,16}) (\d{1,10})$/.exec(l);
      if (m === null) return stop('sent a malformed disk read request');
      if (Number(m[3]) > MAX_READ) return stop(`asked to read more than ${MAX_READ} bytes at once`);
      if (++outstanding > MAX_OUTSTANDING) return stop('sent disk read requests without waiting for the answers');
      chain = chain.then(async () => {
        const reader = served[Number(m[1])];
        try {
          if (reader === undefined) answer('E', Buffer.from('no such served disk'));
          else answer('D', await reader.read(Number(m[2]), Number(m[3])));
        } catch (err) {
          answer('E', Buffer.from((err instanceof Error ? err.message : String(err)).slice(0, 1000)));
        } finally {
          outstanding--;
        }
      });
    }
  });
}

let early: StartedChild | null = null;

/**
 * Starts the first child with the default limits before the command line is even parsed (called
 * by bin/pvhctl.js for `inspect`), so that its start-up overlaps the command's own. Whoever
 * runs the command must take it (takeEarlyChild) and discard it if unused.
 * @example
 * startEarlyChild(); ...; const c = takeEarlyChild() ?? startChild();
 */
export function startEarlyChild(): void {
  early ??= startChild();
}

/**
 * The child started by startEarlyChild, once; null if none was started or it was taken.
 * @example
 * takeEarlyChild() // => StartedChild | null
 */
export function takeEarlyChild(): StartedChild | null {
  const c = early;
  early = null;
  return c;
}

/**
 * Inspects one guest in a contained child process. Never throws: failures come back as GuestFailure.
 * @example
 * await inspectInChild([{ path: 'guest.img', vdev: 'xvda' }], { dataDir: dataDir(), name: 'web1' })
 * // => { guest: 'web1', verdict: { verdict: 'ready', ... }, ... }  or  { guest: 'web1', error: 'inspection timed out after 120 s' }
 */
export function inspectInChild(
  disks: DiskSpec[],
  options: InspectOptions,
  limits: Partial<ChildLimits> = {},
  served: (BlockReader | undefined)[] = [],
): Promise<GuestReport | GuestFailure> {
  return startChild(limits).run(disks, options, undefined, served);
}
