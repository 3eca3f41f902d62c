/**
 * The wire form of replication's payloads on the group layer's connections: a positional array
 * instead of a keyed map. Every request and reply of a replica group travels in one, to every
 * member of both groups, and is decoded at each; the field names were about half its bytes, and
 * msgpack reads an array of known length several times faster than it rebuilds a map.
 *
 *   ['rep-app/1', source, target, channel, body, epoch, position,
 *    idSequence, idOrigin | null, idIncarnation, inReplyTo | null, derived | null]
 *
 * `idOrigin` is null when it is the source group (always, for payloads a replica emits);
 * `inReplyTo` is `[origin, incarnation, sequence]`, `derived` is `[nowMs, seed]`, each null when
 * absent. Anything that is not an application payload travels as it is, and an array that does
 * not start with the marker comes back as it is: the group layer only ever carries what this
 * layer multicasts, which is application payloads.
 *
 * The order announcements piggybacked under `rep` (`order` and `relay`) ride the same way, one
 * array per entry, since every request's position is announced once and relayed once:
 *
 *   [position, epoch | null, input, values, digest | null, implied (0 or 1)]
 *
 * with a message input as `[source, channel, sentEpoch, sentAt]` (`[source, channel]` from a version
 * before those two; other inputs, rarer, as their objects) and the
 * supervised values as `[kind, value]` or `[kind, value, name]`.
 */
import {
  containerHeaderBytes,
  encodedBytes,
  encodedBytesBound,
  MALFORMED_PAYLOAD,
  numberBytes,
  stringBytes,
  type PayloadWireForm,
} from '@steadfast/group';
import { isNodeId, type MessageId } from '@steadfast/wire';
import type { Piggyback } from '@steadfast/group';
import type { SupervisedValue } from '@steadfast/runtime';
import { isCount, isOrderedInput, isRecord } from './control-form.js';
import {
  applicationPayload,
  REPLICATION_PIGGYBACK_KEY,
  type ApplicationPayload,
  type OrderEntry,
  type OrderedInput,
  type ReplicationPiggyback,
} from './types.js';

/** The first element of a payload's wire form, naming the form and its version. */
export const APPLICATION_PAYLOAD_WIRE_TAG = 'rep-app/1';

const FIELDS = 12;

function isApplicationPayloadShape(value: unknown): value is ApplicationPayload {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const payload = value as Partial<ApplicationPayload>;
  return (
    payload.type === 'rep-app' &&
    typeof payload.id === 'object' &&
    payload.id !== null &&
    typeof payload.source === 'string' &&
    typeof payload.target === 'string'
  );
}

function idFromWire(wire: unknown): MessageId | undefined {
  if (!Array.isArray(wire) || wire.length !== 3) return undefined;
  const [origin, incarnation, sequence] = wire as unknown[];
  if (!isNodeId(origin) || !isCount(incarnation) || !isCount(sequence)) return undefined;
  return { origin, incarnation, sequence };
}

function entryToWire(entry: OrderEntry): unknown[] {
  const { input } = entry;
  return [
    entry.position,
    entry.epoch ?? null,
    input.type === 'message'
      ? input.sentEpoch === undefined || input.sentAt === undefined
        ? [input.source, input.channel]
        : [input.source, input.channel, input.sentEpoch, input.sentAt]
      : input,
    entry.values.map((value) =>
      value.name === undefined ? [value.kind, value.value] : [value.kind, value.value, value.name],
    ),
    entry.digest ?? null,
    entry.implied === true ? 1 : 0,
  ];
}

function valueFromWire(wire: unknown): SupervisedValue | undefined {
  if (!Array.isArray(wire) || wire.length < 2 || wire.length > 3) return undefined;
  const [kind, value, name] = wire as unknown[];
  if (typeof kind !== 'string') return undefined;
  if (wire.length === 2) return { kind: kind as SupervisedValue['kind'], value };
  return typeof name === 'string' ? { kind: kind as SupervisedValue['kind'], name, value } : undefined;
}

function entryFromWire(wire: unknown): OrderEntry | undefined {
  if (!Array.isArray(wire) || wire.length !== 6) return undefined;
  const [position, epoch, inputWire, valuesWire, digest, implied] = wire as unknown[];
  if (
    typeof position !== 'number' ||
    !(epoch === null || typeof epoch === 'number') ||
    !Array.isArray(valuesWire) ||
    !(digest === null || typeof digest === 'string') ||
    (implied !== 0 && implied !== 1)
  )
    return undefined;
  let input: OrderedInput;
  if (Array.isArray(inputWire)) {
    const [source, channel, sentEpoch, sentAt] = inputWire as unknown[];
    if (typeof source !== 'string' || typeof channel !== 'number') return undefined;
    if (inputWire.length === 2) input = { type: 'message', source, channel };
    else if (inputWire.length === 4 && typeof sentEpoch === 'number' && typeof sentAt === 'number')
      input = { type: 'message', source, channel, sentEpoch, sentAt };
    else return undefined;
  } else if (isOrderedInput(inputWire)) {
    input = inputWire as unknown as OrderedInput;
  } else return undefined;
  const values: SupervisedValue[] = [];
  for (const valueWire of valuesWire as unknown[]) {
    const value = valueFromWire(valueWire);
    if (value === undefined) return undefined;
    values.push(value);
  }
  // The usual entry (an epoch, no digest, not implied) as one literal: every member decodes one per
  // request, and spreading optional fields allocated a temporary object per field.
  if (epoch !== null && digest === null && implied === 0) return { position, epoch, input, values };
  return {
    position,
    ...(epoch === null ? {} : { epoch }),
    input,
    values,
    ...(digest === null ? {} : { digest }),
    ...(implied === 1 ? { implied: true } : {}),
  };
}

/** `order` or `relay` with its entries in (or out of) their wire form; undefined if malformed. */
function withEntries<T extends { readonly entries: readonly unknown[] }>(
  announcement: T,
  convert: (entry: never) => unknown,
): T | undefined {
  if (!Array.isArray(announcement.entries)) return undefined;
  const entries: unknown[] = [];
  for (const entry of announcement.entries) {
    const converted = convert(entry as never);
    if (converted === undefined) return undefined;
    entries.push(converted);
  }
  return { ...announcement, entries };
}

/** The wire tag's bytes, with the 1-byte header of the 12-element array that starts with it. */
const WIRE_TAG_AND_ARRAY_BYTES = 1 + stringBytes(APPLICATION_PAYLOAD_WIRE_TAG);

/**
 * The bytes of `payload`'s wire form (`applicationPayloadWireForm.toWire`) as the codec writes it,
 * at least, and never more than `encodedBytes` gives for the payload itself: the fixed fields are
 * counted one by one without building the array, and only the body is walked (`encodedBytes`).
 * Undefined when the body cannot be encoded (the group layer then finds out and says so itself).
 * The primary hands it to `multicast` as `bytes` with every output, so that the endpoint does not
 * walk the whole payload to size it (docs/benchmarks.md: that walk took about a sixth of a
 * primary's CPU time with 64 requests in flight).
 */
export function applicationPayloadWireBytes(payload: ApplicationPayload): number | undefined {
  const body = encodedBytes(payload.body);
  if (!body.ok) return undefined;
  const { id, inReplyTo, derived } = payload;
  return (
    WIRE_TAG_AND_ARRAY_BYTES +
    stringBytes(payload.source) +
    stringBytes(payload.target) +
    numberBytes(payload.channel) +
    body.bytes +
    numberBytes(payload.epoch) +
    numberBytes(payload.position) +
    numberBytes(id.sequence) +
    (id.origin === payload.source ? 1 : stringBytes(id.origin)) +
    numberBytes(id.incarnation) +
    (inReplyTo === undefined
      ? 1
      : 1 +
        stringBytes(inReplyTo.origin) +
        numberBytes(inReplyTo.incarnation) +
        numberBytes(inReplyTo.sequence)) +
    (derived === undefined ? 1 : 1 + numberBytes(derived.nowMs) + numberBytes(derived.seed))
  );
}

/** Bytes of one entry's wire form (`entryToWire`), or undefined if a value in it cannot be encoded. */
function entryWireBytes(entry: OrderEntry): number | undefined {
  const { input } = entry;
  // An array of six: its header, then the position and the epoch (nil when absent).
  let bytes = 1 + numberBytes(entry.position) + (entry.epoch === undefined ? 1 : numberBytes(entry.epoch));
  if (input.type === 'message') {
    bytes += 1 + stringBytes(input.source) + numberBytes(input.channel);
    if (input.sentEpoch !== undefined && input.sentAt !== undefined)
      bytes += numberBytes(input.sentEpoch) + numberBytes(input.sentAt);
  } else {
    const size = encodedBytes(input);
    if (!size.ok) return undefined;
    bytes += size.bytes;
  }
  bytes += containerHeaderBytes(entry.values.length);
  for (const value of entry.values) {
    const size = encodedBytes(value.value);
    if (!size.ok) return undefined;
    bytes +=
      1 + stringBytes(value.kind) + size.bytes + (value.name === undefined ? 0 : stringBytes(value.name));
  }
  // The digest (nil when absent), and `implied` as 0 or 1.
  return bytes + (entry.digest === undefined ? 1 : stringBytes(entry.digest)) + 1;
}

/**
 * A record's bytes as `encodedBytes` counts a map (`MAP_HEADER_BOUND`, then each key and value):
 * the values `counted` gives a number for are taken from it (undefined: cannot be encoded), the
 * others (null) walked.
 */
function recordWireBytes(
  record: object,
  counted: (key: string, value: unknown) => number | undefined | null,
): number | undefined {
  let bytes = MAP_HEADER_BOUND;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    const value = (record as Record<string, unknown>)[key];
    const own = counted(key, value);
    if (own === undefined) return undefined;
    let valueBytes = own;
    if (valueBytes === null) {
      const size = encodedBytes(value);
      if (!size.ok) return undefined;
      valueBytes = size.bytes;
    }
    bytes += stringBytes(key) + valueBytes;
  }
  return bytes;
}

/** An `order` or `relay` as `withEntries(…, entryToWire)` makes it: its entries as arrays. */
function announcementField(key: string, value: unknown): number | undefined | null {
  if (key !== 'entries' || !Array.isArray(value)) return null;
  let bytes = containerHeaderBytes(value.length);
  for (const entry of value as readonly OrderEntry[]) {
    const entryBytes = entryWireBytes(entry);
    if (entryBytes === undefined) return undefined;
    bytes += entryBytes;
  }
  return bytes;
}

/** `order` and `relay` under `rep` in their wire form; anything else is walked. */
function piggybackField(key: string, value: unknown): number | undefined | null {
  if ((key !== 'order' && key !== 'relay') || !isRecord(value)) return null;
  return recordWireBytes(value, announcementField);
}

/**
 * The bytes of what replication attaches under `rep` (`ReplicationPiggyback`) in its wire form
 * (`piggybackToWire`: the entries of `order` and `relay` as arrays), at least, and never more than
 * `encodedBytes` gives for the object: counted field by field for the entries, walked for the rest.
 * Undefined when a value in it cannot be encoded. The primary hands it to `attachPiggyback` as
 * `bytes` (every pass's announcements are sized once, where the endpoint walked them).
 */
export function replicationPiggybackWireBytes(piggyback: ReplicationPiggyback): number | undefined {
  return recordWireBytes(piggyback, piggybackField);
}

/** `encodedBytesBound` of an object's map header and of each of these keys. */
const MAP_HEADER_BOUND = 5;
const keyBound = (key: string): number => encodedBytesBound(key);
const PAYLOAD_KEYS_BOUND = ['type', 'id', 'source', 'target', 'channel', 'body', 'epoch', 'position']
  .map(keyBound)
  .reduce((sum, bytes) => sum + bytes, 0);
const ID_KEYS_BOUND = ['origin', 'incarnation', 'sequence']
  .map(keyBound)
  .reduce((sum, bytes) => sum + bytes, 0);
const IN_REPLY_TO_KEY_BOUND = keyBound('inReplyTo');
const DERIVED_KEY_BOUND = keyBound('derived');
const TYPE_VALUE_BOUND = encodedBytesBound('rep-app');

/**
 * `encodedBytesBound(payload)` for an output a replica makes (`applicationPayload`, its id a plain
 * `{ origin, incarnation, sequence }`), counted field by field: the payload's own keys and its id
 * are not walked, only the body, `inReplyTo` and `derived`. Every replica sizes every output it
 * makes with it (`sizeRefusal`), and the walk of the payload object was the largest single cost of
 * a backup's `emit` under load. `wire-form.test.ts` checks that it is the walk's number.
 */
export function applicationPayloadBytesBound(payload: ApplicationPayload): number {
  const { id, inReplyTo, derived } = payload;
  return (
    MAP_HEADER_BOUND +
    PAYLOAD_KEYS_BOUND +
    TYPE_VALUE_BOUND +
    (MAP_HEADER_BOUND +
      ID_KEYS_BOUND +
      encodedBytesBound(id.origin) +
      numberBytes(id.incarnation) +
      numberBytes(id.sequence)) +
    encodedBytesBound(payload.source) +
    encodedBytesBound(payload.target) +
    numberBytes(payload.channel) +
    encodedBytesBound(payload.body) +
    numberBytes(payload.epoch) +
    numberBytes(payload.position) +
    (inReplyTo === undefined ? 0 : IN_REPLY_TO_KEY_BOUND + encodedBytesBound(inReplyTo)) +
    (derived === undefined ? 0 : DERIVED_KEY_BOUND + encodedBytesBound(derived))
  );
}

/**
 * The `PayloadWireForm` the replica actor hands the group layer (`packetToEnvelope`,
 * `packetFromEnvelope`): application payloads as positional arrays, and the entries of `order` and
 * `relay` under `rep` as arrays too, as this file's opening comment lays out. Anything else passes
 * unchanged. A payload marked with `APPLICATION_PAYLOAD_WIRE_TAG`, or an `order` or `relay`, that
 * does not decode gives `MALFORMED_PAYLOAD`: the packet is dropped, and the replica counts it in
 * `packetsDropped`.
 */
export const applicationPayloadWireForm: PayloadWireForm = {
  piggybackToWire(piggyback: Piggyback): Piggyback {
    const rep = piggyback[REPLICATION_PIGGYBACK_KEY] as ReplicationPiggyback | undefined;
    if (rep === undefined || (rep.order === undefined && rep.relay === undefined)) return piggyback;
    const wire: Record<string, unknown> = { ...rep };
    if (rep.order !== undefined) wire.order = withEntries(rep.order, entryToWire);
    if (rep.relay !== undefined) wire.relay = withEntries(rep.relay, entryToWire);
    return { ...piggyback, [REPLICATION_PIGGYBACK_KEY]: wire };
  },
  piggybackFromWire(wire: Piggyback): Piggyback | typeof MALFORMED_PAYLOAD {
    const rep = wire[REPLICATION_PIGGYBACK_KEY];
    if (!isRecord(rep) || (rep.order === undefined && rep.relay === undefined)) return wire;
    const data: Record<string, unknown> = { ...rep };
    for (const field of ['order', 'relay'] as const) {
      const announcement = rep[field];
      if (announcement === undefined) continue;
      if (!isRecord(announcement)) return MALFORMED_PAYLOAD;
      const converted = withEntries(announcement as { entries: readonly unknown[] }, entryFromWire);
      if (converted === undefined) return MALFORMED_PAYLOAD;
      data[field] = converted;
    }
    return { ...wire, [REPLICATION_PIGGYBACK_KEY]: data };
  },
  toWire(payload) {
    if (!isApplicationPayloadShape(payload)) return payload;
    const { id, inReplyTo, derived } = payload;
    return [
      APPLICATION_PAYLOAD_WIRE_TAG,
      payload.source,
      payload.target,
      payload.channel,
      payload.body,
      payload.epoch,
      payload.position,
      id.sequence,
      id.origin === payload.source ? null : id.origin,
      id.incarnation,
      inReplyTo === undefined ? null : [inReplyTo.origin, inReplyTo.incarnation, inReplyTo.sequence],
      derived === undefined ? null : [derived.nowMs, derived.seed],
    ];
  },
  fromWire(wire) {
    if (!Array.isArray(wire) || wire[0] !== APPLICATION_PAYLOAD_WIRE_TAG) return wire;
    if (wire.length !== FIELDS) return MALFORMED_PAYLOAD;
    const [
      ,
      source,
      target,
      channel,
      body,
      epoch,
      position,
      sequence,
      origin,
      incarnation,
      inReply,
      derivedWire,
    ] = wire as unknown[];
    if (
      typeof source !== 'string' ||
      typeof target !== 'string' ||
      typeof channel !== 'number' ||
      typeof epoch !== 'number' ||
      typeof position !== 'number' ||
      !isCount(sequence) ||
      !isCount(incarnation)
    )
      return MALFORMED_PAYLOAD;
    const idOrigin = origin === null ? source : origin;
    if (!isNodeId(idOrigin)) return MALFORMED_PAYLOAD;
    let inReplyTo: MessageId | undefined;
    if (inReply !== null) {
      inReplyTo = idFromWire(inReply);
      if (inReplyTo === undefined) return MALFORMED_PAYLOAD;
    }
    let derived: ApplicationPayload['derived'];
    if (derivedWire !== null) {
      if (!Array.isArray(derivedWire) || derivedWire.length !== 2) return MALFORMED_PAYLOAD;
      const [nowMs, seed] = derivedWire as unknown[];
      if (typeof nowMs !== 'number' || typeof seed !== 'number') return MALFORMED_PAYLOAD;
      derived = { nowMs, seed };
    }
    const id = { origin: idOrigin, incarnation, sequence };
    return applicationPayload(id, source, target, channel, body, epoch, position, inReplyTo, derived);
  },
};
