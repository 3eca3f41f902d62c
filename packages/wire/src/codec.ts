/**
 * The authenticated frame codec: turns an `Envelope` into one self-contained, signed datagram and back.
 *
 * Frame layout (every UDP datagram is exactly one frame and decodes on its own):
 *   [version u8][tag u8][key id u8][MAC 32 bytes: HMAC-SHA256][body: msgpack]
 *
 * The MAC covers version, tag, key id and body, so a frame altered in any byte is rejected before its
 * body is parsed: msgpack only ever sees bytes that a key holder produced. Decoding never throws,
 * whatever the bytes, because a datagram is untrusted input and a bad one is an operating error
 * (a typed `DecodeError`), not a programmer error. Encoding never throws either: an envelope that
 * cannot travel comes back as a typed `EncodeError`. Only `createCodec` throws, for bad options.
 * docs/wire.md describes the format byte by byte.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { Packr, RESET_BUFFER_MODE } from 'msgpackr';
import { kindOfTag, tagOfKind, type Envelope, type EnvelopeKind } from './envelope.js';
import { isAddress, isNodeId, type MessageId, type NodeId, type Address } from './ids.js';

/**
 * The version byte that opens every frame. A change to the body layout of an existing kind needs a
 * new version; `decode` rejects any other version as `bad-version`.
 */
export const FRAME_VERSION = 1;
/** Bytes before the body: version, tag and key id (one byte each), then the 32-byte MAC. */
export const FRAME_HEADER_BYTES = 3 + 32;
/** The largest UDP payload over IPv4 (65,535 - 20 IP - 8 UDP): the upper bound of `maxFrameBytes`. */
export const MAX_DATAGRAM_BYTES = 65_507;
/** The `maxFrameBytes` of a codec whose options give none. */
export const DEFAULT_MAX_FRAME_BYTES = 16_384;

/** Bytes of the HMAC-SHA256 tag that follows the three leading header bytes. */
export const FRAME_MAC_BYTES = 32;
/** Shortest key accepted: HMAC keys shorter than this are too easy to guess. */
export const MIN_KEY_BYTES = 16;
/** Largest key id: the id travels in one byte. */
export const MAX_KEY_ID = 255;

/**
 * Why `decode` rejected a frame. The `reason` is the stable part, to count and switch on; `detail`
 * is for logs and traces. docs/wire.md lists the checks in the order they run.
 */
export type DecodeError =
  | { readonly reason: 'bad-version'; readonly detail: string }
  | { readonly reason: 'unknown-key'; readonly detail: string }
  | { readonly reason: 'bad-mac'; readonly detail: string }
  | { readonly reason: 'oversize'; readonly detail: string }
  | { readonly reason: 'unknown-tag'; readonly detail: string }
  | { readonly reason: 'malformed'; readonly detail: string };
/** The reasons `decode` can reject a frame for. */
export type DecodeErrorReason = DecodeError['reason'];

/**
 * Why `encode` could not produce a frame: `oversize` when the frame would exceed `maxFrameBytes`,
 * `unencodable` when the envelope has a shape `decode` would reject or msgpackr cannot encode the
 * body; `detail` names the problem.
 */
export type EncodeError = { readonly reason: 'oversize' | 'unencodable'; readonly detail: string };
/** The reasons `encode` can fail for. */
export type EncodeErrorReason = EncodeError['reason'];

/** What `Codec.decode` gives: the envelope a frame carries, or why the frame was rejected. */
export type DecodeResult =
  { readonly ok: true; readonly envelope: Envelope } | { readonly ok: false; readonly error: DecodeError };
/** What `Codec.encode` gives: the signed frame, ready to send as one datagram, or why there is none. */
export type EncodeResult =
  { readonly ok: true; readonly frame: Uint8Array } | { readonly ok: false; readonly error: EncodeError };

/** Options of `createCodec`; `createCodec` throws for values outside the bounds given here. */
export interface CodecOptions {
  /** Cluster keys by id (0-255); at least one. Several allow key rotation. */
  readonly keys: ReadonlyMap<number, Uint8Array>;
  /** The key id used to sign outgoing frames. */
  readonly activeKeyId: number;
  /** Largest frame accepted or produced, header included; at most MAX_DATAGRAM_BYTES. */
  readonly maxFrameBytes?: number;
}

/**
 * Bodies already packed in one batch of frames, by identity. A multicast sends the same body to
 * every member of a connection, each in its own frame (the target differs, so the frame and its
 * MAC do too); with a memo the body is packed once for all of them. A memo is only sound while
 * none of its bodies can change, so it lives for one batch of frames encoded back to back, with
 * no other code running in between (the node makes one per batch of sends an actor step produced).
 */
export interface EncodeMemo {
  readonly bodies: Map<unknown, Uint8Array>;
}

/** A fresh, empty memo for one batch of `encode` calls; see `EncodeMemo` for how long it may live. */
export function encodeMemo(): EncodeMemo {
  return { bodies: new Map() };
}

/**
 * One cluster's frame codec, made by `createCodec`: signs and frames envelopes with the active key,
 * and checks and unpacks frames signed with any of its keys. Neither method throws.
 */
export interface Codec {
  /** Largest frame this codec produces or accepts, header included. */
  readonly maxFrameBytes: number;
  /**
   * Signs and frames an envelope. Never throws: problems come back as `{ ok: false }`. With a
   * `memo`, an object body packed earlier in the same batch is not packed again; the frame is the
   * same byte for byte.
   */
  encode(envelope: Envelope, memo?: EncodeMemo): EncodeResult;
  /** Checks and unpacks one frame. Never throws, whatever the bytes. */
  decode(frame: Uint8Array): DecodeResult;
}

/** The wire form of a `MessageId`: `[origin, incarnation, sequence]`. */
type WireMessageId = readonly [origin: unknown, incarnation: unknown, sequence: unknown];

/**
 * The body of a frame: the envelope's fields in a fixed order, without names, so a small message
 * stays small. The kind is not repeated here: it travels in the tag byte.
 *   [id, source, target, header | null, body]              for requests and one-way messages
 *   [id, source, target, header | null, body, inReplyTo]   for replies
 */
const FIELDS_REQUEST = 5;
const FIELDS_REPLY = 6;
/** Where the body sits among the fields. */
const BODY_FIELD = 4;

/**
 * Creates a codec for one cluster's keys. Throws `TypeError` or `RangeError` for options that no
 * running system should have: no keys, a missing active key, a short key, an impossible frame size.
 */
export function createCodec(options: CodecOptions): Codec {
  const { keys, activeKeyId, activeKey, maxFrameBytes } = checkOptions(options);
  // No records and no shared structures: every datagram must decode on its own, in any order,
  // on a node that has seen none of the earlier ones. `moreTypes` keeps typed arrays, sets, errors
  // and large bigints intact; without it msgpackr 2.1.3 writes a Float32Array or Uint16Array as a
  // byte string of the right length whose bytes are its elements truncated to bytes followed by
  // stale bytes of msgpackr's shared buffer, which would leak earlier frames' data onto the wire.
  // Binary data is copied out of the frame so a decoded envelope never aliases a receive buffer
  // that the transport may reuse.
  const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: true, copyBuffers: true });

  function encode(envelope: Envelope, memo?: EncodeMemo): EncodeResult {
    let shaped: ReturnType<typeof envelopeFields>;
    try {
      shaped = envelopeFields(envelope);
    } catch (error) {
      // Only an envelope with throwing getters gets here; it is reported like any other bad envelope.
      return unencodable(`could not read the envelope: ${describe(error)}`);
    }
    if (typeof shaped === 'string') return unencodable(shaped);
    const { tag, fields } = shaped;
    // The body in one or more parts, written one after the other into the frame: a part may be a
    // view of msgpackr's buffer, valid until its next pack, so they are copied at once.
    let parts: readonly Uint8Array[];
    try {
      parts = memo === undefined ? [packr.pack(fields, RESET_BUFFER_MODE)] : packedWithMemo(fields, memo);
    } catch (error) {
      return unencodable(`msgpack could not encode the envelope: ${describe(error)}`);
    }
    let bodyBytes = 0;
    for (const part of parts) bodyBytes += part.length;
    const frameBytes = FRAME_HEADER_BYTES + bodyBytes;
    if (frameBytes > maxFrameBytes) {
      return {
        ok: false,
        error: {
          reason: 'oversize',
          detail: `frame of ${frameBytes} bytes exceeds maxFrameBytes ${maxFrameBytes}`,
        },
      };
    }
    const frame = new Uint8Array(frameBytes);
    frame[0] = FRAME_VERSION;
    frame[1] = tag;
    frame[2] = activeKeyId;
    let offset = FRAME_HEADER_BYTES;
    for (const part of parts) {
      frame.set(part, offset);
      offset += part.length;
    }
    frame.set(computeMac(activeKey, frame), 3);
    return { ok: true, frame };
  }

  /**
   * The same bytes as `packr.pack(fields)`, in parts: a msgpack array is its header followed by
   * its elements, each encoded on its own (no records, no shared structures), so the fields around
   * the body are packed as a shorter array whose header is rewritten, and the body's bytes come
   * from the memo. The parts go straight into the frame (a body of a few kilobytes was copied
   * twice per member before: into the packed fields, then into the frame).
   */
  function packedWithMemo(fields: readonly unknown[], memo: EncodeMemo): readonly Uint8Array[] {
    const payload = fields[BODY_FIELD];
    if (typeof payload !== 'object' || payload === null) return [packr.pack(fields, RESET_BUFFER_MODE)];
    let payloadBytes = memo.bodies.get(payload);
    if (payloadBytes === undefined) {
      // Copied: msgpackr returns a view of a buffer that later packs may write over.
      payloadBytes = Uint8Array.from(packr.pack(payload, RESET_BUFFER_MODE));
      memo.bodies.set(payload, payloadBytes);
    }
    // Each pack below writes over the previous one's bytes (RESET_BUFFER_MODE), so the reply's
    // trailing field is copied out before the leading fields are packed.
    const after =
      fields.length > BODY_FIELD + 1
        ? Uint8Array.from(packr.pack(fields[BODY_FIELD + 1], RESET_BUFFER_MODE))
        : undefined;
    const before = packr.pack(fields.slice(0, BODY_FIELD), RESET_BUFFER_MODE);
    // fixarray headers: 0x90 | count; envelopes have 5 or 6 fields, so `before` has 5 elements at
    // most. Rewritten in msgpackr's buffer, which is scratch until the caller copies the parts.
    before[0] = 0x90 | fields.length;
    return after === undefined ? [before, payloadBytes] : [before, payloadBytes, after];
  }

  function decode(frame: Uint8Array): DecodeResult {
    try {
      return decodeChecked(frame);
    } catch (error) {
      // Every step below is written not to throw; this is the last line of the "never throws" promise.
      return malformed(`unexpected failure while decoding: ${describe(error)}`);
    }
  }

  function decodeChecked(frame: Uint8Array): DecodeResult {
    if (!(frame instanceof Uint8Array)) return malformed('frame is not a Uint8Array');
    if (frame.length > maxFrameBytes) {
      return rejected('oversize', `frame of ${frame.length} bytes exceeds maxFrameBytes ${maxFrameBytes}`);
    }
    if (frame.length < FRAME_HEADER_BYTES) {
      return malformed(
        `frame of ${frame.length} bytes is shorter than the ${FRAME_HEADER_BYTES}-byte header`,
      );
    }
    const version = frame[0]!;
    if (version !== FRAME_VERSION) {
      return rejected('bad-version', `frame version ${version}, expected ${FRAME_VERSION}`);
    }
    const keyId = frame[2]!;
    const key = keys.get(keyId);
    if (key === undefined) return rejected('unknown-key', `key id ${keyId} is not among this node's keys`);
    const mac = frame.subarray(3, FRAME_HEADER_BYTES);
    if (!timingSafeEqual(computeMac(key, frame), mac)) {
      return rejected('bad-mac', `MAC does not match key id ${keyId}`);
    }
    // The tag is checked after the MAC so that an unknown tag is known to come from a key holder
    // (a newer node), not from line noise.
    const tag = frame[1]!;
    const kind = kindOfTag.get(tag);
    if (kind === undefined) return rejected('unknown-tag', `tag ${tag} names no envelope kind`);
    let fields: unknown;
    try {
      fields = packr.unpack(frame.subarray(FRAME_HEADER_BYTES));
    } catch (error) {
      return malformed(`body is not one msgpack value: ${describe(error)}`);
    }
    const problem = checkFields(kind, fields);
    if (problem !== undefined) return malformed(problem);
    return { ok: true, envelope: envelopeOf(kind, fields as readonly unknown[]) };
  }

  return { maxFrameBytes, encode, decode };
}

interface CheckedOptions {
  readonly keys: ReadonlyMap<number, KeyObject>;
  readonly activeKeyId: number;
  readonly activeKey: KeyObject;
  readonly maxFrameBytes: number;
}

function checkOptions(options: CodecOptions): CheckedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('codec options must be an object');
  const { keys, activeKeyId, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES } = options;
  if (!(keys instanceof Map)) throw new TypeError('codec keys must be a Map from key id to key bytes');
  if (keys.size === 0) throw new RangeError('codec keys must hold at least one key');
  // Keys are copied into KeyObjects so that a caller reusing its buffers cannot change them later.
  const keyObjects = new Map<number, KeyObject>();
  for (const [id, key] of keys) {
    if (!isKeyId(id)) throw new RangeError(`key id ${String(id)} must be an integer in [0, ${MAX_KEY_ID}]`);
    if (!(key instanceof Uint8Array)) throw new TypeError(`key ${id} must be a Uint8Array`);
    if (key.length < MIN_KEY_BYTES) {
      throw new RangeError(`key ${id} has ${key.length} bytes; keys need at least ${MIN_KEY_BYTES}`);
    }
    keyObjects.set(id, createSecretKey(Uint8Array.from(key)));
  }
  if (!isKeyId(activeKeyId)) {
    throw new RangeError(`activeKeyId ${String(activeKeyId)} must be an integer in [0, ${MAX_KEY_ID}]`);
  }
  const activeKey = keyObjects.get(activeKeyId);
  if (activeKey === undefined) throw new RangeError(`activeKeyId ${activeKeyId} is not among the keys`);
  if (
    !Number.isInteger(maxFrameBytes) ||
    maxFrameBytes < FRAME_HEADER_BYTES + 1 ||
    maxFrameBytes > MAX_DATAGRAM_BYTES
  ) {
    throw new RangeError(
      `maxFrameBytes ${String(maxFrameBytes)} must be an integer in [${FRAME_HEADER_BYTES + 1}, ${MAX_DATAGRAM_BYTES}]`,
    );
  }
  return { keys: keyObjects, activeKeyId, activeKey, maxFrameBytes };
}

function isKeyId(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_KEY_ID;
}

/** HMAC-SHA256 over version, tag and key id (bytes 0-2) followed by the body (bytes 35 on). */
function computeMac(key: KeyObject, frame: Uint8Array): Buffer {
  return createHmac('sha256', key)
    .update(frame.subarray(0, 3))
    .update(frame.subarray(FRAME_HEADER_BYTES))
    .digest();
}

/**
 * The tag and wire fields of an envelope, or a detail naming what is wrong with it. Encoding runs
 * the same field checks as decoding, so every frame `encode` produces is one `decode` accepts.
 */
function envelopeFields(envelope: Envelope): { tag: number; fields: unknown[] } | string {
  if (typeof envelope !== 'object' || envelope === null) return 'envelope is not an object';
  const kind: unknown = envelope.kind;
  const tag =
    typeof kind === 'string' && Object.hasOwn(tagOfKind, kind) ? tagOfKind[kind as EnvelopeKind] : undefined;
  if (tag === undefined) {
    return `kind ${typeof kind === 'string' ? JSON.stringify(kind) : `of type ${typeof kind}`} is not an envelope kind`;
  }
  const fields: unknown[] = [
    wireMessageId(envelope.id),
    envelope.source,
    envelope.target,
    envelope.header ?? null,
    envelope.body,
  ];
  if (envelope.kind === 'sync-reply' || envelope.kind === 'async-reply') {
    fields.push(wireMessageId(envelope.inReplyTo));
  }
  return checkFields(envelope.kind, fields) ?? { tag, fields };
}

function wireMessageId(id: MessageId | undefined): WireMessageId | undefined {
  if (typeof id !== 'object' || id === null) return undefined;
  return [id.origin, id.incarnation, id.sequence];
}

/** Undefined when `fields` has exactly the wire shape of `kind`; otherwise a detail naming the field. */
function checkFields(kind: EnvelopeKind, fields: unknown): string | undefined {
  const reply = isReplyKind(kind);
  const count = reply ? FIELDS_REPLY : FIELDS_REQUEST;
  if (!Array.isArray(fields)) return `body is not an array of ${count} fields`;
  if (fields.length !== count) return `body has ${fields.length} fields, ${kind} needs ${count}`;
  const [id, source, target, header, , inReplyTo] = fields as unknown[];
  return (
    checkMessageId(id, 'id') ??
    (isAddress(source) ? undefined : 'source is not an address (node/actor)') ??
    (isAddress(target) ? undefined : 'target is not an address (node/actor)') ??
    (header === null || isPlainObject(header) ? undefined : 'header is neither null nor a plain object') ??
    (reply ? checkMessageId(inReplyTo, 'inReplyTo') : undefined)
  );
}

function checkMessageId(value: unknown, field: string): string | undefined {
  if (!Array.isArray(value) || value.length !== 3) {
    return `${field} is not an [origin, incarnation, sequence] triple`;
  }
  const [origin, incarnation, sequence] = value as unknown[];
  if (!isNodeId(origin)) return `${field}.origin is not a node id`;
  if (!isCount(incarnation)) return `${field}.incarnation is not a non-negative safe integer`;
  if (!isCount(sequence)) return `${field}.sequence is not a non-negative safe integer`;
  return undefined;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function isReplyKind(kind: EnvelopeKind): kind is 'sync-reply' | 'async-reply' {
  return kind === 'sync-reply' || kind === 'async-reply';
}

/** Builds the typed envelope from fields that `checkFields` accepted. */
function envelopeOf(kind: EnvelopeKind, fields: readonly unknown[]): Envelope {
  const [id, source, target, header, body, inReplyTo] = fields;
  const common = {
    id: messageIdOf(id as WireMessageId),
    source: source as Address,
    target: target as Address,
    ...(header === null ? {} : { header: header as Record<string, unknown> }),
    body,
  };
  if (isReplyKind(kind)) return { kind, ...common, inReplyTo: messageIdOf(inReplyTo as WireMessageId) };
  return { kind, ...common };
}

function messageIdOf(wire: WireMessageId): MessageId {
  return { origin: wire[0] as NodeId, incarnation: wire[1] as number, sequence: wire[2] as number };
}

function rejected(reason: DecodeError['reason'], detail: string): DecodeResult {
  return { ok: false, error: { reason, detail } };
}

function malformed(detail: string): DecodeResult {
  return rejected('malformed', detail);
}

function unencodable(detail: string): EncodeResult {
  return { ok: false, error: { reason: 'unencodable', detail } };
}

/** A short description of anything thrown, for error details; never throws itself. */
function describe(error: unknown): string {
  try {
    const text = error instanceof Error ? error.message : String(error);
    return text.length > 200 ? `${text.slice(0, 200)}...` : text;
  } catch {
    return 'unprintable error';
  }
}
