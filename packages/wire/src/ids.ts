/**
 * Identities of nodes, actors and messages.
 *
 * Ids are branded strings so that a node id can never be passed where an actor id is expected.
 * A `MessageId` names its origin node, that node's incarnation and a sequence number: a node
 * that restarts takes a higher incarnation (see `@steadfast/runtime` `Node`), so ids stay unique
 * across restarts without any coordination.
 */

declare const brand: unique symbol;
/** A nominal type: `T` tagged with `Name` so structurally equal ids do not mix. */
export type Brand<T, Name extends string> = T & { readonly [brand]: Name };

/** The name of a node (a process, or a simulated process). Non-empty, no `/` or `:`. */
export type NodeId = Brand<string, 'NodeId'>;
/** The name of an actor, unique within its node. Non-empty, no `/`. */
export type ActorId = Brand<string, 'ActorId'>;
/** Where a message goes: `node/actor`. */
export type Address = Brand<string, 'Address'>;

const nodeIdPattern = /^[A-Za-z0-9._-]{1,64}$/;
const actorIdPattern = /^[A-Za-z0-9._:@-]{1,128}$/;

/** Thrown for a malformed id: a programmer error, since ids come from configuration and code. */
export class InvalidIdError extends Error {
  override readonly name = 'InvalidIdError';
}

/**
 * The one name the pattern allows that no node may have: node ids key records that travel in
 * msgpack, and msgpackr's decoder renames a `__proto__` key (to `__proto_`, so that decoding cannot
 * set an object's prototype), so such a node's acknowledgements, votes and client entries would
 * arrive under another name.
 */
const RESERVED_NODE_ID = '__proto__';

/** Whether `value` is a node id as `nodeId` accepts it (for checking input without a throw). */
export function isNodeId(value: unknown): value is NodeId {
  return typeof value === 'string' && nodeIdPattern.test(value) && value !== RESERVED_NODE_ID;
}

/**
 * Checks and brands a node id: 1-64 of `[A-Za-z0-9._-]`, and not `__proto__`. Throws
 * `InvalidIdError` otherwise, since node ids come from configuration and code; use `isNodeId` to
 * check untrusted input.
 */
export function nodeId(value: string): NodeId {
  if (!nodeIdPattern.test(value)) {
    throw new InvalidIdError(`invalid node id ${JSON.stringify(value)}: use 1-64 of [A-Za-z0-9._-]`);
  }
  if (value === RESERVED_NODE_ID) {
    throw new InvalidIdError(
      `invalid node id "__proto__": reserved, because msgpack decoders rename that key (pick another name)`,
    );
  }
  return value as NodeId;
}

/** Checks and brands an actor id: 1-128 of `[A-Za-z0-9._:@-]`; throws `InvalidIdError` otherwise. */
export function actorId(value: string): ActorId {
  if (!actorIdPattern.test(value)) {
    throw new InvalidIdError(`invalid actor id ${JSON.stringify(value)}: use 1-128 of [A-Za-z0-9._:@-]`);
  }
  return value as ActorId;
}

/**
 * The address `node/actor` of an actor, checking both parts as `nodeId` and `actorId` do (so it
 * throws `InvalidIdError` on a malformed one).
 */
export function address(node: NodeId | string, actor: ActorId | string): Address {
  return `${nodeId(node)}/${actorId(actor)}` as Address;
}

/**
 * Whether `value` is a well-formed `node/actor` address, without a throw: the codec judges the
 * source and target of every decoded frame with it.
 */
export function isAddress(value: unknown): value is Address {
  if (typeof value !== 'string') return false;
  const slash = value.indexOf('/');
  if (slash <= 0) return false;
  return nodeIdPattern.test(value.slice(0, slash)) && actorIdPattern.test(value.slice(slash + 1));
}

/** Splits an address into its node and actor; throws `InvalidIdError` on a malformed one. */
export function parseAddress(value: string): { node: NodeId; actor: ActorId } {
  const slash = value.indexOf('/');
  if (slash <= 0) throw new InvalidIdError(`invalid address ${JSON.stringify(value)}: expected node/actor`);
  return { node: nodeId(value.slice(0, slash)), actor: actorId(value.slice(slash + 1)) };
}

/** The node part of an address (no check: an `Address` is well-formed by construction). */
export function addressNode(value: Address): NodeId {
  return value.slice(0, value.indexOf('/')) as NodeId;
}

/** The actor part of an address (no check: an `Address` is well-formed by construction). */
export function addressActor(value: Address): ActorId {
  return value.slice(value.indexOf('/') + 1) as ActorId;
}

/**
 * A message's identity: unique across the cluster and across restarts, because a node's
 * incarnation grows each time it starts and its sequence grows with each message it sends.
 */
export interface MessageId {
  readonly origin: NodeId;
  readonly incarnation: number;
  readonly sequence: number;
}

/** A compact string form of a `MessageId`, for maps and logs: `origin:incarnation:sequence`. */
export function messageKey(id: MessageId): string {
  return `${id.origin}:${id.incarnation}:${id.sequence}`;
}

/**
 * Whether `value` is a `MessageId` in its object form, without a throw: a node id as origin and
 * non-negative safe integers as incarnation and sequence. For ids inside decoded control data
 * (the codec checks envelopes' ids in their own wire form).
 */
export function isMessageId(value: unknown): value is MessageId {
  if (typeof value !== 'object' || value === null) return false;
  const { origin, incarnation, sequence } = value as Partial<Record<keyof MessageId, unknown>>;
  return isNodeId(origin) && isCountValue(incarnation) && isCountValue(sequence);
}

function isCountValue(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Whether two ids name the same message: equal origin, incarnation and sequence. */
export function sameMessageId(a: MessageId, b: MessageId): boolean {
  return a.origin === b.origin && a.incarnation === b.incarnation && a.sequence === b.sequence;
}

/** Orders ids by origin, then incarnation, then sequence: a total order for deterministic iteration. */
export function compareMessageIds(a: MessageId, b: MessageId): number {
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1;
  if (a.incarnation !== b.incarnation) return a.incarnation - b.incarnation;
  return a.sequence - b.sequence;
}
