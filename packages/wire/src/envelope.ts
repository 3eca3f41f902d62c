/**
 * Envelopes: what travels between actors.
 *
 * The five kinds are those of the order-announcement protocol (seed 001, claim 3): synchronous
 * request and reply, asynchronous request and reply, and one-way. Replies name the request they
 * answer. Every envelope has a `header` slot where protocol layers piggyback their own data
 * (order announcements, acknowledgements, heartbeats) on messages that are sent anyway.
 */
import type { Address, MessageId } from './ids.js';

/** Protocol data riding on an envelope, keyed by protocol name (`'order'`, `'fd'`, ...). */
export type EnvelopeHeader = Readonly<Record<string, unknown>>;

interface EnvelopeCommon<Body> {
  readonly id: MessageId;
  readonly source: Address;
  readonly target: Address;
  readonly header?: EnvelopeHeader;
  readonly body: Body;
}

/** A request whose sender waits for the reply before it goes on. */
export interface SyncRequest<Body = unknown> extends EnvelopeCommon<Body> {
  readonly kind: 'sync-request';
}
/** The reply to a `SyncRequest`. */
export interface SyncReply<Body = unknown> extends EnvelopeCommon<Body> {
  readonly kind: 'sync-reply';
  readonly inReplyTo: MessageId;
}
/** A request whose sender goes on; the reply arrives later as an ordinary message. */
export interface AsyncRequest<Body = unknown> extends EnvelopeCommon<Body> {
  readonly kind: 'async-request';
}
/** The reply to an `AsyncRequest`. */
export interface AsyncReply<Body = unknown> extends EnvelopeCommon<Body> {
  readonly kind: 'async-reply';
  readonly inReplyTo: MessageId;
}
/** A message that expects no reply. */
export interface OneWay<Body = unknown> extends EnvelopeCommon<Body> {
  readonly kind: 'one-way';
}

/**
 * Everything that travels between actors: one of the five kinds, told apart by `kind`. Every
 * envelope carries its `id`, `source` and `target` addresses, an optional `header` and its `body`;
 * replies also name the request they answer in `inReplyTo`.
 */
export type Envelope<Body = unknown> =
  SyncRequest<Body> | SyncReply<Body> | AsyncRequest<Body> | AsyncReply<Body> | OneWay<Body>;

/** The `kind` of an envelope; each has one number in `WireTag`. */
export type EnvelopeKind = Envelope['kind'];
/** Either kind of reply: both carry `inReplyTo`. */
export type Reply<Body = unknown> = SyncReply<Body> | AsyncReply<Body>;
/** Either kind of request: the envelopes a receiver is expected to answer. */
export type Request<Body = unknown> = SyncRequest<Body> | AsyncRequest<Body>;

/** Whether an envelope is a reply (sync or async), so it has `inReplyTo`. */
export function isReply(envelope: Envelope): envelope is Reply {
  return envelope.kind === 'sync-reply' || envelope.kind === 'async-reply';
}

/** Whether an envelope is a request (sync or async) that expects a reply. */
export function isRequest(envelope: Envelope): envelope is Request {
  return envelope.kind === 'sync-request' || envelope.kind === 'async-request';
}

/**
 * Wire tags: one number per frame kind. Append-only: a tag, once shipped, is never reused or
 * renumbered, so that an old node reading a new tag reports `unknown-tag` instead of misreading it.
 */
export const WireTag = {
  syncRequest: 1,
  syncReply: 2,
  asyncRequest: 3,
  asyncReply: 4,
  oneWay: 5,
} as const;
export type WireTag = (typeof WireTag)[keyof typeof WireTag];

/** The wire tag of each envelope kind, written into byte 1 of a frame (see docs/wire.md, tag table). */
export const tagOfKind: Readonly<Record<EnvelopeKind, WireTag>> = {
  'sync-request': WireTag.syncRequest,
  'sync-reply': WireTag.syncReply,
  'async-request': WireTag.asyncRequest,
  'async-reply': WireTag.asyncReply,
  'one-way': WireTag.oneWay,
};

/**
 * The envelope kind of each wire tag, the inverse of `tagOfKind`; a tag missing here is reported
 * by the codec as `unknown-tag`.
 */
export const kindOfTag: ReadonlyMap<number, EnvelopeKind> = new Map(
  Object.entries(tagOfKind).map(([kind, tag]) => [tag, kind as EnvelopeKind]),
);

/** Exhaustiveness check for `switch` statements over discriminated unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
