/**
 * The cluster harness, after TigerBeetle's VOPR and FoundationDB's simulation: whole clusters of
 * real `Node`s in one process, on one virtual clock and one simulated network, every choice drawn
 * from one seeded PRNG, so a seed names one run exactly and a failing seed is a reproducible bug.
 *
 * A run has two phases. In the safety phase the nemesis injects faults (or an explicit schedule
 * does) and the invariants must hold after every event. Then the harness heals the cluster (no
 * partitions, no link faults, no loss, every crashed node restarted) and the liveness phase gives
 * the system time to converge; the `liveness` checks must hold at its end.
 *
 * Host contract, per event: the clock fires one timer (a datagram arriving, a node's drain, an
 * actor timer, a fault); then every pending promise continuation runs (stores and `request()`
 * resolve through promises); then every invariant runs. A violation stops the run.
 */
import {
  encodeTrace,
  entropyFrom,
  MemoryTrace,
  Node,
  SimulatedClock,
  traceHash,
  type Clock,
  type TimerHandle,
  type TraceEvent,
  type TraceSink,
} from '@steadfast/runtime';
import { createMemoryStore, type Store } from '@steadfast/store';
import { createCodec, nodeId as toNodeId, type Codec, type NodeId } from '@steadfast/wire';
import { zeroFaultCounts, type FaultKind, type FaultSchedule, type ScheduledFault } from './faults.js';
import { defaultIntensity, planFaults, type NemesisOptions } from './nemesis.js';
import { SimNetwork, type LinkConfig, type LinkFault, type SimNetworkCounters } from './network.js';
import { Prng } from './prng.js';
import { replayCommand } from './replay.js';
import { yieldToHost } from './yield.js';

/**
 * What `SimulationOptions.setup` gets besides the `Node`: the node's durable state, which survives
 * its crashes, and whether this is a first start or a restart, so setup can restore actors.
 */
export interface SetupContext {
  /** The node's disk: the same object across crashes and restarts of this node. */
  readonly store: Store;
  /**
   * What the node's actors saved with `ctx.persist()`, by actor name: the same across crashes.
   * Saves are synchronous (durable at once), so the run stays a pure function of the seed.
   * Pass `actorDisk.get(name)` as `restored` when spawning after a restart.
   */
  readonly actorDisk: ReadonlyMap<string, unknown>;
  /** True when the node is being restarted after a crash. */
  readonly restart: boolean;
  /** The node's incarnation: 1 at the first start, one more at each restart. */
  readonly incarnation: number;
  readonly simulation: Simulation;
}

/** Returns the violations it sees, as messages; an empty array when all is well. */
export type Invariant = (simulation: Simulation) => readonly string[];

/**
 * Where a run is: `idle` before `start`, `safety` while faults are injected, `liveness` after the
 * heal, `done` once `run` has returned.
 */
export type SimulationPhase = 'idle' | 'safety' | 'liveness' | 'done';

/**
 * Options of `Simulation`: the cluster, what runs on it, the faults and the checks. A run is a pure
 * function of these options, the seed included. The constructor throws `RangeError` for no nodes,
 * repeated node ids or negative phase lengths, and `InvalidIdError` for a malformed node id.
 */
export interface SimulationOptions {
  /** A non-negative safe integer: the whole run is a function of it and of these options. */
  readonly seed: number;
  /** Node ids; each node's transport endpoint is its id. */
  readonly nodes: readonly string[];
  /** Spawns a node's actors; run at the start and again, with the same store, after each restart. */
  readonly setup: (node: Node, context: SetupContext) => void;
  /** Fault kinds the nemesis may inject. Default none. */
  readonly faults?: readonly FaultKind[];
  /** An explicit schedule that replaces the nemesis (entries at or after `safetyMs` are ignored). */
  readonly schedule?: FaultSchedule;
  readonly nemesis?: NemesisOptions;
  /** Virtual time of the safety phase. Default 10 000 ms. */
  readonly safetyMs?: number;
  /** Virtual time of the liveness phase, after the heal. Default 10 000 ms. */
  readonly livenessMs?: number;
  /** Checked after every event. */
  readonly invariants?: readonly Invariant[];
  /** Checked once, at the end of the liveness phase. */
  readonly liveness?: readonly Invariant[];
  /** Called once after the nodes are set up; it may schedule client requests on the clock. */
  readonly workload?: (simulation: Simulation) => void;
  /** How often the nemesis considers a new fault. Default 100 ms. */
  readonly tickMs?: number;
  /** Link defaults of the simulated network. */
  readonly network?: Partial<LinkConfig>;
  /** Stop after this many events (the CLI's `--steps`). */
  readonly eventsMax?: number;
  /** Events at one virtual instant that make a livelock violation. Default `LIVELOCK_EVENTS_MAX`. */
  readonly livelockEventsMax?: number;
  /** Record the nodes' sends, deliveries, timers and state hashes (default true). Faults are always recorded. */
  readonly trace?: boolean;
  /** Most trace events kept; later ones are dropped and counted (`MemoryTrace`'s default when absent). */
  readonly traceEventsMax?: number;
  /** Hash each actor's state into the trace after every step (default: on when tracing). Costly. */
  readonly hashStates?: boolean;
  /** A node's disk. Default: `createMemoryStore()`. */
  readonly createStore?: (node: string) => Store;
  /** Default: a codec with a fixed test key, the same in every run. */
  readonly codec?: Codec;
  /** Wall clock for `wallMs` in the result; the caller's, since the simulator never reads real time. */
  readonly wallClock?: () => number;
}

/**
 * A failed invariant or liveness check (one per message it returned), or a livelock: when, after
 * how many events, and in which phase.
 */
export interface Violation {
  readonly atMs: number;
  /** The number of events run when the violation was seen. */
  readonly event: number;
  readonly message: string;
  readonly phase: SimulationPhase;
}

/**
 * Why a run stopped: it ran to the end of the liveness phase, a check failed (or it livelocked), or
 * it reached `eventsMax`.
 */
export type StopReason = 'end' | 'violation' | 'events-max';

/**
 * The outcome of `Simulation.run()`: `ok` when no violation was seen, with everything needed to
 * understand and reproduce the run (the trace and its hash, fault and network counters, the replay
 * command). `formatReport` prints it for a person.
 */
export interface SimulationResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly stoppedBy: StopReason;
  /** Clock steps run. */
  readonly events: number;
  readonly simulatedMs: number;
  readonly violations: readonly Violation[];
  /** SHA-256 of the encoded trace: two runs of one seed must give the same hash. */
  readonly traceHash: string;
  readonly trace: MemoryTrace;
  readonly faultsInjected: Readonly<Record<FaultKind, number>>;
  readonly network: SimNetworkCounters;
  readonly replayCommand: string;
  /** Real time the run took, when the caller passed a `wallClock`. */
  readonly wallMs?: number;
}

/**
 * Events at one virtual instant beyond which a run is a livelock (reported as a violation, so a
 * sweep ends instead of hanging): far above the bursts workloads make at one millisecond. With
 * the node's drains bounded (`DRAIN_BATCH_MAX` inputs each), that is millions of inputs.
 */
export const LIVELOCK_EVENTS_MAX = 10_000;

/** The test key of the default codec: fixed, so frames (and so traces) are the same in every run. */
const simulationKey = new Uint8Array(32).fill(0x5a);

/** Whether one incarnation of a node is still alive; its clock and trace go quiet when it dies. */
interface Life {
  alive: boolean;
}

const deadTimer: TimerHandle = { timerId: -1 };

/**
 * One incarnation's view of the shared clock. A crash cancels every timer it set, and timers it
 * tries to set afterwards (from promise continuations of the dead node) never fire, so a crashed
 * node can do nothing more: no graceful close, nothing the network could see.
 */
class IncarnationClock implements Clock {
  private readonly live = new Set<number>();

  constructor(
    private readonly clock: SimulatedClock,
    private readonly life: Life,
  ) {}

  now(): number {
    return this.clock.now();
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    if (!this.life.alive) return deadTimer;
    const handle = this.clock.setTimer(delayMs, () => {
      this.live.delete(handle.timerId);
      callback();
    });
    this.live.add(handle.timerId);
    return handle;
  }

  clearTimer(handle: TimerHandle): void {
    // Only timers still pending reach the clock, so its cancelled set never holds fired timers.
    if (this.live.delete(handle.timerId)) this.clock.clearTimer(handle);
  }

  kill(): void {
    this.life.alive = false;
    for (const timerId of this.live) this.clock.clearTimer({ timerId });
    this.live.clear();
  }
}

interface NodeSlot {
  readonly id: NodeId;
  readonly store: Store;
  readonly actorDisk: Map<string, unknown>;
  incarnation: number;
  node: Node | undefined;
  clock: IncarnationClock | undefined;
}

/**
 * One simulated cluster run: real `Node`s on one `SimulatedClock` and one `SimNetwork`, with faults
 * from the nemesis or an explicit schedule, every choice drawn from one `Prng` built from the seed.
 * `run()` does the whole run (safety phase, heal, liveness phase) and returns a `SimulationResult`;
 * tests that need finer control call `start`, `runUntil`, `crash`, `restart` and `heal` themselves.
 * docs/simulator.md describes the phases and the determinism rules code under test must follow.
 */
export class Simulation {
  readonly seed: number;
  readonly nodeIds: readonly NodeId[];
  readonly clock = new SimulatedClock();
  readonly network: SimNetwork;
  readonly trace: MemoryTrace;
  readonly faults: readonly FaultKind[];
  readonly safetyMs: number;
  readonly livenessMs: number;
  private readonly prng: Prng;
  private readonly codec: Codec;
  private readonly slots = new Map<string, NodeSlot>();
  private readonly invariants: readonly Invariant[];
  private readonly faultCounts = zeroFaultCounts();
  private readonly violationsSeen: Violation[] = [];
  private currentPhase: SimulationPhase = 'idle';
  private eventsRun = 0;
  private started = false;
  private stopReason: StopReason | undefined;
  /** Events run at the current virtual instant (`instantMs`), to tell a livelock. */
  private eventsThisInstant = 0;
  private instantMs = -1;
  /** Grows at each heal, so the end timers of faults injected before it do nothing after it. */
  private faultEpoch = 0;
  private partitionToken = 0;

  constructor(private readonly options: SimulationOptions) {
    this.seed = options.seed;
    this.prng = new Prng(options.seed);
    if (options.nodes.length === 0) throw new RangeError('a simulation needs at least one node');
    this.nodeIds = options.nodes.map((id) => toNodeId(id));
    if (new Set(this.nodeIds).size !== this.nodeIds.length)
      throw new RangeError(`node ids repeat: ${options.nodes.join(', ')}`);
    this.faults = options.faults ?? [];
    this.safetyMs = options.safetyMs ?? 10_000;
    this.livenessMs = options.livenessMs ?? 10_000;
    if (!(this.safetyMs >= 0 && this.livenessMs >= 0))
      throw new RangeError('safetyMs and livenessMs must be >= 0');
    this.invariants = options.invariants ?? [];
    this.trace = new MemoryTrace(options.traceEventsMax);
    this.codec = options.codec ?? createCodec({ keys: new Map([[1, simulationKey]]), activeKeyId: 1 });
    this.network = new SimNetwork({
      clock: this.clock,
      prng: this.prng.fork('network'),
      ...(options.network === undefined ? {} : { link: options.network }),
    });
    const createStore = options.createStore ?? (() => createMemoryStore());
    for (const id of this.nodeIds) {
      this.slots.set(id, {
        id,
        store: createStore(id),
        actorDisk: new Map(),
        incarnation: 0,
        node: undefined,
        clock: undefined,
      });
    }
  }

  get phase(): SimulationPhase {
    return this.currentPhase;
  }

  get events(): number {
    return this.eventsRun;
  }

  now(): number {
    return this.clock.now();
  }

  /** The running node with this id, or undefined while it is crashed. */
  node(id: string): Node | undefined {
    return this.slot(id).node;
  }

  /** Every running node, in `nodes` order. */
  runningNodes(): Node[] {
    const nodes: Node[] = [];
    for (const slot of this.slots.values()) if (slot.node !== undefined) nodes.push(slot.node);
    return nodes;
  }

  isCrashed(id: string): boolean {
    return this.slot(id).node === undefined;
  }

  incarnationOf(id: string): number {
    return this.slot(id).incarnation;
  }

  storeOf(id: string): Store {
    return this.slot(id).store;
  }

  /** What the node's actors last persisted, by actor name; kept across crashes. */
  actorDiskOf(id: string): ReadonlyMap<string, unknown> {
    return this.slot(id).actorDisk;
  }

  /** A PRNG stream for the workload, derived from the seed and `label`. */
  random(label: string): Prng {
    return this.prng.fork(`workload:${label}`);
  }

  get faultsInjected(): Readonly<Record<FaultKind, number>> {
    return { ...this.faultCounts };
  }

  get violations(): readonly Violation[] {
    return this.violationsSeen;
  }

  /** Starts every node, runs the workload and schedules the faults. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.currentPhase = 'safety';
    for (const slot of this.slots.values()) this.boot(slot, false);
    this.options.workload?.(this);
    this.scheduleFaults();
  }

  /**
   * Crashes a node: its endpoint is detached, its timers cancelled and its `Node` discarded with
   * no graceful close, so all volatile state is lost; its store survives, as a disk does. Returns
   * false when the node was already down.
   */
  crash(id: string): boolean {
    const slot = this.slot(id);
    if (slot.node === undefined) return false;
    this.network.detach(slot.id);
    slot.clock?.kill();
    slot.node = undefined;
    slot.clock = undefined;
    this.recordFault('crash', `incarnation ${slot.incarnation} lost its volatile state`, slot.id);
    return true;
  }

  /** Restarts a crashed node with the next incarnation and the same store. False when it is running. */
  restart(id: string): boolean {
    const slot = this.slot(id);
    if (slot.node !== undefined) return false;
    this.recordFault('restart', `incarnation ${slot.incarnation + 1}`, slot.id);
    this.boot(slot, true);
    return true;
  }

  /** Ends the safety phase: no partitions, blocks, link faults or loss, every crashed node restarted. */
  heal(): void {
    this.faultEpoch++;
    this.network.heal();
    this.network.setDefaults({ loss: 0 });
    this.recordFault('heal', 'partitions, link faults and loss removed; crashed nodes restarted');
    for (const slot of this.slots.values()) if (slot.node === undefined) this.restart(slot.id);
  }

  /**
   * Runs events until virtual time `endMs` (inclusive), checking the invariants after each one.
   * Returns early on a violation or when `eventsMax` is reached; then `stopped` is true.
   */
  async runUntil(endMs: number): Promise<void> {
    this.start();
    const clock = this.clock;
    const eventsMax = this.options.eventsMax ?? Number.POSITIVE_INFINITY;
    const livelockEventsMax = this.options.livelockEventsMax ?? LIVELOCK_EVENTS_MAX;
    // Let continuations of earlier events (a store read in `setup`, say) run before looking at the clock.
    await yieldToHost();
    while (this.stopReason === undefined) {
      const dueAt = clock.nextDueAt();
      if (dueAt === undefined || dueAt > endMs) break;
      clock.step();
      this.eventsRun++;
      this.eventsThisInstant = clock.now() === this.instantMs ? this.eventsThisInstant + 1 : 1;
      this.instantMs = clock.now();
      await yieldToHost();
      this.checkInvariants(this.invariants);
      if (this.stopReason === undefined && this.eventsThisInstant > livelockEventsMax) this.reportLivelock();
      if (this.stopReason === undefined && this.eventsRun >= eventsMax) this.stopReason = 'events-max';
    }
    if (this.stopReason === undefined && clock.now() < endMs) clock.runUntil(endMs);
  }

  async runFor(durationMs: number): Promise<void> {
    await this.runUntil(this.clock.now() + durationMs);
  }

  get stopped(): boolean {
    return this.stopReason !== undefined;
  }

  /** The whole run: safety phase, heal, liveness phase, liveness checks. */
  async run(): Promise<SimulationResult> {
    const wallStartMs = this.options.wallClock?.();
    this.start();
    await this.runUntil(this.safetyMs);
    if (!this.stopped) {
      this.heal();
      this.currentPhase = 'liveness';
      await this.runUntil(this.safetyMs + this.livenessMs);
    }
    if (!this.stopped) this.checkInvariants(this.options.liveness ?? []);
    this.currentPhase = 'done';
    const wallEndMs = this.options.wallClock?.();
    return {
      seed: this.seed,
      ok: this.violationsSeen.length === 0,
      stoppedBy: this.stopReason ?? 'end',
      events: this.eventsRun,
      simulatedMs: this.clock.now(),
      violations: this.violationsSeen.slice(),
      traceHash: traceHash(this.encodeTrace()),
      trace: this.trace,
      faultsInjected: this.faultsInjected,
      network: this.network.counters(),
      replayCommand: this.replayCommand(),
      ...(wallStartMs === undefined || wallEndMs === undefined ? {} : { wallMs: wallEndMs - wallStartMs }),
    };
  }

  /** The trace file bytes of the run so far (meta: seed, nodes, faults). */
  encodeTrace(): Uint8Array {
    return encodeTrace({ seed: this.seed, nodes: this.nodeIds, faults: this.faults }, this.trace.events);
  }

  replayCommand(): string {
    return replayCommand(this.seed, {
      nodes: this.nodeIds,
      faults: this.faults,
      ...(this.options.eventsMax === undefined ? {} : { steps: this.options.eventsMax }),
    });
  }

  private slot(id: string): NodeSlot {
    const slot = this.slots.get(id);
    if (slot === undefined) throw new RangeError(`no node '${id}' in this simulation`);
    return slot;
  }

  private boot(slot: NodeSlot, restart: boolean): void {
    slot.incarnation++;
    const life: Life = { alive: true };
    const clock = new IncarnationClock(this.clock, life);
    const shared = this.trace;
    // A dead incarnation's promise continuations must not write into the trace either.
    const trace: TraceSink | undefined =
      this.options.trace === false
        ? undefined
        : {
            record(event: TraceEvent) {
              if (life.alive) shared.record(event);
            },
          };
    const entropyStream = this.prng.fork(`node:${slot.id}:${slot.incarnation}`);
    const node = new Node({
      id: slot.id,
      incarnation: slot.incarnation,
      clock,
      entropy: entropyFrom(() => entropyStream.nextFloat()),
      transport: this.network.attach(slot.id),
      codec: this.codec,
      peers: new Map(this.nodeIds.map((id) => [id, id])),
      ...(trace === undefined ? {} : { trace }),
      ...(this.options.hashStates === undefined ? {} : { hashStates: this.options.hashStates }),
      scheduleDrain: (drain) => void clock.setTimer(0, drain),
      actorStore: {
        // A copy, so the disk never aliases the live state; a dead incarnation writes nothing.
        save: (actor, state) => {
          if (life.alive) slot.actorDisk.set(actor, structuredClone(state));
        },
      },
    });
    slot.node = node;
    slot.clock = clock;
    this.options.setup(node, {
      store: slot.store,
      actorDisk: slot.actorDisk,
      restart,
      incarnation: slot.incarnation,
      simulation: this,
    });
  }

  private scheduleFaults(): void {
    const schedule =
      this.options.schedule ??
      (this.faults.length === 0
        ? []
        : planFaults(this.prng.fork('nemesis'), {
            ...this.options.nemesis,
            intervalMs: this.options.tickMs ?? this.options.nemesis?.intervalMs ?? 100,
            nodes: this.nodeIds,
            faults: this.faults,
            safetyMs: this.safetyMs,
          }));
    for (const entry of schedule) {
      if (!(entry.atMs >= 0) || entry.atMs >= this.safetyMs) continue;
      this.clock.setTimer(entry.atMs - this.clock.now(), () => this.inject(entry));
    }
  }

  /** Applies one scheduled fault and arranges its end. */
  private inject(entry: ScheduledFault): void {
    const nodes = entry.nodes.filter((id) => this.slots.has(id));
    switch (entry.fault) {
      case 'crash':
        for (const id of nodes) if (this.crash(id)) this.faultCounts.crash++;
        return;
      case 'restart':
        for (const id of nodes) if (this.restart(id)) this.faultCounts.restart++;
        return;
      case 'partition':
        return this.injectPartition(nodes, entry.durationMs);
      case 'one-way':
        return this.injectOneWay(nodes, entry.durationMs);
      case 'loss':
      case 'duplicate':
      case 'reorder':
      case 'delay':
        return this.injectLinkFault(
          entry.fault,
          nodes,
          entry.intensity ?? defaultIntensity[entry.fault],
          entry.durationMs,
        );
    }
  }

  private injectPartition(side: readonly string[], durationMs: number | undefined): void {
    const sideSet = new Set(side);
    const other = this.nodeIds.filter((id) => !sideSet.has(id));
    if (side.length === 0 || other.length === 0) return;
    this.network.partition([side, other]);
    const token = ++this.partitionToken;
    this.faultCounts.partition++;
    this.recordFault('partition', `${side.join(',')} | ${other.join(',')}`);
    this.atFaultEnd(durationMs, () => {
      if (token !== this.partitionToken) return;
      this.network.healPartition();
      this.recordFault('partition-end', `${side.join(',')} | ${other.join(',')}`);
    });
  }

  private injectOneWay(nodes: readonly string[], durationMs: number | undefined): void {
    const [source, target] = nodes;
    if (source === undefined || target === undefined || source === target) return;
    this.network.blockOneWay(source, target);
    this.faultCounts['one-way']++;
    this.recordFault('one-way', `${source} -> ${target} blocked`);
    this.atFaultEnd(durationMs, () => {
      this.network.unblockOneWay(source, target);
      this.recordFault('one-way-end', `${source} -> ${target} open`);
    });
  }

  private injectLinkFault(
    kind: 'loss' | 'duplicate' | 'reorder' | 'delay',
    nodes: readonly string[],
    intensity: number,
    durationMs: number | undefined,
  ): void {
    if (nodes.length === 0) return;
    const touched = new Set(nodes);
    const links: [string, string][] = [];
    for (const source of this.nodeIds) {
      for (const target of this.nodeIds) {
        if (source !== target && (touched.has(source) || touched.has(target))) links.push([source, target]);
      }
    }
    const fault: LinkFault =
      kind === 'delay' ? { extraLatencyMs: Math.round(intensity) } : { [kind]: intensity };
    const id = this.network.addLinkFault(links, fault);
    this.faultCounts[kind]++;
    this.recordFault(kind, `links of ${nodes.join(',')}: ${intensity}`);
    this.atFaultEnd(durationMs, () => {
      this.network.removeLinkFault(id);
      this.recordFault(`${kind}-end`, `links of ${nodes.join(',')}`);
    });
  }

  /** Runs `end` after `durationMs`, unless a heal came first (the heal already ended every fault). */
  private atFaultEnd(durationMs: number | undefined, end: () => void): void {
    if (durationMs === undefined) return;
    const epoch = this.faultEpoch;
    this.clock.setTimer(Math.max(0, durationMs), () => {
      if (epoch === this.faultEpoch) end();
    });
  }

  private recordFault(fault: string, detail: string, node?: NodeId): void {
    const event = { type: 'fault', at: this.clock.now(), fault, detail } as const;
    this.trace.record(node === undefined ? event : { ...event, node });
  }

  /** Virtual time stands still while events run: actors keep answering each other at one instant. */
  private reportLivelock(): void {
    this.violationsSeen.push({
      atMs: this.clock.now(),
      event: this.eventsRun,
      message: `livelock: more than ${this.options.livelockEventsMax ?? LIVELOCK_EVENTS_MAX} events at ${this.clock.now()} ms without virtual time moving`,
      phase: this.currentPhase,
    });
    this.stopReason = 'violation';
  }

  private checkInvariants(invariants: readonly Invariant[]): void {
    for (const invariant of invariants) {
      const messages = invariant(this);
      if (messages.length === 0) continue;
      for (const message of messages) {
        this.violationsSeen.push({
          atMs: this.clock.now(),
          event: this.eventsRun,
          message,
          phase: this.currentPhase,
        });
      }
      this.stopReason = 'violation';
    }
  }
}
