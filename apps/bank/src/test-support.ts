/**
 * Helpers for the bank's tests (imported by `*.test.ts` only, not exported from the package).
 *
 * `captureContext` builds a real `ActorContext` (the runtime's own `createActorContext` and
 * `Supervisor`) whose sends land in a list and whose timers land in a map instead of a router and
 * a clock, the way `trace replay` wires one. Tests drive an actor by hand with it: deliver this
 * reply, drop that one, fire this timer, and look at exactly what the actor asked for.
 */
import {
  createActorContext,
  entropyFrom,
  SimulatedClock,
  Supervisor,
  type ActorContext,
} from '@steadfast/runtime';
import { Prng } from '@steadfast/sim';
import {
  actorId,
  address,
  messageKey,
  nodeId,
  type Address,
  type Envelope,
  type MessageId,
} from '@steadfast/wire';

/** The simulator's seeded PRNG as a function, so every randomised test run replays from its seed. */
export function seededRandom(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.nextFloat();
}

export interface CapturedTimer {
  readonly delayMs: number;
  readonly payload: unknown;
}

export interface CapturedContext {
  readonly ctx: ActorContext;
  readonly clock: SimulatedClock;
  readonly supervisor: Supervisor;
  /** Every envelope the actor emitted, in order. */
  readonly sent: Envelope[];
  /** Timers currently set, by name. */
  readonly timers: Map<string, CapturedTimer>;
  /** Sets the envelope being handled (what `ctx.current` and `ctx.reply` see). */
  setCurrent(envelope: Envelope | undefined): void;
  /** How many times the actor asked for its state to be persisted. */
  persistCalls(): number;
  /** Makes a message id as a client node would. */
  nextClientId(): MessageId;
}

export function captureContext(
  options: { node?: string; actor?: string; seed?: number; startMs?: number } = {},
): CapturedContext {
  const node = nodeId(options.node ?? 'n1');
  const actor = actorId(options.actor ?? 'subject');
  const clock = new SimulatedClock(options.startMs ?? 1_000);
  const supervisor = new Supervisor(
    { clock, entropy: entropyFrom(seededRandom(options.seed ?? 1)) },
    'record',
  );
  const sent: Envelope[] = [];
  const timers = new Map<string, CapturedTimer>();
  let current: Envelope | undefined;
  let sequence = 0;
  let clientSequence = 0;
  let persistCalls = 0;
  const ctx = createActorContext({
    self: address(node, actor),
    actor,
    node,
    supervisor,
    current: () => current,
    emit: (outgoing) => {
      const id: MessageId = { origin: node, incarnation: 1, sequence: ++sequence };
      sent.push({ ...outgoing, id } as Envelope);
      return id;
    },
    setTimer: (name, delayMs, payload) => void timers.set(name, { delayMs, payload }),
    cancelTimer: (name) => void timers.delete(name),
    persist: () => {
      persistCalls++;
    },
  });
  return {
    ctx,
    clock,
    supervisor,
    sent,
    timers,
    setCurrent: (envelope) => {
      current = envelope;
    },
    persistCalls: () => persistCalls,
    nextClientId: () => ({ origin: nodeId('client'), incarnation: 1, sequence: ++clientSequence }),
  };
}

export const CLIENT: Address = address('client', '@client');

export function requestEnvelope(
  id: MessageId,
  target: Address,
  body: unknown,
  source: Address = CLIENT,
): Envelope {
  return { kind: 'async-request', id, source, target, body };
}

export function replyEnvelope(id: MessageId, request: Envelope, body: unknown): Envelope {
  return {
    kind: 'async-reply',
    id,
    source: request.target,
    target: request.source,
    inReplyTo: request.id,
    body,
  };
}

/** Replies found in `sent` answering the request with id `requestId`. */
export function repliesTo(sent: readonly Envelope[], requestId: MessageId): unknown[] {
  const key = messageKey(requestId);
  return sent
    .filter(
      (envelope) =>
        (envelope.kind === 'async-reply' || envelope.kind === 'sync-reply') &&
        messageKey(envelope.inReplyTo) === key,
    )
    .map((envelope) => envelope.body);
}
