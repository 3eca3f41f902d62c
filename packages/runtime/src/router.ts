/**
 * The mailbox router: one bounded FIFO mailbox per actor, drained round-robin.
 *
 * Invariants (checked against a plain model in router.test.ts):
 * - per mailbox, inputs are handled in the order they were enqueued (so per-sender FIFO holds);
 * - a mailbox never holds more than its capacity: enqueueing into a full one returns a
 *   `mailbox-full` error and counts it; nothing is ever dropped without a counted error;
 * - draining is deterministic: actors take turns, one input each, in the order they became ready.
 */
import type { ActorId } from '@steadfast/wire';
import type { ActorInput } from './actor.js';

/** Inputs a mailbox holds at most when `RouterOptions.mailboxCapacity` (or the node's) is not given. */
export const DEFAULT_MAILBOX_CAPACITY = 1024;

/**
 * Why `enqueue` refused an input: the actor's mailbox is full, or no actor of that id is
 * registered. The router has counted it; the node also counts it as a drop of the same reason.
 */
export type EnqueueError =
  | { readonly reason: 'mailbox-full'; readonly actor: ActorId; readonly capacity: number }
  | { readonly reason: 'unknown-actor'; readonly actor: ActorId };

/** The outcome of `enqueue`: a full mailbox is a typed error, never silent growth (rule 8). */
export type EnqueueResult = { readonly ok: true } | { readonly ok: false; readonly error: EnqueueError };

/**
 * A snapshot of the router's counts: inputs enqueued and handled, handlers that threw (`failed`),
 * and inputs refused for a full mailbox or an unknown actor, or dropped when their actor was
 * unregistered.
 */
export interface RouterCounters {
  readonly enqueued: number;
  readonly handled: number;
  readonly failed: number;
  readonly droppedMailboxFull: number;
  readonly droppedUnknownActor: number;
  readonly droppedOnUnregister: number;
}

/** Handles one input of a registered actor: in a node, runs one actor step. */
export type InputHandler = (input: ActorInput) => void;

interface Mailbox {
  readonly actor: ActorId;
  readonly handler: InputHandler;
  /** Set on unregister: a ready-queue entry may still point here and must be skipped. */
  removed: boolean;
  readonly queue: ActorInput[];
  head: number;
  ready: boolean;
}

/**
 * Options of `new Router`. `mailboxCapacity` (default `DEFAULT_MAILBOX_CAPACITY`) must be an integer
 * >= 1, or the constructor throws a `RangeError`.
 */
export interface RouterOptions {
  readonly mailboxCapacity?: number;
  /** Called when a mailbox becomes non-empty: the host schedules `drain()` (once, however often called). */
  readonly onReady?: () => void;
  /** Called when a handler throws; the router goes on with the other actors. */
  readonly onHandlerError?: (actor: ActorId, error: unknown) => void;
}

const ok: EnqueueResult = { ok: true };

/**
 * The mailbox router (see the invariants above). It never calls a handler from inside `enqueue`:
 * it tells the host through `onReady`, and the host calls `drain()`. A handler that throws is
 * counted as `failed` and reported to `onHandlerError`, or rethrown from `drain()` without one.
 * Each `Node` has one.
 */
export class Router {
  readonly mailboxCapacity: number;
  private readonly mailboxes = new Map<ActorId, Mailbox>();
  private readyQueue: Mailbox[] = [];
  private readyHead = 0;
  private counts = {
    enqueued: 0,
    handled: 0,
    failed: 0,
    droppedMailboxFull: 0,
    droppedUnknownActor: 0,
    droppedOnUnregister: 0,
  };

  constructor(private readonly options: RouterOptions = {}) {
    this.mailboxCapacity = options.mailboxCapacity ?? DEFAULT_MAILBOX_CAPACITY;
    if (!Number.isInteger(this.mailboxCapacity) || this.mailboxCapacity < 1) {
      throw new RangeError(`mailboxCapacity must be a positive integer, got ${options.mailboxCapacity}`);
    }
  }

  register(actor: ActorId, handler: InputHandler): void {
    if (this.mailboxes.has(actor)) throw new Error(`actor ${actor} is already registered`);
    this.mailboxes.set(actor, { actor, handler, removed: false, queue: [], head: 0, ready: false });
  }

  /** Removes the actor; inputs still queued for it are dropped and counted. Returns their number. */
  unregister(actor: ActorId): number {
    const mailbox = this.mailboxes.get(actor);
    if (mailbox === undefined) return 0;
    this.mailboxes.delete(actor);
    mailbox.removed = true;
    const dropped = mailbox.queue.length - mailbox.head;
    this.counts.droppedOnUnregister += dropped;
    return dropped;
  }

  has(actor: ActorId): boolean {
    return this.mailboxes.has(actor);
  }

  actors(): ActorId[] {
    return [...this.mailboxes.keys()];
  }

  queuedCount(actor: ActorId): number {
    const mailbox = this.mailboxes.get(actor);
    return mailbox === undefined ? 0 : mailbox.queue.length - mailbox.head;
  }

  enqueue(actor: ActorId, input: ActorInput): EnqueueResult {
    const mailbox = this.mailboxes.get(actor);
    if (mailbox === undefined) {
      this.counts.droppedUnknownActor++;
      return { ok: false, error: { reason: 'unknown-actor', actor } };
    }
    if (mailbox.queue.length - mailbox.head >= this.mailboxCapacity) {
      this.counts.droppedMailboxFull++;
      return { ok: false, error: { reason: 'mailbox-full', actor, capacity: this.mailboxCapacity } };
    }
    mailbox.queue.push(input);
    this.counts.enqueued++;
    if (!mailbox.ready) {
      mailbox.ready = true;
      this.readyQueue.push(mailbox);
      // Called each time a mailbox becomes ready; the host coalesces these into one drain.
      this.options.onReady?.();
    }
    return ok;
  }

  /** True when some mailbox holds an input. */
  hasWork(): boolean {
    for (let index = this.readyHead; index < this.readyQueue.length; index++) {
      if (!this.readyQueue[index]!.removed) return true;
    }
    return false;
  }

  /**
   * Handles up to `limit` inputs, one per ready actor per turn. Inputs enqueued by the handlers
   * themselves (local sends) are handled in the same drain, after those already waiting.
   */
  drain(limit = Number.POSITIVE_INFINITY): number {
    let handled = 0;
    while (handled < limit && this.readyHead < this.readyQueue.length) {
      const mailbox = this.readyQueue[this.readyHead++]!;
      if (mailbox.removed) continue;
      const actor = mailbox.actor;
      const input = mailbox.queue[mailbox.head]!;
      mailbox.queue[mailbox.head] = undefined as unknown as ActorInput;
      mailbox.head++;
      if (mailbox.head === mailbox.queue.length) {
        mailbox.queue.length = 0;
        mailbox.head = 0;
        mailbox.ready = false;
      } else {
        if (mailbox.head > 1024 && mailbox.head * 2 > mailbox.queue.length) {
          mailbox.queue.splice(0, mailbox.head);
          mailbox.head = 0;
        }
        this.readyQueue.push(mailbox);
      }
      this.compactReadyQueue();
      handled++;
      try {
        mailbox.handler(input);
        this.counts.handled++;
      } catch (error) {
        this.counts.failed++;
        if (this.options.onHandlerError === undefined) throw error;
        this.options.onHandlerError(actor, error);
      }
    }
    return handled;
  }

  counters(): RouterCounters {
    return { ...this.counts };
  }

  private compactReadyQueue(): void {
    if (this.readyHead > 1024 && this.readyHead * 2 > this.readyQueue.length) {
      this.readyQueue = this.readyQueue.slice(this.readyHead);
      this.readyHead = 0;
    }
  }
}
