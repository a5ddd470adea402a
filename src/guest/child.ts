/**
 * Runs each guest inspection in its own contained Node process, as pygrub's CVE history says a
 * parser of guest disks in dom0 must be. One child per guest, never shared between guests (they
 * belong to different customers). Each child:
 * - runs as another user with no groups and no capabilities, under no-new-privs, and is killed
 *   when pvhctl dies (setpriv; see containment.ts, which also covers a pvhctl that is not root);
 * - has hard address-space and CPU limits (prlimit), a V8 heap cap, a wall-clock limit and an
 *   output limit; it checks its limits and credentials itself before reading anything, and
 *   without util-linux's prlimit and setpriv no guest is inspected at all;
 * - gets a clean environment, its code as one script with V8's code cache for it, made by pvhctl
 *   and never by a child, as a read-only file on its stdin (bundle.ts), and its disks opened
 *   read-only by this process as descriptors: it opens no path itself, and asks this process for
 *   cache lookups (serveRequests).
 * The child and anything it starts (decompressors, which inherit all of the above) form one
 * process group, which is killed as a whole when a limit is hit.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { MAX_READ } from '../disk/source.ts';
import type { BlockReader } from '../drivers/driver.ts';
import { CHILD_LOADER, childCode } from './bundle.ts';
import { dataDir, fileCache, type VerdictCache } from './cache.ts';
import { childUser, type ChildUser, containedArgv, type Containment, FIRST_PASSED_FD, JOB_FD } from './containment.ts';
import type { GuestReport, InspectOptions } from './inspect.ts';
import type { DiskSpec } from './volumes.ts';
import type { ChildJob, Learned } from './worker.ts';

/**
 * `heapMiB` caps V8's heap; `addressSpaceMiB` (RLIMIT_AS) caps all of the child's memory, Buffers
 * included, and `cpuSeconds` (RLIMIT_CPU) its processor time; both are hard limits, inherited by
 * the decompressors it starts (each counts its own CPU time). Node itself reserves about 1.2 GiB
 * of address space before running anything, hence the 2 GiB default.
 */
export type ChildLimits = { heapMiB: number; addressSpaceMiB: number; cpuSeconds: number; timeoutMs: number; maxOutputBytes: number };

export const DEFAULT_CHILD_LIMITS: ChildLimits = { heapMiB: 512, addressSpaceMiB: 2048, cpuSeconds: 120, timeoutMs: 120_000, maxOutputBytes: 16 * 1024 * 1024 };

/** An inspection that could not finish: the guest and a one-line cause. */
export type GuestFailure = { guest: string; error: string };

/** The environment a child gets: nothing of pvhctl's (no SSH agent, no NODE_OPTIONS), a PATH for the decompressors. */
const CHILD_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

const which = (name: string) => [`/usr/bin/${name}`, `/bin/${name}`].find((p) => existsSync(p)) ?? null;

let tools: { prlimit: string; setpriv: string } | string | undefined;
/** util-linux's prlimit and setpriv, or why an inspection cannot be contained. */
function containmentTools(): { prlimit: string; setpriv: string } | string {
  if (tools !== undefined) return tools;
  const prlimit = which('prlimit');
  const setpriv = which('setpriv');
  tools = prlimit !== null && setpriv !== null ? { prlimit, setpriv } : 'cannot contain the inspection: util-linux prlimit and setpriv are needed (Debian: util-linux); nothing was inspected';
  return tools;
}

let user: ChildUser | string | undefined;
/** Who children run as (containment.ts childUser), from $PVHCTL_INSPECT_USER and the system's user database. */
function inspectUser(): ChildUser | string {
  if (user !== undefined) return user;
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  const euid = process.geteuid?.() ?? 0;
  user = euid === 0 ? childUser(process.env.PVHCTL_INSPECT_USER, read('/etc/passwd'), read('/etc/group'), 0) : childUser(undefined, '', '', euid);
  return user;
}

/** A disk name the child may use for cache entries: one of its disks, or a partition of one (`disk[2]`). */
function ownsDisk(disks: DiskSpec[], name: string): boolean {
  return disks.some((d) => name === d.path || (name.startsWith(`${d.path}[`) && /^\[\d{1,3}\]$/.test(name.slice(d.path.length))));
}

/** Stores what a child proposes for the cache: successful kernel reports, and sha256s of files on its own disks. */
function storeLearned(cache: VerdictCache, disks: DiskSpec[], learned: Learned | undefined): void {
  for (const r of learned?.kernels ?? []) if (r.error === null && /^[0-9a-f]{64}$/.test(r.sha256)) cache.storeKernel(r);
  for (const f of learned?.files ?? []) {
    if (typeof f.fingerprint === 'string' && /^[0-9a-f]{64}$/.test(f.sha256) && ownsDisk(disks, f.disk)) cache.rememberSha(f.disk, f.fingerprint, f.sha256);
  }
}

/**
 * V8's compilers above the interpreter, off in a child. A child lives about a tenth of a second
 * and runs each function a few times: the baseline (Sparkplug) and optimizing (Maglev, TurboFan)
 * compilers, the last two on background threads, spent CPU on code that was then thrown away with
 * the process (about 30 ms of CPU a guest with every kernel verdict cached: `npm run
 * bench:inspect`, docs/benchmarks.md). Regular expressions still compile to machine code, and the
 * heavy work (decompression, hashing) is native either way; the CPU and time limits bound a
 * hostile disk as before.
 */
const CHILD_TIERS_OFF = ['--no-sparkplug', '--no-maglev', '--no-opt'];

/**
 * A young generation of 2 MiB from the start, where V8 starts with 1 MiB. A child whose kernel
 * verdict is cached allocates a little over 1 MiB there in all, so with the default it ran one
 * scavenge, which copies nearly everything (its objects live until it exits): 3-15 ms of CPU per
 * guest, measured in children with v8.GCProfiler. With 2 MiB it runs none; an empty child does not
 * allocate enough to notice (a 16 MiB young generation made empty children dearer, 2 MiB did not:
 * docs/benchmarks.md). The heap cap (--max-old-space-size) and RLIMIT_AS bound memory as before.
 */
const CHILD_YOUNG_GENERATION = ['--min-semi-space-size=2'];

/**
 * The Node flags of a child: the code cache of its program must be made under the same ones.
 * @example
 * childNodeArgs(DEFAULT_CHILD_LIMITS) // => ['--max-old-space-size=512', '--min-semi-space-size=2', '--no-sparkplug', '--no-maglev', '--no-opt']
 */
export function childNodeArgs(lim: ChildLimits): string[] {
  return [`--max-old-space-size=${lim.heapMiB}`, ...CHILD_YOUNG_GENERATION, ...CHILD_TIERS_OFF];
}

/**
 * Starts `program` (a read-only descriptor of a file holding a plain-JavaScript classic script
 * and its code cache: bundle.ts childCode, readOnlyCopy; it stays open) contained, with `passed`
 * (open descriptors, closed here once the child has them) as descriptors FIRST_PASSED_FD and up.
 * Its stdin is the program; 1 and 2 are its output and errors; 3 and 4 its requests and their
 * answers (serveRequests); JOB_FD its job. Also says what containment it is under (the child
 * checks it: containmentProblems), or why it cannot be contained.
 * @example
 * spawnContained(program, [fd], DEFAULT_CHILD_LIMITS) // => { child, containment: { user: { kind: 'dropped', uid: 65534, gid: 65534 }, ... } }
 */
export function spawnContained(
  program: number,
  passed: number[],
  lim: ChildLimits,
): { child: ChildProcessByStdio<null, Readable, Readable>; containment: Containment } | { error: string } {
  try {
    const t = containmentTools();
    if (typeof t === 'string') return { error: t };
    const u = inspectUser();
    if (typeof u === 'string') return { error: `cannot contain the inspection: ${u}` };
    const containment: Containment = { user: u, addressSpaceBytes: lim.addressSpaceMiB * 1024 * 1024, cpuSeconds: lim.cpuSeconds };
    const argv = containedArgv(t, containment, [process.execPath, ...childNodeArgs(lim), '-e', CHILD_LOADER]);
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [program, 'pipe', 'pipe', 'pipe', 'pipe', 'pipe', ...passed],
      // Its own process group, with whatever it starts: killed as one.
      detached: true,
      env: CHILD_ENV,
      cwd: '/',
    }) as ChildProcessByStdio<null, Readable, Readable>;
    return { child, containment };
  } finally {
    // The child has its copies (spawn duplicates them before it returns).
    for (const fd of passed) closeSync(fd);
  }
}

/**
 * Inspects one guest in a contained child process. Never throws: failures come back as
 * GuestFailure. `served[i]` reads disk i for the child when that disk is `served` (on a remote
 * host); every other disk, and a direct kernel, is opened here and passed to the child, the
 * direct kernel as `kernelFd` when given (a read-only descriptor, closed here: bytes read from a
 * remote dom0, see readOnlyCopy) instead of opening `options.directKernel`.
 * @example
 * await inspectInChild([{ path: 'guest.img', vdev: 'xvda' }], { dataDir: dataDir(), name: 'web1' })
 * // => { guest: 'web1', verdict: { verdict: 'ready', ... }, ... }  or  { guest: 'web1', error: 'inspection timed out after 120 s' }
 */
export async function inspectInChild(
  disks: DiskSpec[],
  options: InspectOptions,
  limits: Partial<ChildLimits> = {},
  served: (BlockReader | undefined)[] = [],
  kernelFd?: number,
): Promise<GuestReport | GuestFailure> {
  const lim = { ...DEFAULT_CHILD_LIMITS, ...limits };
  const guest = options.name ?? disks[0]?.path ?? '?';
  let program: number;
  try {
    program = childCode(dataDir(), childNodeArgs(lim));
  } catch (err) {
    if (kernelFd !== undefined) closeSync(kernelFd);
    return { guest, error: `cannot build the inspection script: ${err instanceof Error ? err.message : String(err)}` };
  }
  // Opened here, read-only, and passed as descriptors: the child could not open them (it is not
  // root), and must not be able to open anything else.
  const passed: number[] = [];
  const pass = (path: string): { fd: number } | { error: string } => {
    try {
      passed.push(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY));
      return { fd: FIRST_PASSED_FD + passed.length - 1 };
    } catch (err) {
      return { error: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
    }
  };
  const jobDisks = disks.map((d) => (d.served !== undefined ? d : { ...d, passed: pass(d.path) }));
  const kernel = (path: string) => {
    if (kernelFd === undefined) return pass(path);
    passed.push(kernelFd);
    return { fd: FIRST_PASSED_FD + passed.length - 1 };
  };
  const jobOptions = { ...options, dataDir: null, ...(options.directKernel ? { directKernelPassed: kernel(options.directKernel) } : {}) };
  if (kernelFd !== undefined && !options.directKernel) closeSync(kernelFd);
  const started = spawnContained(program, passed, lim);
  if ('error' in started) return { guest, error: started.error };
  const { child, containment } = started;
  const job: ChildJob = { disks: jobDisks, options: jobOptions, contain: containment, cache: options.dataDir !== null };
  const cache = options.dataDir === null ? null : fileCache(options.dataDir);
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
  const jobPipe = (child.stdio as unknown as Writable[])[JOB_FD]!;
  jobPipe.on('error', () => undefined);
  serveRequests(child.stdio[3] as Readable, child.stdio[4] as Writable, { served, cache, disks }, (why) => kill(`the inspection ${why}`));
  const timer = setTimeout(() => kill(`inspection timed out after ${Math.round(lim.timeoutMs / 1000)} s`), lim.timeoutMs);
  jobPipe.end(JSON.stringify(job));
  const { code, signal } = await closed;
  clearTimeout(timer);
  if (failure !== null) return { guest, error: failure };
  if (code !== 0) {
    const why = /out of memory|Allocation failed|Cannot allocate memory|Array buffer allocation failed/i.test(err)
      ? `ran out of its memory limit (${lim.heapMiB} MiB heap, ${lim.addressSpaceMiB} MiB in all)`
      : signal === 'SIGXCPU'
        ? `ran out of its CPU time limit (${lim.cpuSeconds} s)`
        : signal !== null
          ? `killed by ${signal}`
          : err.trim().split('\n').pop() || `exit status ${code}`;
    return { guest, error: `inspection failed: ${why}` };
  }
  let result: { report: GuestReport; learned?: Learned };
  try {
    result = JSON.parse(Buffer.concat(out).toString('utf8')) as { report: GuestReport; learned?: Learned };
  } catch {
    return { guest, error: 'inspection produced unreadable output' };
  }
  if (cache !== null) storeLearned(cache, disks, result.learned);
  return result.report;
}

/** Requests a child may have outstanding: it reads synchronously, so one at a time. */
const MAX_OUTSTANDING = 4;

/** What a child may ask its parent. */
type ChildRequest =
  | { kind: 'read'; disk: number; offset: number; length: number }
  | { kind: 'kernel'; sha256: string }
  | { kind: 'file'; disk: string; fingerprint: string };

/**
 * One request line from a child, or why it is refused.
 * @example
 * parseRequest('0 512 4096') // => { kind: 'read', disk: 0, offset: 512, length: 4096 }
 */
function parseRequest(line: string): ChildRequest | string {
  if (line.length > MAX_REQUEST) return 'sent a malformed request';
  const m = /^(\d{1,3}) (\d{1,16}) (\d{1,10})$/.exec(line);
  if (m !== null) {
    if (Number(m[3]) > MAX_READ) return `asked to read more than ${MAX_READ} bytes at once`;
    return { kind: 'read', disk: Number(m[1]), offset: Number(m[2]), length: Number(m[3]) };
  }
  const k = /^K ([0-9a-f]{64})$/.exec(line);
  if (k !== null) return { kind: 'kernel', sha256: k[1]! };
  if (line.startsWith('F ')) {
    try {
      const key: unknown = JSON.parse(line.slice(2));
      if (Array.isArray(key) && key.length === 2 && typeof key[0] === 'string' && typeof key[1] === 'string') return { kind: 'file', disk: key[0], fingerprint: key[1] };
    } catch {
      // refused below
    }
  }
  return 'sent a malformed request';
}

/** The longest request line: a read, a sha256 or a disk name and fingerprint in JSON. */
const MAX_REQUEST = 4096;

/**
 * Answers a child's requests, one at a time, in order: reads of served disks (`DISK OFFSET
 * LENGTH`: only the disks given to this child, only within their size, which the reader checks,
 * and MAX_READ per request), and verdict cache lookups (`K SHA256`; `F ["DISK","FINGERPRINT"]`,
 * only for the child's own disks). The child parses guest data, so its requests are hostile input
 * too: a child that floods requests or sends garbage is reported through `abuse` (then killed).
 * @example
 * serveRequests(child.stdio[3], child.stdio[4], { served: [reader], cache: null, disks }, (why) => kill(why))
 */
export function serveRequests(
  requests: Readable,
  answers: Writable,
  ctx: { served: (BlockReader | undefined)[]; cache: VerdictCache | null; disks: DiskSpec[] },
  abuse: (why: string) => void,
): void {
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
  const respond = async (r: ChildRequest) => {
    if (r.kind === 'read') {
      const reader = ctx.served[r.disk];
      try {
        if (reader === undefined) answer('E', Buffer.from('no such served disk'));
        else answer('D', await reader.read(r.offset, r.length));
      } catch (err) {
        answer('E', Buffer.from((err instanceof Error ? err.message : String(err)).slice(0, 1000)));
      }
      return;
    }
    const found =
      r.kind === 'kernel'
        ? (() => {
            const k = ctx.cache?.kernel(r.sha256) ?? null;
            return k === null ? null : JSON.stringify(k);
          })()
        : ctx.cache !== null && ownsDisk(ctx.disks, r.disk)
          ? ctx.cache.knownSha(r.disk, r.fingerprint)
          : null;
    answer(found === null ? 'E' : 'D', Buffer.from(found ?? 'not cached', 'utf8'));
  };
  requests.setEncoding('latin1');
  requests.on('data', (text: string) => {
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    if (pending.length > MAX_REQUEST) return stop('sent a malformed request');
    for (const l of lines) {
      const r = parseRequest(l);
      if (typeof r === 'string') return stop(r);
      if (++outstanding > MAX_OUTSTANDING) return stop('sent requests without waiting for the answers');
      // In order, reads and lookups alike: the child reads answers in the order it asked.
      chain = chain
        .then(() => respond(r))
        .catch(() => undefined)
        .finally(() => outstanding--);
    }
  });
}
