/**
 * Following an operation that another process runs: its journal is read as it grows and each new
 * entry is reported as the same OperationEvent the running process reports, then the final status.
 * So a CLI progress bar or an API's SSE stream shows the steps a worker on another machine takes.
 */
import type { Operation } from '../store/schema.ts';
import type { Store } from '../store/store.ts';
import type { OperationEvent } from './switch.ts';

/** How often the journal is read while following (a journal entry is a few hundred bytes). */
export const FOLLOW_POLL_MS = 150;

const FINAL: Operation['status'][] = ['done', 'refused', 'rolled-back', 'needs-attention'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reports operation `id`'s journal entries through `onEvent` as they are written, then its end;
 * resolves with the finished operation (or, once `signal` aborts, with the operation as it is).
 * @example
 * await followOperation(store, 12, 'web1', (e) => bar.update(e.step)) // => { id: 12, status: 'done', ... }
 */
export async function followOperation(
  store: Store,
  id: number,
  guest: string,
  onEvent?: (e: OperationEvent) => void,
  opts: { pollMs?: number; signal?: AbortSignal } = {},
): Promise<Operation> {
  let seen = 0;
  for (;;) {
    // The status first, then the journal: an operation seen finished has all its entries written.
    const op = await store.getOperation(id);
    if (op === undefined) throw new Error(`operation ${id} not found`);
    for (const e of await store.journalOf(id)) {
      if (e.seq <= seen) continue;
      seen = e.seq;
      onEvent?.({ operationId: id, guest, step: e.step, phase: e.phase, ...(e.detail !== null ? { message: e.detail } : {}) });
    }
    if (FINAL.includes(op.status)) {
      onEvent?.({ operationId: id, guest, step: op.status, phase: 'done', status: op.status, ...(op.reason !== null ? { message: op.reason } : {}) });
      return op;
    }
    // Stopped by the caller (an SSE client went away): the operation as it is now.
    if (opts.signal?.aborted) return op;
    await sleep(opts.pollMs ?? FOLLOW_POLL_MS);
  }
}
