// The packet's wire form. Invariants: a packet comes back from its frame equal to what was sent,
// whoever's messages it carries and whatever the layer above's payload form; anything that is not
// a packet this version wrote comes back as undefined (a counted drop), never as a wrong packet
// and never as an exception.
import { address, createCodec, nodeId, type Envelope, type NodeId } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Control, DataMessage, Packet } from './types.js';
import {
  MALFORMED_PAYLOAD,
  PACKET_FORMAT,
  packetFromEnvelope,
  packetToEnvelope,
  type PayloadWireForm,
} from './wire-format.js';

const codec = createCodec({ keys: new Map([[1, new Uint8Array(32).fill(5)]]), activeKeyId: 1 });

const control: Control = {
  epochs: { A: 2, B: 1 },
  acks: { 'a1:1': 4 },
  stable: { 'a1:1': 2 },
  nacks: {},
  views: [],
  syncRequest: false,
  counted: 0,
  answer: false,
};

/** Through the real codec, as the node sends it: what arrives is what msgpack makes of the frame. */
function roundTrip(packet: Packet, payloads?: PayloadWireForm): Packet | undefined {
  const { body, header } = packetToEnvelope(packet, payloads);
  const envelope: Envelope = {
    kind: 'one-way',
    id: { origin: packet.from, incarnation: 1, sequence: 1 },
    source: address(packet.from, 'endpoint'),
    target: address(nodeId('b1'), 'endpoint'),
    header,
    body,
  };
  const encoded = codec.encode(envelope);
  if (!encoded.ok) throw new Error(encoded.error.detail);
  const decoded = codec.decode(encoded.frame);
  if (!decoded.ok) throw new Error(decoded.error.detail);
  return packetFromEnvelope(decoded.envelope.body, decoded.envelope.header, payloads);
}

const kinds = ['null', 'sync-request', 'sync-reply', 'async-request', 'async-reply', 'one-way'] as const;
// Through JSON once: msgpack writes -0 as 0, and decodes a `__proto__` key as `__proto_` (documented
// in docs/wire.md), which is the codec's business, not this layer's.
const json = fc
  .jsonValue({ maxDepth: 3 })
  .map((value) => JSON.parse(JSON.stringify(value)) as unknown)
  .filter((value) => !JSON.stringify(value).includes('"__proto__"'));
const origin = fc.constantFrom<NodeId>(nodeId('a1'), nodeId('a2'), nodeId('b1'));

const message: fc.Arbitrary<DataMessage> = fc
  .record({
    origin,
    incarnation: fc.constantFrom(1, 2, 1_795_355_827_528),
    sequence: fc.integer({ min: 1, max: 2 ** 40 }),
    group: fc.constantFrom('A', 'B'),
    kind: fc.constantFrom(...kinds),
    payload: json,
    piggyback: fc.option(fc.dictionary(fc.constantFrom('rep', 'other'), json), { nil: null }),
    stableAtSend: fc.nat(),
  })
  .map(({ origin, incarnation, sequence, group, kind, payload, piggyback, stableAtSend }): DataMessage => ({
    id: { origin, incarnation, sequence },
    group,
    kind,
    payload: kind === 'null' ? null : payload,
    piggyback,
    stableAtSend,
  }));

const packet: fc.Arbitrary<Packet> = fc
  .record({
    from: origin,
    incarnation: fc.constantFrom(1, 2, 1_795_355_827_528),
    group: fc.constantFrom('A', 'B'),
    data: fc.array(message, { maxLength: 6 }),
  })
  .map(({ from, incarnation, group, data }) => ({
    connection: 'A<->B',
    from,
    incarnation,
    group,
    // Most messages are the sender's own (the short form); the rest are retransmitted on behalf of others.
    data: data.map((item, index) =>
      index % 2 === 0 ? { ...item, id: { ...item.id, origin: from, incarnation }, group } : item,
    ),
    control,
  }));

/** A payload form that wraps payloads, to check the hook runs both ways, on payloads and piggybacks. */
const boxed: PayloadWireForm = {
  toWire: (payload) => ['boxed', payload],
  fromWire: (wire) => (Array.isArray(wire) && wire[0] === 'boxed' ? wire[1] : MALFORMED_PAYLOAD),
  piggybackToWire: (piggyback) => ({ box: piggyback }),
  piggybackFromWire: (wire) =>
    typeof wire.box === 'object' && wire.box !== null
      ? (wire.box as Readonly<Record<string, unknown>>)
      : MALFORMED_PAYLOAD,
};

describe('packet wire form', () => {
  it('a packet comes back from its frame as it was sent, with or without a payload form', () => {
    fc.assert(
      fc.property(packet, (sent) => {
        expect(roundTrip(sent)).toEqual(sent);
        expect(roundTrip(sent, boxed)).toEqual(sent);
      }),
      { numRuns: 300 },
    );
  });

  it("the sender's own messages travel without their id and group, others' with them", () => {
    const own: DataMessage = {
      id: { origin: nodeId('a1'), incarnation: 1, sequence: 7 },
      group: 'A',
      kind: 'async-request',
      payload: { type: 'x' },
      piggyback: null,
      stableAtSend: 3,
    };
    const other: DataMessage = { ...own, id: { ...own.id, origin: nodeId('a2') } };
    const { body } = packetToEnvelope({
      connection: 'A<->B',
      from: nodeId('a1'),
      incarnation: 1,
      group: 'A',
      data: [own, other],
      control,
    });
    expect(body.format).toBe(PACKET_FORMAT);
    expect(body.data).toEqual([
      [7, 'async-request', { type: 'x' }, null, 3],
      [7, 'async-request', { type: 'x' }, null, 3, 'a2', 1, 'A'],
    ]);
  });

  it('drops what this version did not write: another format, bad arrays, a payload form refusing', () => {
    const good = packetToEnvelope({
      connection: 'A<->B',
      from: nodeId('a1'),
      incarnation: 1,
      group: 'A',
      data: [
        {
          id: { origin: nodeId('a1'), incarnation: 1, sequence: 1 },
          group: 'A',
          kind: 'one-way',
          payload: 1,
          piggyback: null,
          stableAtSend: 0,
        },
      ],
      control,
    });
    expect(packetFromEnvelope(good.body, good.header)).toBeDefined();
    const withData = (data: unknown[]) => ({ ...good.body, data });
    const bad: unknown[] = [
      { ...good.body, format: 1 },
      { ...good.body, format: undefined },
      withData([[1, 'one-way', 1, null]]),
      withData([[0, 'one-way', 1, null, 0]]),
      withData([[1, 'shout', 1, null, 0]]),
      withData([[1, 'one-way', 1, 'piggyback', 0]]),
      withData([[1, 'one-way', 1, null, -1]]),
      withData([[1, 'one-way', 1, null, 0, 'a2', 1]]),
      withData([[1, 'one-way', 1, null, 0, 42, 1, 'A']]),
      withData([{ id: { origin: 'a1', incarnation: 1, sequence: 1 }, group: 'A', kind: 'one-way' }]),
      withData(['x']),
      { ...good.body, data: 'x' },
    ];
    for (const body of bad) expect(packetFromEnvelope(body, good.header)).toBeUndefined();
    const wireControl = good.header.mc as unknown[];
    for (const badControl of [
      { ...control },
      wireControl.slice(0, 7),
      wireControl.map((item, index) => (index === 1 ? 'x' : item)),
      wireControl.map((item, index) => (index === 3 ? { 'a1:1': [1] } : item)),
      wireControl.map((item, index) => (index === 4 ? [{ group: 'A' }] : item)),
      wireControl.map((item, index) => (index === 6 ? -1 : item)),
      undefined,
    ])
      expect(packetFromEnvelope(good.body, { mc: badControl })).toBeUndefined();
    // The payload form refuses a payload it did not write: the packet is dropped.
    expect(packetFromEnvelope(good.body, good.header, boxed)).toBeUndefined();
  });
});
