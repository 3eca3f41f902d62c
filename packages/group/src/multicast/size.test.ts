// The size estimate against the wire codec itself: `encodedBytes` must never say less than the
// bytes msgpack writes into a frame (else a message it accepts could be dropped as oversize and
// stall its stream), and must be exact for plain JSON-like data (else it refuses messages that fit).
import { address, createCodec, MAX_DATAGRAM_BYTES, nodeId, type Envelope } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodedBytes, encodedBytesBound, utf8Bytes } from './size.js';

const codec = createCodec({
  keys: new Map([[1, new Uint8Array(32).fill(7)]]),
  activeKeyId: 1,
  maxFrameBytes: MAX_DATAGRAM_BYTES,
});

function frameBytes(body: unknown): number {
  const envelope: Envelope = {
    kind: 'one-way',
    id: { origin: nodeId('n1'), incarnation: 1, sequence: 1 },
    source: address('n1', 'mc'),
    target: address('n2', 'mc'),
    body,
  };
  const encoded = codec.encode(envelope);
  if (!encoded.ok) throw new Error(`the codec refused the value: ${encoded.error.detail}`);
  return encoded.frame.length;
}

/** The msgpack bytes the codec writes for `value`: the frame around it minus the frame around nil. */
function wireBytes(value: unknown): number {
  return frameBytes(value) - frameBytes(null) + 1;
}

function estimate(value: unknown): number {
  const size = encodedBytes(value);
  if (!size.ok) throw new Error(size.detail);
  return size.bytes;
}

const scalar = fc.oneof(
  fc.integer(),
  fc.integer({ min: -200, max: 200 }),
  fc.double(),
  fc.maxSafeInteger(),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ maxLength: 40 }),
  fc.boolean(),
  fc.constant(null),
);

/** Arrays of scalars: their header sizes are exact in the estimate, so the estimate is too. */
const exactValue = fc.array(scalar, { maxLength: 70 });

const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.bigInt(),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.uint8Array({ maxLength: 40 }),
    fc.float32Array({ maxLength: 10 }),
    fc.array(tie('value'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 20 }),
    fc
      .array(fc.tuple(fc.string({ maxLength: 8 }), tie('value')), { maxLength: 5 })
      .map((entries) => new Map(entries)),
    fc.array(tie('value'), { maxLength: 5 }).map((items) => new Set(items)),
    fc.string({ maxLength: 20 }).map((message) => new Error(message)),
    fc.constantFrom(/a+b/giu, /x/),
  ),
})).value;

describe('encodedBytes: a safe, cheap bound of the wire bytes', () => {
  it('is exact for scalars and arrays of them (so near-limit messages are not refused by a loose estimate)', () => {
    fc.assert(
      fc.property(exactValue, (value) => {
        expect(estimate(value)).toBe(wireBytes(value));
      }),
      { numRuns: 300 },
    );
  });

  it('never says less than the codec writes, for any mix of supported types', () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        expect(estimate(value)).toBeGreaterThanOrEqual(wireBytes(value));
      }),
      { numRuns: 500 },
    );
  });

  it('has a quick bound that is never below it (sizeRefusal accepts by the bound only what the walk accepts)', () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const exact = encodedBytes(value);
        if (exact.ok) expect(encodedBytesBound(value)).toBeGreaterThanOrEqual(exact.bytes);
      }),
      { numRuns: 500 },
    );
    // Strings of any code points: the bound reads only their length (3 bytes per UTF-16 unit).
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (text) => {
        expect(encodedBytesBound({ text })).toBeGreaterThanOrEqual(
          (encodedBytes({ text }) as { bytes: number }).bytes,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('counts UTF-8 as the encoder writes it: 1-4 bytes a code point, 3 for a lone surrogate', () => {
    expect(utf8Bytes('aé€😀')).toBe(1 + 2 + 3 + 4);
    expect(utf8Bytes('\ud800x')).toBe(3 + 1);
    expect(estimate('😀'.repeat(100))).toBe(wireBytes('😀'.repeat(100)));
  });

  it('reports what cannot travel (a symbol, a cycle) as a value, never by throwing', () => {
    expect(encodedBytes({ a: Symbol('s') })).toMatchObject({ ok: false });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(encodedBytes(cyclic)).toMatchObject({ ok: false });
    const throwing = {
      get boom(): never {
        throw new Error('getter');
      },
    };
    expect(encodedBytes(throwing)).toEqual({ ok: false, detail: 'getter' });
  });
});
