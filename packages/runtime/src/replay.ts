/**
 * Trace replay: re-drives the recorded actors from a trace and reports the first divergence.
 *
 * Each recorded step (an actor's start, a delivery, a timer firing) is fed to a fresh instance of
 * the actor's behavior, taken from a registry by the kind recorded at spawn. The actor's supervisor
 * runs in replay mode with the values the recorded run took, so the clock, randomness and ids are
 * those of the recording. After each step the replay compares, in order:
 *   1. the messages the actor sent with the `send` events recorded for that step,
 *   2. the supervised values it consumed with those recorded,
 *   3. its state hash with the recorded `state` event.
 * A mismatch is a divergence, reported with the index of the recorded event it concerns and the
 * expected and actual values. The replayed actor's sends are captured, never transmitted, and they
 * are given the recorded message ids, so an actor that remembers ids behaves as it did.
 */
import {
  addressNode,
  address as makeAddress,
  messageKey,
  stableHash,
  type ActorId,
  type Envelope,
  type MessageId,
  type NodeId,
} from '@steadfast/wire';
import {
  RejectedInputError,
  errorText,
  type ActorInput,
  type ActorInstance,
  type ActorRegistry,
} from './actor.js';
import { SimulatedClock } from './clock.js';
import { createActorContext, type OutgoingEnvelope } from './context.js';
import { entropyFrom } from './entropy.js';
import { Supervisor, type SupervisedValue } from './supervisor.js';
import type { TraceEvent } from './trace.js';

/**
 * What differed: a sent message (`send`), one recorded but not sent (`missing-send`) or sent but not
 * recorded (`extra-send`), the state hash, the supervised values consumed, a step that threw
 * (`failure`), or a spawn whose kind the registry lacks (`unknown-kind`).
 */
export type DivergenceKind =
  'send' | 'missing-send' | 'extra-send' | 'state' | 'supervised' | 'failure' | 'unknown-kind';

/** One place where the replay and the recording part, with both sides described as text. */
export interface Divergence {
  /** Index (0-based) of the recorded event where replay and recording part. */
  readonly eventIndex: number;
  readonly node: NodeId;
  readonly actor: ActorId;
  readonly kind: DivergenceKind;
  readonly expected: string;
  readonly actual: string;
}

/** What `replayTrace` found: zero `divergences` means the actors replayed as recorded. */
export interface ReplayReport {
  /** Recorded events checked (steps, sends, supervised values and states of replayed actors). */
  readonly events: number;
  /** Steps re-driven. */
  readonly steps: number;
  readonly divergences: number;
  readonly firstDivergence: Divergence | null;
  /** The first divergences, bounded by `divergencesMax`. */
  readonly divergenceList: readonly Divergence[];
}

/** Options of `replayTrace`; `registry` must hold a behavior for every actor kind to replay. */
export interface ReplayOptions {
  readonly registry: ActorRegistry;
  /** Replay only this node's actors (default: every node in the trace). */
  readonly node?: string;
  /** Stop after this many divergences (default 100): later ones are usually consequences. */
  readonly divergencesMax?: number;
}

type StepEvent = Extract<TraceEvent, { type: 'spawn' | 'deliver' | 'timer' }>;
type SendEvent = Extract<TraceEvent, { type: 'send' }>;

interface StepRecord {
  readonly index: number;
  readonly event: StepEvent;
  readonly sends: Array<{ index: number; event: SendEvent }>;
  readonly supervised: Array<{ index: number; value: SupervisedValue }>;
  state: { index: number; hash: string } | undefined;
}

interface ReplayedActor {
  instance: ActorInstance | undefined;
  readonly supervisor: Supervisor;
  current: Envelope | undefined;
  captured: OutgoingEnvelope[];
  expectedIds: MessageId[];
  synthesizedSequence: number;
}

function actorKey(node: NodeId, actor: ActorId): string {
  return `${node}/${actor}`;
}

/** Groups the trace into steps, each with the sends, supervised values and state that followed it. */
function collectSteps(events: readonly TraceEvent[], onlyNode: string | undefined): StepRecord[] {
  const steps: StepRecord[] = [];
  const lastStep = new Map<string, StepRecord>();
  events.forEach((event, index) => {
    if (onlyNode !== undefined && event.node !== onlyNode) return;
    switch (event.type) {
      case 'spawn':
      case 'deliver':
      case 'timer': {
        const step: StepRecord = { index, event, sends: [], supervised: [], state: undefined };
        steps.push(step);
        lastStep.set(actorKey(event.node, event.actor), step);
        return;
      }
      case 'send':
        if (event.actor !== undefined)
          lastStep.get(actorKey(event.node, event.actor))?.sends.push({ index, event });
        return;
      case 'supervised': {
        const value: SupervisedValue =
          event.name === undefined
            ? { kind: event.kind, value: event.value }
            : { kind: event.kind, name: event.name, value: event.value };
        lastStep.get(actorKey(event.node, event.actor))?.supervised.push({ index, value });
        return;
      }
      case 'state': {
        const step = lastStep.get(actorKey(event.node, event.actor));
        if (step !== undefined && step.state === undefined) step.state = { index, hash: event.hash };
        return;
      }
      case 'stop':
        lastStep.delete(actorKey(event.node, event.actor));
        return;
      default:
        return;
    }
  });
  return steps;
}

function describeSend(envelope: Envelope | OutgoingEnvelope): string {
  const reply = 'inReplyTo' in envelope ? ` inReplyTo=${messageKey(envelope.inReplyTo)}` : '';
  return `${envelope.kind} → ${envelope.target}${reply} body=${JSON.stringify(envelope.body)}`;
}

function sameSend(expected: Envelope, actual: OutgoingEnvelope): boolean {
  if (expected.kind !== actual.kind || expected.target !== actual.target || expected.source !== actual.source)
    return false;
  const expectedReply = 'inReplyTo' in expected ? messageKey(expected.inReplyTo) : '';
  const actualReply = 'inReplyTo' in actual ? messageKey(actual.inReplyTo) : '';
  if (expectedReply !== actualReply) return false;
  return (
    stableHash([expected.body, expected.header ?? null]) === stableHash([actual.body, actual.header ?? null])
  );
}

/**
 * Replays the actors of a trace and reports where they diverge (see the module comment); it sends
 * nothing and reads no real clock or randomness. An actor whose step throws, or whose kind the
 * registry lacks, is replayed no further; after any other divergence its replay goes on. Actors
 * spawned before the trace began are skipped. Every divergence is counted, the first
 * `divergencesMax` listed.
 */
export function replayTrace(events: readonly TraceEvent[], options: ReplayOptions): ReplayReport {
  const divergencesMax = options.divergencesMax ?? 100;
  const divergences: Divergence[] = [];
  let divergenceCount = 0;
  let checked = 0;
  const actors = new Map<string, ReplayedActor>();
  // Replay never reads a real source: a supervisor in replay mode throws rather than consult these.
  const inert = { clock: new SimulatedClock(), entropy: entropyFrom(() => 0) };

  const diverge = (divergence: Divergence) => {
    divergenceCount++;
    if (divergences.length < divergencesMax) divergences.push(divergence);
  };

  const steps = collectSteps(events, options.node);
  for (const step of steps) {
    const { event } = step;
    const key = actorKey(event.node, event.actor);
    const where = { node: event.node, actor: event.actor };
    checked += 1 + step.sends.length + step.supervised.length + (step.state === undefined ? 0 : 1);
    let replayed = actors.get(key);
    if (event.type === 'spawn') {
      replayed = {
        instance: undefined,
        supervisor: new Supervisor(inert, 'replay'),
        current: undefined,
        captured: [],
        expectedIds: [],
        synthesizedSequence: 0,
      };
      actors.set(key, replayed);
    }
    if (replayed === undefined) continue; // the actor was spawned before the trace began
    const actor = replayed;
    actor.captured = [];
    actor.expectedIds = step.sends.map((send) => send.event.envelope.id);
    actor.supervisor.feed(step.supervised.map((entry) => entry.value));
    try {
      if (event.type === 'spawn') {
        const behavior = options.registry.get(event.kind);
        if (behavior === undefined) {
          diverge({
            eventIndex: step.index,
            ...where,
            kind: 'unknown-kind',
            expected: event.kind,
            actual: 'no such kind in the registry',
          });
          actors.delete(key);
          continue;
        }
        const context = createActorContext({
          self: makeAddress(event.node, event.actor),
          actor: event.actor,
          node: event.node,
          supervisor: actor.supervisor,
          current: () => actor.current,
          emit: (outgoing: OutgoingEnvelope) => {
            actor.captured.push(outgoing);
            const id = actor.expectedIds[actor.captured.length - 1];
            return (
              id ?? {
                origin: addressNode(outgoing.source),
                incarnation: -1,
                sequence: ++actor.synthesizedSequence,
              }
            );
          },
          setTimer: () => {},
          cancelTimer: () => {},
          persist: () => {},
        });
        actor.instance = behavior.start(context, event.input, event.restored);
      } else if (actor.instance !== undefined) {
        const input: ActorInput =
          event.type === 'deliver'
            ? { type: 'message', envelope: event.envelope }
            : { type: 'timer', name: event.name, payload: event.payload };
        actor.current = event.type === 'deliver' ? event.envelope : undefined;
        try {
          actor.instance.handle(input);
        } catch (error) {
          // A refused input is what the node recorded too: a counted drop, the step's sends
          // withheld, the state as before. Any other error is a divergence (below).
          if (!(error instanceof RejectedInputError)) throw error;
          actor.captured = [];
        } finally {
          actor.current = undefined;
        }
      }
    } catch (error) {
      diverge({
        eventIndex: step.index,
        ...where,
        kind: error instanceof Error && error.name === 'SupervisorReplayError' ? 'supervised' : 'failure',
        expected: 'the step completes as recorded',
        actual: errorText(error),
      });
      actors.delete(key);
      continue;
    }
    compareStep(step, actor, where, diverge);
  }
  return {
    events: checked,
    steps: steps.length,
    divergences: divergenceCount,
    firstDivergence: divergences[0] ?? null,
    divergenceList: divergences,
  };
}

function compareStep(
  step: StepRecord,
  actor: ReplayedActor,
  where: { node: NodeId; actor: ActorId },
  diverge: (divergence: Divergence) => void,
): void {
  const sendCount = Math.max(step.sends.length, actor.captured.length);
  for (let position = 0; position < sendCount; position++) {
    const expected = step.sends[position];
    const actual = actor.captured[position];
    if (expected !== undefined && actual !== undefined) {
      if (!sameSend(expected.event.envelope, actual)) {
        diverge({
          eventIndex: expected.index,
          ...where,
          kind: 'send',
          expected: describeSend(expected.event.envelope),
          actual: describeSend(actual),
        });
        return;
      }
    } else if (expected !== undefined) {
      diverge({
        eventIndex: expected.index,
        ...where,
        kind: 'missing-send',
        expected: describeSend(expected.event.envelope),
        actual: 'no message sent',
      });
      return;
    } else if (actual !== undefined) {
      diverge({
        eventIndex: step.index,
        ...where,
        kind: 'extra-send',
        expected: 'no further message',
        actual: describeSend(actual),
      });
      return;
    }
  }
  const leftover = actor.supervisor.pendingReplayCount();
  if (leftover > 0) {
    const first = step.supervised[step.supervised.length - leftover]!;
    diverge({
      eventIndex: first.index,
      ...where,
      kind: 'supervised',
      expected: `${step.supervised.length} supervised values consumed`,
      actual: `${step.supervised.length - leftover} consumed`,
    });
    // Discard the unconsumed values so the next step starts clean.
    actor.supervisor.discardReplay();
    return;
  }
  if (step.state !== undefined && actor.instance !== undefined) {
    const actualHash = stableHash(actor.instance.state());
    if (actualHash !== step.state.hash) {
      diverge({
        eventIndex: step.state.index,
        ...where,
        kind: 'state',
        expected: step.state.hash,
        actual: actualHash,
      });
    }
  }
}
