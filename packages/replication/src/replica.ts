/**
 * The replica role (seed `primary-order-announcements.txt`, claims 33-69; `replica-supervisors.txt`):
 * one replica of a replicated actor. It hosts the user's unchanged actor with its own `Supervisor`
 * (record on the primary, replay on a backup) and takes part, through the group layer's pure
 * multicast endpoints, in one connection per peer group. Which role it plays (starting, joining,
 * backup, recovering, primary, diverged, removed) is the state of an xstate machine
 * (`lifecycle.ts`) that this class consults through xstate's pure `transition()`; the tables stay
 * in plain fields here.
 *
 * - The primary picks the next input with its `OrderingPolicy`, processes it at once (before any
 *   announcement: claims 35, 55), and records the position with the supervised values it took.
 *   Announcements ride on the next application message it multicasts on any connection (claims 42,
 *   44, 62), several per message (43); if nothing leaves within `announceDelayMs`, a null message
 *   carries them (46).
 * - The primary processes a synchronous reply at once, with no ordering decision (claim 48): its
 *   position follows from the request that waited for it, and the values its handling takes are
 *   derived from data the reply itself carries (`derived`). Backups process it from the primary's
 *   `implied` entry, since its handler may also take `ctx.call` values no reply can carry.
 * - A semi-active backup processes in the announced order, feeding the primary's values to its
 *   supervisor (which never calls the real source) and keeping its outputs instead of sending them.
 *   A passive backup logs inputs and announcements and applies the primary's checkpoints.
 * - Peer groups' announcements seen on their replies are relayed by the primary on its next message
 *   to that group (claims 66-67).
 * - Failover is a flush (virtual synchrony): the new primary collects from every member of its view
 *   what each processed, holds announced, and the inputs of those positions; it waits until every
 *   member of both groups on each connection knows its epoch (from then on they hold messages of
 *   older epochs) and until no member holds a message it lacks (claims 65, 69); it then processes
 *   what can be processed, and that position is the epoch's **cut**. Messages of an older epoch that
 *   arrive later are accepted only up to the cut; the rest are dropped everywhere alike.
 * - A restarted replica is a new incarnation: it joins, asks the primary for a state transfer
 *   (checkpoint, unprocessed inputs, recent outputs) and only then serves as a backup.
 * - Digests of the actor's state ride on announced positions; a backup that differs reports
 *   `diverged` and never becomes primary.
 *
 * Host contract: feed inputs with `step`, then carry out the returned effects in order (send the
 * packets and control messages, set and cancel the named timers and feed them back as `timer`
 * inputs, report divergences to membership). The role reads no clock and does no I/O of its own:
 * the primary's supervisor takes real values from the `sources` the host passes in.
 */
import {
  ActorFailedError,
  RejectedInputError,
  errorText,
  Supervisor,
  SupervisorReplayError,
  createActorContext,
  type ActorBehavior,
  type ActorContext,
  type ActorInput,
  type ActorInstance,
  type OutgoingEnvelope,
  type SupervisorSources,
} from '@steadfast/runtime';
import {
  CONNECTION_DEFAULTS,
  connectionSettings,
  createEndpoint,
  deliveredEverywhere,
  detachPiggyback,
  sendAttachedNow,
  holdSends,
  isAdmitted,
  knownView,
  membersBehindEpoch,
  missingFrom,
  releaseSends,
  sizeRefusal,
  step as endpointStep,
  type DeliveredMessage,
  type EndpointCounters,
  type EndpointEffect,
  type EndpointInput,
  type EndpointState,
  type EndpointTimer,
  type GroupView,
  type MulticastKind,
  type MulticastResult,
  takeEffects as endpointTake,
} from '@steadfast/group';
import {
  actorId,
  address,
  addressActor,
  addressNode,
  assertNever,
  decodeBody,
  encodeBody,
  messageKey,
  nodeId,
  stableHash,
  type Address,
  type Envelope,
  type MessageId,
  type NodeId,
} from '@steadfast/wire';
import {
  initialLifecycle,
  lifecycleState,
  stepLifecycle,
  type LifecycleAction,
  type LifecycleEvent,
  type LifecycleSnapshot,
} from './lifecycle.js';
import type { OrderingPolicy, QueuedInput } from './policy.js';
import {
  controlMessageProblem,
  isApplicationPayload,
  isCheckpoint,
  isRecord,
  readablePiggyback,
} from './control-form.js';
import { jsonLength } from './json-length.js';
import { SeededRandom } from './random.js';
import { SequenceSet } from './sequence-set.js';
import { withoutLowestPositions } from './position-table.js';
import {
  applicationPayloadBytesBound,
  applicationPayloadWireBytes,
  replicationPiggybackWireBytes,
} from './wire-form.js';
import {
  REPLICA_CONTROL_TYPES,
  OUTPUT_COMMITS,
  REPLICATION_DEFAULTS,
  REPLICATION_STYLES,
  REPLICATION_PIGGYBACK_KEY,
  REFUSED_REPLY_DETAIL_CHARS_MAX,
  REFUSED_REPLY_TYPE,
  REPLY_TIMEOUT_TYPE,
  applicationPayload,
  zeroReplicaCounters,
  type ApplicationPayload,
  type Checkpoint,
  type CheckpointPart,
  type EpochBasis,
  type InputCopy,
  type KeptOutput,
  type OrderEntry,
  type MessageInput,
  type OrderedInput,
  type ReplicaBookkeeping,
  type ReplicaControl,
  type ReplicaCounters,
  type ReplicaEffect,
  type ReplicaInput,
  type ReplicaRoleName,
  type ReplicationPiggyback,
  type ReplicationSettings,
  type ReplicationStyle,
  type RefusedReply,
} from './types.js';

/** The actor name under which a replicated group is addressed: `group/replicated`. */
export const GROUP_ACTOR = 'replicated';

/**
 * The origin of the ids of envelopes a replica makes up for its own actor (an outside client's
 * input, a `reply-timeout`): `group.kind`, its group's name cut so that the whole stays a node id
 * (at most 64 characters). Such ids never leave the group, so only its actor needs to tell them
 * apart from its peers' ids. Before the cut, a group named with 56 or more characters made the
 * replica throw at its first outside input.
 */
function localOrigin(group: string, kind: 'external' | 'timeout'): NodeId {
  return nodeId(`${group.slice(0, NODE_ID_CHARS_MAX - kind.length - 1)}.${kind}`);
}

/** The longest node id (`nodeId`'s pattern in @steadfast/wire). */
const NODE_ID_CHARS_MAX = 64;

/** The address the user's actors use to reach a replicated group. */
export function groupAddress(group: string): Address {
  let known = groupAddresses.get(group);
  if (known === undefined) {
    known = address(group, GROUP_ACTOR);
    // Bounded: names come from configuration and peers, few; a flood of new ones only empties it.
    if (groupAddresses.size >= GROUP_ADDRESSES_MAX) groupAddresses.clear();
    groupAddresses.set(group, known);
  }
  return known;
}

/**
 * Group addresses by group name. Every replica builds the source and target address of every
 * input it processes, and building one checks both names against their patterns and makes a new
 * string: the same few strings, thousands of times a second.
 */
const groupAddresses = new Map<string, Address>();
const GROUP_ADDRESSES_MAX = 1_024;

/** The connection between two groups has one name at every endpoint of it. */
export function connectionName(a: string, b: string): string {
  return a < b ? `${a}<->${b}` : `${b}<->${a}`;
}

/**
 * A group that a replica's group talks to: the replica opens one multicast connection to it
 * (`connectionName`). Part of `ReplicaConfig` and of the replica actor's input
 * (`ReplicaActorInput.peers`); a group cannot be its own peer.
 */
export interface PeerGroupConfig {
  readonly group: string;
  /** Nodes believed to be in that group, used until its view is learned (claim 37). */
  readonly contacts: readonly NodeId[];
}

/**
 * What a `ReplicaRole` is made from: its group, node and incarnation, the user's actor with its start
 * input, the deployment's style and ordering policy, its peer groups, and settings over
 * `REPLICATION_DEFAULTS`. `replicaActor` builds it from the deployment and a `ReplicaActorInput`.
 */
export interface ReplicaConfig {
  readonly group: string;
  readonly self: NodeId;
  readonly incarnation: number;
  readonly behavior: ActorBehavior;
  /** The actor's `start` input, the same at every replica. */
  readonly input?: unknown;
  readonly style: ReplicationStyle;
  readonly policy: OrderingPolicy;
  readonly peers: readonly PeerGroupConfig[];
  readonly settings?: Partial<ReplicationSettings>;
  /**
   * A restarted node's replica (a new incarnation of a member whose group already runs): it asks
   * the primary for a state transfer before it serves. False for the replicas of a new group.
   */
  readonly joining?: boolean;
}

/** A peer group's order entry not yet relayed or passed: the message that brought it, and when. */
interface PendingRelay {
  readonly position: number;
  readonly carrier: MessageId;
  /** The replica's clock when the entry arrived. */
  readonly atMs: number;
}

interface PendingInput {
  readonly kind: MulticastKind;
  readonly payload: ApplicationPayload;
  readonly arrival: number;
}

/** An announced position a new primary's flush lacks the input of (`positionsMissingInputs`). */
interface MissingInput {
  readonly position: number;
  /** The input its entry names; none where no entry for the position came at all. */
  readonly input: MessageInput | undefined;
  /** The last position announced. */
  readonly last: number;
}

/** A new primary's flush in progress: who answered it, and what it asked for. */
interface FlushState {
  readonly epoch: number;
  readonly startedAtMs: number;
  waitedMs: number;
  readonly replies: Map<NodeId, number>;
  /** Peer group → the members of it that answered `rep-peer-order-request`. */
  readonly peerReplies: Map<string, Set<NodeId>>;
  /** Positions whose missing input this flush asked every member for by name, and when. */
  readonly inputsAskedAt: Map<number, number>;
}

const TIMER_PROCESS = 'rep:process';
const TIMER_ANNOUNCE = 'rep:announce';
const TIMER_RECOVERY = 'rep:recovery';
const TIMER_STATE = 'rep:state';
const TIMER_OUTPUTS = 'rep:outputs';
const TIMER_MAJORITY = 'rep:majority';
const TIMER_CHECKPOINT = 'rep:checkpoint';
/**
 * A semi-active backup's next look at what it waits for: the input of its next position, the
 * inputs it asked its primary for, the announcement of its next position (`askIfStuck`,
 * `askAgain`, `askIfGap`). All are checked after each input too; this timer looks when none comes.
 */
const TIMER_NETS = 'rep:nets';
/** The primary's wait for the reply to its actor's synchronous request ran out (`syncReplyTimeoutMs`). */
const TIMER_REPLY_TIMEOUT = 'rep:reply-timeout';
const USER_TIMER_PREFIX = 'user:';
const ENDPOINT_TIMER_PREFIX = 'mc:';
/** Epoch bases kept per group: enough to judge a message delayed across a few failovers. */
const BASES_MAX = 8;
/**
 * How long a backup waits for its primary's answer before asking again for a disowned input: a few
 * round trips. A primary that no longer holds it never answers; the backup then waits for a view
 * change, asking ten times a second, which costs one small control message each.
 */
const INPUT_ASK_AGAIN_MS = 100;
/** Parts of one split control message, at most (with 6,000-byte parts: 24 MB). */
const CONTROL_PARTS_MAX = 4_096;
/** Split control messages being gathered at once, at most: per sender, and in all. */
const CONTROL_TRANSFERS_PER_SENDER = 3;
const CONTROL_TRANSFERS_MAX = 64;
/**
 * Small records kept per input of `inputsMax`: entries announced ahead of processing (`announced`),
 * orders held for a basis or a later view (`heldOrders`, `laterOrders`) and inputs asked for
 * (`inputsAskedAt`). Each is a few bytes where an input may be kilobytes. Bounded at `inputsMax`
 * itself, a burst of more inputs than that left a backup behind until the next failover: it
 * trimmed entries it had not reached yet (golden.test.ts, "bounds"; the replication simulation
 * with `inputsMax` 4, seeds 86047, 86070 and 86125).
 */
const SMALL_RECORDS_PER_INPUT = 16;

/** The synchronous request a replica's actor waits on: what its `reply-timeout` names. */
type SyncWaitRequest = { readonly id: MessageId; readonly target: Address };

/**
 * What processing one input changed that its refusal or failure must undo (`refuseInput`):
 * the lengths and values before the actor ran, and the outputs and timer changes it made. One
 * object, reused from input to input, so the common path allocates nothing for it.
 */
interface InputUndo {
  outputSequence: number;
  pendingOutputs: number;
  outputsSinceCheckpoint: number;
  externalAwaitingMajority: number;
  effects: number;
  syncWait: string | null;
  syncWaitAt: number;
  syncWaitRequest: SyncWaitRequest | null;
  /**
   * Outputs to peer groups the input made, each with its channel number taken: the first
   * `outputCount` slots. A count, not `length = 0`, because emptying an array by its length gives
   * its backing store up, and the next input would allocate a new one.
   */
  readonly outputs: KeptOutput[];
  outputCount: number;
  /** User timers the input set or cancelled, each with its value before (undefined: none). */
  readonly timers: [string, { delayMs: number; payload: unknown } | undefined][];
  /**
   * For an actor without `recover` only (one written by hand against `ActorBehavior`): a copy of
   * what `persisted()` returned before the input, to start it again from after a failure.
   */
  persistedBefore: unknown;
}

/** `InputUndo.persistedBefore` when no copy of the actor's state could be taken. */
const NO_STATE_COPY: unique symbol = Symbol('no state copy');

/** Bytes a payload grows by when `stampedWithEpoch` replaces its epoch 0 (msgpack: 1 byte) with any epoch (at most 9). */
const EPOCH_STAMP_BYTES_EXTRA = 8;

/** An output's payload as it leaves, stamped with the view's epoch (every output of the primary). */
function stampedWithEpoch(payload: ApplicationPayload, epoch: number): ApplicationPayload {
  const { id, source, target, channel, body, position, inReplyTo, derived } = payload;
  return applicationPayload(id, source, target, channel, body, epoch, position, inReplyTo, derived);
}

/**
 * The size of a value on the wire, estimated as its JSON length: an upper bound on its msgpack size
 * for plain data (the estimate group membership uses for its ops too). Not cached: an entry is
 * measured about once, when it first rides on a connection (counted in the benchmark at 64 in
 * flight: 1.01 calls per entry at the primary, 1.00 at the client). The WeakMap that cached it
 * missed on 99 % of calls, and every entry it held was one more ephemeron for each garbage
 * collection to trace.
 */
function charsOf(value: unknown): number {
  // The length of the JSON text, without the text (json-length.ts).
  return jsonLength(value);
}

/** A checkpoint on its way out: whole, or cut into parts of which `partsOut` went out. */
interface OutgoingCheckpoint {
  readonly checkpoint: Checkpoint;
  readonly parts: readonly string[] | undefined;
  /** `stableHash` of the text the parts were cut from (`CheckpointPart.textHash`). */
  readonly textHash: string | undefined;
  partsOut: number;
}

/** The parts of one cut checkpoint a passive backup has received so far. */
interface GatheredCheckpoint {
  readonly position: number;
  readonly textHash: string | undefined;
  readonly texts: (string | undefined)[];
  received: number;
}

function inputKey(source: string, channel: number): string {
  return `${source}#${channel}`;
}

/** The ordered input naming a received copy: its channel, and its epoch and position (`MessageInput`). */
function messageInput(payload: ApplicationPayload): MessageInput {
  return {
    type: 'message',
    source: payload.source,
    channel: payload.channel,
    sentEpoch: payload.epoch,
    sentAt: payload.position,
  };
}

function orderedKey(input: OrderedInput, position: number): string {
  switch (input.type) {
    case 'start':
      return 'start';
    case 'message':
      return inputKey(input.source, input.channel);
    case 'timer':
      return `timer:${input.name}`;
    case 'external':
      return `external:${position}`;
    case 'reply-timeout':
      return `reply-timeout:${position}`;
    default:
      return assertNever(input, 'ordered input');
  }
}

/**
 * Attaches `piggyback` to a connection's next message. A checkpoint, or a part of one, is read
 * only by this group's backups (`onPiggyback`), so the members of the peer group get the
 * piggyback without it: a passive primary's checkpoints (the actor's whole state, every
 * `checkpointIntervalMs`) do not cross to the other group, whose members would receive, decode and
 * hold them for nothing.
 */
function attachInput(piggyback: ReplicationPiggyback): EndpointInput {
  // Sized here, in its wire form, rather than walked whole by the endpoint.
  const bytes = replicationPiggybackWireBytes(piggyback);
  const input = {
    type: 'attach-piggyback',
    key: REPLICATION_PIGGYBACK_KEY,
    data: piggyback,
    ...(bytes === undefined ? {} : { bytes }),
  } as const;
  if (piggyback.checkpoint === undefined && piggyback.checkpointPart === undefined) return input;
  const { checkpoint: _checkpoint, checkpointPart: _part, ...forPeers } = piggyback;
  return { ...input, forOtherGroups: Object.keys(forPeers).length > 0 ? { data: forPeers } : null };
}

function piggybackOf(message: DeliveredMessage): ReplicationPiggyback | undefined {
  const data = message.piggyback?.[REPLICATION_PIGGYBACK_KEY];
  return isRecord(data) ? (data as ReplicationPiggyback) : undefined;
}

function isEntry(value: unknown): value is OrderEntry {
  return isRecord(value) && Number.isSafeInteger(value.position) && isRecord(value.input);
}

/**
 * Whether a message of `epoch` at `position` belongs to the decided order, given the bases known
 * of its group: undefined while no basis of a later epoch is known (hold it), else whether its
 * position is within the cut of the first later epoch.
 */
export function judgeByBases(
  bases: readonly EpochBasis[],
  epoch: number,
  position: number,
): boolean | undefined {
  let first: EpochBasis | undefined;
  for (const basis of bases)
    if (basis.epoch > epoch && (first === undefined || basis.epoch < first.epoch)) first = basis;
  return first === undefined ? undefined : position <= first.cut;
}

/**
 * Whether `payload` is the message an entry's input names, given the bases known of its source
 * group; undefined while that cannot be told yet. The same channel may carry two messages when the
 * source group changed its mind: its primary, cut off from it, sent one, and the next primary,
 * never hearing of it, used the channel for another (sweep seed 1399, where a backup processed the
 * newer one where its primary had processed the older). Copies of one epoch and position are one
 * message, and copies of different positions two. Copies of different epochs are one message only
 * if the older one belongs to the source group's decided order: a later primary then resent that
 * very output; if it does not, the later primary's copy is another message.
 */
export function isNamedCopy(
  input: MessageInput,
  payload: ApplicationPayload,
  sourceBases: readonly EpochBasis[],
): boolean | undefined {
  const { sentEpoch, sentAt } = input;
  // An entry from a version before these fields names the channel only.
  if (sentEpoch === undefined || sentAt === undefined) return true;
  if (payload.position !== sentAt) return false;
  // Epoch 0 is a copy no primary stamped: an output a peer group's backup kept, passed on by its
  // answer to this group's flush (`onPeerOrderRequest`). Its position alone must do.
  if (payload.epoch === sentEpoch || payload.epoch === 0 || sentEpoch === 0) return true;
  return judgeByBases(sourceBases, Math.min(payload.epoch, sentEpoch), sentAt);
}

/**
 * Whether `payload` is exactly the copy `input` names: the same channel of the same source, sent
 * from the same epoch and position. Stricter than `isNamedCopy`, which lets bases vouch for a copy
 * of another epoch: this is for handing a copy over to a flush that asked for it by name
 * (`onNamedInputRequest`), where only the very one will do.
 */
function isExactCopy(input: MessageInput, payload: ApplicationPayload): boolean {
  return (
    payload.source === input.source &&
    payload.channel === input.channel &&
    input.sentEpoch !== undefined &&
    payload.epoch === input.sentEpoch &&
    payload.position === input.sentAt
  );
}

/**
 * Whether `payload`, a held copy, is the one `input` names: `isNamedCopy` with no bases to vouch
 * for a copy of another epoch (none is known yet: that is why it is held), so the same epoch and
 * position, or the position alone where either side's epoch is 0, a copy no primary stamped. A
 * primary that got a peer's output from that group's flush answer names it with epoch 0, while its
 * backups hold the stamped copy the peer sent them (found by the replication sweep, seed 7619).
 */
export function isHeldCopyNamed(input: MessageInput, payload: ApplicationPayload): boolean {
  return (
    input.sentEpoch !== undefined &&
    payload.source === input.source &&
    payload.channel === input.channel &&
    isNamedCopy(input, payload, []) === true
  );
}

/** Supervisor sources derived from a synchronous reply: the same at every replica that processes it. */
function derivedSources(
  derived: { readonly nowMs: number; readonly seed: number },
  replyKey: string,
): SupervisorSources {
  const random = new SeededRandom(Math.abs(Math.floor(derived.seed)) % 2 ** 48);
  let ids = 0;
  return {
    clock: {
      now: () => derived.nowMs,
      setTimer: () => {
        throw new Error('derived sources read the clock only');
      },
      clearTimer: () => {},
    },
    entropy: { random: () => random.next(), id: () => `${replyKey}.${++ids}` },
  };
}

/** What values a numeric setting takes (`SETTING_RANGES`). */
type SettingRange = 'count' | 'delay' | 'period';

const SETTING_RANGE_TEXT: Record<SettingRange, string> = {
  count: 'a positive integer',
  delay: 'a finite number of milliseconds, 0 or more',
  period: 'a finite number of milliseconds, above 0',
};

/**
 * The range of each numeric setting: `count`, a positive integer; `delay`, milliseconds that may be
 * 0 (at once, or no such bound: each setting's doc says which); `period`, milliseconds above 0 (a
 * flush or state request resent every 0 ms would be a storm, and a flush bounded by 0 ms would
 * conclude before anyone could answer it). A record, so a new setting without a range does not
 * compile.
 */
const SETTING_RANGES: Record<
  Exclude<keyof ReplicationSettings, 'outputCommit' | 'connection'>,
  SettingRange
> = {
  announceBatchMax: 'count',
  processBatchMax: 'count',
  digestEvery: 'count',
  checkpointEvery: 'count',
  piggybackCharsMax: 'count',
  inputsMax: 'count',
  historyMax: 'count',
  peerAnnouncementsMax: 'count',
  announceDelayMs: 'delay',
  processDelayMs: 'delay',
  digestIntervalMs: 'delay',
  checkpointIntervalMs: 'delay',
  relayAfterMs: 'delay',
  stuckAskMs: 'delay',
  syncReplyTimeoutMs: 'delay',
  recoveryWaitMs: 'period',
  recoveryMaxMs: 'period',
};

/**
 * A deployment's settings over `REPLICATION_DEFAULTS` (the connection's field by field), checked:
 * a setting out of its range, or a name the role does not know, is a `RangeError` naming it. A
 * replica that ran with a negative, NaN or fractional bound would relay, hash or retry on every
 * message, or never; and settings often come from a configuration file, where a misspelt name
 * would otherwise be ignored in silence. The connection's values are checked by the group layer's
 * `connectionSettings`, their names here. `group()` calls it too, so a bad deployment fails where
 * it is made rather than at the first replica's start.
 */
export function replicationSettings(given: Partial<ReplicationSettings> = {}): ReplicationSettings {
  if (typeof given !== 'object' || given === null)
    throw new RangeError(`replication settings must be an object, got ${String(given)}`);
  const settings: ReplicationSettings = {
    ...REPLICATION_DEFAULTS,
    ...given,
    connection: {
      ...REPLICATION_DEFAULTS.connection,
      // With output commit the backups are on every output's path: what reaches them must not
      // wait the own group's delay (2 ms at every pass over UDP: a p50 of 2.4 ms, measured).
      ...(given.outputCommit === 'majority' ? { ownGroupDelayMs: 0 } : {}),
      ...given.connection,
    },
  };
  checkSettings(given, settings);
  return settings;
}

/**
 * Refuses a style or an ordering policy that is not one (a name misspelt in a configuration file, a
 * policy's name given where the policy is expected) with an error naming it, rather than a replica
 * that runs as the other style or fails at its first input.
 */
export function checkStyleAndPolicy(style: unknown, policy: unknown): void {
  if (!REPLICATION_STYLES.includes(style as ReplicationStyle))
    throw new RangeError(`style must be one of ${REPLICATION_STYLES.join(', ')}, got ${String(style)}`);
  const candidate = policy as Partial<OrderingPolicy> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.name !== 'string' ||
    typeof candidate.pick !== 'function'
  )
    throw new TypeError(
      `policy must be an OrderingPolicy ({ name, pick(queue, served) }; policyByName gives a built-in), got ${typeof policy === 'string' ? `'${policy}'` : String(policy)}`,
    );
}

/** `replicationSettings`' checks: `given` as the deployment and host set it, `settings` over the defaults. */
function checkSettings(given: Partial<ReplicationSettings>, settings: ReplicationSettings): void {
  for (const name of Object.keys(given))
    if (!Object.hasOwn(REPLICATION_DEFAULTS, name))
      throw new RangeError(
        `unknown replication setting '${name}' (known: ${Object.keys(REPLICATION_DEFAULTS).join(', ')})`,
      );
  for (const [name, range] of Object.entries(SETTING_RANGES) as [
    keyof typeof SETTING_RANGES,
    SettingRange,
  ][]) {
    const value: unknown = settings[name];
    const inRange =
      range === 'count'
        ? Number.isSafeInteger(value) && (value as number) >= 1
        : typeof value === 'number' && Number.isFinite(value) && (range === 'delay' ? value >= 0 : value > 0);
    if (!inRange) throw new RangeError(`${name} must be ${SETTING_RANGE_TEXT[range]}, got ${String(value)}`);
  }
  if (!OUTPUT_COMMITS.includes(settings.outputCommit))
    throw new RangeError(
      `outputCommit must be one of ${OUTPUT_COMMITS.join(', ')}, got ${String(settings.outputCommit)}`,
    );
  const connection: unknown = given.connection;
  if (connection === undefined) return;
  if (typeof connection !== 'object' || connection === null)
    throw new RangeError(`connection must be an object of connection settings, got ${String(connection)}`);
  for (const name of Object.keys(connection))
    if (!Object.hasOwn(CONNECTION_DEFAULTS, name))
      throw new RangeError(
        `unknown connection setting '${name}' (known: ${Object.keys(CONNECTION_DEFAULTS).join(', ')})`,
      );
  // The values too, here rather than when the first connection opens (never, without peers).
  connectionSettings(settings.connection);
}

/**
 * One replica of a replicated actor, as a pure role (the opening comment of this file describes the
 * protocol). Host contract: feed each input with `step(input, nowMs)` and carry out the effects it
 * returns, in order: send the packets and control messages, set and cancel the named timers and
 * feed them back as `timer` inputs, report the notices to membership. The role reads no clock and
 * does no I/O of its own; the primary's supervisor takes real values from the `sources` given to the
 * constructor, and backups replay them. `replicaActor` hosts it on a runtime node, and
 * `ReplicationCluster` in the pure-role simulation.
 *
 * The constructor throws for a style or policy that is not one, a setting out of range or unknown,
 * a group or node name that is no node id, or a group named as its own peer. Operating errors
 * afterwards (malformed packets, control messages or checkpoints; inputs past a bound) are counted
 * in `counters`, not thrown. `step` throws for a policy that picks an index out of range, and passes
 * on an error of the user actor at the primary other than `RejectedInputError` (an input refused
 * alike at every replica); at a backup, an actor that fails in replay has diverged.
 */
export class ReplicaRole {
  readonly group: string;
  /** The group's name as the origin of the ids of its outputs. */
  private readonly groupOrigin: NodeId;
  /** The origin of the ids of inputs from outside every group (`replica-external`), once needed. */
  private externalOriginKnown: NodeId | undefined;
  /** The origin of the ids of `reply-timeout` envelopes, made once. */
  private timeoutOriginKnown: NodeId | undefined;
  readonly self: NodeId;
  readonly incarnation: number;
  readonly style: ReplicationStyle;
  readonly settings: ReplicationSettings;
  /** The bound of the small records a backup keeps ahead: `SMALL_RECORDS_PER_INPUT` × `inputsMax`. */
  private readonly smallRecordsMax: number;
  readonly counters: ReplicaCounters = zeroReplicaCounters();

  private lifecycle: LifecycleSnapshot;
  private view: GroupView | undefined;
  /** The highest epoch of this group a flush request named: older epochs are fenced from then on. */
  private fenceEpoch = 0;
  private readonly policy: OrderingPolicy;
  private readonly behavior: ActorBehavior;
  private readonly startInput: unknown;
  private readonly endpoints = new Map<string, EndpointState>();
  /** Peer group → connection name. */
  private readonly connections = new Map<string, string>();
  private readonly supervisor: Supervisor;
  private readonly realSources: SupervisorSources;
  private activeSources: SupervisorSources;
  private readonly context: ActorContext;
  private instance: ActorInstance | undefined;
  private current: Envelope | undefined;
  private effects: ReplicaEffect[] = [];
  private nowMs = 0;

  /** Last position processed here. */
  private positionLast = 0;
  /** The position being processed (outputs are stamped with it). */
  private positionProcessing = 0;
  private readonly historyKeys: string[] = [];
  /** The epoch of the entry behind each key of `historyKeys` (the epoch a primary ordered it in). */
  private readonly historyEpochList: number[] = [];
  /** Position of the first key in `historyKeys`, minus one (a joiner starts from its checkpoint). */
  private historyBase = 0;
  /** Announced entries not yet processed (backups), by position. */
  private readonly announced = new Map<number, OrderEntry>();
  /** Announcements of an older epoch of this group, held until that epoch's basis is known. */
  private heldOrders: { epoch: number; entries: readonly OrderEntry[] }[] = [];
  /**
   * Announcements of a newer epoch than this replica's view, which it cannot learn yet (it still
   * serves as primary of the view it knows, or recovers without a flush), kept until it installs
   * that view: the connection delivers each message once, so dropping them would leave it behind
   * the new primary for good.
   */
  private laterOrders: { epoch: number; entries: readonly OrderEntry[] }[] = [];
  /** Entries recently processed here, for (re-)announcement and flush replies. */
  private readonly recent: OrderEntry[] = [];
  /**
   * Inputs of recently processed positions, for flush replies: their keys and the inputs, oldest
   * first, at least `recentMax()` of them. Two arrays cut an eighth at a time, not a Map with one
   * insertion and one deletion per position: the Map's table was reallocated every few hundred
   * positions, and each copy lived long enough to be promoted. Looked up only by a flush reply.
   */
  private readonly recentInputKeys: string[] = [];
  private readonly recentInputCopies: InputCopy[] = [];
  /** Highest position seen on one of this replica's own messages, per connection and overall. */
  private readonly confirmedOn = new Map<string, number>();
  private announcedAnywhere = 0;
  /** A pass stopped because its next position would drop an entry not yet out (`orderOutrunsAnnouncements`). */
  private awaitingAnnouncements = false;
  /** This group's epoch bases (where each epoch's order starts). */
  private bases: EpochBasis[] = [];

  /**
   * Inputs dropped because their sending group never decided the position that produced them
   * (bounded, oldest first out): an announced entry that names one can never be processed, so a
   * flush does not wait for it.
   */
  private readonly fencedInputs = new Set<string>();
  /** Received inputs not yet processed, by `source#channel`. */
  private readonly pool = new Map<string, PendingInput>();
  /**
   * The other copy on a pool input's channel, when the two may be different messages
   * (`mayBeOtherMessage`): which one a position takes is the group's order's to say, so a replica
   * keeps both until one is processed. The primary orders the later one (its source group's word).
   */
  private readonly otherCopies = new Map<string, PendingInput>();
  /** Positions whose input this backup asked its primary for, and when (`rep-input-request`). */
  private readonly inputsAskedAt = new Map<number, number>();
  /**
   * The position a semi-active backup stopped at for want of its input (0: none), and since when.
   * Two numbers, not an object: a backup under load stops for a moment at many positions.
   */
  private stuckPosition = 0;
  private stuckSinceMs = 0;
  /**
   * The next position of a semi-active backup that holds no announcement of it while inputs or
   * later positions' announcements wait (0: none), since when, and when it last asked its primary
   * for the order after its position (`rep-entries-request`, `askIfGap`).
   */
  private gapPosition = 0;
  private gapSinceMs = 0;
  private entriesAskedAtMs = Number.NEGATIVE_INFINITY;
  /** `TIMER_NETS` is set: a group gone quiet delivers nothing after which to look again. */
  private netsTimerSet = false;
  /** Inputs of an older epoch of their group, held until that epoch's basis is known. */
  private held: InputCopy[] = [];
  /** This node's membership, as primary, hears from no majority of the group (`quorum` input). */
  private cutOff = false;
  /** Per peer group: the highest epoch known, and its epoch bases. */
  private readonly peerEpochs = new Map<string, number>();
  private readonly peerBases = new Map<string, EpochBasis[]>();
  /** Inputs processed, per source group, by channel sequence (duplicate suppression). */
  private processedBy = new Map<string, SequenceSet>();
  private arrivals = 0;
  private readonly served: Record<string, number> = {};
  /** Timer and external inputs waiting at the primary, in arrival order. */
  private readonly localQueue: OrderedInput[] = [];

  private outputSequence = 0;
  private channels: Record<string, number> = {};
  private readonly pendingOutputs: KeptOutput[] = [];
  /**
   * `outputCommit: 'majority'`. Primary: each member of its view → the position it said it holds in
   * this view (`rep-held`). Cleared on every view of the group: a position told in another epoch
   * may be one a flush cut.
   */
  private readonly heldBy = new Map<NodeId, number>();
  /** Backup: the epoch and position it last told its primary it holds. */
  private heldToldEpoch = 0;
  private heldToldPosition = 0;
  /** Primary: sends to outside addresses waiting for a majority to hold their position. */
  private readonly externalAwaitingMajority: { readonly position: number; readonly envelope: Envelope }[] =
    [];
  /** Primary: a `TIMER_MAJORITY` is set (it asks the backups again when it fires). */
  private majorityTimerSet = false;
  /**
   * Kept outputs of positions this replica processed as primary and no majority held when it
   * stopped being primary: never handed to a peer group's flush, since no output of such a
   * position may reach a peer (`outputCommit: 'majority'`).
   */
  private readonly uncommittedKept = new Set<string>();
  /** Outputs produced here and not yet seen on the wire from this group, by group-level id. */
  private readonly kept = new Map<string, KeptOutput>();
  /** Outputs of this group seen on the wire before this replica produced them. */
  private readonly observed = new Set<string>();
  /** The primary's recent outputs, handed to a joining replica with the state transfer. */
  private readonly recentOutputs: KeptOutput[] = [];
  private outputsSinceCheckpoint: KeptOutput[] = [];
  private userTimers: Record<string, { delayMs: number; payload: unknown }> = {};
  private syncWait: string | null = null;
  /** The position whose processing sent the synchronous request `syncWait` names. */
  private syncWaitAt = 0;
  /** That request's id and target: what a `reply-timeout` for it names. */
  private syncWaitRequest: SyncWaitRequest | null = null;
  /**
   * Primary only: the `syncWait` whose reply timer ran out (`syncReplyTimeoutMs`), to be given up on
   * by the next scheduling pass unless its reply is processed first.
   */
  private replyTimeoutDue: string | null = null;

  private checkpoint: Checkpoint | undefined;
  /** The current input's marks, for `refuseInput`. */
  private readonly inputUndo: InputUndo = {
    outputSequence: 0,
    pendingOutputs: 0,
    outputsSinceCheckpoint: 0,
    externalAwaitingMajority: 0,
    effects: 0,
    syncWait: null,
    syncWaitAt: 0,
    syncWaitRequest: null,
    outputs: [],
    outputCount: 0,
    timers: [],
    persistedBefore: undefined,
  };
  /**
   * The checkpoint this replica's state was last rebuilt from (a state transfer, a passive
   * takeover), by its taker's epoch and its position: a later basis that cuts below that position
   * disowns the state (`checkProcessedAgainstBases`). Undefined when the state was built by
   * processing, or came from a sender of an older version.
   */
  private stateOrigin: { readonly epoch: number; readonly position: number } | undefined;
  private pendingCheckpoint: OutgoingCheckpoint | undefined;
  /** Parts received of a checkpoint too large for one message (passive backups). */
  private checkpointParts: GatheredCheckpoint | undefined;
  private readonly peerEntries = new Map<string, Map<number, OrderEntry>>();
  /** By peer group, the entries of `peerEntries` not yet relayed or passed, in arrival order. */
  private readonly relayQueues = new Map<string, PendingRelay[]>();
  /**
   * The highest position `peerEntries` of each group has held since it was last cleared: an entry
   * below it makes the table unordered. Cleared with the table (a stale one left every later table
   * unordered, so every trim sorted).
   */
  private readonly peerEntriesHighest = new Map<string, number>();
  /**
   * Groups whose `peerEntries` map is not in ascending position order (an entry came after a
   * higher one): its oldest entries are found by sorting, not by taking the first keys.
   */
  private readonly peerEntriesUnordered = new Set<string>();
  /** `basesChars` of the last `bases` array (replaced, never changed in place). */
  private basesCharsOf: { readonly bases: readonly EpochBasis[]; readonly chars: number } | undefined;
  private readonly relayedUpTo = new Map<string, number>();
  private flush: FlushState | undefined;
  /** Split control messages sent (numbers their parts) and, by sender and message, parts received. */
  private controlTransfers = 0;
  private readonly partsIn = new Map<string, { chunks: (Uint8Array | undefined)[]; received: number }>();
  private stateRequestedAtMs = -1;
  /**
   * Times this incarnation started joining (`requestState`): its state requests carry the count and
   * a transfer that does not echo the current one answers an earlier joining (`onState`).
   */
  private joinings = 0;
  /** A position of this pass reached a multiple of `digestEvery`: its last position gets a digest. */
  private digestDue = false;
  /** Passive style: a checkpoint is due at the end of this pass (`attachCheckpoint`). */
  private checkpointDue = false;
  /** Counts changes of `pool` (through `poolSet`/`poolDelete`), so a pass can tell its snapshot is current. */
  private poolVersion = 0;
  /** The process timer is set and has not fired yet. */
  private processTimerSet = false;
  /** When the primary last took a digest (its clock), for `digestIntervalMs`. */
  private digestAtMs = Number.NEGATIVE_INFINITY;
  /** When, and at which position, the primary last took a checkpoint, for `checkpointIntervalMs`. */
  private checkpointAtMs = Number.NEGATIVE_INFINITY;
  private checkpointAtPosition = 0;
  /** A due checkpoint waits for the interval's end (`TIMER_CHECKPOINT`). */
  private checkpointTimerSet = false;

  constructor(
    private readonly config: ReplicaConfig,
    sources: SupervisorSources,
  ) {
    // Group names become the origin of group-level message ids (checked once, here).
    this.groupOrigin = nodeId(config.group);
    this.group = config.group;
    this.self = nodeId(config.self);
    this.incarnation = config.incarnation;
    this.style = config.style;
    this.policy = config.policy;
    this.behavior = config.behavior;
    this.startInput = config.input;
    checkStyleAndPolicy(config.style, config.policy);
    this.settings = replicationSettings(config.settings);
    this.smallRecordsMax = SMALL_RECORDS_PER_INPUT * this.settings.inputsMax;
    this.realSources = sources;
    this.activeSources = sources;
    // The supervisor reads whichever sources are active: the real ones, or those a synchronous
    // reply carries (claim 48), so one supervisor serves both.
    this.supervisor = new Supervisor(
      {
        clock: {
          now: () => this.activeSources.clock.now(),
          setTimer: (delayMs, callback) => this.activeSources.clock.setTimer(delayMs, callback),
          clearTimer: (handle) => this.activeSources.clock.clearTimer(handle),
        },
        entropy: {
          random: () => this.activeSources.entropy.random(),
          id: () => this.activeSources.entropy.id(),
        },
      },
      'replay',
    );
    this.context = createActorContext({
      self: groupAddress(config.group),
      actor: actorId(GROUP_ACTOR),
      node: this.self,
      supervisor: this.supervisor,
      current: () => this.current,
      emit: (envelope) => this.emit(envelope),
      setTimer: (name, delayMs, payload) => this.setUserTimer(name, delayMs, payload),
      cancelTimer: (name) => this.cancelUserTimer(name),
      // Replication is what makes this actor's state survive a crash: there is nothing to save.
      persist: () => {},
    });
    for (const peer of config.peers) {
      if (peer.group === config.group) throw new RangeError(`group '${peer.group}' cannot be its own peer`);
      const connection = connectionName(config.group, peer.group);
      this.connections.set(peer.group, connection);
      this.endpoints.set(
        connection,
        createEndpoint({
          connection,
          groups: [config.group, peer.group],
          group: config.group,
          self: this.self,
          incarnation: config.incarnation,
          contacts: peer.contacts,
          ...this.settings.connection,
        }),
      );
    }
    const initial = initialLifecycle(config.joining === true);
    this.lifecycle = initial.snapshot;
    this.runLifecycleActions(initial.actions);
  }

  // -------------------------------------------------------------------------------------------
  // Queries

  /** The role this replica plays now: its lifecycle machine's state. */
  get role(): ReplicaRoleName {
    return lifecycleState(this.lifecycle);
  }

  /** The lifecycle machine's snapshot (for inspection and the lifecycle's own tests). */
  get lifecycleSnapshot(): LifecycleSnapshot {
    return this.lifecycle;
  }

  /**
   * The last position whose state this replica holds: processed here, or restored from a checkpoint
   * (state transfer, passive takeover). A passive backup's lags its log: see `coverage()`.
   */
  get position(): number {
    return this.positionLast;
  }

  /** The epoch of the view of its own group this replica installed last (0 before the first). */
  get viewEpoch(): number {
    return this.view?.epoch ?? 0;
  }

  /** The view of its own group this replica installed last, if any. */
  get currentView(): GroupView | undefined {
    return this.view;
  }

  /** Input keys in processing order (`start`, `source#channel`, `timer:name`, `external:position`). */
  history(): readonly string[] {
    return this.historyKeys;
  }

  /** The epoch of each position of `history()`: the epoch in which a primary ordered it. */
  historyEpochs(): readonly number[] {
    return this.historyEpochList;
  }

  /** The position before the first key of `history()` (0 unless history was cut or transferred). */
  historyStart(): number {
    return this.historyBase;
  }

  /** The user actor's state (plain data), or undefined before it started. */
  actorState(): unknown {
    return this.instance?.state();
  }

  /** Stable hash of the user actor's state: what digests compare. */
  digest(): string {
    return stableHash(this.instance?.state() ?? null);
  }

  /** True while the actor waits for the reply to a synchronous request it made. */
  awaitingReply(): boolean {
    return this.syncWait !== null;
  }

  /** This group's epoch bases known here. */
  epochBases(): readonly EpochBasis[] {
    return this.bases;
  }

  /**
   * The highest position this replica could stand at if it took over now: its own position
   * (semi-active), or the later of its checkpoint and its own processed state (a passive replica
   * that was primary before keeps that state), followed by the contiguous logged positions whose
   * inputs it holds (passive). `takeOverFromCheckpoint` starts from the same point.
   */
  coverage(): number {
    const role = this.role;
    if (role === 'primary') return this.positionLast;
    let position =
      this.style === 'passive'
        ? Math.max(this.checkpoint?.position ?? 0, this.positionLast)
        : this.positionLast;
    for (;;) {
      const entry = this.announced.get(position + 1);
      if (entry === undefined || !this.canProcess(entry)) return position;
      position++;
    }
  }

  /** The multicast endpoint of the connection to `peerGroup` (for inspection); undefined for a non-peer. */
  endpoint(peerGroup: string): EndpointState | undefined {
    const connection = this.connections.get(peerGroup);
    return connection === undefined ? undefined : this.endpoints.get(connection);
  }

  /** Each connection's multicast counters (packets, retransmissions, deferred sends …), copied, by connection name. */
  connectionCounters(): Record<string, EndpointCounters> {
    const counters: Record<string, EndpointCounters> = {};
    for (const [connection, endpoint] of this.endpoints) counters[connection] = { ...endpoint.counters };
    return counters;
  }

  /** Inputs received and not processed; outputs kept for failover; messages held by epoch fencing. */
  backlog(): { inputs: number; announced: number; kept: number; held: number; outputs: number } {
    return {
      inputs: this.pool.size,
      announced: this.announced.size,
      kept: this.kept.size,
      held: this.held.length + this.heldOrders.length + this.laterOrders.length,
      outputs: this.pendingOutputs.length,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /** Feeds one input and returns the effects to carry out, in order. `nowMs` is the host's clock. */
  step(input: ReplicaInput, nowMs?: number): ReplicaEffect[] {
    if (nowMs !== undefined) this.nowMs = nowMs;
    switch (input.type) {
      case 'packet':
        this.onPacket(input.packet.connection, { type: 'packet', packet: input.packet });
        break;
      case 'view-installed':
        this.onView(input.view);
        break;
      case 'timer':
        this.onTimer(input.name);
        break;
      case 'external':
        this.onExternal(input.body);
        break;
      case 'control':
        this.onControl(input.from, input.message);
        break;
      case 'outside':
        this.lifecycleEvent({ type: 'outside' });
        break;
      case 'quorum':
        this.cutOff = !input.heardFromMajority;
        if (!this.cutOff) this.scheduleProcessing();
        break;
      default:
        assertNever(input, 'replica input');
    }
    const effects = this.effects;
    this.effects = [];
    return effects;
  }

  private onPacket(connection: string, input: EndpointInput): void {
    if (!this.endpoints.has(connection)) return;
    this.runEndpoint(connection, input);
    this.afterInput();
  }

  private onExternal(body: unknown): void {
    if (this.role !== 'primary') return;
    this.localQueue.push({ type: 'external', body });
    this.scheduleProcessing();
  }

  private onTimer(name: string): void {
    if (name.startsWith(ENDPOINT_TIMER_PREFIX)) {
      const rest = name.slice(ENDPOINT_TIMER_PREFIX.length);
      const colon = rest.lastIndexOf(':');
      const connection = rest.slice(0, colon);
      const timer = rest.slice(colon + 1) as EndpointTimer;
      if (this.endpoints.has(connection)) this.runEndpoint(connection, { type: 'timer', name: timer });
      this.afterInput();
      return;
    }
    if (name.startsWith(USER_TIMER_PREFIX)) {
      const userName = name.slice(USER_TIMER_PREFIX.length);
      const timer = this.userTimers[userName];
      if (timer === undefined || this.role !== 'primary') return;
      delete this.userTimers[userName];
      this.localQueue.push({ type: 'timer', name: userName, payload: timer.payload });
      this.scheduleProcessing();
      return;
    }
    switch (name) {
      case TIMER_PROCESS:
        this.processTimerSet = false;
        if (this.role === 'primary') this.runScheduling();
        return;
      case TIMER_ANNOUNCE:
        this.onAnnounceDue();
        return;
      case TIMER_RECOVERY:
        this.onFlushDue();
        return;
      case TIMER_REPLY_TIMEOUT:
        this.onReplyTimeoutDue();
        return;
      case TIMER_STATE:
        this.requestState();
        return;
      case TIMER_OUTPUTS:
        if (this.role === 'primary') this.flushOutputs();
        return;
      case TIMER_NETS:
        this.netsTimerSet = false;
        if (this.stuckPosition !== 0) this.askIfStuck();
        if (this.gapPosition !== 0) this.askIfGap();
        if (this.inputsAskedAt.size > 0) this.askAgain();
        if (this.stillWaiting()) this.armNetsTimer();
        return;
      case TIMER_MAJORITY:
        this.onMajorityDue();
        return;
      case TIMER_CHECKPOINT:
        this.checkpointTimerSet = false;
        if (this.role !== 'primary' || !this.checkpointDue) return;
        // The load stopped within the interval: the due checkpoint goes now, on the next message
        // or in a null message, instead of waiting for a pass that may not come.
        this.attachCheckpoint();
        this.flushOutputs();
        return;
      default:
        return;
    }
  }

  private onView(view: GroupView): void {
    const connectionsOfGroup =
      view.group === this.group
        ? [...this.endpoints.keys()]
        : [this.connections.get(view.group)].filter((c) => c !== undefined);
    for (const connection of connectionsOfGroup)
      this.runEndpoint(connection, { type: 'view-installed', view });
    if (view.group !== this.group) {
      this.afterInput();
      return;
    }
    if (this.view !== undefined && view.epoch <= this.view.epoch) return;
    const wasPrimary = this.role === 'primary';
    const continuous = this.view === undefined || view.epoch === this.view.epoch + 1;
    this.view = view;
    this.heldBy.clear();
    // A passive replica processes nothing, so its position stays 0 while it holds the group's state
    // as a checkpoint: only one with no checkpoint either is a new group's (found by review: a passive
    // backup whose first installed view named it primary started the group over from position 1).
    const fresh =
      this.positionLast === 0 &&
      this.announced.size === 0 &&
      this.heldOrders.length === 0 &&
      this.checkpoint === undefined;
    this.lifecycleEvent({
      type: 'view',
      member: view.members.includes(this.self),
      primary: view.primary === this.self,
      fresh,
      continuous,
    });
    if (wasPrimary && this.role === 'primary') {
      // Still primary in a new view (a member left or joined): everything processed so far is the
      // order, so the new epoch starts after it. Receivers learn it on the next message.
      this.addBasis({ epoch: view.epoch, cut: this.positionLast });
      this.announceBases();
    }
    const later = this.laterOrders;
    this.laterOrders = [];
    for (const order of later) this.onOrder(order.epoch, order.entries);
    this.afterInput();
  }

  // -------------------------------------------------------------------------------------------
  // The lifecycle machine

  private lifecycleEvent(event: LifecycleEvent): void {
    const { snapshot, actions } = stepLifecycle(this.lifecycle, event);
    this.lifecycle = snapshot;
    this.runLifecycleActions(actions);
  }

  private runLifecycleActions(actions: readonly LifecycleAction[]): void {
    for (const action of actions) {
      switch (action) {
        case 'becomePrimary':
          this.becomePrimary();
          break;
        case 'startFlush':
          this.startFlush();
          break;
        case 'abandonFlush':
          this.flush = undefined;
          break;
        case 'stepDown':
          this.stepDown();
          break;
        case 'requestState':
          this.joinings++;
          this.setTimer(TIMER_STATE, 0);
          break;
        case 'refusePromotion':
          this.counters.refusedPromotions++;
          if (this.view !== undefined)
            this.effects.push({
              type: 'refused-promotion',
              replica: this.self,
              group: this.group,
              epoch: this.view.epoch,
            });
          break;
        case 'forgetOrder':
          this.forgetOrder();
          break;
        default:
          assertNever(action, 'lifecycle action');
      }
    }
  }

  /** True when a later epoch of this group than this replica's view is known here. */
  private deposed(): boolean {
    const epoch = this.view?.epoch ?? 0;
    return this.fenceEpoch > epoch || this.bases.some((basis) => basis.epoch > epoch);
  }

  /** A primary orders nothing while deposed, or while its membership hears from no majority. */
  private orderingStopped(): boolean {
    return this.cutOff || this.deposed();
  }

  /** The highest epoch of this group known here: its view's, or one a flush request named. */
  private currentEpoch(): number {
    return Math.max(this.view?.epoch ?? 0, this.fenceEpoch);
  }

  // -------------------------------------------------------------------------------------------
  // Control messages between replicas of this group: flush and state transfer

  private onControl(from: NodeId, message: ReplicaControl): void {
    // Checked whole before any handler reads it: a field of the wrong type deep inside (a state
    // transfer's bookkeeping, say) threw out of the step and stopped the replica actor.
    if (controlMessageProblem(message) !== undefined) {
      this.counters.controlMessagesDropped++;
      return;
    }
    if (message.group !== this.group) return;
    switch (message.type) {
      case 'rep-part':
        this.onControlPart(from, message);
        break;
      case 'rep-flush-request':
        this.onFlushRequest(from, message.epoch, message.from);
        break;
      case 'rep-flush-reply':
        this.onFlushReply(from, message);
        break;
      case 'rep-peer-order-request':
        this.onPeerOrderRequest(from, message.about, message.epoch, message.after);
        break;
      case 'rep-peer-order-reply':
        this.onPeerOrderReply(from, message);
        break;
      case 'rep-input-request':
        if (message.input === undefined) this.onInputRequest(from, message.position);
        else this.onNamedInputRequest(from, message.position, message.input);
        break;
      case 'rep-input-reply':
        this.onInputReply(message.position, message.input);
        break;
      case 'rep-entries-request':
        this.onEntriesRequest(from, message.after);
        break;
      case 'rep-entries':
        this.onEntries(from, message);
        break;
      case 'rep-held':
        this.onHeld(from, message.epoch, message.position);
        break;
      case 'rep-held-request':
        if (this.role === 'backup') this.tellHeld(true);
        break;
      case 'rep-state-request':
        this.onStateRequest(from, message.incarnation, message.joining);
        break;
      case 'rep-state':
        this.onState(message);
        break;
      default:
        assertNever(message, 'replica control');
    }
    this.afterInput();
  }

  /**
   * A control message goes whole when its body fits the frame budget (`piggybackCharsMax` bytes);
   * a larger one (a large actor state, a long flush reply) goes as `rep-part` messages the receiver
   * joins. Every part leaves at once: a lost one is recovered by the request being repeated (a
   * joiner asks for the state, a new primary for flush replies, every `recoveryWaitMs`).
   */
  private sendControl(target: NodeId, message: ReplicaControl): void {
    if (target === this.self) return;
    const partBytes = this.settings.piggybackCharsMax;
    // Most control messages are small: only one that might not be is encoded to be measured.
    if (
      message.type !== 'rep-flush-reply' &&
      message.type !== 'rep-state' &&
      message.type !== 'rep-peer-order-reply' &&
      message.type !== 'rep-input-reply' &&
      message.type !== 'rep-entries'
    ) {
      this.effects.push({ type: 'control-send', target, message });
      return;
    }
    const bytes = encodeBody(message);
    if (bytes.length <= partBytes) {
      this.effects.push({ type: 'control-send', target, message });
      return;
    }
    const transfer = ++this.controlTransfers;
    const count = Math.ceil(bytes.length / partBytes);
    this.counters.controlMessagesSplit++;
    for (let index = 0; index < count; index++)
      this.effects.push({
        type: 'control-send',
        target,
        message: {
          type: 'rep-part',
          // The receiver's group, as the whole message names it (a peer group's, for an answer
          // about its order).
          group: message.group,
          incarnation: this.incarnation,
          transfer,
          index,
          count,
          bytes: bytes.slice(index * partBytes, (index + 1) * partBytes),
        },
      });
  }

  /** Gathers the parts of a split control message; the whole one is handled like any other. */
  private onControlPart(from: NodeId, part: Extract<ReplicaControl, { type: 'rep-part' }>): void {
    const valid =
      Number.isSafeInteger(part.incarnation) &&
      Number.isSafeInteger(part.transfer) &&
      Number.isSafeInteger(part.count) &&
      Number.isSafeInteger(part.index) &&
      part.count >= 1 &&
      part.count <= CONTROL_PARTS_MAX &&
      part.index >= 0 &&
      part.index < part.count &&
      part.bytes instanceof Uint8Array &&
      part.bytes.length <= this.settings.piggybackCharsMax;
    if (!valid) {
      this.counters.controlPartsDropped++;
      return;
    }
    const key = `${from}#${part.incarnation}:${part.transfer}`;
    let gathering = this.partsIn.get(key);
    if (gathering === undefined || gathering.chunks.length !== part.count) {
      gathering = { chunks: new Array<Uint8Array | undefined>(part.count), received: 0 };
      this.partsIn.set(key, gathering);
      // Bounded: a few messages in progress per sender (a re-request may overlap the last
      // answer), and a bound over all senders; the oldest goes first.
      const prefix = `${from}#`;
      const fromSender = [...this.partsIn.keys()].filter((known) => known.startsWith(prefix));
      for (const oldest of fromSender.slice(0, Math.max(0, fromSender.length - CONTROL_TRANSFERS_PER_SENDER)))
        this.partsIn.delete(oldest);
      while (this.partsIn.size > CONTROL_TRANSFERS_MAX) {
        const oldest = this.partsIn.keys().next().value;
        if (oldest === undefined) break;
        this.partsIn.delete(oldest);
      }
    }
    if (gathering.chunks[part.index] !== undefined) return;
    gathering.chunks[part.index] = part.bytes;
    gathering.received++;
    if (gathering.received < part.count) return;
    this.partsIn.delete(key);
    const whole = new Uint8Array(gathering.chunks.reduce((sum, chunk) => sum + chunk!.length, 0));
    let offset = 0;
    for (const chunk of gathering.chunks) {
      whole.set(chunk!, offset);
      offset += chunk!.length;
    }
    const decoded = decodeBody(whole);
    const message = decoded.ok ? decoded.value : undefined;
    // Parts join into one whole message, never into another part.
    const type = isRecord(message) ? message['type'] : undefined;
    if (type === 'rep-part' || !(REPLICA_CONTROL_TYPES as readonly unknown[]).includes(type)) {
      this.counters.controlPartsDropped++;
      return;
    }
    this.counters.controlMessagesJoined++;
    this.onControl(from, message as ReplicaControl);
  }

  /** A member answers a new primary: it fences older epochs and tells what it has after `from`. */
  private onFlushRequest(from: NodeId, epoch: number, after: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < this.currentEpoch()) return;
    if (this.role === 'diverged' || this.role === 'removed') return;
    this.fenceEpoch = Math.max(this.fenceEpoch, epoch);
    const entries = new Map<number, OrderEntry>();
    for (const entry of this.recent) if (entry.position > after) entries.set(entry.position, entry);
    for (const [position, entry] of this.announced) if (position > after) entries.set(position, entry);
    for (const held of this.heldOrders)
      for (const entry of held.entries)
        if (isEntry(entry) && entry.position > after && !entries.has(entry.position))
          entries.set(entry.position, entry);
    const sorted = [...entries.values()].sort((a, b) => a.position - b.position).slice(0, this.recentMax());
    const inputs: InputCopy[] = [];
    const recentInputs = this.recentInputsByKey();
    for (const entry of sorted) {
      if (entry.input.type !== 'message') continue;
      const key = inputKey(entry.input.source, entry.input.channel);
      const pending = this.pool.get(key);
      const copy =
        pending === undefined ? recentInputs.get(key) : { kind: pending.kind, payload: pending.payload };
      if (copy !== undefined) inputs.push({ kind: copy.kind, payload: copy.payload });
    }
    this.sendControl(from, {
      type: 'rep-flush-reply',
      group: this.group,
      epoch,
      position: this.positionLast,
      entries: sorted,
      inputs,
      // The new primary may have missed epochs (cut off while others ordered): the bases tell it
      // whether what it processed itself was decided.
      bases: this.bases,
    });
  }

  private startFlush(): void {
    const epoch = this.view?.epoch ?? 0;
    this.flush = {
      epoch,
      startedAtMs: this.nowMs,
      waitedMs: 0,
      replies: new Map(),
      peerReplies: new Map(),
      inputsAskedAt: new Map(),
    };
    this.fenceEpoch = Math.max(this.fenceEpoch, epoch);
    // Every member of both groups must learn the new epoch: a null message carries it now.
    for (const connection of this.endpoints.keys())
      this.runEndpoint(connection, {
        type: 'attach-piggyback',
        key: REPLICATION_PIGGYBACK_KEY,
        data: { flush: { group: this.group, epoch } } satisfies ReplicationPiggyback,
      });
    this.askForFlush();
    this.setTimer(TIMER_RECOVERY, this.settings.recoveryWaitMs);
  }

  private askForFlush(missing = this.positionsMissingInputs()): void {
    const flush = this.flush;
    if (flush === undefined || this.view === undefined) return;
    for (const member of this.view.members)
      if (member !== this.self && !flush.replies.has(member))
        this.sendControl(member, {
          type: 'rep-flush-request',
          group: this.group,
          epoch: flush.epoch,
          from: this.positionLast,
        });
    for (const [peer, member] of this.peerMembersToAsk(flush))
      this.sendControl(member, {
        type: 'rep-peer-order-request',
        group: peer,
        about: this.group,
        epoch: flush.epoch,
        after: this.positionLast,
      });
    this.askForMissingInputs(flush, missing);
  }

  /**
   * Asks every other member of the view, by name, for the inputs of announced positions this new
   * primary lacks: a member that is not the primary may still hold one in its pool (a replica
   * removed and added back forgets its state, not the messages it received). Why: two groups whose
   * primaries were cut off together exchanged a request and its reply, then one primary crashed and
   * the other was removed; each next primary learnt its predecessor's entries but not their inputs,
   * and each flush waited for the other group's basis until `recoveryMaxMs` (seed 5690 of the
   * replication sweep). The removed one still held the request.
   */
  private askForMissingInputs(flush: FlushState, missing: readonly MissingInput[]): void {
    const members = this.view?.members ?? [];
    for (const { position, input } of missing) {
      // Only a copy named whole can be recognised in another replica's pool.
      if (input?.sentEpoch === undefined || input.sentAt === undefined) continue;
      const askedAt = flush.inputsAskedAt.get(position);
      if (askedAt !== undefined && this.nowMs - askedAt < INPUT_ASK_AGAIN_MS) continue;
      flush.inputsAskedAt.set(position, this.nowMs);
      this.counters.inputsAsked++;
      for (const member of members)
        if (member !== this.self)
          this.sendControl(member, { type: 'rep-input-request', group: this.group, position, input });
    }
  }

  /** The peer groups' members (their current views) that have not told this flush what they know. */
  private peerMembersToAsk(flush: FlushState): [string, NodeId][] {
    const pending: [string, NodeId][] = [];
    for (const [peer, connection] of this.connections) {
      const endpoint = this.endpoints.get(connection);
      const view = endpoint === undefined ? undefined : knownView(endpoint, peer);
      const answered = flush.peerReplies.get(peer);
      for (const member of view?.members ?? [])
        if (member !== this.self && answered?.has(member) !== true) pending.push([peer, member]);
    }
    return pending;
  }

  /**
   * A peer group's new primary asks what this replica knows of its order. From now on its older
   * epochs are held here (so nothing more of a deposed primary is acted on before its basis says
   * whether it counts), and the answer names every entry of its order known here and the outputs
   * of this group to it still held.
   */
  private onPeerOrderRequest(from: NodeId, about: string, epoch: number, after: number): void {
    if (!Number.isSafeInteger(epoch) || typeof about !== 'string' || !this.connections.has(about)) return;
    this.peerEpochs.set(about, Math.max(this.peerEpochs.get(about) ?? 0, epoch));
    // Only the entries after the new primary's position are of use to it.
    const since = Number.isSafeInteger(after) ? after : 0;
    const entries = [...(this.peerEntries.get(about)?.values() ?? [])]
      .filter((entry) => entry.position > since)
      .sort((a, b) => a.position - b.position);
    // The newest outputs to it (a bound: older ones reached it long ago, or were stable). Not those
    // of positions no majority held (`outputCommit: 'majority'`): no such output may reach a peer.
    const heldThrough = this.role === 'primary' ? this.majorityHeldThrough() : Number.POSITIVE_INFINITY;
    const outputs = [...this.recentOutputs, ...this.kept.values(), ...this.pendingOutputs].filter(
      (output) =>
        output.payload.target === about &&
        output.payload.position <= heldThrough &&
        (this.uncommittedKept.size === 0 || !this.uncommittedKept.has(messageKey(output.payload.id))),
    );
    const inputs: InputCopy[] = [];
    const seen = new Set<string>();
    for (const output of outputs.slice(-this.settings.announceBatchMax)) {
      const key = messageKey(output.payload.id);
      if (seen.has(key)) continue;
      seen.add(key);
      inputs.push({ kind: output.kind, payload: output.payload });
    }
    this.sendControl(from, {
      type: 'rep-peer-order-reply',
      group: about,
      from: this.group,
      epoch,
      entries,
      inputs,
    });
  }

  private onPeerOrderReply(
    from: NodeId,
    message: Extract<ReplicaControl, { type: 'rep-peer-order-reply' }>,
  ): void {
    const flush = this.flush;
    if (flush === undefined || message.epoch !== flush.epoch || this.role !== 'recovering') return;
    if (
      !this.connections.has(message.from) ||
      !Array.isArray(message.entries) ||
      !Array.isArray(message.inputs)
    )
      return;
    let answered = flush.peerReplies.get(message.from);
    if (answered === undefined) {
      answered = new Set();
      flush.peerReplies.set(message.from, answered);
    }
    answered.add(from);
    for (const copy of message.inputs)
      if (isApplicationPayload(copy.payload) && copy.payload.target === this.group) this.insertInput(copy);
    this.learnEntries(message.entries, true);
    this.tryConcludeFlush();
  }

  private onFlushReply(from: NodeId, message: Extract<ReplicaControl, { type: 'rep-flush-reply' }>): void {
    const flush = this.flush;
    if (flush === undefined || message.epoch !== flush.epoch || this.role !== 'recovering') return;
    if (!Array.isArray(message.entries) || !Array.isArray(message.inputs)) return;
    flush.replies.set(from, message.position);
    if (Array.isArray(message.bases)) for (const basis of message.bases) this.addBasis(basis);
    if (this.role !== 'recovering') return; // What it processed itself was discarded: it rejoins.
    for (const copy of message.inputs) if (isApplicationPayload(copy.payload)) this.insertInput(copy);
    this.learnEntries(message.entries, true);
    this.tryConcludeFlush();
  }

  private onFlushDue(): void {
    if (this.role !== 'recovering' || this.flush === undefined) return;
    this.flush.waitedMs += this.settings.recoveryWaitMs;
    // Computed once per tick: the conclusion and the asking look at the same positions.
    const missing = this.positionsMissingInputs();
    if (this.tryConcludeFlush(missing)) return;
    this.counters.recoveryExtensions++;
    this.askForFlush(missing);
    this.setTimer(TIMER_RECOVERY, this.settings.recoveryWaitMs);
  }

  /** What still keeps the flush open, if anything (for the checks and for diagnosis). */
  flushBlockers(): string[] {
    return this.blockersOfFlush(this.positionsMissingInputs());
  }

  private blockersOfFlush(missing: readonly MissingInput[]): string[] {
    const flush = this.flush;
    if (flush === undefined || this.view === undefined) return [];
    const blockers: string[] = [];
    for (const member of this.view.members)
      if (member !== this.self && !flush.replies.has(member)) blockers.push(`no reply from ${member}`);
    for (const [peer, member] of this.peerMembersToAsk(flush))
      blockers.push(`no answer from ${member} of ${peer} on what it knows of this group's order`);
    // A position announced (learnt from a member, or relayed by a peer group that may already have
    // acted on its outputs) whose input is not here yet: the cut must not stop short of it while
    // the input can still arrive (the sender retransmits to every member of the view).
    for (const { position, input, last } of missing)
      blockers.push(
        input === undefined
          ? `no entry for position ${position} before ${last}`
          : `input ${inputKey(input.source, input.channel)} of position ${position}`,
      );
    for (const [connection, endpoint] of this.endpoints) {
      for (const member of membersBehindEpoch(endpoint, this.group, flush.epoch))
        blockers.push(`${member} on ${connection} does not know epoch ${flush.epoch}`);
      for (const missing of missingFrom(endpoint))
        blockers.push(
          `${connection}: stream ${missing.stream} at ${missing.delivered} of ${missing.highest}`,
        );
    }
    return blockers;
  }

  /**
   * The announced positions after what this replica can reach whose inputs it lacks, up to the
   * first one whose input was fenced: each with the input its entry names (none where no entry came
   * at all) and the last position announced.
   */
  private positionsMissingInputs(): MissingInput[] {
    const missing: MissingInput[] = [];
    const start =
      this.style === 'passive'
        ? Math.max(this.checkpoint?.position ?? 0, this.positionLast)
        : this.positionLast;
    const last = Math.max(start, ...this.announced.keys());
    for (let position = start + 1; position <= last; position++) {
      const entry = this.announced.get(position);
      if (entry === undefined) {
        missing.push({ position, input: undefined, last });
        continue;
      }
      if (this.canProcess(entry) || entry.input.type !== 'message') continue;
      const key = inputKey(entry.input.source, entry.input.channel);
      // Its sender's group never decided it: nothing from here on can be processed (past the cut).
      if (this.fencedInputs.has(key) || this.neverDecided(entry.input)) break;
      missing.push({ position, input: entry.input, last });
    }
    return missing;
  }

  /**
   * True when the copy an entry names is known to lie outside its source group's decided order:
   * the old primary processed a message its sender's group never decided, so the flush cuts there,
   * as for a fenced input. The copy held here, if any, is then the channel's later message.
   */
  private neverDecided(input: MessageInput): boolean {
    const { sentEpoch, sentAt } = input;
    if (sentEpoch === undefined || sentAt === undefined || sentEpoch === 0) return false;
    return judgeByBases(this.peerBases.get(input.source) ?? [], sentEpoch, sentAt) === false;
  }

  private rememberFenced(key: string): void {
    this.fencedInputs.add(key);
    if (this.fencedInputs.size > this.settings.inputsMax) {
      const oldest = this.fencedInputs.values().next().value;
      if (oldest !== undefined) this.fencedInputs.delete(oldest);
    }
  }

  /**
   * Counts an input kept past `inputsMax`. No replica drops one: the connection delivers each input
   * once, and its sender keeps no copy after that, so an input every member dropped was lost for
   * good. A primary that dropped one never answered it. A backup that dropped one could fetch it
   * from its primary only while that primary lived: when the primary failed before ordering it,
   * the next primary had no copy either. So `inputsMax` only tells of a replica falling behind its
   * load (`inputsOverBound`).
   */
  private countOverBound(size: number): void {
    if (size >= this.settings.inputsMax) this.counters.inputsOverBound++;
  }

  /** Concludes the flush once every member answered, knows the epoch, and nothing is left to fetch. */
  private tryConcludeFlush(missing?: readonly MissingInput[]): boolean {
    const flush = this.flush;
    if (flush === undefined || this.role !== 'recovering') return false;
    if (this.blockersOfFlush(missing ?? this.positionsMissingInputs()).length > 0) {
      if (flush.waitedMs < this.settings.recoveryMaxMs) return false;
      this.counters.flushTimeouts++;
    }
    if (this.style === 'passive') {
      if (!this.takeOverFromCheckpoint()) return true;
    } else this.followAnnouncements();
    if (this.role !== 'recovering') return true;
    this.flush = undefined;
    this.lifecycleEvent({ type: 'flushed' });
    return true;
  }

  /** A joining replica asks the primary of its view for the state, until it arrives. */
  private requestState(): void {
    if (this.role !== 'joining') return;
    this.setTimer(TIMER_STATE, this.settings.recoveryWaitMs);
    const view = this.view;
    if (view === undefined || !view.members.includes(this.self) || view.primary === this.self) return;
    // Only once every connection admitted this incarnation: from then on each message that is not
    // in the transfer reaches it (docs/replication.md, state transfer).
    for (const endpoint of this.endpoints.values()) if (!isAdmitted(endpoint)) return;
    this.stateRequestedAtMs = this.nowMs;
    this.sendControl(view.primary, {
      type: 'rep-state-request',
      group: this.group,
      incarnation: this.incarnation,
      joining: this.joinings,
    });
  }

  private onStateRequest(from: NodeId, incarnation: number, joining: number | undefined): void {
    if (this.role !== 'primary' || this.view?.members.includes(from) !== true) return;
    const peerEpochs: Record<string, number> = {};
    for (const [group, epoch] of this.peerEpochs) peerEpochs[group] = epoch;
    const peerBases: Record<string, readonly EpochBasis[]> = {};
    for (const [group, bases] of this.peerBases) peerBases[group] = bases;
    this.counters.stateTransfersSent++;
    this.sendControl(from, {
      type: 'rep-state',
      group: this.group,
      epoch: this.view.epoch,
      incarnation,
      ...(joining === undefined ? {} : { joining }),
      checkpoint: this.snapshotCheckpoint([]),
      inputs: [...this.pool.values()].map(({ kind, payload }) => ({ kind, payload })),
      held: [...this.held],
      // With the outputs not sent yet (waiting for a majority, or for the connection's window): they
      // belong to positions the checkpoint holds, so the joiner must resend them should it take
      // over before this primary sent them (sweep seed 1664 with `outputCommit: 'majority'`: a
      // client group's joiner became primary at once, and two requests were never sent).
      outputs: [...this.recentOutputs, ...this.pendingOutputs],
      bases: this.bases,
      peerEpochs,
      peerBases,
    });
  }

  /** A joining replica takes the primary's state and becomes a backup. */
  private onState(message: Extract<ReplicaControl, { type: 'rep-state' }>): void {
    if (this.role !== 'joining' || message.incarnation !== this.incarnation) return;
    // An answer to an earlier joining of this incarnation, delayed until it joins again (taken out
    // and added back, or its state discarded): its checkpoint may stand before positions whose
    // announcements this replica skipped since (it held them then) and that no one will send again,
    // so applying it would leave the replica waiting at the first of them for good (found by a
    // fast-check schedule: a rejoined backup took a 200 ms late transfer of position 1 and never
    // got past it, with the primary at 11). The current joining's own answer follows.
    if (message.joining !== undefined && message.joining !== this.joinings) {
      this.counters.stateTransfersStale++;
      return;
    }
    // An answer from the primary of an older view, delayed: that primary may have been deposed
    // since, its state past the next epoch's cut. The joiner asks the current primary again
    // (found by review: a joiner took a deposed primary's transfer after the new primary's flush,
    // and later took over with an input the group never decided in its state).
    if (this.view !== undefined && message.epoch < this.view.epoch) {
      this.counters.stateTransfersStale++;
      return;
    }
    const checkpoint = message.checkpoint;
    // Its position is past the cut of a later epoch than its taker's: a deposed primary's state.
    if (this.disowns([...this.bases, ...message.bases], checkpoint)) {
      this.counters.checkpointsCut++;
      return;
    }
    this.restoreFrom(checkpoint);
    this.historyKeys.length = 0;
    this.historyEpochList.length = 0;
    this.historyBase = checkpoint.position;
    if (this.style === 'passive') this.checkpoint = checkpoint;
    for (const copy of message.inputs) if (isApplicationPayload(copy.payload)) this.insertInput(copy);
    // Judged with the bases below, like the joiner's own held inputs (found by the sweep, seed 490:
    // inputs of a deposed client primary, held at the primary during the transfer, never reached
    // the joiner, which then waited for them at their positions for good).
    for (const copy of Array.isArray(message.held) ? message.held : []) {
      if (!isApplicationPayload(copy.payload)) continue;
      // Past `inputsMax` kept and counted, as in `onInput`.
      this.countOverBound(this.held.length);
      this.held.push(copy);
    }
    for (const output of message.outputs) {
      const key = messageKey(output.payload.id);
      if (!this.observed.delete(key)) this.kept.set(key, output);
    }
    for (const basis of message.bases) this.addBasis(basis);
    for (const [group, epoch] of Object.entries(message.peerEpochs))
      this.peerEpochs.set(group, Math.max(this.peerEpochs.get(group) ?? 0, epoch));
    for (const [group, bases] of Object.entries(message.peerBases))
      for (const basis of bases) this.addPeerBasis(group, basis);
    for (const position of [...this.announced.keys()])
      if (position <= checkpoint.position) this.announced.delete(position);
    this.counters.stateTransfersApplied++;
    this.effects.push({ type: 'cancel-timer', name: TIMER_STATE });
    this.lifecycleEvent({ type: 'state-transferred' });
    this.releaseHeld();
  }

  /**
   * Whether `bases` disown `checkpoint`: a basis of an epoch after its taker's cuts below its
   * position. False while that cannot be told (no such basis known yet), or for a checkpoint with
   * no epoch (an older sender's).
   */
  private disowns(
    bases: readonly EpochBasis[],
    checkpoint: { readonly epoch?: number | undefined; readonly position: number },
  ): boolean {
    return (
      checkpoint.epoch !== undefined && judgeByBases(bases, checkpoint.epoch, checkpoint.position) === false
    );
  }

  /** Rebuilds the actor and the bookkeeping from a checkpoint (state transfer, passive takeover). */
  private restoreFrom(checkpoint: Checkpoint): void {
    this.current = undefined;
    this.stateOrigin =
      checkpoint.epoch === undefined ? undefined : { epoch: checkpoint.epoch, position: checkpoint.position };
    this.supervisor.setMode('replay');
    this.supervisor.discardReplay();
    this.instance = this.behavior.start(this.context, this.startInput, structuredClone(checkpoint.state));
    this.positionLast = checkpoint.position;
    const book = checkpoint.bookkeeping;
    this.outputSequence = book.outputSequence;
    this.channels = { ...book.channels };
    this.userTimers = structuredClone(book.timers) as typeof this.userTimers;
    this.syncWait = book.syncWait;
    this.syncWaitAt = book.syncWaitAt ?? 0;
    this.syncWaitRequest = book.syncWait === null ? null : (book.syncWaitRequest ?? null);
    this.replyTimeoutDue = null;
    this.processedBy = new Map(
      Object.entries(book.processed).map(([source, data]) => [source, SequenceSet.from(data)]),
    );
    this.dropProcessedInputs();
  }

  // -------------------------------------------------------------------------------------------
  // The endpoints

  private runEndpoint(connection: string, input: EndpointInput): MulticastResult | undefined {
    const endpoint = this.endpoints.get(connection)!;
    const { effects, result } = endpointStep(endpoint, input);
    this.applyEndpointEffects(connection, effects);
    return result;
  }

  private applyEndpointEffects(connection: string, effects: readonly EndpointEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case 'send':
          this.effects.push({ type: 'send', target: effect.target, packet: effect.packet });
          break;
        case 'deliver':
          this.onDelivered(connection, effect.message);
          break;
        case 'set-timer':
          this.setTimer(`${ENDPOINT_TIMER_PREFIX}${connection}:${effect.name}`, effect.delayMs);
          break;
        case 'cancel-timer':
          this.effects.push({
            type: 'cancel-timer',
            name: `${ENDPOINT_TIMER_PREFIX}${connection}:${effect.name}`,
          });
          break;
        default:
          assertNever(effect, 'endpoint effect');
      }
    }
  }

  private onDelivered(connection: string, message: DeliveredMessage): void {
    const piggyback = piggybackOf(message);
    const own = message.group === this.group;
    if (piggyback !== undefined) this.onPiggyback(connection, message, piggyback, own);
    if (message.kind === 'null' || !isApplicationPayload(message.payload)) return;
    const payload = message.payload;
    if (payload.source === this.group) this.onOutputSeen(payload);
    else if (payload.target === this.group) this.onInput(connection, { kind: message.kind, payload });
  }

  private onPiggyback(
    connection: string,
    message: DeliveredMessage,
    piggyback: ReplicationPiggyback,
    own: boolean,
  ): void {
    const mine = own && message.id.origin === this.self;
    // A field of the wrong type (a peer of another version, a bug) is skipped and counted; the
    // other fields, and the message itself, are still handled.
    const {
      bases,
      order,
      relay,
      checkpoint,
      checkpointPart: part,
    } = readablePiggyback(piggyback, this.counters);
    if (bases !== undefined) {
      for (const basis of bases.bases) {
        if (bases.group === this.group) this.addBasis(basis);
        else if (this.connections.has(bases.group)) this.addPeerBasis(bases.group, basis);
      }
    }
    if (order !== undefined) {
      if (order.group === this.group) {
        if (mine) this.confirmAnnounced(connection, order.entries, message.kind === 'null');
        else this.onOrder(order.epoch, order.entries);
      } else this.learnPeerEntries(order.group, order.entries, message.id);
    }
    if (relay !== undefined) {
      if (relay.group === this.group) this.onOrder(relay.epoch ?? 0, relay.entries);
      else if (mine) this.confirmRelayed(relay.group, relay.entries);
    }
    if (checkpoint !== undefined && own && !mine && !isCheckpoint(checkpoint))
      this.counters.checkpointsDropped++;
    else if (checkpoint !== undefined && own) {
      if (mine) {
        if (this.pendingCheckpoint?.checkpoint.position === checkpoint.position)
          this.pendingCheckpoint = undefined;
      } else this.applyCheckpoint(checkpoint);
    }
    if (part !== undefined && own) {
      if (mine) this.confirmCheckpointPart(part);
      else this.receiveCheckpointPart(part);
    }
    if (bases !== undefined) this.releaseHeld();
  }

  /** Announcements of this group: of the current epoch, learnt; of an older one, held until judged. */
  private onOrder(epoch: number, entries: readonly OrderEntry[]): void {
    const learnable = this.role !== 'primary' && (this.role !== 'recovering' || this.flush !== undefined);
    if (!learnable && Number.isSafeInteger(epoch) && epoch > (this.view?.epoch ?? 0)) {
      this.laterOrders.push({ epoch, entries });
      if (this.laterOrders.length > this.smallRecordsMax) this.laterOrders.shift();
      return;
    }
    if (this.role === 'recovering' || epoch >= this.currentEpoch()) {
      this.learnEntries(entries, false);
      return;
    }
    const verdict = judgeByBases(this.bases, epoch, 0);
    if (verdict === undefined) {
      this.heldOrders.push({ epoch, entries });
      if (this.heldOrders.length > this.smallRecordsMax) this.heldOrders.shift();
      return;
    }
    this.learnEntries(
      entries.filter((entry) => isEntry(entry) && judgeByBases(this.bases, epoch, entry.position) === true),
      false,
    );
  }

  private addBasis(basis: EpochBasis): void {
    if (!isRecord(basis) || !Number.isSafeInteger(basis.epoch) || !Number.isSafeInteger(basis.cut)) return;
    if (this.bases.some((known) => known.epoch === basis.epoch)) return;
    this.bases = [...this.bases, { epoch: basis.epoch, cut: basis.cut }]
      .sort((a, b) => a.epoch - b.epoch)
      .slice(-BASES_MAX);
    // Announcements of an older epoch past this cut were never decided: drop them, or the first one
    // learnt (say, relayed late by a peer group while this replica was joining) would keep the
    // decided entry for its position out.
    for (const [position, entry] of this.announced)
      if (entry.epoch !== undefined && judgeByBases(this.bases, entry.epoch, position) === false) {
        this.announced.delete(position);
        this.counters.entriesCut++;
      }
    this.checkProcessedAgainstBases();
  }

  /**
   * A position this replica processed in an older epoch, past the cut of a later one, was never
   * decided (a primary cut off from its group went on ordering, or a backup's flush reply came too
   * late): its state is not the group's. It starts over by state transfer, and if the view names it
   * primary, it refuses.
   */
  private checkProcessedAgainstBases(): void {
    const role = this.role;
    if (role !== 'backup' && role !== 'recovering' && role !== 'primary') return;
    const undecided = this.recent.find(
      (entry) =>
        entry.position <= this.positionLast &&
        entry.epoch !== undefined &&
        judgeByBases(this.bases, entry.epoch, entry.position) === false,
    );
    // The same holds of a state rebuilt from a checkpoint (its positions are in no `recent`), and
    // of a passive backup's checkpoint, the state it would take over from.
    const origin = this.stateOrigin;
    const originUndecided = origin !== undefined && this.disowns(this.bases, origin);
    const checkpointUndecided = this.checkpoint !== undefined && this.disowns(this.bases, this.checkpoint);
    if (undecided === undefined && !originUndecided && !checkpointUndecided) return;
    this.counters.discardedStates++;
    this.lifecycleEvent({ type: 'discarded' });
    if (this.view?.primary === this.self) this.runLifecycleActions(['refusePromotion']);
  }

  private addPeerBasis(group: string, basis: EpochBasis): void {
    if (!isRecord(basis) || !Number.isSafeInteger(basis.epoch) || !Number.isSafeInteger(basis.cut)) return;
    const known = this.peerBases.get(group) ?? [];
    if (known.some((entry) => entry.epoch === basis.epoch)) return;
    this.peerBases.set(
      group,
      [...known, { epoch: basis.epoch, cut: basis.cut }].sort((a, b) => a.epoch - b.epoch).slice(-BASES_MAX),
    );
    this.peerEpochs.set(group, Math.max(this.peerEpochs.get(group) ?? 0, basis.epoch));
    if (this.role === 'primary' || this.role === 'recovering') this.dropDisownedInputs(group);
    // The basis may disown inputs that announced entries name (a new basis is rare: a failover).
    if (this.role === 'backup')
      for (const entry of this.announced.values())
        if (entry.input.type === 'message' && entry.input.source === group) this.askIfNeverDelivered(entry);
  }

  /**
   * A backup takes out of `held` the copies its announced entries name: its primary processed those
   * very copies, and a backup follows its primary's order (as it does for a copy its sender's group
   * disowned, `askIfNeverDelivered`). The primary had one in its pool because it did not know yet
   * of the sender group's later epoch; this backup did, and held it for that epoch's basis. Found
   * by the replication sweep, seed 2740: the sender group then lost its state, no basis ever came,
   * and the backup stayed at that position for good while its primary went on. Should the basis
   * come and disown the copy, the backup is past its group's cut and starts over by state transfer,
   * as for any position its group never decided. Every entry, not only the next: a passive backup
   * processes none, and its log must hold every input it would replay (seed 7619, passive).
   */
  private takeHeldCopiesNamed(): void {
    for (const entry of this.announced.values()) {
      if (this.held.length === 0) return;
      this.takeHeldCopyNamed(entry);
    }
  }

  private takeHeldCopyNamed(entry: OrderEntry): void {
    const input = entry.input;
    if (input.type !== 'message' || input.sentEpoch === undefined || input.sentAt === undefined) return;
    if (this.canProcess(entry)) return;
    const index = this.held.findIndex((copy) => isHeldCopyNamed(input, copy.payload));
    const copy = index < 0 ? undefined : this.held.splice(index, 1)[0];
    if (copy === undefined) return;
    const key = inputKey(input.source, input.channel);
    const pending = this.pool.get(key);
    if (pending !== undefined) this.otherCopies.set(key, pending);
    this.poolSet(key, {
      kind: copy.kind,
      payload: copy.payload,
      arrival: pending?.arrival ?? ++this.arrivals,
    });
    this.counters.heldCopiesFollowed++;
  }

  /** Held messages and announcements whose epoch's basis is now known: accepted up to the cut, else dropped. */
  private releaseHeld(): void {
    if (this.heldOrders.length > 0) {
      const orders = this.heldOrders;
      this.heldOrders = [];
      for (const held of orders) this.onOrder(held.epoch, held.entries);
    }
    if (this.held.length === 0 || this.role === 'joining') return;
    const inputs = this.held;
    this.held = [];
    for (const copy of inputs) {
      const verdict = judgeByBases(
        this.peerBases.get(copy.payload.source) ?? [],
        copy.payload.epoch,
        copy.payload.position,
      );
      if (verdict === undefined) this.held.push(copy);
      else if (verdict) this.insertInput(copy);
      else {
        this.counters.fencedMessages++;
        this.rememberFenced(inputKey(copy.payload.source, copy.payload.channel));
      }
    }
  }

  /** One of this replica's own messages carried announcements: they are out. */
  private confirmAnnounced(connection: string, entries: readonly OrderEntry[], viaNull: boolean): void {
    let highest = this.confirmedOn.get(connection) ?? 0;
    for (const entry of entries) {
      highest = Math.max(highest, entry.position);
      if (entry.position > this.announcedAnywhere) this.counters.entriesAnnounced++;
    }
    this.confirmedOn.set(connection, highest);
    this.announcedAnywhere = Math.max(this.announcedAnywhere, highest);
    this.counters.announcementsPiggybacked++;
    if (viaNull) this.counters.nullMessages++;
    // A pass that stopped for its announcements goes on (or sends the next that are owed).
    if (this.awaitingAnnouncements) {
      this.awaitingAnnouncements = false;
      this.scheduleProcessing();
    }
  }

  private confirmRelayed(group: string, entries: readonly OrderEntry[]): void {
    let highest = this.relayedUpTo.get(group) ?? 0;
    for (const entry of entries) {
      if (entry.position > highest) this.counters.entriesRelayed++;
      highest = Math.max(highest, entry.position);
    }
    this.relayedUpTo.set(group, highest);
  }

  // -------------------------------------------------------------------------------------------
  // Inputs and outputs of the user actor

  /**
   * An application message from a peer group. One of an older epoch of its group than this
   * replica knows (from the connection's view or from its bases) is held until the basis of a
   * later epoch says whether it belongs to that group's decided order.
   */
  private onInput(connection: string, copy: InputCopy): void {
    const source = copy.payload.source;
    const endpoint = this.endpoints.get(connection);
    const viewEpoch = endpoint === undefined ? 0 : (knownView(endpoint, source)?.epoch ?? 0);
    const known = Math.max(this.peerEpochs.get(source) ?? 0, viewEpoch);
    if (this.inGroup() && copy.payload.epoch > 0 && !this.knowsBasisOf(source, copy.payload.epoch))
      this.counters.copiesAheadOfBasis++;
    if (copy.payload.epoch >= known) {
      this.peerEpochs.set(source, copy.payload.epoch);
      this.insertInput(copy);
      return;
    }
    this.peerEpochs.set(source, known);
    this.countOverBound(this.held.length);
    this.held.push(copy);
    this.releaseHeld();
  }

  /**
   * Whether this replica takes part in its group's order now: not starting, joining (a state
   * transfer brings what it missed, the peers' bases among them), diverged or taken out.
   */
  private inGroup(): boolean {
    return this.role === 'primary' || this.role === 'backup' || this.role === 'recovering';
  }

  /**
   * Whether a basis of `source`'s `epoch`, or of a later one, is known here. Reads the last basis
   * only: `addPeerBasis`, the one writer of `peerBases`, keeps each list sorted by epoch.
   */
  private knowsBasisOf(source: string, epoch: number): boolean {
    const bases = this.peerBases.get(source);
    return bases !== undefined && bases.length > 0 && bases[bases.length - 1]!.epoch >= epoch;
  }

  private insertInput(copy: InputCopy): void {
    const { kind, payload } = copy;
    const key = inputKey(payload.source, payload.channel);
    const held = this.pool.get(key);
    if (held !== undefined && this.mayBeOtherMessage(held.payload, payload)) {
      this.keepOtherCopy(key, held, { kind, payload, arrival: held.arrival });
      return;
    }
    if (this.processedSet(payload.source).has(payload.channel) || held !== undefined) {
      this.counters.duplicateInputs++;
      return;
    }
    this.countOverBound(this.pool.size);
    this.poolSet(key, { kind, payload, arrival: ++this.arrivals });
    if (this.role !== 'primary' || this.orderingStopped()) return;
    // Claim 48: the reply a synchronous request waits for goes next, with no ordering decision.
    if (this.processImpliedReply()) this.flushOutputs();
    this.scheduleProcessing();
  }

  /**
   * Copies waiting in the pool (or kept beside it) that their source group's bases now disown: a
   * copy that arrived before this replica knew of that group's later epoch went in the pool, and a
   * basis learnt later must fence it as it fences one arriving after (`releaseHeld`). Run by the
   * replicas that order: a primary (when it becomes one, and on each new basis) and a new primary's
   * flush. Backups follow their primary's entries instead (`askIfNeverDelivered`). Found by the
   * replication sweep, seed 19778: a front group's new primary processed a ledger reply its old
   * primary's forward had got from the ledger's cut-off primary, as the reply to its own forward on
   * the same channel, which the ledger had not even answered yet; a client got the wrong reply.
   */
  private dropDisownedInputs(source: string | undefined): void {
    // Epoch 0 is a copy no primary stamped (a flush answer's): it goes by its position alone.
    const disowned = (pending: PendingInput) =>
      (source === undefined || pending.payload.source === source) &&
      pending.payload.epoch !== 0 &&
      judgeByBases(
        this.peerBases.get(pending.payload.source) ?? [],
        pending.payload.epoch,
        pending.payload.position,
      ) === false;
    for (const [key, other] of this.otherCopies)
      if (disowned(other)) {
        this.otherCopies.delete(key);
        this.counters.fencedMessages++;
      }
    for (const [key, pending] of this.pool) {
      if (!disowned(pending)) continue;
      this.counters.fencedMessages++;
      const other = this.otherCopies.get(key);
      if (other === undefined) {
        this.poolDelete(key);
        this.rememberFenced(key);
        continue;
      }
      this.otherCopies.delete(key);
      this.poolSet(key, other);
    }
  }

  /** Inputs held for channels a state transfer or checkpoint says were processed: not needed. */
  private dropProcessedInputs(): void {
    for (const [key, pending] of this.pool)
      if (this.processedSet(pending.payload.source).has(pending.payload.channel)) this.poolDelete(key);
    for (const key of this.otherCopies.keys()) if (!this.pool.has(key)) this.otherCopies.delete(key);
  }

  /**
   * A copy of a later epoch on the channel of one held may be another message unless it is known to
   * be the same (`isNamedCopy`: the held one is in its sender's decided order).
   */
  private mayBeOtherMessage(held: ApplicationPayload, copy: ApplicationPayload): boolean {
    return copy.epoch > held.epoch && this.sameMessage(messageInput(held), copy) !== true;
  }

  /**
   * Keeps both copies of a channel. A backup's primary may have processed either: the older (it
   * acted before its sender's group disowned it) or the later. A primary orders the later one.
   */
  private keepOtherCopy(key: string, held: PendingInput, later: PendingInput): void {
    const kept = this.otherCopies.get(key);
    if (kept !== undefined && kept.payload.epoch >= later.payload.epoch) {
      this.counters.duplicateInputs++;
      return;
    }
    if (kept === undefined) this.countOverBound(this.otherCopies.size);
    this.counters.otherCopiesKept++;
    this.otherCopies.set(key, later);
    if (this.role === 'primary') this.swapCopies(key);
  }

  /** The kept other copy of a channel goes in the pool, and the pool's one is kept instead. */
  private swapCopies(key: string): void {
    const pending = this.pool.get(key);
    const other = this.otherCopies.get(key);
    if (pending === undefined || other === undefined) return;
    this.poolSet(key, other);
    this.otherCopies.set(key, pending);
  }

  /** Puts the copy an entry names in the pool, if it is the other one kept (`otherCopies`). */
  private useNamedCopy(entry: OrderEntry): void {
    if (entry.input.type !== 'message' || this.otherCopies.size === 0) return;
    const key = inputKey(entry.input.source, entry.input.channel);
    const pending = this.pool.get(key);
    if (pending === undefined || this.sameMessage(entry.input, pending.payload) === true) return;
    this.swapCopies(key);
  }

  /**
   * A backup asks its primary for the input of an entry it cannot process when no connection may
   * ever deliver the message the entry names:
   * - its source group disowned it (`neverDecided`): the primary acted on it before the group's
   *   next primary ordered otherwise. Without the question the backup would wait for good, or,
   *   before entries named their copy, process the channel's later message in its place;
   * - the entry names an unstamped copy (epoch 0): the primary got it from a peer member's answer to
   *   its flush (an output that member kept), not from the connection. Found by the replication
   *   sweep, seed 10993: the peer group then lost its state, and a backup waited at that position
   *   for good while its primary went on by fifty positions.
   */
  private askIfNeverDelivered(entry: OrderEntry): void {
    if (entry.input.type !== 'message' || this.inputsAskedAt.has(entry.position)) return;
    const unstamped = entry.input.sentEpoch === 0;
    if (!(unstamped || this.neverDecided(entry.input)) || this.canProcess(entry)) return;
    if (this.inputsAskedAt.size >= this.smallRecordsMax) return;
    this.inputsAskedAt.set(entry.position, this.nowMs);
    this.askForInput(entry.position);
  }

  /**
   * A safety net under the rules above: a backup stopped at one position for `stuckAskMs` asks
   * its primary for that position's input, whatever the reason it lacks it. Safe whatever the
   * reason: the primary answers with the very copy it processed there (`onInputRequest`), and the
   * backup follows its primary's order. Counted apart (`stuckInputsAsked`), so a sweep can tell
   * when a run needed it. Checked after each input, and on `TIMER_NETS` when none comes (a backup
   * that holds the message but cannot take it has acknowledged it, so no connection retransmits
   * anything to it). `stuckAskMs` 0: no net (the sweeps' check of whether a run needed it).
   */
  private askIfStuck(): void {
    const stuckAskMs = this.settings.stuckAskMs;
    if (stuckAskMs === 0) return;
    const position = this.stuckPosition;
    if (this.role !== 'backup' || this.positionLast >= position) {
      this.stuckPosition = 0;
      return;
    }
    if (this.nowMs - this.stuckSinceMs < stuckAskMs || this.inputsAskedAt.has(position)) return;
    const entry = this.announced.get(position);
    if (entry === undefined || entry.input.type !== 'message' || this.canProcess(entry)) return;
    if (this.inputsAskedAt.size >= this.smallRecordsMax) return;
    this.inputsAskedAt.set(position, this.nowMs);
    this.counters.stuckInputsAsked++;
    this.askForInput(position);
  }

  /**
   * The safety net for a missing entry: a semi-active backup that holds inputs or announcements of
   * later positions but no announcement of its next position for `stuckAskMs` asks its primary for
   * the order after its position, and again every `stuckAskMs` while that lasts (control messages
   * may be lost; a primary with nothing after the position does not answer). A primary announces
   * every position before it drops its entry (`orderOutrunsAnnouncements`), and the connections
   * deliver every message to every member; but a backup drops the highest announcements it holds
   * past its bound (`learnEntries`), and nothing announces them again. Without the net such a
   * backup waited for good (golden.test.ts, "a backup missing an announcement"). `stuckAskMs` 0:
   * no net.
   */
  private askIfGap(): void {
    const position = this.gapPosition;
    if (this.role !== 'backup' || this.positionLast >= position || this.announced.has(position)) {
      this.gapPosition = 0;
      return;
    }
    const stuckAskMs = this.settings.stuckAskMs;
    if (stuckAskMs === 0 || this.nowMs - this.gapSinceMs < stuckAskMs) return;
    if (this.nowMs - this.entriesAskedAtMs < stuckAskMs) return;
    const view = this.view;
    if (view === undefined || view.primary === this.self) return;
    this.entriesAskedAtMs = this.nowMs;
    this.counters.missingEntriesAsked++;
    this.sendControl(view.primary, {
      type: 'rep-entries-request',
      group: this.group,
      epoch: view.epoch,
      after: this.positionLast,
    });
  }

  /** A backup still stopped for an input or an announcement, or asking for an input (`TIMER_NETS`). */
  private stillWaiting(): boolean {
    return (
      this.role === 'backup' &&
      (this.stuckPosition !== 0 || this.gapPosition !== 0 || this.inputsAskedAt.size > 0)
    );
  }

  /**
   * Arms `TIMER_NETS` for `stuckAskMs`, unless it is set: the nets ask once the backup has waited
   * that long, so a look every `stuckAskMs` asks at most 2 × `stuckAskMs` after a wait began, and
   * again every `stuckAskMs` at least when no input comes. None with the nets off (`stuckAskMs`
   * 0): a backup then looks after inputs only, as the sweeps' rerun without the nets needs.
   */
  private armNetsTimer(): void {
    const stuckAskMs = this.settings.stuckAskMs;
    if (stuckAskMs === 0 || this.netsTimerSet) return;
    this.netsTimerSet = true;
    this.setTimer(TIMER_NETS, stuckAskMs);
  }

  /**
   * The primary answers a backup's `rep-entries-request` with the entries after `after` it keeps
   * (`recent`), in its view's epoch, as a piggyback would carry them; or, when it no longer keeps
   * the entry at `after + 1`, says so (`kept: false`).
   */
  private onEntriesRequest(from: NodeId, after: number): void {
    const view = this.view;
    if (this.role !== 'primary' || view?.members.includes(from) !== true) return;
    if (!Number.isSafeInteger(after) || after < 0 || after >= this.positionLast) return;
    const entries = this.recent.filter((entry) => entry.position > after);
    const kept = entries[0]?.position === after + 1;
    if (kept) this.counters.missingEntriesSent += entries.length;
    this.sendControl(from, {
      type: 'rep-entries',
      group: this.group,
      epoch: view.epoch,
      after,
      kept,
      entries: kept ? entries : [],
    });
  }

  /**
   * The primary's answer to `rep-entries-request`: its entries are learnt as an announcement of
   * its epoch would be (`onOrder`). If it no longer keeps the entry this backup lacks, or the input
   * of the entry (its answer to `rep-input-request`, `sayNoLongerKept`), and this backup still
   * lacks it, nobody will give it again: the backup starts over by state transfer (`fell-behind`).
   */
  private onEntries(from: NodeId, message: Extract<ReplicaControl, { type: 'rep-entries' }>): void {
    const view = this.view;
    if (this.role !== 'backup' || view === undefined || from !== view.primary) return;
    if (message.kept) {
      const lacking = !this.announced.has(this.positionLast + 1);
      this.onOrder(message.epoch, message.entries);
      if (lacking && this.announced.has(this.positionLast + 1)) this.counters.missingEntriesFetched++;
      return;
    }
    // Only a backup that asked for what it lacks at its next position (the entry, or the input the
    // entry names) starts over: an answer to no question of its own changes nothing.
    const next = this.positionLast + 1;
    const entry = this.announced.get(next);
    const asked =
      entry === undefined
        ? this.gapPosition === next
        : this.inputsAskedAt.has(next) && !this.canProcess(entry);
    if (message.epoch !== view.epoch || message.after !== this.positionLast || !asked) return;
    this.counters.fellBehind++;
    this.gapPosition = 0;
    this.lifecycleEvent({ type: 'fell-behind' });
  }

  private askForInput(position: number): void {
    const primary = this.view?.primary;
    if (primary === undefined || primary === this.self) return;
    this.counters.inputsAsked++;
    this.sendControl(primary, { type: 'rep-input-request', group: this.group, position });
  }

  /** Asks again, every `INPUT_ASK_AGAIN_MS`, for inputs still missing (control messages may be lost). */
  private askAgain(): void {
    for (const [position, atMs] of this.inputsAskedAt) {
      const entry = this.announced.get(position);
      if (this.role !== 'backup' || entry === undefined || this.canProcess(entry)) {
        this.inputsAskedAt.delete(position);
        continue;
      }
      if (this.nowMs - atMs < INPUT_ASK_AGAIN_MS) continue;
      this.inputsAskedAt.set(position, this.nowMs);
      this.askForInput(position);
    }
  }

  /** The primary answers with its copy of the input it processed at `position`, if it still has it. */
  private onInputRequest(from: NodeId, position: number): void {
    if (this.role !== 'primary' || !Number.isSafeInteger(position)) return;
    const entry = this.recent.find((candidate) => candidate.position === position);
    if (entry === undefined) {
      this.sayNoLongerKept(from, position);
      return;
    }
    if (entry.input.type !== 'message') return;
    const copy = this.recentInputsByKey().get(inputKey(entry.input.source, entry.input.channel));
    if (copy === undefined || this.sameMessage(entry.input, copy.payload) !== true) return;
    this.sendControl(from, { type: 'rep-input-reply', group: this.group, position, input: copy });
  }

  /**
   * A backup asked for the input of a position this primary processed but no longer keeps (its
   * entries go past `recent`'s bound): nobody will give that input again, so the primary says so
   * as it does for a missing entry (`rep-entries`, `kept: false`), and the backup, if it still waits
   * there, starts over by state transfer. Before, the primary did not answer and the backup asked
   * ten times a second for good (sweep seed 100982 of the chain with a reply timeout: a client
   * group's backup waited at position 229 for a reply its peer group had disowned, while its
   * primary went on past 1,200).
   */
  private sayNoLongerKept(from: NodeId, position: number): void {
    const view = this.view;
    const oldestKept = this.recent[0]?.position ?? this.positionLast + 1;
    if (view?.members.includes(from) !== true || position < 1 || position >= oldestKept) return;
    this.sendControl(from, {
      type: 'rep-entries',
      group: this.group,
      epoch: view.epoch,
      after: position - 1,
      kept: false,
      entries: [],
    });
  }

  /**
   * A new primary's flush asks for the message an entry names (`askForMissingInputs`): any
   * replica that holds exactly that copy, received or already processed, answers with it.
   */
  private onNamedInputRequest(from: NodeId, position: number, input: MessageInput): void {
    if (this.role === 'diverged' || this.role === 'removed' || !Number.isSafeInteger(position)) return;
    const key = inputKey(input.source, input.channel);
    const candidates = [this.pool.get(key), this.otherCopies.get(key), this.recentInputsByKey().get(key)];
    const copy = candidates.find(
      (candidate) => candidate !== undefined && isExactCopy(input, candidate.payload),
    );
    if (copy === undefined) return;
    this.sendControl(from, {
      type: 'rep-input-reply',
      group: this.group,
      position,
      input: { kind: copy.kind, payload: copy.payload },
    });
  }

  /**
   * The copy of an input this replica asked for, as a backup (from its primary) or as a new
   * primary in its flush (from any member): it goes in the pool for its entry.
   */
  private onInputReply(position: number, input: InputCopy): void {
    const entry = this.announced.get(position);
    const asked =
      this.role === 'backup'
        ? this.inputsAskedAt.has(position)
        : this.role === 'recovering' && this.flush?.inputsAskedAt.has(position) === true;
    if (!asked) return;
    if (entry === undefined || entry.input.type !== 'message') return;
    if (!isRecord(input) || !isApplicationPayload(input.payload)) return;
    const payload = input.payload;
    if (payload.target !== this.group || this.sameMessage(entry.input, payload) !== true) return;
    const key = inputKey(payload.source, payload.channel);
    if (this.processedSet(payload.source).has(payload.channel)) return;
    const held = this.pool.get(key);
    if (held !== undefined && this.sameMessage(entry.input, held.payload) === true) return;
    if (held !== undefined) this.otherCopies.set(key, held);
    this.poolSet(key, { kind: input.kind, payload, arrival: held?.arrival ?? ++this.arrivals });
    this.inputsAskedAt.delete(position);
    this.flush?.inputsAskedAt.delete(position);
    this.counters.inputsFetched++;
  }

  private onOutputSeen(payload: ApplicationPayload): void {
    const key = messageKey(payload.id);
    this.uncommittedKept.delete(key);
    if (this.kept.delete(key) || this.role === 'primary') return;
    this.observed.add(key);
    if (this.observed.size > this.settings.inputsMax) {
      const oldest = this.observed.values().next().value;
      if (oldest !== undefined) this.observed.delete(oldest);
    }
  }

  /**
   * An output of the actor: its id, and for a peer group, the next channel number of that
   * connection. Runs alike at every replica that processes the position (a backup replays the same
   * actor on the same input with the primary's values), so everything it decides is the group's.
   *
   * An output to a peer group that no member of this group could ever send on the connection (too
   * large for `messageBytesMax`, or unencodable: `sizeRefusal`, the group layer's own check for
   * the largest sender) is refused here, at every replica alike, and counted in `outputsRefused`:
   * it takes no channel number (the peer's duplicate suppression sees no gap), goes in no pending
   * or kept list (no failover resends it), and a synchronous request sets no `syncWait` (its reply
   * can never come: the actor goes on, as after any message that is lost). Its id is still used up,
   * so the actor's ids stay unique.
   */
  private emit(envelope: OutgoingEnvelope): MessageId {
    const id: MessageId = { origin: this.groupOrigin, incarnation: 0, sequence: ++this.outputSequence };
    const target = envelope.target;
    const targetGroup = addressActor(target) === GROUP_ACTOR ? addressNode(target) : undefined;
    const connection = targetGroup === undefined ? undefined : this.connections.get(targetGroup);
    if (targetGroup === undefined || connection === undefined) {
      if (envelope.kind === 'sync-request') this.awaitReply(id, target);
      // Not a replicated group this one is connected to: only the primary reaches it.
      if (this.role === 'primary') {
        const external = { ...envelope, id } as Envelope;
        if (this.settings.outputCommit === 'majority')
          this.externalAwaitingMajority.push({ position: this.positionProcessing, envelope: external });
        else this.effects.push({ type: 'external-send', envelope: external });
      }
      return id;
    }
    const channel = (this.channels[targetGroup] ?? 0) + 1;
    // A synchronous reply carries the values its handling will take at the caller (claim 48).
    // They come through this replica's supervisor, so this group's backups produce the same reply.
    const derived =
      envelope.kind === 'sync-reply'
        ? { nowMs: this.supervisor.now(), seed: Math.floor(this.supervisor.random() * 2 ** 32) }
        : undefined;
    const payload = applicationPayload(
      id,
      this.group,
      targetGroup,
      channel,
      envelope.body,
      0,
      this.positionProcessing,
      'inReplyTo' in envelope ? envelope.inReplyTo : undefined,
      derived,
    );
    // Sized as it leaves with the largest epoch it may be stamped with (`stampedWithEpoch`; its
    // epoch is 0 here, one byte, and an epoch takes at most nine), by this group's name and the
    // connection's bound only: the same answer at every replica, without a stamped copy per output.
    const messageBytesMax = this.endpoints.get(connection)!.settings.messageBytesMax;
    const bound = applicationPayloadBytesBound(payload);
    if (sizeRefusal(this.group, payload, messageBytesMax - EPOCH_STAMP_BYTES_EXTRA, bound) !== undefined) {
      this.counters.outputsRefused++;
      return id;
    }
    this.channels[targetGroup] = channel;
    if (envelope.kind === 'sync-request') this.awaitReply(id, target);
    const output: KeptOutput = { connection, kind: envelope.kind, payload };
    this.inputUndo.outputs[this.inputUndo.outputCount++] = output;
    if (this.style === 'passive') this.outputsSinceCheckpoint.push(output);
    if (this.role === 'primary') this.pendingOutputs.push(output);
    else {
      const key = messageKey(id);
      if (!this.observed.delete(key)) this.kept.set(key, output);
    }
    return id;
  }

  /**
   * The actor made a synchronous request: nothing else is processed until its reply (claim 48), or
   * until the primary gives up on it (`syncReplyTimeoutMs`). The timer is the primary's alone, as
   * its other timers: a backup processes the `reply-timeout` where the primary's entry puts it. A
   * refused input's timer is undone with its other effects; one left from an earlier wait finds
   * that wait over (`onReplyTimeoutDue`).
   */
  private awaitReply(id: MessageId, target: Address): void {
    this.syncWait = messageKey(id);
    this.syncWaitAt = this.positionProcessing;
    this.syncWaitRequest = { id, target };
    this.armReplyTimeout();
  }

  /**
   * The synchronous wait is over: its reply or its `reply-timeout` was processed, or its request
   * can never leave (`sendPendingOutputs`). `syncWait` is `syncWaitRequest`'s id as a message key,
   * kept apart because checkpoints from before the timeout carry only the key.
   */
  private endSyncWait(): void {
    this.syncWait = null;
    this.syncWaitRequest = null;
  }

  /** Starts the primary's wait for the current synchronous request's reply, if waits are bounded. */
  private armReplyTimeout(): void {
    this.replyTimeoutDue = null;
    if (this.role !== 'primary' || this.syncWait === null || this.settings.syncReplyTimeoutMs === 0) return;
    this.setTimer(TIMER_REPLY_TIMEOUT, this.settings.syncReplyTimeoutMs);
  }

  /**
   * The reply timer ran out at the primary: the next pass gives the wait up (`processReplyTimeout`)
   * unless the reply is processed first. Nothing to do if the wait it was set for is over: the
   * timer of a later wait replaces it, so a wait still on is the one it timed.
   */
  private onReplyTimeoutDue(): void {
    if (this.role !== 'primary' || this.syncWait === null) return;
    this.replyTimeoutDue = this.syncWait;
    this.scheduleProcessing();
  }

  /**
   * At the primary: orders the `reply-timeout` of the synchronous request whose reply timer ran out,
   * at the position its reply would have taken (`syncWaitAt + 1`, claim 48). Returns true if
   * processed.
   */
  private processReplyTimeout(): boolean {
    if (this.role !== 'primary') return false;
    const request = this.syncWaitRequest;
    if (this.syncWait === null || this.replyTimeoutDue !== this.syncWait || request === null) return false;
    if (this.positionLast !== this.syncWaitAt) return false;
    this.replyTimeoutDue = null;
    this.processAsPrimary(
      {
        type: 'reply-timeout',
        request: request.id,
        target: request.target,
        afterMs: this.settings.syncReplyTimeoutMs,
      },
      false,
    );
    return true;
  }

  /** The value of user timer `name` before the current input changed it, for `refuseInput`. */
  private rememberTimer(name: string): void {
    this.inputUndo.timers.push([
      name,
      Object.hasOwn(this.userTimers, name) ? this.userTimers[name] : undefined,
    ]);
  }

  private setUserTimer(name: string, delayMs: number, payload: unknown): void {
    this.rememberTimer(name);
    this.userTimers[name] = { delayMs, payload };
    if (this.role === 'primary') this.setTimer(`${USER_TIMER_PREFIX}${name}`, delayMs);
  }

  private cancelUserTimer(name: string): void {
    this.rememberTimer(name);
    delete this.userTimers[name];
    if (this.role === 'primary')
      this.effects.push({ type: 'cancel-timer', name: `${USER_TIMER_PREFIX}${name}` });
  }

  private processedSet(source: string): SequenceSet {
    let set = this.processedBy.get(source);
    if (set === undefined) {
      set = new SequenceSet();
      this.processedBy.set(source, set);
    }
    return set;
  }

  // -------------------------------------------------------------------------------------------
  // Processing

  /** Runs the user actor on one input. */
  private runActor(input: OrderedInput, position: number, envelope: Envelope | undefined): void {
    this.current = envelope;
    this.positionProcessing = position;
    try {
      if (input.type === 'start') {
        this.instance = this.behavior.start(this.context, this.startInput);
        return;
      }
      if (this.instance === undefined)
        throw new Error(`replica ${this.self} processed position ${position} before start`);
      // A synchronous reply the actor no longer waits for (its request was given up on,
      // `syncReplyTimeoutMs`): the actor already had its answer, a `ReplyTimeout`. The position
      // stays taken, alike at every replica (each had the same wait at this position).
      if (
        envelope?.kind === 'sync-reply' &&
        input.type === 'message' &&
        this.syncWait !== messageKey(envelope.inReplyTo)
      ) {
        this.counters.lateRepliesDropped++;
        return;
      }
      const actorInput: ActorInput =
        envelope !== undefined
          ? { type: 'message', envelope }
          : {
              type: 'timer',
              name: input.type === 'timer' ? input.name : 'external',
              payload: input.type === 'timer' ? input.payload : undefined,
            };
      this.markInput();
      this.instance.handle(actorInput);
    } catch (error) {
      // A backup asking past the primary's values has diverged (`replayEntry`): not the input's fault.
      if (error instanceof SupervisorReplayError) throw error;
      // `start` takes no marks: an actor that cannot start stops the replica (a rejection, as ever,
      // leaves it without an instance).
      if (input.type === 'start') {
        if (error instanceof RejectedInputError) return;
        throw error;
      }
      if (!this.refuseInput(position, envelope, error)) throw error;
    } finally {
      this.current = undefined;
    }
  }

  /** Takes the marks `refuseInput` undoes to, before the actor runs on an input. */
  private markInput(): void {
    const undo = this.inputUndo;
    undo.outputSequence = this.outputSequence;
    undo.pendingOutputs = this.pendingOutputs.length;
    undo.outputsSinceCheckpoint = this.outputsSinceCheckpoint.length;
    undo.externalAwaitingMajority = this.externalAwaitingMajority.length;
    undo.effects = this.effects.length;
    undo.syncWait = this.syncWait;
    undo.syncWaitAt = this.syncWaitAt;
    undo.syncWaitRequest = this.syncWaitRequest;
    undo.outputCount = 0;
    // Timers change on few inputs: an empty list stays empty, and allocates nothing.
    if (undo.timers.length > 0) undo.timers.length = 0;
    // `fromMachine` and `defineActor` put themselves back (`recover`); only an actor without it
    // pays for a copy of its state before every input.
    const instance = this.instance;
    undo.persistedBefore = undefined;
    if (instance !== undefined && instance.recover === undefined) {
      try {
        undo.persistedBefore = structuredClone(instance.persisted());
      } catch {
        // A state no copy can be taken of (functions in it, a throwing `persisted`): a failure
        // then stops the replica as before, rather than start the actor from a wrong state.
        undo.persistedBefore = NO_STATE_COPY;
      }
    }
  }

  /**
   * The actor refused the input at `position` (`RejectedInputError`) or failed on it (any other
   * error: an xstate action that threw, a reducer that threw). Either is the input's doing, so it
   * happens alike at every replica that processes the position (a backup replays it with the
   * primary's values), and each refuses the input the same way:
   *
   * - what the processing changed is undone (outputs and their channel numbers and ids, external
   *   sends, timers, a synchronous wait), so a refused input changes nothing, as on a runtime node,
   *   which withholds a rejected step's sends;
   * - after a failure, the actor is put back as it was before the input (`ActorInstance.recover`, or
   *   a start from its state before), counted in `inputsFailed` and reported (`input-failed`); a
   *   rejection left it as it was;
   * - a request of a peer group is answered with a `RefusedReply`, so a caller waiting on a
   *   synchronous request goes on (`replyRefused`).
   *
   * The position stays taken, by an input that changed nothing. An actor without `recover` (written
   * by hand against `ActorBehavior`) is started again from a copy of what `persisted()` returned
   * before the input (`markInput` keeps it), as a node restart would. False without an actor
   * instance, or when no copy could be taken (`NO_STATE_COPY`): the error then stops the replica.
   * Without this, the primary's step threw on a failure (its replica actor stopped while
   * membership still counted it in) and each backup that replayed the position reported itself
   * diverged; and a caller of a refused synchronous request waited for good (both found by review).
   */
  private refuseInput(position: number, envelope: Envelope | undefined, error: unknown): boolean {
    const rejected = error instanceof RejectedInputError;
    const instance = this.instance;
    if (instance === undefined) return false;
    const undo = this.inputUndo;
    if (!rejected && instance.recover === undefined && undo.persistedBefore === NO_STATE_COPY) return false;
    for (let index = 0; index < undo.outputCount; index++) {
      const output = undo.outputs[index]!;
      const group = output.payload.target;
      this.channels[group] = (this.channels[group] ?? 1) - 1;
      // A backup's output is kept, or matched an output it saw its primary send (`observed`): the
      // match goes back, for the output that takes this id next (the primary's refusal reply, or
      // the next input's first output), or that output would be kept and resent at a failover.
      const key = messageKey(output.payload.id);
      if (!this.kept.delete(key) && this.role !== 'primary') this.observed.add(key);
    }
    this.pendingOutputs.length = Math.min(this.pendingOutputs.length, undo.pendingOutputs);
    this.outputsSinceCheckpoint.length = Math.min(
      this.outputsSinceCheckpoint.length,
      undo.outputsSinceCheckpoint,
    );
    this.externalAwaitingMajority.length = Math.min(
      this.externalAwaitingMajority.length,
      undo.externalAwaitingMajority,
    );
    // What the actor's step pushed: external sends, and timers set or cancelled at a primary.
    this.effects.length = Math.min(this.effects.length, undo.effects);
    for (let index = undo.timers.length - 1; index >= 0; index--) {
      const [name, before] = undo.timers[index]!;
      if (before === undefined) delete this.userTimers[name];
      else this.userTimers[name] = before;
    }
    this.outputSequence = undo.outputSequence;
    this.syncWait = undo.syncWait;
    this.syncWaitAt = undo.syncWaitAt;
    this.syncWaitRequest = undo.syncWaitRequest;
    const detail = errorText(error);
    if (rejected) this.counters.inputsRejected++;
    else {
      if (instance.recover !== undefined) instance.recover();
      else {
        // No `recover`: started again from its state before the input, as a node restart would
        // (`start(ctx, input, restored)`), alike at every replica.
        instance.stop();
        this.instance = this.behavior.start(this.context, this.startInput, undo.persistedBefore);
      }
      this.counters.inputsFailed++;
      this.effects.push({
        type: 'input-failed',
        replica: this.self,
        group: this.group,
        position,
        reason: detail,
      });
    }
    if (envelope !== undefined) this.replyRefused(envelope, rejected ? 'rejected' : 'failed', detail);
    return true;
  }

  /**
   * Answers a refused request of a peer group with a `RefusedReply`, made like the actor's own reply
   * would have been (`emit`: an id, the connection's next channel number, kept and resent across a
   * failover like any output), alike at every replica. Anything else (a one-way message, a reply,
   * a sender outside every connected group) gets no answer: nobody waits for one.
   */
  private replyRefused(request: Envelope, reason: RefusedReply['reason'], detail: string): void {
    if (request.kind !== 'sync-request' && request.kind !== 'async-request') return;
    if (addressActor(request.source) !== GROUP_ACTOR || !this.connections.has(addressNode(request.source)))
      return;
    const body: RefusedReply = {
      type: REFUSED_REPLY_TYPE,
      reason,
      detail:
        detail.length > REFUSED_REPLY_DETAIL_CHARS_MAX
          ? detail.slice(0, REFUSED_REPLY_DETAIL_CHARS_MAX)
          : detail,
    };
    this.emit({
      kind: request.kind === 'sync-request' ? 'sync-reply' : 'async-reply',
      source: groupAddress(this.group),
      target: request.source,
      inReplyTo: request.id,
      body,
    });
    this.counters.refusedReplies++;
  }

  private envelopeOf(input: OrderedInput, position: number): Envelope | undefined {
    switch (input.type) {
      case 'start':
      case 'timer':
        return undefined;
      case 'reply-timeout': {
        // In the reply's place, from the callee's address as a reply would be; its id is the
        // group's own (unique per position), as an outside client's input's is.
        const origin = (this.timeoutOriginKnown ??= localOrigin(this.group, 'timeout'));
        return {
          kind: 'sync-reply',
          id: { origin, incarnation: 0, sequence: position },
          source: input.target,
          target: groupAddress(this.group),
          inReplyTo: input.request,
          body: {
            type: REPLY_TIMEOUT_TYPE,
            afterMs: input.afterMs,
            detail: `no reply within ${input.afterMs} ms`,
          },
        };
      }
      case 'external': {
        const origin = (this.externalOriginKnown ??= localOrigin(this.group, 'external'));
        return {
          kind: 'one-way',
          id: { origin, incarnation: 0, sequence: position },
          source: address(origin, 'external'),
          target: groupAddress(this.group),
          body: input.body,
        };
      }
      case 'message': {
        const pending = this.pool.get(inputKey(input.source, input.channel));
        if (pending === undefined) return undefined;
        const { payload, kind } = pending;
        const id = payload.id;
        const source = groupAddress(payload.source);
        const target = groupAddress(this.group);
        const body = payload.body;
        if (kind === 'sync-reply' || kind === 'async-reply')
          return { id, source, target, body, kind, inReplyTo: payload.inReplyTo ?? payload.id };
        return { id, source, target, body, kind };
      }
      default:
        return assertNever(input, 'ordered input');
    }
  }

  /** Bookkeeping common to every processed position, at the primary and at backups. */
  private recordProcessed(input: OrderedInput, position: number, epoch: number): void {
    this.positionLast = position;
    // A message's history key is its pool key: built once for both.
    const key =
      input.type === 'message' ? inputKey(input.source, input.channel) : orderedKey(input, position);
    this.historyKeys.push(key);
    this.historyEpochList.push(epoch);
    if (this.historyKeys.length > this.settings.historyMax) {
      // Dropped a sixteenth at a time: one `shift` per position moves the whole array (~70 µs per
      // position for 100,000 keys), which once the history was full doubled the cost of a request.
      const drop =
        this.historyKeys.length - this.settings.historyMax + Math.floor(this.settings.historyMax / 16);
      this.historyKeys.splice(0, drop);
      this.historyEpochList.splice(0, drop);
      this.historyBase += drop;
    }
    this.counters.processed++;
    if (input.type === 'reply-timeout') {
      this.counters.replyTimeouts++;
      if (this.syncWait === messageKey(input.request)) this.endSyncWait();
      return;
    }
    if (input.type !== 'message') return;
    const pending = this.pool.get(key);
    this.poolDelete(key);
    if (this.otherCopies.size > 0) this.otherCopies.delete(key);
    this.processedSet(input.source).add(input.channel);
    this.served[input.source] = (this.served[input.source] ?? 0) + 1;
    if (pending === undefined) return;
    // The pool's own record, arrival included: a copy per position would only be more garbage.
    this.recentInputKeys.push(key);
    this.recentInputCopies.push(pending);
    const recentMax = this.recentMax();
    if (this.recentInputKeys.length > recentMax + (recentMax >> 3)) {
      const drop = this.recentInputKeys.length - recentMax;
      this.recentInputKeys.splice(0, drop);
      this.recentInputCopies.splice(0, drop);
    }
    if (
      (pending.kind === 'sync-reply' || pending.kind === 'async-reply') &&
      pending.payload.inReplyTo !== undefined &&
      this.syncWait === messageKey(pending.payload.inReplyTo)
    )
      this.endSyncWait();
  }

  /** Entries and inputs kept for re-announcement and flush replies. */
  private recentMax(): number {
    return this.settings.announceBatchMax * 4;
  }

  /** The recent inputs by key, oldest first (a key processed twice keeps its latest input). */
  private recentInputsByKey(): Map<string, InputCopy> {
    const byKey = new Map<string, InputCopy>();
    this.recentInputKeys.forEach((key, index) => {
      byKey.delete(key);
      byKey.set(key, this.recentInputCopies[index]!);
    });
    return byKey;
  }

  /**
   * Keeps `recent` sorted by position, one entry per position: every output's piggyback looks for
   * the entries after a point by binary search (`recentAfter`). Entries come in position order; a
   * position at or before the last one remembered (none is expected) replaces the entries from it.
   */
  private remember(entry: OrderEntry): void {
    while (this.recent.length > 0 && this.recent[this.recent.length - 1]!.position >= entry.position)
      this.recent.pop();
    this.recent.push(entry);
    if (this.recent.length > this.recentMax()) this.recent.shift();
  }

  /** The index in `recent` of the first entry after `position` (`recent.length` if none). */
  private recentAfter(position: number): number {
    let low = 0;
    let high = this.recent.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.recent[middle]!.position <= position) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The primary processes one input at the next position and records what it took. */
  private processAsPrimary(input: OrderedInput, implied: boolean): void {
    const position = this.positionLast + 1;
    const envelope = this.envelopeOf(input, position);
    this.supervisor.setMode('record');
    this.runActor(input, position, envelope);
    const values = this.supervisor.drainRecorded();
    this.recordProcessed(input, position, this.view?.epoch ?? 0);
    const epoch = this.view?.epoch ?? 0;
    const entry: OrderEntry = implied
      ? { position, epoch, input, values, implied: true }
      : { position, epoch, input, values };
    this.remember(entry);
    // The digest itself is taken at the end of the pass (`attachDigest`): hashing the whole state
    // is by far the dearest step of a position, so one pass pays for it once.
    if (position % this.settings.digestEvery === 0) this.digestDue = true;
    // Likewise the checkpoint (`attachCheckpoint`): copying and serializing the whole state is the
    // dearest step of a passive primary.
    if (this.style === 'passive' && position % this.settings.checkpointEvery === 0) this.checkpointDue = true;
  }

  /** The end of a primary's pass: the digest and the checkpoint it made due are taken once, here. */
  private endPass(): void {
    this.attachDigest();
    this.attachCheckpoint();
  }

  /**
   * Passive style: takes the checkpoint that is due at the end of the primary's pass, at its last
   * position, as the digest is taken: one per pass however many multiples of `checkpointEvery`
   * the pass reached. Taken at each multiple, every checkpoint of a pass but the last was replaced
   * before it left, after its state had been copied and serialized whole (a pass of 64 inputs made
   * 8, and a passive primary spent most of its time on them). A checkpoint partly sent is finished
   * first (replaced, it would never arrive whole anywhere): the new one stays due for a later pass.
   * One not sent at all is replaced, and its outputs ride on the new one, or they would be in no
   * checkpoint a backup receives. And at most one per `checkpointIntervalMs`, unless the backups'
   * logs grew to a quarter of `inputsMax` positions since the last one; one that waits for the
   * interval is taken by a timer at its end if no pass takes it first.
   */
  private attachCheckpoint(): void {
    if (!this.checkpointDue) return;
    const pending = this.pendingCheckpoint;
    if (pending !== undefined && pending.partsOut > 0) return;
    // Within the interval it stays due: the first pass after the interval's end takes it (the
    // timer, if no pass comes), or an earlier pass once the backups' logs have grown long.
    const logged = this.positionLast - this.checkpointAtPosition;
    const waited = this.nowMs - this.checkpointAtMs;
    if (waited < this.settings.checkpointIntervalMs && logged < this.settings.inputsMax / 4) {
      // Should no pass come before the interval ends, the timer takes it then.
      if (!this.checkpointTimerSet) {
        this.checkpointTimerSet = true;
        this.setTimer(TIMER_CHECKPOINT, this.settings.checkpointIntervalMs - waited);
      }
      return;
    }
    this.pendingCheckpoint = this.outgoingCheckpoint(this.makeCheckpoint(pending?.checkpoint.outputs ?? []));
    this.checkpointDue = false;
    this.checkpointAtMs = this.nowMs;
    this.checkpointAtPosition = this.positionLast;
    this.counters.checkpointsSent++;
  }

  /**
   * Puts the digest that is due on the last position processed, if it was announced by this
   * primary (implied positions are processed by every replica on its own: nothing to compare on
   * them). It runs at the end of every scheduling pass, before the pass's announcements leave, so a
   * digest rides on the last position of each pass that reached a multiple of `digestEvery`: at
   * most one hash per pass however large the batch, and a divergence is still caught within the
   * pass in which it happened. Backups check whichever entries carry one.
   */
  private attachDigest(): void {
    if (!this.digestDue) return;
    const last = this.recent.length - 1;
    const entry = this.recent[last];
    if (entry === undefined || entry.position !== this.positionLast || entry.implied === true) return;
    // Already out on some connection: a copy with a digest would differ from the one that left.
    if (entry.position <= this.announcedAnywhere) return;
    // Still due: a later pass's last position carries it once the interval has passed.
    if (this.nowMs - this.digestAtMs < this.settings.digestIntervalMs) return;
    this.recent[last] = { ...entry, digest: this.digest() };
    this.digestDue = false;
    this.digestAtMs = this.nowMs;
  }

  /** The pool key of the reply the actor waits for, if it arrived. */
  private awaitedReplyKey(): string | undefined {
    if (this.syncWait === null) return undefined;
    for (const [key, pending] of this.pool) {
      if (
        pending.kind === 'sync-reply' &&
        pending.payload.inReplyTo !== undefined &&
        messageKey(pending.payload.inReplyTo) === this.syncWait
      )
        return key;
    }
    return undefined;
  }

  /**
   * Claim 48, at the primary: the reply to the synchronous request made at position `p` is
   * processed at `p + 1`, at once, with the supervised values its own `derived` field provides.
   * Nobody decided anything (the caller processed nothing while it waited), so nothing waits for
   * an announcement. Backups process that position from the primary's `implied` entry, which
   * rides on the primary's next message like any other: the reply's handler may take a value
   * through `ctx.call`, which no derived record can provide, and a backup never calls the real
   * source (replica-supervisors.txt). Returns true if processed.
   */
  private processImpliedReply(): boolean {
    if (this.role !== 'primary') return false;
    if (this.syncWait === null || this.positionLast !== this.syncWaitAt) return false;
    const key = this.awaitedReplyKey();
    const pending = key === undefined ? undefined : this.pool.get(key);
    if (pending === undefined || pending.payload.derived === undefined) return false;
    const input = messageInput(pending.payload);
    this.activeSources = derivedSources(pending.payload.derived, messageKey(pending.payload.id));
    this.supervisor.discardReplay();
    try {
      this.processAsPrimary(input, true);
      this.counters.repliesAtOnce++;
      return true;
    } finally {
      this.activeSources = this.realSources;
      this.supervisor.setMode('record');
    }
  }

  /** The primary's scheduling pass: pick by policy, process, then send the outputs with the announcements. */
  private runScheduling(): void {
    // A primary that has heard of a later epoch of its own group (a new primary's flush request,
    // or that epoch's basis) is deposed, even before its own view says so: what it processed up to
    // its flush reply is in the next order, anything after would not be. It stops ordering here.
    if (this.deposed()) {
      this.counters.deposedPasses++;
      return;
    }
    // Cut off from its group (its membership hears from no majority within a tick less than the
    // suspicion timeout): the group may be about to replace it, and a peer it can still reach would act on
    // what it orders now, which the next primary, not hearing of it, may order otherwise (found by
    // the sweep, seeds 1329 and 1534). It waits; `replica-quorum` resumes it.
    if (this.cutOff) {
      this.counters.cutOffPasses++;
      return;
    }
    // The policy's view of the pool, in the pool's order. Built once per pass and kept in step with
    // the pool by removing what each pick processed (building it for every pick was quadratic: 64
    // waiting inputs made 4,096 queue entries a pass); rebuilt whenever the pool changed otherwise.
    let keys: string[] | undefined;
    let queue: QueuedInput[] | undefined;
    let snapshotVersion = -1;
    this.awaitingAnnouncements = false;
    for (let count = 0; count < this.settings.processBatchMax; count++) {
      if (this.orderOutrunsAnnouncements() && !this.announceOwed()) {
        this.counters.announcementWaitPasses++;
        this.awaitingAnnouncements = true;
        break;
      }
      if (this.syncWait !== null) {
        if (!this.processImpliedReply() && !this.processReplyTimeout()) break;
        continue;
      }
      const local = this.localQueue.shift();
      if (local !== undefined) {
        this.processAsPrimary(local, false);
        continue;
      }
      if (this.pool.size === 0) break;
      if (keys === undefined || queue === undefined || snapshotVersion !== this.poolVersion) {
        snapshotVersion = this.poolVersion;
        keys = [...this.pool.keys()];
        queue = keys.map((key) => {
          const pending = this.pool.get(key)!;
          return {
            source: pending.payload.source,
            channel: pending.payload.channel,
            arrival: pending.arrival,
            body: pending.payload.body,
          };
        });
      }
      const index = this.policy.pick(queue, this.served);
      const key = keys[index];
      if (key === undefined)
        throw new RangeError(`policy '${this.policy.name}' picked index ${index} of ${keys.length}`);
      const pending = this.pool.get(key)!;
      this.processAsPrimary(messageInput(pending.payload), false);
      keys.splice(index, 1);
      queue.splice(index, 1);
      // Exactly the picked input left the pool: the snapshot still matches it.
      if (this.poolVersion === snapshotVersion + 1 && !this.pool.has(key)) snapshotVersion = this.poolVersion;
    }
    this.endPass();
    this.flushOutputs();
    // A pass that stopped for its announcements waits for them (`confirmAnnounced`): scheduling the
    // next now would spin, pass after pass, until the connection takes them.
    if (this.hasWork() && !this.awaitingAnnouncements) this.scheduleProcessing();
  }

  private poolSet(key: string, pending: PendingInput): void {
    this.pool.set(key, pending);
    this.poolVersion++;
  }

  private poolDelete(key: string): void {
    if (this.pool.delete(key)) this.poolVersion++;
  }

  private hasWork(): boolean {
    if (this.syncWait !== null)
      return (
        this.positionLast === this.syncWaitAt &&
        (this.replyTimeoutDue === this.syncWait || this.awaitedReplyKey() !== undefined)
      );
    return this.localQueue.length > 0 || this.pool.size > 0;
  }

  private scheduleProcessing(): void {
    if (this.processTimerSet || this.role !== 'primary' || !this.hasWork()) return;
    // Once set, it stays until it fires: setting it again for every input of a busy turn (a client
    // issuing 64 commands) would only cancel and re-create the same timer each time.
    this.processTimerSet = true;
    this.setTimer(TIMER_PROCESS, this.settings.processDelayMs);
  }

  /**
   * Multicasts the outputs in order, stamped with this view's epoch; the first one on each
   * connection carries the announcements. An output the connection refuses (its window is full)
   * waits, with every later one, and is tried again.
   */
  private flushOutputs(): void {
    const heldThrough =
      this.settings.outputCommit === 'majority' ? this.majorityHeldThrough() : Number.POSITIVE_INFINITY;
    if (this.externalAwaitingMajority.length > 0) this.releaseExternalSends(heldThrough);
    if (this.pendingOutputs.length === 0) {
      if (this.announcementDue()) this.setTimer(TIMER_ANNOUNCE, this.settings.announceDelayMs);
      return;
    }
    // The outputs of a pass leave batched, several per packet (the endpoint's hold): one packet per
    // member per pass instead of one per member per output.
    const holding = new Set<string>();
    try {
      this.sendPendingOutputs(holding, heldThrough);
    } finally {
      for (const connection of holding) {
        const endpoint = this.endpoints.get(connection)!;
        releaseSends(endpoint);
        this.applyEndpointEffects(connection, endpointTake(endpoint));
      }
    }
    if (this.announcementDue()) this.setTimer(TIMER_ANNOUNCE, this.settings.announceDelayMs);
  }

  private sendPendingOutputs(holding: Set<string>, heldThrough: number): void {
    while (this.pendingOutputs.length > 0) {
      const output = this.pendingOutputs[0]!;
      if (output.payload.position > heldThrough) {
        this.awaitMajority();
        break;
      }
      if (!holding.has(output.connection)) {
        holdSends(this.endpoints.get(output.connection)!);
        holding.add(output.connection);
      }
      if (!this.announceThrough(output.connection, output.payload.position)) {
        this.counters.outputsDeferred++;
        this.setTimer(TIMER_OUTPUTS, this.settings.recoveryWaitMs);
        break;
      }
      const payload = stampedWithEpoch(output.payload, this.view?.epoch ?? 0);
      // Sized here, where the payload's shape is known, rather than walked whole by the endpoint.
      const bytes = applicationPayloadWireBytes(payload);
      const result = this.runEndpoint(
        output.connection,
        bytes === undefined
          ? { type: 'multicast', kind: output.kind, payload }
          : { type: 'multicast', kind: output.kind, payload, bytes },
      );
      if (
        result !== undefined &&
        !result.ok &&
        (result.error.type === 'too-large' || result.error.type === 'unencodable')
      ) {
        // A safety net that should never catch anything: `emit` refused every output `sizeRefusal`
        // refuses, with the same bound and a larger sender than this one, at every replica. It
        // would take a payload that grew after `emit` (a kept output that came back through a
        // checkpoint or state transfer, in a form the estimate sizes larger) or a bound that
        // differs between replicas (a deployment error). Permanent: no retry can ever send it, and
        // retrying would block every output behind it, so it is dropped and counted. Its channel
        // number stays used (the peer's duplicate suppression keeps a gap), and a synchronous
        // request no reply will ever answer stops waiting, so the group goes on.
        this.counters.outputsRefused++;
        this.pendingOutputs.shift();
        if (output.kind === 'sync-request' && this.syncWait === messageKey(output.payload.id)) {
          this.endSyncWait();
          this.scheduleProcessing();
        }
        continue;
      }
      if (result?.ok !== true) {
        this.counters.outputsDeferred++;
        this.setTimer(TIMER_OUTPUTS, this.settings.recoveryWaitMs);
        break;
      }
      this.pendingOutputs.shift();
      // Not kept: the primary just sent it and saw it delivered locally; `kept` holds only outputs
      // a backup produced and has not yet seen its primary send (the ones a failover resends).
      this.recentOutputs.push(output);
      if (this.recentOutputs.length > this.recentMax()) this.recentOutputs.shift();
      this.counters.outputsSent++;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Output commit (`outputCommit: 'majority'`; docs/replication.md, "Output commit")

  /**
   * The last position a majority of the view holds, this primary included (+∞ with
   * `outputCommit: 'at-once'`, and in a group of one, its own majority).
   */
  private majorityHeldThrough(): number {
    if (this.settings.outputCommit !== 'majority') return Number.POSITIVE_INFINITY;
    const view = this.view;
    if (view === undefined) return 0;
    // Besides the primary itself: 1 of 2 or 3 members, 2 of 4 or 5.
    const needed = Math.floor(view.members.length / 2);
    if (needed === 0) return Number.POSITIVE_INFINITY;
    const told: number[] = [];
    for (const member of view.members) if (member !== this.self) told.push(this.heldBy.get(member) ?? 0);
    told.sort((a, b) => b - a);
    return Math.min(this.positionLast, told[needed - 1] ?? 0);
  }

  /**
   * Outputs wait for a majority: the backups need the order of their positions now, not after
   * `announceDelayMs` (no output will carry it), and a timer asks them again should what they
   * tell be lost.
   */
  private awaitMajority(): void {
    this.counters.outputsAwaitingMajority++;
    if (this.announcementDue()) this.onAnnounceDue();
    if (this.majorityTimerSet) return;
    this.majorityTimerSet = true;
    this.setTimer(TIMER_MAJORITY, this.settings.recoveryWaitMs);
  }

  /** Still waiting after `recoveryWaitMs`: asks the members that told less than needed. */
  private onMajorityDue(): void {
    this.majorityTimerSet = false;
    const view = this.view;
    if (this.role !== 'primary' || view === undefined) return;
    const waiting = Math.min(
      this.pendingOutputs[0]?.payload.position ?? Number.POSITIVE_INFINITY,
      this.externalAwaitingMajority[0]?.position ?? Number.POSITIVE_INFINITY,
    );
    if (waiting === Number.POSITIVE_INFINITY) return;
    if (waiting <= this.majorityHeldThrough()) {
      this.flushOutputs();
      return;
    }
    this.counters.heldAsked++;
    for (const member of view.members)
      if (member !== this.self && (this.heldBy.get(member) ?? 0) < waiting)
        this.sendControl(member, { type: 'rep-held-request', group: this.group, epoch: view.epoch });
    if (this.announcementDue()) this.onAnnounceDue();
    this.majorityTimerSet = true;
    this.setTimer(TIMER_MAJORITY, this.settings.recoveryWaitMs);
  }

  /** Sends to outside addresses whose positions a majority holds, in order. */
  private releaseExternalSends(heldThrough: number): void {
    const waiting = this.externalAwaitingMajority;
    let released = 0;
    while (released < waiting.length && waiting[released]!.position <= heldThrough) {
      this.effects.push({ type: 'external-send', envelope: waiting[released]!.envelope });
      released++;
    }
    waiting.splice(0, released);
    if (waiting.length > 0) this.awaitMajority();
  }

  /** A backup told this primary what it holds. */
  private onHeld(from: NodeId, epoch: number, position: number): void {
    const view = this.view;
    if (this.role !== 'primary' || view === undefined || epoch !== view.epoch || !view.members.includes(from))
      return;
    if (position > (this.heldBy.get(from) ?? 0)) this.heldBy.set(from, position);
  }

  /**
   * A backup tells its primary the last position it holds, when that grew (or when asked): only
   * once it knows its view's basis, since until then positions it holds past that basis's cut may
   * be an older epoch's, which the new primary's order does not have.
   */
  private tellHeld(asked: boolean): void {
    const view = this.view;
    if (view === undefined || view.primary === this.self || !view.members.includes(this.self)) return;
    if (!this.bases.some((basis) => basis.epoch === view.epoch)) return;
    const position = this.style === 'passive' ? this.coverage() : this.positionLast;
    if (!asked && view.epoch === this.heldToldEpoch && position <= this.heldToldPosition) return;
    this.heldToldEpoch = view.epoch;
    this.heldToldPosition = position;
    this.counters.heldTold++;
    this.sendControl(view.primary, { type: 'rep-held', group: this.group, epoch: view.epoch, position });
  }

  /**
   * Attaches what rides on the next message of `connection`, making sure the announcements up to
   * `position` go no later than that message: an output must never reach anyone ahead of the
   * order of the position that produced it, or a peer could act on a position that a failover,
   * asking the peers what they know, would never hear of (claims 42, 65). Within the piggyback
   * budget that is the same message; when the announcements still owed do not fit, the prefix
   * that fits goes ahead now in a null message of its own, as often as it takes. False when the
   * connection cannot send now (its window is full): the output waits.
   */
  private announceThrough(connection: string, position: number): boolean {
    for (;;) {
      const piggyback = this.piggybackFor(connection);
      if (piggyback === undefined) return true;
      this.runEndpoint(connection, attachInput(piggyback));
      // A replica alone in its view owes nobody its order (`piggybackFor` carries none): what is
      // attached (relayed announcements of a peer group) rides on the output itself. Checking the
      // order owed here sent a null message ahead of every output of a one-replica client group.
      if (this.alone()) return true;
      const entries = piggyback.order?.entries ?? [];
      const through = entries.length > 0 ? entries[entries.length - 1]!.position : 0;
      // The usual case: this message carries the order up to the output's own position.
      if (through >= position || (this.confirmedOn.get(connection) ?? 0) >= position) return true;
      const owed = this.recent.some(
        (entry) =>
          entry.position > through &&
          entry.position <= position &&
          entry.position > (this.confirmedOn.get(connection) ?? 0),
      );
      if (!owed) return true;
      const result = this.sendAttachedNow(connection);
      if (result === undefined || !result.ok) return false;
      this.counters.announcementsAhead++;
    }
  }

  private alone(): boolean {
    return this.view === undefined || this.view.members.length <= 1;
  }

  /**
   * Whether processing one more position would push out of `recent` (which keeps `recentMax()`
   * entries, the oldest going first) an entry that is out on no connection yet: that entry would
   * never be announced, and every backup would stop before its position for good. Passes without
   * outputs leave their announcements to the `announceDelayMs` timer, and a primary with hundreds
   * of inputs queued (a client group's timers that fired while it was cut off) ran five such passes
   * back to back and dropped 32 entries unannounced (the replication sweep, seed 97054 with
   * `--requests 100`: the client group's backup stopped at position 267 while its primary went on
   * to 650). The oldest entry kept is the one asked about, not a count of positions: a passive
   * replica promoted from a checkpoint keeps the entries of its own earlier positions only (a
   * checkpoint carries none), and counting positions since its last announcement stopped such a
   * primary for good (`chaos replication --style passive`). A replica alone in its view owes nobody
   * its order, and one with no connection has nothing to send it on: stopping would not help.
   */
  private orderOutrunsAnnouncements(): boolean {
    if (this.alone() || this.endpoints.size === 0 || this.recent.length < this.recentMax()) return false;
    return this.recent[0]!.position > this.announcedThrough();
  }

  /**
   * The last position out on some connection, or taken as out there: a new primary re-announces
   * only the positions after `recentMax()` before its own (`becomePrimary` sets each connection's
   * `confirmedOn` there), and a piggyback never carries an entry at or before its connection's
   * `confirmedOn`, so nothing would send one.
   */
  private announcedThrough(): number {
    let through = this.announcedAnywhere;
    for (const confirmed of this.confirmedOn.values()) if (confirmed > through) through = confirmed;
    return through;
  }

  /**
   * Sends announcements owed, a null message at a time, until the order is back within what
   * `recent` keeps: true once it is. A null message carries what fits the piggyback budget (a
   * passive primary's checkpoint part goes first, and may leave room for one entry). False when the
   * connection could not take one (its window is full): the pass waits (`awaitingAnnouncements`)
   * until a message carrying them is out, and `confirmAnnounced` schedules the next pass.
   */
  private announceOwed(): boolean {
    for (;;) {
      const before = this.announcedThrough();
      this.announceOwedNow();
      if (!this.orderOutrunsAnnouncements()) return true;
      if (this.announcedThrough() <= before) return false;
    }
  }

  /**
   * Sends the oldest announcements owed now, in a null message, on the connection that carried the
   * most (its next entries are the first owed anywhere). Where the connection's window is full the
   * piggyback stays attached and goes on the first message that can leave.
   */
  private announceOwedNow(): void {
    let connection: string | undefined;
    let highest = -1;
    for (const name of [...this.endpoints.keys()].sort()) {
      const confirmed = this.confirmedOn.get(name) ?? 0;
      if (confirmed > highest) {
        connection = name;
        highest = confirmed;
      }
    }
    if (connection === undefined) return;
    const piggyback = this.piggybackFor(connection);
    if (piggyback === undefined) return;
    this.runEndpoint(connection, attachInput(piggyback));
    this.sendAttachedNow(connection);
  }

  /**
   * Sends what is attached to `connection` now, in a null message of its own, and carries out what
   * that did (its own delivery confirms the announcements it carried). Undefined: nothing attached.
   */
  private sendAttachedNow(connection: string): ReturnType<typeof sendAttachedNow> {
    const endpoint = this.endpoints.get(connection)!;
    const result = sendAttachedNow(endpoint);
    this.applyEndpointEffects(connection, endpointTake(endpoint));
    return result;
  }

  private announcementDue(): boolean {
    if (this.role !== 'primary' || this.alone()) return false;
    return this.announcedAnywhere < this.positionLast || this.pendingCheckpoint !== undefined;
  }

  /**
   * What rides on this replica's next message on `connection`, if anything, within
   * `piggybackCharsMax`: the checkpoint (or its next part) and the bases first, then the
   * announcements after the last one out on this connection (at least one, a prefix: the rest go
   * on the next message), then relayed announcements in what is left.
   */
  private piggybackFor(connection: string): ReplicationPiggyback | undefined {
    const budget = this.settings.piggybackCharsMax;
    const checkpointData = this.alone() ? {} : this.checkpointData();
    const bases = this.bases.length > 0 ? { group: this.group, bases: this.bases } : undefined;
    let used = (this.pendingCheckpoint === undefined ? 2 : charsOf(checkpointData)) + this.basesChars(bases);
    const confirmed = this.confirmedOn.get(connection) ?? 0;
    const entries: OrderEntry[] = [];
    if (!this.alone()) {
      // Only the entries after the last one out on this connection: not a walk over all of
      // `recent` (256 entries) for every output of a pass.
      for (let index = this.recentAfter(confirmed); index < this.recent.length; index++) {
        const entry = this.recent[index]!;
        const chars = charsOf(entry);
        if (entries.length > 0 && used + chars > budget) break;
        entries.push(entry);
        used += chars;
      }
    }
    let relay: ReplicationPiggyback['relay'];
    let peer: string | undefined;
    for (const [group, name] of this.connections)
      if (name === connection) {
        peer = group;
        break;
      }
    const known = peer === undefined ? undefined : this.peerEntries.get(peer);
    const after = peer === undefined ? 0 : (this.relayedUpTo.get(peer) ?? 0);
    // Usually nothing new to relay since the last message: skip the walk over the known entries.
    const fresh = peer !== undefined && (this.relayQueues.get(peer)?.length ?? 0) > 0;
    if (peer !== undefined && known !== undefined && fresh && this.role === 'primary') {
      const candidates = this.relayCandidates(connection, peer, known, after);
      // The newest that fit: relaying is an optimisation (claims 66-67), older ones may be skipped.
      const relayed: OrderEntry[] = [];
      for (let index = candidates.length - 1; index >= 0; index--) {
        const chars = charsOf(candidates[index]);
        if (used + chars > budget) break;
        relayed.unshift(candidates[index]!);
        used += chars;
      }
      const epoch = this.peerEpochs.get(peer) ?? 0;
      if (relayed.length > 0) relay = { group: peer, epoch, entries: relayed };
    }
    const hasCheckpoint = 'checkpoint' in checkpointData || 'checkpointPart' in checkpointData;
    if (entries.length === 0 && relay === undefined && !hasCheckpoint) return undefined;
    return {
      ...(entries.length > 0 ? { order: { group: this.group, epoch: this.view?.epoch ?? 0, entries } } : {}),
      ...(relay !== undefined ? { relay } : {}),
      ...checkpointData,
      ...(bases !== undefined ? { bases } : {}),
    };
  }

  /**
   * The peer group's entries worth relaying to it on `connection` now, oldest first, at most
   * `announceBatchMax` (the newest). An entry whose carrying message the connection knows delivered
   * at every member of both groups is passed: they all hold it (the usual case, as the peer's
   * backups receive its primary's messages on this same connection). One not yet known delivered
   * everywhere waits `relayAfterMs` for that knowledge (acknowledgements come after the
   * connection's `ackDelayMs`), and the entries that came after it wait with it. Passed entries,
   * entries no longer known and entries relayed (at most `after`, which moves once a message
   * carrying them has left) leave the relay queue; a candidate stays in it until then, so a
   * piggyback that is replaced before it leaves loses nothing.
   */
  private relayCandidates(
    connection: string,
    peer: string,
    known: ReadonlyMap<number, OrderEntry>,
    after: number,
  ): OrderEntry[] {
    const queue = this.relayQueues.get(peer);
    const endpoint = this.endpoints.get(connection);
    if (queue === undefined || endpoint === undefined) return [];
    let candidates: OrderEntry[] = [];
    // Compacts the queue in place: `kept` entries stay, from the front.
    let kept = 0;
    let index = 0;
    for (; index < queue.length; index++) {
      const pending = queue[index]!;
      const entry = known.get(pending.position);
      if (entry === undefined || pending.position <= after) continue;
      if (deliveredEverywhere(endpoint, pending.carrier)) {
        this.counters.relaysSkipped++;
        continue;
      }
      if (this.nowMs - pending.atMs < this.settings.relayAfterMs) break;
      candidates.push(entry);
      queue[kept++] = pending;
    }
    if (kept < index) {
      queue.copyWithin(kept, index);
      queue.length -= index - kept;
    }
    if (candidates.length > this.settings.announceBatchMax)
      candidates = candidates.slice(-this.settings.announceBatchMax);
    return candidates;
  }

  private basesChars(
    bases: { readonly group: string; readonly bases: readonly EpochBasis[] } | undefined,
  ): number {
    if (bases === undefined) return 0;
    if (this.basesCharsOf?.bases !== bases.bases)
      this.basesCharsOf = { bases: bases.bases, chars: JSON.stringify(bases).length };
    return this.basesCharsOf.chars;
  }

  /** The pending checkpoint whole, or its next part. */
  private checkpointData(): Pick<ReplicationPiggyback, 'checkpoint' | 'checkpointPart'> {
    const pending = this.pendingCheckpoint;
    if (pending === undefined) return {};
    if (pending.parts === undefined) return { checkpoint: pending.checkpoint };
    const text = pending.parts[pending.partsOut];
    if (text === undefined) return {};
    return {
      checkpointPart: {
        position: pending.checkpoint.position,
        index: pending.partsOut,
        count: pending.parts.length,
        text,
        ...(pending.textHash === undefined ? {} : { textHash: pending.textHash }),
      },
    };
  }

  /**
   * A checkpoint rides whole when it takes at most half the piggyback budget; a larger one (an
   * actor state that outgrew a frame) is cut into parts of that size, sent one per message.
   */
  private outgoingCheckpoint(checkpoint: Checkpoint): OutgoingCheckpoint {
    const partChars = Math.max(1, Math.floor(this.settings.piggybackCharsMax / 2));
    const text = JSON.stringify(checkpoint);
    if (text.length <= partChars) return { checkpoint, parts: undefined, textHash: undefined, partsOut: 0 };
    const parts: string[] = [];
    for (let start = 0; start < text.length; start += partChars)
      parts.push(text.slice(start, start + partChars));
    this.counters.checkpointParts += parts.length;
    return { checkpoint, parts, textHash: stableHash(text), partsOut: 0 };
  }

  /** One of this primary's own messages carried a checkpoint part: it is out. */
  private confirmCheckpointPart(part: CheckpointPart): void {
    const pending = this.pendingCheckpoint;
    if (pending === undefined || pending.checkpoint.position !== part.position) return;
    pending.partsOut = Math.max(pending.partsOut, part.index + 1);
    if (pending.partsOut >= part.count) this.pendingCheckpoint = undefined;
  }

  /** A passive backup gathers the parts of a checkpoint and applies it once it holds all of them. */
  private receiveCheckpointPart(part: CheckpointPart): void {
    if (this.style !== 'passive' || this.role === 'primary' || this.role === 'joining') return;
    if (this.checkpoint !== undefined && part.position <= this.checkpoint.position) return;
    if (part.count > this.settings.inputsMax) return;
    let gathering = this.checkpointParts;
    if (gathering !== undefined && part.position < gathering.position) return;
    // Parts of another text of the same position (another primary's cut, in another epoch) start
    // the gathering over: joined with this one's, they made a text that was no checkpoint, or worse
    // one with some fields of each (the sweep, seed 117196: "source" joined as "soururce").
    if (
      gathering === undefined ||
      part.position > gathering.position ||
      gathering.texts.length !== part.count ||
      gathering.textHash !== part.textHash
    ) {
      gathering = {
        position: part.position,
        textHash: part.textHash,
        texts: new Array<string | undefined>(part.count),
        received: 0,
      };
      this.checkpointParts = gathering;
    }
    if (gathering.texts[part.index] !== undefined) return;
    gathering.texts[part.index] = part.text;
    gathering.received++;
    if (gathering.received < part.count) return;
    this.checkpointParts = undefined;
    const text = gathering.texts.join('');
    if (gathering.textHash !== undefined && stableHash(text) !== gathering.textHash) {
      // Parts that claim one text and join into another: no primary of this version sends them.
      this.counters.checkpointsDropped++;
      return;
    }
    let checkpoint: unknown;
    try {
      checkpoint = JSON.parse(text);
    } catch {
      return; // Parts of one checkpoint from one primary always join up; anything else is dropped.
    }
    if (isCheckpoint(checkpoint) && checkpoint.position === part.position) this.applyCheckpoint(checkpoint);
    else this.counters.checkpointsDropped++;
  }

  /** Nothing went out within the bound: attach to one connection, whose endpoint sends a null message. */
  private onAnnounceDue(): void {
    if (!this.announcementDue()) return;
    const connection = [...this.endpoints.keys()].sort()[0];
    if (connection === undefined) return;
    const piggyback = this.piggybackFor(connection);
    if (piggyback === undefined) return;
    this.runEndpoint(connection, attachInput(piggyback));
  }

  /** After a view change: every connection learns this group's epoch bases (a null message if need be). */
  private announceBases(): void {
    for (const connection of this.endpoints.keys()) {
      const piggyback = this.piggybackFor(connection) ?? { bases: { group: this.group, bases: this.bases } };
      this.runEndpoint(connection, attachInput(piggyback));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Backups

  /** Entries of this group's order, from announcements (or, during a flush, from replies). */
  private learnEntries(entries: readonly OrderEntry[], fromFlush: boolean): void {
    const role = this.role;
    if (role === 'primary' || role === 'diverged' || role === 'removed') return;
    if (role === 'recovering' && !fromFlush && this.flush === undefined) return;
    for (const entry of entries) {
      if (!isEntry(entry) || entry.position <= this.positionLast) continue;
      if (this.checkpoint !== undefined && entry.position <= this.checkpoint.position) continue;
      // An entry of an epoch whose successor cut before its position was never decided, whatever
      // message carried it (a peer group's relay can deliver it late, in a message of a new epoch).
      if (entry.epoch !== undefined && judgeByBases(this.bases, entry.epoch, entry.position) === false) {
        this.counters.entriesCut++;
        continue;
      }
      if (this.announced.has(entry.position)) continue;
      this.announced.set(entry.position, entry);
      // A passive backup processes nothing, so nothing else would notice an input it cannot get.
      if (this.style === 'passive' && role === 'backup') this.askIfNeverDelivered(entry);
    }
    if (this.announced.size > this.smallRecordsMax) {
      const highest = Math.max(...this.announced.keys());
      this.announced.delete(highest);
    }
  }

  private learnPeerEntries(group: string, entries: readonly OrderEntry[], carrier: MessageId): void {
    if (!this.connections.has(group)) return;
    let known = this.peerEntries.get(group);
    let queue = this.relayQueues.get(group);
    if (known === undefined || queue === undefined) {
      known = new Map();
      queue = [];
      this.peerEntries.set(group, known);
      this.relayQueues.set(group, queue);
    }
    let highest = this.peerEntriesHighest.get(group) ?? 0;
    for (const entry of entries)
      if (isEntry(entry)) {
        if (!known.has(entry.position)) {
          // The first message that brought it: the one whose delivery everywhere makes a relay useless.
          queue.push({ position: entry.position, carrier, atMs: this.nowMs });
          if (entry.position < highest) this.peerEntriesUnordered.add(group);
        }
        known.set(entry.position, entry);
        highest = Math.max(highest, entry.position);
      }
    this.peerEntriesHighest.set(group, highest);
    // Past the bound the oldest go, known and queued alike (a queued position no longer known is
    // passed when the relay reaches it). The queue is cut an eighth past its bound at a time: a
    // backup, which never relays, would otherwise move the whole queue on every announcement.
    const queueMax = this.settings.peerAnnouncementsMax;
    if (queue.length > queueMax + (queueMax >> 3)) queue.splice(0, queue.length - queueMax);
    const excess = known.size - this.settings.peerAnnouncementsMax;
    if (excess <= 0) return;
    const ascending = !this.peerEntriesUnordered.has(group);
    const kept = withoutLowestPositions(known, excess, ascending);
    if (kept !== known) this.peerEntries.set(group, kept);
    // A rebuilt table is in position order again.
    this.peerEntriesUnordered.delete(group);
  }

  private canProcess(entry: OrderEntry): boolean {
    if (entry.input.type !== 'message') return true;
    const key = inputKey(entry.input.source, entry.input.channel);
    const pending = this.pool.get(key);
    if (pending === undefined) return false;
    if (this.sameMessage(entry.input, pending.payload) === true) return true;
    const other = this.otherCopies.get(key);
    return other !== undefined && this.sameMessage(entry.input, other.payload) === true;
  }

  private sameMessage(input: MessageInput, payload: ApplicationPayload): boolean | undefined {
    return isNamedCopy(input, payload, this.peerBases.get(input.source) ?? []);
  }

  /**
   * A semi-active backup processes, in order, every announced position whose input it holds,
   * the reply to a synchronous request (the primary's `implied` entry) among them.
   */
  private followAnnouncements(): void {
    if (this.style !== 'semi-active') return;
    for (;;) {
      const entry = this.announced.get(this.positionLast + 1);
      if (entry === undefined) {
        // Inputs or later positions' announcements wait here (a processed entry leaves `announced`,
        // and none at or before the position gets in), but not the next announcement: for a moment
        // under load, for good if it was lost (`askIfGap`).
        if ((this.announced.size > 0 || this.pool.size > 0) && this.gapPosition !== this.positionLast + 1) {
          this.gapPosition = this.positionLast + 1;
          this.gapSinceMs = this.nowMs;
          this.armNetsTimer();
        }
        return;
      }
      if (!this.canProcess(entry)) {
        this.askIfNeverDelivered(entry);
        if (this.stuckPosition !== entry.position) {
          this.stuckPosition = entry.position;
          this.stuckSinceMs = this.nowMs;
          this.armNetsTimer();
        }
        return;
      }
      this.announced.delete(entry.position);
      this.useNamedCopy(entry);
      if (!this.replayEntry(entry)) return;
    }
  }

  /** Processes one announced entry with the primary's values; false if the replica diverged. */
  private replayEntry(entry: OrderEntry): boolean {
    const envelope = this.envelopeOf(entry.input, entry.position);
    this.supervisor.setMode('replay');
    this.supervisor.discardReplay();
    this.supervisor.feed(entry.values);
    try {
      this.runActor(entry.input, entry.position, envelope);
    } catch (error) {
      // A machine's action that throws stops the machine and surfaces as `ActorFailedError`.
      if (error instanceof SupervisorReplayError || error instanceof ActorFailedError) {
        this.reportDivergence(entry.position, error.message);
        return false;
      }
      throw error;
    }
    const left = this.supervisor.pendingReplayCount();
    this.recordProcessed(entry.input, entry.position, entry.epoch ?? this.currentEpoch());
    this.remember(entry);
    if (left > 0) {
      this.reportDivergence(entry.position, `the primary took ${left} more supervised values here`);
      return false;
    }
    if (entry.digest !== undefined) {
      this.counters.digestsChecked++;
      const digest = this.digest();
      if (digest !== entry.digest) {
        this.reportDivergence(
          entry.position,
          `state digest ${digest} differs from the primary's ${entry.digest}`,
        );
        return false;
      }
    }
    return true;
  }

  private reportDivergence(position: number, reason: string): void {
    this.counters.divergences++;
    this.lifecycleEvent({ type: 'diverged' });
    this.effects.push({ type: 'diverged', replica: this.self, group: this.group, position, reason });
  }

  /** A checkpoint at the last position, with `carried` outputs (a replaced checkpoint's) before those since. */
  private makeCheckpoint(carried: readonly KeptOutput[]): Checkpoint {
    const outputs =
      carried.length === 0 ? this.outputsSinceCheckpoint : [...carried, ...this.outputsSinceCheckpoint];
    const checkpoint = this.snapshotCheckpoint(outputs);
    this.outputsSinceCheckpoint = [];
    return checkpoint;
  }

  private snapshotCheckpoint(outputs: readonly KeptOutput[]): Checkpoint {
    return {
      position: this.positionLast,
      epoch: this.view?.epoch ?? 0,
      state: structuredClone(this.instance?.persisted() ?? null),
      bookkeeping: this.bookkeeping(),
      outputs,
    };
  }

  private bookkeeping(): ReplicaBookkeeping {
    const processed: Record<string, ReturnType<SequenceSet['data']>> = {};
    for (const [source, set] of this.processedBy) processed[source] = set.data();
    return {
      outputSequence: this.outputSequence,
      channels: { ...this.channels },
      processed,
      timers: structuredClone(this.userTimers),
      syncWait: this.syncWait,
      syncWaitAt: this.syncWaitAt,
      syncWaitRequest: this.syncWaitRequest,
    };
  }

  /** A passive backup keeps the latest checkpoint and forgets what it covers. */
  private applyCheckpoint(checkpoint: Checkpoint): void {
    if (this.style !== 'passive' || this.role === 'primary' || this.role === 'joining') return;
    if (this.checkpoint !== undefined && checkpoint.position <= this.checkpoint.position) return;
    if (checkpoint.position <= this.positionLast) return;
    // A deposed primary's, delivered after the flush that cut below it (found by review: applied,
    // it replaced the decided log and a later takeover ran an input the group never decided).
    if (this.disowns(this.bases, checkpoint)) {
      this.counters.checkpointsCut++;
      return;
    }
    this.checkpoint = checkpoint;
    this.counters.checkpointsApplied++;
    for (const position of [...this.announced.keys()])
      if (position <= checkpoint.position) this.announced.delete(position);
    this.processedBy = new Map(
      Object.entries(checkpoint.bookkeeping.processed).map(([source, data]) => [
        source,
        SequenceSet.from(data),
      ]),
    );
    this.dropProcessedInputs();
    for (const output of checkpoint.outputs) {
      const key = messageKey(output.payload.id);
      if (!this.observed.delete(key)) this.kept.set(key, output);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Failover

  /** A passive backup rebuilds the actor from the last checkpoint and replays the log after it. */
  private takeOverFromCheckpoint(): boolean {
    const checkpoint = this.checkpoint;
    if (checkpoint !== undefined && checkpoint.position > this.positionLast) {
      this.restoreFrom(checkpoint);
      this.historyKeys.length = 0;
      this.historyEpochList.length = 0;
      this.historyBase = checkpoint.position;
    }
    if (this.instance === undefined && this.positionLast > 0) return true;
    for (;;) {
      const entry = this.announced.get(this.positionLast + 1);
      if (entry === undefined || !this.canProcess(entry)) break;
      this.announced.delete(entry.position);
      this.useNamedCopy(entry);
      if (!this.replayEntry(entry)) return false;
    }
    return true;
  }

  /** The flush concluded (or this is a new group's first primary): order from here on. */
  private becomePrimary(): void {
    const epoch = this.view?.epoch ?? 0;
    // Positions announced beyond what could be processed name inputs nobody in the view holds:
    // they are past the cut, and late messages carrying them are dropped everywhere (by the basis).
    this.counters.entriesCut += this.announced.size;
    this.announced.clear();
    this.heldOrders = [];
    this.laterOrders = [];
    this.supervisor.setMode('record');
    this.supervisor.discardReplay();
    this.counters.promotions++;
    this.effects.push({ type: 'promoted', replica: this.self, group: this.group, epoch });
    this.addBasis({ epoch, cut: this.positionLast });
    this.dropDisownedInputs(undefined);
    // Of two copies on a channel, a primary orders the later one: its source group's word.
    for (const [key, other] of this.otherCopies) {
      const pending = this.pool.get(key);
      if (pending === undefined) this.otherCopies.delete(key);
      else if (other.payload.epoch > pending.payload.epoch) this.swapCopies(key);
    }
    if (this.positionLast === 0) {
      this.processAsPrimary({ type: 'start' }, false);
      this.endPass();
    }
    // Re-announce the recent positions: a backup that missed the old primary's last messages gets them.
    const from = Math.max(0, this.positionLast - this.recentMax());
    for (const connection of this.endpoints.keys()) this.confirmedOn.set(connection, from);
    this.announcedAnywhere = Math.min(this.announcedAnywhere, from);
    for (const [name, timer] of Object.entries(this.userTimers))
      this.setTimer(`${USER_TIMER_PREFIX}${name}`, timer.delayMs);
    // A wait the old primary started: the delay starts again here (it times at least that long).
    this.armReplyTimeout();
    const resend = [...this.kept.values()].sort((a, b) => a.payload.id.sequence - b.payload.id.sequence);
    this.kept.clear();
    this.uncommittedKept.clear();
    this.observed.clear();
    for (const output of resend) {
      this.pendingOutputs.push(output);
      this.counters.outputsResent++;
    }
    // The bases first: attached now, they ride on the first message each connection sends, a
    // resend among them, so no receiver gets a message of this epoch ahead of its basis (streams
    // are FIFO per sender). Sent after the resends, they reached receivers later than those: a
    // replica holding the old primary's copy of a resent output could not tell the resend for the
    // same message, and kept both (the sweep, seed 321, docs/replication.md).
    this.announceBases();
    this.flushOutputs();
    this.scheduleProcessing();
  }

  /**
   * A replica added back to its group after it was taken out (alive, but silent or diverged) drops
   * what it knew of the order and of its own outputs: the group went on without it, positions it
   * holds announcements for may have been decided otherwise, and outputs it kept may belong to
   * positions that were never decided. The state transfer it asks for next brings all of it back.
   * Received inputs stay in the pool, and recently processed ones go back to it: an input is the same
   * whichever order it gets.
   */
  private forgetOrder(): void {
    this.counters.rejoins++;
    this.stepDown();
    this.flush = undefined;
    this.announced.clear();
    this.heldOrders = [];
    this.laterOrders = [];
    this.recent.length = 0;
    // The inputs it processed lately go back to the pool: the group may order them at other
    // positions, and the connection will not deliver them again. The state transfer's checkpoint
    // drops those it covers.
    for (const [key, copy] of this.recentInputsByKey()) {
      if (this.pool.has(key)) continue;
      // Past the pool's bound kept and counted, as everywhere (`countOverBound`).
      this.countOverBound(this.pool.size);
      this.poolSet(key, { kind: copy.kind, payload: copy.payload, arrival: ++this.arrivals });
    }
    this.recentInputKeys.length = 0;
    this.recentInputCopies.length = 0;
    this.confirmedOn.clear();
    this.announcedAnywhere = 0;
    this.localQueue.length = 0;
    this.kept.clear();
    this.uncommittedKept.clear();
    this.observed.clear();
    this.recentOutputs.length = 0;
    this.outputsSinceCheckpoint = [];
    this.checkpoint = undefined;
    this.checkpointParts = undefined;
    this.peerEntries.clear();
    this.peerEntriesUnordered.clear();
    this.peerEntriesHighest.clear();
    this.relayQueues.clear();
    this.relayedUpTo.clear();
    this.stateRequestedAtMs = -1;
    // What it processed while out (as a deposed primary, say) is nobody's order.
    this.historyKeys.length = 0;
    this.historyEpochList.length = 0;
    this.historyBase = this.positionLast;
  }

  /** No longer primary: nothing of this replica's order may go out any more. */
  private stepDown(): void {
    for (const connection of this.endpoints.keys()) {
      const endpoint = this.endpoints.get(connection)!;
      detachPiggyback(endpoint, REPLICATION_PIGGYBACK_KEY);
      this.applyEndpointEffects(connection, endpointTake(endpoint));
    }
    // Outputs produced and not sent yet stay kept, as a backup keeps what its primary has not
    // sent: if this replica is primary again after a flush, it resends them.
    const heldThrough = this.majorityHeldThrough();
    for (const output of this.pendingOutputs) {
      const key = messageKey(output.payload.id);
      this.kept.set(key, output);
      if (output.payload.position > heldThrough) this.uncommittedKept.add(key);
    }
    this.pendingOutputs.length = 0;
    // Sends to outside addresses are the primary's alone, never resent (docs/replication.md).
    this.externalAwaitingMajority.length = 0;
    this.pendingCheckpoint = undefined;
    this.checkpointDue = false;
    // Should this replica be primary again, its first pass takes a checkpoint at once.
    this.checkpointAtMs = Number.NEGATIVE_INFINITY;
    this.digestDue = false;
    this.supervisor.setMode('replay');
  }

  // -------------------------------------------------------------------------------------------
  // After every input

  private afterInput(): void {
    const role = this.role;
    if (role === 'backup' && this.held.length > 0) this.takeHeldCopiesNamed();
    if (role === 'backup' || role === 'starting') this.followAnnouncements();
    if (this.role === 'backup' && this.settings.outputCommit === 'majority') this.tellHeld(false);
    if (this.stuckPosition !== 0) this.askIfStuck();
    if (this.gapPosition !== 0) this.askIfGap();
    if (this.inputsAskedAt.size > 0) this.askAgain();
    if (role === 'recovering') this.tryConcludeFlush();
    if (this.role === 'primary') this.flushOutputs();
  }

  private setTimer(name: string, delayMs: number): void {
    this.effects.push({ type: 'set-timer', name, delayMs });
  }
}
