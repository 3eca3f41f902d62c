/**
 * How many bytes a value takes in a frame, at most: a safe upper bound of what the wire codec's
 * msgpack writer (msgpackr, no records, `moreTypes`) produces for it. The endpoint sizes every data
 * message with it before accepting it, so a message that could never fit in one frame is refused
 * with a typed error instead of being dropped by the node at every send and retransmission, which
 * would hold back everything its sender multicast after it (delivery is in order).
 *
 * Why a walk and not the encoder itself: `@steadfast/group` does not depend on msgpackr, and
 * packing (or framing, with its MAC) every message a second time only to learn its length would
 * allocate and copy on the hot path. The walk allocates nothing. It is exact for what payloads are
 * made of (null, booleans, numbers, strings, arrays, plain objects, maps) and generous for the
 * rarer extension types (dates, sets, errors, regular expressions, binary data); the property test
 * in `size.test.ts` checks it against the codec.
 */
import { utf8Bytes } from '@steadfast/wire';

/** Nesting deeper than this is reported as unencodable: it also stops the walk on a cyclic value. */
export const ENCODED_DEPTH_MAX = 512;

/**
 * What `encodedBytes` says: an upper bound of a value's bytes on the wire, or why the value cannot
 * travel (a symbol, a cycle or nesting deeper than `ENCODED_DEPTH_MAX`, a throwing getter).
 */
export type EncodedSize =
  { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly detail: string };

/** An upper bound of `value`'s msgpack bytes on the wire, or why it cannot travel at all. */
export function encodedBytes(value: unknown): EncodedSize {
  try {
    return { ok: true, bytes: sizeOf(value, 0) };
  } catch (error) {
    // A throwing getter or `toJSON` ends up here too: whatever cannot be read cannot be sent.
    return { ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * A quick upper bound of `encodedBytes(value).bytes` for the plain data payloads are made of (null,
 * booleans, numbers, strings, arrays, plain objects), or `Infinity` for anything else (the caller
 * then asks `encodedBytes`). Strings are bounded by their length, 3 bytes per UTF-16 unit (a
 * surrogate pair is 4 bytes for 2 units), so it never reads their characters: reading them would
 * flatten a string built by concatenation, an allocation the encoder would make only if the value
 * is ever sent. For a check that most values pass far below the bound (`sizeRefusal`).
 */
export function encodedBytesBound(value: unknown, depth = 0): number {
  switch (typeof value) {
    case 'string': {
      const bytes = value.length * 3;
      return stringHeaderBytes(bytes) + bytes;
    }
    case 'number':
      return numberBytes(value);
    case 'boolean':
      return 1;
    case 'undefined':
      return 3;
    case 'object': {
      if (value === null) return 1;
      if (depth >= ENCODED_DEPTH_MAX) return Infinity;
      if (Array.isArray(value)) {
        let bytes = containerHeaderBytes(value.length);
        for (const item of value as unknown[]) bytes += encodedBytesBound(item, depth + 1);
        return bytes;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return Infinity;
      let bytes = 5;
      for (const key in value)
        if (Object.hasOwn(value, key))
          bytes +=
            stringHeaderBytes(key.length * 3) +
            key.length * 3 +
            encodedBytesBound((value as Record<string, unknown>)[key], depth + 1);
      return bytes;
    }
    default:
      return Infinity;
  }
}

/** Bytes of a msgpack header for a string or binary of `length` bytes (fixstr/str8/str16/str32). */
function stringHeaderBytes(length: number): number {
  if (length < 0x20) return 1;
  if (length < 0x100) return 2;
  if (length < 0x10000) return 3;
  return 5;
}

/** Bytes of an array or map header for `count` items (fixarray/array16/array32). */
export function containerHeaderBytes(count: number): number {
  if (count < 0x10) return 1;
  if (count < 0x10000) return 3;
  return 5;
}

/** UTF-8 length of a string, as the encoder writes it (a lone surrogate takes 3 bytes). */
export { utf8Bytes };

/**
 * The bytes the encoder writes for a string: its header and its UTF-8. Exact; `encodedBytes` of a
 * string without the result object, for a layer above that sizes a wire form of its own field by
 * field (`PayloadWireForm`, and the `bytes` a `multicast` may be given).
 */
export function stringBytes(text: string): number {
  const length = utf8Bytes(text);
  return stringHeaderBytes(length) + length;
}

/**
 * The bytes the encoder writes for a number: 1 for small integers, then 2, 3 or 5; anything else is
 * a float64 (9). Exact; see `stringBytes`.
 */
export function numberBytes(value: number): number {
  if (value >>> 0 === value) {
    if (value < 0x80) return 1;
    if (value < 0x100) return 2;
    if (value < 0x10000) return 3;
    return 5;
  }
  if (value >> 0 === value) {
    if (value >= -0x20) return 1;
    if (value >= -0x80) return 2;
    if (value >= -0x8000) return 3;
    return 5;
  }
  return 9;
}

function bigintBytes(value: bigint): number {
  if (value < 0x10000000000000000n && value >= -0x8000000000000000n) return 9;
  // Larger ones travel as an extension holding their two's-complement bytes.
  const magnitude = value < 0n ? -value : value;
  return 8 + Math.ceil((magnitude.toString(16).length + 2) / 2);
}

function sizeOf(value: unknown, depth: number): number {
  switch (typeof value) {
    case 'string':
      return stringBytes(value);
    case 'number':
      return numberBytes(value);
    case 'boolean':
      return 1;
    case 'bigint':
      return bigintBytes(value);
    case 'undefined':
    case 'function':
      // Functions travel as `undefined`, which the encoder writes as a 3-byte extension.
      return 3;
    case 'symbol':
      throw new TypeError('a symbol cannot be encoded');
    case 'object':
      if (value === null) return 1;
      if (depth >= ENCODED_DEPTH_MAX)
        throw new RangeError(`nested deeper than ${ENCODED_DEPTH_MAX} levels (or cyclic)`);
      return objectBytes(value, depth + 1);
    default:
      throw new TypeError(`unknown type ${typeof value}`);
  }
}

function objectBytes(value: object, depth: number): number {
  // Plain objects and arrays first: nearly everything a payload is made of. The checks for the
  // rarer types (maps, binary data, dates, sets, patterns, errors, `toJSON`) come after them.
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Object.prototype) return plainObjectBytes(value, depth);
  if (Array.isArray(value)) {
    let bytes = containerHeaderBytes(value.length);
    for (const item of value as unknown[]) bytes += sizeOf(item, depth);
    return bytes;
  }
  if (value instanceof Map) {
    let bytes = containerHeaderBytes(value.size);
    for (const [key, item] of value as Map<unknown, unknown>)
      bytes += sizeOf(key, depth) + sizeOf(item, depth);
    return bytes;
  }
  // Extension types: an extension header (at most 6 bytes) and a type code, then the contents.
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return 8 + value.byteLength;
  if (value instanceof Date) return 15;
  if (value instanceof Set) {
    let bytes = 8 + containerHeaderBytes(value.size);
    for (const item of value as Set<unknown>) bytes += sizeOf(item, depth);
    return bytes;
  }
  if (value instanceof RegExp)
    return 8 + containerHeaderBytes(2) + stringBytes(value.source) + stringBytes(value.flags);
  if (value instanceof Error) return errorBytes(value, depth);
  // The encoder asks `toJSON` of other objects only: a plain object is written as it is.
  const withJson = value as { toJSON?: unknown };
  if (prototype !== null && typeof withJson.toJSON === 'function') {
    const json: unknown = (withJson.toJSON as () => unknown).call(value);
    if (json !== value) return sizeOf(json, depth);
  }
  return plainObjectBytes(value, depth);
}

/** A plain object, a class instance or a null-prototype object: a map of own enumerable keys. */
function plainObjectBytes(value: object, depth: number): number {
  // `for...in` filtered by `Object.hasOwn` visits the same keys as `Object.keys` without allocating
  // their array (every message and piggyback is walked: the arrays were ~0.6 KB per request).
  let bytes = 5;
  for (const key in value)
    if (Object.hasOwn(value, key))
      bytes += stringBytes(key) + sizeOf((value as Record<string, unknown>)[key], depth);
  return bytes;
}

/** An error travels as its name, message and cause; its own enumerable fields are counted too, generously. */
function errorBytes(error: Error, depth: number): number {
  let bytes = 16 + sizeOf(error.name, depth) + sizeOf(error.message, depth);
  if ('cause' in error) bytes += sizeOf(error.cause, depth);
  for (const key of Object.keys(error))
    bytes += stringBytes(key) + sizeOf((error as unknown as Record<string, unknown>)[key], depth);
  return bytes;
}
