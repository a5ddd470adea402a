/**
 * Streaming decompression of kernel payloads. gzip uses Node's zlib (native, on libuv's thread
 * pool, faster than gzip(1)); xz (with the x86 BCJ filter), lzma, bzip2, lzo (lzop's format), lz4
 * (legacy frame) and zstd run the system's own decompressors as child processes: the reference
 * implementations, at native speed (Node's own zstd measured slower than zstd(1) here). Either
 * way the caller reads chunks and may stop at any time; stopping kills the child.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { Compression } from './types.ts';

type Tool = { cmd: string; args: string[] };

/** The system decompressors, reading stdin and writing stdout. Debian packages in scripts/apt-packages.txt. */
const TOOLS: Record<'xz' | 'lzma' | 'bzip2' | 'lzo' | 'lz4' | 'zstd', Tool> = {
  // --single-stream: stop after the first .xz stream, ignore what follows (the size trailer)
  xz: { cmd: 'xz', args: ['--decompress', '--stdout', '--single-stream', '--threads=1'] },
  lzma: { cmd: 'xz', args: ['--decompress', '--stdout', '--format=lzma'] },
  bzip2: { cmd: 'bzip2', args: ['--decompress', '--stdout'] },
  lzo: { cmd: 'lzop', args: ['--decompress', '--stdout'] },
  lz4: { cmd: 'lz4', args: ['-d', '-c'] },
  // `zstd -22 --ultra` kernels use windows up to 2^27; allow up to 2^30 (Xen's output cap)
  zstd: { cmd: 'zstd', args: ['--decompress', '--stdout', '--quiet', '--memory=1024MB'] },
};

export class DecompressError extends Error {}

/**
 * Decompressors run under setpriv's parent-death signal: killed with the process that reads their
 * output, even when that one is killed (the contained inspection child, at its time limit or when
 * pvhctl dies). They inherit the rest of its containment (user, no-new-privs, limits) as is.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;

/**
 * Yields the decompressed bytes of `payload`. A decompressor failure after some output is
 * thrown when the consumer asks for more; `timeoutMs` kills a child that runs too long.
 * @example
 * for await (const chunk of decompress(payload, 'xz', { timeoutMs: 60_000 })) { ... break; }
 */
export async function* decompress(
  payload: Uint8Array,
  compression: Exclude<Compression, 'none'>,
  opts: { timeoutMs: number; trailerSize?: number; signal?: AbortSignal },
): AsyncGenerator<Buffer> {
  // A bare payload may end with Linux's 4-byte size trailer, which strict decoders reject as
  // trailing garbage: an error once exactly that many bytes came out is the end of the stream.
  let produced = 0;
  try {
    for await (const chunk of raw(payload, compression, opts)) {
      produced += chunk.length;
      yield chunk;
    }
  } catch (err) {
    if (opts.trailerSize === undefined || produced % 2 ** 32 !== opts.trailerSize || produced === 0) throw err;
  }
}

async function* raw(payload: Uint8Array, compression: Exclude<Compression, 'none'>, opts: { timeoutMs: number; signal?: AbortSignal }): AsyncGenerator<Buffer> {
  opts.signal?.throwIfAborted();
  if (compression === 'gzip') {
    for await (const chunk of gunzip(payload)) {
      opts.signal?.throwIfAborted();
      yield chunk;
    }
    return;
  }
  const tool = TOOLS[compression];
  if (SETPRIV === null) throw new DecompressError(`cannot run ${tool.cmd} contained: util-linux setpriv is needed`);
  const child = spawn(SETPRIV, ['--pdeathsig=KILL', '--', tool.cmd, ...tool.args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs, killSignal: 'SIGKILL', signal: opts.signal });
  let stderr = '';
  child.stderr.setEncoding('latin1');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 2048) stderr += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  child.stdin.on('error', () => undefined); // EPIPE once we stop reading and kill it
  child.stdin.end(payload);
  try {
    yield* batched(child.stdout);
    const r = await exited;
    if (r.error !== undefined) throw new DecompressError(`cannot run ${tool.cmd} (${r.error.message}); install it (scripts/apt-packages.txt)`);
    if (r.signal === 'SIGKILL') throw new DecompressError(`${compression} decompression took longer than ${opts.timeoutMs} ms`);
    const missing = /^setpriv: failed to execute .*$/m.exec(stderr);
    if (missing !== null) throw new DecompressError(`cannot run ${tool.cmd} (${missing[0]}); install it (scripts/apt-packages.txt)`);
    if (r.code !== 0) {
      const why = stderr.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? `exit code ${r.code}`;
      throw new DecompressError(`corrupt ${compression} stream (${why.replace(/^\S+: (?:\(stdin\)|<stdin>|stdin|-): /, '')})`);
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child.stdout.destroy();
  }
}

/**
 * The chunks of a readable, joined into batches of whatever arrived meanwhile (up to 1 MiB).
 * xz and friends write 8 KiB at a time; handing each on through the async-iterator layers costs
 * more than the decompression of it.
 */
async function* batched(stream: Readable): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failed: Error | null = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  stream.on('data', (b: Buffer) => {
    queue.push(b);
    queued += b.length;
    if (queued >= 1 << 20) stream.pause();
    notify();
  });
  stream.on('end', () => {
    ended = true;
    notify();
  });
  stream.on('error', (err) => {
    failed = err;
    notify();
  });
  for (;;) {
    if (queue.length > 0) {
      const out = queue.length === 1 ? queue[0]! : Buffer.concat(queue, queued);
      queue.length = 0;
      queued = 0;
      stream.resume();
      yield out;
      continue;
    }
    if (failed !== null) throw failed;
    if (ended) return;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}

async function* gunzip(payload: Uint8Array): AsyncGenerator<Buffer> {
  const z = zlib.createGunzip({ chunkSize: 256 << 10 });
  z.end(payload);
  try {
    for await (const chunk of z) yield chunk as Buffer;
  } catch (err) {
    throw new DecompressError(`corrupt gzip stream (${err instanceof Error ? err.message : String(err)})`);
  } finally {
    z.destroy();
  }
}
