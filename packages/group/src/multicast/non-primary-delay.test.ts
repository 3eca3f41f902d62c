// `nonPrimaryDelayMs`: new data goes at once to the primaries of both groups (they act on it) and
// waits, batched, for the other members. Invariants checked: the primaries get each message in
// the multicast's own packet; the other members get nothing until the `non-primary` timer or until
// something else goes to them, and then every waiting message, in order, ahead of anything newer;
// a member that left the views gets nothing; every member still delivers every message once.
import { nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { createEndpoint } from './endpoint.js';
import { PureCluster } from './pure-cluster.test-support.js';

const n = nodeId;

/** Group A (primary a1) and group B (primary b1), established, with data to non-primaries delayed. */
function delayedCluster() {
  const cluster = new PureCluster({
    groups: { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] },
    views: 'both',
    settings: { windowMax: 64, nonPrimaryDelayMs: 2 },
  });
  cluster.settle();
  return cluster;
}

const targetsInFlight = (cluster: PureCluster) => cluster.inFlight.map((flight) => flight.target as string);

describe('multicast endpoint: data to non-primary members waits (nonPrimaryDelayMs)', () => {
  it('sends a multicast at once to the other group primary only, and batches the rest on the timer', () => {
    const cluster = delayedCluster();
    // a2 multicasts: b1 (the other group's primary) and a1 (its own group's primary) act on it.
    cluster.multicast(n('a2'), 'one');
    cluster.multicast(n('a2'), 'two');
    cluster.multicast(n('a2'), 'three');
    expect(targetsInFlight(cluster).sort()).toEqual(['a1', 'a1', 'a1', 'b1', 'b1', 'b1']);
    expect(cluster.timers.get(n('a2'))!.has('non-primary')).toBe(true);
    cluster.inFlight.length = 0;
    expect(cluster.fire(n('a2'), 'non-primary')).toBe(true);
    // One packet per waiting member, carrying the three messages in order.
    expect(targetsInFlight(cluster).sort()).toEqual(['a3', 'b2']);
    for (const flight of cluster.inFlight)
      expect(flight.packet.data.map((message) => message.payload)).toEqual(['one', 'two', 'three']);
    const state = cluster.endpoints.get(n('a2'))!;
    expect(state.counters.deferredSends).toBe(6);
    expect(state.deferred).toEqual({});
    // The primaries got theirs before: the rest delivers everything once, in order.
    cluster.settle();
    for (const node of ['a3', 'b2'])
      expect(cluster.deliveredFrom(n(node), 'a2:1'), node).toEqual(['one', 'two', 'three']);
  });

  it('shares one data array among the members waiting for the same messages', () => {
    const cluster = delayedCluster();
    cluster.hold(n('b1'));
    cluster.multicast(n('b1'), 'reply-1');
    cluster.multicast(n('b1'), 'reply-2');
    cluster.release(n('b1'));
    // b1's own group's primary is itself: at once only to a1.
    expect(targetsInFlight(cluster)).toEqual(['a1']);
    cluster.inFlight.length = 0;
    cluster.fire(n('b1'), 'non-primary');
    const waiting = cluster.inFlight;
    expect(waiting.map((flight) => flight.target).sort()).toEqual(['a2', 'a3', 'b2']);
    // The wire layer packs a data array once for every packet that shares it.
    expect(waiting[1]!.packet.data).toBe(waiting[0]!.packet.data);
    expect(waiting[2]!.packet.data).toBe(waiting[0]!.packet.data);
  });

  it('sends waiting data ahead of anything else that goes to the member, in order', () => {
    const cluster = delayedCluster();
    cluster.multicast(n('a2'), 'early');
    cluster.inFlight.length = 0;
    // a3 becomes a primary before the timer: the next multicast goes to it at once, after the waiting one.
    cluster.changeView('A', ['a3', 'a1', 'a2']);
    cluster.inFlight.length = 0;
    cluster.multicast(n('a2'), 'late');
    const toA3 = cluster.inFlight.filter((flight) => flight.target === 'a3');
    expect(toA3.flatMap((flight) => flight.packet.data.map((message) => message.payload))).toEqual([
      'early',
      'late',
    ]);
    expect(cluster.endpoints.get(n('a2'))!.deferred['a3']).toBeUndefined();
  });

  it('lets an acknowledgement that goes alone carry the waiting data', () => {
    const cluster = delayedCluster();
    cluster.multicast(n('b2'), 'request');
    // b2 owes a2 nothing yet; make it owe an acknowledgement by delivering a2's message to it.
    cluster.multicast(n('a2'), 'from-a2');
    const toB2 = cluster.inFlight.findIndex((flight) => flight.target === 'b2');
    expect(toB2).toBe(-1);
    cluster.inFlight.length = 0;
    cluster.fire(n('a2'), 'non-primary');
    cluster.deliver(cluster.inFlight.findIndex((flight) => flight.target === 'b2'));
    cluster.inFlight.length = 0;
    // b2's flush timer sends its owed acknowledgement to a2: b2's waiting message rides in it.
    expect(cluster.fire(n('b2'), 'flush')).toBe(true);
    const toA2 = cluster.inFlight.filter((flight) => flight.target === 'a2');
    expect(toA2).toHaveLength(1);
    expect(toA2[0]!.packet.data.map((message) => message.payload)).toEqual(['request']);
    expect(toA2[0]!.packet.control.acks['a2:1']).toBe(1);
  });

  it('drops the waiting data of a member that left every view', () => {
    const cluster = delayedCluster();
    cluster.multicast(n('a1'), 'm');
    cluster.changeView('A', ['a1', 'a2']);
    cluster.inFlight.length = 0;
    cluster.fire(n('a1'), 'non-primary');
    expect(targetsInFlight(cluster).sort()).toEqual(['a2', 'b2']);
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
    const config = {
      connection: 'A<->B',
      groups: ['A', 'B'] as const,
      group: 'A',
      self: n('a1'),
      incarnation: 1,
    };
    expect(() => createEndpoint({ ...config, nonPrimaryDelayMs: -1 })).toThrow(/nonPrimaryDelayMs/);
    expect(() => createEndpoint({ ...config, nonPrimaryDelayMs: Number.NaN })).toThrow(/nonPrimaryDelayMs/);
    expect(() => createEndpoint({ ...config, nonPrimaryDelayMs: Number.POSITIVE_INFINITY })).toThrow(
      /nonPrimaryDelayMs/,
    );
  });
});
