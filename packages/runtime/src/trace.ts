/**
 * Trace events: the one observability stream (house style rule 14). Every node can record what
 * it sends, delivers, drops, which timers fire, which supervised values its actors take and the
 * hash of each actor's state after each step. Traces are written to files (see trace-file.ts and
 * docs/trace-format.md) and re-driven by `replayTrace` (replay.ts).
 *
 * Events carry no wall-clock data beyond `at`, the node's clock reading: in the simulator that is
 * virtual time, so the same seed gives a byte-identical trace.
 */
import type { ActorId, Envelope, NodeId } from '@steadfast/wire';
import type { SupervisedKind } from './supervisor.js';

/**
 * One event of the trace stream (docs/trace-format.md, "Events", says what each type means). `at`
 * is the node's clock in ms; `supervised`, `send` and `state` events follow the step (`spawn`,
 * `deliver` or `timer`) that produced them, which replay relies on.
 */
export type TraceEvent =
  | {
      readonly type: 'spawn';
      readonly at: number;
      readonly node: NodeId;
      readonly actor: ActorId;
      readonly kind: string;
      readonly input: unknown;
      /** The persisted state the actor was restarted from, when it was. */
      readonly restored?: unknown;
    }
  | {
      readonly type: 'stop';
      readonly at: number;
      readonly node: NodeId;
      readonly actor: ActorId;
      readonly reason: string;
    }
  | {
      readonly type: 'send';
      readonly at: number;
      readonly node: NodeId;
      readonly actor?: ActorId;
      readonly envelope: Envelope;
    }
  | {
      readonly type: 'deliver';
      readonly at: number;
      readonly node: NodeId;
      readonly actor: ActorId;
      readonly envelope: Envelope;
    }
  | {
      readonly type: 'timer';
      readonly at: number;
      readonly node: NodeId;
      readonly actor: ActorId;
      readonly name: string;
      readonly payload: unknown;
    }
  | {
      readonly type: 'supervised';
      readonly at: number;
      readonly node: NodeId;
      readonly actor: ActorId;
      readonly kind: SupervisedKind;
      readonly name?: string;
      readonly value: unknown;
    }
  | {
      readonly type: 'state';
      readonly at: number;
      readonly node: NodeId;
      readonly actor: ActorId;
      readonly hash: string;
    }
  | {
      readonly type: 'drop';
      readonly at: number;
      readonly node: NodeId;
      readonly reason: string;
      readonly detail: string;
      readonly actor?: ActorId;
    }
  | {
      readonly type: 'fault';
      readonly at: number;
      readonly node?: NodeId;
      readonly fault: string;
      readonly detail: string;
    }
  | { readonly type: 'note'; readonly at: number; readonly node?: NodeId; readonly text: string };

/** The `type` of a trace event: `spawn`, `stop`, `send`, `deliver`, `timer`, and so on. */
export type TraceEventType = TraceEvent['type'];

/**
 * Where a node records its trace events: in memory (`MemoryTrace`), to a file (`TraceFileWriter`),
 * to several (`FanOutTrace`). `record` is called synchronously, as things happen, in their order.
 */
export interface TraceSink {
  record(event: TraceEvent): void;
}

/** Keeps events in memory, bounded: past `eventsMax` it counts and drops, and says so. */
export class MemoryTrace implements TraceSink {
  readonly events: TraceEvent[] = [];
  droppedCount = 0;

  constructor(readonly eventsMax = 5_000_000) {}

  record(event: TraceEvent): void {
    if (this.events.length >= this.eventsMax) {
      this.droppedCount++;
      return;
    }
    this.events.push(event);
  }
}

/** Sends each event to several sinks (a file and the live inspector, say). */
export class FanOutTrace implements TraceSink {
  constructor(private readonly sinks: readonly TraceSink[]) {}
  record(event: TraceEvent): void {
    for (const sink of this.sinks) sink.record(event);
  }
}
