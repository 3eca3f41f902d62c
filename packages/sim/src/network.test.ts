// The simulated network, driven with raw transports on a SimulatedClock: each fault behaves as
// configured, heal restores delivery, and the transports keep the runtime's transport contract.
import { SimulatedClock, type Transport } from '@steadfast/runtime';
import { transportComplianceSuite } from '@steadfast/runtime/testing';
import { describe, expect, it } from 'vitest';
import { SimNetwork, type LinkConfig } from './network.js';
import { Prng } from './prng.js';

interface Arrival {
  readonly source: string;
  readonly payload: number;
  readonly atMs: number;
}

function harness(link: Partial<LinkConfig> = {}, seed = 1) {
  const clock = new SimulatedClock();
  const network = new SimNetwork({ clock, prng: new Prng(seed).fork('network'), link });
  const inboxes = new Map<string, Arrival[]>();
  const transports = new Map<string, Transport>();
  const attach = (endpoint: string): Transport => {
    const transport = network.attach(endpoint);
    const inbox = inboxes.get(endpoint) ?? [];
    inboxes.set(endpoint, inbox);
    transport.onReceive((frame, source) => inbox.push({ source, payload: frame[0]!, atMs: clock.now() }));
    transports.set(endpoint, transport);
    return transport;
  };
  for (const endpoint of ['a', 'b', 'c']) attach(endpoint);
  const send = (source: string, target: string, payload: number): void =>
    transports.get(source)!.send(target, Uint8Array.of(payload));
  const inbox = (endpoint: string): Arrival[] => inboxes.get(endpoint)!;
  const settle = (): void => {
    while (clock.step());
  };
  return { clock, network, attach, send, inbox, settle, transports };
}

// The shared transport contract: the clock is pumped in real time so the suite's waits see frames.
transportComplianceSuite(
  'SimNetwork',
  async () => {
    const clock = new SimulatedClock();
    const network = new SimNetwork({ clock, prng: new Prng(5), link: { latencyMs: [1, 1] } });
    const a = network.attach('a');
    const b = network.attach('b');
    const pump = setInterval(() => clock.advance(5), 1);
    return {
      a,
      b,
      cleanup: async () => {
        clearInterval(pump);
        await Promise.all([a.close(), b.close()]);
      },
    };
  },
  { lossless: true, unreachableEndpoint: 'nobody' },
);

describe('SimNetwork faults', () => {
  it('delivers every frame once, after a latency within the configured range, without faults', () => {
    const { send, inbox, settle, network } = harness({ latencyMs: [3, 7] });
    for (let payload = 0; payload < 100; payload++) send('a', 'b', payload);
    settle();
    expect(
      inbox('b')
        .map((arrival) => arrival.payload)
        .sort((x, y) => x - y),
    ).toEqual(Array.from({ length: 100 }, (_, index) => index));
    for (const arrival of inbox('b')) {
      expect(arrival.source).toBe('a');
      expect(arrival.atMs).toBeGreaterThanOrEqual(3);
      expect(arrival.atMs).toBeLessThanOrEqual(7);
    }
    expect(network.counters()).toMatchObject({ sent: 100, delivered: 100, lost: 0, duplicated: 0 });
  });

  it('delivers nothing with loss 1.0, and counts every frame as lost', () => {
    const { send, inbox, settle, network } = harness({ loss: 1 });
    for (let payload = 0; payload < 50; payload++) send('a', 'b', payload);
    settle();
    expect(inbox('b')).toEqual([]);
    expect(network.counters()).toMatchObject({ sent: 50, lost: 50, delivered: 0 });
  });

  it('loses about the configured fraction with loss 0.3', () => {
    const { send, inbox, settle } = harness({ loss: 0.3 });
    for (let payload = 0; payload < 1_000; payload++) send('a', 'b', payload % 256);
    settle();
    expect(inbox('b').length).toBeGreaterThan(600);
    expect(inbox('b').length).toBeLessThan(800);
  });

  it('blocks a symmetric partition both ways, lets each side talk within itself, and heal restores delivery', () => {
    const { send, inbox, settle, network } = harness();
    network.partition([['a'], ['b', 'c']]);
    send('a', 'b', 1);
    send('b', 'a', 2);
    send('c', 'a', 3);
    send('b', 'c', 4);
    settle();
    expect(inbox('a')).toEqual([]);
    expect(inbox('b')).toEqual([]);
    expect(inbox('c').map((arrival) => arrival.payload)).toEqual([4]);
    expect(network.counters().partitioned).toBe(3);
    network.heal();
    send('a', 'b', 5);
    send('b', 'a', 6);
    settle();
    expect(inbox('b').map((arrival) => arrival.payload)).toEqual([5]);
    expect(inbox('a').map((arrival) => arrival.payload)).toEqual([6]);
  });

  it('blocks a one-way partition in one direction only, and unblocking restores it', () => {
    const { send, inbox, settle, network } = harness();
    network.blockOneWay('a', 'b');
    send('a', 'b', 1);
    send('b', 'a', 2);
    settle();
    expect(inbox('b')).toEqual([]);
    expect(inbox('a').map((arrival) => arrival.payload)).toEqual([2]);
    expect(network.counters().blockedOneWay).toBe(1);
    network.unblockOneWay('a', 'b');
    send('a', 'b', 3);
    settle();
    expect(inbox('b').map((arrival) => arrival.payload)).toEqual([3]);
  });

  it('delivers a second copy of every frame with duplicate 1.0', () => {
    const { send, inbox, settle, network } = harness({ duplicate: 1 });
    for (let payload = 0; payload < 20; payload++) send('a', 'b', payload);
    settle();
    expect(inbox('b')).toHaveLength(40);
    for (let payload = 0; payload < 20; payload++) {
      expect(inbox('b').filter((arrival) => arrival.payload === payload)).toHaveLength(2);
    }
    expect(network.counters()).toMatchObject({ sent: 20, duplicated: 20, delivered: 40 });
  });

  it('reorders frames with reorder > 0 but loses none, and keeps order with a fixed latency and no reorder', () => {
    const fifo = harness({ latencyMs: [2, 2] });
    for (let payload = 0; payload < 50; payload++) fifo.send('a', 'b', payload);
    fifo.settle();
    expect(fifo.inbox('b').map((arrival) => arrival.payload)).toEqual(
      Array.from({ length: 50 }, (_, index) => index),
    );

    const shuffled = harness({ latencyMs: [2, 2], reorder: 0.5, reorderDelayMs: [5, 20] });
    for (let payload = 0; payload < 50; payload++) shuffled.send('a', 'b', payload);
    shuffled.settle();
    const order = shuffled.inbox('b').map((arrival) => arrival.payload);
    expect(order.slice().sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, index) => index));
    expect(order).not.toEqual(Array.from({ length: 50 }, (_, index) => index));
    expect(shuffled.network.counters().reordered).toBeGreaterThan(0);
  });

  it('applies a link fault to its links only, adds its delay, and removing it restores the link', () => {
    const { send, inbox, settle, network, clock } = harness({ latencyMs: [1, 1] });
    const lossy = network.addLinkFault([['a', 'b']], { loss: 1 });
    const slow = network.addLinkFault([['c', 'a']], { extraLatencyMs: 50 });
    send('a', 'b', 1);
    send('b', 'a', 2);
    send('c', 'a', 3);
    settle();
    expect(inbox('b')).toEqual([]);
    expect(inbox('a').map((arrival) => [arrival.payload, arrival.atMs])).toEqual([
      [2, 1],
      [3, 51],
    ]);
    network.removeLinkFault(lossy);
    network.removeLinkFault(slow);
    const sentAtMs = clock.now();
    send('a', 'b', 4);
    settle();
    expect(inbox('b').map((arrival) => [arrival.payload, arrival.atMs - sentAtMs])).toEqual([[4, 1]]);
  });

  it('silently loses frames to a detached endpoint, and a re-attached endpoint receives again', () => {
    const { send, inbox, settle, network, attach, transports } = harness();
    network.detach('b');
    send('a', 'b', 1);
    settle();
    expect(network.counters().toDetached).toBe(1);
    // The crashed node's old transport is dead: its sends are counted no-ops.
    transports.get('b')!.send('a', Uint8Array.of(9));
    expect(transports.get('b')!.counters().dropped.closed).toBe(1);
    attach('b');
    send('a', 'b', 2);
    settle();
    expect(inbox('b').map((arrival) => arrival.payload)).toEqual([2]);
    expect(inbox('a')).toEqual([]);
  });

  it('copies bytes on send, so the sender may reuse its buffer', () => {
    const { clock, network } = harness();
    const received: number[][] = [];
    network.attach('d').onReceive((frame) => received.push([...frame]));
    const source = network.attach('e');
    const buffer = Uint8Array.of(1, 2, 3);
    source.send('d', buffer);
    buffer.fill(0);
    while (clock.step());
    expect(received).toEqual([[1, 2, 3]]);
  });

  it('delivers the same frames at the same times for the same seed (determinism)', () => {
    const run = (seed: number) => {
      const { send, inbox, settle } = harness(
        { latencyMs: [1, 30], loss: 0.2, duplicate: 0.2, reorder: 0.3 },
        seed,
      );
      for (let payload = 0; payload < 200; payload++) send(payload % 2 === 0 ? 'a' : 'c', 'b', payload % 256);
      settle();
      return inbox('b').map((arrival) => `${arrival.source}:${arrival.payload}@${arrival.atMs}`);
    };
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
  });

  it('rejects bad configuration and a second attach of an attached endpoint (programmer errors)', () => {
    const { network } = harness();
    expect(() => network.attach('a')).toThrow(/already attached/);
    expect(() => network.setDefaults({ loss: 1.5 })).toThrow(RangeError);
    expect(() => network.setLink('a', 'b', { latencyMs: [5, 1] })).toThrow(RangeError);
  });
});
