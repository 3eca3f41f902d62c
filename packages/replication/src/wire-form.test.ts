// Replication's wire form on the group layer's connections. Invariants: every application payload
// and every piggyback this layer attaches comes back from msgpack equal to what was sent; anything
// else travels untouched; a wire form this version did not write is refused (the packet is then a
// counted drop), never turned into a wrong payload or order entry.
import { encodedBytes, encodedBytesBound, MALFORMED_PAYLOAD } from '@steadfast/group';
import { address, decodeBody, encodeBody, nodeId } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPLICATION_PIGGYBACK_KEY, type ApplicationPayload, type OrderEntry } from './types.js';
import {
  APPLICATION_PAYLOAD_WIRE_TAG,
  applicationPayloadBytesBound,
  applicationPayloadWireBytes,
  applicationPayloadWireForm as form,
  replicationPiggybackWireBytes,
} from './wire-form.js';

/** Through msgpack, as the codec carries it. */
function overTheWire(value: unknown): unknown {
  const decoded = decodeBody(encodeBody(value));
  if (!decoded.ok) throw new Error(decoded.error);
  return decoded.value;
}

// Through JSON once: msgpack writes -0 as 0, and decodes a `__proto__` key as `__proto_` (documented
// in docs/wire.md), which is the codec's business, not this layer's.
const json = fc
  .jsonValue({ maxDepth: 3 })
  .map((value) => JSON.parse(JSON.stringify(value)) as unknown)
  .filter((value) => !JSON.stringify(value).includes('"__proto__"'));
const group = fc.constantFrom('clients', 'accounts', 'A');
const id = fc.record({
  origin: group.map(nodeId),
  incarnation: fc.nat(3),
  sequence: fc.integer({ min: 1, max: 2 ** 40 }),
});

const payload: fc.Arbitrary<ApplicationPayload> = fc
  .record({
    id,
    ownId: fc.boolean(),
    source: group,
    target: group,
    channel: fc.integer({ min: 1, max: 2 ** 40 }),
    body: json,
    epoch: fc.nat(),
    position: fc.nat(),
    inReplyTo: fc.option(id, { nil: undefined }),
    derived: fc.option(fc.record({ nowMs: fc.nat(), seed: fc.nat() }), { nil: undefined }),
  })
  .map(({ id, ownId, source, inReplyTo, derived, ...rest }) => ({
    type: 'rep-app' as const,
    // A replica's own outputs are named after its group (the short form); others keep theirs.
    id: ownId ? { ...id, origin: nodeId(source) } : id,
    source,
    ...rest,
    ...(inReplyTo === undefined ? {} : { inReplyTo }),
    ...(derived === undefined ? {} : { derived }),
  }));

const entry: fc.Arbitrary<OrderEntry> = fc
  .record({
    position: fc.integer({ min: 1, max: 2 ** 40 }),
    epoch: fc.option(fc.nat(), { nil: undefined }),
    input: fc.oneof(
      fc.record({ type: fc.constant('message' as const), source: group, channel: fc.nat() }),
      fc.record({
        type: fc.constant('message' as const),
        source: group,
        channel: fc.nat(),
        sentEpoch: fc.nat(),
        sentAt: fc.nat(),
      }),
      fc.constant({ type: 'start' as const }),
      fc.record({ type: fc.constant('timer' as const), name: fc.string(), payload: json }),
      fc.record({ type: fc.constant('external' as const), body: json }),
      fc.record({
        type: fc.constant('reply-timeout' as const),
        request: fc.record({ origin: group.map(nodeId), incarnation: fc.nat(), sequence: fc.nat() }),
        target: group.map((name) => address(nodeId(name), 'replicated')),
        afterMs: fc.oneof(fc.nat(), fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true })),
      }),
    ),
    values: fc.array(
      fc.oneof(
        fc.record({ kind: fc.constantFrom('now' as const, 'random' as const, 'id' as const), value: json }),
        fc.record({ kind: fc.constant('call' as const), name: fc.string(), value: json }),
      ),
      { maxLength: 3 },
    ),
    digest: fc.option(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 32, maxLength: 32 }),
      { nil: undefined },
    ),
    implied: fc.option(fc.constant(true as const), { nil: undefined }),
  })
  .map(({ epoch, digest, implied, ...rest }) => ({
    ...rest,
    ...(epoch === undefined ? {} : { epoch }),
    ...(digest === undefined ? {} : { digest }),
    ...(implied === undefined ? {} : { implied }),
  }));

const piggyback = fc
  .record({
    order: fc.option(fc.record({ group, epoch: fc.nat(), entries: fc.array(entry, { maxLength: 4 }) }), {
      nil: undefined,
    }),
    relay: fc.option(
      fc.record({
        group,
        epoch: fc.option(fc.nat(), { nil: undefined }),
        entries: fc.array(entry, { maxLength: 4 }),
      }),
      { nil: undefined },
    ),
    bases: fc.option(fc.record({ group, bases: fc.array(fc.record({ epoch: fc.nat(), cut: fc.nat() })) }), {
      nil: undefined,
    }),
  })
  .map((rep) => Object.fromEntries(Object.entries(rep).filter(([, value]) => value !== undefined)));

/** A reply of the benchmark's accounts group as its primary multicasts it. */
const accountsReply: ApplicationPayload = {
  type: 'rep-app',
  id: { origin: nodeId('accounts'), incarnation: 0, sequence: 1314 },
  source: 'accounts',
  target: 'clients',
  channel: 1314,
  body: { ok: true, type: 'deposited', operationId: 'warm-1313', amountCents: 1, balanceCents: 1314 },
  epoch: 1,
  position: 1315,
  inReplyTo: { origin: nodeId('clients'), incarnation: 0, sequence: 2569 },
};

describe('replication wire form', () => {
  it('application payloads come back from msgpack as they were sent; anything else travels untouched', () => {
    fc.assert(
      fc.property(payload, json, (sent, other) => {
        expect(form.fromWire(overTheWire(form.toWire(sent)))).toEqual(sent);
        expect(form.fromWire(overTheWire(form.toWire(other)))).toEqual(other);
      }),
      { numRuns: 300 },
    );
  });

  it('order and relay entries come back as they were sent, and other piggybacked data untouched', () => {
    fc.assert(
      fc.property(piggyback, json, (rep, other) => {
        const sent = { [REPLICATION_PIGGYBACK_KEY]: rep, other };
        const wire = overTheWire(form.piggybackToWire!(sent)) as Record<string, unknown>;
        expect(form.piggybackFromWire!(wire)).toEqual(sent);
      }),
      { numRuns: 300 },
    );
  });

  it('a payload is a third of the bytes of its object form', () => {
    const reply = accountsReply;
    const bodyBytes = encodeBody(reply.body).length;
    const objectOverhead = encodeBody(reply).length - bodyBytes;
    const wireOverhead = encodeBody(form.toWire(reply)).length - bodyBytes;
    expect(wireOverhead * 3).toBeLessThan(objectOverhead);
  });

  it('refuses a wire form it did not write', () => {
    const good = form.toWire({
      type: 'rep-app',
      id: { origin: nodeId('A'), incarnation: 0, sequence: 1 },
      source: 'A',
      target: 'B',
      channel: 1,
      body: null,
      epoch: 1,
      position: 2,
    }) as unknown[];
    const changed = (index: number, value: unknown) => good.map((item, at) => (at === index ? value : item));
    for (const bad of [
      good.slice(0, 11),
      changed(1, 7),
      changed(3, 'one'),
      changed(7, -1),
      changed(8, 42),
      changed(10, ['A', 0]),
      changed(11, [1]),
    ])
      expect(form.fromWire(bad)).toBe(MALFORMED_PAYLOAD);
    expect(good[0]).toBe(APPLICATION_PAYLOAD_WIRE_TAG);
    const entries = (list: unknown[]) => ({
      [REPLICATION_PIGGYBACK_KEY]: { order: { group: 'A', epoch: 1, entries: list } },
    });
    for (const badEntry of [
      [1, 1, ['A', 1], [], null],
      [1, 1, ['A'], [], null, 0],
      [1, 1, ['A', 1, 2], [], null, 0],
      [1, 1, ['A', 1, 2, 'three'], [], null, 0],
      [1, 1, ['A', 1, 2, 3, 4], [], null, 0],
      [1, 1, ['A', 1], [['now']], null, 0],
      [1, 1, ['A', 1], [[1, 2]], null, 0],
      [1, 1, 'message', [], null, 0],
      [1, 1, ['A', 1], [], null, 2],
      { position: 1, input: { type: 'message', source: 'A', channel: 1 }, values: [] },
      // An input of a type this build does not know (a newer replica's), or one missing its fields.
      [1, 1, { type: 'teleport' }, [], null, 0],
      [1, 1, { type: 'timer' }, [], null, 0],
      [
        1,
        1,
        { type: 'reply-timeout', request: { origin: 'A' }, target: 'A/replicated', afterMs: 5 },
        [],
        null,
        0,
      ],
    ])
      expect(form.piggybackFromWire!(entries([badEntry]))).toBe(MALFORMED_PAYLOAD);
    expect(form.piggybackFromWire!({ [REPLICATION_PIGGYBACK_KEY]: { relay: 'x' } })).toBe(MALFORMED_PAYLOAD);
  });
});

describe('applicationPayloadWireBytes', () => {
  // Invariant: what the primary tells the endpoint a payload takes is never less than the codec
  // writes for its wire form (else a packet could exceed `messageBytesMax`), and never more than the
  // endpoint's own walk of the payload would say (so packets are at least as full as before).
  it('is at least what the codec writes for the wire form and at most the walk of the payload', () => {
    const anyNumber = fc.oneof(fc.integer({ min: -(2 ** 52), max: 2 ** 52 }), fc.double({ noNaN: true }));
    const varied = fc
      .tuple(payload, anyNumber, anyNumber, fc.string({ unit: 'grapheme', maxLength: 40 }))
      .map(([sent, channel, epoch, text]) => ({ ...sent, channel, epoch, body: { text, body: sent.body } }));
    fc.assert(
      fc.property(fc.oneof(payload, varied), (sent) => {
        const bytes = applicationPayloadWireBytes(sent);
        const walked = encodedBytes(sent);
        if (bytes === undefined || !walked.ok) throw new Error('an encodable payload was not sized');
        expect(bytes).toBeGreaterThanOrEqual(encodeBody(form.toWire(sent)).length);
        expect(bytes).toBeLessThanOrEqual(walked.bytes);
      }),
      { numRuns: 1_000 },
    );
  });

  // Invariant: every replica decides an output's refusal with this number (`sizeRefusal`); it is
  // the group layer's own quick bound of the payload, so replicas of older versions, which walk the
  // payload, decide alike.
  it('applicationPayloadBytesBound is the quick bound of a walk of the payload', () => {
    const bodies = fc.oneof(
      json,
      fc.constant(new Map([['a', 1]])),
      fc.string({ unit: 'grapheme', maxLength: 40 }).map((text) => ({ text, at: new Date(0) })),
    );
    fc.assert(
      fc.property(payload, bodies, fc.nat(), (made, body, epoch) => {
        // Its id a plain object, as `emit` makes it (fast-check also makes null-prototype ones).
        const { origin, incarnation, sequence } = made.id;
        const sent = { ...made, id: { origin, incarnation, sequence }, body, epoch };
        expect(applicationPayloadBytesBound(sent)).toBe(encodedBytesBound(sent));
        // Whatever the id: never below the exact size, so `sizeRefusal` decides as with its own walk.
        const exact = encodedBytes({ ...made, body, epoch });
        if (exact.ok)
          expect(applicationPayloadBytesBound({ ...made, body, epoch })).toBeGreaterThanOrEqual(exact.bytes);
      }),
      { numRuns: 1_000 },
    );
  });

  // Invariant: what the primary tells the endpoint its attached announcements take is never less
  // than the codec writes for their wire form, nor more than the endpoint's own walk would say.
  it('replicationPiggybackWireBytes is at least what the codec writes and at most the walk', () => {
    // Entries with no objects in them (message inputs, scalar values): their count must be exact.
    const plainEntry = entry.map((made) => ({
      ...made,
      input: { type: 'message' as const, source: 'clients', channel: made.position % 1000 },
      values: made.values.map((value) => ({ ...value, value: made.position })),
    }));
    fc.assert(
      // Many entries too: an undercount of one byte per entry must show past the generous map headers.
      fc.property(
        fc.oneof(
          piggyback,
          fc.record({
            order: fc.record({
              group,
              epoch: fc.nat(),
              entries: fc.array(plainEntry, { minLength: 12, maxLength: 24 }),
            }),
          }),
        ),
        (rep) => {
          const bytes = replicationPiggybackWireBytes(rep);
          const walked = encodedBytes(rep);
          if (bytes === undefined || !walked.ok) throw new Error('encodable announcements were not sized');
          const wire = form.piggybackToWire!({ [REPLICATION_PIGGYBACK_KEY]: rep })[REPLICATION_PIGGYBACK_KEY];
          expect(bytes).toBeGreaterThanOrEqual(encodeBody(wire).length);
          expect(bytes).toBeLessThanOrEqual(walked.bytes);
        },
      ),
      { numRuns: 1_000 },
    );
    const unencodable = {
      order: {
        group: 'A',
        epoch: 1,
        entries: [{ position: 1, input: { type: 'start' }, values: [{ kind: 'call', value: Symbol('x') }] }],
      },
    };
    expect(replicationPiggybackWireBytes(unencodable as never)).toBeUndefined();
  });

  it('says nothing for a body that cannot be encoded, so the endpoint finds out and refuses it', () => {
    expect(
      applicationPayloadWireBytes({ ...accountsReply, body: { oops: Symbol('not data') } }),
    ).toBeUndefined();
  });
});
