/**
 * Reading an operator's file (the settings file, the SMTP password and CA files) without trusting
 * what the path names: at most a given number of bytes, and only from a regular file, so that a
 * path set to a FIFO, /dev/zero or a multi-gigabyte file cannot hang pvhctl or fill its memory
 * before the size check that follows.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';

/**
 * The first `limit` bytes of the regular file at `path` (all of it when it is smaller), or none of
 * /dev/null (`PVHCTL_CONFIG=/dev/null` is how one says "no settings file"). A caller that passes
 * its maximum plus one learns from the length whether the file was larger. Throws Node's error
 * (with its `code`, e.g. ENOENT) when the file cannot be opened, and an Error with code ENOTREG and
 * one line when it is anything else (opening never blocks on a FIFO).
 * @example
 * readHead('/etc/pvhctl/pvhctl.conf', 65537).length // => 412
 * readHead('/dev/zero', 10) // throws: /dev/zero: not a regular file
 */
export function readHead(path: string, limit: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (st.isCharacterDevice() && st.rdev === statSync('/dev/null').rdev) return Buffer.alloc(0);
    if (!st.isFile()) throw Object.assign(new Error(`${path}: not a regular file`), { code: 'ENOTREG' });
    // No more than the file holds: a caller's limit is often far above a settings file's size.
    const buf = Buffer.alloc(Math.min(limit, st.size));
    let got = 0;
    for (let n = 1; got < buf.length && n > 0; got += n) n = readSync(fd, buf, got, buf.length - got, got);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
