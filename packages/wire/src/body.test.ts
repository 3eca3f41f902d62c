/**
 * Body bytes: a body decodes back as the codec would deliver it (sets, typed arrays and bytes kept;
 * a Map arrives as a plain object, as it does through the codec); any cut of the bytes is an error
 * result, never a throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeBody } from './body.js';

/**
 * A JSON value as msgpack delivers it: a key `__proto__` arrives as `__proto_` (msgpackr renames it
 * so that a frame can never set a prototype; docs/wire.md), and keys keep their order.
 */
function asDelivered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asDelivered);
  if (typeof value !== 'object' || value === null) return value;
  const delivered: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value))
    delivered[key === '__proto__' ? '__proto_' : key] = asDelivered(item);
  return delivered;
}

describe('encodeBody / decodeBody', () => {
  it('property: a body decodes back as the codec delivers it: equal, sets and bytes kept, a Map as an object', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.uint8Array({ maxLength: 64 }), (json, bytes) => {
        const body = { json, bytes, map: new Map([['k', 1]]), set: new Set([1, 2]) };
        const decoded = decodeBody(encodeBody(body));
        expect(decoded.ok).toBe(true);
        // As through the codec: -0 travels as the integer 0 (JSON's round trip does the same).
        const expected = { ...body, json: asDelivered(JSON.parse(JSON.stringify(json))), map: { k: 1 } };
        if (decoded.ok) expect(decoded.value).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('a key __proto__ arrives as __proto_ and sets no prototype (the documented renaming)', () => {
    const body = JSON.parse('{"__proto__": {"polluted": true}, "kept": 1}') as unknown;
    const decoded = decodeBody(encodeBody(body));
    expect(decoded).toEqual({ ok: true, value: { __proto_: { polluted: true }, kept: 1 } });
    if (decoded.ok) expect(Object.getPrototypeOf(decoded.value)).toBe(Object.prototype);
  });

  it('property: a truncated body or one with bytes after it is an error, never a throw', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), (json, cut) => {
        const bytes = encodeBody({ json, padding: 'x'.repeat(8) });
        const truncated = bytes.subarray(0, cut % bytes.length);
        expect(decodeBody(truncated).ok).toBe(false);
        const extended = new Uint8Array([...bytes, 0xc0]);
        expect(decodeBody(extended)).toEqual({ ok: false, error: 'expected one value, found 2' });
      }),
      { numRuns: 300 },
    );
  });
});
