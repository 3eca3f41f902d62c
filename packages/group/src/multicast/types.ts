/**
 * Types of the multicast connection (seed 001, claims 36 and 37): the small view interface this
 * layer needs from membership, the connection's configuration, what travels on the wire, and the
 * inputs and effects of the pure endpoint role.
 */
import type { EnvelopeKind, MessageId, NodeId } from '@steadfast/wire';

/**
 * All the multicast layer knows of a group's membership. The membership layer's views are adapted
 * to it: a group name, an epoch that grows with each installed view, the members, and the primary.
 * A member that is removed from a view must come back as a new incarnation (the membership layer
 * fences the old one): the endpoint treats an unknown incarnation as a new member that starts from
 * the connection's stable point.
 */
export interface GroupView {
  readonly group: string;
  /** A positive integer; a view with a higher epoch replaces one with a lower epoch. */
  readonly epoch: number;
  readonly members: readonly NodeId[];
  /** Not used by the connection itself; carried so the layer above sees one view type. */
  readonly primary: NodeId;
}

/** The five message kinds of the order-announcement protocol (claim 38), plus null messages. */
export type MulticastKind = EnvelopeKind;
/** A message's kind: a `MulticastKind`, or `'null'` for a null message, which only carries piggyback data. */
export type MessageKind = MulticastKind | 'null';

/** Data that the layer above piggybacks on the next message (claims 58-62), by key. */
export type Piggyback = Readonly<Record<string, unknown>>;

/**
 * The form of attached data that members outside the sender's group receive: `{ data }` in place of
 * the data the sender's group gets, or `null` for nothing under that key. For data only the sender's
 * own group reads (a passive primary's checkpoints): the other group's members need not receive,
 * decode and hold it.
 */
export type ForOtherGroups = { readonly data: unknown } | null;

/**
 * The tuning of one connection endpoint: flow control, how long acknowledgements, syncs, null messages
 * and own-group data wait, and the size bounds (docs/group-multicast.md). Defaults are
 * `CONNECTION_DEFAULTS`; `connectionSettings` fills and checks them, and a value out of range is a
 * `RangeError` naming it: counts and `syncIntervalMs` are positive integers, the other delays finite
 * numbers ≥ 0, `messageBytesMax` an integer in [`MESSAGE_BYTES_MIN`, `MESSAGE_BYTES_MAX`].
 */
export interface ConnectionSettings {
  /** Messages of this sender not yet stable (sent or not), at most. Past it `multicast` says `window-full`. */
  readonly windowMax: number;
  /** How long owed acknowledgements and NACKs wait for an outgoing data packet to ride on. */
  readonly ackDelayMs: number;
  /** Period of the anti-entropy exchange while anything is unstable, missing or unknown. */
  readonly syncIntervalMs: number;
  /** How long attached piggyback data waits for a message before a null message carries it. */
  readonly nullMessageDelayMs: number;
  /** Data messages in one retransmission packet, at most. */
  readonly retransmitBatchMax: number;
  /**
   * How long new data messages may wait, batched, before they go to the other members of the
   * sender's own group, its primary excepted (0: they go at once, like to everyone else). Those
   * members only follow their primary, so for them a little delay costs nothing, and on a lightly
   * loaded connection it turns one packet per message and member into one per member per delay.
   * Every member of the other group still gets each message at once: a group that fails over asks
   * the other group what it knows (replication's flush), so what one of them may have acted on must
   * not sit with that member alone. Whatever else goes to a waiting member (an acknowledgement, a
   * retransmission) takes the waiting data with it, in order.
   */
  readonly ownGroupDelayMs: number;
  /** Streams of fenced incarnations remembered after retirement (so stale mentions are ignored). */
  readonly retiredStreamsMax: number;
  /**
   * Estimated wire bytes of one data message (payload, piggyback and its fields), at most; also the
   * data of one packet, at most. A larger message is refused (`too-large`): the node could never
   * encode it, and in-order delivery would hold back everything after it. The default leaves a
   * default 16 KiB frame 4 KiB for the frame header, the envelope and the packet's control data.
   */
  readonly messageBytesMax: number;
}

/**
 * The settings an endpoint uses where its `ConnectionConfig` gives none: a window of 128 messages,
 * acknowledgements and null messages after 5 ms, a sync every 50 ms, retransmissions of up to 16
 * messages, no own-group delay, 256 retired streams, and data messages of at most 12 KiB (a default
 * 16 KiB frame keeps 4 KiB for everything else).
 */
export const CONNECTION_DEFAULTS: ConnectionSettings = {
  windowMax: 128,
  ackDelayMs: 5,
  syncIntervalMs: 50,
  nullMessageDelayMs: 5,
  retransmitBatchMax: 16,
  ownGroupDelayMs: 0,
  retiredStreamsMax: 256,
  messageBytesMax: 12 * 1024,
};

/** Bounds of `messageBytesMax`: room for a message's own fields, and no more than a UDP datagram. */
export const MESSAGE_BYTES_MIN = 256;
/** The largest `messageBytesMax`: the most a UDP datagram over IPv4 can carry. */
export const MESSAGE_BYTES_MAX = 65_507;

/**
 * What `createEndpoint` takes (and `multicastActor` as its spawn input): which connection, this
 * replica's place in it, and any `ConnectionSettings` to override. A bad value is a programmer error
 * and throws (see `createEndpoint`).
 */
export interface ConnectionConfig extends Partial<ConnectionSettings> {
  /** The connection's name, the same at every endpoint of it (for example `'A<->B'`). */
  readonly connection: string;
  /** The two groups it joins; both may be the same group (a connection inside one group). */
  readonly groups: readonly [string, string];
  /** This replica's group: one of `groups`. */
  readonly group: string;
  /** This replica's node. */
  readonly self: NodeId;
  /** This replica's incarnation: ids stay unique across restarts because it grows. */
  readonly incarnation: number;
  /**
   * Any nodes believed to belong to the other group, used only until its view is known (a
   * directory entry, say). The sender never names members: it learns the other group's view from
   * these contacts or from the other group's messages (claim 37).
   */
  readonly contacts?: readonly NodeId[];
}

/** One message of a sender's stream on a connection, as it travels (and is retransmitted). */
export interface DataMessage {
  /** Origin node, its incarnation and the per-connection sequence number. */
  readonly id: MessageId;
  /** The sender's group. */
  readonly group: string;
  readonly kind: MessageKind;
  readonly payload: unknown;
  readonly piggyback: Piggyback | null;
  /** The sender's stable point of its own stream when it sent this: receivers may drop older copies. */
  readonly stableAtSend: number;
}

/**
 * Protocol data that rides on every packet, data or not: the sender's acknowledgements (the
 * highest sequence delivered per stream), its stable points, the view epochs it knows, views the
 * receiver lacks, NACKs addressed to the receiver, and whether the receiver should answer.
 * Streams are named by `streamKey`: `origin:incarnation`.
 */
export interface Control {
  readonly epochs: Readonly<Record<string, number>>;
  readonly acks: Readonly<Record<string, number>>;
  readonly stable: Readonly<Record<string, number>>;
  /** Stream → inclusive range of sequences the receiver is asked to retransmit. */
  readonly nacks: Readonly<Record<string, readonly [number, number]>>;
  readonly views: readonly GroupView[];
  readonly syncRequest: boolean;
  /**
   * The receiver's incarnation that the sender counts in its stability (0: none). A replica
   * delivers nothing until every member counts its incarnation ("admission"): before that, a
   * member may still count its predecessor's acknowledgements and make stable, and collect,
   * messages the new incarnation never got.
   */
  readonly counted: number;
  /**
   * This packet answers the receiver's sync request, so its vectors are complete: they include the
   * final points of streams retired here. Admission waits for one such answer from every member.
   */
  readonly answer: boolean;
}

/** What one endpoint sends another: zero or more data messages and the control data. */
export interface Packet {
  readonly connection: string;
  readonly from: NodeId;
  readonly incarnation: number;
  readonly group: string;
  readonly data: readonly DataMessage[];
  readonly control: Control;
}

/** What the `deliver` hook receives: once per message per replica, in each sender's order. */
export interface DeliveredMessage {
  readonly connection: string;
  readonly id: MessageId;
  readonly group: string;
  /** `'null'` for a null message, which exists only to carry piggyback data. */
  readonly kind: MessageKind;
  readonly payload: unknown;
  readonly piggyback: Piggyback | null;
}

/**
 * The timers an endpoint asks its host for, by name, at most one of each armed at a time: `flush`
 * sends owed control data alone after `ackDelayMs`, `sync` runs a sync round after `syncIntervalMs`,
 * `null-message` sends attached data in a null message after `nullMessageDelayMs`, and `own-group`
 * sends the data deferred for the own group's members after `ownGroupDelayMs`.
 */
export type EndpointTimer = 'flush' | 'sync' | 'null-message' | 'own-group';

/**
 * What the endpoint asks its host to do, to be carried out in the order given: send a packet to a node
 * (the same actor on it), deliver a message to the layer above, or set or cancel a named timer, which
 * the host feeds back to `fireTimer` (or `step`) when it fires. The role does no I/O itself.
 */
export type EndpointEffect =
  | { readonly type: 'send'; readonly target: NodeId; readonly packet: Packet }
  | { readonly type: 'deliver'; readonly message: DeliveredMessage }
  | { readonly type: 'set-timer'; readonly name: EndpointTimer; readonly delayMs: number }
  | { readonly type: 'cancel-timer'; readonly name: EndpointTimer };

/**
 * One input to `step`: a multicast from the layer above, data to attach to the next message, a view
 * of either group, a packet from a peer, or a timer that fired (docs/group-multicast.md, the table of
 * inputs). Each is also a function of its own (`multicast`, `attachPiggyback`, `installView`,
 * `receivePacket`, `fireTimer`).
 */
export type EndpointInput =
  | {
      readonly type: 'multicast';
      readonly kind: MulticastKind;
      readonly payload: unknown;
      /** The payload's bytes on the wire, when the caller knows them (`multicast`'s `bytes`). */
      readonly bytes?: number;
    }
  | {
      readonly type: 'attach-piggyback';
      readonly key: string;
      readonly data: unknown;
      /** What members outside the sender's group get under `key` instead (`attachPiggyback`). */
      readonly forOtherGroups?: ForOtherGroups;
      /** The data's bytes on the wire, when the caller knows them (`attachPiggyback`'s `bytes`). */
      readonly bytes?: number;
    }
  | { readonly type: 'view-installed'; readonly view: GroupView }
  | { readonly type: 'packet'; readonly packet: Packet }
  | { readonly type: 'timer'; readonly name: EndpointTimer };

/** Operating errors of `multicast`: values, never exceptions. */
export type MulticastError =
  | {
      readonly type: 'window-full';
      /** Messages of this sender not yet stable. */
      readonly unstable: number;
      readonly windowMax: number;
    }
  | { readonly type: 'not-member'; readonly group: string }
  | TooLargeError
  | UnencodableError;

/** The message (or attached data) would take more than `messageBytesMax` bytes on the wire. */
export interface TooLargeError {
  readonly type: 'too-large';
  /** Estimated wire bytes (an upper bound). */
  readonly bytes: number;
  readonly bytesMax: number;
}

/** The value cannot be encoded at all (a symbol, a cycle, nesting too deep, a throwing getter). */
export interface UnencodableError {
  readonly type: 'unencodable';
  readonly detail: string;
}

/** What `attachPiggyback` says: the data is attached, or it can never travel and is refused. */
export type PiggybackResult =
  { readonly ok: true } | { readonly ok: false; readonly error: TooLargeError | UnencodableError };

/**
 * What `multicast` says: the new message's id (it is delivered here at once and is on its way to every
 * other member), or the operating error that refused it, in which case it took no sequence number.
 */
export type MulticastResult =
  { readonly ok: true; readonly id: MessageId } | { readonly ok: false; readonly error: MulticastError };

/**
 * What an endpoint counted since `createEndpoint` (`EndpointState.counters`, updated in place), for
 * tests, the simulator, benchmarks and replication's `connectionCounters()`. Drops and refusals are
 * counted here, not thrown.
 */
export interface EndpointCounters {
  /** Application messages this endpoint multicast. */
  dataMessages: number;
  /** Null messages: multicast only to carry piggyback data nothing else was there to carry. */
  nullMessages: number;
  /** Packets sent, all kinds, one per target. */
  packetsSent: number;
  /** Packets that carried no data message (acknowledgements, NACKs, views, sync). */
  controlPackets: number;
  /** Data messages (one per member) that waited `ownGroupDelayMs` for a member of this endpoint's own group. */
  deferredSends: number;
  /** Data messages re-sent in answer to a NACK (by the origin or by a peer). */
  retransmissions: number;
  /** Messages delivered to the layer above here, own and null messages included. */
  delivered: number;
  /** Data messages received again (by id) and dropped. */
  duplicates: number;
  /** Data messages too far ahead of the delivered point to buffer: dropped, fetched again later. */
  beyondWindow: number;
  /** NACKs sent: requests to a peer to retransmit part of a stream. */
  nacksSent: number;
  /** Packets from an incarnation older than one already seen from the same node. */
  fenced: number;
  /** Packets that name another connection or came from this very endpoint. */
  misrouted: number;
  /** Views installed (locally or learned from peers). */
  views: number;
  /** Messages refused because the window was full: multicasts (`window-full`) and null messages. */
  windowFull: number;
  /** Multicasts and piggyback data refused because they would exceed `messageBytesMax`. */
  tooLarge: number;
  /** Multicasts and piggyback data refused because they cannot be encoded at all. */
  unencodable: number;
  /**
   * Null messages sent ahead of a message because the data attached to it would have pushed it
   * over `messageBytesMax` (also counted in `nullMessages`).
   */
  piggybackSplits: number;
  /** Sequences passed over because they were stable before this member joined. */
  skippedToStable: number;
  /**
   * Skips past a stable point after this replica had already delivered some of the stream: a hole
   * in its history. The admission rule exists so that this stays 0; the simulation checks it.
   */
  holes: number;
  /** Data messages of streams not yet started here, dropped before admission (fetched again later). */
  unadmitted: number;
  /** Out-of-order messages of departed senders dropped because no member has what precedes them. */
  abandoned: number;
  /** Streams of fenced incarnations retired (dropped, keeping only their final sequence). */
  retiredStreams: number;
  /** Retired streams brought back because a peer had more of them. */
  revivedStreams: number;
}

/** A new set of endpoint counters, all 0 (a fresh object each call: the endpoint updates it in place). */
export function zeroCounters(): EndpointCounters {
  return {
    dataMessages: 0,
    nullMessages: 0,
    packetsSent: 0,
    controlPackets: 0,
    deferredSends: 0,
    retransmissions: 0,
    delivered: 0,
    duplicates: 0,
    beyondWindow: 0,
    nacksSent: 0,
    fenced: 0,
    misrouted: 0,
    views: 0,
    windowFull: 0,
    tooLarge: 0,
    unencodable: 0,
    piggybackSplits: 0,
    skippedToStable: 0,
    holes: 0,
    unadmitted: 0,
    abandoned: 0,
    retiredStreams: 0,
    revivedStreams: 0,
  };
}
