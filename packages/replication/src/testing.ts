/**
 * `@steadfast/replication/testing`: replica groups under the deterministic simulator
 * (`@steadfast/sim`). Every replica is a real runtime actor (`node.spawn(REPLICA_ACTOR_NAME,
 * replicaBehavior, input)`) on a `Simulation` node, talking over the simulated network with signed
 * frames, under the nemesis: crash, restart, partition, one-way, loss, duplicate, reorder, delay.
 * Views come from a `ScriptedViewSource` driven by the simulation's crashes and restarts, or, with
 * `views: 'membership'`, from the real membership layer as real nodes run it (`testing/membership.ts`:
 * a `groupMember` with `autoMembership` per node, relayed to the replica); a restarted node joins as a
 * new incarnation and gets a state transfer before it serves.
 *
 * Invariants after every event: no two replicas of a group, of any incarnation, ever processed
 * different inputs at the same position (so every backup's order is a prefix of the primary's,
 * and no failover picked another order); no replica diverged. At the end of the liveness phase:
 * every live replica of a group stands at the primary's position with the same state (passive:
 * can take over at it), every client request took effect exactly once and got exactly one reply.
 *
 * The CLI's `steadfast sim replication` runs `runReplicationSimulation`; a violation names the seed
 * and the command that replays it.
 */
import { address, nodeId, type NodeId } from '@steadfast/wire';
import type { ActorBehavior, Node } from '@steadfast/runtime';
import type { GroupSettings, GroupView } from '@steadfast/group';
import {
  ALL_FAULTS,
  formatFaults,
  Prng,
  Simulation,
  planFaults,
  type FaultKind,
  type FaultSchedule,
  type ScheduledFault,
  type SimulationResult,
} from '@steadfast/sim';
import {
  REPLICA_ACTOR_NAME,
  replicaActor,
  replicaExternalCommand,
  replicaViewCommand,
  type ReplicaActorInput,
} from './group.js';
import { policyByName, type PolicyName } from './policy.js';
import { judgeByBases, type ReplicaRole } from './replica.js';
import {
  REPLICATION_DEFAULTS,
  sumReplicaCounters,
  type ReplicationSettings,
  type ReplicationStyle,
} from './types.js';
import { ScriptedViewSource } from './view-source.js';
import {
  RelayedViews,
  membershipMembers,
  membershipViewRelay,
  spawnMember,
  spawnRelay,
  VIEW_RELAY_ACTOR,
} from './testing/membership.js';
import { client, front, ledger, type FailingRequest, type IssueCommand } from './workload.js';

// The pure-role harness (golden scenarios, crash at every protocol point), for tests and the CLI.
export {
  CRASH_POINTS,
  ReplicationCluster,
  runReplicationSimulation as runPureReplicationSimulation,
  type CrashPlan,
  type CrashPoint,
} from './simulation.js';

/** What the end checks read of a workload `client`'s state. */
interface ClientView {
  readonly issued: readonly string[];
  readonly replies: Readonly<Record<string, readonly number[]>>;
  readonly refused: Readonly<Record<string, number>>;
  /** Requests the front answered with a `ReplyTimeout` (it gave up on the ledger). */
  readonly timedOut?: Readonly<Record<string, number>>;
}

/**
 * The shape of the simulated workload: `chain`, client groups → a replicated front that calls the
 * ledger synchronously → the replicated ledger; `direct`, client groups → the ledger.
 */
export type Topology = 'chain' | 'direct';

/**
 * Where the replicas' views come from: `scripted`, a `ScriptedViewSource` told of crashes and
 * restarts by the harness; `membership`, the real membership layer on every node (failure detector,
 * view changes, eviction and rejoin with `autoMembership`), relayed as on real nodes.
 */
export type ViewOrigin = 'scripted' | 'membership';
/** Every `ViewOrigin`: the CLI's `--views` choices, and the property test's. */
export const VIEW_ORIGINS: readonly ViewOrigin[] = ['scripted', 'membership'];

/**
 * Options of `runReplicationSimulation`: the seed, which draws whatever is not given (the topology,
 * the nemesis's schedule, when clients issue), the style of the server groups, and the rest below.
 * A run is a function of these (`wallClock` and `debug` aside); its `replayCommand` repeats the ones
 * that change it.
 */
export interface ReplicationSimOptions {
  readonly seed: number;
  /** The style of the server groups (front and ledger); client groups are always semi-active. */
  readonly style: ReplicationStyle;
  /** Every group's ordering policy. Default `reception`. */
  readonly policy?: PolicyName;
  /** Fault kinds of the nemesis. Default: all of them. */
  readonly faults?: readonly FaultKind[];
  /** An explicit fault schedule instead of the nemesis. */
  readonly schedule?: FaultSchedule;
  /** `chain`: clients → front (synchronous calls) → ledger; `direct`: clients → ledger. Default: from the seed. */
  readonly topology?: Topology;
  /** Client requests in all, over two client groups. Default 12. */
  readonly requests?: number;
  /** The ledger group's actor (default the workload's `ledger`): a test may give a faulty one. */
  readonly ledger?: ActorBehavior;
  /**
   * The front (chain topology) handles each ledger reply with a nondeterministic `ctx.call`
   * (`front({ callOnReply: true })`): a backup that called the real source instead of replaying its
   * primary's value would end in another state. `sim replication --front-calls`.
   */
  readonly frontCalls?: boolean;
  /**
   * Every fourth request is one the ledger turns down (`failingRequestOf`), by turns thrown in an
   * action after the ledger applied and answered it, and rejected before it ran: each must take
   * effect nowhere and get one `RefusedReply`, also across failovers (`sim replication
   * --failing-requests`; docs/replication.md, "A failed input").
   */
  readonly failingRequests?: boolean;
  /**
   * Replicas (node ids) whose divergence the test provokes on purpose: their `diverged` role is not
   * a violation (every other check still holds, the end checks included: by the end they must have
   * been removed, added back and caught up by state transfer).
   */
  readonly expectDivergenceAt?: readonly string[];
  /** Replicas of the ledger (and front) group. Default 3; client groups have 2. */
  readonly replicas?: number;
  /** Virtual ms of the safety phase, in which faults strike and clients issue requests. Default 3,000. */
  readonly safetyMs?: number;
  /**
   * Virtual ms of the liveness phase after the heal, at whose end the end checks run. Default
   * 3,000 plus 15 ms per request (3,180 for the default 12 requests).
   */
  readonly livenessMs?: number;
  /**
   * Replication settings of every replica. Unless set here, `digestIntervalMs` is 0: the harness
   * wants a digest on every pass that reaches `digestEvery`, so a divergence is caught where it
   * happens (production pacing trades that for the primary's time).
   */
  readonly settings?: Partial<ReplicationSettings>;
  /** Membership's suspicion delay: a crashed replica leaves the view this long after the crash. */
  readonly suspicionDelayMs?: number;
  /** Default `scripted`. */
  readonly views?: ViewOrigin;
  /** With `views: 'membership'`: the members' settings (`autoMembership` is always on). */
  readonly membershipSettings?: Partial<GroupSettings>;
  /** Real time, for `wallMs` (the simulator reads none). */
  readonly wallClock?: () => number;
  /** On an end-check failure, add a line per replica (role, position, backlog, counters, state). */
  readonly debug?: boolean;
}

/**
 * A check that a run of `runReplicationSimulation` failed: the seed, when (virtual ms and event
 * number), what was wrong, and the command that replays the run. An invariant violation stops the
 * run at once.
 */
export interface ReplicationSimViolation {
  readonly seed: number;
  readonly atMs: number;
  readonly event: number;
  readonly message: string;
  /**
   * `invariant`: a check after an event (order agreement, divergence), a safety violation;
   * `end`: a check at the end of the liveness phase (convergence, exactly-once, replies).
   */
  readonly check: 'invariant' | 'end';
  readonly replayCommand: string;
}

/**
 * What one run of `runReplicationSimulation` found: `ok` and its `violations`, the requests issued
 * and replies received, counts of what the protocol did (most summed from the replicas'
 * `ReplicaCounters`), the faults injected, and the command that replays the run. The CLI's `sim
 * replication` prints it (`--json` too).
 */
export interface ReplicationSimResult {
  readonly seed: number;
  readonly style: ReplicationStyle;
  readonly policy: PolicyName;
  readonly topology: Topology;
  readonly ok: boolean;
  readonly violations: readonly ReplicationSimViolation[];
  readonly requests: number;
  /** Replies the clients received: totals, refusals and timeouts (`timedOut` of them). */
  readonly replies: number;
  /**
   * Requests the front answered with a `ReplyTimeout` because it gave up waiting for the ledger
   * (`settings.syncReplyTimeoutMs`, chain topology): each still takes effect at the ledger once.
   */
  readonly timedOut: number;
  /** Synchronous replies that came after their caller gave up, dropped (`counters.lateRepliesDropped`). */
  readonly lateRepliesDropped: number;
  /** Promotions after the first primaries: failovers. */
  readonly failovers: number;
  readonly stateTransfers: number;
  /** State transfers joiners ignored as answers to an earlier joining (`counters.stateTransfersStale`). */
  readonly stateTransfersStale: number;
  /** Views that named a joining replica primary (it refused; membership moved on). */
  readonly refusedPromotions: number;
  /** Replicas taken out alive (evicted, diverged) and added back, which started over as joining. */
  readonly rejoins: number;
  /**
   * Replicas that learnt a basis cutting before a position they processed (they followed a primary
   * cut off from the group) and started over by state transfer.
   */
  readonly discardedStates: number;
  /** State transfers and flush replies too large for one frame, sent in parts and joined. */
  readonly controlMessagesJoined: number;
  /** Divergences replicas reported (their state or supervised values differed from the primary's). */
  readonly divergences: number;
  /** Late messages of an older epoch dropped because they were past the flush's cut. */
  readonly fencedMessages: number;
  /**
   * Later copies kept beside an unprocessed input on the same channel, which may be another message
   * (`counters.otherCopiesKept`): a source group that changed its mind about a channel.
   */
  readonly otherCopiesKept: number;
  /**
   * Messages of a group's epoch that reached a replica before any basis of that epoch
   * (`counters.copiesAheadOfBasis`): 0 unless a path sends a new epoch's message ahead of its basis.
   */
  readonly copiesAheadOfBasis: number;
  /** Inputs backups fetched from their primary: messages their source group disowned (`counters.inputsFetched`). */
  readonly inputsFetched: number;
  /**
   * Inputs semi-active backups asked for by the safety net (`counters.stuckInputsAsked`): stopped at
   * one position for `stuckAskMs` (500 ms by default) with no other rule asking. Not a violation (a long partition from the
   * sender does it too), but a hint worth a look in a sweep.
   */
  readonly stuckInputsAsked: number;
  /**
   * Times the missing-entry safety net changed what a semi-active backup did: its primary's answer
   * brought the announcement it lacked (`counters.missingEntriesFetched`), or said it was no
   * longer kept and the backup started over by state transfer (`counters.fellBehind`). Not a
   * violation (an announcement late for `stuckAskMs` is fetched too), but a hint worth a look,
   * like `stuckInputsAsked`. The asks themselves (`counters.missingEntriesAsked`) are far more: a
   * primary cut off from its group orders nothing, and its backups ask meanwhile.
   */
  readonly missingEntriesFetched: number;
  readonly fellBehind: number;
  /**
   * Groups whose every replica holding the state failed together (the last holder crashed while the
   * others were joining or had been taken out alive): more failures than the group tolerates. The
   * end checks skip what depended on that state; the safety checks ran after every event.
   */
  readonly stateLosses: readonly { readonly group: string; readonly atMs: number }[];
  readonly nullMessages: number;
  /** Peer announcements relayed to their own group, and passed because its members held them. */
  readonly entriesRelayed: number;
  readonly relaysSkipped: number;
  readonly events: number;
  readonly simulatedMs: number;
  readonly faultsInjected: SimulationResult['faultsInjected'];
  readonly replayCommand: string;
  readonly wallMs?: number;
}

interface GroupPlan {
  readonly group: string;
  readonly members: readonly string[];
  readonly peers: readonly string[];
  readonly behavior: Parameters<typeof replicaActor>[0];
  readonly style: ReplicationStyle;
}

/** Client requests of a run unless it says otherwise (`sim replication --requests`' default too). */
export const REPLICATION_SIM_REQUESTS_DEFAULT = 12;

/** Replicas per server group (front and ledger) unless a run says otherwise. */
const DEFAULT_SERVER_REPLICAS = 3;

/** The replica settings a sweep may set, so a replay line must repeat them. */
const REPLAYED_SETTINGS = [
  'piggybackCharsMax',
  'outputCommit',
  'stuckAskMs',
  'checkpointIntervalMs',
  'syncReplyTimeoutMs',
] as const;

/** What else a replay must repeat, each only when it differs from the default. */
export interface ReplicationReplayExtras extends Partial<
  Pick<ReplicationSettings, (typeof REPLAYED_SETTINGS)[number]>
> {
  readonly faults?: readonly FaultKind[];
  readonly replicas?: number;
  readonly frontCalls?: boolean;
  readonly failingRequests?: boolean;
  /** A topology the run was given (not the seed's): `--topology`. */
  readonly topology?: Topology;
  /** Client requests, when not the default 12: `--requests`. */
  readonly requests?: number;
  /** An explicit fault schedule in place of the nemesis: `--schedule`, inline JSON. */
  readonly schedule?: FaultSchedule;
}

/**
 * The CLI command that runs one seed again, byte for byte: every option the run was given that
 * changes it (faults, replicas per server group and the frame budget too, since a sweep may set
 * them; a replay line that left one out would run another schedule).
 */
export function replicationSimReplayCommand(
  seed: number,
  style: ReplicationStyle,
  policy?: PolicyName,
  views: ViewOrigin = 'scripted',
  extras: ReplicationReplayExtras = {},
): string {
  const words = ['pnpm steadfast sim replication --seeds 1 --from', String(seed), '--style', style];
  if (policy !== undefined) words.push('--policy', policy);
  if (views !== 'scripted') words.push('--views', views);
  const {
    faults,
    replicas,
    piggybackCharsMax,
    outputCommit,
    frontCalls,
    failingRequests,
    stuckAskMs,
    checkpointIntervalMs,
    syncReplyTimeoutMs,
    topology,
    requests,
    schedule,
  } = extras;
  if (faults !== undefined && formatFaults(faults) !== formatFaults(ALL_FAULTS))
    words.push('--faults', formatFaults(faults));
  if (replicas !== undefined && replicas !== DEFAULT_SERVER_REPLICAS)
    words.push('--replicas', String(replicas));
  if (piggybackCharsMax !== undefined) words.push('--piggyback-chars', String(piggybackCharsMax));
  if (outputCommit !== undefined && outputCommit !== REPLICATION_DEFAULTS.outputCommit)
    words.push('--output-commit', outputCommit);
  if (frontCalls === true) words.push('--front-calls');
  if (failingRequests === true) words.push('--failing-requests');
  if (stuckAskMs !== undefined && stuckAskMs !== REPLICATION_DEFAULTS.stuckAskMs)
    words.push('--stuck-ask-ms', String(stuckAskMs));
  if (
    checkpointIntervalMs !== undefined &&
    checkpointIntervalMs !== REPLICATION_DEFAULTS.checkpointIntervalMs
  )
    words.push('--checkpoint-interval-ms', String(checkpointIntervalMs));
  if (syncReplyTimeoutMs !== undefined && syncReplyTimeoutMs !== REPLICATION_DEFAULTS.syncReplyTimeoutMs)
    words.push('--sync-reply-timeout-ms', String(syncReplyTimeoutMs));
  if (topology !== undefined) words.push('--topology', topology);
  if (requests !== undefined && requests !== REPLICATION_SIM_REQUESTS_DEFAULT)
    words.push('--requests', String(requests));
  // In single quotes for a POSIX shell (a quote inside, which no valid node id has, closes and
  // reopens them around an escaped one).
  if (schedule !== undefined)
    words.push('--schedule', `'${JSON.stringify(schedule).replaceAll("'", "'\\''")}'`);
  return words.join(' ');
}

/** The settings of `REPLAYED_SETTINGS` that a run was given. */
function replayedSettings(
  settings: Partial<ReplicationSettings> | undefined,
): Partial<Pick<ReplicationSettings, (typeof REPLAYED_SETTINGS)[number]>> {
  const replayed: Record<string, unknown> = {};
  for (const key of REPLAYED_SETTINGS) if (settings?.[key] !== undefined) replayed[key] = settings[key];
  return replayed;
}

/**
 * Whether (and how) the ledger turns down request `index` (0-based) of a run with
 * `failingRequests`: every fourth, by turns `throw` and `reject`.
 */
export function failingRequestOf(index: number): FailingRequest | undefined {
  if (index % 4 !== 3) return undefined;
  return (index - 3) % 8 === 0 ? 'throw' : 'reject';
}

/** No client command is offered in the last this-many milliseconds of a run. */
const QUIET_END_MS = 500;

/**
 * The default liveness phase: 3 s to recover from the faults, plus this much per request, since the
 * work a run leaves at the heal grows with its requests (and with the client groups' timers that
 * fired meanwhile). A fixed 3 s ended runs while the groups were still catching up, requests
 * unanswered: seed 98203 with 600 requests (passive; its client group at position 8,484, every
 * request answered once with 6 s), and seeds 99616 and 99654 with 100 (`majority`, failing
 * requests, membership views; each passes with 3.5 s). 10 ms per request then ended seed 100982
 * of the chain too early with 200 requests (`majority`, the front's `ctx.call`s, an 80 ms reply
 * timeout: 5 s, where it passes with 6). A run of the default 12 requests gets 3.18 s.
 */
const LIVENESS_MS_PER_REQUEST = 15;

/** A time after which a restarted replica is assumed to have its state transfer. */
const JOIN_GRACE_MS = 600;

/**
 * The nemesis's schedule, with the crashes removed that would leave a group without a live member
 * that holds the state (`survivableSchedule`).
 */
export function replicationSchedule(
  seed: number,
  groups: readonly { readonly members: readonly string[] }[],
  faults: readonly FaultKind[],
  safetyMs: number,
): ScheduledFault[] {
  const nodes = groups.flatMap((group) => group.members);
  const planned = planFaults(new Prng(seed).fork('replication-nemesis'), {
    nodes,
    faults,
    safetyMs,
    crashedMax: nodes.length,
  });
  return survivableSchedule(planned, groups);
}

/**
 * `schedule` without what no replica group survives or what means nothing: a crash that would
 * leave its group without a live member holding the state (up, and not restarted within
 * `JOIN_GRACE_MS`), since replication keeps state in memory and a group whose every replica failed
 * together has lost it, which no protocol can mend; a crash of a node already down; a restart of a
 * node that is up. Entries are taken in the order given (sorted by `atMs`, as a schedule is).
 *
 * `failuresMax` bounds, per group, the members that do not hold the state at once (crashed, or
 * restarted and still within `JOIN_GRACE_MS`), the crashing one included: a crash past it is left
 * out too. Default: all but one. With 1, a group fails one replica at a time, which is what
 * `outputCommit: 'majority'` promises to survive in a group of two or three (a position a majority
 * held is still held by a live member): two of three crashing together may take a position that
 * only they held.
 */
export function survivableSchedule(
  schedule: FaultSchedule,
  groups: readonly { readonly members: readonly string[] }[],
  failuresMax?: number,
): ScheduledFault[] {
  if (failuresMax !== undefined && !(Number.isInteger(failuresMax) && failuresMax >= 1))
    throw new RangeError(`failuresMax must be a positive integer, got ${String(failuresMax)}`);
  const down = new Set<string>();
  const restartedAtMs = new Map<string, number>();
  const kept: ScheduledFault[] = [];
  for (const entry of schedule) {
    if (entry.fault === 'restart') {
      const nodesUp = entry.nodes.filter((node) => down.has(node));
      for (const node of nodesUp) {
        down.delete(node);
        restartedAtMs.set(node, entry.atMs);
      }
      if (nodesUp.length > 0) kept.push({ ...entry, nodes: nodesUp });
      continue;
    }
    if (entry.fault !== 'crash') {
      kept.push(entry);
      continue;
    }
    const crashing = entry.nodes.filter((node) => {
      const group = groups.find((plan) => plan.members.includes(node));
      if (group === undefined || down.has(node)) return false;
      const holders = group.members.filter(
        (member) =>
          member !== node &&
          !down.has(member) &&
          entry.atMs - (restartedAtMs.get(member) ?? -JOIN_GRACE_MS) >= JOIN_GRACE_MS,
      );
      // At least one holder left, and no more members without the state than `failuresMax`.
      const withoutState = group.members.length - holders.length;
      if (withoutState > Math.min(failuresMax ?? Infinity, group.members.length - 1)) return false;
      down.add(node);
      return true;
    });
    if (crashing.length > 0) kept.push({ ...entry, nodes: crashing });
  }
  return kept;
}

/**
 * The node ids of each group of a run, by group name: the client groups C and D (2 replicas each),
 * the ledger B and, in the chain topology, the front A (`replicas` each).
 */
export function replicationGroupMembers(
  topology: Topology,
  replicas: number = DEFAULT_SERVER_REPLICAS,
): Record<string, readonly string[]> {
  const range = (prefix: string, count: number) =>
    Array.from({ length: count }, (_, index) => `${prefix}${index + 1}`);
  const members: Record<string, readonly string[]> = {
    C: range('c', 2),
    D: range('d', 2),
    B: range('b', replicas),
  };
  if (topology === 'chain') members['A'] = range('a', replicas);
  return members;
}

interface Hosted {
  readonly node: NodeId;
  readonly group: string;
  readonly incarnation: number;
  readonly role: ReplicaRole;
}

/** One seeded run of replica groups on `@steadfast/sim`. */
export async function runReplicationSimulation(
  options: ReplicationSimOptions,
): Promise<ReplicationSimResult> {
  const seed = options.seed;
  const style = options.style;
  const policyName = options.policy ?? 'reception';
  const policy = policyByName(policyName);
  const plan = new Prng(seed).fork('replication-plan');
  const topology: Topology = options.topology ?? (plan.chance(0.5) ? 'chain' : 'direct');
  const requests = options.requests ?? REPLICATION_SIM_REQUESTS_DEFAULT;
  const replicas = options.replicas ?? DEFAULT_SERVER_REPLICAS;
  const safetyMs = options.safetyMs ?? 3_000;
  const livenessMs = options.livenessMs ?? 3_000 + requests * LIVENESS_MS_PER_REQUEST;
  const faults = options.faults ?? ALL_FAULTS;
  const entry = topology === 'chain' ? 'A' : 'B';
  const failingOf = (index: number) =>
    options.failingRequests === true ? failingRequestOf(index) : undefined;
  // A front that gives up on the ledger answers its client with the timeout instead of a total.
  const timeoutsOn = (options.settings?.syncReplyTimeoutMs ?? REPLICATION_DEFAULTS.syncReplyTimeoutMs) > 0;
  const memberIds = replicationGroupMembers(topology, replicas);
  const groups: GroupPlan[] = [
    { group: 'C', members: memberIds['C']!, peers: [entry], behavior: client, style: 'semi-active' },
    { group: 'D', members: memberIds['D']!, peers: [entry], behavior: client, style: 'semi-active' },
    {
      group: 'B',
      members: memberIds['B']!,
      peers: topology === 'chain' ? ['A'] : ['C', 'D'],
      behavior: options.ledger ?? ledger,
      style,
    },
  ];
  if (topology === 'chain')
    groups.push({
      group: 'A',
      members: memberIds['A']!,
      peers: ['C', 'D', 'B'],
      behavior: front({ ledgerGroup: 'B', sync: true, callOnReply: options.frontCalls === true }),
      style,
    });
  const groupOf = new Map<string, GroupPlan>();
  for (const group of groups) for (const member of group.members) groupOf.set(member, group);
  const hosted = new Map<NodeId, Hosted>();
  const allRoles: Hosted[] = [];
  const behaviors = new Map(
    groups.map((group) => [
      group.group,
      replicaActor(group.behavior, {
        style: group.style,
        policy,
        settings: { digestIntervalMs: 0, ...options.settings },
        onRole: (role, ctx) => {
          const record: Hosted = { node: ctx.node, group: group.group, incarnation: role.incarnation, role };
          hosted.set(ctx.node, record);
          allRoles.push(record);
        },
      }),
    ]),
  );
  const schedule = options.schedule ?? replicationSchedule(seed, groups, faults, safetyMs);
  const viewOrigin = options.views ?? 'scripted';
  let views: ScriptedViewSource | undefined;
  // The membership origin: what every node relayed (the harness's window on the current views).
  const relayed = new RelayedViews();
  const currentViews: { current(group: string): GroupView | undefined } =
    viewOrigin === 'membership' ? relayed : { current: (group) => views?.current(group) };
  const members =
    viewOrigin === 'membership' ? membershipMembers(groups, options.membershipSettings) : undefined;
  const relay = membershipViewRelay((_node, view) => relayed.record(view));
  const running = new Set<string>();
  const violations: ReplicationSimViolation[] = [];
  // The first violation stops a run, so the end checks ran only if no invariant failed before.
  let endChecked = false;
  const replayCommand = replicationSimReplayCommand(seed, style, options.policy, viewOrigin, {
    faults,
    replicas,
    ...replayedSettings(options.settings),
    ...(options.frontCalls === true ? { frontCalls: true } : {}),
    ...(options.failingRequests === true ? { failingRequests: true } : {}),
    ...(options.topology === undefined ? {} : { topology: options.topology }),
    requests,
    ...(options.schedule === undefined ? {} : { schedule: options.schedule }),
  });

  const tellView = (simulation: Simulation, member: NodeId, view: Parameters<typeof replicaViewCommand>[0]) =>
    simulation.node(member)?.tell(address(member, REPLICA_ACTOR_NAME), replicaViewCommand(view));

  const simulation: Simulation = new Simulation({
    seed,
    nodes: groups.flatMap((group) => group.members),
    faults,
    schedule,
    safetyMs,
    livenessMs,
    trace: false,
    ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
    setup(node: Node, context) {
      const group = groupOf.get(node.id)!;
      const input: ReplicaActorInput = {
        group: group.group,
        incarnation: context.incarnation,
        peers: group.peers.map((peer) => ({
          group: peer,
          contacts: (groups.find((plan) => plan.group === peer)?.members ?? []).map((member) =>
            nodeId(member),
          ),
        })),
        joining: context.restart,
        // With real membership, refusals and divergence go back to it through the relay.
        ...(members === undefined ? {} : { reportToLocal: VIEW_RELAY_ACTOR }),
      };
      if (members !== undefined) spawnRelay(node, relay);
      node.spawn(REPLICA_ACTOR_NAME, behaviors.get(group.group)!, input);
      running.add(node.id);
      // Membership finds crashes and restarts itself (its member restores from the node's disk).
      if (members !== undefined) return spawnMember(node, group.group, members.get(group.group)!, context);
      if (!context.restart || views === undefined) return;
      const source = views;
      // The new incarnation joins once its node is up (its actor must exist to take the view).
      simulation.clock.setTimer(0, () => source.join(group.group, nodeId(node.id)));
    },
    workload(sim) {
      if (viewOrigin === 'scripted') {
        const ranks: Record<string, NodeId[]> = {};
        for (const group of groups) ranks[group.group] = group.members.map((member) => nodeId(member));
        const source = new ScriptedViewSource(sim.clock, ranks, options.suspicionDelayMs ?? 40);
        views = source;
        source.subscribe((view) => {
          for (const member of view.members) tellView(sim, member, view);
        });
        source.installInitial();
      }
      const random = sim.random('requests');
      for (let index = 0; index < requests; index++) {
        const clientGroup = index % 2 === 0 ? 'C' : 'D';
        const fail = failingOf(index);
        const command: IssueCommand = {
          type: 'issue',
          key: `r${index + 1}`,
          target: entry,
          priority: random.between(0, 3),
          deadlineMs: random.between(0, 500),
          ...(fail === undefined ? {} : { fail }),
        };
        issueUntilTaken(sim, clientGroup, command, 50 + random.between(0, Math.floor(safetyMs / 2)));
      }
    },
    invariants: [
      (sim) => {
        noticeCrashes(sim);
        noticeStateLoss(sim);
        return checkOrder();
      },
    ],
    liveness: [
      () => {
        endChecked = true;
        return checkEnd();
      },
    ],
  });

  /**
   * The harness keeps offering an issue command to the client group's primary until it is
   * answered, and looks until another member of the group's view holds the answer too: an answer
   * only the primary holds may be lost with it (seed 100982 of the chain with a reply timeout: the
   * client group's primary, cut off from its backup, timed its own call out, and crashed; the
   * backup that took over had never issued the request, and the harness had stopped offering).
   */
  function issueUntilTaken(sim: Simulation, clientGroup: string, command: IssueCommand, atMs: number): void {
    sim.clock.setTimer(atMs, () => {
      // The last half second is quiet, so the end checks look at a settled group: an offer at the
      // very end would be a position the primary processed and the backups could not hear of yet.
      if (sim.clock.now() >= safetyMs + livenessMs - QUIET_END_MS) return;
      const view = currentViews.current(clientGroup);
      const primary = view?.primary;
      const role = primary === undefined ? undefined : hosted.get(primary)?.role;
      // Like a client that retries until answered: a primary that took the command may crash
      // before anyone else learnt of it, and the replicas' `issued` list drops repeats.
      if (role?.role === 'primary' && holdsAnswer(role, command.key)) {
        const others = view!.members.filter((member) => member !== primary);
        const heldElsewhere = others.some((member) => {
          const other = hosted.get(member)?.role;
          return !sim.isCrashed(member) && other?.role === 'backup' && holdsAnswer(other, command.key);
        });
        // Only looks again, without an offer: an offer is a position of the client group.
        if (others.length > 0 && !heldElsewhere) issueUntilTaken(sim, clientGroup, command, 100);
        return;
      }
      if (primary !== undefined)
        sim.node(primary)?.tell(address(primary, REPLICA_ACTOR_NAME), replicaExternalCommand(command));
      issueUntilTaken(sim, clientGroup, command, 100);
    });
  }

  /** Whether the client replica `role` holds an answer to the request `key`. */
  function holdsAnswer(role: ReplicaRole, key: string): boolean {
    const state = role.actorState() as ClientView | undefined;
    return (
      state?.replies[key] !== undefined ||
      state?.refused[key] !== undefined ||
      state?.timedOut?.[key] !== undefined
    );
  }

  /**
   * Groups whose state died: the last replicas that held it crashed or were taken out of the group
   * alive by membership (evicted while partitioned), while every other live replica had restarted
   * empty and was still joining. Replicas keep the state in each other, not on disk, and a removed
   * replica forgets its state when added back (it may have missed what the group decided meanwhile),
   * so that is more failures than the group tolerates. The schedule avoids it for crashes alone,
   * but not when real membership evicts a live replica too. Such a group has nothing to serve from
   * and rightly stays without a primary. The run reports the loss; the safety checks still ran
   * after every event, and the end checks skip what depended on the lost state.
   */
  const stateLost = new Map<string, number>();
  const holdersBefore = new Map<string, Hosted[]>();
  const HOLDER_ROLES: ReadonlySet<string> = new Set(['primary', 'backup', 'recovering']);

  function noticeStateLoss(sim: Simulation): void {
    for (const group of groups) {
      if (stateLost.has(group.group)) continue;
      const holders = liveRoles(group.group).filter((record) => HOLDER_ROLES.has(record.role.role));
      const before = holdersBefore.get(group.group) ?? [];
      holdersBefore.set(group.group, holders);
      if (holders.length > 0 || before.length === 0) continue;
      // The last holders crashed, or membership took them out alive (a removed replica forgets its
      // state): not a replica that diverged or discarded its state, which the checks must see.
      const failed = before.every(
        (record) =>
          sim.isCrashed(record.node) || hosted.get(record.node) !== record || record.role.role === 'removed',
      );
      if (failed) stateLost.set(group.group, sim.clock.now());
    }
  }

  /** Crashes are reported to the scripted membership, which removes the replica after a delay. */
  function noticeCrashes(sim: Simulation): void {
    for (const node of [...running]) {
      if (!sim.isCrashed(node)) continue;
      running.delete(node);
      const group = groupOf.get(node)!;
      views?.report({ type: 'crashed', group: group.group, replica: nodeId(node) });
    }
  }

  /**
   * Position → input key (and the epoch a primary ordered it in) per group, as processed by a
   * replica that was not primary (so it had been announced, or decided by a flush): once there, no
   * replica of any later incarnation or epoch may process anything else at that position, unless a
   * later epoch's basis cuts before it. That exception is what a primary cut off from its group
   * makes (views from the real membership): it and backups that still follow it may order past what
   * the next primary learns of; those positions were never decided, and the replicas that hold them
   * start over by state transfer when they learn the basis. A primary's own positions join the order
   * when someone else follows them: what a primary processed and nobody learnt of dies with it.
   */
  const decided = new Map<string, Map<number, { key: string; epoch: number }>>();
  const checkedUpTo = new Map<Hosted, number>();
  /** Every epoch basis any replica of the group announced during the run (replicas keep 8). */
  const basesSeen = new Map<string, Map<number, number>>();

  function learnBases(): string[] {
    const messages: string[] = [];
    for (const record of allRoles) {
      let known = basesSeen.get(record.group);
      if (known === undefined) {
        known = new Map();
        basesSeen.set(record.group, known);
      }
      for (const basis of record.role.epochBases()) {
        const cut = known.get(basis.epoch);
        if (cut === undefined) known.set(basis.epoch, basis.cut);
        else if (cut !== basis.cut)
          messages.push(`group ${record.group}: epoch ${basis.epoch} has two cuts, ${cut} and ${basis.cut}`);
      }
    }
    return messages;
  }

  /** True when a later epoch's basis cuts before `position`: an entry of `epoch` there was never decided. */
  function undecided(group: string, epoch: number, position: number): boolean {
    const known = basesSeen.get(group);
    if (known === undefined) return false;
    const bases = [...known].map(([basisEpoch, cut]) => ({ epoch: basisEpoch, cut }));
    return judgeByBases(bases, epoch, position) === false;
  }

  /** Two entries at one position: a violation unless one of them was never decided. */
  function conflict(
    group: string,
    position: number,
    known: { key: string; epoch: number },
    key: string,
    epoch: number,
  ): 'same' | 'replace' | 'ignore' | 'violation' {
    if (known.key === key) return 'same';
    if (known.epoch !== epoch && undecided(group, known.epoch, position)) return 'replace';
    if (known.epoch !== epoch && undecided(group, epoch, position)) return 'ignore';
    return 'violation';
  }

  function checkOrder(): string[] {
    const messages: string[] = learnBases();
    for (const record of allRoles) {
      const role = record.role;
      if (role.role === 'diverged' && !(options.expectDivergenceAt ?? []).includes(record.node))
        messages.push(`replica ${record.node}#${record.incarnation} of ${record.group} diverged`);
      // A removed replica's history is nobody's order (a deposed primary's, say); it joins again
      // by state transfer, which resets it.
      if (role.role === 'primary' || role.role === 'removed') continue;
      if (simulation.isCrashed(record.node) || hosted.get(record.node) !== record) continue;
      let order = decided.get(record.group);
      if (order === undefined) {
        order = new Map();
        decided.set(record.group, order);
      }
      const history = role.history();
      const epochs = role.historyEpochs();
      const start = role.historyStart();
      const from = Math.max(checkedUpTo.get(record) ?? 0, start);
      const last = start + history.length;
      for (let position = from + 1; position <= last; position++) {
        const key = history[position - start - 1]!;
        const epoch = epochs[position - start - 1]!;
        const known = order.get(position);
        const verdict = known === undefined ? 'replace' : conflict(record.group, position, known, key, epoch);
        if (verdict === 'replace') order.set(position, { key, epoch });
        else if (verdict === 'violation')
          messages.push(
            `group ${record.group}: ${record.node}#${record.incarnation} processed ${key} (epoch ${epoch}) at position ${position}, an earlier replica ${known!.key} (epoch ${known!.epoch})`,
          );
      }
      checkedUpTo.set(record, last);
    }
    // Every live replica, primary included, agrees with the decided order where both have a key.
    for (const record of hosted.values()) {
      if (simulation.isCrashed(record.node) || record.role.role === 'removed') continue;
      const order = decided.get(record.group);
      if (order === undefined) continue;
      const history = record.role.history();
      const epochs = record.role.historyEpochs();
      const start = record.role.historyStart();
      const from = Math.max(start, record.role.position - 8);
      for (let position = from + 1; position <= start + history.length; position++) {
        const known = order.get(position);
        const key = history[position - start - 1]!;
        const epoch = epochs[position - start - 1]!;
        if (known !== undefined && conflict(record.group, position, known, key, epoch) === 'violation')
          messages.push(
            `group ${record.group}: ${record.node}#${record.incarnation} (${record.role.role}) holds ${key} (epoch ${epoch}) at position ${position}, the decided order ${known.key} (epoch ${known.epoch})`,
          );
      }
    }
    return messages;
  }

  function liveRoles(group: string): Hosted[] {
    return [...hosted.values()].filter(
      (record) => record.group === group && !simulation.isCrashed(record.node),
    );
  }

  function checkEnd(): string[] {
    const messages: string[] = [];
    // Nothing here sends a malformed control message, checkpoint or piggyback: a drop means the shape checks
    // (control-form.ts) refused one the replicas wrote themselves.
    for (const record of allRoles) {
      const { controlMessagesDropped, checkpointsDropped, piggybackFieldsDropped } = record.role.counters;
      if (controlMessagesDropped + checkpointsDropped + piggybackFieldsDropped > 0)
        messages.push(
          `${record.node}#${record.incarnation} dropped as malformed ${controlMessagesDropped} control messages, ${checkpointsDropped} checkpoints and ${piggybackFieldsDropped} piggyback fields`,
        );
    }
    for (const group of groups) {
      if (stateLost.has(group.group)) continue;
      const view = currentViews.current(group.group);
      const primary = view === undefined ? undefined : hosted.get(view.primary);
      if (primary === undefined || primary.role.role !== 'primary') {
        const state =
          primary === undefined
            ? 'not running'
            : `${primary.role.role}${primary.role.flushBlockers().length > 0 ? `, flush waits for: ${primary.role.flushBlockers().slice(0, 3).join('; ')}` : ''}`;
        messages.push(`group ${group.group} has no serving primary at the end (${view?.primary}: ${state})`);
        continue;
      }
      // The workload's front counts replies handed to it for no request it waits on: a late
      // synchronous reply the replica should have dropped (every replica that processed it alike).
      for (const record of liveRoles(group.group)) {
        const stray = (record.role.actorState() as { strayReplies?: number } | undefined)?.strayReplies;
        if (stray !== undefined)
          messages.push(
            `${record.node} of ${group.group}: its actor was handed ${stray} replies it did not wait for`,
          );
      }
      for (const record of liveRoles(group.group)) {
        if (record === primary) continue;
        const role = record.role;
        if (role.role !== 'backup') {
          messages.push(`replica ${record.node} of ${group.group} is ${role.role} at the end`);
          continue;
        }
        if (group.style === 'passive') {
          if (role.coverage() !== primary.role.position)
            messages.push(
              `passive backup ${record.node} of ${group.group} covers ${role.coverage()}, the primary is at ${primary.role.position}`,
            );
          continue;
        }
        if (role.position !== primary.role.position)
          messages.push(
            `replica ${record.node} of ${group.group} is at ${role.position}, the primary at ${primary.role.position}`,
          );
        else if (role.digest() !== primary.role.digest())
          messages.push(`replica ${record.node} of ${group.group} holds another state than the primary`);
      }
    }
    // Which requests took effect, and which replies came back, was in the lost state.
    if (stateLost.size > 0) return messages;
    const ledgerPrimary = hosted.get(currentViews.current('B')?.primary ?? nodeId('b1'));
    const ledgerState = ledgerPrimary?.role.actorState() as
      { context?: { applied?: Record<string, number>; total?: number } } | undefined;
    const applied = ledgerState?.context?.applied ?? {};
    const totals: number[] = [];
    let failing = 0;
    for (let index = 0; index < requests; index++) {
      const key = `r${index + 1}`;
      const fail = failingOf(index);
      if (fail !== undefined) failing++;
      // A failing request takes effect nowhere: its one answer is a refusal.
      const effects = fail === undefined ? 1 : 0;
      if ((applied[key] ?? 0) !== effects)
        messages.push(`request ${key} took effect ${applied[key] ?? 0} times at the ledger`);
      const clientGroup = index % 2 === 0 ? 'C' : 'D';
      const clientPrimary = hosted.get(currentViews.current(clientGroup)?.primary ?? nodeId('c1'));
      const state = clientPrimary?.role.actorState() as ClientView | undefined;
      const received = state?.replies[key] ?? [];
      const refused = state?.refused[key] ?? 0;
      const timedOut = state?.timedOut?.[key] ?? 0;
      const answers = received.length + refused + timedOut;
      if (answers !== 1) messages.push(`request ${key} got ${answers} replies at ${clientGroup}`);
      else if (timedOut > 0) {
        // The front gave up on the ledger: the client is told nothing of the request's fate, so
        // the ledger's count above is what says it took effect as it should (once, or nowhere).
        if (!timeoutsOn)
          messages.push(`request ${key} timed out at ${clientGroup}, but syncReplyTimeoutMs is 0`);
      } else if (fail === undefined && refused > 0)
        messages.push(`request ${key} was refused at ${clientGroup}, but the ledger had no reason to`);
      else if (fail !== undefined && refused === 0)
        messages.push(`request ${key} (${fail}) got a total at ${clientGroup}, not a refusal`);
      totals.push(...received);
    }
    if (new Set(totals).size !== totals.length)
      messages.push('two requests got the same total: replies disagree with the ledger order');
    if (ledgerState?.context?.total !== requests - failing)
      messages.push(`the ledger's total is ${ledgerState?.context?.total}, expected ${requests - failing}`);
    if (messages.length > 0 && options.debug === true)
      for (const record of hosted.values())
        messages.push(
          `debug ${record.node}#${record.incarnation} ${record.role.role} pos ${record.role.position} backlog ${JSON.stringify(record.role.backlog())} counters ${JSON.stringify(record.role.counters)} blockers ${record.role.flushBlockers().join(';')} state ${JSON.stringify(record.role.actorState())}`,
        );
    return messages;
  }

  const result = await simulation.run();
  for (const violation of result.violations)
    if (violations.length < (options.debug === true ? 100 : 10))
      violations.push({
        seed,
        atMs: violation.atMs,
        event: violation.event,
        message: violation.message,
        check: endChecked ? 'end' : 'invariant',
        replayCommand,
      });
  let replies = 0;
  let timedOut = 0;
  for (const clientGroup of ['C', 'D']) {
    const primary = hosted.get(currentViews.current(clientGroup)?.primary ?? nodeId('c1'));
    const state = primary?.role.actorState() as ClientView | undefined;
    for (const totals of Object.values(state?.replies ?? {})) replies += totals.length;
    for (const count of Object.values(state?.refused ?? {})) replies += count;
    for (const count of Object.values(state?.timedOut ?? {})) timedOut += count;
  }
  replies += timedOut;
  const total = sumReplicaCounters(allRoles.map((record) => record.role.counters));
  return {
    seed,
    style,
    policy: policyName,
    topology,
    ok: violations.length === 0,
    violations,
    requests,
    replies,
    timedOut,
    lateRepliesDropped: total.lateRepliesDropped,
    failovers: total.promotions - groups.length,
    stateTransfers: total.stateTransfersApplied,
    stateTransfersStale: total.stateTransfersStale,
    refusedPromotions: total.refusedPromotions,
    rejoins: total.rejoins,
    discardedStates: total.discardedStates,
    controlMessagesJoined: total.controlMessagesJoined,
    divergences: total.divergences,
    fencedMessages: total.fencedMessages,
    otherCopiesKept: total.otherCopiesKept,
    copiesAheadOfBasis: total.copiesAheadOfBasis,
    inputsFetched: total.inputsFetched,
    stuckInputsAsked: total.stuckInputsAsked,
    missingEntriesFetched: total.missingEntriesFetched,
    fellBehind: total.fellBehind,
    stateLosses: [...stateLost].map(([group, atMs]) => ({ group, atMs })),
    nullMessages: total.nullMessages,
    entriesRelayed: total.entriesRelayed,
    relaysSkipped: total.relaysSkipped,
    events: result.events,
    simulatedMs: result.simulatedMs,
    faultsInjected: result.faultsInjected,
    replayCommand,
    ...(result.wallMs === undefined ? {} : { wallMs: result.wallMs }),
  };
}

/** Runs `runs` consecutive seeds from `from` (the CLI's `--seeds N --from S`). */
export async function runReplicationSimulations(
  options: Omit<ReplicationSimOptions, 'seed'> & { readonly from: number; readonly runs: number },
): Promise<{
  runs: number;
  violations: ReplicationSimViolation[];
  requests: number;
  failovers: number;
  results: ReplicationSimResult[];
}> {
  const results: ReplicationSimResult[] = [];
  for (let seed = options.from; seed < options.from + options.runs; seed++)
    results.push(await runReplicationSimulation({ ...options, seed }));
  return {
    runs: results.length,
    violations: results.flatMap((result) => result.violations),
    requests: results.reduce((sum, result) => sum + result.requests, 0),
    failovers: results.reduce((sum, result) => sum + result.failovers, 0),
    results,
  };
}
