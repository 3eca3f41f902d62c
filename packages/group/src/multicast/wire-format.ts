/**
 * How a connection packet rides in a runtime envelope: the data messages in the body, the control
 * data (acknowledgements, stable points, NACKs, views) in the envelope's `header` slot under
 * `mc`, where protocol data that piggybacks on messages sent anyway belongs. Frames are
 * authenticated by the codec, but the shape is still checked here: a peer running another version
 * must produce a counted drop, never an exception inside the role.
 */
import { isNodeId, type EnvelopeHeader, type NodeId } from '@steadfast/wire';
import { isMulticastKind } from './endpoint.js';
import type { Control, DataMessage, GroupView, Packet } from './types.js';

/** The envelope header key of the connection's control data. */
export const MULTICAST_HEADER_KEY = 'mc';

export interface PacketBody {
  readonly type: 'mc-packet';
  readonly connection: string;
  readonly from: NodeId;
  readonly incarnation: number;
  readonly group: string;
  readonly data: readonly DataMessage[];
}

export function packetToEnvelope(packet: Packet): { body: PacketBody; header: EnvelopeHeader } {
  return { body: packetBody(packet), header: { [MULTICAST_HEADER_KEY]: packet.control } };
}

/**
 * The endpoint sends one data array to every member of the connection (only the control differs
 * per member); each of those packets gets the same body object, so the codec packs it once for all
 * members (`EncodeMemo`). Bodies are immutable values, so sharing one is safe.
 */
const bodiesByData = new WeakMap<readonly DataMessage[], PacketBody>();

function packetBody(packet: Packet): PacketBody {
  const known = bodiesByData.get(packet.data);
  if (
    known !== undefined &&
    known.connection === packet.connection &&
    known.from === packet.from &&
    known.incarnation === packet.incarnation &&
    known.group === packet.group
  )
    return known;
  const body: PacketBody = {
    type: 'mc-packet',
    connection: packet.connection,
    from: packet.from,
    incarnation: packet.incarnation,
    group: packet.group,
    data: packet.data,
  };
  if (packet.data.length > 0) bodiesByData.set(packet.data, body);
  return body;
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

function isDataMessage(value: unknown): value is DataMessage {
  if (!isRecord(value) || !isRecord(value.id)) return false;
  const id = value.id;
  return (
    isNodeId(id.origin) &&
    isCount(id.incarnation) &&
    isCount(id.sequence) &&
    id.sequence >= 1 &&
    typeof value.group === 'string' &&
    (value.kind === 'null' || isMulticastKind(value.kind)) &&
    (value.piggyback === null || isRecord(value.piggyback)) &&
    isCount(value.stableAtSend) &&
    'payload' in value
  );
}

function isView(value: unknown): value is GroupView {
  return (
    isRecord(value) &&
    typeof value.group === 'string' &&
    isCount(value.epoch) &&
    Array.isArray(value.members) &&
    value.members.every(isNodeId) &&
    isNodeId(value.primary)
  );
}

function isControl(value: unknown): value is Control {
  if (!isRecord(value)) return false;
  const nacks = value.nacks;
  return (
    isCountRecord(value.epochs) &&
    isCountRecord(value.acks) &&
    isCountRecord(value.stable) &&
    isRecord(nacks) &&
    Object.values(nacks).every(
      (range) => Array.isArray(range) && range.length === 2 && isCount(range[0]) && isCount(range[1]),
    ) &&
    Array.isArray(value.views) &&
    value.views.every(isView) &&
    typeof value.syncRequest === 'boolean' &&
    isCount(value.counted) &&
    typeof value.answer === 'boolean'
  );
}

/** True for an envelope body that claims to be a connection packet (whether well formed or not). */
export function isPacketBody(body: unknown): boolean {
  return isRecord(body) && body.type === 'mc-packet';
}

/** The packet in an envelope's body and header, or undefined if either is malformed. */
export function packetFromEnvelope(body: unknown, header: EnvelopeHeader | undefined): Packet | undefined {
  if (!isRecord(body) || body.type !== 'mc-packet') return undefined;
  const control = header?.[MULTICAST_HEADER_KEY];
  if (
    typeof body.connection !== 'string' ||
    !isNodeId(body.from) ||
    !isCount(body.incarnation) ||
    typeof body.group !== 'string' ||
    !Array.isArray(body.data) ||
    !body.data.every(isDataMessage) ||
    !isControl(control)
  )
    return undefined;
  return {
    connection: body.connection,
    from: body.from,
    incarnation: body.incarnation,
    group: body.group,
    data: body.data,
    control,
  };
}
