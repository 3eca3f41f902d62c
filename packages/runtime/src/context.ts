/**
 * Builds an `ActorContext` from its parts. The node wires it to the router and transport; trace
 * replay wires it to a capture buffer. Keeping one construction keeps both paths identical.
 */
import type { ActorId, Address, Envelope, EnvelopeHeader, MessageId, NodeId } from '@steadfast/wire';
import type { ActorContext, RequestOptions, SendOptions } from './actor.js';
import type { Supervisor } from './supervisor.js';

/** An envelope before the runtime gives it an id. */
export type OutgoingEnvelope = Envelope extends infer E
  ? E extends Envelope
    ? Omit<E, 'id'>
    : never
  : never;

/**
 * The host side of an `ActorContext`: what `createActorContext` wires the actor's calls to. `emit`
 * takes an envelope without an id and returns the id the host gave it; `current` returns the
 * envelope being handled. Holding a step's sends until it ends, and persisting, are the host's job.
 */
export interface ContextParts {
  readonly self: Address;
  readonly actor: ActorId;
  readonly node: NodeId;
  readonly supervisor: Supervisor;
  readonly current: () => Envelope | undefined;
  readonly emit: (envelope: OutgoingEnvelope) => MessageId;
  readonly setTimer: (name: string, delayMs: number, payload: unknown) => void;
  readonly cancelTimer: (name: string) => void;
  readonly persist: () => void;
}

function withHeader<T extends object>(envelope: T, header: EnvelopeHeader | undefined): T {
  return header === undefined ? envelope : { ...envelope, header };
}

/**
 * Builds an `ActorContext` on `parts`: clock, randomness, ids and `call` go to the supervisor, sends
 * become envelopes for `emit`. Throws (programmer errors) on a `reply` with no request to answer
 * and on a timer delay that is negative or not finite.
 */
export function createActorContext(parts: ContextParts): ActorContext {
  const { self, supervisor } = parts;
  return {
    self,
    actor: parts.actor,
    node: parts.node,
    get current() {
      return parts.current();
    },
    now: () => supervisor.now(),
    random: () => supervisor.random(),
    id: () => supervisor.id(),
    call: (name, fn) => supervisor.call(name, fn),
    send(target: Address, body: unknown, options?: SendOptions) {
      return parts.emit(withHeader({ kind: 'one-way', source: self, target, body }, options?.header));
    },
    request(target: Address, body: unknown, options?: RequestOptions) {
      const kind = options?.sync === true ? 'sync-request' : 'async-request';
      return parts.emit(withHeader({ kind, source: self, target, body }, options?.header));
    },
    reply(body: unknown, options?: SendOptions & { readonly to?: Envelope }) {
      const request = options?.to ?? parts.current();
      if (request === undefined || (request.kind !== 'sync-request' && request.kind !== 'async-request')) {
        throw new Error(`actor ${self} replied, but it is not handling a request`);
      }
      const kind = request.kind === 'sync-request' ? 'sync-reply' : 'async-reply';
      return parts.emit(
        withHeader(
          { kind, source: self, target: request.source, inReplyTo: request.id, body },
          options?.header,
        ),
      );
    },
    setTimer(name: string, delayMs: number, payload?: unknown) {
      if (!(delayMs >= 0) || !Number.isFinite(delayMs)) {
        throw new RangeError(`timer '${name}' delay must be a finite number >= 0, got ${delayMs}`);
      }
      parts.setTimer(name, delayMs, payload);
    },
    cancelTimer: (name: string) => parts.cancelTimer(name),
    persist: () => parts.persist(),
  };
}
