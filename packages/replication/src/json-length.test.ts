/**
 * jsonLength measures what JSON.stringify would write. Invariant of every test: jsonLength(v)
 * equals JSON.stringify(v).length (0 for undefined), and it throws exactly when JSON.stringify throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JSON_LENGTH_DEPTH_MAX, jsonLength } from './json-length.js';

function stringifiedLength(value: unknown): number {
  return (JSON.stringify(value) as string | undefined)?.length ?? 0;
}

describe('jsonLength', () => {
  it('property: equals the length of JSON.stringify for any JSON value and for arbitrary values', () => {
    const anything = fc.anything({
      withBoxedValues: true,
      withMap: true,
      withSet: true,
      withDate: true,
      withTypedArray: true,
      withSparseArray: true,
      withNullPrototype: true,
      withObjectString: true,
      withUnicodeString: true,
      maxDepth: 4,
    });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), anything), (value) => {
        expect(jsonLength(value)).toBe(stringifiedLength(value));
      }),
      { numRuns: 2000 },
    );
  });

  it('counts escapes, pairs and lone surrogates, numbers at every width, and what JSON leaves out', () => {
    const cases: unknown[] = [
      'plain',
      'quote " backslash \\ newline \n tab \t cr \r ff \f bs \b nul \u0000 unit sep \u001f',
      '\ud83d\ude00 pair, lone \ud800 and \udc00, reversed \udc00\ud800',
      [0, -0, 9, 10, -10, 99, 100, 2 ** 53, -(2 ** 53), 1e20, 1e21, 1.5, -0.000001, 1e-7, NaN, Infinity],
      { a: undefined, b: () => 1, c: Symbol('s'), d: 1 },
      [undefined, () => 1, Symbol('s')],
      {},
      [],
      Object.assign(Object.create(null) as object, { k: 'v' }),
      { date: new Date(0), nested: { toJSON: () => 'x' } },
      undefined,
      () => 1,
    ];
    for (const value of cases) expect(jsonLength(value)).toBe(stringifiedLength(value));
  });

  it('throws where JSON.stringify throws: a cycle (past the depth it walks itself) and a bigint', () => {
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = { again: cyclic };
    expect(() => jsonLength(cyclic)).toThrow(TypeError);
    expect(() => jsonLength({ amount: 1n })).toThrow(TypeError);
    let deep: unknown = 'leaf';
    for (let level = 0; level < JSON_LENGTH_DEPTH_MAX * 2; level++) deep = { next: [deep] };
    expect(jsonLength(deep)).toBe(stringifiedLength(deep));
  });
});
