// Batched sends (`holdSends` / `releaseSends`): a burst multicast in one turn leaves in as few
// packets as the size bound allows, with the same delivery guarantees as one packet per message
// (claim 36: every member of both groups, in the sender's order, exactly once).
import { nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { encodedBytes } from './size.js';
import { sendAttachedNow } from './endpoint.js';
import { PureCluster } from './pure-cluster.test-support.js';

const n = nodeId;

function threeAndTwo(messageBytesMax?: number) {
  const cluster = new PureCluster({
    groups: { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] },
    views: 'both',
    settings: { windowMax: 64, ...(messageBytesMax === undefined ? {} : { messageBytesMax }) },
  });
  cluster.settle();
  return cluster;
}

describe('multicast endpoint: batched sends', () => {
  it('sends a held burst as one packet per member, delivered everywhere in order exactly once', () => {
    const cluster = threeAndTwo();
    cluster.hold(n('a1'));
    for (let op = 1; op <= 10; op++) expect(cluster.multicast(n('a1'), { op }).ok).toBe(true);
    // Nothing leaves while held (the sender delivered its own messages at once).
    expect(cluster.inFlight).toHaveLength(0);
    expect(cluster.deliveredFrom(n('a1'), 'a1:1')).toHaveLength(10);
    cluster.release(n('a1'));
    expect(cluster.inFlight.map((flight) => flight.target).sort()).toEqual(['a2', 'a3', 'b1', 'b2']);
    for (const flight of cluster.inFlight) expect(flight.packet.data).toHaveLength(10);
    cluster.settle();
    const expected = Array.from({ length: 10 }, (_, index) => ({ op: index + 1 }));
    for (const node of ['a1', 'a2', 'a3', 'b1', 'b2'])
      expect(cluster.deliveredFrom(n(node), 'a1:1'), node).toEqual(expected);
  });

  it('splits a held burst into packets whose data stays within messageBytesMax', () => {
    const bytesMax = 1_024;
    const cluster = threeAndTwo(bytesMax);
    cluster.hold(n('b1'));
    for (let op = 1; op <= 12; op++) cluster.multicast(n('b1'), { op, text: 'x'.repeat(300) });
    cluster.release(n('b1'));
    const toA1 = cluster.inFlight.filter((flight) => flight.target === 'a1');
    expect(toA1.length).toBeGreaterThan(1);
    for (const flight of toA1) {
      const size = encodedBytes(flight.packet.data);
      expect(size.ok && size.bytes <= bytesMax + 5).toBe(true);
    }
    expect(toA1.flatMap((flight) => flight.packet.data.map((message) => message.id.sequence))).toEqual(
      Array.from({ length: 12 }, (_, index) => index + 1),
    );
    cluster.settle();
    for (const node of ['a1', 'a2', 'a3', 'b1', 'b2'])
      expect(cluster.deliveredFrom(n(node), 'b1:1'), node).toHaveLength(12);
  });

  it('a lost batched packet is fetched again: every member still gets every message in order', () => {
    const cluster = threeAndTwo();
    cluster.hold(n('a2'));
    for (let op = 1; op <= 6; op++) cluster.multicast(n('a2'), op);
    cluster.release(n('a2'));
    cluster.drop(cluster.inFlight.findIndex((flight) => flight.target === 'b2'));
    for (let round = 0; round < 50 && cluster.deliveredFrom(n('b2'), 'a2:1').length < 6; round++) {
      cluster.settle();
      cluster.tick();
    }
    expect(cluster.deliveredFrom(n('b2'), 'a2:1')).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('multicast endpoint: sendAttachedNow', () => {
  it('sends what is attached at once, in a null message ahead of the next message; with nothing attached it sends nothing', () => {
    const cluster = threeAndTwo();
    const a1 = cluster.endpoints.get(n('a1'))!;
    expect(sendAttachedNow(a1)).toBeUndefined();
    expect(cluster.attachPiggyback(n('a1'), 'k', { order: [1, 2] }).ok).toBe(true);
    const nullsBefore = a1.counters.nullMessages;
    const result = sendAttachedNow(a1);
    expect(result?.ok).toBe(true);
    expect(a1.counters.nullMessages).toBe(nullsBefore + 1);
    // Every member gets the null message with the data, and nothing stays attached: the next
    // message, behind it in the stream, carries no piggyback.
    expect(a1.piggyback).toBeNull();
    cluster.multicast(n('a1'), { op: 1 });
    for (const target of ['a2', 'a3', 'b1', 'b2']) {
      const messages = cluster.inFlight
        .filter((flight) => flight.target === target)
        .flatMap((flight) => flight.packet.data);
      expect(messages.map((message) => [message.kind, message.piggyback])).toEqual([
        ['null', { k: { order: [1, 2] } }],
        ['one-way', null],
      ]);
    }
  });
});
