/**
 * Actors: what a user writes. An actor handles one input at a time (a message or a timer it set)
 * and reaches the world only through its `ActorContext`: sends and replies, timers, and the
 * supervisor's clock, randomness and ids. That is what lets the same actor run in the simulator,
 * over UDP, as a replica that replays its primary's values, and under `trace replay`.
 *
 * Two ways to write one:
 * - `defineActor({ kind, initial, handle })`: a reducer `(state, input, ctx) => state`.
 * - `fromMachine(kind, machine)`: an xstate v5 machine made with `setup({ types })`. Message
 *   bodies are its events; actions reach the context with `actorContext()`.
 */
import type { ActorId, Address, Envelope, EnvelopeHeader, MessageId, NodeId } from '@steadfast/wire';
import {
  createActor,
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
  type Snapshot,
} from 'xstate';

/**
 * What an actor handles in one step: a message taken from its mailbox, or one of its own named
 * timers firing with the payload given to `ctx.setTimer`. Both are traced, so replay re-feeds them.
 */
export type ActorInput<Body = unknown> =
  | { readonly type: 'message'; readonly envelope: Envelope<Body> }
  | { readonly type: 'timer'; readonly name: string; readonly payload: unknown };

/**
 * Options of `ctx.send` and `ctx.reply`: `header` carries protocol data (keyed by protocol name)
 * piggybacked on the envelope beside its body.
 */
export interface SendOptions {
  readonly header?: EnvelopeHeader;
}

/** Options of `ctx.request`: those of `send`, and whether the request is synchronous. */
export interface RequestOptions extends SendOptions {
  /** A synchronous request: the sender waits for the reply before processing anything else. */
  readonly sync?: boolean;
}

/**
 * An actor's only way to reach the world (docs/actors.md, "The context"). The clock, randomness,
 * ids and `call` go through the actor's `Supervisor`, so a replica or `trace replay` gets the values
 * the recorded run took; sends leave only when the step ends (and after its state is durable when
 * the step called `persist()`). Use it only inside a step: reducers get it as an argument, machine
 * actions through `actorContext()`.
 */
export interface ActorContext {
  readonly self: Address;
  readonly actor: ActorId;
  readonly node: NodeId;
  /** The envelope being handled, or undefined while handling a timer or starting. */
  readonly current: Envelope | undefined;
  /** Supervised clock (ms). */
  now(): number;
  /** Supervised randomness in [0, 1). */
  random(): number;
  /** Supervised unique id (nanoid). */
  id(): string;
  /** Any other nondeterministic call, taken once on the primary and replayed elsewhere. */
  call<T>(name: string, fn: () => T): T;
  /** Sends a one-way message. */
  send(target: Address, body: unknown, options?: SendOptions): MessageId;
  /** Sends a request (asynchronous unless `sync`); the reply arrives as a message. */
  request(target: Address, body: unknown, options?: RequestOptions): MessageId;
  /** Replies to `to` (default: the request being handled). Throws if there is no request to answer. */
  reply(body: unknown, options?: SendOptions & { readonly to?: Envelope }): MessageId;
  /** Sets (or resets) the named timer; it fires as a `timer` input carrying `payload`. */
  setTimer(name: string, delayMs: number, payload?: unknown): void;
  cancelTimer(name: string): void;
  /**
   * Saves the actor's state when this step ends. Host contract: persist, then send — the
   * messages this step sent leave only once the state is durable, so no peer ever sees an effect
   * of a state a crash could lose. On restart the host passes the saved state back to `start`.
   */
  persist(): void;
}

/** A running actor, as the router sees it. */
export interface ActorInstance {
  handle(input: ActorInput): void;
  /** The actor's state, for hashing and inspection: plain data. */
  state(): unknown;
  /** What `persist()` saves and `start(ctx, input, restored)` takes back. */
  persisted(): unknown;
  stop(): void;
  /**
   * After `handle` threw (anything but `RejectedInputError`), puts the actor back as it was before
   * that input, so that a host refusing the failed input can go on with it. What the input's step
   * sent or set meanwhile is the host's to undo. A `fromMachine` actor restarts its machine from
   * the snapshot from before the input and takes back the delays (`after`) it had pending then,
   * under their timer names: xstate cancelled them when it stopped the failed machine, and the host
   * undoes that cancel with the input's other timer changes. A node never calls it (it stops a
   * failed actor); a replica group does, alike at every replica (docs/replication.md, "A failed
   * input"). Optional: a replica group starts an actor without it again from what `persisted()`
   * returned before the input.
   */
  recover?(): void;
}

/**
 * A kind of actor: what `defineActor` and `fromMachine` return and `node.spawn` starts. One behavior
 * starts any number of instances; `kind` must be unique within an `ActorRegistry`.
 */
export interface ActorBehavior {
  /** A stable name, recorded in traces so `trace replay` can rebuild the actor from a registry. */
  readonly kind: string;
  /** Starts the actor; `restored` is the state it last persisted, when it restarts after a crash. */
  start(ctx: ActorContext, input: unknown, restored?: unknown): ActorInstance;
}

/** Behaviors by kind, for `trace replay` and for spawning actors named in configuration. */
export type ActorRegistry = ReadonlyMap<string, ActorBehavior>;

/**
 * Builds an `ActorRegistry` from behaviors. Two behaviors with the same `kind` are a programmer
 * error and throw, because replay could not tell which one a trace means.
 */
export function actorRegistry(behaviors: readonly ActorBehavior[]): ActorRegistry {
  const registry = new Map<string, ActorBehavior>();
  for (const behavior of behaviors) {
    if (registry.has(behavior.kind)) throw new Error(`two actor behaviors share the kind '${behavior.kind}'`);
    registry.set(behavior.kind, behavior);
  }
  return registry;
}

let currentContext: ActorContext | undefined;

/**
 * The context of the actor whose input is being handled right now. Machine actions call this to
 * send, reply or read the supervised clock. Throws outside an actor's step: reaching for the
 * clock from elsewhere would escape the supervisor.
 */
export function actorContext(): ActorContext {
  if (currentContext === undefined) {
    throw new Error(
      'actorContext() called outside an actor step: effects must happen while handling an input',
    );
  }
  return currentContext;
}

/** Runs `step` with `ctx` as the ambient actor context (re-entrancy safe). */
export function withActorContext<T>(ctx: ActorContext, step: () => T): T {
  const previous = currentContext;
  currentContext = ctx;
  try {
    return step();
  } finally {
    currentContext = previous;
  }
}

/**
 * What `defineActor` takes: a `kind`, the `initial` state and `handle(state, input, ctx)` returning
 * the next state, with effects only through `ctx`. State must be plain data: it is hashed into
 * traces and persisted.
 */
export interface ReducerDefinition<State, Body> {
  readonly kind: string;
  initial(ctx: ActorContext, input: unknown): State;
  handle(state: State, input: ActorInput<Body>, ctx: ActorContext): State;
  /** Turns a persisted state back into a live one (default: use it as is). */
  restore?(persisted: unknown, ctx: ActorContext, input: unknown): State;
}

/** An actor from a reducer: the simplest way to write one. */
export function defineActor<State, Body = unknown>(
  definition: ReducerDefinition<State, Body>,
): ActorBehavior {
  return {
    kind: definition.kind,
    start(ctx, input, restored) {
      let state = withActorContext(ctx, () => {
        if (restored === undefined) return definition.initial(ctx, input);
        return definition.restore === undefined
          ? (restored as State)
          : definition.restore(restored, ctx, input);
      });
      return {
        handle(actorInput) {
          state = withActorContext(ctx, () => definition.handle(state, actorInput as ActorInput<Body>, ctx));
        },
        state: () => state,
        persisted: () => state,
        stop() {},
        // A reducer that throws never returned its next state: the state is still the one before.
        recover() {},
      };
    },
  };
}

/**
 * Thrown by a `fromMachine` actor whose machine has failed (one of its actions threw). The node
 * notes it in the trace and stops that actor instead of crashing; the other actors go on. A
 * failure while starting also makes `node.spawn` throw it.
 */
export class ActorFailedError extends Error {
  override readonly name = 'ActorFailedError';
}

/**
 * Thrown by an actor for an input it refuses (a body that is no event of its machine, an
 * xstate-internal event type). The node counts it as a `rejected-input` drop and the actor goes
 * on: a peer must not be able to stop an actor by sending it garbage.
 */
export class RejectedInputError extends Error {
  override readonly name = 'RejectedInputError';
}

/**
 * What an error an actor threw says, as text, whatever was thrown: an `Error`'s message, or the
 * value as a string. Never throws itself: an actor may throw a value whose conversion throws (a
 * null-prototype object, a throwing `toString` or `message` getter), and the host that reports the
 * failure must not fail on it.
 */
export function errorText(error: unknown): string {
  try {
    return error instanceof Error ? String(error.message) : String(error);
  } catch {
    return `a thrown ${typeof error} that has no text`;
  }
}

/** Timer names under which a machine actor's xstate `after` delays run. */
export const DELAYED_TIMER_PREFIX = 'xstate.after#';

/**
 * A delay a machine scheduled for itself (`after`, a delayed `raise`), as xstate's scheduler holds
 * it: what `recover` needs to schedule it again on the restarted machine, and the number of the
 * input whose handling scheduled it (0: the machine's start).
 */
interface ScheduledDelay {
  readonly event: EventObject;
  readonly delay: number;
  readonly id: string;
  readonly input: number;
}

/**
 * The delay xstate's scheduler has just added for `machine` itself (it adds the event, then asks the
 * clock for a timer), found as the one no timer carries yet; undefined for a child actor's delay.
 */
function lastScheduledBy(
  machine: AnyActorRef,
  known: ReadonlyMap<string, ScheduledDelay>,
  input: number,
): ScheduledDelay | undefined {
  const carried = new Set<string>();
  for (const delay of known.values()) carried.add(delay.id);
  let found: ScheduledDelay | undefined;
  for (const scheduled of Object.values(machine.system.getSnapshot()._scheduledEvents)) {
    if (scheduled.source !== machine || scheduled.target !== machine || carried.has(scheduled.id)) continue;
    found = { event: scheduled.event, delay: scheduled.delay, id: scheduled.id, input };
  }
  return found;
}

/** Options of `fromMachine`: how an input becomes the machine's event (default `defaultToEvent`). */
export interface MachineOptions {
  /** Turns an input into the machine's event. Default: a message's body (which must have a string
   *  `type`), or a timer's payload if it has one, else `{ type: timerName }`. */
  readonly toEvent?: (input: ActorInput) => EventObject;
}

function hasType(value: unknown): value is EventObject {
  return (
    typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string'
  );
}

/**
 * How `fromMachine` turns an input into an event by default: a timer's payload if it has a string
 * `type`, else `{ type: timerName }`; a message's body as it is. A body without a string `type`, or
 * with a reserved `xstate.*` type, throws `RejectedInputError`, which the node counts as a
 * `rejected-input` drop: a peer must not be able to stop an actor with garbage.
 */
export function defaultToEvent(input: ActorInput): EventObject {
  if (input.type === 'timer') return hasType(input.payload) ? input.payload : { type: input.name };
  const body = input.envelope.body;
  if (!hasType(body)) {
    throw new RejectedInputError(`message body has no string 'type', so it is no machine event`);
  }
  // xstate reserves `xstate.*` events (`xstate.stop` stops the actor): never from the network.
  if (body.type.startsWith('xstate.')) {
    throw new RejectedInputError(`message body has the reserved event type '${body.type}'`);
  }
  return body;
}

/**
 * An actor from an xstate v5 machine. The machine runs as an ordinary xstate actor; each input
 * is sent to it synchronously inside the actor context, so its actions can call `actorContext()`.
 * An action that throws stops the actor with an `ActorFailedError` instead of crashing the node.
 * An event no transition of the machine's current state takes (which xstate would drop without a
 * word) is refused with `RejectedInputError`: a node counts it as a `rejected-input` drop, and a
 * replica group answers such a request with a `RefusedReply`, so no caller waits for a reply that
 * cannot come. A transition that changes nothing (only actions, or none) is taken, not refused.
 */
export function fromMachine(
  kind: string,
  machine: AnyStateMachine,
  options: MachineOptions = {},
): ActorBehavior {
  const toEvent = options.toEvent ?? defaultToEvent;
  return {
    kind,
    start(ctx, input, restored) {
      let failure: unknown;
      // xstate's own delayed transitions (`after`) run on the actor's runtime timers: each delay
      // becomes a named timer input (`xstate.after#<n>`, numbered per instance, so a replay names
      // them alike), traced and handled inside an actor step like any other input.
      let nextDelayNumber = 0;
      const delayedCallbacks = new Map<string, () => void>();
      // For `recover`: what xstate scheduled under each delay's timer, the machine's own delays only
      // (a child actor's are its own), and the delays the current input cancelled. A machine that
      // fails is stopped by xstate, which cancels every delay it had pending; the restarted one must
      // take those back, or an `after` pending at a failed input would never fire.
      const delayedEvents = new Map<string, ScheduledDelay>();
      let cancelledThisInput: Map<string, ScheduledDelay> | undefined;
      let inputNumber = 0;
      let running: AnyActorRef | undefined;
      // Set by `recover` while it schedules a delay again: the timer it keeps running under its name.
      let adopting: string | undefined;
      const xstateClock = {
        setTimeout: (callback: () => void, delayMs: number) => {
          if (adopting !== undefined) {
            const name = adopting;
            adopting = undefined;
            delayedCallbacks.set(name, callback);
            return name;
          }
          const name = `${DELAYED_TIMER_PREFIX}${++nextDelayNumber}`;
          delayedCallbacks.set(name, callback);
          const scheduled =
            running === undefined ? undefined : lastScheduledBy(running, delayedEvents, inputNumber);
          if (scheduled !== undefined) delayedEvents.set(name, scheduled);
          ctx.setTimer(name, delayMs);
          return name;
        },
        clearTimeout: (name: unknown) => {
          if (typeof name !== 'string' || !delayedCallbacks.delete(name)) return;
          const scheduled = delayedEvents.get(name);
          if (scheduled !== undefined) {
            delayedEvents.delete(name);
            (cancelledThisInput ??= new Map()).set(name, scheduled);
          }
          ctx.cancelTimer(name);
        },
      };
      const startMachine = (snapshot: unknown) => {
        const started = createActor(machine, {
          input,
          ...(snapshot === undefined ? {} : { snapshot: snapshot as Snapshot<unknown> }),
          clock: xstateClock,
        });
        running = started;
        started.subscribe({
          error: (error) => {
            failure = error;
          },
        });
        withActorContext(ctx, () => started.start());
        return started;
      };
      let actor = startMachine(restored);
      const check = () => {
        if (failure !== undefined) {
          throw new ActorFailedError(`actor ${ctx.self} (${kind}) failed: ${errorText(failure)}`);
        }
      };
      check();
      return {
        handle(actorInput) {
          check();
          cancelledThisInput = undefined;
          inputNumber++;
          const delayed = actorInput.type === 'timer' ? delayedCallbacks.get(actorInput.name) : undefined;
          if (delayed !== undefined && actorInput.type === 'timer') {
            delayedCallbacks.delete(actorInput.name);
            delayedEvents.delete(actorInput.name);
            withActorContext(ctx, delayed);
            check();
            return;
          }
          const event = toEvent(actorInput);
          const before = actor.getSnapshot() as AnyMachineSnapshot;
          withActorContext(ctx, () => actor.send(event));
          check();
          // xstate drops an event no transition of the current state takes, silently: a caller
          // waiting for the reply would never learn why none comes. An unchanged snapshot is the
          // cheap sign (a transition that changed nothing leaves it too); `can` then tells the two
          // apart, so the common path pays nothing. Nothing ran, so refusing it changes nothing.
          if (actor.getSnapshot() === before && !withActorContext(ctx, () => before.can(event)))
            throw new RejectedInputError(
              `no transition of machine '${machine.id}' takes event '${event.type}' in state ${JSON.stringify(before.value)}`,
            );
        },
        state() {
          const snapshot = actor.getSnapshot() as { value: unknown; context: unknown };
          return { value: snapshot.value, context: snapshot.context };
        },
        persisted: () => actor.getPersistedSnapshot(),
        stop() {
          actor.stop();
        },
        recover() {
          if (failure === undefined) return;
          // xstate keeps the snapshot from before the event whose action threw, marked `error`: the
          // machine restarts from it as it was (a restored machine runs no entry actions again, and
          // schedules no delay).
          const { error: _error, ...before } = actor.getPersistedSnapshot() as Record<string, unknown>;
          failure = undefined;
          actor = startMachine({ ...before, status: 'active' });
          // The delays pending before the failed input take their timers back, under their names:
          // the host undoes the failed input's timer changes (a replica does: docs/replication.md, "A
          // failed input"), so each fires when it would have. One the failed input set is gone with
          // the input's other effects.
          const cancelled = cancelledThisInput;
          cancelledThisInput = undefined;
          for (const [name, scheduled] of cancelled ?? []) {
            if (scheduled.input === inputNumber) continue;
            adopting = name;
            actor.system.scheduler.schedule(actor, actor, scheduled.event, scheduled.delay, scheduled.id);
            adopting = undefined;
            delayedEvents.set(name, scheduled);
          }
        },
      };
    },
  };
}
