/**
 * How a connection packet rides in a runtime envelope: the data messages in the body, the control
 * data (acknowledgements, stable points, NACKs, views) in the envelope's `header` slot under
 * `mc`, where protocol data that piggybacks on messages sent anyway belongs. Frames are
 * authenticated by the codec, but the shape is still checked here: a peer running another version
 * must produce a counted drop, never an exception inside the role.
 *
 * Data messages and the control data travel as positional arrays, not keyed maps
 * (`WireDataMessage`, `WireControl`): a message's field names were most of its bytes, and msgpack
 * reads and writes an array of known length much faster than a map (a packet of 38 requests:
 * 11,365 → 4,365 bytes with the replication payloads in their own positional form, packed in 16 µs
 * instead of 40, unpacked in 13 instead of 47). A layer above may give its payloads a wire form too
 * (`PayloadWireForm`).
 */
import { isNodeId, type EnvelopeHeader, type NodeId } from '@steadfast/wire';
import { isMulticastKind } from './endpoint.js';
import type { Control, DataMessage, GroupView, Packet, Piggyback } from './types.js';

/** The envelope header key of the connection's control data. */
export const MULTICAST_HEADER_KEY = 'mc';

/** The envelope body of a packet. `format` 2: data messages are `WireDataMessage` arrays. */
export interface PacketBody {
  readonly type: 'mc-packet';
  readonly format: typeof PACKET_FORMAT;
  readonly connection: string;
  readonly from: NodeId;
  readonly incarnation: number;
  readonly group: string;
  readonly data: readonly WireDataMessage[];
}

/** The packet body format this version writes and reads; any other is a counted drop. */
export const PACKET_FORMAT = 2;

/**
 * A data message on the wire. Its own sender's message (the usual case: the packet names the
 * origin, incarnation and group):
 *   [sequence, kind, payload, piggyback, stableAtSend]
 * another member's (a retransmission on its behalf), with the id and group written out:
 *   [sequence, kind, payload, piggyback, stableAtSend, origin, incarnation, group]
 */
export type WireDataMessage = readonly unknown[];

/**
 * How the layer above writes its payloads on the wire, for a more compact form than the object
 * it multicasts. `toWire` runs once per message per packet; `fromWire` returns the payload, or
 * `MALFORMED_PAYLOAD` when the wire form is not one it wrote (the packet is then dropped).
 * `fromWire(toWire(payload))` must equal `payload`, and anything `toWire` leaves unchanged must come
 * back unchanged.
 */
export interface PayloadWireForm {
  toWire(payload: unknown): unknown;
  fromWire(wire: unknown): unknown;
  /**
   * The same for the data a message carries piggybacked (by key), when the layer above has a form
   * for it: the wire form must still be a record by key, and `piggybackFromWire` returns the data
   * or `MALFORMED_PAYLOAD`.
   */
  piggybackToWire?(piggyback: Piggyback): Piggyback;
  piggybackFromWire?(wire: Piggyback): Piggyback | typeof MALFORMED_PAYLOAD;
}

/**
 * What `PayloadWireForm.fromWire` (or `piggybackFromWire`) returns for a wire form it did not write:
 * `packetFromEnvelope` then returns undefined, and the host drops the packet (and counts it).
 */
export const MALFORMED_PAYLOAD: unique symbol = Symbol('malformed payload');

const PAYLOADS_AS_THEY_ARE: PayloadWireForm = {
  toWire: (payload) => payload,
  fromWire: (wire) => wire,
};

/**
 * A packet as an envelope's body (the data messages, positional) and header (the control data under
 * `MULTICAST_HEADER_KEY`), with payloads in the layer above's wire form if it gives one (`payloads`).
 * `packetFromEnvelope` with the same `payloads` reverses it. A body made recently for the same data
 * array is returned again, so the codec packs that data once for all the packet's targets.
 */
export function packetToEnvelope(
  packet: Packet,
  payloads: PayloadWireForm = PAYLOADS_AS_THEY_ARE,
): { body: PacketBody; header: EnvelopeHeader } {
  return {
    body: packetBody(packet, payloads),
    header: { [MULTICAST_HEADER_KEY]: controlToWire(packet.control) },
  };
}

/**
 * The endpoint sends one data array to every member of the connection (only the control differs
 * per member); each of those packets gets the same body object, so the data is put in its wire
 * form once and the codec packs it once for all members (`EncodeMemo`). Bodies are immutable
 * values, so sharing one is safe.
 *
 * The packets of one release go out target by target (every packet to the first member, then to
 * the next), so the bodies of the last few data arrays are all that is ever reused (a release of
 * more packets than `RECENT_BODIES_MAX` packs the extra ones once per member, as without the
 * cache). A short list holding them strongly, not a WeakMap keyed by the data arrays: V8's young
 * collections kept a WeakMap's values alive, so every body survived into the old generation
 * (`bench replication-stack`: 17.4 → 14.5 KB promoted per request, with one more change).
 */
const recentBodies: { data: readonly DataMessage[]; body: PacketBody; payloads: PayloadWireForm }[] = [];
const RECENT_BODIES_MAX = 16;

function packetBody(packet: Packet, payloads: PayloadWireForm): PacketBody {
  for (const known of recentBodies)
    if (
      known.data === packet.data &&
      known.payloads === payloads &&
      known.body.connection === packet.connection &&
      known.body.from === packet.from &&
      known.body.incarnation === packet.incarnation &&
      known.body.group === packet.group
    )
      return known.body;
  const body: PacketBody = {
    type: 'mc-packet',
    format: PACKET_FORMAT,
    connection: packet.connection,
    from: packet.from,
    incarnation: packet.incarnation,
    group: packet.group,
    data: packet.data.map((message) => wireDataMessage(packet, message, payloads)),
  };
  if (packet.data.length > 0) {
    if (recentBodies.length >= RECENT_BODIES_MAX) recentBodies.shift();
    recentBodies.push({ data: packet.data, body, payloads });
  }
  return body;
}

function wireDataMessage(packet: Packet, message: DataMessage, payloads: PayloadWireForm): WireDataMessage {
  const { id } = message;
  const payload = message.kind === 'null' ? null : payloads.toWire(message.payload);
  const piggyback =
    message.piggyback === null || payloads.piggybackToWire === undefined
      ? message.piggyback
      : payloads.piggybackToWire(message.piggyback);
  if (id.origin === packet.from && id.incarnation === packet.incarnation && message.group === packet.group)
    return [id.sequence, message.kind, payload, piggyback, message.stableAtSend];
  return [
    id.sequence,
    message.kind,
    payload,
    piggyback,
    message.stableAtSend,
    id.origin,
    id.incarnation,
    message.group,
  ];
}

/** The data message a wire array stands for, in a packet from `from`, or undefined if malformed. */
function dataMessageFromWire(
  wire: unknown,
  from: NodeId,
  incarnation: number,
  group: string,
  payloads: PayloadWireForm,
): DataMessage | undefined {
  if (!Array.isArray(wire) || (wire.length !== 5 && wire.length !== 8)) return undefined;
  const [sequence, kind, wirePayload, wirePiggyback, stableAtSend] = wire as unknown[];
  const origin: unknown = wire.length === 8 ? wire[5] : from;
  const originIncarnation: unknown = wire.length === 8 ? wire[6] : incarnation;
  const messageGroup: unknown = wire.length === 8 ? wire[7] : group;
  if (
    !isCount(sequence) ||
    sequence < 1 ||
    !(kind === 'null' || isMulticastKind(kind)) ||
    !(wirePiggyback === null || isRecord(wirePiggyback)) ||
    !isCount(stableAtSend) ||
    !isNodeId(origin) ||
    !isCount(originIncarnation) ||
    typeof messageGroup !== 'string'
  )
    return undefined;
  const payload = kind === 'null' ? null : payloads.fromWire(wirePayload);
  if (payload === MALFORMED_PAYLOAD) return undefined;
  const piggyback =
    wirePiggyback === null || payloads.piggybackFromWire === undefined
      ? wirePiggyback
      : payloads.piggybackFromWire(wirePiggyback);
  if (piggyback === MALFORMED_PAYLOAD) return undefined;
  return {
    id: { origin, incarnation: originIncarnation, sequence },
    group: messageGroup,
    kind,
    payload,
    piggyback,
    stableAtSend,
  };
}

type Shape = Record<string, unknown>;

function isRecord(value: unknown): value is Shape {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isCountRecord(value: unknown): value is Record<string, number> {
  return isRecord(value) && Object.values(value).every(isCount);
}

/** A group view of the right shape: a group name, an epoch, member node ids and a primary node id. */
export function isGroupView(value: unknown): value is GroupView {
  return (
    isRecord(value) &&
    typeof value.group === 'string' &&
    isCount(value.epoch) &&
    Array.isArray(value.members) &&
    value.members.every(isNodeId) &&
    isNodeId(value.primary)
  );
}

/**
 * The control data on the wire, one per frame (it differs per member):
 *   [epochs, acks, stable, nacks, views, syncRequest, counted, answer]
 */
export type WireControl = readonly unknown[];

function controlToWire(control: Control): WireControl {
  return [
    control.epochs,
    control.acks,
    control.stable,
    control.nacks,
    control.views,
    control.syncRequest,
    control.counted,
    control.answer,
  ];
}

function controlFromWire(wire: unknown): Control | undefined {
  if (!Array.isArray(wire) || wire.length !== 8) return undefined;
  const [epochs, acks, stable, nacks, views, syncRequest, counted, answer] = wire as unknown[];
  if (
    !isCountRecord(epochs) ||
    !isCountRecord(acks) ||
    !isCountRecord(stable) ||
    !isRecord(nacks) ||
    !Object.values(nacks).every(
      (range) => Array.isArray(range) && range.length === 2 && isCount(range[0]) && isCount(range[1]),
    ) ||
    !Array.isArray(views) ||
    !views.every(isGroupView) ||
    typeof syncRequest !== 'boolean' ||
    !isCount(counted) ||
    typeof answer !== 'boolean'
  )
    return undefined;
  return {
    epochs,
    acks,
    stable,
    nacks: nacks as Control['nacks'],
    views: views as GroupView[],
    syncRequest,
    counted,
    answer,
  };
}

/** True for an envelope body that claims to be a connection packet (whether well formed or not). */
export function isPacketBody(body: unknown): boolean {
  return isRecord(body) && body.type === 'mc-packet';
}

/** The packet in an envelope's body and header, or undefined if either is malformed. */
export function packetFromEnvelope(
  body: unknown,
  header: EnvelopeHeader | undefined,
  payloads: PayloadWireForm = PAYLOADS_AS_THEY_ARE,
): Packet | undefined {
  if (!isRecord(body) || body.type !== 'mc-packet' || body.format !== PACKET_FORMAT) return undefined;
  const control = controlFromWire(header?.[MULTICAST_HEADER_KEY]);
  const { connection, from, incarnation, group } = body;
  if (
    typeof connection !== 'string' ||
    !isNodeId(from) ||
    !isCount(incarnation) ||
    typeof group !== 'string' ||
    !Array.isArray(body.data) ||
    control === undefined
  )
    return undefined;
  const data: DataMessage[] = [];
  for (const wire of body.data as unknown[]) {
    const message = dataMessageFromWire(wire, from, incarnation, group, payloads);
    if (message === undefined) return undefined;
    data.push(message);
  }
  return { connection, from, incarnation, group, data, control };
}
