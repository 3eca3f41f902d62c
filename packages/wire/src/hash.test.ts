/**
 * Tests of stable hashing: equal values give equal bytes and hashes whatever their insertion order,
 * different values give different hashes, and the hash of a value never changes between releases
 * (traces written today must compare with traces written later).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { stableEncode, stableHash } from './hash.js';

/** Rebuilds a JSON-like value with every object's keys inserted in the order `order` gives. */
function reorder(value: unknown, order: (keys: string[]) => string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => reorder(item, order));
  if (typeof value !== 'object' || value === null) return value;
  // fromEntries defines own properties, so a "__proto__" key stays a key instead of setting the prototype.
  return Object.fromEntries(
    order(Object.keys(value)).map((key) => [key, reorder((value as Record<string, unknown>)[key], order)]),
  );
}

/** The dumb model of equality for JSON values: JSON text with sorted keys (which also equates -0 and 0). */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'object' && item !== null && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

describe('stableEncode', () => {
  it('writes objects as msgpack maps with sorted keys (invariant: canonical bytes)', () => {
    // fixmap of 2: "a" -> 2, "b" -> 1
    expect([...stableEncode({ b: 1, a: 2 })]).toEqual([0x82, 0xa1, 0x61, 0x02, 0xa1, 0x62, 0x01]);
  });

  it('sorts integer-like keys as strings too (invariant: canonical bytes, not JS property order)', () => {
    const bytes = stableEncode({ b: 0, 10: 0, 2: 0 });
    expect(new Packr({ useRecords: false }).unpack(bytes)).toEqual({ 10: 0, 2: 0, b: 0 });
    expect([...bytes.subarray(0, 4)]).toEqual([0x83, 0xa2, 0x31, 0x30]); // first key is "10"
  });

  it('writes keys a plain object would reorder or misread (indexes, __proto__, constructor) in sorted order too (invariant: canonical bytes)', () => {
    // Objects are put in canonical form as plain objects where that packs to the same bytes, and
    // as Maps where it would not: each of these keys takes the second way.
    const awkward = JSON.parse(
      '{"z":1,"__proto__":{"p":1},"constructor":"c","9":0,"10":0,"a":[1,{"y":2,"x":3}]}',
    ) as object;
    const mapBytes = (entries: [string, unknown][]) =>
      new Packr({ useRecords: false, structuredClone: false, moreTypes: true }).pack(new Map(entries));
    const expected = mapBytes([
      ['10', 0],
      ['9', 0],
      ['__proto__', new Map([['p', 1]])],
      [
        'a',
        [
          1,
          new Map([
            ['x', 3],
            ['y', 2],
          ]),
        ],
      ],
      ['constructor', 'c'],
      ['z', 1],
    ]);
    expect([...stableEncode(awkward)]).toEqual([...expected]);
    expect(stableHash(awkward)).toBe(stableHash(JSON.parse(JSON.stringify(awkward))));
  });

  it('returns a plain Uint8Array that owns its bytes (invariant: later encodings cannot change it)', () => {
    const first = stableEncode({ a: 'x' });
    const copy = [...first];
    stableEncode({ a: 'y'.repeat(10_000) });
    expect(first.constructor).toBe(Uint8Array);
    expect([...first]).toEqual(copy);
  });

  it('throws TypeError for functions, symbols and cycles (invariant: no unstable encodings)', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => stableEncode({ f: () => 1 })).toThrow(TypeError);
    expect(() => stableEncode([Symbol('s')])).toThrow(TypeError);
    expect(() => stableEncode(cyclic)).toThrow(/cyclic/);
    expect(() => stableEncode(new Map([['m', cyclic]]))).toThrow(/cyclic/);
  });

  it('accepts a value shared by two branches, which is not a cycle (invariant: only cycles throw)', () => {
    const shared = { n: 1 };
    expect(stableHash({ a: shared, b: [shared] })).toBe(stableHash({ a: { n: 1 }, b: [{ n: 1 }] }));
  });

  it('catches a cycle that closes deep inside a value, and encodes deep values that have none (invariant: only cycles throw)', () => {
    // Cycles are tracked from some depth on: a cycle entered from deep down, and deep acyclic
    // values on both sides of that depth.
    const nest = (depth: number, leaf: unknown): unknown =>
      depth === 0 ? leaf : { next: nest(depth - 1, leaf) };
    const loop: Record<string, unknown> = { n: 1 };
    loop.back = { again: [loop] };
    expect(() => stableEncode(nest(100, loop))).toThrow(/cyclic/);
    const packr = new Packr({
      useRecords: false,
      structuredClone: false,
      moreTypes: true,
      variableMapSize: true,
    });
    for (const depth of [31, 32, 33, 200])
      expect(stableEncode(nest(depth, [1, 'a']))).toEqual(Uint8Array.from(packr.pack(nest(depth, [1, 'a']))));
  });
});

describe('stableHash', () => {
  it('is the first 32 hex characters of the SHA-256 of stableEncode (invariant: documented format)', () => {
    const value = { counter: 3, log: ['a', 'b'] };
    const expected = createHash('sha256').update(stableEncode(value)).digest('hex').slice(0, 32);
    expect(stableHash(value)).toBe(expected);
    expect(stableHash(value)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('gives the same hash as in earlier releases (invariant: hashes in stored traces stay comparable)', () => {
    // Golden values, computed outside this code as sha256 of the hand-written canonical bytes
    // 82 a1 61 93 01 02 81 a1 63 c0 a1 62 01 and 92 92 02 d4 73 00 92 01 03 92 a1 78 01.
    // If they change, traces recorded before the change no longer replay cleanly.
    expect(stableHash({ b: 1, a: [1, 2, { c: null }] })).toBe('9d47ef122af6f6371d90692f213701ef');
    expect(
      stableHash(
        new Map<unknown, unknown>([
          ['x', 1],
          [2, new Set([3, 1])],
        ]),
      ),
    ).toBe('30cfdd683530183e88118ce40a79ad94');
  });

  it('ignores insertion order of objects, maps and sets (invariant: equal state, equal hash)', () => {
    const left = {
      z: new Map<unknown, unknown>([
        ['k', 1],
        [7, 'seven'],
        [true, [1]],
      ]),
      a: new Set(['x', 'y', 1]),
    };
    const right = {
      a: new Set([1, 'y', 'x']),
      z: new Map<unknown, unknown>([
        [true, [1]],
        [7, 'seven'],
        ['k', 1],
      ]),
    };
    expect(stableHash(left)).toBe(stableHash(right));
    expect([...stableEncode(left)]).toEqual([...stableEncode(right)]);
  });

  it('hashes typed arrays by their bytes, whatever msgpackr encoded before (invariant: equal state, equal hash)', () => {
    const first = stableHash({ samples: new Float32Array([1.5, -2]), counts: new Uint16Array([258]) });
    stableEncode('x'.repeat(5_000)); // leaves other bytes in msgpackr's shared buffer
    expect(stableHash({ counts: new Uint16Array([258]), samples: new Float32Array([1.5, -2]) })).toBe(first);
    expect(stableHash({ samples: new Float32Array([1.5, -3]), counts: new Uint16Array([258]) })).not.toBe(
      first,
    );
  });

  it('hashes a Buffer like a Uint8Array with the same bytes (invariant: bytes read back from disk hash alike)', () => {
    const bytes = Uint8Array.of(1, 2, 3, 4);
    expect(stableHash({ bytes: Buffer.from(bytes) })).toBe(stableHash({ bytes }));
    expect(stableHash({ bytes: bytes.subarray(1, 3) })).toBe(stableHash({ bytes: Uint8Array.of(2, 3) }));
  });

  it.each([
    ['a set and the array of its members', new Set([1, 2]), [1, 2]],
    ['an other value for a key', { a: 1 }, { a: 2 }],
    ['a number and its string', { a: 1 }, { a: '1' }],
    ['swapped values', { a: 1, b: 2 }, { a: 2, b: 1 }],
    ['array order', [1, 2], [2, 1]],
    ['a missing key', { a: 1, b: 2 }, { a: 1 }],
    ['null and absent', { a: null }, {}],
    ['maps with other values', new Map([['k', 1]]), new Map([['k', 2]])],
    ['sets with other members', new Set([1, 2]), new Set([1, 3])],
    ['dates', new Date(0), new Date(1)],
    ['bytes', Uint8Array.of(1), Uint8Array.of(2)],
  ])('differs for %s (invariant: different state, different hash)', (_name, left, right) => {
    expect(stableHash(left)).not.toBe(stableHash(right));
  });

  it('is independent of key insertion order, for any JSON value (invariant: equal state, equal hash)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (value, seed) => {
        // A permutation drawn from the seed, applied at every level of the value.
        const shuffle = (keys: string[]) =>
          keys
            .map((key, index) => ({ key, rank: Math.imul(index + 1, seed | 1) ^ seed }))
            .sort((a, b) => a.rank - b.rank)
            .map(({ key }) => key);
        expect(stableHash(reorder(value, shuffle))).toBe(stableHash(value));
        expect(stableHash(reorder(value, (keys) => [...keys].reverse()))).toBe(stableHash(value));
      }),
      { numRuns: 300 },
    );
  });

  it('differs exactly when the values differ, for any two JSON values (invariant: hash equality is value equality)', () => {
    const pair = fc.oneof(
      fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 3 })),
      // Small values, so that equal pairs are drawn often enough to check that side too.
      fc.tuple(fc.jsonValue({ maxDepth: 1 }), fc.jsonValue({ maxDepth: 1 })),
      fc.jsonValue({ maxDepth: 3 }).map((value) => [value, structuredClone(value)] as const),
    );
    fc.assert(
      fc.property(pair, ([left, right]) => {
        const sameModel = canonicalJson(left) === canonicalJson(right);
        expect(stableHash(left) === stableHash(right)).toBe(sameModel);
      }),
      { numRuns: 500 },
    );
  });
});

/** A deep copy with every object and array frozen. */
function deepFreeze(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const copy: unknown = Array.isArray(value)
    ? value.map(deepFreeze)
    : Object.fromEntries(Object.entries(value).map(([key, item]) => [key, deepFreeze(item)]));
  return Object.freeze(copy);
}

describe('deeply frozen values (their bytes are kept by identity)', () => {
  it('property: a deeply frozen value hashes as its unfrozen equal, the first time and every time after', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const frozen = deepFreeze(value);
        const expected = stableHash(value);
        expect(stableHash(frozen)).toBe(expected);
        expect(stableHash({ wrapped: frozen, again: [frozen] })).toBe(
          stableHash({ wrapped: value, again: [value] }),
        );
        expect(stableHash(frozen)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("property: the bytes are msgpackr's own packing of the documented canonical form, frozen or not, large containers included", () => {
    // The reference: objects as Maps with sorted keys, Maps as sorted entry arrays, packed whole.
    const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: true });
    const reference = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(reference);
      if (value instanceof Map) {
        const entries = [...value].map(([key, item]: [unknown, unknown]) => [
          reference(key),
          reference(item),
        ]);
        const bytes = (entry: unknown[]) => Buffer.concat([packr.pack(entry[0]), packr.pack(entry[1])]);
        return entries.sort(
          (a, b) => Buffer.compare(packr.pack(a[0]), packr.pack(b[0])) || Buffer.compare(bytes(a), bytes(b)),
        );
      }
      if (typeof value !== 'object' || value === null) return value;
      return new Map(
        Object.keys(value)
          .sort()
          .map((key) => [key, reference((value as Record<string, unknown>)[key])]),
      );
    };
    // Leaves at the edges of msgpack's forms: integer widths, floats, string lengths and encodings.
    const leaf = fc.oneof(
      fc.constantFrom(
        0,
        -0,
        0x7f,
        0x80,
        0xff,
        0x100,
        0xffff,
        0x10000,
        2 ** 32 - 1,
        2 ** 32,
        -1,
        -0x20,
        -0x21,
        -0x80,
        -0x81,
        -0x8000,
        -0x8001,
        -(2 ** 31),
        -(2 ** 31) - 1,
        1_795_355_828_211,
        0.5,
        -1e300,
        true,
        false,
        null,
      ),
      fc.integer(),
      fc.double({ noNaN: true }),
      fc.string({ unit: 'binary', maxLength: 70 }),
      fc.constantFrom(31, 32, 255, 256, 65_535, 65_536).map((length) => 'x'.repeat(length)),
      fc.constantFrom('é'.repeat(40), '\ud800', 'a\udc00b'.repeat(30)),
    );
    const wide = fc.dictionary(fc.string(), fc.oneof(leaf, fc.jsonValue({ maxDepth: 1 })), {
      minKeys: 15,
      maxKeys: 40,
    });
    // Past the keys sorted by insertion (64), the built-in sort takes over: both must agree. Small
    // leaves: this arm is about the order of many keys.
    const wider = fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string({ maxLength: 8 })), {
      minKeys: 60,
      maxKeys: 90,
    });
    const value = fc.oneof(
      fc.jsonValue(),
      leaf,
      fc.array(leaf, { maxLength: 20 }),
      wide,
      wider,
      fc.array(fc.jsonValue({ maxDepth: 1 }), { minLength: 15, maxLength: 40 }),
      fc
        .array(fc.tuple(fc.oneof(fc.string(), fc.integer()), fc.jsonValue({ maxDepth: 1 })))
        .map((entries) => new Map(entries)),
    );
    fc.assert(
      fc.property(value, fc.boolean(), (plain, freeze) => {
        const expected = Uint8Array.from(packr.pack(reference(plain)));
        const subject = freeze && !(plain instanceof Map) ? deepFreeze(plain) : plain;
        expect(stableEncode(subject)).toEqual(expected);
        expect(stableEncode({ again: subject })).toEqual(
          Uint8Array.from(packr.pack(reference({ again: plain }))),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('a frozen object whose child is not frozen is not cached: a change of the child changes the hash', () => {
    const child = { n: 1 };
    const shallow = Object.freeze({ child });
    const before = stableHash(shallow);
    child.n = 2;
    expect(stableHash(shallow)).not.toBe(before);
    expect(stableHash(shallow)).toBe(stableHash({ child: { n: 2 } }));
  });

  it('a frozen value shared by several containers and a Set packs as in place each time (invariant: cached bytes are bare)', () => {
    const shared = Object.freeze({ id: 'x', amounts: Object.freeze([1, 2.5, -3]) });
    const plain = { id: 'x', amounts: [1, 2.5, -3] };
    stableHash(shared); // cached from here on
    const frozenIn = { a: shared, b: [shared, shared], c: new Set([shared]), d: new Map([[shared, shared]]) };
    const plainIn = { a: plain, b: [plain, plain], c: new Set([plain]), d: new Map([[plain, plain]]) };
    expect(stableEncode(frozenIn)).toEqual(stableEncode(plainIn));
    expect(stableEncode(shared)).toEqual(stableEncode(plain));
  });
});
