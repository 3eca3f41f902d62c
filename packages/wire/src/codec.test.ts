/**
 * Tests of the authenticated frame codec: the frame layout of docs/wire.md, the round trip of every
 * envelope kind, each decode error reason, key rotation, size limits, and the integrity invariant
 * (no tampered or random datagram is ever accepted, and decoding never throws).
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  createCodec,
  DEFAULT_MAX_FRAME_BYTES,
  encodeMemo,
  FRAME_HEADER_BYTES,
  FRAME_VERSION,
  MAX_DATAGRAM_BYTES,
  type Codec,
  type DecodeErrorReason,
  type DecodeResult,
} from './codec.js';
import { tagOfKind, WireTag, type Envelope } from './envelope.js';
import { address, isNodeId, nodeId, type MessageId } from './ids.js';

const key1 = new Uint8Array(32).fill(1);
const key2 = new Uint8Array(32).fill(2);

function codecWith(keys: [number, Uint8Array][], activeKeyId: number, maxFrameBytes?: number): Codec {
  return createCodec({
    keys: new Map(keys),
    activeKeyId,
    ...(maxFrameBytes === undefined ? {} : { maxFrameBytes }),
  });
}

const codec = codecWith([[1, key1]], 1);
/** An independent msgpack reader and writer, to look inside frames and to craft bodies. */
const packr = new Packr({ useRecords: false });

const requestId: MessageId = { origin: nodeId('node-a'), incarnation: 3, sequence: 41 };
const replyId: MessageId = { origin: nodeId('node-b'), incarnation: 0, sequence: 7 };
const alice = address('node-a', 'alice');
const bob = address('node-b', 'bob');
const header = { order: { ids: [['node-a', 3, 40]], batch: 2 }, fd: { epoch: 9 } };
const nestedBody = { op: 'put', key: 'k', value: { list: [1, -2, 3.5, 'x', null, true, { deep: [[]] }] } };

const envelopes: Envelope[] = [
  { kind: 'sync-request', id: requestId, source: alice, target: bob, header, body: nestedBody },
  {
    kind: 'sync-reply',
    id: replyId,
    source: bob,
    target: alice,
    header,
    body: { ok: [1, 2] },
    inReplyTo: requestId,
  },
  {
    kind: 'async-request',
    id: requestId,
    source: alice,
    target: bob,
    header: {},
    body: ['a', ['b', { c: 'd' }]],
  },
  { kind: 'async-reply', id: replyId, source: bob, target: alice, body: null, inReplyTo: requestId },
  { kind: 'one-way', id: requestId, source: alice, target: bob, header, body: 'ping' },
];

function encodeOk(envelope: Envelope, using: Codec = codec): Uint8Array {
  const result = using.encode(envelope);
  if (!result.ok)
    throw new Error(`expected encode to succeed: ${result.error.reason} ${result.error.detail}`);
  return result.frame;
}

function hmac(key: Uint8Array, signed: Uint8Array): Uint8Array {
  return createHmac('sha256', key).update(signed).digest();
}

/** Builds a frame by hand, signed correctly, so that checks after the MAC can be reached. */
function signedFrame(
  body: Uint8Array,
  options: { tag?: number; keyId?: number; key?: Uint8Array } = {},
): Uint8Array {
  const { tag = WireTag.oneWay, keyId = 1, key = key1 } = options;
  const head = Uint8Array.of(FRAME_VERSION, tag, keyId);
  const signed = new Uint8Array([...head, ...body]);
  return new Uint8Array([...head, ...hmac(key, signed), ...body]);
}

function reasonOf(result: DecodeResult): DecodeErrorReason | 'ok' {
  return result.ok ? 'ok' : result.error.reason;
}

describe('round trip', () => {
  it.each(envelopes.map((envelope) => [envelope.kind, envelope] as const))(
    'decode(encode(e)) equals e for a %s with header and nested body (invariant: lossless round trip)',
    (_kind, envelope) => {
      const result = codec.decode(encodeOk(envelope));
      expect(result).toEqual({ ok: true, envelope });
    },
  );

  it('an envelope without a header decodes without a header key (invariant: absent stays absent)', () => {
    const envelope: Envelope = { kind: 'one-way', id: requestId, source: alice, target: bob, body: 1 };
    const result = codec.decode(encodeOk(envelope));
    expect(result.ok && Object.hasOwn(result.envelope, 'header')).toBe(false);
    expect(result).toEqual({ ok: true, envelope });
  });

  it('binary data, typed arrays, sets, dates and bigints arrive intact (invariant: lossless round trip, no stale bytes)', () => {
    const body = {
      bytes: Uint8Array.of(0, 1, 254, 255),
      buffer: Buffer.from([9, 8]),
      samples: new Float32Array([1.5, -2.25]),
      wide: new Float64Array([Math.PI]),
      counts: new Uint16Array([258, 65_535]),
      members: new Set(['a', 'b']),
      at: new Date(1_700_000_000_123),
      small: 5n,
      huge: 2n ** 70n,
    };
    // An earlier large frame leaves other bytes in msgpackr's shared buffer: they must not leak in.
    encodeOk({ kind: 'one-way', id: requestId, source: alice, target: bob, body: 'z'.repeat(5_000) });
    const envelope: Envelope = { kind: 'one-way', id: requestId, source: alice, target: bob, body };
    const result = codec.decode(encodeOk(envelope));
    // A Buffer travels as msgpack binary and arrives as a plain Uint8Array with the same bytes.
    expect(result).toEqual({
      ok: true,
      envelope: { ...envelope, body: { ...body, buffer: Uint8Array.of(9, 8) } },
    });
    const decoded = (result.ok ? result.envelope.body : {}) as typeof body;
    expect(decoded.bytes).toBeInstanceOf(Uint8Array);
    expect(decoded.samples).toBeInstanceOf(Float32Array);
    expect(decoded.members).toBeInstanceOf(Set);
  });

  it('maps arrive as plain objects and -0 as 0 (the documented limits of msgpack fidelity)', () => {
    const body = { map: new Map<string, number>([['k', 1]]), zero: -0 };
    const result = codec.decode(
      encodeOk({ kind: 'one-way', id: requestId, source: alice, target: bob, body }),
    );
    expect(result.ok && result.envelope.body).toEqual({ map: { k: 1 }, zero: 0 });
  });

  it('decoded binary data does not alias the frame (invariant: a reused receive buffer cannot change a delivered body)', () => {
    const body = { bytes: Uint8Array.of(7, 7, 7), buffer: Buffer.from([6, 6]) };
    const frame = encodeOk({ kind: 'one-way', id: requestId, source: alice, target: bob, body });
    const result = codec.decode(frame);
    frame.fill(0);
    expect(result.ok && result.envelope.body).toEqual({
      bytes: Uint8Array.of(7, 7, 7),
      buffer: Uint8Array.of(6, 6),
    });
  });

  it('each frame decodes on its own, in any order, by a fresh codec (invariant: no shared msgpack state)', () => {
    const frames = envelopes.map((envelope) => encodeOk(envelope));
    const fresh = codecWith([[1, key1]], 1);
    const decoded = [...frames].reverse().map((frame) => fresh.decode(frame));
    expect(decoded).toEqual([...envelopes].reverse().map((envelope) => ({ ok: true, envelope })));
  });
});

describe('frame layout (docs/wire.md)', () => {
  it.each(envelopes.map((envelope) => [envelope.kind, envelope] as const))(
    'a %s frame is version|tag|key id|HMAC-SHA256|msgpack fields (invariant: the documented layout)',
    (_kind, envelope) => {
      const frame = encodeOk(envelope);
      expect(frame[0]).toBe(FRAME_VERSION);
      expect(frame[1]).toBe(tagOfKind[envelope.kind]);
      expect(frame[2]).toBe(1);
      const body = frame.subarray(FRAME_HEADER_BYTES);
      const signed = new Uint8Array([...frame.subarray(0, 3), ...body]);
      expect([...frame.subarray(3, FRAME_HEADER_BYTES)]).toEqual([...hmac(key1, signed)]);
      const wireId = (id: MessageId) => [id.origin, id.incarnation, id.sequence];
      const fields = [
        wireId(envelope.id),
        envelope.source,
        envelope.target,
        envelope.header ?? null,
        envelope.body,
      ];
      if (envelope.kind === 'sync-reply' || envelope.kind === 'async-reply')
        fields.push(wireId(envelope.inReplyTo));
      expect(packr.unpack(body)).toEqual(fields);
    },
  );

  it('the tag table is the append-only one of the docs (invariant: tags are never renumbered)', () => {
    expect(tagOfKind).toEqual({
      'sync-request': 1,
      'sync-reply': 2,
      'async-request': 3,
      'async-reply': 4,
      'one-way': 5,
    });
    expect(FRAME_VERSION).toBe(1);
    expect(FRAME_HEADER_BYTES).toBe(35);
  });
});

describe('decode errors: each reason from a crafted frame', () => {
  const valid = encodeOk(envelopes[0]!);

  it('a frame shorter than the header is malformed (invariant: short frames are rejected before parsing)', () => {
    const result = codec.decode(valid.subarray(0, FRAME_HEADER_BYTES - 1));
    expect(reasonOf(result)).toBe('malformed');
    expect(codec.decode(new Uint8Array(0))).toMatchObject({ ok: false, error: { reason: 'malformed' } });
  });

  it('a frame longer than maxFrameBytes is oversize (invariant: frames are bounded)', () => {
    expect(reasonOf(codec.decode(new Uint8Array(DEFAULT_MAX_FRAME_BYTES + 1)))).toBe('oversize');
  });

  it('another version byte gives bad-version (invariant: every frame starts with its version)', () => {
    const frame = Uint8Array.from(valid);
    frame[0] = FRAME_VERSION + 1;
    expect(codec.decode(frame)).toMatchObject({
      ok: false,
      error: { reason: 'bad-version', detail: expect.stringContaining('2') },
    });
  });

  it('a key id the node does not hold gives unknown-key (invariant: only known keys are tried)', () => {
    const frame = Uint8Array.from(valid);
    frame[2] = 9;
    expect(reasonOf(codec.decode(frame))).toBe('unknown-key');
  });

  it('a changed body byte gives bad-mac (invariant: integrity of the body)', () => {
    const frame = Uint8Array.from(valid);
    frame[frame.length - 1]! ^= 0x01;
    expect(reasonOf(codec.decode(frame))).toBe('bad-mac');
  });

  it('a changed tag byte gives bad-mac, since the MAC covers it (invariant: integrity of the kind)', () => {
    const frame = Uint8Array.from(valid);
    frame[1] = WireTag.oneWay;
    expect(reasonOf(codec.decode(frame))).toBe('bad-mac');
  });

  it('a signed frame with a tag no kind has gives unknown-tag (invariant: tags are never guessed)', () => {
    const body = packr.pack([['node-a', 0, 0], 'node-a/x', 'node-b/y', null, 1]);
    expect(codec.decode(signedFrame(body, { tag: 99 }))).toMatchObject({
      ok: false,
      error: { reason: 'unknown-tag', detail: expect.stringContaining('99') },
    });
  });

  const goodId = ['node-a', 1, 2];
  const bad: [string, unknown, number, string][] = [
    ['an empty body', undefined, WireTag.oneWay, 'msgpack'],
    ['a non-array body', { id: goodId }, WireTag.oneWay, 'array'],
    ['too few fields', [goodId, 'a/b', 'c/d', null], WireTag.oneWay, 'fields'],
    ['a reply without inReplyTo', [goodId, 'a/b', 'c/d', null, 1], WireTag.syncReply, 'fields'],
    ['a request with an extra field', [goodId, 'a/b', 'c/d', null, 1, goodId], WireTag.syncRequest, 'fields'],
    ['an id that is not a triple', [['node-a', 1], 'a/b', 'c/d', null, 1], WireTag.oneWay, 'id'],
    ['an origin with a slash', [['no/de', 1, 2], 'a/b', 'c/d', null, 1], WireTag.oneWay, 'id.origin'],
    ['an empty origin', [['', 1, 2], 'a/b', 'c/d', null, 1], WireTag.oneWay, 'id.origin'],
    ['a negative incarnation', [['n', -1, 2], 'a/b', 'c/d', null, 1], WireTag.oneWay, 'id.incarnation'],
    ['a fractional sequence', [['n', 1, 2.5], 'a/b', 'c/d', null, 1], WireTag.oneWay, 'id.sequence'],
    ['an unsafe sequence', [['n', 1, 2 ** 60], 'a/b', 'c/d', null, 1], WireTag.oneWay, 'id.sequence'],
    ['a bigint sequence', [['n', 1, 5n], 'a/b', 'c/d', null, 1], WireTag.oneWay, 'id.sequence'],
    ['a source without an actor', [goodId, 'a/', 'c/d', null, 1], WireTag.oneWay, 'source'],
    ['a numeric target', [goodId, 'a/b', 7, null, 1], WireTag.oneWay, 'target'],
    ['an array header', [goodId, 'a/b', 'c/d', [1], 1], WireTag.oneWay, 'header'],
    ['a string header', [goodId, 'a/b', 'c/d', 'h', 1], WireTag.oneWay, 'header'],
    [
      'a bad inReplyTo',
      [goodId, 'a/b', 'c/d', null, 1, ['n', 'x', 1]],
      WireTag.asyncReply,
      'inReplyTo.incarnation',
    ],
  ];
  it.each(bad)(
    'a signed frame with %s is malformed, naming the field (invariant: only well-shaped envelopes are accepted)',
    (_name, fields, tag, field) => {
      const body = fields === undefined ? new Uint8Array(0) : packr.pack(fields);
      const result = codec.decode(signedFrame(body, { tag }));
      expect(result).toMatchObject({
        ok: false,
        error: { reason: 'malformed', detail: expect.stringContaining(field) },
      });
    },
  );

  it.each([
    ['truncated msgpack', Uint8Array.of(0x92, 0x01)],
    ['trailing bytes', Uint8Array.of(0x90, 0x00)],
    ['an unknown extension', Uint8Array.of(0xd4, 0x99, 0x00)],
    ['the never-used byte 0xc1', Uint8Array.of(0xc1)],
    ['an array claiming 4 billion items', Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff)],
  ])(
    'a signed frame whose body is %s is malformed, not thrown (invariant: decode never throws)',
    (_name, body) => {
      expect(reasonOf(codec.decode(signedFrame(body)))).toBe('malformed');
    },
  );

  it('a well-shaped frame whose body is nested 10,000 arrays deep is malformed, not thrown, and the next frame decodes (invariant: decode never throws)', () => {
    const fields = packr.pack([goodId, 'a/b', 'c/d', null]);
    fields[0] = 0x95; // five fields: the fifth, the body, follows
    const deep = new Uint8Array(10_001).fill(0x91); // [[[...[1]...]]]
    deep[10_000] = 0x01;
    const result = codec.decode(signedFrame(new Uint8Array([...fields, ...deep])));
    expect(result).toMatchObject({
      ok: false,
      error: { reason: 'malformed', detail: expect.stringContaining('msgpack') },
    });
    expect(codec.decode(valid)).toEqual({ ok: true, envelope: envelopes[0] });
  });

  it('a value that is not a Uint8Array is malformed (invariant: decode never throws)', () => {
    for (const notBytes of [undefined, null, 'frame', 42, [1, 2, 3], new ArrayBuffer(40)]) {
      expect(reasonOf(codec.decode(notBytes as unknown as Uint8Array))).toBe('malformed');
    }
  });

  it('checks run in the documented order: size, version, key, MAC, tag, body (invariant: cheapest check first)', () => {
    // A frame wrong in every way reports only the first failing check.
    const frame = signedFrame(Uint8Array.of(0xc1, 0xc1), { tag: 99, keyId: 9 });
    frame[0] = 7;
    expect(reasonOf(codecWith([[1, key1]], 1, frame.length - 1).decode(frame))).toBe('oversize');
    expect(reasonOf(codec.decode(frame))).toBe('bad-version');
    frame[0] = FRAME_VERSION;
    expect(reasonOf(codec.decode(frame))).toBe('unknown-key');
    frame[2] = 1;
    expect(reasonOf(codec.decode(frame))).toBe('bad-mac');
    expect(reasonOf(codec.decode(signedFrame(Uint8Array.of(0xc1, 0xc1), { tag: 99 })))).toBe('unknown-tag');
    expect(reasonOf(codec.decode(signedFrame(Uint8Array.of(0xc1, 0xc1))))).toBe('malformed');
  });
});

describe('key rotation', () => {
  const sender = codecWith(
    [
      [1, key1],
      [2, key2],
    ],
    2,
  );
  const frame = encodeOk(envelopes[1]!, sender);

  it('a frame signed with key 2 carries key id 2 and decodes where both keys are known (invariant: rotation without loss)', () => {
    expect(frame[2]).toBe(2);
    const receiver = codecWith(
      [
        [1, key1],
        [2, key2],
      ],
      1,
    );
    expect(receiver.decode(frame)).toEqual({ ok: true, envelope: envelopes[1] });
  });

  it('a receiver without key 2 reports unknown-key (invariant: frames are checked with the key they name)', () => {
    expect(reasonOf(codec.decode(frame))).toBe('unknown-key');
  });

  it('a receiver whose key 2 has other bytes reports bad-mac (invariant: a wrong key never authenticates)', () => {
    const other = new Uint8Array(32).fill(3);
    expect(reasonOf(codecWith([[2, other]], 2).decode(frame))).toBe('bad-mac');
  });

  it('changing the caller key buffer after creation changes nothing (invariant: keys are copied)', () => {
    const bytes = Uint8Array.from(key1);
    const copying = codecWith([[1, bytes]], 1);
    bytes.fill(0xee);
    expect(copying.decode(encodeOk(envelopes[0]!))).toEqual({ ok: true, envelope: envelopes[0] });
  });
});

describe('size limits', () => {
  const envelope = envelopes[0]!;
  const frameBytes = encodeOk(envelope).length;

  it('a frame of exactly maxFrameBytes encodes and decodes; one byte less is oversize both ways (invariant: frames are bounded)', () => {
    const exact = codecWith([[1, key1]], 1, frameBytes);
    const frame = encodeOk(envelope, exact);
    expect(exact.decode(frame)).toEqual({ ok: true, envelope });
    const tight = codecWith([[1, key1]], 1, frameBytes - 1);
    expect(tight.encode(envelope)).toMatchObject({ ok: false, error: { reason: 'oversize' } });
    expect(reasonOf(tight.decode(frame))).toBe('oversize');
  });

  it('a body larger than the default limit is oversize on encode (invariant: frames are bounded)', () => {
    const big: Envelope = { ...envelope, body: 'x'.repeat(DEFAULT_MAX_FRAME_BYTES) };
    expect(codec.encode(big)).toMatchObject({ ok: false, error: { reason: 'oversize' } });
    expect(codec.maxFrameBytes).toBe(DEFAULT_MAX_FRAME_BYTES);
  });
});

describe('encode errors', () => {
  const base = envelopes[0]!;

  it('a body msgpack cannot hold is unencodable, not thrown (invariant: encode never throws)', () => {
    expect(codec.encode({ ...base, body: { tag: Symbol('s') } })).toMatchObject({
      ok: false,
      error: { reason: 'unencodable', detail: expect.stringContaining('symbol') },
    });
  });

  it.each([
    ['source', { ...base, source: 'no-slash' }],
    ['target', { ...base, target: '/actor' }],
    ['id.incarnation', { ...base, id: { ...requestId, incarnation: -1 } }],
    ['id', { ...base, id: undefined }],
    ['header', { ...base, header: [1] }],
    ['inReplyTo', { kind: 'sync-reply', id: replyId, source: bob, target: alice, body: 1 }],
    ['kind', { ...base, kind: 'broadcast' }],
    ['envelope', null],
  ])(
    'an envelope with a bad %s is unencodable, naming it (invariant: encode only makes frames decode accepts)',
    (field, envelope) => {
      expect(codec.encode(envelope as unknown as Envelope)).toMatchObject({
        ok: false,
        error: { reason: 'unencodable', detail: expect.stringContaining(field) },
      });
    },
  );
});

describe('options', () => {
  it.each([
    ['no keys', { keys: new Map(), activeKeyId: 1 }, RangeError, 'at least one key'],
    [
      'an active key that is missing',
      { keys: new Map([[1, key1]]), activeKeyId: 2 },
      RangeError,
      'activeKeyId 2',
    ],
    [
      'a 15-byte key',
      { keys: new Map([[1, new Uint8Array(15)]]), activeKeyId: 1 },
      RangeError,
      'at least 16',
    ],
    ['a key id of 256', { keys: new Map([[256, key1]]), activeKeyId: 256 }, RangeError, 'key id 256'],
    [
      'a key that is a string',
      { keys: new Map([[1, 'secret'.repeat(4)]]), activeKeyId: 1 },
      TypeError,
      'Uint8Array',
    ],
    ['keys that are not a Map', { keys: { 1: key1 }, activeKeyId: 1 }, TypeError, 'Map'],
    [
      'maxFrameBytes of a bare header',
      { keys: new Map([[1, key1]]), activeKeyId: 1, maxFrameBytes: 35 },
      RangeError,
      'maxFrameBytes',
    ],
    [
      'maxFrameBytes over a datagram',
      { keys: new Map([[1, key1]]), activeKeyId: 1, maxFrameBytes: 65_508 },
      RangeError,
      'maxFrameBytes',
    ],
    [
      'a fractional maxFrameBytes',
      { keys: new Map([[1, key1]]), activeKeyId: 1, maxFrameBytes: 100.5 },
      RangeError,
      'maxFrameBytes',
    ],
  ])('createCodec throws for %s (invariant: programmer errors throw)', (_name, options, type, message) => {
    expect(() => createCodec(options as never)).toThrow(type);
    expect(() => createCodec(options as never)).toThrow(message);
  });

  it('accepts the bounds of maxFrameBytes (invariant: the limits are inclusive)', () => {
    expect(codecWith([[1, key1]], 1, FRAME_HEADER_BYTES + 1).maxFrameBytes).toBe(FRAME_HEADER_BYTES + 1);
    expect(codecWith([[1, key1]], 1, MAX_DATAGRAM_BYTES).maxFrameBytes).toBe(MAX_DATAGRAM_BYTES);
  });
});

// ---- properties ----

// fast-check tries `__proto__` among matching strings: the one name the pattern allows and `nodeId` refuses.
const nodeIdArbitrary = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter(isNodeId);
const actorIdArbitrary = fc.stringMatching(/^[A-Za-z0-9._:@-]{1,12}$/);
const addressArbitrary = fc
  .tuple(nodeIdArbitrary, actorIdArbitrary)
  .map(([node, actor]) => address(node, actor));
const countArbitrary = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const messageIdArbitrary = fc.record({
  origin: nodeIdArbitrary.map(nodeId),
  incarnation: countArbitrary,
  sequence: countArbitrary,
});
/** Keys msgpackr reads back as written (it renames `__proto__` so that decoding cannot set a prototype). */
const keyArbitrary = fc.string({ maxLength: 8 }).filter((key) => key !== '__proto__');
/** Plain data that survives msgpack unchanged (msgpack has no -0, so it is left out). */
const { data: dataArbitrary } = fc.letrec<{ data: unknown }>((tie) => ({
  data: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noDefaultInfinity: false }).filter((value) => !Object.is(value, -0)),
    fc.string({ maxLength: 20 }),
    fc.array(tie('data'), { maxLength: 4 }),
    fc.dictionary(keyArbitrary, tie('data'), { maxKeys: 4, noNullPrototype: true }),
  ),
}));
const headerArbitrary = fc.option(
  fc.dictionary(keyArbitrary, dataArbitrary, { maxKeys: 3, noNullPrototype: true }),
  {
    nil: undefined,
  },
);
const envelopeArbitrary: fc.Arbitrary<Envelope> = fc
  .record({
    kind: fc.constantFrom(...(Object.keys(tagOfKind) as Envelope['kind'][])),
    id: messageIdArbitrary,
    source: addressArbitrary,
    target: addressArbitrary,
    header: headerArbitrary,
    body: dataArbitrary,
    inReplyTo: messageIdArbitrary,
  })
  .map(({ kind, header: maybeHeader, inReplyTo, ...common }) => {
    const withHeader = maybeHeader === undefined ? common : { ...common, header: maybeHeader };
    return kind === 'sync-reply' || kind === 'async-reply'
      ? { kind, ...withHeader, inReplyTo }
      : { kind, ...withHeader };
  });

type Mutation =
  | { readonly type: 'flip'; readonly at: number; readonly bit: number }
  | { readonly type: 'truncate'; readonly at: number }
  | { readonly type: 'extend'; readonly extra: Uint8Array };
const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ type: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ type: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ type: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
);

function mutate(frame: Uint8Array, mutation: Mutation): Uint8Array {
  switch (mutation.type) {
    case 'flip': {
      const copy = Uint8Array.from(frame);
      copy[mutation.at % frame.length]! ^= 1 << mutation.bit;
      return copy;
    }
    case 'truncate':
      return frame.slice(0, mutation.at % frame.length);
    case 'extend':
      return new Uint8Array([...frame, ...mutation.extra]);
  }
}

/** The reasons each kind of mutation may produce: anything else means a check is missing or misordered. */
const reasonsOfMutation: Record<Mutation['type'], readonly DecodeErrorReason[]> = {
  flip: ['bad-version', 'unknown-key', 'bad-mac'],
  truncate: ['malformed', 'bad-mac'],
  extend: ['bad-mac', 'oversize'],
};

describe('properties', () => {
  it('any envelope of valid fields round-trips (invariant: lossless round trip)', () => {
    fc.assert(
      fc.property(envelopeArbitrary, (envelope) => {
        expect(codec.decode(encodeOk(envelope))).toEqual({ ok: true, envelope });
      }),
      { numRuns: 300 },
    );
  });

  it('a batch encoded with a memo gives the frames of encoding each alone, whatever bodies its envelopes share (invariant: the memo changes no byte)', () => {
    const batchArbitrary = fc
      .tuple(
        fc.array(envelopeArbitrary, { minLength: 1, maxLength: 6 }),
        fc.array(fc.oneof(fc.constant({ shared: 1 }), fc.object()), { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 6 }),
      )
      // Some envelopes take one of a few body objects, as the members' packets of one multicast do.
      .map(([envelopes, bodies, picks]) =>
        envelopes.map((envelope, index) => {
          const pick = picks[index];
          return pick === undefined ? envelope : { ...envelope, body: bodies[pick % bodies.length] };
        }),
      );
    fc.assert(
      fc.property(batchArbitrary, (batch) => {
        const memo = encodeMemo();
        for (const envelope of batch) expect(codec.encode(envelope, memo)).toEqual(codec.encode(envelope));
      }),
      { numRuns: 300 },
    );
  });

  it('random bytes never throw and never decode ok (invariant: integrity, decode never throws)', () => {
    const signedLooking = fc
      .tuple(fc.constantFrom(...Object.values(WireTag)), fc.uint8Array({ maxLength: 200 }))
      .map(([tag, rest]) => Uint8Array.of(FRAME_VERSION, tag, 1, ...rest));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), signedLooking), (bytes) => {
        const result = codec.decode(bytes);
        expect(result.ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('any single mutation of a valid frame is rejected without throwing (invariant: integrity — a tampered frame is rejected)', () => {
    fc.assert(
      fc.property(envelopeArbitrary, mutationArbitrary, (envelope, mutation) => {
        const tampered = mutate(encodeOk(envelope), mutation);
        const result = codec.decode(tampered);
        // Stronger than "never ok with a different envelope": a changed frame is never ok at all.
        expect(result.ok).toBe(false);
        expect(reasonsOfMutation[mutation.type]).toContain(reasonOf(result));
      }),
      { numRuns: 1000 },
    );
  });
});
