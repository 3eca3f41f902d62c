/**
 * The connection endpoint: the pure role that every replica of both groups runs for one multicast
 * connection (seed 001, claim 36). Every message multicast on the connection by a replica of
 * either group is delivered to every replica of both groups, in its sender's order, exactly once;
 * the sender names the connection, never the other group's members (claim 37).
 *
 * How (docs/group-multicast.md has the whole story):
 * - Each sender incarnation has a stream of sequence numbers on the connection. A receiver
 *   delivers a stream in order, keeps early messages (up to the window) and drops duplicates.
 * - Every packet carries control data: the sender's acknowledgements (highest sequence delivered
 *   per stream), its stable points, its view epochs. A receiver that learns that a peer has more
 *   of a stream than it has asks that peer (NACK); any replica that delivered a message keeps it
 *   until it is stable, so it can be fetched from a peer when its sender is gone (claim 65).
 * - A message is stable once every member of both current views acknowledged it; stable messages
 *   are dropped from retransmission buffers. A sender may have at most `windowMax` unstable
 *   messages (flow control: `window-full`), so every buffer is bounded by the window.
 * - Acknowledgements and NACKs ride on data packets; they go alone only after `ackDelayMs` with no
 *   data to the same peer. While anything is unstable, missing or unknown, a sync every
 *   `syncIntervalMs` asks every member for its control data, which is how lost tails are found.
 * - The layer above attaches data to the next message (`attachPiggyback`); if none is multicast
 *   within `nullMessageDelayMs`, a null message carries it (claims 58-62).
 * - Everything that travels fits one frame: a message over `messageBytesMax` (estimated by
 *   `encodedBytes`) is refused with `too-large`, attached data that would push a message over it
 *   goes ahead in null messages of its own, and retransmissions are split into packets whose data
 *   stays within the same bound. A message the node cannot encode would be dropped on every send
 *   and, since delivery is in order, stall its sender's stream for good.
 *
 * Host contract (raft's `Ready` in miniature): feed inputs with `step` (or the functions it
 * dispatches to), then carry out the returned effects in order: `send` the packets, hand
 * `deliver`ed messages to the layer above, set and cancel the named timers and feed them back as
 * `timer` inputs. The role never reads a clock, draws randomness or does I/O.
 *
 * State is plain data (records and arrays, no classes), so it can sit inside an actor's state,
 * be hashed and cloned. It is updated in place: copying retransmission buffers on every message
 * would cost O(window) per event on the hot path. A caller that needs an immutable snapshot
 * clones it (`structuredClone`).
 */
import { assertNever, nodeId, type MessageId, type NodeId } from '@steadfast/wire';
import {
  CONNECTION_DEFAULTS,
  zeroCounters,
  type ConnectionConfig,
  type ConnectionSettings,
  type Control,
  type DataMessage,
  type EndpointCounters,
  type EndpointEffect,
  type EndpointInput,
  type EndpointTimer,
  type ForOtherGroups,
  type GroupView,
  type MessageKind,
  type MulticastKind,
  type Piggyback,
  type MulticastResult,
  type Packet,
  type PiggybackResult,
  type TooLargeError,
  type UnencodableError,
  MESSAGE_BYTES_MAX,
  MESSAGE_BYTES_MIN,
} from './types.js';
import { encodedBytes, encodedBytesBound, stringBytes } from './size.js';
// The state's records are keyed by node ids, stream keys and group names, which may be `toString`
// or `__proto__`: they are read only through `lookup` and written only through `setEntry` (records.ts
// says why), never `record[key]` or `record[key] = value`.
import { lookup, setEntry } from '../records.js';

/** What this endpoint holds of one sender incarnation's stream. */
export interface StreamState {
  readonly origin: NodeId;
  readonly incarnation: number;
  /** Highest sequence delivered here; every lower one was delivered (or was stable before we joined). */
  delivered: number;
  /** Highest sequence known delivered at every member of both current views. */
  stable: number;
  /**
   * Delivered, not yet stable messages, kept for retransmission: (stable, delivered] in order,
   * from index `bufferHead` (the message of sequence s is at `bufferHead + s - stable - 1`; read it
   * with `buffered`). An array with a moving head, because messages enter at one end and leave at
   * the other: a record keyed by sequence became a hash table that V8 rebuilt as it grew and
   * shrank, several times per batch.
   */
  buffer: (DataMessage | undefined)[];
  bufferHead: number;
  /** Messages received ahead of a gap, by sequence: (delivered + 1, delivered + windowMax]. */
  pending: Record<string, DataMessage>;
  /** Sequence of the first message delivered here (0: none yet); later skips would be holes. */
  firstDelivered: number;
  /** Sync round and delivered point of the last NACK, so a gap is asked for once per round. */
  nackRound: number;
  nackDelivered: number;
}

/** What this endpoint knows of another node. */
export interface PeerState {
  /** Highest incarnation seen: packets from lower ones are fenced. */
  incarnation: number;
  /** Its acknowledgements, merged by maximum (control data may arrive out of order). */
  acks: Record<string, number>;
  /** View epochs it said it knows: views it lacks ride on the next packet to it. */
  epochs: Record<string, number>;
}

/**
 * The whole state of one replica's endpoint on one connection: plain data, updated in place by the
 * functions of this module (see the module comment for why). The host keeps it (an actor's state, say)
 * and hands it to `step` or the functions it dispatches to; the layer above reads it through the
 * queries (`missingFrom`, `knownView`, `isAdmitted`, ...) and `counters`, never its tables. Volatile:
 * a restarted replica is a new incarnation with a new endpoint.
 */
export interface EndpointState {
  readonly settings: ConnectionSettings;
  readonly connection: string;
  /** The connection's groups, without repetition. */
  readonly groups: readonly string[];
  readonly group: string;
  readonly self: NodeId;
  readonly incarnation: number;
  readonly contacts: readonly NodeId[];
  views: Record<string, GroupView>;
  /**
   * Whether every member of both views counts this incarnation in its stability. Until then this
   * replica starts no stream and delivers nothing but its own messages; `admissionStable` collects
   * the stable points that members which count it report, and the streams start there.
   */
  admitted: boolean;
  countedBy: Record<string, true>;
  admissionStable: Record<string, number>;
  /** Last sequence this endpoint multicast. */
  sequence: number;
  streams: Record<string, StreamState>;
  /** Streams of fenced incarnations, retired once every member had all of them: final sequence. */
  retired: Record<string, number>;
  retiredOrder: string[];
  peers: Record<string, PeerState>;
  /** Nodes owed a control packet (acks, NACKs, views, a sync answer). */
  owed: Record<string, true>;
  /** Nodes that asked for a sync answer: the next packet to each carries complete vectors. */
  answersOwed: Record<string, true>;
  nacksOwed: Record<string, Record<string, [number, number]>>;
  /** Retired streams a peer still mentions: tell it our final acknowledgement so it can retire them too. */
  mentionsOwed: Record<string, Record<string, number>>;
  piggyback: Record<string, unknown> | null;
  /** Estimated wire bytes of each attached key and its data (`encodedBytes`), by key. */
  piggybackBytes: Record<string, number>;
  /** For attached keys whose data has another form for members outside this group, that form. */
  piggybackForOthers: Record<string, ForOtherGroups>;
  timers: Record<EndpointTimer, boolean>;
  syncRound: number;
  counters: EndpointCounters;
  outbox: EndpointEffect[];
  /**
   * While the host holds sends (`holdSends`), the messages this endpoint multicast and the
   * estimated bytes of each, in order: `releaseSends` sends them batched, several per packet.
   */
  held: { messages: DataMessage[]; bytes: number[] } | null;
  /**
   * Data messages waiting for a member of this endpoint's own group (not its primary), with the
   * estimated bytes of each, in order, by member (`ownGroupDelayMs`). They go when the `own-group`
   * timer fires, or ahead of anything else sent to that member before then.
   */
  deferred: Record<string, { messages: DataMessage[]; bytes: number[] }>;
  /** Estimated bytes of its largest message with nothing in it (`emptyMessageBytesOf`): fixed at creation, so measured once. */
  readonly emptyMessageBytes: number;
}

/** What `step` returns: the effects to carry out, in order, and the outcome of a command input. */
export interface StepResult {
  readonly effects: EndpointEffect[];
  /** Set for a `multicast` input. */
  readonly result?: MulticastResult;
  /** Set for an `attach-piggyback` input. */
  readonly attached?: PiggybackResult;
}

const multicastKinds: ReadonlySet<string> = new Set<MulticastKind>([
  'sync-request',
  'sync-reply',
  'async-request',
  'async-reply',
  'one-way',
]);

/**
 * Whether a value is one of the five envelope kinds a message may be multicast as (`'null'` is not:
 * only the endpoint sends null messages). `multicast` throws a `TypeError` for any other kind, and
 * `packetFromEnvelope` refuses a packet holding a data message of any other kind.
 */
export function isMulticastKind(value: unknown): value is MulticastKind {
  return typeof value === 'string' && multicastKinds.has(value);
}

/** A stream's name: `origin:incarnation` (node ids hold no `:`). */
export function streamKey(id: { readonly origin: NodeId; readonly incarnation: number }): string {
  return `${id.origin}:${id.incarnation}`;
}

function parseStreamKey(key: string): { origin: NodeId; incarnation: number } | undefined {
  const colon = key.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const incarnation = Number(key.slice(colon + 1));
  if (!Number.isSafeInteger(incarnation) || incarnation < 0) return undefined;
  try {
    return { origin: nodeId(key.slice(0, colon)), incarnation };
  } catch {
    return undefined;
  }
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

function nonNegative(name: string, value: number): void {
  if (!(value >= 0) || !Number.isFinite(value))
    throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
}

/**
 * A connection's settings over `CONNECTION_DEFAULTS`, checked: a value out of its range is a
 * `RangeError` naming the setting. `createEndpoint` runs it; a layer above that takes connection
 * settings from its own configuration (replication's `connection`) runs it too, to refuse bad
 * values where they are given rather than when the first connection opens.
 */
export function connectionSettings(config: Partial<ConnectionSettings>): ConnectionSettings {
  const settings: ConnectionSettings = {
    windowMax: config.windowMax ?? CONNECTION_DEFAULTS.windowMax,
    ackDelayMs: config.ackDelayMs ?? CONNECTION_DEFAULTS.ackDelayMs,
    syncIntervalMs: config.syncIntervalMs ?? CONNECTION_DEFAULTS.syncIntervalMs,
    nullMessageDelayMs: config.nullMessageDelayMs ?? CONNECTION_DEFAULTS.nullMessageDelayMs,
    retransmitBatchMax: config.retransmitBatchMax ?? CONNECTION_DEFAULTS.retransmitBatchMax,
    ownGroupDelayMs: config.ownGroupDelayMs ?? CONNECTION_DEFAULTS.ownGroupDelayMs,
    retiredStreamsMax: config.retiredStreamsMax ?? CONNECTION_DEFAULTS.retiredStreamsMax,
    messageBytesMax: config.messageBytesMax ?? CONNECTION_DEFAULTS.messageBytesMax,
  };
  if (
    !Number.isSafeInteger(settings.messageBytesMax) ||
    settings.messageBytesMax < MESSAGE_BYTES_MIN ||
    settings.messageBytesMax > MESSAGE_BYTES_MAX
  )
    throw new RangeError(
      `messageBytesMax must be an integer in [${MESSAGE_BYTES_MIN}, ${MESSAGE_BYTES_MAX}], got ${settings.messageBytesMax}`,
    );
  positiveInteger('windowMax', settings.windowMax);
  positiveInteger('retransmitBatchMax', settings.retransmitBatchMax);
  positiveInteger('retiredStreamsMax', settings.retiredStreamsMax);
  nonNegative('ackDelayMs', settings.ackDelayMs);
  nonNegative('nullMessageDelayMs', settings.nullMessageDelayMs);
  nonNegative('ownGroupDelayMs', settings.ownGroupDelayMs);
  positiveInteger('syncIntervalMs', settings.syncIntervalMs);
  return settings;
}

/**
 * A new endpoint for one replica on one connection, knowing no view yet: `multicast` answers
 * `not-member` until a view of its own group that includes it is installed, and until the other
 * group's view is known it sends to `contacts`. Throws on a programmer error: a `RangeError` for a
 * bad setting (`connectionSettings`), an incarnation that is not a positive integer, an empty
 * connection name, a `group` not among `groups`, or a `messageBytesMax` that this node's and group's
 * names leave no room under; an `InvalidIdError` for a malformed node id.
 */
export function createEndpoint(config: ConnectionConfig): EndpointState {
  const settings = connectionSettings(config);
  positiveInteger('incarnation', config.incarnation);
  if (config.connection.length === 0) throw new RangeError('a connection needs a name');
  if (!config.groups.includes(config.group))
    throw new RangeError(
      `group '${config.group}' is not one of the connection's groups ${config.groups.join(', ')}`,
    );
  const self = nodeId(config.self);
  const state: EndpointState = {
    settings,
    connection: config.connection,
    groups: [...new Set(config.groups)],
    group: config.group,
    self,
    incarnation: config.incarnation,
    contacts: (config.contacts ?? []).map((contact) => nodeId(contact)).filter((contact) => contact !== self),
    views: {},
    admitted: false,
    countedBy: {},
    admissionStable: {},
    sequence: 0,
    streams: {},
    retired: {},
    retiredOrder: [],
    peers: {},
    owed: {},
    answersOwed: {},
    nacksOwed: {},
    mentionsOwed: {},
    piggyback: null,
    piggybackBytes: {},
    piggybackForOthers: {},
    timers: { flush: false, sync: false, 'null-message': false, 'own-group': false },
    syncRound: 0,
    counters: zeroCounters(),
    outbox: [],
    held: null,
    deferred: {},
    emptyMessageBytes: emptyMessageBytesOf(self, config.incarnation, config.group),
  };
  setEntry(state.streams, ownKey(state), newStream(self, config.incarnation, 0));
  // Long names could leave no room for any payload: a configuration no running system should have.
  if (state.emptyMessageBytes > settings.messageBytesMax)
    throw new RangeError(
      `messageBytesMax ${settings.messageBytesMax} leaves no room for a message's own fields`,
    );
  return state;
}

/** Feeds one input and returns the effects to carry out, in order. */
export function step(state: EndpointState, input: EndpointInput): StepResult {
  switch (input.type) {
    case 'multicast': {
      const result = multicast(
        state,
        input.payload,
        input.bytes === undefined ? { kind: input.kind } : { kind: input.kind, bytes: input.bytes },
      );
      return { effects: takeEffects(state), result };
    }
    case 'attach-piggyback': {
      const attached = attachPiggyback(state, input.key, input.data, input.forOtherGroups, input.bytes);
      return { effects: takeEffects(state), attached };
    }
    case 'view-installed':
      installView(state, input.view);
      return { effects: takeEffects(state) };
    case 'packet':
      receivePacket(state, input.packet);
      return { effects: takeEffects(state) };
    case 'timer':
      fireTimer(state, input.name);
      return { effects: takeEffects(state) };
    default:
      return assertNever(input, 'endpoint input');
  }
}

/** Drains the effects produced since the last call. */
export function takeEffects(state: EndpointState): EndpointEffect[] {
  const effects = state.outbox;
  state.outbox = [];
  return effects;
}

/**
 * Multicasts `payload` to every member of both groups (itself included: it is delivered here at
 * once). Any piggyback data attached since the last message rides on it. Returns the message's
 * id, or `window-full` while `windowMax` of this sender's messages are unstable, `not-member`
 * while this replica is in no installed view of its own group, `too-large` when the message would
 * take more than `messageBytesMax` bytes on the wire, or `unencodable` when it cannot travel at
 * all. A refused message takes no sequence number, so the stream goes on without a gap.
 *
 * When the attached data and the message together would exceed the bound, the data goes first in
 * null messages of its own (`counters.piggybackSplits`), then the message without it: the data
 * still arrives no later than the message. If the window fills in between, the message is refused
 * with `window-full` after the null messages left; what did not leave stays attached.
 *
 * `bytes`, when given, is what the payload takes on the wire as the host's codec writes it (in the
 * host's `PayloadWireForm`, if it has one): the endpoint sizes the message with it instead of
 * walking the payload (`encodedBytes`), a walk that cost a replica group's primary about a sixth of
 * its CPU time under load. It must be at least the bytes the payload is written in, or packets may
 * exceed `messageBytesMax`; a layer that cannot say so for a payload leaves it out. A `bytes` that
 * is not a non-negative safe integer is a programmer error and throws.
 */
export function multicast(
  state: EndpointState,
  payload: unknown,
  options: { readonly kind: MulticastKind; readonly bytes?: number },
): MulticastResult {
  if (!isMulticastKind(options.kind)) throw new TypeError(`unknown message kind '${String(options.kind)}'`);
  const { bytes } = options;
  if (bytes !== undefined) checkGivenBytes(bytes);
  const result = multicastMessage(state, options.kind, payload, bytes);
  settle(state);
  return result;
}

/**
 * Whether `multicast` could refuse `payload` for its size at any member of `group`, whatever its
 * node id and incarnation: the `too-large` or `unencodable` error it would return, or undefined
 * when no member of `group` is ever refused that payload on a connection whose `messageBytesMax`
 * is `messageBytesMax`. A pure function of its arguments, so every member that asks about the same
 * payload gets the same answer: a layer above whose members all make the same message (the
 * replicas of one actor) decides the refusal with it where the message is made, alike at every
 * member, instead of learning it from the one member that sends it. It sizes the message as the
 * largest sender needs it (a node id of 64 characters, the longest `nodeId` takes, and the
 * largest incarnation), so a payload it accepts is never refused by `multicast` for its size on
 * such a connection; one within ~70 bytes of the bound may be refused here although a member with
 * a short name would have sent it.
 *
 * `payloadBytesBound`, when given, stands for the quick bound it would take of the payload
 * (`encodedBytesBound`): any number at least `encodedBytes(payload)` gives the same answer, since
 * the payload is walked exactly whenever the bound does not settle it. For a layer that gets it
 * cheaper from what it knows of the payload's shape.
 */
export function sizeRefusal(
  group: string,
  payload: unknown,
  messageBytesMax: number,
  payloadBytesBound?: number,
): TooLargeError | UnencodableError | undefined {
  // The payload replaces the 1-byte nil of an empty message, as in `multicastMessage`.
  const overhead = largestEmptyMessageBytes(group) - 1;
  // Nearly every payload is far below the bound: a quick bound that reads no string's characters
  // settles it, and the exact walk runs only for the rest.
  if (overhead + (payloadBytesBound ?? encodedBytesBound(payload)) <= messageBytesMax) return undefined;
  const size = encodedBytes(payload);
  if (!size.ok) return { type: 'unencodable', detail: size.detail };
  const bytes = overhead + size.bytes;
  return bytes > messageBytesMax ? { type: 'too-large', bytes, bytesMax: messageBytesMax } : undefined;
}

/** Bytes a caller gives for a payload or attached data: a count, or a programmer error. */
function checkGivenBytes(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0)
    throw new TypeError(`given bytes must be a non-negative safe integer, got ${String(bytes)}`);
}

/** The longest node id `nodeId` accepts (`@steadfast/wire`: 1-64 of `[A-Za-z0-9._-]`). */
const NODE_ID_CHARS_MAX = 64;

/** `emptyMessageBytesOf` for the largest sender of each group: the same few names, asked per message. */
const largestEmptyBytes = new Map<string, number>();
const LARGEST_EMPTY_BYTES_GROUPS_MAX = 1_024;

/**
 * Estimated bytes of the largest empty message any member of `group` can send: its node id as
 * long as a node id can be, its incarnation a number of the most bytes (`emptyMessageBytesOf`).
 */
function largestEmptyMessageBytes(group: string): number {
  let bytes = largestEmptyBytes.get(group);
  if (bytes === undefined) {
    bytes = emptyMessageBytesOf(nodeId('x'.repeat(NODE_ID_CHARS_MAX)), Number.MAX_SAFE_INTEGER, group);
    // Bounded: group names come from configuration, few; a flood of new ones only empties it.
    if (largestEmptyBytes.size >= LARGEST_EMPTY_BYTES_GROUPS_MAX) largestEmptyBytes.clear();
    largestEmptyBytes.set(group, bytes);
  }
  return bytes;
}

/**
 * Attaches `data` under `key` to the next message this endpoint multicasts (a later attach with
 * the same key replaces it: the layer above batches, for example, several order announcements
 * into one value). If nothing is multicast within `nullMessageDelayMs`, a null message carries it.
 *
 * Data that could not fit even a null message of its own (`too-large`), or cannot be encoded
 * (`unencodable`), is refused and counted, and nothing attached changes: accepting it would
 * stall the stream at the message that carried it. Data that fits alone is always accepted; if it
 * would push the next message over `messageBytesMax`, it travels ahead in a null message.
 *
 * With `forOtherGroups`, the copies of the carrying message that this endpoint sends to members
 * outside its own group (first sends and its own retransmissions) carry that form under `key`
 * instead, or nothing under it for `null`; its own group's members get `data`. Sizes are
 * estimated with `data`, the larger form in use. A copy retransmitted by another member is the
 * form that member holds.
 *
 * `bytes`, when given, is what `data` takes on the wire, as for `multicast`: the endpoint sizes it
 * with them instead of walking it, and the same rules hold (at least the bytes the codec writes,
 * in the host's wire form; a non-negative safe integer, or `TypeError`).
 */
export function attachPiggyback(
  state: EndpointState,
  key: string,
  data: unknown,
  forOtherGroups?: ForOtherGroups,
  bytes?: number,
): PiggybackResult {
  if (bytes !== undefined) checkGivenBytes(bytes);
  const size =
    bytes === undefined ? entryBytes(key, data) : { ok: true as const, bytes: stringBytes(key) + bytes };
  if (!size.ok) {
    state.counters.unencodable++;
    return { ok: false, error: { type: 'unencodable', detail: size.detail } };
  }
  const alone = withPiggybackBytes(state.emptyMessageBytes, size.bytes);
  if (alone > state.settings.messageBytesMax) {
    state.counters.tooLarge++;
    return {
      ok: false,
      error: { type: 'too-large', bytes: alone, bytesMax: state.settings.messageBytesMax },
    };
  }
  state.piggyback = { ...state.piggyback, [key]: data };
  setEntry(state.piggybackBytes, key, size.bytes);
  if (forOtherGroups === undefined) delete state.piggybackForOthers[key];
  else setEntry(state.piggybackForOthers, key, forOtherGroups);
  settle(state);
  return { ok: true };
}

/**
 * Withdraws the data attached under `key` before any message carried it (for example order
 * announcements that became stale because another connection carried them, or because this
 * replica stopped being primary). Returns the withdrawn data, or undefined if nothing was attached
 * under `key`. The null-message timer is cancelled when nothing else stays attached.
 */
export function detachPiggyback(state: EndpointState, key: string): unknown {
  const attached = state.piggyback;
  if (attached === null || !Object.hasOwn(attached, key)) return undefined;
  const data = attached[key];
  const rest: Record<string, unknown> = {};
  for (const [other, value] of Object.entries(attached)) if (other !== key) setEntry(rest, other, value);
  state.piggyback = hasEntries(rest) ? rest : null;
  delete state.piggybackBytes[key];
  delete state.piggybackForOthers[key];
  if (state.piggyback === null && state.timers['null-message']) {
    state.timers['null-message'] = false;
    state.outbox.push({ type: 'cancel-timer', name: 'null-message' });
  }
  settle(state);
  return data;
}

/**
 * Holds the packets of the messages multicast from now on until `releaseSends`, which sends them
 * batched: several messages per packet to each target instead of one packet per message per
 * target. For a host that multicasts a burst of messages in one turn (the replication layer sends
 * a scheduling pass's outputs this way): the packets, and the per-packet cost of encoding,
 * authenticating and sending them, shrink by the size of the burst. Nothing else changes: each
 * message takes its sequence number and is delivered here at once, as without holding. Holding
 * is for one turn of the host: a message still held is not lost (it sits in the retransmission
 * buffer, and peers fetch it once they learn of it), only late.
 */
export function holdSends(state: EndpointState): void {
  state.held ??= { messages: [], bytes: [] };
}

/**
 * Sends the messages held since `holdSends`, in order, to every target, in as few packets as
 * keep the data of each within `messageBytesMax` (the same bound as a single message and as a
 * retransmission). Ends the hold.
 */
export function releaseSends(state: EndpointState): void {
  const held = state.held;
  state.held = null;
  if (held === null || held.messages.length === 0) return;
  sendData(state, held.messages, held.bytes);
  settle(state);
}

/**
 * Sends new data messages (with the estimated bytes of each) to every target: at once, except to
 * the members of this endpoint's own group other than its primary when `ownGroupDelayMs` lets
 * them wait.
 */
function sendData(state: EndpointState, messages: DataMessage[], bytes: number[]): void {
  const followers = state.settings.ownGroupDelayMs > 0 ? ownGroupFollowers(state) : undefined;
  let packets: DataMessage[][] | undefined;
  // The messages as members outside this group get them, when attached data had another form
  // for them (`forOtherGroups`); undefined when every message goes to everyone as it is.
  const others = messages.some((message) => otherGroupsCopies.has(message))
    ? messages.map((message) => otherGroupsCopies.get(message) ?? message)
    : undefined;
  let packetsForOthers: DataMessage[][] | undefined;
  for (const target of targets(state)) {
    if (others !== undefined && outsideOwnGroup(state, target)) {
      packetsForOthers ??= packetsOf(state, others, bytes);
      for (const packet of packetsForOthers) sendPacket(state, target, packet, false);
      continue;
    }
    if (followers?.has(target) === true) {
      const waiting =
        lookup(state.deferred, target) ?? setEntry(state.deferred, target, { messages: [], bytes: [] });
      for (let index = 0; index < messages.length; index++) {
        waiting.messages.push(messages[index]!);
        waiting.bytes.push(bytes[index]!);
      }
      state.counters.deferredSends += messages.length;
      continue;
    }
    // The packets' data arrays are shared by all targets: the wire layer then packs each once.
    packets ??= packetsOf(state, messages, bytes);
    for (const packet of packets) sendPacket(state, target, packet, false);
  }
}

/** Data messages cut into packets whose data stays within `messageBytesMax` (one at least each). */
function packetsOf(
  state: EndpointState,
  messages: readonly DataMessage[],
  bytes: readonly number[],
): DataMessage[][] {
  const bytesMax = state.settings.messageBytesMax;
  const packets: DataMessage[][] = [];
  let data: DataMessage[] = [];
  let total = 0;
  messages.forEach((message, index) => {
    const messageBytes = bytes[index] ?? bytesMax;
    if (data.length > 0 && total + messageBytes > bytesMax) {
      packets.push(data);
      data = [];
      total = 0;
    }
    data.push(message);
    total += messageBytes;
  });
  packets.push(data);
  return packets;
}

/**
 * The members of this endpoint's own group that may wait (`ownGroupDelayMs`): all but its primary
 * and itself, and only those that are not members of the other group too. None while either view
 * is unknown: the contacts stand in for the other group, and who is who is not known yet.
 */
function ownGroupFollowers(state: EndpointState): Set<NodeId> | undefined {
  const own = groupView(state, state.group);
  if (own === undefined) return undefined;
  const followers = new Set<NodeId>(own.members);
  followers.delete(state.self);
  followers.delete(own.primary);
  for (const group of state.groups) {
    if (group === state.group) continue;
    const other = groupView(state, group);
    if (other === undefined) return undefined;
    for (const member of other.members) followers.delete(member);
  }
  return followers;
}

/**
 * Sends every member its waiting data (`own-group` timer). Members that wait for the same
 * messages (the usual case: every multicast defers the same messages to each) share the packets'
 * data arrays, so the wire layer packs them once. A member that left every view gets nothing.
 */
function sendDeferred(state: EndpointState): void {
  const members = new Set<NodeId>();
  for (const group of state.groups)
    for (const member of groupView(state, group)?.members ?? []) members.add(member);
  let shared: { messages: DataMessage[]; packets: DataMessage[][] } | undefined;
  for (const [target, waiting] of Object.entries(state.deferred)) {
    delete state.deferred[target];
    if (!members.has(target as NodeId)) continue;
    const same =
      shared !== undefined &&
      shared.messages.length === waiting.messages.length &&
      shared.messages.every((message, index) => message === waiting.messages[index]);
    if (!same)
      shared = { messages: waiting.messages, packets: packetsOf(state, waiting.messages, waiting.bytes) };
    for (const packet of shared!.packets) pushPacket(state, target as NodeId, packet, false);
  }
}

/** Installs a view of either group (from membership, or a test script). Older epochs are ignored. */
export function installView(state: EndpointState, view: GroupView): void {
  const problem = viewProblem(state, view);
  if (problem !== undefined) throw new RangeError(`bad view: ${problem}`);
  adoptView(state, view);
  settle(state);
}

/**
 * Takes a packet from a peer (`packetFromEnvelope` has checked its shape): adopts the views and
 * control data it carries, delivers what is now in order, and answers its NACKs and sync request.
 * A packet for another connection or from this endpoint itself (`misrouted`), or from an incarnation
 * older than one seen from its node (`fenced`), is counted and dropped. Effects wait in the outbox
 * for `takeEffects`.
 */
export function receivePacket(state: EndpointState, packet: Packet): void {
  if (packet.connection !== state.connection) {
    state.counters.misrouted++;
    return;
  }
  if (packet.from === state.self && packet.incarnation >= state.incarnation) {
    state.counters.misrouted++;
    return;
  }
  const peer = peerOf(state, packet.from, packet.incarnation);
  if (peer === undefined) {
    state.counters.fenced++;
    return;
  }
  const control = packet.control;
  for (const view of control.views) if (viewProblem(state, view) === undefined) adoptView(state, view);
  // `for…in` with `hasOwn` rather than `Object.entries`: the same keys, without an array of pairs
  // per record and packet (four records per packet, every packet).
  for (const group in control.epochs) {
    if (!Object.hasOwn(control.epochs, group)) continue;
    const epoch = control.epochs[group]!;
    if (epoch > (lookup(peer.epochs, group) ?? 0)) setEntry(peer.epochs, group, epoch);
  }
  for (const group of state.groups) {
    const view = groupView(state, group);
    if (view !== undefined && peerEpoch(state, packet.from, group) < view.epoch) owe(state, packet.from);
  }
  // Only a member that counts this incarnation may move its start or stable points past what it
  // delivered: another may still count a predecessor's acknowledgements.
  const counted = control.counted === state.incarnation;
  if (counted && control.answer) setEntry(state.countedBy, packet.from, true);
  for (const key in control.stable) {
    if (!Object.hasOwn(control.stable, key)) continue;
    const stable = control.stable[key]!;
    if (retiredAt(state, packet.from, key, stable)) continue;
    if (counted && !state.admitted) {
      setEntry(state.admissionStable, key, Math.max(lookup(state.admissionStable, key) ?? 0, stable));
      continue;
    }
    const stream = lookup(state.streams, key) ?? (counted ? ensureStream(state, key, stable) : undefined);
    if (stream !== undefined) raiseStable(state, stream, stable, counted);
  }
  for (const message of packet.data) acceptData(state, message, packet.from, counted);
  for (const key in control.acks) {
    if (!Object.hasOwn(control.acks, key)) continue;
    const ack = control.acks[key]!;
    if (retiredAt(state, packet.from, key, ack) || !(ack > 0)) continue;
    if (ack > (lookup(peer.acks, key) ?? 0)) setEntry(peer.acks, key, ack);
    const stream =
      lookup(state.streams, key) ?? (counted && state.admitted ? ensureStream(state, key, 0) : undefined);
    if (stream !== undefined && ack > stream.delivered && !originSending(state, stream))
      requestMissing(state, key, stream, packet.from);
  }
  for (const key in control.nacks)
    if (Object.hasOwn(control.nacks, key)) retransmit(state, packet.from, key, control.nacks[key]!);
  if (control.syncRequest) {
    owe(state, packet.from);
    setEntry(state.answersOwed, packet.from, true);
  }
  settle(state);
}

/**
 * A timer that a `set-timer` effect asked for has fired: does that timer's work (see
 * `EndpointTimer`), then arms whatever is still needed. Effects wait in the outbox for `takeEffects`.
 */
export function fireTimer(state: EndpointState, name: EndpointTimer): void {
  state.timers[name] = false;
  switch (name) {
    case 'flush':
      for (const target of Object.keys(state.owed)) sendPacket(state, target as NodeId, [], false);
      break;
    case 'sync':
      onSync(state);
      break;
    case 'null-message':
      onNullMessageDue(state);
      break;
    case 'own-group':
      sendDeferred(state);
      break;
    default:
      assertNever(name, 'timer');
  }
  settle(state);
}

// ---------------------------------------------------------------------------------------------
// Queries

/** The view of `group` this endpoint knows, if any. */
export function knownView(state: EndpointState, group: string): GroupView | undefined {
  return groupView(state, group);
}

/**
 * Whether the message `id` is known delivered at every member of both current views: its stream's
 * stable point has passed it, or the stream was retired (every member had all of it). What a layer
 * above asks before repeating what the message carried (replication's relay, claims 66-67).
 */
export function deliveredEverywhere(
  state: EndpointState,
  id: { readonly origin: NodeId; readonly incarnation: number; readonly sequence: number },
): boolean {
  const key = streamKey(id);
  const stream = lookup(state.streams, key);
  if (stream !== undefined) return stream.stable >= id.sequence;
  const final = lookup(state.retired, key);
  return final !== undefined && final >= id.sequence;
}

/** Messages held in retransmission buffers and early-arrival buffers, over all streams. */
export function bufferedMessages(state: EndpointState): number {
  let count = 0;
  for (const stream of Object.values(state.streams))
    count += bufferedCount(stream) + Object.keys(stream.pending).length;
  return count;
}

/** A stream this endpoint has not fully received: what it delivered, and who holds more. */
export interface MissingStream {
  /** `origin:incarnation` (`streamKey`). */
  readonly stream: string;
  readonly delivered: number;
  /** The highest sequence a member of either view acknowledged (at least `delivered`). */
  readonly highest: number;
  /** Members whose acknowledgements pass `delivered`: they can retransmit the rest. */
  readonly holders: readonly NodeId[];
  /** Messages received past a gap and waiting for it. */
  readonly waiting: number;
}

/**
 * The streams of which some member of either current view acknowledged more than this endpoint
 * delivered, or that hold early arrivals past a gap: what a new primary still has to fetch from
 * its own group or the peer group before it may decide the order (claims 65, 69). Empty when this
 * endpoint has everything any member reported having. Only members of the current views count.
 */
export function missingFrom(state: EndpointState): MissingStream[] {
  const members = stabilityMembers(state) ?? [];
  const result: MissingStream[] = [];
  for (const [key, stream] of Object.entries(state.streams)) {
    let highest = stream.delivered;
    const holders: NodeId[] = [];
    for (const member of members) {
      if (member === state.self) continue;
      const ack = ackOf(state, member, key);
      if (ack > stream.delivered) holders.push(member);
      highest = Math.max(highest, ack);
    }
    const waiting = Object.keys(stream.pending).length;
    if (holders.length > 0 || waiting > 0)
      result.push({ stream: key, delivered: stream.delivered, highest, holders, waiting });
  }
  return result;
}

/**
 * Members of either current view that have not yet told this endpoint they know the view of
 * `group` with epoch `epoch` (or a later one): until they have, they may still accept messages of
 * an older epoch. A new primary's flush waits for this to be empty on every connection.
 */
export function membersBehindEpoch(state: EndpointState, group: string, epoch: number): NodeId[] {
  const members = stabilityMembers(state);
  if (members === undefined) return [...state.contacts];
  return members.filter((member) => member !== state.self && peerEpoch(state, member, group) < epoch);
}

/** Whether every member of both views counts this incarnation, so streams start and deliver here. */
export function isAdmitted(state: EndpointState): boolean {
  return state.admitted;
}

/** True while this endpoint still has something to make stable, fetch or learn. */
export function needsSync(state: EndpointState): boolean {
  const members = stabilityMembers(state);
  if (members === undefined || !state.admitted) return true;
  for (const key in state.streams) {
    if (!Object.hasOwn(state.streams, key)) continue;
    const stream = state.streams[key]!;
    if (hasEntries(stream.pending)) return true;
    // A member behind us (the stream is unstable, or a new member has not heard of it yet) or
    // ahead of us (we lack messages it has): either way the control data must flow.
    if (!allAcknowledged(state, members, key, stream.delivered)) return true;
  }
  return false;
}

/**
 * Whether every one of `members` acknowledged exactly `delivered` of stream `key`. A loop rather than
 * `members.some(…)`: asked for every stream after every input, and the callback was a closure each time.
 */
function allAcknowledged(
  state: EndpointState,
  members: readonly NodeId[],
  key: string,
  delivered: number,
): boolean {
  for (const member of members) if (ackOf(state, member, key) !== delivered) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Sending

function ownKey(state: EndpointState): string {
  return `${state.self}:${state.incarnation}`;
}

function multicastMessage(
  state: EndpointState,
  kind: MessageKind,
  payload: unknown,
  payloadBytes?: number,
): MulticastResult {
  const own = groupView(state, state.group);
  if (own === undefined || !own.members.includes(state.self))
    return { ok: false, error: { type: 'not-member', group: state.group } };
  const bytesMax = state.settings.messageBytesMax;
  const size =
    kind === 'null'
      ? { ok: true as const, bytes: 1 }
      : payloadBytes !== undefined
        ? { ok: true as const, bytes: payloadBytes }
        : encodedBytes(payload);
  if (!size.ok) {
    state.counters.unencodable++;
    return { ok: false, error: { type: 'unencodable', detail: size.detail } };
  }
  // The payload replaces the 1-byte nil of an empty message.
  const bytes = state.emptyMessageBytes - 1 + size.bytes;
  if (bytes > bytesMax) {
    state.counters.tooLarge++;
    return { ok: false, error: { type: 'too-large', bytes, bytesMax } };
  }
  // Attached data that would push this message over the bound goes ahead in null messages of its
  // own, as many as it takes (each key fits one alone: `attachPiggyback` checked it).
  while (state.piggyback !== null && withPiggybackBytes(bytes, attachedBytes(state)) > bytesMax) {
    const result = sendMessage(state, 'null', null, keysFitting(state), state.emptyMessageBytes);
    if (!result.ok) return result;
    state.counters.piggybackSplits++;
  }
  return sendMessage(state, kind, payload, Object.keys(state.piggyback ?? {}), bytes);
}

/**
 * Sends one message of this endpoint's stream carrying the attached data under `keys`;
 * `messageBytes` is the estimate of the message without them (checked against the bound already).
 */
function sendMessage(
  state: EndpointState,
  kind: MessageKind,
  payload: unknown,
  keys: readonly string[],
  messageBytes: number,
): MulticastResult {
  const stream = lookup(state.streams, ownKey(state));
  if (stream === undefined) throw new Error('the endpoint lost its own stream');
  const unstable = stream.delivered - stream.stable;
  if (unstable >= state.settings.windowMax) {
    state.counters.windowFull++;
    return { ok: false, error: { type: 'window-full', unstable, windowMax: state.settings.windowMax } };
  }
  let bytes = messageBytes;
  if (keys.length > 0) {
    let entriesBytes = 0;
    for (const key of keys) entriesBytes += lookup(state.piggybackBytes, key) ?? 0;
    bytes = withPiggybackBytes(messageBytes, entriesBytes);
  }
  const id: MessageId = { origin: state.self, incarnation: state.incarnation, sequence: ++state.sequence };
  const forOthers = otherGroupsPiggyback(state, keys);
  const message: DataMessage = {
    id,
    group: state.group,
    kind,
    payload: kind === 'null' ? null : payload,
    piggyback: takePiggyback(state, keys),
    stableAtSend: stream.stable,
  };
  if (forOthers !== undefined) otherGroupsCopies.set(message, { ...message, piggyback: forOthers });
  deliverMessage(state, stream, message);
  if (state.held !== null) {
    state.held.messages.push(message);
    state.held.bytes.push(bytes);
  } else sendData(state, [message], [bytes]);
  if (kind === 'null') state.counters.nullMessages++;
  else state.counters.dataMessages++;
  return { ok: true, id };
}

/** Detaches the data under `keys` for a message; cancels the null-message timer once nothing is left. */
function takePiggyback(state: EndpointState, keys: readonly string[]): Piggyback | null {
  const attached = state.piggyback;
  if (attached === null || keys.length === 0) return null;
  const taken: Record<string, unknown> = {};
  for (const key of keys) {
    setEntry(taken, key, lookup(attached, key));
    delete attached[key];
    delete state.piggybackBytes[key];
    delete state.piggybackForOthers[key];
  }
  if (!hasEntries(attached)) {
    state.piggyback = null;
    if (state.timers['null-message']) {
      state.timers['null-message'] = false;
      state.outbox.push({ type: 'cancel-timer', name: 'null-message' });
    }
  }
  return taken;
}

/**
 * The piggyback that members outside this group get for a message carrying the attached `keys`:
 * undefined when none of them has another form for them (the message goes to everyone as it is),
 * null when nothing is left for them. Read before `takePiggyback` detaches the keys.
 */
function otherGroupsPiggyback(state: EndpointState, keys: readonly string[]): Piggyback | null | undefined {
  const forOthers = state.piggybackForOthers;
  if (!keys.some((key) => Object.hasOwn(forOthers, key))) return undefined;
  const result: Record<string, unknown> = {};
  for (const key of keys) {
    const other = lookup(forOthers, key);
    if (other === undefined)
      setEntry(result, key, state.piggyback === null ? undefined : lookup(state.piggyback, key));
    else if (other !== null) setEntry(result, key, other.data);
  }
  return hasEntries(result) ? result : null;
}

/**
 * This endpoint's own messages as members outside its group get them, where attached data had
 * another form for them (`forOtherGroups`), by message. Beside the state, as `membersMemos`: the
 * state is plain data, and a copy is only worth keeping while the message is (for retransmission).
 */
const otherGroupsCopies = new WeakMap<DataMessage, DataMessage>();

/** A target known to be outside this endpoint's own group (its own view known and without it). */
function outsideOwnGroup(state: EndpointState, target: NodeId): boolean {
  const own = groupView(state, state.group);
  return own !== undefined && !own.members.includes(target);
}

/** The attached keys, in the order attached, that fit one null message together. */
function keysFitting(state: EndpointState): string[] {
  const empty = state.emptyMessageBytes;
  const keys: string[] = [];
  let bytes = 0;
  for (const key of Object.keys(state.piggyback ?? {})) {
    const entry = lookup(state.piggybackBytes, key) ?? 0;
    if (withPiggybackBytes(empty, bytes + entry) > state.settings.messageBytesMax) {
      if (keys.length === 0) throw new Error(`attached data '${key}' does not fit a message of its own`);
      break;
    }
    keys.push(key);
    bytes += entry;
  }
  return keys;
}

/**
 * Estimated bytes of this endpoint's largest message with a nil payload and no piggyback: its id
 * with the largest sequence, the longest kind, the largest stable point. Independent of what the
 * message carries, so it is the fixed part of every size check.
 */
function emptyMessageBytesOf(self: NodeId, incarnation: number, group: string): number {
  const largest: DataMessage = {
    id: { origin: self, incarnation, sequence: Number.MAX_SAFE_INTEGER },
    group,
    kind: 'async-request',
    payload: null,
    piggyback: null,
    stableAtSend: Number.MAX_SAFE_INTEGER,
  };
  const size = encodedBytes(largest);
  if (!size.ok) throw new Error(`a message's own fields cannot be encoded: ${size.detail}`);
  return size.bytes;
}

/** A message's bytes once attached data of `entriesBytes` replaces its nil piggyback (map header at most 5). */
function withPiggybackBytes(messageBytes: number, entriesBytes: number): number {
  return messageBytes - 1 + 5 + entriesBytes;
}

function attachedBytes(state: EndpointState): number {
  let bytes = 0;
  for (const entry of Object.values(state.piggybackBytes)) bytes += entry;
  return bytes;
}

/** Estimated bytes of one attached entry: its key and its data. */
function entryBytes(key: string, data: unknown): ReturnType<typeof encodedBytes> {
  const keySize = encodedBytes(key);
  const dataSize = encodedBytes(data);
  if (!keySize.ok) return keySize;
  if (!dataSize.ok) return dataSize;
  return { ok: true, bytes: keySize.bytes + dataSize.bytes };
}

/**
 * Every node a multicast goes to: members of both views, or the contacts while the other view is
 * unknown. The order is chosen for latency: the other group's primary first (it is the one that
 * acts on a request or reply), then the other group's members, then this group's. On a loaded host
 * the kernel may run a woken receiver at once on the sender's core, so the first targets of a
 * multicast can hold up the later ones by a whole processing step: a request sent to two backups
 * before the primary waited ~250 µs for them on these 2-vCPU machines.
 */
function targets(state: EndpointState): readonly NodeId[] {
  return membersMemo(state).targets;
}

/** Members whose acknowledgements make a message stable; undefined while a view is unknown. */
function stabilityMembers(state: EndpointState): readonly NodeId[] | undefined {
  return membersMemo(state).stability;
}

/**
 * `targets` and `stabilityMembers` for the views they were computed from. Both are asked for after
 * every input and for every packet (a new `Set` and array each time, ~3 KB per request at one
 * request in flight over the four nodes of `bench replication-stack`), and they change only when a
 * view does: `adoptView` puts a new view object in place of the old one, so the views' identities
 * say whether a memo still holds. Kept beside the state rather than in it: the state is plain data.
 */
interface MembersMemo {
  /** `state.views[group]` for each of `state.groups`, in order, when the memo was computed. */
  readonly views: readonly (GroupView | undefined)[];
  readonly targets: readonly NodeId[];
  readonly stability: readonly NodeId[] | undefined;
}

const membersMemos = new WeakMap<EndpointState, MembersMemo>();

function membersMemo(state: EndpointState): MembersMemo {
  const memo = membersMemos.get(state);
  if (memo !== undefined && memoHolds(state, memo)) return memo;
  const fresh: MembersMemo = {
    views: state.groups.map((group) => groupView(state, group)),
    targets: computeTargets(state),
    stability: computeStabilityMembers(state),
  };
  membersMemos.set(state, fresh);
  return fresh;
}

function memoHolds(state: EndpointState, memo: MembersMemo): boolean {
  const groups = state.groups;
  if (memo.views.length !== groups.length) return false;
  for (let index = 0; index < groups.length; index++)
    if (memo.views[index] !== groupView(state, groups[index]!)) return false;
  return true;
}

function computeTargets(state: EndpointState): NodeId[] {
  const result = new Set<NodeId>();
  let unknown = false;
  const others = state.groups.filter((group) => group !== state.group);
  for (const group of others) {
    const view = groupView(state, group);
    if (view !== undefined && view.members.includes(view.primary)) result.add(view.primary);
  }
  for (const group of [...others, ...state.groups.filter((group) => group === state.group)]) {
    const view = groupView(state, group);
    if (view === undefined) unknown = true;
    else for (const member of view.members) result.add(member);
  }
  if (unknown) for (const contact of state.contacts) result.add(contact);
  result.delete(state.self);
  return [...result];
}

function computeStabilityMembers(state: EndpointState): NodeId[] | undefined {
  const result = new Set<NodeId>();
  for (const group of state.groups) {
    const view = groupView(state, group);
    if (view === undefined) return undefined;
    for (const member of view.members) result.add(member);
  }
  return [...result];
}

/**
 * Sends `target` a packet of `data` (perhaps none) and the control data owed to it. Data waiting
 * for it (`ownGroupDelayMs`) goes first, in order: in this packet when it has no data of its
 * own and the waiting data fits, in packets of its own ahead of it otherwise.
 */
function sendPacket(state: EndpointState, target: NodeId, data: DataMessage[], syncRequest: boolean): void {
  const waiting = lookup(state.deferred, target);
  if (waiting !== undefined) {
    delete state.deferred[target];
    const packets = packetsOf(state, waiting.messages, waiting.bytes);
    const last = data.length === 0 ? packets.pop()! : undefined;
    for (const packet of packets) pushPacket(state, target, packet, false);
    if (last !== undefined) data = last;
  }
  pushPacket(state, target, data, syncRequest);
}

/** Queues the packet itself: `data` and the control data for `target` (what was owed to it goes now). */
function pushPacket(state: EndpointState, target: NodeId, data: DataMessage[], syncRequest: boolean): void {
  const packet: Packet = {
    connection: state.connection,
    from: state.self,
    incarnation: state.incarnation,
    group: state.group,
    data,
    control: controlFor(state, target, syncRequest),
  };
  state.outbox.push({ type: 'send', target, packet });
  state.counters.packetsSent++;
  if (data.length === 0) state.counters.controlPackets++;
}

/** The control data for `target`; whatever was owed to it goes with this packet. */
function controlFor(state: EndpointState, target: NodeId, syncRequest: boolean): Control {
  const acks: Record<string, number> = {};
  const stable: Record<string, number> = {};
  for (const key in state.streams) {
    if (!Object.hasOwn(state.streams, key)) continue;
    const stream = state.streams[key]!;
    if (stream.delivered > 0) setEntry(acks, key, stream.delivered);
    if (stream.stable > 0) setEntry(stable, key, stream.stable);
  }
  const answer = lookup(state.answersOwed, target) === true;
  if (answer) {
    for (const [key, final] of Object.entries(state.retired)) {
      setEntry(acks, key, final);
      setEntry(stable, key, final);
    }
  }
  const mentions = lookup(state.mentionsOwed, target);
  if (mentions !== undefined) {
    for (const [key, final] of Object.entries(mentions)) {
      setEntry(acks, key, final);
      setEntry(stable, key, final);
    }
  }
  const epochs: Record<string, number> = {};
  const views: GroupView[] = [];
  const peer = lookup(state.peers, target);
  for (const group of state.groups) {
    const view = groupView(state, group);
    if (view === undefined) continue;
    setEntry(epochs, group, view.epoch);
    if (peerEpoch(state, target, group) < view.epoch) views.push(view);
  }
  const nacks = lookup(state.nacksOwed, target) ?? {};
  const counted =
    peer !== undefined && stabilityMembers(state)?.includes(target) === true ? peer.incarnation : 0;
  delete state.owed[target];
  delete state.answersOwed[target];
  delete state.nacksOwed[target];
  delete state.mentionsOwed[target];
  return { epochs, acks, stable, nacks, views, syncRequest, counted, answer };
}

function owe(state: EndpointState, target: NodeId): void {
  if (target !== state.self) setEntry(state.owed, target, true);
}

// ---------------------------------------------------------------------------------------------
// Receiving

/** The peer record for a packet's sender, or undefined if its incarnation is fenced. */
function peerOf(state: EndpointState, from: NodeId, incarnation: number): PeerState | undefined {
  if (from === state.self) return undefined;
  const peer = lookup(state.peers, from);
  if (peer !== undefined && incarnation < peer.incarnation) return undefined;
  if (peer !== undefined && incarnation === peer.incarnation) return peer;
  // A new incarnation is a new member: what its predecessor acknowledged no longer counts.
  const fresh: PeerState = { incarnation, acks: {}, epochs: {} };
  setEntry(state.peers, from, fresh);
  return fresh;
}

function viewProblem(state: EndpointState, view: GroupView): string | undefined {
  if (typeof view !== 'object' || view === null) return 'not an object';
  if (!state.groups.includes(view.group)) return `group '${String(view.group)}' is not on this connection`;
  if (!Number.isSafeInteger(view.epoch) || view.epoch < 1)
    return `epoch ${String(view.epoch)} is not a positive integer`;
  if (!Array.isArray(view.members) || view.members.length === 0) return 'no members';
  if (new Set(view.members).size !== view.members.length) return 'members repeat';
  for (const member of view.members) {
    try {
      nodeId(member);
    } catch {
      return `member ${JSON.stringify(member)} is no node id`;
    }
  }
  if (!view.members.includes(view.primary)) return 'the primary is not a member';
  return undefined;
}

function adoptView(state: EndpointState, view: GroupView): void {
  const current = groupView(state, view.group);
  if (current !== undefined && current.epoch >= view.epoch) return;
  setEntry(state.views, view.group, {
    group: view.group,
    epoch: view.epoch,
    members: [...view.members],
    primary: view.primary,
  });
  state.counters.views++;
}

function newStream(origin: NodeId, incarnation: number, startAt: number): StreamState {
  return {
    origin,
    incarnation,
    delivered: startAt,
    stable: startAt,
    buffer: [],
    bufferHead: 0,
    pending: {},
    firstDelivered: 0,
    nackRound: -1,
    nackDelivered: -1,
  };
}

/**
 * The stream named `key`, created if new. A new stream starts at the stable point it was learned
 * with: a member that acknowledged nothing of it cannot be counted in that stable point, so it
 * joined after those messages were stable, and a new member starts from the stable point.
 */
function ensureStream(state: EndpointState, key: string, startAt: number): StreamState | undefined {
  const existing = lookup(state.streams, key);
  if (existing !== undefined) return existing;
  const parsed = parseStreamKey(key);
  if (parsed === undefined || !Number.isSafeInteger(startAt) || startAt < 0) return undefined;
  // Only another incarnation's streams can be new here: this incarnation's own stream always exists.
  if (parsed.origin === state.self && parsed.incarnation >= state.incarnation) return undefined;
  const stream = newStream(parsed.origin, parsed.incarnation, startAt);
  if (startAt > 0) state.counters.skippedToStable += startAt;
  setEntry(state.streams, key, stream);
  return stream;
}

/**
 * Whether `key` is retired here with everything up to `sequence`. A retired stream that a peer
 * shows more of is revived: retirement trusts acknowledgements that may have been stale, and a
 * peer ahead of us would otherwise wait for us forever.
 */
function retiredAt(state: EndpointState, from: NodeId, key: string, sequence: number): boolean {
  const final = lookup(state.retired, key);
  if (final === undefined) return false;
  if (sequence <= final) return mentionRetired(state, from, key);
  const parsed = parseStreamKey(key);
  if (parsed === undefined) return true;
  delete state.retired[key];
  state.retiredOrder = state.retiredOrder.filter((retired) => retired !== key);
  const stream = newStream(parsed.origin, parsed.incarnation, final);
  // It delivered up to `final` before: a later skip past a stable point would be a hole.
  stream.firstDelivered = final;
  setEntry(state.streams, key, stream);
  state.counters.revivedStreams++;
  return false;
}

/**
 * A peer mentioned a stream retired here: our final acknowledgement goes with the next packet to
 * it. Not at once: a peer that still needs it is syncing and so asks for a packet anyway, while
 * answering every mention would let two endpoints echo one retired stream back and forth forever.
 */
function mentionRetired(state: EndpointState, from: NodeId, key: string): boolean {
  const final = lookup(state.retired, key);
  if (final === undefined) return false;
  const mentions = lookup(state.mentionsOwed, from) ?? setEntry(state.mentionsOwed, from, {});
  setEntry(mentions, key, final);
  return true;
}

function acceptData(state: EndpointState, message: DataMessage, from: NodeId, counted: boolean): void {
  const key = streamKey(message.id);
  if (retiredAt(state, from, key, message.id.sequence)) {
    state.counters.duplicates++;
    return;
  }
  const own = message.id.origin === state.self && message.id.incarnation >= state.incarnation;
  if (own) {
    // This incarnation's own messages, echoed back by a peer.
    state.counters.duplicates++;
    return;
  }
  const stream =
    lookup(state.streams, key) ?? (counted && state.admitted ? ensureStream(state, key, 0) : undefined);
  if (stream === undefined) {
    // Where this stream starts here is not known yet: the message will be fetched again.
    state.counters.unadmitted++;
    owe(state, from);
    return;
  }
  // The origin's stable point only collects garbage here; it may predate this replica's admission.
  raiseStable(state, stream, message.stableAtSend, false);
  const sequence = message.id.sequence;
  if (sequence <= stream.delivered) {
    state.counters.duplicates++;
    return;
  }
  if (sequence > stream.delivered + state.settings.windowMax) {
    state.counters.beyondWindow++;
    requestMissing(state, key, stream, from);
    return;
  }
  if (sequence === stream.delivered + 1) {
    deliverMessage(state, stream, message);
    drainPending(state, stream);
    // The origin needs acknowledgements for its window; everyone else learns them by sync.
    if (
      stream.origin !== state.self &&
      stream.incarnation === lookup(state.peers, stream.origin)?.incarnation
    )
      owe(state, stream.origin);
    return;
  }
  if (stream.pending[sequence] !== undefined) {
    state.counters.duplicates++;
    return;
  }
  stream.pending[sequence] = message;
  // Whoever sent sequence n has delivered (or sent) everything of the stream before it.
  requestMissing(state, key, stream, from);
}

function deliverMessage(state: EndpointState, stream: StreamState, message: DataMessage): void {
  stream.delivered = message.id.sequence;
  if (stream.firstDelivered === 0) stream.firstDelivered = message.id.sequence;
  stream.buffer.push(message);
  state.counters.delivered++;
  state.outbox.push({
    type: 'deliver',
    message: {
      connection: state.connection,
      id: message.id,
      group: message.group,
      kind: message.kind,
      payload: message.payload,
      piggyback: message.piggyback,
    },
  });
}

function drainPending(state: EndpointState, stream: StreamState): void {
  for (;;) {
    const next = stream.pending[stream.delivered + 1];
    if (next === undefined) return;
    delete stream.pending[stream.delivered + 1];
    deliverMessage(state, stream, next);
  }
}

/**
 * Raises a stream's stable point and drops what it makes useless. A stable point beyond what was
 * delivered here means the stream was stable before this member joined: it skips to that point.
 */
function raiseStable(
  state: EndpointState,
  stream: StreamState,
  claimed: number,
  mayPassDelivered: boolean,
): void {
  const stable = mayPassDelivered ? claimed : Math.min(claimed, stream.delivered);
  if (!(stable > stream.stable) || !Number.isSafeInteger(stable)) return;
  const own = stream.origin === state.self && stream.incarnation === state.incarnation;
  // No peer can have acknowledged what this sender has not sent: ignore a claim that says so.
  if (own && stable > stream.delivered) return;
  dropStable(stream, Math.min(stable, stream.delivered));
  stream.stable = stable;
  if (stable > stream.delivered) {
    state.counters.skippedToStable += stable - stream.delivered;
    if (stream.firstDelivered > 0) state.counters.holes++;
    stream.delivered = stable;
    dropUpTo(stream.pending, stable);
    drainPending(state, stream);
  }
}

/**
 * Drops the retransmission buffer's messages up to `stableNow` (the stream's stable point is still
 * the old one): they are its first ones, so the head moves past them. The array is compacted once
 * the dropped part is most of it, so its length stays within twice what it holds (plus a little).
 */
function dropStable(stream: StreamState, stableNow: number): void {
  const count = Math.min(stableNow - stream.stable, bufferedCount(stream));
  if (count <= 0) return;
  const buffer = stream.buffer;
  const head = stream.bufferHead + count;
  for (let index = stream.bufferHead; index < head; index++) buffer[index] = undefined;
  if (head === buffer.length) {
    buffer.length = 0;
    stream.bufferHead = 0;
  } else if (head >= BUFFER_COMPACT_MIN && head * 2 >= buffer.length) {
    stream.buffer = buffer.slice(head);
    stream.bufferHead = 0;
  } else stream.bufferHead = head;
}

/** Dropped slots at the head of a retransmission buffer before it is compacted (if they are at least half). */
const BUFFER_COMPACT_MIN = 64;

/** Messages in a stream's retransmission buffer. */
function bufferedCount(stream: StreamState): number {
  return stream.buffer.length - stream.bufferHead;
}

/** The buffered message of `sequence`, if it is in (stable, delivered]. */
function buffered(stream: StreamState, sequence: number): DataMessage | undefined {
  if (sequence <= stream.stable || sequence > stream.delivered) return undefined;
  return stream.buffer[stream.bufferHead + sequence - stream.stable - 1];
}

function dropUpTo(messages: Record<string, DataMessage>, sequenceMax: number): void {
  // Integer-like keys iterate in ascending order, so the loop stops at the first one kept.
  for (const key of Object.keys(messages)) {
    if (Number(key) > sequenceMax) return;
    delete messages[key];
  }
}

/**
 * Whether the stream's origin is a live member still sending it: a current member of a view, not
 * fenced by a newer incarnation. A peer that acknowledges more of such a stream than this endpoint
 * delivered has usually just received a packet that is still on its way here (the origin sent
 * both at once), so asking the peer at once would fetch it twice. The gap check (a later message
 * arriving first) and the sync round still fetch what was really lost; only a departed origin's
 * stream is fetched from peers as soon as they show more (claim 65).
 */
function originSending(state: EndpointState, stream: StreamState): boolean {
  if ((lookup(state.peers, stream.origin)?.incarnation ?? stream.incarnation) > stream.incarnation)
    return false;
  return state.groups.some((group) => groupView(state, group)?.members.includes(stream.origin) === true);
}

/** Asks `holder` for the messages after this stream's delivered point, once per sync round or progress. */
function requestMissing(state: EndpointState, key: string, stream: StreamState, holder: NodeId): void {
  if (holder === state.self) return;
  if (stream.nackRound === state.syncRound && stream.nackDelivered === stream.delivered) return;
  stream.nackRound = state.syncRound;
  stream.nackDelivered = stream.delivered;
  const nacks = lookup(state.nacksOwed, holder) ?? setEntry(state.nacksOwed, holder, {});
  setEntry(nacks, key, [stream.delivered + 1, stream.delivered + state.settings.windowMax]);
  owe(state, holder);
  state.counters.nacksSent++;
}

/** Answers a NACK from the retransmission buffer, whoever the origin was (claim 65). */
function retransmit(
  state: EndpointState,
  requester: NodeId,
  key: string,
  range: readonly [number, number],
): void {
  const stream = lookup(state.streams, key);
  if (stream === undefined) {
    if (mentionRetired(state, requester, key)) owe(state, requester);
    return;
  }
  const [first, last] = range;
  const from = Math.max(first, stream.stable + 1);
  const to = Math.min(last, stream.delivered);
  const bytesMax = state.settings.messageBytesMax;
  let count = 0;
  // Up to `retransmitBatchMax` messages, in as many packets as it takes to keep the data of each
  // within `messageBytesMax`: one packet per message for messages near the bound.
  let data: DataMessage[] = [];
  let bytes = 0;
  // The requester's form of this endpoint's own messages (`forOtherGroups`).
  const outside = outsideOwnGroup(state, requester);
  for (let sequence = from; sequence <= to && count < state.settings.retransmitBatchMax; sequence++) {
    const held = buffered(stream, sequence);
    if (held === undefined) continue;
    const message = (outside ? otherGroupsCopies.get(held) : undefined) ?? held;
    const size = encodedBytes(message);
    // A peer's message that cannot be sized (it came off the wire, so it can) travels alone.
    const messageBytes = size.ok ? size.bytes : bytesMax;
    if (data.length > 0 && bytes + messageBytes > bytesMax) {
      sendPacket(state, requester, data, false);
      data = [];
      bytes = 0;
    }
    data.push(message);
    bytes += messageBytes;
    count++;
  }
  if (count === 0) {
    // Nothing to give: our stable point (in the control data) lets the requester skip, if that is why.
    owe(state, requester);
    return;
  }
  sendPacket(state, requester, data, false);
  state.counters.retransmissions += count;
}

// ---------------------------------------------------------------------------------------------
// Timers and bookkeeping after every input

function onSync(state: EndpointState): void {
  state.syncRound++;
  if (!needsSync(state)) return;
  const members = stabilityMembers(state) ?? [];
  for (const [key, stream] of Object.entries(state.streams)) {
    const holders = members.filter(
      (member) => member !== state.self && ackOf(state, member, key) > stream.delivered,
    );
    if (holders.length > 0) {
      // Rotate among the holders, so one unreachable holder does not stall the fetch.
      requestMissing(state, key, stream, holders[state.syncRound % holders.length]!);
    } else if (hasEntries(stream.pending) && stream.origin !== state.self) {
      requestMissing(state, key, stream, stream.origin);
    }
  }
  for (const target of targets(state)) sendPacket(state, target, [], true);
}

/**
 * Sends whatever is attached now, in a null message, instead of waiting for the next message or
 * the null-message timer: for a layer above whose attached data must precede a message it is about
 * to multicast (the replication layer's order announcements precede the outputs of their
 * positions). Nothing attached: nothing sent, undefined.
 */
export function sendAttachedNow(state: EndpointState): MulticastResult | undefined {
  if (state.piggyback === null) return undefined;
  const result = multicastMessage(state, 'null', null);
  settle(state);
  return result;
}

function onNullMessageDue(state: EndpointState): void {
  if (state.piggyback === null) return;
  const result = multicastMessage(state, 'null', null);
  if (!result.ok) {
    // Try again later; the data stays attached and goes on the first message that can leave.
    state.timers['null-message'] = true;
    state.outbox.push({ type: 'set-timer', name: 'null-message', delayMs: state.settings.syncIntervalMs });
  }
}

/** The view of `group` held here, if any: an own entry only (a group may be named `constructor`). */
function groupView(state: EndpointState, group: string): GroupView | undefined {
  return lookup(state.views, group);
}

/** The epoch of `group`'s view that `member` said it knows (0: none, or nothing heard from it). */
function peerEpoch(state: EndpointState, member: NodeId, group: string): number {
  const peer = lookup(state.peers, member);
  return peer === undefined ? 0 : (lookup(peer.epochs, group) ?? 0);
}

function ackOf(state: EndpointState, member: NodeId, key: string): number {
  if (member === state.self) return lookup(state.streams, key)?.delivered ?? 0;
  const peer = lookup(state.peers, member);
  return peer === undefined ? 0 : (lookup(peer.acks, key) ?? 0);
}

function hasEntries(record: Record<string, unknown>): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return true;
  return false;
}

/** Stability, retirement, abandoned early arrivals, timers: run after every input. */
function settle(state: EndpointState): void {
  const members = stabilityMembers(state);
  if (members !== undefined && !state.admitted) admitIfCounted(state, members);
  if (members !== undefined) {
    for (const key in state.streams) {
      if (!Object.hasOwn(state.streams, key)) continue;
      const stream = state.streams[key]!;
      let stable = stream.delivered;
      for (const member of members) stable = Math.min(stable, ackOf(state, member, key));
      raiseStable(state, stream, stable, false);
      tidyDeparted(state, members, key, stream);
    }
  }
  armTimers(state);
}

/** Admission: once every member counts this incarnation, streams start at the stable points they reported. */
function admitIfCounted(state: EndpointState, members: readonly NodeId[]): void {
  if (!members.every((member) => member === state.self || lookup(state.countedBy, member) === true)) return;
  state.admitted = true;
  for (const [key, stable] of Object.entries(state.admissionStable)) {
    const stream = ensureStream(state, key, stable);
    if (stream !== undefined) raiseStable(state, stream, stable, true);
  }
  state.admissionStable = {};
}

/**
 * A departed sender (fenced by a newer incarnation, or in no current view) sends nothing more.
 * Once every member has exactly what this endpoint has of its stream, early arrivals past a gap
 * can never be completed (nobody holds the gap), so they are dropped; and a fenced incarnation's
 * stream is retired, keeping only its final sequence so stale mentions are recognised.
 */
function tidyDeparted(
  state: EndpointState,
  members: readonly NodeId[],
  key: string,
  stream: StreamState,
): void {
  const fenced =
    stream.origin === state.self
      ? stream.incarnation < state.incarnation
      : (lookup(state.peers, stream.origin)?.incarnation ?? 0) > stream.incarnation;
  const departed = fenced || !members.includes(stream.origin);
  if (!departed || stream.stable !== stream.delivered) return;
  if (!allAcknowledged(state, members, key, stream.delivered)) return;
  if (hasEntries(stream.pending)) {
    state.counters.abandoned += Object.keys(stream.pending).length;
    stream.pending = {};
  }
  if (!fenced) return;
  delete state.streams[key];
  for (const peer of Object.values(state.peers)) delete peer.acks[key];
  setEntry(state.retired, key, stream.delivered);
  state.retiredOrder.push(key);
  if (state.retiredOrder.length > state.settings.retiredStreamsMax) {
    const oldest = state.retiredOrder.shift()!;
    delete state.retired[oldest];
  }
  state.counters.retiredStreams++;
}

function armTimers(state: EndpointState): void {
  if (!state.timers.flush && hasEntries(state.owed)) {
    state.timers.flush = true;
    state.outbox.push({ type: 'set-timer', name: 'flush', delayMs: state.settings.ackDelayMs });
  }
  if (!state.timers.sync && needsSync(state)) {
    state.timers.sync = true;
    state.outbox.push({ type: 'set-timer', name: 'sync', delayMs: state.settings.syncIntervalMs });
  }
  if (!state.timers['own-group'] && hasEntries(state.deferred)) {
    state.timers['own-group'] = true;
    state.outbox.push({ type: 'set-timer', name: 'own-group', delayMs: state.settings.ownGroupDelayMs });
  }
  if (!state.timers['null-message'] && state.piggyback !== null) {
    state.timers['null-message'] = true;
    state.outbox.push({
      type: 'set-timer',
      name: 'null-message',
      delayMs: state.settings.nullMessageDelayMs,
    });
  }
}
