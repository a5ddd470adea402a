/**
 * Is the XFS log clean? The kernel finds the log head (where the cycle number stamped on every
 * 512-byte basic block drops) and looks at the last record before it: a clean unmount leaves a
 * record holding one operation, the unmount transaction. Anything else means the guest was not
 * shut down cleanly (or is running) and the kernel would replay the log first; pvhctl does not
 * replay it and says so. Bounded: a binary search over the log, then at most MAX_BACK blocks back.
 * Reference: Linux fs/xfs/xfs_log_recover.c (xlog_find_head, xlog_check_unmount_rec),
 * fs/xfs/libxfs/xfs_log_format.h.
 */
import { type ByteSource, view } from '../../disk/source.ts';
import type { Superblock } from './layout.ts';

const XLOG_HEADER_MAGIC = 0xfeedbabe;
const XLOG_UNMOUNT_TRANS = 0x20;
const XLOG_HEADER_CYCLE_SIZE = 32 * 1024;
const BB = 512;
/** Basic blocks searched back from the head for the last record header (a record is at most 256 KiB plus headers). */
const MAX_BACK = 1024;

/**
 * A warning when the internal log is not clean (or cannot be judged), null when it is clean.
 * @example
 * logWarning(src, sb) // => null for a filesystem unmounted cleanly or fresh from mkfs.xfs
 */
export function logWarning(src: ByteSource, sb: Superblock): string | null {
  if (sb.logStart === 0) return 'the XFS log is on another device; whether it is clean is unknown';
  const agno = Math.floor(sb.logStart / 2 ** sb.agBlkLog);
  const agbno = sb.logStart % 2 ** sb.agBlkLog;
  const linear = agno * sb.agBlocks + agbno;
  const bbs = (sb.logBlocks * sb.blockSize) / BB;
  if (agno >= sb.agCount || agbno >= sb.agBlocks || linear + sb.logBlocks > sb.dblocks || bbs < 2) return 'the XFS log is outside the filesystem; whether it is clean is unknown';
  const base = linear * sb.blockSize;
  const head8 = (bb: number) => view(src.read(base + bb * BB, 8));
  /** xlog_get_cycle: a record header keeps the cycle in h_cycle, every other block in its first word. */
  const cycle = (bb: number) => {
    const dv = head8(bb);
    return dv.getUint32(0, false) === XLOG_HEADER_MAGIC ? dv.getUint32(4, false) : dv.getUint32(0, false);
  };
  const first = cycle(0);
  let head = bbs;
  if (cycle(bbs - 1) !== first) {
    // The blocks written in the current cycle come first; find where the previous cycle begins.
    let lo = 0;
    let hi = bbs - 1;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (cycle(mid) === first) lo = mid;
      else hi = mid;
    }
    head = hi;
  }
  for (let back = 1; back <= MAX_BACK && back <= bbs; back++) {
    const bb = (head - back + bbs) % bbs;
    const dv = head8(bb);
    if (dv.getUint32(0, false) !== XLOG_HEADER_MAGIC) continue;
    const h = view(src.read(base + bb * BB, BB));
    const version = h.getInt32(8, false);
    const hsize = h.getInt32(320, false);
    const hblks = version & 2 && hsize > XLOG_HEADER_CYCLE_SIZE ? Math.ceil(hsize / XLOG_HEADER_CYCLE_SIZE) : 1;
    if (h.getInt32(40, false) !== 1) return 'the XFS log needs recovery (not shut down cleanly, or in use); it is not replayed, so recent changes may be missing';
    const opBB = (bb + hblks) % bbs;
    const op = view(src.read(base + opBB * BB, 12));
    // xlog_op_header: tid, len, clientid, flags
    if (op.getUint8(9) & XLOG_UNMOUNT_TRANS) return null;
    return 'the XFS log needs recovery (not shut down cleanly, or in use); it is not replayed, so recent changes may be missing';
  }
  return 'no XFS log record found before the log head; whether the log is clean is unknown';
}
