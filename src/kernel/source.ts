/**
 * Random-access reads over a kernel image that may only be readable forward (a decompression
 * stream). Reads must mostly move forward; reading behind the stream's position restarts it (at
 * most `maxPasses` times). The first HEAD bytes are kept, since the ELF and program headers live
 * there and are read first.
 */
/** A byte range to read; `what` names it in errors ("note segment"). */
export type Range = { offset: number; length: number; what?: string };

function pastEnd(r: Range, end: number, decompressed: boolean): SourceError {
  return new SourceError(`${r.what ?? 'data'} (bytes ${r.offset}..${r.offset + r.length}) lies past the end of the ${decompressed ? 'decompressed ' : ''}image (${end} bytes)`);
}

export interface ByteSource {
  /** The bytes of each range, in order; a range past the end is an error naming it. */
  readRanges(ranges: Range[]): Promise<Uint8Array[]>;
  /** The first occurrence of `needle` at or after `from`, within `limit` bytes, with up to `after` bytes following it. */
  find(needle: Uint8Array, from: number, limit: number, after: number): Promise<{ offset: number; bytes: Uint8Array } | null>;
  /**
   * The end of the furthest byte the reads and searches so far needed: a function of what was
   * asked and of the image alone. How far a stream's producer ran ahead of it depends on timing
   * (chunk sizes, scheduling), so that is never reported.
   */
  readonly needed: number;
  /**
   * A hint that bytes before `offset` (past the first 64 KiB) will likely not be read again: a
   * stream stops keeping them (keeping a kernel's 24-66 MB costs more than the reads it saves);
   * a later read of them is still answered, by another pass.
   */
  keepFrom(offset: number): void;
  close(): Promise<void>;
}

export class SourceError extends Error {}

/** A whole image in memory (an uncompressed ELF vmlinux). */
export function bufferSource(buf: Uint8Array): ByteSource {
  let needed = 0;
  return {
    async readRanges(ranges) {
      return ranges.map((r) => {
        if (r.offset + r.length > buf.length) throw pastEnd(r, buf.length, false);
        needed = Math.max(needed, r.offset + r.length);
        return buf.subarray(r.offset, r.offset + r.length);
      });
    },
    async find(needle, from, limit, after) {
      const hay = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).subarray(0, Math.min(buf.length, from + limit));
      const at = hay.indexOf(needle, from);
      if (at < 0) {
        needed = Math.max(needed, hay.length);
        return null;
      }
      const end = Math.min(buf.length, at + needle.length + after);
      needed = Math.max(needed, end);
      return { offset: at, bytes: buf.subarray(at, end) };
    },
    get needed() {
      return needed;
    },
    keepFrom() {},
    async close() {},
  };
}

const HEAD = 64 << 10;
/** First-pass bytes kept for reads behind the stream (a 686 vmlinux is 16 MB, an amd64 one 66 MB). */
const RETAIN = 96 << 20;

/**
 * A forward-only stream (made anew by `open` for each pass) seen as a ByteSource, with the total
 * output capped at `maxBytes` (Xen caps decompression at 1 GiB).
 * @example
 * const src = streamSource(() => decompress(payload, 'xz', { timeoutMs }), { maxBytes: 1 << 30, maxPasses: 3 });
 * const [ehdr] = await src.readRanges([{ offset: 0, length: 64 }]);
 */
export function streamSource(
  open: () => AsyncGenerator<Buffer>,
  limits: { maxBytes: number; maxPasses: number; retainBytes?: number },
  watch?: { needle: Uint8Array; after: number },
): ByteSource {
  let it: AsyncGenerator<Buffer> | null = null;
  let passes = 0;
  let pos = 0; // stream offset of the end of `last`
  let last: Buffer = Buffer.alloc(0); // the most recent chunk
  let head = Buffer.alloc(0);
  let eof = false;
  // The furthest stream offset a read or search needed (see ByteSource.needed); max, not a sum
  // over passes, since whether a pass restarts depends on where the chunk boundaries fell.
  let needed = 0;
  const need = (end: number) => {
    needed = Math.max(needed, end);
  };
  // The first pass's chunks are kept (up to RETAIN bytes) so that a read behind the stream's
  // position, Xen's SHT_NOTE fallback for a kernel without Xen notes, needs no second pass.
  // Chunks are fresh buffers, so keeping them costs references, not copies.
  let retained: { at: number; chunk: Buffer }[] | null = [];
  let retainedBytes = 0;
  // Chunks ending at or before this offset are not kept (keepFrom); kept chunks cover keptFrom..pos.
  let keepAfter = 0;
  let keptFrom = 0;
  // While the first pass streams by, remember the first occurrence of `watch.needle`, so that a
  // later find() for it needs no second pass (Linux's banner sits before the notes).
  let watched: { offset: number; bytes: Buffer } | null = null;
  let watchCarry = Buffer.alloc(0);
  let watchedUpTo = 0;

  function watchChunk(): void {
    if (watch === undefined || passes !== 1 || lastStart() !== watchedUpTo) return;
    if (watched !== null && watched.bytes.length < watch.needle.length + watch.after) {
      watched.bytes = Buffer.concat([watched.bytes, last.subarray(0, watch.needle.length + watch.after - watched.bytes.length)]);
    } else if (watched === null) {
      // search the seam with the previous chunk's tail, then the chunk itself (no copy of it)
      const k = watch.needle.length;
      const seam = Buffer.concat([watchCarry, last.subarray(0, k - 1)]);
      const s = seam.indexOf(watch.needle);
      const at = s >= 0 ? s - watchCarry.length : last.indexOf(watch.needle);
      if (at >= 0 && s >= 0) {
        const start = watchedUpTo - watchCarry.length + s;
        watched = { offset: start, bytes: Buffer.concat([watchCarry.subarray(s), last.subarray(0, k + watch.after - (watchCarry.length - s))]) };
      } else if (at >= 0) {
        watched = { offset: watchedUpTo + at, bytes: Buffer.from(last.subarray(at, at + k + watch.after)) };
      } else {
        watchCarry = Buffer.from(last.length >= k - 1 ? last.subarray(last.length - (k - 1)) : Buffer.concat([watchCarry, last]).subarray(-(k - 1)));
      }
    }
    watchedUpTo = pos;
  }

  function restart(): void {
    if (passes >= limits.maxPasses) throw new SourceError(`would need more than ${limits.maxPasses} decompression passes`);
    void it?.return(undefined);
    it = open();
    passes++;
    if (passes > 1) retained = null; // kept chunks belong to the first pass only
    pos = 0;
    last = Buffer.alloc(0);
    eof = false;
  }

  /** Pulls the next chunk into `last`; false at end of stream. */
  async function pull(): Promise<boolean> {
    if (eof) return false;
    if (it === null) restart();
    const r = await it!.next();
    if (r.done) {
      eof = true;
      return false;
    }
    last = r.value;
    // the head is filled on the first pass only (after a restart pos starts again at 0)
    if (pos === head.length && head.length < HEAD) head = Buffer.concat([head, last.subarray(0, HEAD - pos)]);
    pos += last.length;
    if (retained !== null && passes === 1 && pos <= keepAfter) keptFrom = pos;
    else if (retained !== null && passes === 1) {
      retained.push({ at: pos - last.length, chunk: last });
      retainedBytes += last.length;
      if (retainedBytes > (limits.retainBytes ?? RETAIN)) retained = null;
    }
    if (pos > limits.maxBytes) throw new SourceError(`decompressed output passes ${limits.maxBytes} bytes (Xen's limit is 1 GiB): a decompression bomb or not a kernel`);
    watchChunk();
    return true;
  }

  const lastStart = () => pos - last.length;

  async function readRanges(ranges: Range[]): Promise<Uint8Array[]> {
    const out: Array<Uint8Array | null> = ranges.map((r) => (r.offset + r.length <= head.length ? head.subarray(r.offset, r.offset + r.length) : null));
    const todo = ranges.map((r, i) => ({ ...r, i })).filter((r) => out[r.i] === null).sort((a, b) => a.offset - b.offset);
    if (todo.length === 0) {
      for (const r of ranges) need(r.offset + r.length);
      return out as Uint8Array[];
    }
    const fromRetained = retained !== null && passes === 1 && todo[0]!.offset >= keptFrom;
    if (it === null || (todo[0]!.offset < lastStart() && !fromRetained)) restart();
    const bufs = todo.map((r) => ({ r, buf: Buffer.alloc(r.length), filled: 0 }));
    let pending = bufs.length;
    if (fromRetained && todo[0]!.offset < lastStart()) {
      // bytes already streamed by: copy them from the kept chunks (they cover keptFrom..pos)
      for (const { at, chunk } of retained!) {
        const end = at + chunk.length;
        for (const b of bufs) {
          const from = b.r.offset + b.filled;
          const to = Math.min(b.r.offset + b.r.length, end);
          if (b.filled < b.r.length && from >= at && from < to) {
            chunk.copy(b.buf, b.filled, from - at, to - at);
            b.filled += to - from;
            if (b.filled === b.r.length) pending--;
          }
        }
      }
    }
    const copy = () => {
      const s = lastStart();
      for (const b of bufs) {
        if (b.filled === b.r.length) continue;
        const from = Math.max(b.r.offset + b.filled, s);
        const to = Math.min(b.r.offset + b.r.length, pos);
        if (from < to && from === b.r.offset + b.filled) {
          last.copy(b.buf, b.filled, from - s, to - s);
          b.filled += to - from;
          if (b.filled === b.r.length) pending--;
        }
      }
    };
    copy();
    while (pending > 0) {
      if (!(await pull())) {
        throw pastEnd(bufs.find((b) => b.filled < b.r.length)!.r, pos, true);
      }
      copy();
    }
    for (const b of bufs) out[b.r.i] = b.buf;
    for (const r of ranges) need(r.offset + r.length);
    return out as Uint8Array[];
  }

  async function find(needle: Uint8Array, from: number, limit: number, after: number) {
    if (watch !== undefined && Buffer.compare(Buffer.from(needle), Buffer.from(watch.needle)) === 0 && from <= watchedUpTo && passes === 1) {
      if (watched !== null && watched.offset >= from) {
        need(watched.offset + watched.bytes.length);
        return watched;
      }
      if (watched === null) from = Math.max(from, lastStart());
    }
    if (it === null || from < lastStart()) restart();
    const want = needle.length + after;
    let carry = Buffer.alloc(0);
    let carryStart = lastStart();
    const end = from + limit;
    for (;;) {
      const window = Buffer.concat([carry, last]);
      const wStart = carryStart;
      const rel = Math.max(0, from - wStart);
      const at = window.indexOf(needle, rel);
      if (at >= 0 && wStart + at < end) {
        let bytes = window.subarray(at, at + want);
        while (bytes.length < want && (await pull())) bytes = Buffer.concat([bytes, last.subarray(0, want - bytes.length)]);
        need(wStart + at + bytes.length);
        return { offset: wStart + at, bytes };
      }
      // Not found: the search needed the whole window, or the stream up to its end.
      if (pos >= end) {
        need(end);
        return null;
      }
      carry = window.subarray(Math.max(0, window.length - needle.length + 1));
      carryStart = wStart + window.length - carry.length;
      if (!(await pull())) {
        need(pos);
        return null;
      }
    }
  }

  return {
    readRanges,
    find,
    get needed() {
      return needed;
    },
    keepFrom(offset) {
      if (retained === null || passes !== 1 || offset <= keepAfter) return;
      keepAfter = offset;
      // drop what is kept already before it, as if never kept
      const drop = retained.findIndex((r) => r.at + r.chunk.length > offset);
      const gone = drop < 0 ? retained.length : drop;
      for (const r of retained.splice(0, gone)) retainedBytes -= r.chunk.length;
      keptFrom = retained.length > 0 ? retained[0]!.at : pos;
    },
    async close() {
      await it?.return(undefined);
      it = null;
    },
  };
}
