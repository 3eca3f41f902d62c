/**
 * Types of replica groups (seed `primary-order-announcements.txt`, claims 33-69): the settings of a
 * replicated deployment, what rides on the group layer's multicast connections (application
 * payloads with their group-level ids, order announcements, relays, checkpoints), and the inputs and
 * effects of the replica role.
 */
import type { SupervisedValue } from '@steadfast/runtime';
import type { ConnectionSettings, GroupView, MulticastKind, Packet } from '@steadfast/group';
import type { Address, Envelope, MessageId, NodeId } from '@steadfast/wire';

/**
 * How a group's backups follow its primary: `semi-active` backups process every input in the
 * announced order and keep their outputs for a failover; `passive` backups log the inputs and
 * announcements and apply the primary's checkpoints, replaying the log after the last one when they
 * take over. docs/replication.md, "Deploying an actor".
 */
export type ReplicationStyle = 'semi-active' | 'passive';
/** Every `ReplicationStyle`: what `checkStyleAndPolicy` accepts and the CLI offers as `--style`. */
export const REPLICATION_STYLES: readonly ReplicationStyle[] = ['semi-active', 'passive'];

/**
 * When a primary's outputs may leave (`ReplicationSettings.outputCommit`): `at-once`, as soon as it
 * processed their position (the protocol of the seed: no extra message when nothing fails); or
 * `majority`, once a majority of its view (itself included) holds that position.
 */
export type OutputCommit = 'at-once' | 'majority';
/** Every `OutputCommit`: what the settings check accepts and the CLI offers as `--output-commit`. */
export const OUTPUT_COMMITS: readonly OutputCommit[] = ['at-once', 'majority'];

/**
 * The tuning of a replica: its delays, batch sizes, the bounds of what it keeps, when its outputs
 * leave, and its multicast connections' settings. A deployment (`group(…, { settings })`) and a host
 * (`ReplicaActorInput.settings`) give a `Partial` over `REPLICATION_DEFAULTS`, which
 * `replicationSettings` checks: a value out of its range or a name it does not know is a `RangeError`
 * naming it. Every replica of a group should run with the same. docs/replication.md, "Settings
 * (`ReplicationSettings`)", gives each one's range.
 */
export interface ReplicationSettings {
  /**
   * How long processed-but-unannounced positions wait for an outgoing application message to ride
   * on before the primary sends them in a null message (claims 46, 53, 60).
   */
  readonly announceDelayMs: number;
  /** Delay of the primary's scheduling pass after a message arrives (0: the next event). */
  readonly processDelayMs: number;
  /** Inputs the primary processes in one scheduling pass, at most (their announcements batch). */
  readonly processBatchMax: number;
  /** Entries in one announcement, at most (claims 43, 45, 47: several per message). */
  readonly announceBatchMax: number;
  /**
   * Divergence detection: a digest of the actor's state rides on the last position of each of the
   * primary's scheduling passes that reached a multiple of `digestEvery` (at most one hash per pass).
   */
  readonly digestEvery: number;
  /**
   * And at most one digest per this many milliseconds of the primary's clock (0: no such bound).
   * Hashing a large state is the costly part (the bank account with 256 remembered operations:
   * ~1 ms), so under load a digest per pass took a tenth of the primary’s time; detection stays
   * within one interval. Which positions carry a digest is the primary's choice alone: backups
   * check whichever entries carry one, so this takes no agreement.
   */
  readonly digestIntervalMs: number;
  /** Passive style: the primary piggybacks a checkpoint after every `checkpointEvery` positions. */
  readonly checkpointEvery: number;
  /**
   * Passive style: and at most one checkpoint per this many milliseconds of the primary's clock (0:
   * no such bound), unless a quarter of `inputsMax` positions passed since the last one (a
   * backup's log holds every input after its checkpoint, and past `inputsMax` it would drop
   * them). Copying, serializing and sending the whole state is the passive primary's dearest step:
   * a checkpoint per pass took 22 – 39 % of its throughput with 64 requests in flight. The cost of a
   * longer interval falls on a failover: the backup that takes over replays the positions after
   * its checkpoint, up to an interval's worth.
   */
  readonly checkpointIntervalMs: number;
  /**
   * A new primary resends its flush requests (and re-checks whether the flush is complete) this
   * often; a joining replica resends its state request as often.
   */
  readonly recoveryWaitMs: number;
  /**
   * A flush that has not completed after this long concludes with what it has (counted as
   * `flushTimeouts`): only a member that stays silent and is never removed from its view causes it.
   */
  readonly recoveryMaxMs: number;
  /**
   * Received, not yet processed inputs a replica holds before it counts the rest as over its bound
   * (`inputsOverBound`). None is dropped: the connection delivers an input once, and no one else
   * keeps it. Also the bound of the replica's small tables (fenced inputs, outputs seen; 16 times
   * it for the entries and orders a backup holds ahead) and of a passive primary's checkpoint pace
   * (`checkpointIntervalMs`).
   */
  readonly inputsMax: number;
  /** Processed positions remembered for the invariant checks and `history()`. */
  readonly historyMax: number;
  /** Peer announcements kept per peer group, for relaying and for a peer's failover (claims 65-69). */
  readonly peerAnnouncementsMax: number;
  /**
   * The primary relays a peer group's announcements back to that group (claims 66-67) only for
   * entries whose carrying message its connection does not yet know delivered at every member of
   * the peer group, and only once they have waited this long for that knowledge (0: at once, on
   * the next message). The peer's backups receive its primary's messages on the same connection,
   * so when nothing fails every relay repeated what they already had; a backup that missed the
   * carrier still gets the entries from the relay, after this delay, if the group layer has not
   * already fetched it the message. Keep it above the connection's `ackDelayMs`, which is about
   * how long the knowledge takes to come.
   */
  readonly relayAfterMs: number;
  /**
   * What the replication layer piggybacks on one message, at most, in JSON characters (an upper
   * bound on its msgpack size for plain data). A frame holds 16 KiB by default and a message that
   * does not fit is dropped at every (re)transmission, which would block its stream for good: so
   * announcements past the bound wait for the next message, and a larger checkpoint travels in
   * parts (`checkpointPart`), one per message. Keep `piggybackCharsMax` plus a body under the
   * connection's `messageBytesMax`: the group layer packs batched sends and retransmissions into
   * packets by that bound, so a message that fits it always travels.
   */
  readonly piggybackCharsMax: number;
  /**
   * When outputs leave the primary. `at-once` (the default) sends each output, with the order of
   * its position piggybacked, as soon as the primary processed it: no extra message and no wait.
   * Its limit: if the primary and the only peer members that received an output all fail before
   * the group's backups hold that position (two primaries cut off together from their groups,
   * then both crashing), the next primary cannot learn it, and a peer may have acted on it (a
   * request lost, or applied twice; docs/replication.md, "Output commit").
   *
   * `majority` holds every output (to a peer group and to outside addresses) until a majority of
   * the view, the primary included, holds its position: the backups tell the primary what they
   * hold (`rep-held`) and the primary sends the announcements at once in a null message when its
   * outputs wait. Nothing leaves a primary cut off from its group, so no peer ever acts on a
   * position a failover could cut. It costs a round trip to a backup per pass and a control
   * message per backup per input it follows. A group of one is its own majority: nothing waits.
   */
  readonly outputCommit: OutputCommit;
  /**
   * The safety net under the rules that fetch a missing input: a semi-active backup stopped at one
   * position this long for the input its primary's entry names asks its primary for it, whatever
   * the reason it lacks it (docs/replication.md, "A backup stopped at one position asks anyway").
   * Far longer than a message takes to arrive or be retransmitted while its sender lives (~20 – 60
   * ms), so it asks only when something went wrong: a path no known rule covers, like those the
   * sweeps found (seeds 2740, 7619, 10993), each a backup behind its primary for good. 0 turns the
   * net off: `sim replication` runs each seed in which the net fired again without it, to tell a
   * run that needed the net from one in which the input would have come anyway.
   */
  readonly stuckAskMs: number;
  /**
   * How long the primary waits for the reply to a synchronous request of its actor before it gives
   * up on it (0, the default: for ever). Claim 48 has the group process nothing else while it
   * waits, so a callee that never answers (its actor never replies, or its group is gone) would
   * hold the caller for good. Past this many milliseconds of the primary's clock the group orders
   * a `reply-timeout` in the reply's place: its actor gets a `sync-reply` with a `ReplyTimeout`
   * body and goes on, and a reply that comes later is dropped. The request may still take effect
   * at the callee: a timeout says "no answer in time", not "not done". A new primary that takes
   * over during a wait starts the delay again. Every replica of the group must know the
   * `reply-timeout` input before any of them sets this (docs/replication.md, "A synchronous
   * request that is never answered").
   */
  readonly syncReplyTimeoutMs: number;
  /** Settings of the multicast connections this replica takes part in. */
  readonly connection: Partial<ConnectionSettings>;
}

/**
 * The settings a replica runs with where neither the deployment nor the host set one. `connection`
 * holds replication's defaults over the group layer's own (why, in the comments below);
 * `replicationSettings` also makes `ownGroupDelayMs` 0 under `outputCommit: 'majority'`. The settings
 * table of docs/replication.md lists every field with this default (`docs.test.ts` checks it).
 */
export const REPLICATION_DEFAULTS: ReplicationSettings = {
  announceDelayMs: 2,
  processDelayMs: 0,
  processBatchMax: 64,
  announceBatchMax: 64,
  digestEvery: 4,
  digestIntervalMs: 50,
  checkpointEvery: 8,
  checkpointIntervalMs: 20,
  recoveryWaitMs: 20,
  recoveryMaxMs: 5_000,
  inputsMax: 4_096,
  historyMax: 100_000,
  peerAnnouncementsMax: 256,
  relayAfterMs: 100,
  piggybackCharsMax: 6_000,
  outputCommit: 'at-once',
  stuckAskMs: 500,
  syncReplyTimeoutMs: 0,
  // A retransmission answers a NACK with up to this many messages; the group layer splits them into
  // packets that each stay within `messageBytesMax`, so full-size messages still travel one per
  // packet. A pass's outputs leave batched (several per packet), so one lost packet can be dozens of
  // messages: fetching them two at a time took one NACK round per pair.
  // Backups send nothing but acknowledgements, so every acknowledgement they owe goes alone after
  // `ackDelayMs` and wakes the client and the primary, the two processes on the critical path:
  // 20 ms instead of 5 sends a quarter of those packets, and a window of 1,024 instead of 128 keeps
  // ~10,000 messages/s from filling the window while stability waits for them (measured A/B at 64
  // in flight: 10 ms with 512 gave +3-13 %, 20 ms with 1,024 another +3-25 %; 50 ms with 512 was
  // slower, the windows filled). Loss is still found at once by gaps and within `syncIntervalMs`.
  // Backups only follow: a primary's outputs reach them up to 2 ms late, batched
  // (`ownGroupDelayMs`; the peer group still gets them at once, since its members answer a
  // failover's flush), so at low load the primary sends one packet per output instead of three.
  connection: {
    nullMessageDelayMs: 0,
    retransmitBatchMax: 16,
    windowMax: 1_024,
    ackDelayMs: 20,
    ownGroupDelayMs: 2,
  },
};

/** A group-level message id: the source group (as origin), incarnation 0, the group's output count. */
export type GroupMessageId = MessageId;

/** What an application message carries on a connection, besides its kind. */
export interface ApplicationPayload {
  readonly type: 'rep-app';
  /** The same at every replica of the source group, so receivers drop a failed-over resend. */
  readonly id: GroupMessageId;
  readonly source: string;
  readonly target: string;
  /** Per (source group, target group) sequence, from 1: receivers deduplicate by it. */
  readonly channel: number;
  readonly body: unknown;
  readonly inReplyTo?: GroupMessageId;
  /** The source group's view epoch when this copy was multicast: receivers fence older epochs. */
  readonly epoch: number;
  /** The source group's position whose processing produced it. */
  readonly position: number;
  /**
   * On a synchronous reply: what the caller's primary uses for the clock, randomness and ids of
   * the reply's handling, so it processes the reply at once with no ordering decision (claim 48),
   * and a new primary that processes it after a failover takes the same values. The replier's
   * primary took them through its own supervisor (so its backups resend the same).
   */
  readonly derived?: { readonly nowMs: number; readonly seed: number };
}

/**
 * An application payload, built as one object literal per shape (with or without `inReplyTo` and
 * `derived`) rather than by spreading its optional fields: every replica builds several per request
 * (emitting, stamping the epoch, decoding), and spreads cost a temporary object per field and gave
 * objects of shapes V8 could not predict (+3 – 28 % in the replication benchmark, docs/benchmarks.md).
 */
export function applicationPayload(
  id: GroupMessageId,
  source: string,
  target: string,
  channel: number,
  body: unknown,
  epoch: number,
  position: number,
  inReplyTo: GroupMessageId | undefined,
  derived: ApplicationPayload['derived'],
): ApplicationPayload {
  if (derived !== undefined)
    return inReplyTo === undefined
      ? { type: 'rep-app', id, source, target, channel, body, epoch, position, derived }
      : { type: 'rep-app', id, source, target, channel, body, epoch, position, inReplyTo, derived };
  return inReplyTo === undefined
    ? { type: 'rep-app', id, source, target, channel, body, epoch, position }
    : { type: 'rep-app', id, source, target, channel, body, epoch, position, inReplyTo };
}

/** A received input as it travels in a flush reply or a state transfer. */
export interface InputCopy {
  readonly kind: MulticastKind;
  readonly payload: ApplicationPayload;
}

/**
 * Where an epoch's order starts: every position up to `cut` was decided before `epoch` (by the
 * flush of a new primary, or by a primary that stayed primary across a view change). A message of
 * an older epoch that arrives late is accepted only if its position is at most the cut of the
 * first epoch after its own that receivers know of.
 */
export interface EpochBasis {
  readonly epoch: number;
  readonly cut: number;
}

/** What the primary's replica processed at one position (claims 40-41). */
export type OrderedInput =
  /** The actor's start (position 1): its supervised values travel like any other. */
  | { readonly type: 'start' }
  /** An application message from another group: see `MessageInput`. */
  | MessageInput
  /** A timer the actor set, fired at the primary. */
  | { readonly type: 'timer'; readonly name: string; readonly payload: unknown }
  /** An input from outside any replica group (a local client): the body travels in the entry. */
  | { readonly type: 'external'; readonly body: unknown }
  /** The primary gave up on the reply to a synchronous request: see `ReplyTimeoutInput`. */
  | ReplyTimeoutInput;

/**
 * The primary's decision that the reply to the synchronous request `request` (sent to `target`)
 * will not be waited for any longer: no reply came within `afterMs` (`syncReplyTimeoutMs`) of its
 * clock. Processed at the position right after the request's, like the reply would have been
 * (claim 48), by every replica alike: the actor gets a `sync-reply` whose body is a
 * `ReplyTimeout`, and a reply to that request that comes later is dropped unprocessed by the actor
 * (`lateRepliesDropped`). docs/replication.md, "A synchronous request that is never answered".
 */
export interface ReplyTimeoutInput {
  readonly type: 'reply-timeout';
  readonly request: MessageId;
  readonly target: Address;
  readonly afterMs: number;
}

/**
 * An application message from another group, named by its source group and channel sequence, and
 * by the `epoch` and `position` of the copy the primary processed (`sentEpoch`, `sentAt`).
 *
 * The channel alone does not name one message: a source group whose primary was cut off from it
 * may have sent a message on a channel that the group's next primary, never hearing of it, used
 * for another one (found by the fault sweep, seed 1399). A backup that follows the entry must
 * process the copy its primary did, so it checks that its copy is that one (`isNamedCopy` in
 * replica.ts). Absent in entries from a version before this field: the channel alone then.
 */
export interface MessageInput {
  readonly type: 'message';
  readonly source: string;
  readonly channel: number;
  /** The `epoch` of the copy the primary processed: the source group's epoch when it was multicast. */
  readonly sentEpoch?: number;
  /** The `position` of that copy: the source group's position whose processing produced it. */
  readonly sentAt?: number;
}

/**
 * One position of a group's order as its primary announces it (claims 40-47): the input processed
 * there, the supervised values its processing took, and now and then a digest of the state after
 * it. Backups process (semi-active) or log (passive) the entries in position order, and a new
 * primary's flush gathers them. Entries ride piggybacked (`ReplicationPiggyback`: `order`, `relay`)
 * in the compact form of wire-form.ts, and in flush and peer-order replies.
 */
export interface OrderEntry {
  /** From 1; the primary's processing order. */
  readonly position: number;
  /** Epoch of the view in which a primary processed it first. */
  readonly epoch?: number;
  readonly input: OrderedInput;
  /** Supervised values the actor took while processing it, in order (replica-supervisors.txt). */
  readonly values: readonly SupervisedValue[];
  /** Stable hash of the actor's state after processing, on the last position of a pass that reached a multiple of `digestEvery`. */
  readonly digest?: string;
  /**
   * True for a synchronous reply: its position follows from the request that waited for it, so no
   * ordering decision was taken (claim 48); the entry carries the supervised values its handling
   * took, which backups replay.
   */
  readonly implied?: boolean;
}

/** Bookkeeping a passive backup needs to take over from a checkpoint. */
export interface ReplicaBookkeeping {
  readonly outputSequence: number;
  readonly channels: Readonly<Record<string, number>>;
  readonly processed: Readonly<Record<string, SequenceSetData>>;
  readonly timers: Readonly<Record<string, { readonly delayMs: number; readonly payload: unknown }>>;
  readonly syncWait: string | null;
  /** The position whose processing sent that synchronous request (claim 48). */
  readonly syncWaitAt?: number;
  /** That request's id and target, for its `reply-timeout` (absent from a version before it). */
  readonly syncWaitRequest?: { readonly id: MessageId; readonly target: Address } | null;
}

/**
 * A `SequenceSet` as plain data, as a checkpoint's bookkeeping carries it (`SequenceSet.data`,
 * `SequenceSet.from`): every number up to `floor`, and the numbers above it, ascending.
 */
export interface SequenceSetData {
  readonly floor: number;
  readonly above: readonly number[];
}

/**
 * A replica's state at `position`: the actor's persisted state and the bookkeeping a replica needs to
 * go on from there. A passive primary piggybacks one on its own group's messages every
 * `checkpointEvery` positions, paced by `checkpointIntervalMs` (in `CheckpointPart`s when larger than
 * `piggybackCharsMax`), and its backups take over from the latest; a state transfer (`rep-state`)
 * carries one to a joining replica of either style. A malformed one is dropped unapplied and
 * counted (`checkpointsDropped`).
 */
export interface Checkpoint {
  readonly position: number;
  /**
   * The view epoch of the primary that took it. A checkpoint past the cut of a later epoch's basis
   * holds a position its group never decided (a deposed primary's, delivered late): a passive
   * backup refuses it, a joiner ignores a transfer of it, and a replica whose state came from one
   * starts over once it learns that basis (docs/replication.md, "A checkpoint is judged by its
   * epoch"). Absent from a sender of an older version; such a checkpoint is taken as before.
   */
  readonly epoch?: number;
  /** The actor's persisted state (`ActorInstance.persisted()`), plain data. */
  readonly state: unknown;
  readonly bookkeeping: ReplicaBookkeeping;
  /** Outputs produced since the previous checkpoint: resent on takeover unless seen sent. */
  readonly outputs: readonly KeptOutput[];
}

/**
 * A checkpoint larger than `piggybackCharsMax` travels as its JSON text cut into `count` parts, one
 * per message (the connection is reliable and delivers all of them to every member); a backup
 * applies it once it holds every part of the same text.
 */
export interface CheckpointPart {
  readonly position: number;
  readonly index: number;
  readonly count: number;
  readonly text: string;
  /**
   * `stableHash` of the whole text: which cut this part belongs to. Two primaries of a group (one
   * per epoch) may each cut a checkpoint of the same position, and their texts differ; a backup
   * joins only parts of one text, and checks the joined text against it. Absent from a replica
   * of a version before 2026-11-25, whose parts are joined by position and count alone, as then.
   */
  readonly textHash?: string;
}

/**
 * An output held for a failover: the connection it goes out on, its multicast kind and its payload.
 * A replica keeps the outputs it produced until it sees its group send them, and resends the rest
 * if it becomes primary; checkpoints and state transfers carry them to replicas that did not
 * produce them. Receivers drop a resend they already have by its group-level id.
 */
export interface KeptOutput {
  readonly connection: string;
  readonly kind: MulticastKind;
  readonly payload: ApplicationPayload;
}

/** The piggyback data of this layer, under the key `REPLICATION_PIGGYBACK_KEY`. */
export interface ReplicationPiggyback {
  /** The sender group's announcements (claims 42-47). */
  readonly order?: {
    readonly group: string;
    readonly epoch: number;
    readonly entries: readonly OrderEntry[];
  };
  /** Another group's announcements relayed to its replicas (claims 66-67). */
  readonly relay?: {
    readonly group: string;
    /** The epoch of that group the relaying replica knows: late relays of older epochs are judged. */
    readonly epoch?: number;
    readonly entries: readonly OrderEntry[];
  };
  readonly checkpoint?: Checkpoint;
  /** One part of a checkpoint too large to ride whole on one message (`piggybackCharsMax`). */
  readonly checkpointPart?: CheckpointPart;
  /** The sender group's latest epoch bases: late messages of older epochs are judged by them. */
  readonly bases?: { readonly group: string; readonly bases: readonly EpochBasis[] };
  /** A new primary's flush: makes every member of both groups learn its epoch at once. */
  readonly flush?: { readonly group: string; readonly epoch: number };
}

/**
 * The key under which replication's data (`ReplicationPiggyback`) rides in a multicast message's
 * piggyback; the group layer carries it for this layer, which alone reads it.
 */
export const REPLICATION_PIGGYBACK_KEY = 'rep';

/** Messages between replicas of one group, sent directly (not multicast) by the replica actors. */
export type ReplicaControl =
  /**
   * One part of a control message too large for one frame (a state transfer of a large actor
   * state, a long flush reply): its body bytes (`encodeBody`) cut at `piggybackCharsMax` bytes.
   * The receiver puts the parts of one `transfer` together and handles the message they make.
   */
  | {
      readonly type: 'rep-part';
      readonly group: string;
      /** The sender's incarnation and its count of split messages: together, which message. */
      readonly incarnation: number;
      readonly transfer: number;
      readonly index: number;
      readonly count: number;
      readonly bytes: Uint8Array;
    }
  /** A new primary asks a member for everything it holds of the order after `from`. */
  | {
      readonly type: 'rep-flush-request';
      readonly group: string;
      readonly epoch: number;
      readonly from: number;
    }
  | {
      readonly type: 'rep-flush-reply';
      readonly group: string;
      readonly epoch: number;
      /** The member's processed position. */
      readonly position: number;
      /** Entries after the request's `from` it processed, holds announced, or holds from an older epoch. */
      readonly entries: readonly OrderEntry[];
      /** The inputs of those entries that it holds. */
      readonly inputs: readonly InputCopy[];
      /** The member's epoch bases of this group (older replies may lack them). */
      readonly bases?: readonly EpochBasis[];
    }
  /**
   * A new primary of group `about` asks a replica of a peer group (`group`, the receiver's) what it
   * knows of `about`'s order: the peer may have acted on outputs of positions the new primary never
   * heard of (an old primary cut off from its own group but not from the peer, claims 65, 69).
   */
  | {
      readonly type: 'rep-peer-order-request';
      readonly group: string;
      readonly about: string;
      readonly epoch: number;
      /** The new primary's position: only entries after it are of use. */
      readonly after: number;
    }
  /**
   * The answer, to group `group` (the new primary's) from a replica of `from`: the entries of
   * `group`'s order it knows, and the outputs of its own group to `group` it still holds (inputs
   * the new primary may lack). From then on it holds `group`'s messages of older epochs.
   */
  | {
      readonly type: 'rep-peer-order-reply';
      readonly group: string;
      readonly from: string;
      readonly epoch: number;
      readonly entries: readonly OrderEntry[];
      readonly inputs: readonly InputCopy[];
    }
  /**
   * A backup asks the primary for the input it processed at `position`: the entry names a message
   * the backup lacks and whose source group never decided it (`MessageInput`), so the connection
   * will never deliver it again (its sender's group disowned it; the primary had acted on it first).
   */
  | {
      readonly type: 'rep-input-request';
      readonly group: string;
      readonly position: number;
      /**
       * The copy wanted, named whole (with `sentEpoch` and `sentAt`): a new primary's flush asks
       * every member for the input of a position it learnt of but lacks, and any replica holding
       * exactly that copy answers. Without it, only the primary answers, from the entry it
       * processed at `position` (and a replica of an older version ignores the field: no answer).
       */
      readonly input?: MessageInput;
    }
  /** A replica's copy of the input at `position`: the primary's, or the named copy a member held. */
  | {
      readonly type: 'rep-input-reply';
      readonly group: string;
      readonly position: number;
      readonly input: InputCopy;
    }
  /**
   * A semi-active backup asks its primary for the order after its position `after`: it holds
   * announcements of later positions, but the next one has not come for `stuckAskMs` (the safety
   * net for a missing entry, as `rep-input-request` is for a missing input). `epoch` is the
   * backup's view's.
   */
  | {
      readonly type: 'rep-entries-request';
      readonly group: string;
      readonly epoch: number;
      readonly after: number;
    }
  /**
   * The primary's answer, in its view of `epoch`: the entries after `after` it still keeps
   * (`kept: true`, the first of them at `after + 1`). `kept: false` (no entries): it no longer
   * keeps the entry at `after + 1`, nobody will announce it again, and the backup starts over by
   * state transfer. The primary answers a `rep-input-request` for a position it no longer keeps
   * with `kept: false` too: nobody will give that input again.
   */
  | {
      readonly type: 'rep-entries';
      readonly group: string;
      readonly epoch: number;
      readonly after: number;
      readonly kept: boolean;
      readonly entries: readonly OrderEntry[];
    }
  /**
   * A backup tells its primary that it holds every position of the order through `position`
   * (processed, semi-active; inputs and entries logged, passive), in the view of `epoch` whose
   * basis it knows. Sent with `outputCommit: 'majority'`, whenever that grows, and on request.
   */
  | { readonly type: 'rep-held'; readonly group: string; readonly epoch: number; readonly position: number }
  /** A primary whose outputs wait for a majority asks a backup to tell it again what it holds. */
  | { readonly type: 'rep-held-request'; readonly group: string; readonly epoch: number }
  /**
   * A joining replica (a restarted one, one added back, one whose state was discarded) asks the
   * primary for its state. `joining` counts the times this incarnation started joining; the answer
   * echoes it, so an answer to an earlier joining, delayed past it, is told apart and ignored.
   * Absent from a sender of an older version.
   */
  | {
      readonly type: 'rep-state-request';
      readonly group: string;
      readonly incarnation: number;
      readonly joining?: number;
    }
  | {
      readonly type: 'rep-state';
      readonly group: string;
      readonly epoch: number;
      /** The requester's incarnation: an answer meant for an earlier one is ignored. */
      readonly incarnation: number;
      /** The request's `joining`, echoed: an answer meant for an earlier joining is ignored. */
      readonly joining?: number;
      readonly checkpoint: Checkpoint;
      /** Inputs received and not yet processed at the primary. */
      readonly inputs: readonly InputCopy[];
      /**
       * Inputs the primary holds because their group's epoch is older than one it knows, until
       * that epoch's basis says whether they count: the joiner holds them too. The connection will
       * not deliver them again (they are stable without the joiner), and once judged they may be
       * processed at positions after the checkpoint. Absent from a sender of an older version.
       */
      readonly held?: readonly InputCopy[];
      /**
       * The primary's recent outputs and those it has not sent yet (waiting for a majority or for a
       * connection's window): kept, and resent should the joiner ever take over.
       */
      readonly outputs: readonly KeptOutput[];
      readonly bases: readonly EpochBasis[];
      /** What the primary knows of the peer groups' epochs, for fencing their late messages. */
      readonly peerEpochs: Readonly<Record<string, number>>;
      readonly peerBases: Readonly<Record<string, readonly EpochBasis[]>>;
    };

/** Every control message's type starts with this; a body of another type is no control message. */
export const REPLICA_CONTROL_PREFIX = 'rep-';

/**
 * Every `ReplicaControl` type this version knows. A control message put back together from parts is
 * handled only if its type is one of these other than `rep-part` (parts never nest); otherwise it
 * is dropped and counted (`controlPartsDropped`).
 */
export const REPLICA_CONTROL_TYPES: readonly ReplicaControl['type'][] = [
  'rep-part',
  'rep-flush-request',
  'rep-flush-reply',
  'rep-peer-order-request',
  'rep-peer-order-reply',
  'rep-input-request',
  'rep-input-reply',
  'rep-entries-request',
  'rep-entries',
  'rep-held',
  'rep-held-request',
  'rep-state-request',
  'rep-state',
];

/**
 * The role a replica plays: the state of its lifecycle machine (`replicaLifecycle`, whose
 * `LifecycleState` has the same names), as `ReplicaRole.role` and the replica actor's inspected
 * state report it. docs/replication.md, "The lifecycle, an xstate machine".
 */
export type ReplicaRoleName =
  'starting' | 'joining' | 'backup' | 'recovering' | 'primary' | 'diverged' | 'removed';

/**
 * What a host feeds `ReplicaRole.step`: a packet of one of its connections (one of an unknown
 * connection is ignored), a view of its own group or of a peer group installed by membership, a
 * timer the role set (by the name it gave) that fired, and the inputs below.
 */
export type ReplicaInput =
  | { readonly type: 'packet'; readonly packet: Packet }
  | { readonly type: 'view-installed'; readonly view: GroupView }
  | { readonly type: 'timer'; readonly name: string }
  /** An input from outside the replicated world (a local client, the host): primary only. */
  | { readonly type: 'external'; readonly body: unknown }
  /** A message of another replica of this group (flush, state transfer), sent directly. */
  | { readonly type: 'control'; readonly from: NodeId; readonly message: ReplicaControl }
  /**
   * Membership took this replica out of its group while it was alive (silent for too long, or
   * diverged): it takes part in nothing until a view includes it again, and then joins by state
   * transfer.
   */
  | { readonly type: 'outside' }
  /**
   * Whether this node's membership, as the group's primary, hears from a majority of the group. A
   * primary that does not stops ordering (`counters.cutOffPasses`) until it does again.
   */
  | { readonly type: 'quorum'; readonly heardFromMajority: boolean };

/**
 * What `ReplicaRole.step` returns for its host to carry out, in order: a packet to send to the
 * replica actor on `target`, a control message, a named timer to set (replacing one of that name) or
 * cancel, a message to an address outside every group, and the notices for membership (`diverged`,
 * `promoted`, `refused-promotion`: `ReplicaNotice`). replica.ts's opening comment states the host
 * contract.
 */
export type ReplicaEffect =
  | { readonly type: 'send'; readonly target: NodeId; readonly packet: Packet }
  /** A message to another replica of this group (the replica actor on `target`). */
  | { readonly type: 'control-send'; readonly target: NodeId; readonly message: ReplicaControl }
  | { readonly type: 'set-timer'; readonly name: string; readonly delayMs: number }
  | { readonly type: 'cancel-timer'; readonly name: string }
  /** A message of the actor to an address outside every replica group: sent by the primary only. */
  | { readonly type: 'external-send'; readonly envelope: Omit<Envelope, 'id'> & { readonly id: MessageId } }
  /** This replica's state differs from the primary's at `position`: membership should remove it. */
  | {
      readonly type: 'diverged';
      readonly replica: NodeId;
      readonly group: string;
      readonly position: number;
      readonly reason: string;
    }
  | { readonly type: 'promoted'; readonly replica: NodeId; readonly group: string; readonly epoch: number }
  /**
   * The actor failed on the input at `position` (an error other than `RejectedInputError`), and this
   * replica refused the input: its state, outputs and timers are as before it. Every replica of the
   * group refuses it alike; `reason` is the error's message (docs/replication.md, "A failed input").
   */
  | {
      readonly type: 'input-failed';
      readonly replica: NodeId;
      readonly group: string;
      readonly position: number;
      readonly reason: string;
    }
  /**
   * The view of `epoch` names this replica primary, but it has no state yet (it is joining):
   * membership should move to the next epoch (its primary is the next member by rank).
   */
  | {
      readonly type: 'refused-promotion';
      readonly replica: NodeId;
      readonly group: string;
      readonly epoch: number;
    };

/**
 * What one replica did, and what it dropped, since it started: counts that only grow, read from
 * `ReplicaRole.counters`, the replica actor's inspected state, the simulations' results and the
 * benchmarks. Every operating error the role absorbs (a malformed packet, control message or
 * checkpoint, an input past `inputsMax`) is counted here instead of thrown. `zeroReplicaCounters`
 * makes a fresh set; `sumReplicaCounters` adds several up.
 */
export interface ReplicaCounters {
  /** Positions this replica processed, as primary or backup. */
  processed: number;
  /** Outputs multicast (by a primary), resends after failover included. */
  outputsSent: number;
  /** Outputs a backup kept and resent after it became primary. */
  outputsResent: number;
  /** Entries announced (each counted once, however many messages carried it). */
  entriesAnnounced: number;
  /** Messages that carried announcements: application messages and null messages. */
  announcementsPiggybacked: number;
  /** Null messages this replica caused to carry announcements or checkpoints (ordering-only messages). */
  nullMessages: number;
  /**
   * Of those, the ones sent ahead of an output because the announcements owed up to its position
   * did not fit the piggyback budget of the output's own message.
   */
  announcementsAhead: number;
  /** Peer announcements relayed on to their own group (claim 66). */
  entriesRelayed: number;
  /**
   * Peer announcements not relayed because every member of their group was known to hold them:
   * their carrying message was known delivered everywhere before they were due (`relayAfterMs`)
   * or before a message took them.
   */
  relaysSkipped: number;
  /** Inputs received again (by group-level id) and dropped. */
  duplicateInputs: number;
  /**
   * Copies of a later epoch kept beside an unprocessed input on the same channel, since the two may
   * be different messages (the older one was not known to be in its sender's decided order;
   * `MessageInput`). A primary orders the later one; a backup takes the one its entry names.
   */
  otherCopiesKept: number;
  /**
   * Messages of a peer group's epoch received, while this replica is primary, backup or recovering,
   * before any basis of that epoch or a later one: it cannot judge them yet against copies of older
   * epochs. (A joining replica is not counted: its state transfer brings the bases it missed.) A new
   * primary's bases ride on its first message of each connection and the streams are FIFO, so it is
   * expected to stay 0; a count means a path that sends a new epoch's message ahead of its basis
   * (docs/replication.md, "Failover").
   */
  copiesAheadOfBasis: number;
  /**
   * Inputs asked for (`rep-input-request`), each time asked, and those that came: a backup asks its
   * primary, a new primary's flush asks every member of its view by name.
   */
  inputsAsked: number;
  inputsFetched: number;
  /**
   * Of `inputsAsked`: a semi-active backup stopped at one position for 500 ms asked its primary
   * for its input by the safety net, no other rule having asked (a sweep reads this as a hint).
   */
  stuckInputsAsked: number;
  /**
   * The safety net for a missing entry: a semi-active backup holding inputs or announcements of
   * later positions, but none of its next position, for `stuckAskMs` asked its primary for the
   * order after its position (`rep-entries-request`, each time asked: a primary cut off from its
   * group, which orders nothing, makes its backups ask too); the entries a primary sent in its
   * answers; the answers that brought a backup the entry it lacked; and the times a backup started
   * over by state transfer because its primary no longer kept that entry (`fell-behind`). A sweep
   * reads the last two as a hint, like `stuckInputsAsked`: the net changed what the backup did.
   */
  missingEntriesAsked: number;
  missingEntriesSent: number;
  missingEntriesFetched: number;
  fellBehind: number;
  /**
   * Inputs kept past `inputsMax` (in the pool, held for a basis, or as another copy of a channel):
   * no replica drops a delivered input, since no one could give it back. Above 0, the replica fell
   * behind its load.
   */
  inputsOverBound: number;
  /**
   * Inputs the actor failed on (an error other than `RejectedInputError`), refused with everything
   * their processing changed undone (`input-failed` notices).
   */
  inputsFailed: number;
  /** Inputs the actor refused with `RejectedInputError`, with what their processing changed undone. */
  inputsRejected: number;
  /**
   * Requests of a peer group answered with a `RefusedReply` because the actor refused or failed on
   * them (every replica counts its own, alike; only the primary's leave).
   */
  refusedReplies: number;
  /**
   * Synchronous requests of this group's actor whose reply was given up on (`syncReplyTimeoutMs`):
   * every replica counts the `reply-timeout` positions it processed.
   */
  replyTimeouts: number;
  /** Replies to a synchronous request given up on that came later, dropped unprocessed by the actor. */
  lateRepliesDropped: number;
  /**
   * Copies a backup held (of an older epoch of their sender's group than it knew, waiting for a
   * later basis) and took into its pool because its primary's entry named them.
   */
  heldCopiesFollowed: number;
  checkpointsSent: number;
  checkpointsApplied: number;
  /** Parts the primary cut its checkpoints into, for those too large to ride whole on one message. */
  checkpointParts: number;
  /** Control messages (state transfers, flush replies) too large for one frame, sent in parts. */
  controlMessagesSplit: number;
  /** Split control messages put back together here and handled. */
  controlMessagesJoined: number;
  /** Parts dropped: malformed, of a foreign group, or of a message that did not decode. */
  controlPartsDropped: number;
  /**
   * Control messages dropped unread because a field a handler reads is missing or of the wrong
   * type (`controlMessageProblem`): a peer of another version, or a bug. Whole or joined from parts.
   */
  controlMessagesDropped: number;
  /** Checkpoints on the connection dropped unapplied because they are malformed (`isCheckpoint`). */
  checkpointsDropped: number;
  /** Commands to the replica actor dropped unread: a `replica-view` whose view is malformed. */
  commandsDropped: number;
  /**
   * Fields of delivered messages' piggybacks (`rep`) skipped because they are of the wrong type
   * (`readablePiggyback`); the other fields, and the message itself, were handled.
   */
  piggybackFieldsDropped: number;
  digestsChecked: number;
  /** Times this replica found itself diverged from the primary and reported it. */
  divergences: number;
  promotions: number;
  /** Flush rounds a new primary waited because a member had not answered or a peer held more. */
  recoveryExtensions: number;
  /** Flushes that concluded at `recoveryMaxMs` with a member still silent. */
  flushTimeouts: number;
  /** Announced positions past the cut a flush decided (nobody in the view held their input). */
  entriesCut: number;
  /** Messages of an older epoch of their group, held until the epoch's basis arrived and then dropped. */
  fencedMessages: number;
  /** Synchronous replies a primary processed at once, ahead of anything waiting (claim 48). */
  repliesAtOnce: number;
  stateTransfersSent: number;
  stateTransfersApplied: number;
  /**
   * State transfers a joining replica ignored because they answered an earlier joining of its
   * incarnation (sent before it was taken out and added back, or before it discarded its state, and
   * delayed): applying one would take it back to a position whose later announcements it may have
   * missed for good.
   */
  stateTransfersStale: number;
  /**
   * Checkpoints refused, whole or as a state transfer, because a later epoch's basis of this group
   * cuts below their position: a deposed primary took them (`Checkpoint.epoch`).
   */
  checkpointsCut: number;
  /** Views that made this replica primary while it had no state yet (membership must pick another). */
  refusedPromotions: number;
  /** Times this replica was added back after membership took it out, and started over as joining. */
  rejoins: number;
  /** Scheduling passes a primary skipped because it had heard of a later epoch of its group. */
  deposedPasses: number;
  /** Scheduling passes a primary skipped because its membership did not hear from a majority. */
  cutOffPasses: number;
  /**
   * Scheduling passes a primary stopped because the next position would push out of the entries
   * it keeps to announce (the last `4 × announceBatchMax`) one not yet out on any connection, and
   * the connection could not take the null message that carries it: it goes on once that is out.
   */
  announcementWaitPasses: number;
  /** Times a basis showed that a position this replica processed was never decided: it rejoined. */
  discardedStates: number;
  /** Outputs that waited because the connection's window was full; sent later. */
  outputsDeferred: number;
  /**
   * Outputs to a peer group no frame can carry (too large, unencodable: `sizeRefusal`), dropped and
   * counted where the actor made them, at every replica that processed that position (the same at
   * a semi-active primary and its backups); they take no channel number and are never sent, kept
   * or retried. Also the rare output the primary's connection still refuses when it sends it
   * (docs/replication.md, "Outputs too large for a frame"), counted there only.
   */
  outputsRefused: number;
  /** `outputCommit: 'majority'`: times a primary's outputs waited for a majority to hold their position. */
  outputsAwaitingMajority: number;
  /** `outputCommit: 'majority'`: times a primary asked its backups again what they hold (`rep-held-request`). */
  heldAsked: number;
  /** `outputCommit: 'majority'`: positions held that a backup told its primary of (`rep-held`). */
  heldTold: number;
  /**
   * Packets the replica actor dropped unread: malformed, of another packet or payload format (a
   * node of another version), or naming a sender other than the node that sent them.
   */
  packetsDropped: number;
}

/** A new `ReplicaCounters`, every counter at 0: a new replica's, or the start of a sum. */
export function zeroReplicaCounters(): ReplicaCounters {
  return {
    processed: 0,
    outputsSent: 0,
    outputsResent: 0,
    entriesAnnounced: 0,
    announcementsPiggybacked: 0,
    nullMessages: 0,
    announcementsAhead: 0,
    entriesRelayed: 0,
    relaysSkipped: 0,
    duplicateInputs: 0,
    otherCopiesKept: 0,
    copiesAheadOfBasis: 0,
    inputsAsked: 0,
    stuckInputsAsked: 0,
    missingEntriesAsked: 0,
    missingEntriesSent: 0,
    missingEntriesFetched: 0,
    fellBehind: 0,
    heldCopiesFollowed: 0,
    inputsFetched: 0,
    inputsOverBound: 0,
    inputsFailed: 0,
    inputsRejected: 0,
    refusedReplies: 0,
    replyTimeouts: 0,
    lateRepliesDropped: 0,
    checkpointsSent: 0,
    checkpointsApplied: 0,
    checkpointParts: 0,
    controlMessagesSplit: 0,
    controlMessagesJoined: 0,
    controlPartsDropped: 0,
    controlMessagesDropped: 0,
    checkpointsDropped: 0,
    commandsDropped: 0,
    piggybackFieldsDropped: 0,
    digestsChecked: 0,
    divergences: 0,
    promotions: 0,
    recoveryExtensions: 0,
    flushTimeouts: 0,
    entriesCut: 0,
    fencedMessages: 0,
    repliesAtOnce: 0,
    stateTransfersSent: 0,
    stateTransfersApplied: 0,
    stateTransfersStale: 0,
    checkpointsCut: 0,
    refusedPromotions: 0,
    rejoins: 0,
    discardedStates: 0,
    deposedPasses: 0,
    cutOffPasses: 0,
    announcementWaitPasses: 0,
    outputsDeferred: 0,
    outputsRefused: 0,
    outputsAwaitingMajority: 0,
    heldAsked: 0,
    heldTold: 0,
    packetsDropped: 0,
  };
}

/** The counters of several replicas added up, counter by counter. */
export function sumReplicaCounters(all: Iterable<ReplicaCounters>): ReplicaCounters {
  const total = zeroReplicaCounters();
  for (const counters of all)
    for (const name of Object.keys(total) as (keyof ReplicaCounters)[]) total[name] += counters[name];
  return total;
}

/** The body `type` of a `RefusedReply`. */
export const REFUSED_REPLY_TYPE = 'steadfast.refused';

/** The longest `detail` a `RefusedReply` carries, in UTF-16 units: a reply must always fit a frame. */
export const REFUSED_REPLY_DETAIL_CHARS_MAX = 200;

/**
 * The reply a replica group sends, in place of its actor's, to a request of a peer group that its
 * actor refused (`reason: 'rejected'`, `RejectedInputError`) or failed on (`'failed'`, any other
 * error). It travels like any reply (a `sync-reply` to a synchronous request, an `async-reply` to
 * an asynchronous one), decided alike at every replica, so the caller is answered once, also across
 * a failover. Without it, a caller waiting on a synchronous request waited for good, and ordered
 * nothing more (docs/replication.md, "A failed input"). `detail` is the error's message, cut to
 * `REFUSED_REPLY_DETAIL_CHARS_MAX`.
 */
export interface RefusedReply {
  readonly type: typeof REFUSED_REPLY_TYPE;
  readonly reason: 'rejected' | 'failed';
  readonly detail: string;
}

/** The body `type` of a `ReplyTimeout`. */
export const REPLY_TIMEOUT_TYPE = 'steadfast.reply-timeout';

/**
 * The body of the `sync-reply` a replica's actor gets in place of a reply that did not come within
 * `syncReplyTimeoutMs` (`ReplyTimeoutInput`). Unlike a `RefusedReply` it says nothing of the
 * request's fate: the callee may have taken it, or may yet.
 */
export interface ReplyTimeout {
  readonly type: typeof REPLY_TIMEOUT_TYPE;
  /** The delay that ran out, in milliseconds of the primary's clock. */
  readonly afterMs: number;
  readonly detail: string;
}

/** Whether a reply's body is a `ReplyTimeout`: no reply came in time (the request's fate unknown). */
export function isReplyTimeout(body: unknown): body is ReplyTimeout {
  if (typeof body !== 'object' || body === null) return false;
  const candidate = body as Partial<ReplyTimeout>;
  return (
    candidate.type === REPLY_TIMEOUT_TYPE &&
    typeof candidate.afterMs === 'number' &&
    typeof candidate.detail === 'string'
  );
}

/** Whether a reply's body is a `RefusedReply`: the request it answers was refused, not handled. */
export function isRefusedReply(body: unknown): body is RefusedReply {
  if (typeof body !== 'object' || body === null) return false;
  const candidate = body as Partial<RefusedReply>;
  return (
    candidate.type === REFUSED_REPLY_TYPE &&
    (candidate.reason === 'rejected' || candidate.reason === 'failed') &&
    typeof candidate.detail === 'string'
  );
}
