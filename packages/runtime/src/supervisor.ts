/**
 * The replica supervisor (seed `replica-supervisors.txt`): the one door through which an actor
 * reaches the clock, randomness, id generation and any other nondeterministic call.
 *
 * - `live`: take the real value.
 * - `record`: take the real value and log it. A primary replica runs in this mode; the logged
 *   values travel to the backups (piggybacked by the replication layer) and into traces.
 * - `replay`: never touch the real source; return the logged values in order. A backup replica
 *   runs in this mode, and so does `steadfast trace replay`. Asking for a value of another kind
 *   than the log holds next, or for more values than it holds, is a divergence: it throws
 *   `SupervisorReplayError`, which the caller reports with the position.
 */
import type { Clock } from './clock.js';
import type { Entropy } from './entropy.js';

/** Which `ActorContext` call took a supervised value: `now`, `random`, `id` or `call`. */
export type SupervisedKind = 'now' | 'random' | 'id' | 'call';

/** One nondeterministic result, as taken on the primary (or in the recorded run). */
export interface SupervisedValue {
  readonly kind: SupervisedKind;
  /** For `call`: the name the actor gave the call, checked on replay. */
  readonly name?: string;
  readonly value: unknown;
}

/**
 * Where a supervisor takes values from: the real sources (`live`), the real sources while logging
 * them (`record`), or its log (`replay`).
 */
export type SupervisorMode = 'live' | 'record' | 'replay';

/**
 * A divergence in replay mode: the actor asked for a value of another kind (or another `call`
 * name) than the log holds next, or for more values than it holds. `expected` is the logged value
 * (undefined past the end), `requested` what the actor asked for.
 */
export class SupervisorReplayError extends Error {
  override readonly name = 'SupervisorReplayError';
  constructor(
    readonly expected: SupervisedValue | undefined,
    readonly requested: { kind: SupervisedKind; name?: string },
  ) {
    super(
      expected === undefined
        ? `replay asked for a '${requested.kind}' value but the log has no more values`
        : `replay asked for '${requested.kind}${requested.name ? `:${requested.name}` : ''}' but the log holds '${expected.kind}${expected.name ? `:${expected.name}` : ''}' next`,
    );
  }
}

/** The real sources a supervisor reads in `live` and `record` mode; `replay` mode never reads them. */
export interface SupervisorSources {
  readonly clock: Clock;
  readonly entropy: Entropy;
}

/** Bound on values kept while recording and not yet drained: a recording nobody drains is a bug. */
export const SUPERVISOR_LOG_MAX = 100_000;

/**
 * An actor's supervisor (see the modes above). Each real value it takes goes to `onTake` (the node's
 * trace); in `record` mode it is also logged until `drainRecorded()`, at most `SUPERVISOR_LOG_MAX`
 * values (past that it throws: nobody is draining). Values `feed`-ed for replay are served first in
 * any mode, so a backup promoted with `setMode('record')` still consumes its old primary's values.
 */
export class Supervisor {
  private mode: SupervisorMode;
  private recorded: SupervisedValue[] = [];
  private replayQueue: SupervisedValue[] = [];
  private replayHead = 0;

  constructor(
    private readonly sources: SupervisorSources,
    mode: SupervisorMode = 'live',
    /** Called with every real value taken (live or record mode): the trace hook. */
    private readonly onTake?: (value: SupervisedValue) => void,
  ) {
    this.mode = mode;
  }

  get currentMode(): SupervisorMode {
    return this.mode;
  }

  /**
   * Switches mode. A backup promoted to primary goes from `replay` to `record`: values still
   * queued for replay are kept and served first, because the old primary took them for
   * messages the new primary must process identically.
   */
  setMode(mode: SupervisorMode): void {
    this.mode = mode;
  }

  now(): number {
    return this.take('now', undefined, () => this.sources.clock.now()) as number;
  }

  random(): number {
    return this.take('random', undefined, () => this.sources.entropy.random()) as number;
  }

  id(): string {
    return this.take('id', undefined, () => this.sources.entropy.id()) as string;
  }

  /** Runs a nondeterministic `fn` on the primary; on a backup, returns what the primary got. */
  call<T>(name: string, fn: () => T): T {
    return this.take('call', name, fn) as T;
  }

  /** Takes the values recorded since the last drain (record mode). */
  drainRecorded(): SupervisedValue[] {
    const values = this.recorded;
    this.recorded = [];
    return values;
  }

  /** Queues values for replay, in the order the primary took them. */
  feed(values: readonly SupervisedValue[]): void {
    for (const value of values) this.replayQueue.push(value);
  }

  /** Drops values fed but not consumed (after a reported divergence). */
  discardReplay(): void {
    this.replayQueue = [];
    this.replayHead = 0;
  }

  /** Number of values fed but not yet consumed. */
  pendingReplayCount(): number {
    return this.replayQueue.length - this.replayHead;
  }

  private take(kind: SupervisedKind, name: string | undefined, real: () => unknown): unknown {
    if (this.replayHead < this.replayQueue.length || this.mode === 'replay') {
      return this.takeReplayed(kind, name);
    }
    const value = real();
    const record: SupervisedValue = name === undefined ? { kind, value } : { kind, name, value };
    if (this.mode === 'record') {
      if (this.recorded.length >= SUPERVISOR_LOG_MAX) {
        throw new Error(
          `supervisor log holds ${SUPERVISOR_LOG_MAX} undrained values: drainRecorded() is never called`,
        );
      }
      this.recorded.push(record);
    }
    this.onTake?.(record);
    return value;
  }

  private takeReplayed(kind: SupervisedKind, name: string | undefined): unknown {
    const next = this.replayQueue[this.replayHead];
    if (next === undefined || next.kind !== kind || next.name !== name) {
      throw new SupervisorReplayError(next, name === undefined ? { kind } : { kind, name });
    }
    this.replayHead++;
    if (this.replayHead === this.replayQueue.length) {
      this.replayQueue = [];
      this.replayHead = 0;
    }
    return next.value;
  }
}
