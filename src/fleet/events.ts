/**
 * The fleet's live progress inside one process: every OperationEvent the fleet reports (give
 * `bus.emit` to openFleet as onEvent) fanned out per operation to whoever follows it: the API's
 * server-sent events, the Xen Shell's progress lines, the metrics. Across processes (workers on
 * PostgreSQL) progress is read from the journal instead (src/fleet/follow.ts).
 */
import { EventEmitter } from 'node:events';
import type { OperationEvent } from './switch.ts';

/** Fans operation events out to their followers. */
export type EventBus = { emit(e: OperationEvent): void; on(opId: number, fn: (e: OperationEvent) => void): () => void };

/**
 * A new bus; `emitter` also sends every event as `any` (the metrics count them there).
 * @example
 * const bus = eventBus();
 * const off = bus.on(7, (e) => console.log(e.step)); // later: off()
 * const fleet = await openFleet({ dataDir, onEvent: bus.emit });
 */
export function eventBus(): EventBus & { emitter: EventEmitter } {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    emitter,
    emit: (e) => {
      emitter.emit(`op:${e.operationId}`, e);
      emitter.emit('any', e);
    },
    on(opId, fn) {
      emitter.on(`op:${opId}`, fn);
      return () => emitter.off(`op:${opId}`, fn);
    },
  };
}
