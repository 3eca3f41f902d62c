/**
 * Write coalescing for actor state saves. Each save holds an actor's whole state, so a newer save
 * covers every older one: while one write of an actor's state is in flight, later saves of the
 * same actor wait as one, and only the newest state is written next. Every waiter resolves when a
 * state at least as new as its own is durable — which is exactly what persist-then-send needs —
 * and fails if that write fails. One write per actor in flight, at most one queued behind it.
 */
import type { ActorId } from '@steadfast/wire';
import type { ActorStateStore } from './node.js';

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface ActorQueue {
  inFlight: boolean;
  next: { state: unknown; waiters: Waiter[] } | undefined;
}

/** What `coalescingActorStore` has done so far, for benchmarks and tests; live, not a snapshot. */
export interface CoalescingCounters {
  /** Writes issued to the underlying store. */
  writes: number;
  /** Saves that were folded into a newer state's write. */
  coalesced: number;
}

/**
 * Wraps `write` (one asynchronous save of an actor's whole state) as an `ActorStateStore` that
 * coalesces saves as the module comment says. A failed write rejects the saves it covered, and the
 * node then stops that actor (`persist-failed`). docs/actors.md, "Coalescing saves".
 */
export function coalescingActorStore(
  write: (actor: ActorId, state: unknown) => Promise<void>,
): ActorStateStore & {
  readonly counters: CoalescingCounters;
} {
  const queues = new Map<ActorId, ActorQueue>();
  const counters: CoalescingCounters = { writes: 0, coalesced: 0 };

  const run = (actor: ActorId, queue: ActorQueue, state: unknown, waiters: Waiter[]) => {
    queue.inFlight = true;
    counters.writes++;
    write(actor, state).then(
      () => finish(actor, queue, waiters, undefined),
      (error: unknown) => finish(actor, queue, waiters, error ?? new Error('write failed')),
    );
  };

  const finish = (actor: ActorId, queue: ActorQueue, waiters: Waiter[], error: unknown) => {
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
    const next = queue.next;
    queue.next = undefined;
    if (next === undefined) {
      queue.inFlight = false;
      queues.delete(actor);
      return;
    }
    run(actor, queue, next.state, next.waiters);
  };

  return {
    counters,
    save(actor, state) {
      return new Promise<void>((resolve, reject) => {
        const waiter: Waiter = { resolve, reject };
        let queue = queues.get(actor);
        if (queue === undefined) {
          queue = { inFlight: false, next: undefined };
          queues.set(actor, queue);
        }
        if (!queue.inFlight) {
          run(actor, queue, state, [waiter]);
          return;
        }
        if (queue.next === undefined) queue.next = { state, waiters: [waiter] };
        else {
          counters.coalesced++;
          queue.next = { state, waiters: [...queue.next.waiters, waiter] };
        }
      });
    },
  };
}
