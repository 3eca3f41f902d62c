/**
 * A deterministic simulation of replica groups: the replica roles of several groups on one
 * simulated clock, a network that delays, duplicates, reorders and (optionally) loses packets, a
 * scripted view source standing in for membership, and crashes of a primary at chosen points of the
 * protocol. Invariants run after every event; a run is a pure function of its seed and options, and
 * a failure names the command that replays it.
 *
 * It drives the pure roles directly (no runtime `Node`), the way tigerbeetle's VOPR drives replicas
 * over a simulated bus: what is checked is the protocol; the actor host is a thin wrapper
 * (`replicaActor`). The CLI's `steadfast sim replication` runs `runReplicationSimulation`.
 */
import { SimulatedClock, entropyFrom, type ActorBehavior, type TimerHandle } from '@steadfast/runtime';
import type { GroupView, Packet } from '@steadfast/group';
import { nodeId, type NodeId } from '@steadfast/wire';
import { policyByName, type OrderingPolicy, type PolicyName } from './policy.js';
import { SeededRandom } from './random.js';
import { ReplicaRole, type PeerGroupConfig } from './replica.js';
import {
  REPLICATION_PIGGYBACK_KEY,
  sumReplicaCounters,
  type ReplicaEffect,
  type ReplicaInput,
  type ReplicationSettings,
  type ReplicationStyle,
} from './types.js';
import { ScriptedViewSource } from './view-source.js';
import { client, front, ledger, type IssueCommand } from './workload.js';

export interface ClusterGroup {
  readonly group: string;
  readonly members: readonly string[];
  readonly behavior: ActorBehavior;
  readonly style: ReplicationStyle;
  readonly policy: OrderingPolicy;
  readonly peers: readonly string[];
  readonly settings?: Partial<ReplicationSettings>;
}

export interface NetworkSettings {
  readonly latencyMs: readonly [number, number];
  readonly loss: number;
  readonly duplicate: number;
  /** Probability of extra delay, which lets later packets overtake. */
  readonly reorder: number;
}

export interface ClusterOptions {
  readonly seed: number;
  readonly groups: readonly ClusterGroup[];
  readonly network?: Partial<NetworkSettings>;
  readonly suspicionDelayMs?: number;
  /** Record a readable line per multicast and per replica event (golden scenarios). */
  readonly trace?: boolean;
}

/** What the crash hook decides after a step of a replica. */
export type StepVerdict =
  | { readonly type: 'continue' }
  /** Crash before any effect of this step leaves (processed, nothing announced or sent). */
  | { readonly type: 'crash-before-effects' }
  /**
   * Carry out only the sends to members of the replica's own group that carry order announcements,
   * then crash: the backups learn the order, but the step's other outputs reach nobody.
   */
  | { readonly type: 'crash-after-own-group' }
  /** Carry out every effect, then crash. */
  | { readonly type: 'crash-after-effects' };

export type StepHook = (
  node: NodeId,
  role: ReplicaRole,
  input: ReplicaInput,
  effects: readonly ReplicaEffect[],
) => StepVerdict;

interface Hosted {
  readonly node: NodeId;
  readonly group: string;
  role: ReplicaRole;
  alive: boolean;
  readonly timers: Map<string, TimerHandle>;
}

function carriesOrder(packet: Packet): boolean {
  return packet.data.some((message) => {
    const data = message.piggyback?.[REPLICATION_PIGGYBACK_KEY] as { order?: unknown } | undefined;
    return data?.order !== undefined;
  });
}

const NETWORK_DEFAULTS: NetworkSettings = { latencyMs: [1, 3], loss: 0, duplicate: 0, reorder: 0 };

/**
 * The pure-role harness: the `ReplicaRole`s of several groups hosted directly (no runtime `Node`) on
 * one `SimulatedClock`, over a network that delays, loses, duplicates and reorders packets by one
 * seeded generator, with a `ScriptedViewSource` for membership. `hook` sees each step's effects
 * before they are carried out and may crash the replica there (`StepVerdict`), which real nodes
 * cannot offer; `afterEvent` runs after every event (the invariant checks); `trace: true` records a
 * readable line per multicast and replica event (the golden scenarios). `start()` installs the first
 * views; `runUntil` runs events. A run is a function of its seed and what the test does.
 */
export class ReplicationCluster {
  readonly clock = new SimulatedClock();
  readonly views: ScriptedViewSource;
  readonly hosted = new Map<NodeId, Hosted>();
  readonly trace: string[] = [];
  readonly diverged: { replica: NodeId; group: string; position: number; reason: string }[] = [];
  readonly promotions: { replica: NodeId; group: string; atMs: number }[] = [];
  events = 0;
  packetsSent = 0;
  hook: StepHook | undefined;
  /** Called after every event (invariant checks). */
  afterEvent: (() => void) | undefined;
  private network: NetworkSettings;
  private readonly random: SeededRandom;
  private readonly groupOf = new Map<string, ClusterGroup>();
  /** Packets between these (source → target) pairs are dropped. */
  private readonly blocked = new Set<string>();

  constructor(private readonly options: ClusterOptions) {
    this.random = new SeededRandom(options.seed);
    this.network = { ...NETWORK_DEFAULTS, ...options.network };
    const members: Record<string, NodeId[]> = {};
    for (const group of options.groups) {
      this.groupOf.set(group.group, group);
      members[group.group] = group.members.map((member) => nodeId(member));
    }
    this.views = new ScriptedViewSource(this.clock, members, options.suspicionDelayMs ?? 30);
    for (const group of options.groups) for (const member of members[group.group]!) this.host(member, group);
    this.views.subscribe((view) => this.installView(view));
  }

  /** Installs the first views (the harness's `start`). */
  start(): void {
    this.views.installInitial();
  }

  role(node: string): ReplicaRole {
    const hosted = this.hosted.get(nodeId(node));
    if (hosted === undefined) throw new RangeError(`no replica on ${node}`);
    return hosted.role;
  }

  alive(node: string): boolean {
    return this.hosted.get(nodeId(node))?.alive ?? false;
  }

  /** The live replicas of `group`. */
  replicas(group: string): ReplicaRole[] {
    return [...this.hosted.values()].filter((h) => h.group === group && h.alive).map((h) => h.role);
  }

  primaryOf(group: string): ReplicaRole | undefined {
    const view = this.views.current(group);
    const hosted = view === undefined ? undefined : this.hosted.get(view.primary);
    return hosted?.alive === true ? hosted.role : undefined;
  }

  /** Feeds an input to a live replica and carries out its effects. */
  input(node: NodeId, input: ReplicaInput): void {
    const hosted = this.hosted.get(node);
    if (hosted === undefined || !hosted.alive) return;
    const effects = hosted.role.step(input, this.clock.now());
    const verdict = this.hook?.(node, hosted.role, input, effects) ?? { type: 'continue' };
    switch (verdict.type) {
      case 'continue':
        this.apply(hosted, effects);
        return;
      case 'crash-before-effects':
        this.crash(node);
        return;
      case 'crash-after-own-group': {
        const own = new Set(this.views.current(hosted.group)?.members ?? []);
        this.apply(
          hosted,
          effects.filter(
            (effect) => effect.type === 'send' && own.has(effect.target) && carriesOrder(effect.packet),
          ),
        );
        this.crash(node);
        return;
      }
      case 'crash-after-effects':
        this.apply(hosted, effects);
        this.crash(node);
        return;
    }
  }

  /** The node loses everything; membership removes it from the next view after the suspicion delay. */
  crash(node: NodeId): void {
    const hosted = this.hosted.get(node);
    if (hosted === undefined || !hosted.alive) return;
    hosted.alive = false;
    for (const handle of hosted.timers.values()) this.clock.clearTimer(handle);
    hosted.timers.clear();
    this.note(`crash ${node}`);
    this.views.report({ type: 'crashed', group: hosted.group, replica: node });
  }

  /** Drops packets from `source` to `target` (a one-way link fault). */
  block(source: string, target: string): void {
    this.blocked.add(`${source}>${target}`);
  }

  unblock(source: string, target: string): void {
    this.blocked.delete(`${source}>${target}`);
  }

  /** Runs events until `timeMs` or until `stop` says so. Returns false if the event bound was hit. */
  runUntil(timeMs: number, stop?: () => boolean, eventsMax = 1_000_000): boolean {
    for (;;) {
      if (stop?.() === true) return true;
      const due = this.clock.nextDueAt();
      if (due === undefined || due > timeMs) {
        this.clock.runUntil(timeMs);
        return true;
      }
      if (this.events >= eventsMax) return false;
      this.clock.step();
      this.events++;
      this.afterEvent?.();
    }
  }

  /** Fault-free settings from now on: no loss, duplicates or reordering, no blocked links. */
  heal(): void {
    this.network = { ...this.network, loss: 0, duplicate: 0, reorder: 0 };
    this.blocked.clear();
  }

  note(line: string): void {
    if (this.options.trace === true) this.trace.push(`${this.clock.now()}ms ${line}`);
  }

  /**
   * A crashed replica comes back as its next incarnation, empty and joining, as a restarted node's
   * replica does; `views.join` then adds it to its group's next view.
   */
  restart(node: NodeId): void {
    const hosted = this.hosted.get(node);
    if (hosted === undefined || hosted.alive) throw new RangeError(`${node} is not a crashed replica`);
    const group = this.groupOf.get(hosted.group)!;
    hosted.role = this.makeRole(node, group, hosted.role.incarnation + 1, true);
    hosted.alive = true;
    this.note(`restart ${node}`);
  }

  private host(node: NodeId, group: ClusterGroup): void {
    const role = this.makeRole(node, group, 1, false);
    this.hosted.set(node, { node, group: group.group, role, alive: true, timers: new Map() });
  }

  private makeRole(node: NodeId, group: ClusterGroup, incarnation: number, joining: boolean): ReplicaRole {
    const peers: PeerGroupConfig[] = group.peers.map((peer) => ({
      group: peer,
      contacts: (this.groupOf.get(peer)?.members ?? []).map((member) => nodeId(member)),
    }));
    // The first incarnation's fork keeps the name it always had, so every recorded run stays the same.
    const entropy = this.random.fork(
      incarnation === 1 ? `entropy:${node}` : `entropy:${node}#${incarnation}`,
    );
    return new ReplicaRole(
      {
        group: group.group,
        self: node,
        incarnation,
        ...(joining ? { joining: true } : {}),
        behavior: group.behavior,
        style: group.style,
        policy: group.policy,
        peers,
        // A digest on every pass that reaches digestEvery: divergence is caught where it happens.
        settings: { digestIntervalMs: 0, ...group.settings },
      },
      { clock: this.clock, entropy: entropyFrom(() => entropy.next()) },
    );
  }

  private installView(view: GroupView): void {
    this.note(`view ${view.group}#${view.epoch} [${view.members.join(',')}] primary ${view.primary}`);
    for (const hosted of this.hosted.values()) {
      if (!hosted.alive) continue;
      // Membership installs a group's views at its members; peers learn them on the connection.
      if (hosted.group === view.group && view.members.includes(hosted.node))
        this.input(hosted.node, { type: 'view-installed', view });
    }
  }

  private apply(hosted: Hosted, effects: readonly ReplicaEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'send':
          this.send(hosted.node, effect.target, effect.packet);
          break;
        case 'set-timer': {
          const previous = hosted.timers.get(effect.name);
          if (previous !== undefined) this.clock.clearTimer(previous);
          const handle = this.clock.setTimer(effect.delayMs, () => {
            hosted.timers.delete(effect.name);
            this.input(hosted.node, { type: 'timer', name: effect.name });
          });
          hosted.timers.set(effect.name, handle);
          break;
        }
        case 'cancel-timer': {
          const previous = hosted.timers.get(effect.name);
          if (previous !== undefined) this.clock.clearTimer(previous);
          hosted.timers.delete(effect.name);
          break;
        }
        case 'diverged':
          this.diverged.push({
            replica: effect.replica,
            group: effect.group,
            position: effect.position,
            reason: effect.reason,
          });
          this.note(`diverged ${effect.replica} at ${effect.position}: ${effect.reason}`);
          this.views.report({ type: 'diverged', group: effect.group, replica: effect.replica });
          break;
        case 'refused-promotion':
          this.note(
            `${effect.replica} refused to be primary of ${effect.group}#${effect.epoch}: no state yet`,
          );
          this.views.report(effect);
          break;
        case 'promoted':
          this.promotions.push({ replica: effect.replica, group: effect.group, atMs: this.clock.now() });
          this.note(`promoted ${effect.replica} in ${effect.group}#${effect.epoch}`);
          break;
        case 'external-send':
          this.note(`external-send from ${hosted.node}`);
          break;
        case 'input-failed':
          this.note(`input-failed at ${hosted.node}, position ${effect.position}: ${effect.reason}`);
          break;
        case 'control-send': {
          const [low, high] = this.network.latencyMs;
          const message = structuredClone(effect.message);
          const from = hosted.node;
          if (this.blocked.has(`${from}>${effect.target}`)) break;
          if (this.network.loss > 0 && this.random.chance(this.network.loss)) break;
          this.clock.setTimer(this.random.integer(low, high), () =>
            this.input(effect.target, { type: 'control', from, message }),
          );
          break;
        }
      }
    }
  }

  private send(source: NodeId, target: NodeId, packet: Packet): void {
    this.packetsSent++;
    if (this.options.trace === true) {
      for (const message of packet.data) {
        const payload = message.payload as {
          body?: { type?: unknown };
          channel?: number;
          source?: string;
        } | null;
        const rep = message.piggyback?.['rep'] as
          | {
              order?: { entries: { position: number }[] };
              relay?: { group: string; entries: { position: number }[] };
            }
          | undefined;
        const parts = [`${source}->${target}`, message.kind];
        if (payload !== null && payload.source !== undefined)
          parts.push(`${payload.source}#${payload.channel}`);
        if (rep?.order !== undefined)
          parts.push(`order[${rep.order.entries.map((e) => e.position).join(',')}]`);
        if (rep?.relay !== undefined)
          parts.push(`relay ${rep.relay.group}[${rep.relay.entries.map((e) => e.position).join(',')}]`);
        this.note(parts.join(' '));
      }
    }
    if (this.blocked.has(`${source}>${target}`)) return;
    if (this.network.loss > 0 && this.random.chance(this.network.loss)) return;
    const copies = this.network.duplicate > 0 && this.random.chance(this.network.duplicate) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const [low, high] = this.network.latencyMs;
      let latencyMs = this.random.integer(low, high);
      if (this.network.reorder > 0 && this.random.chance(this.network.reorder))
        latencyMs += this.random.integer(1, 10);
      const bytes = structuredClone(packet);
      this.clock.setTimer(latencyMs, () => this.input(target, { type: 'packet', packet: bytes }));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The standard scenario: clients → (front →) ledger, with one primary crash

/**
 * Where a `CrashPlan` crashes a primary, around its planned position: `before-processing`, after a
 * step that leaves it one short of the position with inputs waiting (that step's effects went out);
 * `after-processing`, on processing it, before any effect of that step leaves; `after-announcing`,
 * on processing it, once only the sends to its own group that carry announcements have left;
 * `mid-call`, at or past it, on a step that sent while it waits for a synchronous reply.
 */
export type CrashPoint = 'before-processing' | 'after-processing' | 'after-announcing' | 'mid-call';
/** Every `CrashPoint`; a seed draws one (`mid-call` only in the chain topology, whose front calls). */
export const CRASH_POINTS: readonly CrashPoint[] = [
  'before-processing',
  'after-processing',
  'after-announcing',
  'mid-call',
];

export type ReplicationFault = 'crash' | 'duplicate' | 'reorder' | 'loss';
export const REPLICATION_FAULTS: readonly ReplicationFault[] = ['crash', 'duplicate', 'reorder', 'loss'];

/**
 * One crash in a run of the pure harness: the primary of `group` at the time crashes at `point`.
 * Drawn from the seed unless the run gives one (`crash`); only the first moment that fits crashes,
 * and a plan whose moment never comes leaves the run without a crash (`crashed: false`).
 */
export interface CrashPlan {
  readonly group: string;
  readonly point: CrashPoint;
  /** The primary crashes around its `position`-th processed position. */
  readonly position: number;
}

export interface ReplicationSimulationOptions {
  readonly seed: number;
  readonly style: ReplicationStyle;
  readonly policy?: PolicyName;
  /** Default `['crash', 'duplicate', 'reorder']`. */
  readonly faults?: readonly ReplicationFault[];
  /** `chain`: clients → front (synchronous calls) → ledger; `direct`: clients → ledger. Default: drawn from the seed. */
  readonly topology?: 'chain' | 'direct';
  /** Client requests in all (two clients). Default 16. */
  readonly requests?: number;
  /** Overrides the crash drawn from the seed. */
  readonly crash?: CrashPlan | null;
  readonly replicas?: number;
  readonly settings?: Partial<ReplicationSettings>;
  /** The front handles each ledger reply with a nondeterministic `ctx.call` (`front({ callOnReply })`). */
  readonly frontCalls?: boolean;
  readonly trace?: boolean;
  /** Virtual time limit of the whole run. */
  readonly limitMs?: number;
}

export interface ReplicationViolation {
  readonly seed: number;
  readonly atMs: number;
  readonly event: number;
  readonly message: string;
  readonly replayCommand: string;
}

export interface ReplicationSimulationResult {
  readonly seed: number;
  readonly style: ReplicationStyle;
  readonly policy: PolicyName;
  readonly topology: 'chain' | 'direct';
  readonly crash: CrashPlan | null;
  /** True if the planned crash happened (a plan whose trigger never came leaves it false). */
  readonly crashed: boolean;
  readonly ok: boolean;
  readonly violations: readonly ReplicationViolation[];
  readonly requests: number;
  readonly replies: number;
  readonly failovers: number;
  readonly events: number;
  readonly simulatedMs: number;
  readonly packets: number;
  /** Ordering-only messages: null messages sent to carry announcements or checkpoints. */
  readonly nullMessages: number;
  readonly entriesAnnounced: number;
  readonly announcementsPiggybacked: number;
  readonly trace: readonly string[];
}

export function replicationReplayCommand(seed: number, style: ReplicationStyle, policy?: PolicyName): string {
  const base = `pnpm steadfast sim replication --seeds 1 --from ${seed} --style ${style}`;
  return policy === undefined ? base : `${base} --policy ${policy}`;
}

/** Positions and histories are compared as lists of input keys. */
function isPrefix(shorter: readonly string[], longer: readonly string[]): boolean {
  if (shorter.length > longer.length) return false;
  for (let index = 0; index < shorter.length; index++) if (shorter[index] !== longer[index]) return false;
  return true;
}

function crashVerdict(
  plan: CrashPlan,
  role: ReplicaRole,
  before: number,
  effects: readonly ReplicaEffect[],
): StepVerdict {
  if (role.role !== 'primary') return { type: 'continue' };
  switch (plan.point) {
    case 'before-processing':
      return role.position === plan.position - 1 && role.backlog().inputs > 0
        ? { type: 'crash-after-effects' }
        : { type: 'continue' };
    case 'after-processing':
      return before < plan.position && role.position >= plan.position
        ? { type: 'crash-before-effects' }
        : { type: 'continue' };
    case 'after-announcing':
      return before < plan.position && role.position >= plan.position
        ? { type: 'crash-after-own-group' }
        : { type: 'continue' };
    case 'mid-call': {
      const sentCall = effects.some((effect) => effect.type === 'send');
      return role.position >= plan.position && role.awaitingReply() && sentCall
        ? { type: 'crash-after-effects' }
        : { type: 'continue' };
    }
  }
}

/**
 * One seeded run: two clients (one replica each) send `requests` adds to a replicated ledger,
 * directly or through a replicated front that calls the ledger synchronously; one primary may crash
 * at a protocol point. Checks, after every event, that each live replica's processing order is a
 * prefix of every longer one in its group; at the end, that every live replica of a group processed
 * the same inputs in the same order into the same state (semi-active) or could take over at the
 * primary's position (passive), that every request was applied exactly once and answered once.
 */
export function runReplicationSimulation(options: ReplicationSimulationOptions): ReplicationSimulationResult {
  const seed = options.seed;
  const plan = new SeededRandom(seed).fork('plan');
  const policyName = options.policy ?? 'reception';
  const policy = policyByName(policyName);
  const faults = new Set(options.faults ?? ['crash', 'duplicate', 'reorder']);
  const topology = options.topology ?? (plan.chance(0.5) ? 'chain' : 'direct');
  const requests = options.requests ?? 16;
  const replicas = options.replicas ?? 3;
  const style = options.style;
  const entry = topology === 'chain' ? 'A' : 'B';
  const members = (prefix: string) => Array.from({ length: replicas }, (_, index) => `${prefix}${index + 1}`);
  const settings = options.settings;
  const groups: ClusterGroup[] = [
    {
      group: 'C',
      members: ['c1'],
      behavior: client,
      style: 'semi-active',
      policy,
      peers: [entry],
      ...(settings ? { settings } : {}),
    },
    {
      group: 'D',
      members: ['d1'],
      behavior: client,
      style: 'semi-active',
      policy,
      peers: [entry],
      ...(settings ? { settings } : {}),
    },
    {
      group: 'B',
      members: members('b'),
      behavior: ledger,
      style,
      policy,
      peers: topology === 'chain' ? ['A'] : ['C', 'D'],
      ...(settings ? { settings } : {}),
    },
  ];
  if (topology === 'chain')
    groups.push({
      group: 'A',
      members: members('a'),
      behavior: front({ ledgerGroup: 'B', sync: true, callOnReply: options.frontCalls === true }),
      style,
      policy,
      peers: ['C', 'D', 'B'],
      ...(settings ? { settings } : {}),
    });
  const cluster = new ReplicationCluster({
    seed,
    groups,
    network: {
      latencyMs: [1, 3],
      duplicate: faults.has('duplicate') ? 0.05 : 0,
      reorder: faults.has('reorder') ? 0.1 : 0,
      loss: faults.has('loss') ? 0.02 : 0,
    },
    ...(options.trace === true ? { trace: true } : {}),
  });

  let crash: CrashPlan | null = null;
  if (options.crash !== undefined) crash = options.crash;
  else if (faults.has('crash')) {
    const points = topology === 'chain' ? CRASH_POINTS : CRASH_POINTS.filter((point) => point !== 'mid-call');
    const point = plan.pick(points);
    const group = point === 'mid-call' ? 'A' : topology === 'chain' ? plan.pick(['A', 'B']) : 'B';
    crash = { group, point, position: plan.integer(2, requests) };
  }
  let crashed = false;
  if (crash !== null) {
    const chosen = crash;
    cluster.hook = (node, role) => {
      if (crashed || role.group !== chosen.group) return { type: 'continue' };
      const verdict = crashVerdict(chosen, role, positionsBefore.get(node) ?? 0, lastEffects);
      if (verdict.type !== 'continue') crashed = true;
      return verdict;
    };
  }
  // The hook needs each replica's position before the step: track it after every event.
  const positionsBefore = new Map<NodeId, number>();
  let lastEffects: readonly ReplicaEffect[] = [];
  const baseHook = cluster.hook;
  if (baseHook !== undefined) {
    cluster.hook = (node, role, input, effects) => {
      lastEffects = effects;
      const verdict = baseHook(node, role, input, effects);
      positionsBefore.set(node, role.position);
      return verdict;
    };
  }

  const violations: ReplicationViolation[] = [];
  const replayCommand = replicationReplayCommand(seed, style, options.policy);
  const violation = (message: string) => {
    if (violations.length < 10)
      violations.push({ seed, atMs: cluster.clock.now(), event: cluster.events, message, replayCommand });
  };
  const groupNames = groups.map((group) => group.group);
  cluster.afterEvent = () => {
    if (violations.length > 0) return;
    for (const group of groupNames) {
      const histories = cluster.replicas(group).map((role) => ({ node: role.self, history: role.history() }));
      for (const a of histories)
        for (const b of histories) {
          if (a.history.length <= b.history.length && !isPrefix(a.history, b.history))
            violation(
              `group ${group}: ${a.node}'s order is not a prefix of ${b.node}'s at position ${firstDifference(a.history, b.history)}`,
            );
        }
    }
    for (const divergence of cluster.diverged)
      violation(
        `replica ${divergence.replica} of ${divergence.group} diverged at ${divergence.position}: ${divergence.reason}`,
      );
  };

  cluster.start();
  const issue = new SeededRandom(seed).fork('workload');
  const keys: string[] = [];
  for (let index = 0; index < requests; index++) {
    const source = index % 2 === 0 ? 'c1' : 'd1';
    const key = `r${index + 1}`;
    keys.push(key);
    const atMs = 5 + issue.integer(0, requests * 6);
    const command: IssueCommand = {
      type: 'issue',
      key,
      target: entry,
      priority: issue.integer(0, 3),
      deadlineMs: issue.integer(0, 500),
    };
    cluster.clock.setTimer(atMs, () => cluster.input(nodeId(source), { type: 'external', body: command }));
  }
  const limitMs = options.limitMs ?? 10_000;
  const replies = () => {
    let count = 0;
    for (const node of ['c1', 'd1']) {
      const state = cluster.role(node).actorState() as { replies: Record<string, number[]> } | undefined;
      for (const totals of Object.values(state?.replies ?? {})) count += totals.length;
    }
    return count;
  };
  const safetyMs = Math.min(limitMs, 5 + requests * 6 + 400);
  cluster.runUntil(safetyMs, () => violations.length > 0);
  cluster.heal();
  const finished = cluster.runUntil(
    limitMs,
    () => violations.length > 0 || (replies() >= requests && quiet(cluster)),
  );
  if (!finished) violation('the event bound was reached');
  if (violations.length === 0 && replies() < requests)
    violation(`only ${replies()} of ${requests} requests were answered by ${limitMs} ms`);
  if (violations.length === 0) checkEnd(cluster, groupNames, keys, style, violation);

  const { nullMessages, entriesAnnounced, announcementsPiggybacked } = sumReplicaCounters(
    [...cluster.hosted.values()].map((hosted) => hosted.role.counters),
  );
  return {
    seed,
    style,
    policy: policyName,
    topology,
    crash,
    crashed,
    ok: violations.length === 0,
    violations,
    requests,
    replies: replies(),
    // The first primaries are promoted at time 0; every later promotion is a failover.
    failovers: cluster.promotions.filter((promotion) => promotion.atMs > 0).length,
    events: cluster.events,
    simulatedMs: cluster.clock.now(),
    packets: cluster.packetsSent,
    nullMessages,
    entriesAnnounced,
    announcementsPiggybacked,
    trace: cluster.trace,
  };
}

function firstDifference(a: readonly string[], b: readonly string[]): number {
  let index = 0;
  while (index < a.length && a[index] === b[index]) index++;
  return index + 1;
}

/** Every live replica has processed everything announced to it, and nothing waits. */
function quiet(cluster: ReplicationCluster): boolean {
  for (const hosted of cluster.hosted.values()) {
    if (!hosted.alive) continue;
    const role = hosted.role;
    if (role.role === 'recovering' || role.role === 'starting') return false;
    const backlog = role.backlog();
    if (backlog.inputs > 0) return false;
    if (role.style === 'semi-active' && backlog.announced > 0) return false;
    const primary = cluster.primaryOf(hosted.group);
    if (primary === undefined) return false;
    if (role.style === 'semi-active' && role.position !== primary.position) return false;
    if (role.style === 'passive' && role !== primary && role.coverage() !== primary.position) return false;
  }
  return true;
}

function checkEnd(
  cluster: ReplicationCluster,
  groups: readonly string[],
  keys: readonly string[],
  style: ReplicationStyle,
  violation: (message: string) => void,
): void {
  // Nothing here sends a malformed control message, checkpoint or piggyback: a drop means the shape checks
  // (control-form.ts) refused one the replicas wrote themselves.
  for (const hosted of cluster.hosted.values()) {
    const { controlMessagesDropped, checkpointsDropped, piggybackFieldsDropped } = hosted.role.counters;
    if (controlMessagesDropped + checkpointsDropped + piggybackFieldsDropped > 0)
      violation(
        `${hosted.node} dropped as malformed ${controlMessagesDropped} control messages, ${checkpointsDropped} checkpoints and ${piggybackFieldsDropped} piggyback fields`,
      );
  }
  for (const group of groups) {
    const primary = cluster.primaryOf(group);
    if (primary === undefined) {
      violation(`group ${group} has no live primary at the end`);
      continue;
    }
    for (const role of cluster.replicas(group)) {
      if (role === primary) continue;
      if (role.style === 'passive' && group !== 'C' && group !== 'D') {
        if (role.coverage() !== primary.position)
          violation(
            `passive backup ${role.self} of ${group} covers position ${role.coverage()}, the primary is at ${primary.position}`,
          );
        continue;
      }
      if (role.history().join() !== primary.history().join())
        violation(`replica ${role.self} of ${group} processed another order than primary ${primary.self}`);
      else if (role.digest() !== primary.digest())
        violation(`replica ${role.self} of ${group} holds another state than primary ${primary.self}`);
    }
  }
  const ledgerState = cluster.primaryOf('B')?.actorState() as
    { context?: { applied?: Record<string, number>; total?: number } } | undefined;
  const applied = ledgerState?.context?.applied ?? {};
  const totals: number[] = [];
  for (const key of keys) {
    if (applied[key] !== 1) violation(`request ${key} took effect ${applied[key] ?? 0} times at the ledger`);
    for (const node of ['c1', 'd1']) {
      const state = cluster.role(node).actorState() as {
        issued: string[];
        replies: Record<string, number[]>;
      };
      if (!state.issued.includes(key)) continue;
      const received = state.replies[key] ?? [];
      if (received.length !== 1) violation(`request ${key} got ${received.length} replies at ${node}`);
      totals.push(...received);
    }
  }
  const distinct = new Set(totals);
  if (distinct.size !== totals.length)
    violation(`two requests got the same total: replies disagree with the ledger's order`);
  if (ledgerState?.context?.total !== keys.length)
    violation(`the ledger's total is ${ledgerState?.context?.total}, expected ${keys.length}`);
  void style;
}
