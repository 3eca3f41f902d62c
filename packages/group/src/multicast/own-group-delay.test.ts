// `ownGroupDelayMs`: new data goes at once to every member of the other group and to the sender's
// own primary, and waits, batched, for the other members of the sender's own group. Invariants
// checked: every member of the other group gets each message in the multicast's own packet (a
// group that fails over asks them what they know); the waiting members get nothing until the
// `own-group` timer or until something else goes to them, and then every waiting message, in
// order, ahead of anything newer; a member that left the view gets nothing; every member still
// delivers every message once, in order, under loss, duplication and reordering.
import { nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { createEndpoint } from './endpoint.js';
import { A1_ENDPOINT_CONFIG, PureCluster } from './pure-cluster.test-support.js';

const n = nodeId;

/** Group A (primary a1) and group B (primary b1), established, with data to own followers delayed. */
function delayedCluster() {
  const cluster = new PureCluster({
    groups: { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] },
    views: 'both',
    settings: { windowMax: 64, ownGroupDelayMs: 2 },
  });
  cluster.settle();
  return cluster;
}

const targetsInFlight = (cluster: PureCluster) => cluster.inFlight.map((flight) => flight.target as string);

describe('multicast endpoint: data to the own group’s followers waits (ownGroupDelayMs)', () => {
  it('sends at once to the other group and the own primary, and batches the rest on the timer', () => {
    const cluster = delayedCluster();
    cluster.multicast(n('a2'), 'one');
    cluster.multicast(n('a2'), 'two');
    cluster.multicast(n('a2'), 'three');
    // Every member of B, and a2's own primary a1, at once: one packet per message each.
    expect(targetsInFlight(cluster).sort()).toEqual(['a1', 'a1', 'a1', 'b1', 'b1', 'b1', 'b2', 'b2', 'b2']);
    expect(cluster.timers.get(n('a2'))!.has('own-group')).toBe(true);
    cluster.inFlight.length = 0;
    expect(cluster.fire(n('a2'), 'own-group')).toBe(true);
    // One packet for the waiting member, carrying the three messages in order.
    expect(targetsInFlight(cluster)).toEqual(['a3']);
    expect(cluster.inFlight[0]!.packet.data.map((message) => message.payload)).toEqual([
      'one',
      'two',
      'three',
    ]);
    const state = cluster.endpoints.get(n('a2'))!;
    expect(state.counters.deferredSends).toBe(3);
    expect(state.deferred).toEqual({});
    cluster.settle();
    for (const node of ['a1', 'a3', 'b1', 'b2'])
      expect(cluster.deliveredFrom(n(node), 'a2:1'), node).toEqual(['one', 'two', 'three']);
  });

  it('shares one data array among the members waiting for the same messages', () => {
    const cluster = delayedCluster();
    cluster.hold(n('a1'));
    cluster.multicast(n('a1'), 'reply-1');
    cluster.multicast(n('a1'), 'reply-2');
    cluster.release(n('a1'));
    // a1 is A's primary: at once to B only, in one packet each.
    expect(targetsInFlight(cluster).sort()).toEqual(['b1', 'b2']);
    cluster.inFlight.length = 0;
    cluster.fire(n('a1'), 'own-group');
    const waiting = cluster.inFlight;
    expect(waiting.map((flight) => flight.target).sort()).toEqual(['a2', 'a3']);
    // The wire layer packs a data array once for every packet that shares it.
    expect(waiting[1]!.packet.data).toBe(waiting[0]!.packet.data);
    expect(waiting[0]!.packet.data.map((message) => message.payload)).toEqual(['reply-1', 'reply-2']);
  });

  it('sends waiting data ahead of anything else that goes to the member, in order', () => {
    const cluster = delayedCluster();
    cluster.multicast(n('a1'), 'early');
    // a3 becomes A's primary before the timer: a1's next multicast goes to it at once, after the waiting one.
    cluster.changeView('A', ['a3', 'a1', 'a2']);
    cluster.inFlight.length = 0;
    cluster.multicast(n('a1'), 'late');
    const toA3 = cluster.inFlight.filter((flight) => flight.target === 'a3');
    expect(toA3.flatMap((flight) => flight.packet.data.map((message) => message.payload))).toEqual([
      'early',
      'late',
    ]);
    expect(cluster.endpoints.get(n('a1'))!.deferred['a3']).toBeUndefined();
    expect(
      cluster.endpoints.get(n('a1'))!.deferred['a2']!.messages.map((message) => message.payload),
    ).toEqual(['early', 'late']);
  });

  it('lets an acknowledgement that goes alone carry the waiting data', () => {
    const cluster = delayedCluster();
    cluster.multicast(n('a1'), 'request');
    cluster.multicast(n('a2'), 'from-a2');
    // a1 delivers a2's message, so it owes a2 an acknowledgement.
    cluster.deliver(cluster.inFlight.findIndex((flight) => flight.target === 'a1'));
    cluster.inFlight.length = 0;
    expect(cluster.fire(n('a1'), 'flush')).toBe(true);
    const toA2 = cluster.inFlight.filter((flight) => flight.target === 'a2');
    expect(toA2).toHaveLength(1);
    expect(toA2[0]!.packet.data.map((message) => message.payload)).toEqual(['request']);
    expect(toA2[0]!.packet.control.acks['a2:1']).toBe(1);
    expect(cluster.endpoints.get(n('a1'))!.deferred['a2']).toBeUndefined();
  });

  it('drops the waiting data of a member that left the view', () => {
    const cluster = delayedCluster();
    cluster.multicast(n('a1'), 'm');
    cluster.changeView('A', ['a1', 'a2']);
    cluster.inFlight.length = 0;
    cluster.fire(n('a1'), 'own-group');
    expect(targetsInFlight(cluster)).toEqual(['a2']);
  });

  it('delivers everything once, in order, under loss, duplication and reordering', () => {
    const cluster = delayedCluster();
    for (let op = 1; op <= 20; op++) {
      cluster.multicast(n(op % 2 === 0 ? 'a2' : 'b1'), op);
      if (op % 3 === 0 && cluster.inFlight.length > 0) cluster.drop(0);
      if (op % 4 === 0) cluster.tick();
      if (op % 5 === 0 && cluster.inFlight.length > 0) cluster.duplicate(cluster.inFlight.length - 1);
      cluster.inFlight.reverse();
    }
    cluster.settle();
    const even = Array.from({ length: 10 }, (_, index) => 2 * index + 2);
    const odd = Array.from({ length: 10 }, (_, index) => 2 * index + 1);
    for (const node of ['a1', 'a2', 'a3', 'b1', 'b2']) {
      expect(cluster.deliveredFrom(n(node), 'a2:1'), node).toEqual(even);
      expect(cluster.deliveredFrom(n(node), 'b1:1'), node).toEqual(odd);
    }
  });

  it('refuses a negative or non-finite delay, naming the setting', () => {
    const config = A1_ENDPOINT_CONFIG;
    expect(() => createEndpoint({ ...config, ownGroupDelayMs: -1 })).toThrow(/ownGroupDelayMs/);
    expect(() => createEndpoint({ ...config, ownGroupDelayMs: Number.NaN })).toThrow(/ownGroupDelayMs/);
    expect(() => createEndpoint({ ...config, ownGroupDelayMs: Number.POSITIVE_INFINITY })).toThrow(
      /ownGroupDelayMs/,
    );
  });
});
