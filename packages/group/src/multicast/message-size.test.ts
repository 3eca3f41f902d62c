// Message and packet size bounds of the connection endpoint. Invariant: everything the endpoint
// accepts travels, in packets that each encode in one default frame (16 KiB). A message that could
// never fit is refused with a typed error before it takes a sequence number; if it were accepted,
// the node would drop it at every send and retransmission and, since each sender's stream is
// delivered in order, nothing the sender multicast after it would ever be delivered.
import { address, createCodec, DEFAULT_MAX_FRAME_BYTES, nodeId, type NodeId } from '@steadfast/wire';
import { Prng } from '@steadfast/sim';
import { describe, expect, it } from 'vitest';
import { createEndpoint, installView, multicast, sizeRefusal } from './endpoint.js';
import { encodedBytes } from './size.js';
import { A1_ENDPOINT_CONFIG, PureCluster, type InFlight } from './pure-cluster.test-support.js';
import { CONNECTION_DEFAULTS, type ConnectionSettings } from './types.js';
import { packetToEnvelope } from './wire-format.js';

const n = nodeId;
const everyone = ['a1', 'a2', 'a3', 'b1', 'b2'].map(n);
const codec = createCodec({ keys: new Map([[1, new Uint8Array(32).fill(3)]]), activeKeyId: 1 });

/** The frame the node would send for this packet: must encode under the default frame size. */
function frameOf(flight: InFlight) {
  const { body, header } = packetToEnvelope(flight.packet);
  return codec.encode({
    kind: 'one-way',
    id: { origin: flight.source, incarnation: 1, sequence: 1 },
    source: address(flight.source, 'multicast-endpoint'),
    target: address(flight.target, 'multicast-endpoint'),
    header,
    body,
  });
}

/** A 3 + 2 cluster whose every emitted packet is framed by the codec; refusals are collected. */
function cluster(settings: Partial<ConnectionSettings> = {}) {
  const frames = { checked: 0, largest: 0, refused: [] as string[], dataMax: 0, dataBytesMax: 0 };
  const result = new PureCluster({
    groups: { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] },
    views: 'both',
    settings,
    onSend: (flight) => {
      const encoded = frameOf(flight);
      frames.checked++;
      frames.dataMax = Math.max(frames.dataMax, flight.packet.data.length);
      let dataBytes = 0;
      for (const message of flight.packet.data) {
        const size = encodedBytes(message);
        dataBytes += size.ok ? size.bytes : Infinity;
      }
      frames.dataBytesMax = Math.max(frames.dataBytesMax, dataBytes);
      if (encoded.ok) frames.largest = Math.max(frames.largest, encoded.frame.length);
      else frames.refused.push(`${flight.source}->${flight.target}: ${encoded.error.detail}`);
    },
  });
  result.settle();
  return { cluster: result, frames };
}

/** A payload of about `bytes` bytes on the wire. */
function payloadOf(index: number, bytes: number) {
  return { index, text: 'x'.repeat(bytes - 20) };
}

function encodedBytesOf(value: unknown): number {
  const size = encodedBytes(value);
  if (!size.ok) throw new Error(size.detail);
  return size.bytes;
}

/** The simulator's seeded PRNG: the loss pattern is the same on every run. */
function prng(seed: number): () => number {
  const source = new Prng(seed);
  return () => source.nextFloat();
}

describe('multicast endpoint: message size bound (messageBytesMax)', () => {
  it('refuses a too-large multicast with a typed error, takes no sequence number, and the stream goes on', () => {
    const { cluster: c, frames } = cluster();
    const a1 = c.endpoints.get(n('a1'))!;
    expect(c.multicast(n('a1'), payloadOf(1, 1_000)).ok).toBe(true);
    const refused = c.multicast(n('a1'), { blob: 'y'.repeat(20_000) });
    expect(refused).toMatchObject({
      ok: false,
      error: { type: 'too-large', bytesMax: CONNECTION_DEFAULTS.messageBytesMax },
    });
    if (refused.ok || refused.error.type !== 'too-large') throw new Error('expected too-large');
    expect(refused.error.bytes).toBeGreaterThan(20_000);
    expect(a1.counters.tooLarge).toBe(1);
    // Later messages still reach everyone, with no gap where the refused one would have been.
    const later = c.multicast(n('a1'), payloadOf(2, 1_000));
    expect(later).toMatchObject({ ok: true, id: { sequence: 2 } });
    c.settle();
    for (const node of everyone)
      expect(
        c.deliveredFrom(node, 'a1:1').map((payload) => (payload as { index: number }).index),
        node,
      ).toEqual([1, 2]);
    expect(frames.refused).toEqual([]);
  });

  it('refuses a payload that cannot be encoded at all (a symbol) as `unencodable`, and goes on', () => {
    const { cluster: c } = cluster();
    const refused = c.multicast(n('b1'), { bad: Symbol('no') });
    expect(refused).toMatchObject({ ok: false, error: { type: 'unencodable' } });
    expect(c.endpoints.get(n('b1'))!.counters.unencodable).toBe(1);
    expect(c.multicast(n('b1'), 'fine')).toMatchObject({ ok: true, id: { sequence: 1 } });
    c.settle();
    for (const node of everyone) expect(c.deliveredFrom(node, 'b1:1'), node).toEqual(['fine']);
  });

  // Invariant: a layer that knows its payload's bytes (`bytes`, replication's primary with every
  // output) has the message sized by them, not by a walk of the payload: the bound and the refusal
  // use them, and a bad value is refused as a programmer error before anything is sent.
  it('sizes a message by the bytes its sender gives for the payload, and refuses bad ones', () => {
    const { cluster: c, frames } = cluster();
    const a1 = c.endpoints.get(n('a1'))!;
    const bytesMax = CONNECTION_DEFAULTS.messageBytesMax;
    const refused = multicast(a1, payloadOf(1, 100), { kind: 'one-way', bytes: bytesMax });
    expect(refused).toMatchObject({ ok: false, error: { type: 'too-large', bytesMax } });
    if (refused.ok || refused.error.type !== 'too-large') throw new Error('expected too-large');
    // The given bytes and the message's own fields: more than the bound although the walk says ~100.
    expect(refused.error.bytes).toBeGreaterThan(bytesMax);
    expect(a1.counters.tooLarge).toBe(1);
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53])
      expect(() => multicast(a1, payloadOf(2, 100), { kind: 'one-way', bytes: bad })).toThrow(TypeError);
    const sent = c.multicast(n('a1'), payloadOf(3, 100), 'one-way', encodedBytesOf(payloadOf(3, 100)));
    expect(sent).toMatchObject({ ok: true, id: { sequence: 1 } });
    c.settle();
    for (const node of everyone)
      expect(
        c.deliveredFrom(node, 'a1:1').map((payload) => (payload as { index: number }).index),
        node,
      ).toEqual([3]);
    expect(frames.refused).toEqual([]);
  });

  it('sizes attached data by the bytes its sender gives, and refuses bad ones', () => {
    const { cluster: c } = cluster();
    const a1 = c.endpoints.get(n('a1'))!;
    const bytesMax = CONNECTION_DEFAULTS.messageBytesMax;
    expect(c.attachPiggyback(n('a1'), 'rep', { order: [1] }, undefined, bytesMax)).toMatchObject({
      ok: false,
      error: { type: 'too-large', bytesMax },
    });
    expect(a1.counters.tooLarge).toBe(1);
    for (const bad of [-1, 0.5, Number.POSITIVE_INFINITY])
      expect(() => c.attachPiggyback(n('a1'), 'rep', { order: [1] }, undefined, bad)).toThrow(TypeError);
    expect(
      c.attachPiggyback(n('a1'), 'rep', { order: [2] }, undefined, encodedBytesOf({ order: [2] })),
    ).toEqual({
      ok: true,
    });
    expect(c.multicast(n('a1'), payloadOf(1, 100)).ok).toBe(true);
    c.settle();
    expect(c.delivered.get(n('b1'))!.map((message) => message.piggyback)).toEqual([{ rep: { order: [2] } }]);
  });

  it('accepts a message right under the bound and delivers it in one frame', () => {
    const { cluster: c, frames } = cluster();
    expect(c.multicast(n('a2'), payloadOf(1, CONNECTION_DEFAULTS.messageBytesMax - 200)).ok).toBe(true);
    c.settle();
    for (const node of everyone) expect(c.deliveredFrom(node, 'a2:1'), node).toHaveLength(1);
    expect(frames.refused).toEqual([]);
    expect(frames.largest).toBeGreaterThan(CONNECTION_DEFAULTS.messageBytesMax - 200);
    expect(frames.largest).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
  });

  it('sends attached data that would push the next message over the bound ahead, in a null message of its own', () => {
    const { cluster: c, frames } = cluster();
    expect(c.attachPiggyback(n('a1'), 'rep', { order: 'o'.repeat(8_000) })).toEqual({ ok: true });
    const sent = c.multicast(n('a1'), payloadOf(7, 8_000));
    // The null message took sequence 1, the message sequence 2.
    expect(sent).toMatchObject({ ok: true, id: { sequence: 2 } });
    const a1 = c.endpoints.get(n('a1'))!;
    expect(a1.counters.piggybackSplits).toBe(1);
    expect(a1.piggyback).toBeNull();
    c.settle();
    for (const node of everyone) {
      const messages = c.delivered.get(node)!.filter((message) => message.id.origin === 'a1');
      // The data arrives no later than the message it was attached for.
      expect(
        messages.map((message) => [message.kind, message.piggyback === null ? '-' : 'rep']),
        node,
      ).toEqual([
        ['null', 'rep'],
        ['one-way', '-'],
      ]);
    }
    expect(frames.refused).toEqual([]);
  });

  it('keeps small attached data on the message itself (no extra null message)', () => {
    const { cluster: c } = cluster();
    c.attachPiggyback(n('a1'), 'rep', { order: [1, 2, 3] });
    expect(c.multicast(n('a1'), 'payload')).toMatchObject({ ok: true, id: { sequence: 1 } });
    expect(c.endpoints.get(n('a1'))!.counters.piggybackSplits).toBe(0);
    c.settle();
    expect(c.delivered.get(n('b2'))!.at(-1)).toMatchObject({
      kind: 'one-way',
      piggyback: { rep: { order: [1, 2, 3] } },
    });
  });

  it('refuses attached data that could not fit even a message of its own, leaving what was attached', () => {
    const { cluster: c } = cluster();
    c.attachPiggyback(n('a1'), 'small', 1);
    const refused = c.attachPiggyback(n('a1'), 'huge', 'z'.repeat(CONNECTION_DEFAULTS.messageBytesMax));
    expect(refused).toMatchObject({ ok: false, error: { type: 'too-large' } });
    const a1 = c.endpoints.get(n('a1'))!;
    expect(a1.counters.tooLarge).toBe(1);
    expect(a1.piggyback).toEqual({ small: 1 });
    c.settle();
    expect(c.delivered.get(n('b1'))!.map((message) => message.piggyback)).toEqual([{ small: 1 }]);
  });

  it('splits attached data too large for one null message over several, each under the bound', () => {
    const { cluster: c, frames } = cluster();
    for (const key of ['p', 'q', 'r'])
      expect(c.attachPiggyback(n('b2'), key, key.repeat(7_000)).ok).toBe(true);
    c.settle();
    const carried = c.delivered
      .get(n('a3'))!
      .filter((message) => message.kind === 'null')
      .map((message) => Object.keys(message.piggyback ?? {}));
    expect(carried.flat().sort()).toEqual(['p', 'q', 'r']);
    expect(carried.length).toBe(3);
    expect(frames.refused).toEqual([]);
  });

  it('splits a retransmission into packets whose data stays within the bound; small messages still batch', () => {
    const { cluster: c, frames } = cluster();
    const lostTo = (target: NodeId) => {
      for (let index = c.inFlight.length - 1; index >= 0; index--)
        if (c.inFlight[index]!.target === target) c.drop(index);
    };
    for (let index = 1; index <= 4; index++) c.multicast(n('a1'), payloadOf(index, 11_000));
    for (let index = 5; index <= 8; index++) c.multicast(n('a1'), payloadOf(index, 100));
    lostTo(n('b1'));
    frames.dataMax = 0;
    c.settle();
    expect(c.deliveredFrom(n('b1'), 'a1:1')).toHaveLength(8);
    expect(c.endpoints.get(n('a1'))!.counters.retransmissions).toBeGreaterThanOrEqual(8);
    expect(frames.refused).toEqual([]);
    // The data of every packet stayed within the bound, so no packet held two near-limit
    // messages; the four small ones (and the last large one) still went together.
    expect(frames.dataBytesMax).toBeLessThanOrEqual(CONNECTION_DEFAULTS.messageBytesMax);
    expect(frames.dataMax).toBeGreaterThanOrEqual(4);
  });

  it('under loss and retransmission, a burst of near-limit messages never yields a packet over a frame, and all arrive', () => {
    const random = prng(2024);
    const { cluster: c, frames } = cluster({ windowMax: 16 });
    const senders = [n('a1'), n('b2')];
    let sent = 0;
    for (let round = 0; round < 40; round++) {
      for (const sender of senders) {
        const bytes = 10_000 + Math.floor(random() * 2_000);
        if (c.multicast(sender, payloadOf(round, bytes)).ok) sent++;
      }
      // A lossy network for a while: a third of the packets are lost, some duplicated.
      for (let stepCount = 0; stepCount < 30; stepCount++) {
        if (c.inFlight.length === 0) {
          c.tick();
          continue;
        }
        const index = Math.floor(random() * c.inFlight.length);
        const roll = random();
        if (roll < 0.33) c.drop(index);
        else if (roll < 0.4) c.duplicate(index);
        else c.deliver(index);
      }
    }
    c.settle();
    expect(sent).toBeGreaterThan(40);
    let retransmissions = 0;
    for (const state of c.endpoints.values()) retransmissions += state.counters.retransmissions;
    expect(retransmissions).toBeGreaterThan(0);
    expect(frames.refused).toEqual([]);
    expect(frames.largest).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
    expect(frames.dataBytesMax).toBeLessThanOrEqual(CONNECTION_DEFAULTS.messageBytesMax);
    for (const sender of senders) {
      const expected = c.sent.get(`${sender}:1`)!;
      for (const node of everyone)
        expect(c.deliveredFrom(node, `${sender}:1`), `${sender} at ${node}`).toEqual(expected);
    }
  });

  it('validates messageBytesMax: an integer between 256 and a UDP datagram', () => {
    const config = A1_ENDPOINT_CONFIG;
    expect(() => createEndpoint({ ...config, messageBytesMax: 100 })).toThrow(RangeError);
    expect(() => createEndpoint({ ...config, messageBytesMax: 70_000 })).toThrow(RangeError);
    expect(() => createEndpoint({ ...config, messageBytesMax: 1_000.5 })).toThrow(RangeError);
    expect(createEndpoint({ ...config, messageBytesMax: 4_096 }).settings.messageBytesMax).toBe(4_096);
  });
});

// `sizeRefusal` is how a layer whose members all make the same message (the replicas of one actor)
// decides a refusal alike at every member. Invariant: a payload it accepts is never refused by
// `multicast` for its size at any member of the group, whatever the member's node id (up to 64
// characters) and incarnation; for the largest sender it says exactly what `multicast` says.
describe('sizeRefusal: the size check of the largest sender of a group', () => {
  const bytesMax = 1_024;
  const senders = [
    { self: 'a', incarnation: 1 },
    { self: 'a1', incarnation: 1_000 },
    { self: 'x'.repeat(64), incarnation: Number.MAX_SAFE_INTEGER },
  ];

  function memberOfA(self: string, incarnation: number) {
    const state = createEndpoint({
      ...A1_ENDPOINT_CONFIG,
      self: n(self),
      incarnation,
      messageBytesMax: bytesMax,
      windowMax: 1_024,
    });
    installView(state, { group: 'A', epoch: 1, members: [n(self)], primary: n(self) });
    return state;
  }

  it('accepts only what multicast accepts at every member, and exactly that for the largest sender', () => {
    for (const { self, incarnation } of senders) {
      const state = memberOfA(self, incarnation);
      let accepted = 0;
      let refused = 0;
      for (let length = 700; length <= 900; length++) {
        const payload = { text: 'x'.repeat(length), at: length };
        const refusal = sizeRefusal('A', payload, bytesMax);
        const sent = multicast(state, payload, { kind: 'async-request' });
        if (refusal === undefined) expect(sent.ok).toBe(true);
        if (self.length === 64) expect(refusal === undefined).toBe(sent.ok);
        if (refusal === undefined) accepted++;
        else {
          expect(refusal).toMatchObject({ type: 'too-large', bytesMax });
          refused++;
        }
      }
      // The range straddles the bound: both answers occur.
      expect(accepted).toBeGreaterThan(0);
      expect(refused).toBeGreaterThan(0);
    }
  });

  it('refuses an unencodable payload as multicast does, and is the same for every call', () => {
    const payload = { handle: Symbol('not data') };
    expect(sizeRefusal('A', payload, bytesMax)).toMatchObject({ type: 'unencodable' });
    const sent = multicast(memberOfA('a1', 1), payload, { kind: 'one-way' });
    expect(sent).toMatchObject({ ok: false, error: { type: 'unencodable' } });
    expect(sizeRefusal('A', { text: 'x'.repeat(2_000) }, bytesMax)).toEqual(
      sizeRefusal('A', { text: 'x'.repeat(2_000) }, bytesMax),
    );
  });
});
