/**
 * Read-only replay of an ext3/4 journal (JBD2) that needs recovery, as an overlay: for each
 * filesystem block, the newest committed copy in the log, unless a later revoke record cancels it.
 * Nothing is written; the overlay is consulted by every block read. A guest inspected while it
 * runs, or after a crash, keeps recent metadata (a new kernel's directory entry, a rewritten
 * grub.cfg's inode) only in its journal. Reference: Linux fs/jbd2/recovery.c, include/linux/jbd2.h
 * (all journal fields are big-endian).
 */
import { view } from '../../disk/source.ts';
import { FsError } from '../types.ts';

const JBD2_MAGIC = 0xc03b3998;
const DESCRIPTOR = 1;
const COMMIT = 2;
const SUPERBLOCK_V1 = 3;
const SUPERBLOCK_V2 = 4;
const REVOKE = 5;

const INCOMPAT_64BIT = 0x2;
const INCOMPAT_CSUM_V2 = 0x8;
const INCOMPAT_CSUM_V3 = 0x10;
const INCOMPAT_FAST_COMMIT = 0x20;

const FLAG_ESCAPE = 1;
const FLAG_SAME_UUID = 2;
const FLAG_LAST_TAG = 8;

/** Blocks replayed at most (a default journal holds 32768 blocks of 4 KiB). */
export const MAX_OVERLAY = 1 << 20;

/** Where the newest committed copy of a filesystem block is in the journal. */
export type Overlay = Map<number, { journalBlock: number; escape: boolean }>;

/**
 * Reads the journal's log and returns the overlay to apply, with warnings.
 * `readJournalBlock(n)` reads logical block n of the journal (its inode's mapping).
 * @example
 * replayJournal(readJournalBlock, 4096) // => { overlay: Map { 2330 => { journalBlock: 2, escape: false } }, warnings: [] }
 */
export function replayJournal(readJournalBlock: (n: number) => Uint8Array, journalBlocks: number): { overlay: Overlay; warnings: string[] } {
  const warnings: string[] = [];
  const sbBlock = readJournalBlock(0);
  const sb = view(sbBlock);
  if (sb.getUint32(0) !== JBD2_MAGIC) throw new FsError('journal superblock has no JBD2 magic');
  const type = sb.getUint32(4);
  if (type !== SUPERBLOCK_V1 && type !== SUPERBLOCK_V2) throw new FsError(`journal superblock has block type ${type}`);
  const blockSize = sb.getUint32(0x0c);
  const maxLen = Math.min(sb.getUint32(0x10), journalBlocks);
  const first = sb.getUint32(0x14);
  let sequence = sb.getUint32(0x18);
  const start = sb.getUint32(0x1c);
  const incompat = type === SUPERBLOCK_V2 ? sb.getUint32(0x28) : 0;
  if (blockSize !== sbBlock.length) throw new FsError(`journal block size ${blockSize} differs from the filesystem's`);
  if (start === 0) return { overlay: new Map(), warnings }; // clean: nothing to replay
  if (first < 1 || first >= maxLen || start < first || start >= maxLen) throw new FsError(`journal log bounds are corrupt (first ${first}, start ${start}, length ${maxLen})`);
  if (incompat & INCOMPAT_FAST_COMMIT) warnings.push('the journal uses fast commits, which are not replayed');

  const is64 = (incompat & INCOMPAT_64BIT) !== 0;
  const csum3 = (incompat & INCOMPAT_CSUM_V3) !== 0;
  const csum2 = (incompat & INCOMPAT_CSUM_V2) !== 0;
  // jbd2's journal_tag_bytes()
  const tagBytes = csum3 ? 16 : 12 + (csum2 ? 2 : 0) - (is64 ? 0 : 4);
  const tail = csum2 || csum3 ? 4 : 0;

  type Logged = { fsBlock: number; journalBlock: number; escape: boolean; sequence: number };
  const logged: Logged[] = [];
  const revoked = new Map<number, number>(); // fs block → newest revoking transaction
  let pending: Logged[] = [];
  let pendingRevokes: [number, number][] = [];
  let block = start;
  const next = (b: number) => (b + 1 >= maxLen ? first : b + 1);
  // Every log block is visited at most once: the log cannot be longer than the journal.
  for (let steps = 0; steps < maxLen; steps++) {
    const buf = readJournalBlock(block);
    const dv = view(buf);
    if (dv.getUint32(0) !== JBD2_MAGIC || dv.getUint32(8) !== sequence) break;
    const btype = dv.getUint32(4);
    if (btype === DESCRIPTOR) {
      let at = 12;
      let dataBlock = block;
      for (;;) {
        if (at + tagBytes > blockSize - tail) break;
        const lo = dv.getUint32(at);
        const flags = csum3 ? dv.getUint32(at + 4) : dv.getUint16(at + 6);
        const hi = is64 ? dv.getUint32(at + 8) : 0;
        dataBlock = next(dataBlock);
        steps++;
        pending.push({ fsBlock: hi * 2 ** 32 + lo, journalBlock: dataBlock, escape: (flags & FLAG_ESCAPE) !== 0, sequence });
        if (pending.length + logged.length > MAX_OVERLAY) throw new FsError(`journal logs more than ${MAX_OVERLAY} blocks`);
        at += tagBytes + (flags & FLAG_SAME_UUID ? 0 : 16);
        if (flags & FLAG_LAST_TAG) break;
      }
      block = next(dataBlock);
      continue;
    }
    // A revoke block counts whatever the superblock's INCOMPAT_REVOKE says: jbd2's do_one_pass()
    // and scan_revoke_records() never look at that flag.
    if (btype === REVOKE) {
      const count = dv.getUint32(12);
      // scan_revoke_records(): a count past the block (less its checksum tail) fails the recovery.
      if (count > blockSize - tail) throw new FsError(`journal revoke block ${block} claims ${count} bytes of records in a ${blockSize}-byte block`);
      const size = is64 ? 8 : 4;
      for (let at = 16; at + size <= count; at += size) {
        const b = is64 ? dv.getUint32(at) * 2 ** 32 + dv.getUint32(at + 4) : dv.getUint32(at);
        pendingRevokes.push([b, sequence]);
      }
      block = next(block);
      continue;
    }
    if (btype === COMMIT) {
      // Only a committed transaction counts; its blocks and revokes take effect together.
      logged.push(...pending);
      for (const [b, seq] of pendingRevokes) revoked.set(b, Math.max(seq, revoked.get(b) ?? 0));
      pending = [];
      pendingRevokes = [];
      sequence = (sequence + 1) >>> 0;
      block = next(block);
      continue;
    }
    // jbd2 ends the log at a block of a type it does not know ("Unrecognised magic"): so do we, aloud.
    warnings.push(`journal block ${block} of transaction ${sequence} has unknown type ${btype}; replay stops there, as jbd2's does`);
    break;
  }
  if (pending.length > 0) warnings.push('the journal ends in an uncommitted transaction, which is ignored (as the kernel does)');
  const overlay: Overlay = new Map();
  for (const l of logged) {
    const r = revoked.get(l.fsBlock);
    // jbd2_journal_test_revoke: a copy from transaction T is skipped if revoked in a transaction >= T.
    if (r !== undefined && r >= l.sequence) continue;
    overlay.set(l.fsBlock, { journalBlock: l.journalBlock, escape: l.escape });
  }
  return { overlay, warnings };
}

/** An escaped block had its first four bytes (the JBD2 magic) zeroed in the log: put them back. */
export function unescapeBlock(b: Uint8Array): Uint8Array {
  const copy = b.slice();
  view(copy).setUint32(0, JBD2_MAGIC);
  return copy;
}
