/**
 * Random-access reads of a guest disk on a remote dom0, without copying the disk: one long-lived
 * shell on the host answers "offset length" requests with `dd`, so inspecting a 100 GiB LV moves
 * only the metadata blocks and kernel files the inspector asks for (a few MiB). The host needs
 * only POSIX sh and coreutils (dd, stat, mktemp, cat) and util-linux's blockdev.
 *
 * Protocol (host → us): a first line `S <size>` (or `E <why>`), then per request `D <n>` followed
 * by exactly n bytes, or `E <why>`. Requests (us → host) are `<offset> <length>` lines made here
 * from integers only; the disk path was checked by shellJoin's plain-word rule.
 */
import type { Readable, Writable } from 'node:stream';
import { DriverError, type BlockReader } from '../driver.ts';
import { shellJoin } from './runner.ts';

/** How long one read may take on the host before the reader gives up. */
export const BLOCK_TIMEOUT_MS = 60_000;

/** Largest read sent to the host in one request; bigger reads are split. */
const MAX_REQUEST = 8 << 20;
/** Reads up to this size go through the chunk cache (metadata); larger ones (kernel files) do not. */
const CACHED_READ = 1 << 20;
const CHUNK = 256 << 10;
/** Chunks kept per disk (64 MiB): an inspection's metadata fits many times over. */
const MAX_CHUNKS = 256;

/**
 * The host-side program: prints the size, then serves reads until its stdin ends. The temporary
 * file lets it announce each answer's exact length, so a short read (an I/O error, a disk
 * shrunk meanwhile) cannot shift the framing.
 * @example
 * blockServerScript('/dev/vg0/web1') // => "d='/dev/vg0/web1'\n..."
 */
export function blockServerScript(path: string): string {
  return [
    `d=${shellJoin([path])}`,
    't=$(mktemp) || exit 1',
    "trap 'rm -f \"$t\"' EXIT HUP INT TERM",
    'if [ -b "$d" ]; then s=$(blockdev --getsize64 "$d") || exit 1',
    'elif [ -f "$d" ]; then s=$(stat -L -c %s "$d") || exit 1',
    'else echo "E not a block device or regular file"; exit 1; fi',
    'echo "S $s"',
    'while read -r o n; do',
    '  if dd if="$d" of="$t" iflag=skip_bytes,count_bytes skip="$o" count="$n" bs=1M status=none 2>/dev/null',
    '  then echo "D $(stat -c %s "$t")"; cat "$t"',
    '  else echo "E read of $n bytes at $o failed"; fi',
    'done',
  ].join('\n');
}

/**
 * Speaks the protocol over a started block server's stdin/stdout. Requests are answered in
 * order, one at a time; each must be answered within `timeoutMs`, or the reader fails for good.
 * @example
 * const r = await blockReader('xen1:/dev/vg0/web1', { stdin, stdout, close }, 30_000);
 * await r.read(0, 512) // => Uint8Array(512) [...]
 */
export async function blockReader(name: string, io: { stdin: Writable; stdout: Readable; close(): void }, timeoutMs: number): Promise<BlockReader> {
  // What the host sent and no request has consumed yet, as it arrived (joined only when taken:
  // an 8 MiB answer comes in many small SSH packets).
  const parts: Buffer[] = [];
  let buffered = 0;
  const take = (n: number): Buffer => {
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, buffered);
    parts.length = 0;
    buffered = all.length - n;
    if (buffered > 0) parts.push(all.subarray(n));
    return all.subarray(0, n);
  };
  /** Offset of the first newline within the first `limit` bytes, or -1. */
  const newline = (limit: number): number => {
    let seen = 0;
    for (const p of parts) {
      const i = p.subarray(0, limit - seen).indexOf(10);
      if (i >= 0) return seen + i;
      seen += p.length;
      if (seen >= limit) break;
    }
    return -1;
  };
  let failed: Error | null = null;
  let wake: (() => void) | null = null;
  const fail = (e: Error) => {
    failed ??= e;
    io.close();
    wake?.();
  };
  io.stdout.on('data', (b: Buffer) => {
    parts.push(b);
    buffered += b.length;
    wake?.();
  });
  let ended = false;
  io.stdout.on('close', () => {
    ended = true;
    fail(new DriverError('failed', `${name}: the disk reader on the host ended`));
  });
  io.stdout.on('error', (e) => fail(new DriverError('failed', `${name}: ${e.message}`)));
  io.stdin.on('error', (e) => fail(new DriverError('failed', `${name}: ${e.message}`)));

  /** Waits until `ready()` holds on the buffer, or the deadline passes. */
  const until = async (ready: () => boolean, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (failed !== null) throw failed;
      const left = deadline - Date.now();
      if (left <= 0) {
        fail(new DriverError('failed', `${name}: no answer to ${what} within ${timeoutMs} ms`));
        throw failed!;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
  };
  /** One status line (`S`, `D` or `E`); a host that sends 256 bytes without a newline is garbled. */
  const line = async (what: string): Promise<string> => {
    await until(() => newline(256) >= 0 || buffered >= 256, what);
    const nl = newline(256);
    if (nl < 0) {
      fail(new DriverError('failed', `${name}: garbled answer from the host`));
      throw failed!;
    }
    return take(nl + 1).subarray(0, nl).toString('latin1');
  };

  const first = await line('the size request');
  const size = /^S (\d{1,16})$/.exec(first);
  if (size === null) {
    io.close();
    throw new DriverError('failed', `${name}: ${first.startsWith('E ') ? first.slice(2) : 'the host cannot serve the disk'}`);
  }
  const total = Number(size[1]);

  let queue: Promise<unknown> = Promise.resolve();
  const fetch = (offset: number, length: number): Promise<Uint8Array> => {
    const p = queue.then(async () => {
      if (failed !== null) throw failed;
      io.stdin.write(`${offset} ${length}\n`);
      const head = await line(`a read at ${offset}`);
      const m = /^D (\d{1,10})$/.exec(head);
      if (m === null) throw new DriverError('failed', `${name}: ${head.startsWith('E ') ? head.slice(2) : 'garbled answer from the host'}`);
      const n = Number(m[1]);
      if (n > length) {
        fail(new DriverError('failed', `${name}: ${n} bytes sent for a read of ${length}`));
        throw failed!;
      }
      await until(() => buffered >= n, `a read at ${offset}`);
      const data = take(n);
      // A short read (an I/O error, a disk shrunk meanwhile) fails this read; the framing holds.
      if (n !== length) throw new DriverError('failed', `${name}: ${n} bytes instead of ${length} at ${offset}`);
      return new Uint8Array(data); // a copy: the cache must not keep the rest of the packet alive
    });
    queue = p.catch(() => undefined);
    return p;
  };

  const chunks = new Map<number, Uint8Array>();
  const chunk = async (i: number): Promise<Uint8Array> => {
    let c = chunks.get(i);
    if (c === undefined) {
      c = await fetch(i * CHUNK, Math.min(CHUNK, total - i * CHUNK));
      if (chunks.size >= MAX_CHUNKS) chunks.delete(chunks.keys().next().value!);
      chunks.set(i, c);
    }
    return c;
  };

  return {
    size: total,
    async read(offset, length) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > total) {
        throw new DriverError('invalid', `${name}: read of ${length} bytes at ${offset} is outside the disk (${total} bytes)`);
      }
      const out = new Uint8Array(length);
      if (length > CACHED_READ) {
        for (let at = 0; at < length; at += MAX_REQUEST) out.set(await fetch(offset + at, Math.min(MAX_REQUEST, length - at)), at);
        return out;
      }
      for (let at = offset; at < offset + length; ) {
        const i = Math.floor(at / CHUNK);
        const c = await chunk(i);
        const from = at - i * CHUNK;
        const n = Math.min(c.length - from, offset + length - at);
        out.set(c.subarray(from, from + n), at - offset);
        at += n;
      }
      return out;
    },
    close() {
      failed ??= new DriverError('failed', `${name}: closed`);
      // End of requests: the host's loop ends and its shell exits, which closes the channel from
      // its side. Resolves once it has (dropbear refuses a new channel while it still tears one
      // down); forced after a few seconds.
      io.stdin.end();
      return new Promise<void>((resolve) => {
        if (ended) return resolve();
        const force = setTimeout(() => {
          io.close();
          resolve();
        }, 5000);
        force.unref();
        io.stdout.once('close', () => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
