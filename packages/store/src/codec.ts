/**
 * Turns stored values into bytes and back, the same way in every implementation, so the memory
 * store accepts, rejects and returns exactly what LMDB does. Values are msgpack with msgpackr's
 * record extension and `moreTypes` (Map, Set, typed arrays and Error survive the round trip).
 * Each encoded value is self-contained: no msgpackr structures are shared between values, so any
 * value decodes on its own after a restart, in another process or with another msgpackr version.
 *
 * msgpackr silently drops functions and symbol-valued properties, turns class instances (and
 * things like WeakMap or Promise) into plain objects, and overflows the stack on a cycle;
 * `encodeValue` walks the value first and reports those as `unencodable` instead, so no write
 * silently loses part of what the caller handed over. Stored values are plain data: primitives
 * (bigints included), plain objects, arrays, Map, Set, Date, RegExp, Error, ArrayBuffer and typed
 * arrays.
 */
import { Packr } from 'msgpackr';
import { StoreError } from './errors.js';

/** Deeper nesting is refused: it is almost always a cycle, and it bounds the walk below. */
export const VALUE_DEPTH_MAX = 64;

// One Packr without `structures` or `sequential` writes record definitions inline in every value.
const packr = new Packr({ moreTypes: true });

export function encodeValue(value: unknown, valueBytesMax: number): Uint8Array {
  const problem = findUnencodable(value, 0);
  if (problem !== undefined) throw new StoreError('unencodable', `value cannot be stored: ${problem}`);
  let bytes: Uint8Array;
  try {
    // msgpackr returns a view into a buffer it reuses, so keep a copy of our own.
    bytes = packr.pack(value).slice();
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new StoreError('unencodable', `msgpack could not encode the value: ${detail}`, { cause: error });
  }
  if (bytes.length > valueBytesMax) {
    throw new StoreError(
      'too_large',
      `encoded value of ${bytes.length} bytes exceeds valueBytesMax ${valueBytesMax}`,
    );
  }
  return bytes;
}

export function decodeValue(bytes: Uint8Array, where: string): unknown {
  try {
    return packr.unpack(bytes);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new StoreError('corrupt', `${where} does not decode: ${detail}`, { cause: error });
  }
}

/** Describes the first part of `value` msgpackr would drop or choke on, or `undefined`. */
function findUnencodable(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'object':
      return value === null ? undefined : findUnencodableObject(value, depth);
    default:
      return undefined;
  }
}

function findUnencodableObject(value: object, depth: number): string | undefined {
  if (depth >= VALUE_DEPTH_MAX) return `nesting deeper than ${VALUE_DEPTH_MAX} levels (or a cycle)`;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date) return undefined;
  if (value instanceof RegExp || value instanceof Error) return undefined;
  if (value instanceof Map) return findInEach([...value.keys(), ...value.values()], depth + 1);
  if (value instanceof Set || Array.isArray(value)) return findInEach([...value], depth + 1);
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    return `an instance of ${value.constructor?.name ?? 'a class'}, which would come back as a plain object`;
  }
  if (Object.getOwnPropertySymbols(value).length > 0) return 'a symbol-keyed property';
  return findInEach(Object.values(value), depth + 1);
}

function findInEach(values: readonly unknown[], depth: number): string | undefined {
  for (const item of values) {
    const problem = findUnencodable(item, depth);
    if (problem !== undefined) return problem;
  }
  return undefined;
}
