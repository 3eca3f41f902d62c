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
  // Copied out because msgpackr hands back a view into a larger shared buffer; the copy owns only its bytes.
  return Uint8Array.from(packCanonical(value));
}

/** The first 32 hex characters of the SHA-256 of `stableEncode(value)`. */
export function stableHash(value: unknown): string {
  // Hashed straight from msgpackr's buffer: the bytes are read once, before anything packs again.
  return createHash('sha256').update(packCanonical(value)).digest('hex').slice(0, STABLE_HASH_HEX_CHARS);
}

/**
 * The canonical bytes as a view of msgpackr's buffer, valid until its next pack. RESET_BUFFER_MODE
 * writes the next pack over them instead of moving on: every replica hashes its state every
 * `digestIntervalMs`, and moving on through the buffer allocated a fresh one each few kilobytes.
 */
function packCanonical(value: unknown): Uint8Array {
  return packr.pack(canonical(value, new Set()), RESET_BUFFER_MODE);
}

/**
 * The canonical form of `value`. Objects become `Map`s with sorted keys, because msgpackr writes a
 * Map's entries in insertion order, whereas a plain object would list integer-like keys first.
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
  const cached = deeplyFrozenCanonical.get(value);
  if (cached !== undefined) return cached;
  if (ancestors.has(value)) throw new TypeError('stableEncode: a cyclic value has no stable encoding');
  ancestors.add(value);
  try {
    const form = canonicalContainer(value, ancestors);
    if (isDeeplyFrozen(value)) deeplyFrozenCanonical.set(value, form);
    return form;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * Canonical forms of deeply frozen plain objects and arrays, by identity. Such a value can never
 * change, so its form is computed once however often it is hashed: an actor that keeps most of its
 * state in sealed, frozen parts (the bank account's idempotence generations) pays for hashing its
 * changing part only. Weak, so it holds nothing alive. The bytes are the same with or without it.
 */
const deeplyFrozenCanonical = new WeakMap<object, unknown>();

/**
 * A frozen plain object or array whose children are primitives or deeply frozen themselves (they
 * were canonicalized first, so a deeply frozen child is already in the cache).
 */
function isDeeplyFrozen(value: object): boolean {
  if (!Object.isFrozen(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) return false;
  for (const child of Object.values(value))
    if (typeof child === 'object' && child !== null && !deeplyFrozenCanonical.has(child)) return false;
  return true;
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
