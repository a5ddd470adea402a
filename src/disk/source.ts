/**
 * Byte sources: a guest disk (image file or block device) opened read-only, read with positional
 * reads that are checked against the source's size. Everything above (partition tables,
 * filesystems) reads through this one interface, so a bad offset in guest metadata becomes a
 * clear error here instead of a short read, a wrap-around or a read of another guest's bytes.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeSync, constants } from 'node:fs';

/** The most one read may ask for: metadata reads are small; a kernel file is read in pieces. */
export const MAX_READ = 64 * 1024 * 1024;

/** Random-access, read-only bytes with a known size. */
export type ByteSource = {
  /** A name for error messages (the file, or `file[partition 5]`). */
  readonly name: string;
  readonly size: number;
  /** Returns exactly `length` bytes at `offset`, or throws a one-line error naming the source. */
  read(offset: number, length: number): Uint8Array;
  /**
   * Fills all of `target` with the bytes at `offset`, as read(offset, target.length) would give
   * them, with the same checks: a large file (a kernel) is read into its own buffer, piece by
   * piece, with no second buffer to copy out of.
   */
  readInto(offset: number, target: Uint8Array): void;
  close(): void;
};

/** Thrown when guest metadata points outside its source. */
export class OutOfBounds extends Error {}

function check(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new OutOfBounds(`${name}: bad read of ${length} bytes at ${offset}`);
  }
  if (length > MAX_READ) throw new OutOfBounds(`${name}: read of ${length} bytes exceeds the ${MAX_READ}-byte cap`);
  if (offset + length > size) throw new OutOfBounds(`${name}: read of ${length} bytes at ${offset} is past the end (${size} bytes)`);
}

/**
 * Wraps bytes already in memory (tests, fuzzing, a file read from a filesystem).
 * @example
 * memorySource(new Uint8Array([1, 2, 3]), 'x').read(1, 2) // => Uint8Array [2, 3]
 */
export function memorySource(bytes: Uint8Array, name = 'memory'): ByteSource {
  return {
    name,
    size: bytes.length,
    read(offset, length) {
      check(name, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
    readInto(offset, target) {
      check(name, bytes.length, offset, target.length);
      target.set(bytes.subarray(offset, offset + target.length));
    },
    close() {},
  };
}

/** Size of a block device from sysfs (fstat reports 0 for block devices; no ioctl from Node). */
function blockDeviceSize(rdev: number, name: string): number {
  // Linux dev_t: major in bits 8..19 and 32..43, minor in bits 0..7 and 20..31 (new_encode_dev).
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  try {
    const sectors = Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim());
    if (Number.isSafeInteger(sectors) && sectors >= 0) return sectors * 512;
  } catch {
    // fall through to the error below
  }
  throw new Error(`${name}: cannot tell the size of block device ${major}:${minor}`);
}

/**
 * Opens an image file or a block device read-only (O_RDONLY, never O_RDWR; never mounted).
 * @example
 * const src = openSource('/var/lib/xen/images/guest.img'); src.read(510, 2) // => Uint8Array [0x55, 0xaa]
 */
export function openSource(path: string): ByteSource {
  return fdSource(openSync(path, constants.O_RDONLY | constants.O_NONBLOCK), path);
}

/**
 * A disk already open as descriptor `fd` (the contained child gets its disks so, opened read-only
 * by its parent), which the source owns from then on: closed by close(), or here if it is not a
 * regular file or block device.
 * @example
 * fdSource(6, '/dev/vg0/web1-disk').size // => 21474836480
 */
export function fdSource(fd: number, path: string): ByteSource {
  try {
    const st = fstatSync(fd);
    let size: number;
    if (st.isFile()) size = st.size;
    else if (st.isBlockDevice()) size = blockDeviceSize(st.rdev, path);
    else throw new Error(`${path}: not a regular file or block device`);
    let closed = false;
    const readInto = (offset: number, target: Uint8Array): void => {
      const length = target.length;
      check(path, size, offset, length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, target, done, length - done, offset + done);
        if (n === 0) throw new OutOfBounds(`${path}: unexpected end of data at ${offset + done}`);
        done += n;
      }
    };
    return {
      name: path,
      size,
      read(offset, length) {
        const buf = new Uint8Array(length);
        readInto(offset, buf);
        return buf;
      },
      readInto,
      close() {
        if (!closed) closeSync(fd);
        closed = true;
      },
    };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** The file descriptors a contained inspection child asks its parent through (child.ts). */
export const SERVED_REQUEST_FD = 3;
export const SERVED_ANSWER_FD = 4;

/** The longest answer body that is an error message (`E`). */
const MAX_ERROR_ANSWER = 4096;

/**
 * Asks the parent one request line (without its newline) and waits for the answer: `D` and its
 * bytes, or `E` and a message. `expect` is the exact data length a read wants; otherwise any
 * length up to `max`. A garbled answer throws.
 * @example
 * askParent('0 510 2', { exact: 2 }, 'xen1:/dev/vg0/web1', 'the disk server') // => { status: 'D', body: Uint8Array [0x55, 0xaa] }
 */
export function askParent(
  line: string,
  size: { exact: number } | { max: number },
  name: string,
  who = 'the parent',
): { status: 'D'; body: Uint8Array } | { status: 'E'; message: string } {
  const exact = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let got = 0; got < n; ) {
      const k = readSync(SERVED_ANSWER_FD, b, got, n - got, null);
      if (k === 0) throw new Error(`${name}: ${who} went away`);
      got += k;
    }
    return b;
  };
  writeSync(SERVED_REQUEST_FD, `${line}\n`);
  const head = exact(5);
  const n = Buffer.from(head.buffer, head.byteOffset, 5).readUInt32LE(1);
  if (head[0] === 0x44 && ('exact' in size ? n === size.exact : n <= size.max)) return { status: 'D', body: exact(n) };
  if (head[0] === 0x45 && n <= MAX_ERROR_ANSWER) return { status: 'E', message: Buffer.from(exact(n)).toString('utf8') };
  throw new Error(`${name}: garbled answer from ${who}`);
}

/**
 * A disk this process cannot open itself (it is on a remote host), served by its parent: each read
 * is a request line `DISK OFFSET LENGTH` on one descriptor, answered on the other with a status
 * byte (`D` data, `E` error), a 32-bit little-endian length and that many bytes (data or message).
 * Reads block, as the filesystem readers above are synchronous.
 * @example
 * servedSource(0, 'xen1:/dev/vg0/web1', 21474836480).read(510, 2) // => Uint8Array [0x55, 0xaa]
 */
export function servedSource(disk: number, name: string, size: number): ByteSource {
  const read = (offset: number, length: number): Uint8Array => {
    check(name, size, offset, length);
    const a = askParent(`${disk} ${offset} ${length}`, { exact: length }, name, 'the disk server');
    if (a.status === 'E') throw new Error(`${name}: ${a.message}`);
    return a.body;
  };
  return {
    name,
    size,
    read,
    readInto(offset, target) {
      // the answer arrives in a buffer of its own: one copy, as before
      target.set(read(offset, target.length));
    },
    close() {},
  };
}

/**
 * A window `[offset, offset+length)` of another source, for a partition. The window is clipped
 * to the parent so that a partition table claiming more than the disk holds cannot read past it.
 * @example
 * sliceSource(disk, 1048576, 512 * 2048, 'disk.img[1]').read(0, 512) // the partition's first sector
 */
export function sliceSource(parent: ByteSource, offset: number, length: number, name: string): ByteSource {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > parent.size) {
    throw new OutOfBounds(`${name}: starts at ${offset}, past the end of ${parent.name} (${parent.size} bytes)`);
  }
  const size = Math.max(0, Math.min(length, parent.size - offset));
  return {
    name,
    size,
    read(off, len) {
      check(name, size, off, len);
      return parent.read(offset + off, len);
    },
    readInto(off, target) {
      check(name, size, off, target.length);
      parent.readInto(offset + off, target);
    },
    close() {},
  };
}

/**
 * Little-endian readers over a byte array, bounds-checked by the typed array itself.
 * @example
 * view(bytes).getUint16(0x38, true) // => 0xef53
 */
export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * A 64-bit little-endian value as a Number; beyond 2^53 (no real disk) becomes Infinity so bounds checks fail.
 * @example
 * u64(view(header), 72) // => 2 (the GPT entry array LBA)
 */
export function u64(dv: DataView, at: number): number {
  const v = dv.getBigUint64(at, true);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
}
