/**
 * Stable hashing of plain data, for the actor state hashes written into traces.
 *
 * Two runs that reach equal states must write equal hashes, whatever order they built their objects,
 * maps and sets in; otherwise trace replay would report divergences that are not there. So values
 * are first put into a canonical form and only then encoded as msgpack:
 * - an object's own enumerable string keys are sorted (by UTF-16 code units), recursively;
 * - a `Map` becomes an array of `[key, value]` entries sorted by the canonical bytes of the key
 *   (then of the value, for keys whose bytes tie);
 * - a `Set` keeps its tag but lists its members sorted by their canonical bytes;
 * - a `Uint8Array` (a `Buffer` included) is written as msgpack binary;
 * - arrays keep their order; primitives, bigints, `Date`, other typed arrays, `ArrayBuffer` and
 *   `DataView` are encoded as msgpackr encodes them (typed arrays as their bytes plus a type code).
 * As a consequence a `Map` hashes like the sorted array of its `[key, value]` entries: a state hash
 * tells contents apart, not those two container classes. Any other object (a class instance, an
 * `Error`) hashes like the plain object of its own enumerable string keys.
 * Functions, symbols and cyclic values have no stable encoding and throw `TypeError`
 * (state given to `stableHash` is data: passing anything else is a programmer error).
 */
import { createHash } from 'node:crypto';
import { Packr, RESET_BUFFER_MODE } from 'msgpackr';
import { utf8Bytes } from './utf8.js';

/** Hex characters kept from the SHA-256 digest: 128 bits, ample to tell states apart in a trace. */
export const STABLE_HASH_HEX_CHARS = 32;

// Records and shared structures would make the bytes depend on what was encoded before.
// `moreTypes` writes typed arrays as their bytes with a type code and sets as a tagged array; without
// it msgpackr 2.1.3 writes a Float32Array's elements truncated to bytes plus stale bytes of its
// shared buffer, so equal arrays could hash differently.
// `variableMapSize` writes a plain object's map header as a Map's (fixmap below 16 entries): the
// canonical form of an object is a plain object whose keys were inserted in sorted order where
// that gives the same bytes as the sorted Map, and a Map otherwise (see `canonicalContainer`).
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: true,
  variableMapSize: true,
});

/** Canonical msgpack bytes of `value`: equal values give equal bytes regardless of insertion order. */
export function stableEncode(value: unknown): Uint8Array {
  // Copied out: the writer's buffer is reused by the next call.
  return Uint8Array.from(writeCanonical(value));
}

/** The first 32 hex characters of the SHA-256 of `stableEncode(value)`. */
export function stableHash(value: unknown): string {
  // Hashed straight from the writer's buffer: the bytes are read once, before anything writes again.
  return createHash('sha256').update(writeCanonical(value)).digest('hex').slice(0, STABLE_HASH_HEX_CHARS);
}

/**
 * The canonical bytes of `value`, as a view of the writer's buffer valid until the next call.
 *
 * Plain objects, arrays, strings, numbers, booleans, `null` and `undefined` are written here, in
 * one walk, exactly as msgpackr packs their canonical form (the property tests compare the two).
 * Building that form first and packing it after cost 0.57 ms per digest of the bank account's
 * state (~30 KB): every replica digests its state every `digestIntervalMs`, and at 10,000 requests
 * per second the whole state is new by then (the account seals a generation every 64 operations
 * and keeps ~5), so no cache of earlier digests can help; the walk itself has to be cheap. The
 * rarer values (maps, sets, binary data, dates, bigints) are put in canonical form and packed by
 * msgpackr, and their bytes copied in.
 */
function writeCanonical(value: unknown): Uint8Array {
  writer.position = 0;
  writeValue(value, 0, writer.ancestors);
  return writer.buffer.subarray(0, writer.position);
}

/** A growable output buffer, reused across calls (a digest is taken often; its size is stable). */
interface CanonicalWriter {
  buffer: Buffer;
  view: DataView;
  position: number;
  /** The containers on the path from the root below `CYCLE_CHECK_DEPTH`, to detect cycles. */
  readonly ancestors: Set<object>;
}

const writer: CanonicalWriter = {
  buffer: Buffer.allocUnsafeSlow(64 * 1024),
  view: new DataView(new ArrayBuffer(0)),
  position: 0,
  ancestors: new Set(),
};
writer.view = new DataView(writer.buffer.buffer, writer.buffer.byteOffset, writer.buffer.byteLength);

function ensure(bytes: number): void {
  if (writer.position + bytes <= writer.buffer.length) return;
  const grown = Buffer.allocUnsafeSlow(Math.max(writer.buffer.length * 2, writer.position + bytes));
  writer.buffer.copy(grown, 0, 0, writer.position);
  writer.buffer = grown;
  writer.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
}

/**
 * Writes `value` and says whether it is deeply frozen: a primitive, or a frozen plain object
 * (prototype `Object.prototype` or `null`) or array whose children are deeply frozen. Such a value
 * never changes, so its bytes are kept (if large enough to be worth a copy) and copied on later digests.
 */
function writeValue(value: unknown, depth: number, ancestors: Set<object>): boolean {
  switch (typeof value) {
    case 'string':
      writeString(value);
      return true;
    case 'number':
      writeNumber(value);
      return true;
    case 'boolean':
      ensure(1);
      writer.buffer[writer.position++] = value ? 0xc3 : 0xc2;
      return true;
    case 'undefined':
      // msgpackr's undefined: fixext 1 of type 0, data 0.
      ensure(3);
      writer.buffer[writer.position++] = 0xd4;
      writer.buffer[writer.position++] = 0;
      writer.buffer[writer.position++] = 0;
      return true;
    case 'function':
      throw new TypeError('stableEncode: a function has no stable encoding');
    case 'symbol':
      throw new TypeError('stableEncode: a symbol has no stable encoding');
    case 'bigint':
      writePacked(value);
      return true;
    default:
      break;
  }
  if (value === null) {
    ensure(1);
    writer.buffer[writer.position++] = 0xc0;
    return true;
  }
  const object = value as object;
  const frozen = Object.isFrozen(object);
  if (frozen) {
    const kept = frozenBytes.get(object);
    if (kept !== undefined) {
      ensure(kept.length);
      writer.buffer.set(kept, writer.position);
      writer.position += kept.length;
      return true;
    }
  }
  if (object instanceof Map || object instanceof Set || isBinaryOrDate(object)) {
    // Not deeply frozen, whatever `Object.isFrozen` says: their contents are not properties.
    writePacked(canonical(object, ancestors));
    return false;
  }
  // A cycle nests without end, so it is caught below `CYCLE_CHECK_DEPTH` just as well: the first
  // levels of every state skip the bookkeeping (two set operations per container).
  const tracked = depth >= CYCLE_CHECK_DEPTH;
  if (tracked) {
    if (ancestors.has(object)) throw new TypeError('stableEncode: a cyclic value has no stable encoding');
    ancestors.add(object);
  }
  const start = writer.position;
  let deeplyFrozen = frozen;
  try {
    if (Array.isArray(object)) {
      const items = object as readonly unknown[];
      writeContainerHeader(items.length, 0x90, 0xdc, 0xdd);
      for (let index = 0; index < items.length; index++)
        if (!writeValue(items[index], depth + 1, ancestors)) deeplyFrozen = false;
    } else {
      if (deeplyFrozen) {
        const prototype: unknown = Object.getPrototypeOf(object);
        deeplyFrozen = prototype === Object.prototype || prototype === null;
      }
      const keys = sortedInPlace(Object.keys(object));
      writeContainerHeader(keys.length, 0x80, 0xde, 0xdf);
      for (const key of keys) {
        writeString(key);
        if (!writeValue((object as Record<string, unknown>)[key], depth + 1, ancestors)) deeplyFrozen = false;
      }
    }
  } finally {
    if (tracked) ancestors.delete(object);
  }
  if (deeplyFrozen && writer.position - start >= FROZEN_BYTES_MIN)
    frozenBytes.set(object, Uint8Array.prototype.slice.call(writer.buffer, start, writer.position));
  return deeplyFrozen;
}

/**
 * Bytes of deeply frozen plain objects and arrays, by identity: such a value can never change, so
 * an actor that keeps large sealed parts in its state (the bank account's generations of operation
 * ids) has them walked once however often it is hashed, if they outlive a digest interval. Only
 * values of `FROZEN_BYTES_MIN` bytes or more: a small one is written faster than it is looked up.
 * Weak, so it holds nothing alive; the price is a copy of the bytes beside each such value.
 */
const frozenBytes = new WeakMap<object, Uint8Array>();

/** Nesting from which containers are tracked to detect cycles. */
const CYCLE_CHECK_DEPTH = 32;
const FROZEN_BYTES_MIN = 512;

function isBinaryOrDate(value: object): boolean {
  return value instanceof Date || ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

/** A value msgpackr packs (in canonical form already), its bytes copied into the writer. */
function writePacked(form: unknown): void {
  const bytes = packr.pack(form, RESET_BUFFER_MODE);
  ensure(bytes.length);
  writer.buffer.set(bytes, writer.position);
  writer.position += bytes.length;
}

/** A map or array header, as msgpackr writes it: fix form below 16, then 16 and 32 bits. */
function writeContainerHeader(length: number, fix: number, sixteen: number, thirtyTwo: number): void {
  writeSized(length, 0x10, fix, undefined, sixteen, thirtyTwo);
}

/** A number as msgpackr writes it without records or 32-bit floats. */
function writeNumber(value: number): void {
  ensure(9);
  const buffer = writer.buffer;
  if (value >>> 0 === value) writeSized(value, 0x80, 0x00, 0xcc, 0xcd, 0xce);
  else if (value >> 0 === value) {
    if (value >= -0x20) buffer[writer.position++] = 0x100 + value;
    else if (value >= -0x80) {
      buffer[writer.position++] = 0xd0;
      buffer[writer.position++] = value + 0x100;
    } else if (value >= -0x8000) {
      buffer[writer.position++] = 0xd1;
      writer.view.setInt16(writer.position, value);
      writer.position += 2;
    } else {
      buffer[writer.position++] = 0xd2;
      writer.view.setInt32(writer.position, value);
      writer.position += 4;
    }
  } else {
    buffer[writer.position++] = 0xcb;
    writer.view.setFloat64(writer.position, value);
    writer.position += 8;
  }
}

/**
 * A string as msgpackr writes it. It encodes strings under 64 UTF-16 units by hand (an unpaired
 * surrogate becomes its own 3 bytes) and longer ones with the platform's UTF-8 encoder (an unpaired
 * surrogate becomes U+FFFD): the same split here, or a state holding such a string would hash
 * differently from its msgpack bytes.
 */
function writeString(value: string): void {
  const length = value.length;
  ensure(length * 3 + 5);
  const buffer = writer.buffer;
  if (length < 0x40) {
    writeStringHeader(utf8Bytes(value));
    let at = writer.position;
    for (let index = 0; index < length; index++) {
      let unit = value.charCodeAt(index);
      if (unit < 0x80) buffer[at++] = unit;
      else if (unit < 0x800) {
        buffer[at++] = (unit >> 6) | 0xc0;
        buffer[at++] = (unit & 0x3f) | 0x80;
      } else if ((unit & 0xfc00) === 0xd800 && (value.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
        unit = 0x10000 + ((unit & 0x03ff) << 10) + (value.charCodeAt(++index) & 0x03ff);
        buffer[at++] = (unit >> 18) | 0xf0;
        buffer[at++] = ((unit >> 12) & 0x3f) | 0x80;
        buffer[at++] = ((unit >> 6) & 0x3f) | 0x80;
        buffer[at++] = (unit & 0x3f) | 0x80;
      } else {
        buffer[at++] = (unit >> 12) | 0xe0;
        buffer[at++] = ((unit >> 6) & 0x3f) | 0x80;
        buffer[at++] = (unit & 0x3f) | 0x80;
      }
    }
    writer.position = at;
    return;
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  writeStringHeader(bytes);
  writer.position += buffer.write(value, writer.position, bytes, 'utf8');
}

function writeStringHeader(bytes: number): void {
  writeSized(bytes, 0x20, 0xa0, 0xd9, 0xda, 0xdb);
}

/**
 * A length or an unsigned integer in msgpack's forms: one byte `fixBase | value` below `fixLimit`,
 * then a code and 8 bits (for the kinds that have that form), 16 bits or 32 bits.
 */
function writeSized(
  value: number,
  fixLimit: number,
  fixBase: number,
  code8: number | undefined,
  code16: number,
  code32: number,
): void {
  ensure(5);
  const buffer = writer.buffer;
  if (value < fixLimit) buffer[writer.position++] = fixBase | value;
  else if (code8 !== undefined && value < 0x100) {
    buffer[writer.position++] = code8;
    buffer[writer.position++] = value;
  } else if (value < 0x10000) {
    buffer[writer.position++] = code16;
    buffer[writer.position++] = value >> 8;
    buffer[writer.position++] = value & 0xff;
  } else {
    buffer[writer.position++] = code32;
    writer.view.setUint32(writer.position, value);
    writer.position += 4;
  }
}

/**
 * The canonical form of `value`, for msgpackr to pack: what a map or a set and everything inside
 * them are written as. Objects become `Map`s with sorted keys, because msgpackr writes a Map's
 * entries in insertion order, whereas a plain object would list integer-like keys first.
 * `ancestors` holds the containers on the path from the root, to detect cycles; a value shared by
 * two branches (not a cycle) is simply encoded twice.
 */
function canonical(value: unknown, ancestors: Set<object>): unknown {
  if (typeof value === 'function') throw new TypeError('stableEncode: a function has no stable encoding');
  if (typeof value === 'symbol') throw new TypeError('stableEncode: a symbol has no stable encoding');
  if (typeof value !== 'object' || value === null) return value;
  // Bytes are bytes: a Uint8Array read back from disk as a Buffer must hash as it did before, so
  // both are written as msgpack binary (msgpackr would tag a plain Uint8Array as a typed array).
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof Date || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  if (ancestors.has(value)) throw new TypeError('stableEncode: a cyclic value has no stable encoding');
  ancestors.add(value);
  try {
    return canonicalContainer(value, ancestors);
  } finally {
    ancestors.delete(value);
  }
}

function canonicalContainer(value: object, ancestors: Set<object>): unknown {
  if (Array.isArray(value)) return canonicalArray(value, ancestors);
  if (value instanceof Map) {
    const entries = [...value].map(([key, item]: [unknown, unknown]) => {
      const canonicalKey = canonical(key, ancestors);
      const canonicalItem = canonical(item, ancestors);
      return {
        entry: [canonicalKey, canonicalItem],
        keyBytes: packr.pack(canonicalKey),
        itemBytes: packr.pack(canonicalItem),
      };
    });
    entries.sort((a, b) => compareBytes(a.keyBytes, b.keyBytes) || compareBytes(a.itemBytes, b.itemBytes));
    return entries.map(({ entry }) => entry);
  }
  if (value instanceof Set) {
    const items = [...value].map((item: unknown) => {
      const canonicalItem = canonical(item, ancestors);
      return { item: canonicalItem, bytes: packr.pack(canonicalItem) };
    });
    items.sort((a, b) => compareBytes(a.bytes, b.bytes));
    // msgpackr writes a Set's members in insertion order, after a tag that sets it apart from an array.
    return new Set(items.map(({ item }) => item));
  }
  const keys = sortedInPlace(Object.keys(value));
  if (keys.length <= PLAIN_OBJECT_KEYS_MAX && !keys.some(changesPlainObjectBytes)) {
    // A plain object with its keys inserted in sorted order packs to the same bytes as the sorted
    // Map (with `variableMapSize`), and costs neither a hash table per object nor msgpackr an
    // entry array per key when it iterates a Map: the digests of a replica's state allocated
    // ~10 KB per request in the replicated benchmark, most of it there. Only small objects: they
    // are records of a few shapes, whose hidden classes V8 shares; a table keyed by ids (a
    // different set of keys each time) would make V8 build a new hidden class per key.
    const sorted: Record<string, unknown> = {};
    for (const key of keys) sorted[key] = canonical((value as Record<string, unknown>)[key], ancestors);
    return sorted;
  }
  const sorted = new Map<string, unknown>();
  for (const key of keys) sorted.set(key, canonical((value as Record<string, unknown>)[key], ancestors));
  return sorted;
}

/**
 * Keys a plain object would not keep as an ordinary own key in insertion order, or that change
 * how msgpackr writes it: an array index is enumerated before every other key, `__proto__` sets
 * the prototype, and an own `constructor` hides the object's class from msgpackr.
 */
function changesPlainObjectBytes(key: string): boolean {
  if (key === '__proto__' || key === 'constructor') return true;
  return ARRAY_INDEX.test(key) && Number(key) < 2 ** 32 - 1;
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/** Objects of up to this many keys take the plain-object canonical form. */
const PLAIN_OBJECT_KEYS_MAX = 16;

/** The array itself while its items are their own canonical forms (primitives): no copy. */
function canonicalArray(value: readonly unknown[], ancestors: Set<object>): unknown[] {
  let copy: unknown[] | undefined;
  for (let index = 0; index < value.length; index++) {
    const item = value[index];
    const form = canonical(item, ancestors);
    if (copy === undefined && form !== item) copy = value.slice(0, index);
    copy?.push(form);
  }
  return copy ?? (value as unknown[]);
}

/** Keys of one object up to which `sortedInPlace` sorts by insertion. */
const INSERTION_SORT_KEYS_MAX = 64;

/**
 * `keys` sorted by UTF-16 code units (what `Array.prototype.sort` does with strings), in place: an
 * insertion sort, because `sort` copies the array into a work array first. A replica hashes its
 * state every `digestIntervalMs`, and at 10,000 requests/s every new operation the bank account
 * remembers (a few small objects) is hashed once: those copies were ~7 % of what the replicated
 * benchmark allocated. Past `INSERTION_SORT_KEYS_MAX` keys the built-in sort takes over (insertion
 * sort is quadratic).
 */
function sortedInPlace(keys: string[]): string[] {
  if (keys.length > INSERTION_SORT_KEYS_MAX) return keys.sort();
  for (let index = 1; index < keys.length; index++) {
    const key = keys[index]!;
    let hole = index;
    while (hole > 0 && keys[hole - 1]! > key) {
      keys[hole] = keys[hole - 1]!;
      hole--;
    }
    keys[hole] = key;
  }
  return keys;
}

/** Lexicographic order of byte strings, shorter first on a common prefix. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) {
    const difference = a[index]! - b[index]!;
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}
