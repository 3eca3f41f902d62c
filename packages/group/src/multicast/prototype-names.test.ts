// Node ids and group names that are names of `Object.prototype` members. `toString`, `constructor`,
// `valueOf` and `hasOwnProperty` match `[A-Za-z0-9._-]{1,64}`: they are node ids like any other, and
// the endpoint keeps per-node records in plain objects. `__proto__` matches too; `nodeId` refuses it
// (msgpack decoding renames that key, so no node may have it), but the records hold it anyway, as
// any record keyed by what comes from outside must, so these tests use it as well.
// Invariant (claim 36): a connection whose members and groups carry such names delivers every
// message to every replica of both groups exactly once and in its sender's order, through sends,
// acknowledgements, NACKs, sync requests, own-group deferral, view changes and restarts, and the
// endpoint never throws; its state stays plain data (a `structuredClone` of it goes on alike).
import { isNodeId, nodeId, type NodeId } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bufferedMessages, fireTimer, receivePacket, streamKey, takeEffects } from './endpoint.js';
import {
  PureCluster,
  applyScheduleCommand,
  scheduleCommand,
  type InFlight,
  type ScheduleCommand,
} from './pure-cluster.test-support.js';
import type { Packet } from './types.js';

/** `nodeId`, except that `__proto__` (which it refuses) is let through for the records' sake. */
const n = (name: string): NodeId => (name === '__proto__' ? (name as NodeId) : nodeId(name));

/** Names of `Object.prototype` members that are valid node ids (all of them but none of the symbols). */
const PROTOTYPE_NAMES = [
  'toString',
  'constructor',
  'valueOf',
  'hasOwnProperty',
  '__proto__',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupSetter__',
] as const;

/**
 * Every node delivered each stream in order without a duplicate (consecutive sequences, each with
 * the payload multicast at that sequence), and every node in `complete` delivered all of `payloads`.
 */
function checkDelivery(cluster: PureCluster, complete: readonly string[], payloads: readonly string[]): void {
  for (const [node, delivered] of cluster.delivered) {
    if (!cluster.endpoints.has(node)) continue;
    const last = new Map<string, number>();
    for (const message of delivered) {
      const key = streamKey(message.id);
      const previous = last.get(key);
      if (previous !== undefined) expect(message.id.sequence, `${node} from ${key}`).toBe(previous + 1);
      last.set(key, message.id.sequence);
      expect(message.payload, `${node} from ${key}`).toEqual(
        cluster.sent.get(key)?.[message.id.sequence - 1],
      );
    }
  }
  for (const node of complete) {
    const got = (cluster.delivered.get(n(node)) ?? []).map((message) => message.payload);
    for (const payload of payloads)
      expect(
        got.filter((value) => value === payload),
        `${node} got ${payload}`,
      ).toHaveLength(1);
  }
}

function settled(cluster: PureCluster): void {
  for (const [node, state] of cluster.endpoints) {
    expect(bufferedMessages(state), `${node} buffers`).toBe(0);
    expect(state.counters.holes, `${node} holes`).toBe(0);
    // Nothing was written through to a prototype: every record is still an ordinary object.
    for (const record of [state.peers, state.owed, state.deferred, state.countedBy, state.views])
      expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
  }
}

describe('multicast endpoint: node ids and group names that name Object.prototype members', () => {
  it('the names are valid node ids, but for __proto__', () => {
    for (const name of PROTOTYPE_NAMES) expect(isNodeId(name), name).toBe(name !== '__proto__');
  });

  it('delivers exactly once and in order through sends, acks, NACKs, syncs, a view change and a restart', () => {
    const A = ['toString', 'constructor', 'isPrototypeOf'];
    const B = ['valueOf', 'hasOwnProperty'];
    const flights: InFlight[] = [];
    const cluster = new PureCluster({
      groups: { A, B },
      // Each learns the other group's view from its peers' packets.
      views: 'own',
      settings: { windowMax: 4, ownGroupDelayMs: 2 },
      onSend: (flight) => flights.push(flight),
    });
    cluster.settle();
    for (const [node, state] of cluster.endpoints) expect(state.admitted, node).toBe(true);
    const all = [...A, ...B];
    let counter = 0;
    const send = (node: string) => {
      const payload = `${node}#${++counter}`;
      expect(cluster.multicast(n(node), payload).ok).toBe(true);
      return payload;
    };

    // Every member sends; acknowledgements flow back; deferred data goes to the own group's followers.
    const round = all.map(send);
    cluster.settle();
    checkDelivery(cluster, all, round);
    settled(cluster);

    // A gap: the first of two messages to valueOf is lost, so valueOf NACKs toString.
    const gap = [send('toString'), send('toString')];
    const lost = cluster.inFlight.findIndex(
      (flight) => flight.target === 'valueOf' && flight.packet.data[0]?.payload === gap[0],
    );
    expect(lost).toBeGreaterThanOrEqual(0);
    cluster.drop(lost);
    cluster.deliver(cluster.inFlight.findIndex((flight) => flight.target === 'valueOf'));
    expect(cluster.endpoints.get(n('valueOf'))!.counters.nacksSent).toBe(1);
    cluster.settle();
    checkDelivery(cluster, all, gap);

    // A lost tail, found by the sync exchange (sync requests to and from every member).
    const tail = send('hasOwnProperty');
    cluster.drop(cluster.inFlight.findIndex((flight) => flight.target === 'isPrototypeOf'));
    cluster.settle();
    checkDelivery(cluster, all, [tail]);
    settled(cluster);
    const toNamed = flights.filter((flight) => all.includes(flight.target));
    expect(toNamed.some((flight) => flight.packet.control.syncRequest)).toBe(true);
    expect(toNamed.some((flight) => Object.keys(flight.packet.control.nacks).length > 0)).toBe(true);

    // The state is plain data: cloned endpoints carry on where the originals were.
    for (const [node, state] of cluster.endpoints) {
      const copy = structuredClone(state);
      expect(copy).toEqual(state);
      cluster.endpoints.set(node, copy);
    }

    // A view change takes isPrototypeOf out; it comes back as a new incarnation; valueOf restarts.
    cluster.crash(n('isPrototypeOf'));
    cluster.changeView('A', ['toString', 'constructor']);
    const without = [send('toString'), send('valueOf')];
    cluster.settle();
    checkDelivery(cluster, ['toString', 'constructor', ...B], without);
    cluster.changeView('A', A);
    cluster.start(n('isPrototypeOf'), 'A', 2);
    cluster.settle();
    const stale = send('valueOf');
    cluster.crash(n('valueOf'));
    cluster.start(n('valueOf'), 'B', 2);
    cluster.changeView('B', B);
    const rejoined = [send('isPrototypeOf'), send('valueOf'), send('constructor'), send('hasOwnProperty')];
    cluster.settle();
    checkDelivery(cluster, all, rejoined);
    checkDelivery(cluster, A.concat('hasOwnProperty'), [stale]);
    settled(cluster);
    expect(cluster.endpoints.get(n('toString'))!.counters.retiredStreams).toBeGreaterThan(0);
  });

  it('works with groups named after prototype members too', () => {
    const cluster = new PureCluster({
      // Computed keys: a literal `__proto__:` would set the prototype, not name a group.
      groups: {
        ['constructor']: ['toString', 'valueOf', 'isPrototypeOf'],
        ['__proto__']: ['hasOwnProperty'],
      },
      views: 'own',
      settings: { ownGroupDelayMs: 1 },
    });
    expect(cluster.groupNames).toEqual(['constructor', '__proto__']);
    cluster.settle();
    const payloads = ['toString', 'valueOf', 'isPrototypeOf', 'hasOwnProperty'].map((node) => {
      expect(cluster.multicast(n(node), `${node}!`).ok).toBe(true);
      return `${node}!`;
    });
    cluster.settle();
    checkDelivery(cluster, ['toString', 'valueOf', 'isPrototypeOf', 'hasOwnProperty'], payloads);
    settled(cluster);
  });

  it('answers a sync request from a node named toString without throwing (the reported crash)', () => {
    const cluster = new PureCluster({ groups: { A: ['a1', 'a2'], B: ['b1'] }, views: 'both' });
    cluster.settle();
    const a1 = cluster.endpoints.get(n('a1'))!;
    // Control data keyed by prototype names as well, with own `__proto__` keys (JSON.parse defines them).
    const control = JSON.parse(
      '{"epochs":{"toString":3,"__proto__":2},"acks":{"constructor":4,"__proto__":1},' +
        '"stable":{"valueOf":2,"__proto__":1},"nacks":{"hasOwnProperty":[1,2],"__proto__":[1,1]},' +
        '"views":[],"syncRequest":true,"counted":0,"answer":false}',
    ) as Packet['control'];
    for (const from of ['toString', 'constructor', '__proto__']) {
      const packet: Packet = {
        connection: cluster.connection,
        from: n(from),
        incarnation: 1,
        group: 'B',
        data: [],
        control,
      };
      receivePacket(a1, structuredClone(packet));
    }
    fireTimer(a1, 'flush');
    const targets = takeEffects(a1).flatMap((effect) => (effect.type === 'send' ? [effect.target] : []));
    expect(targets.sort()).toEqual(['__proto__', 'constructor', 'toString']);
    expect(Object.getPrototypeOf(a1.peers)).toBe(Object.prototype);
    expect(Object.keys(a1.peers).sort()).toEqual(['__proto__', 'a2', 'b1', 'constructor', 'toString']);
  });
});

// fast-check: node ids drawn from a pool rich in prototype names, random schedules of multicasts,
// deliveries, losses, duplicates, timers, clones and one crash with its view change: never a throw,
// and every replica's delivered sequence from each sender is a prefix of what that sender sent.
const command = scheduleCommand({ clone: true });

// Node ids only: `nodeId` refuses `__proto__` (the control-data test above still sends it as a key).
const namePool = [...PROTOTYPE_NAMES.filter((name) => name !== '__proto__'), 'a1', 'b1'];

function runSchedule(
  names: readonly string[],
  commands: readonly ScheduleCommand[],
  ownGroupDelayMs: number,
): void {
  const groups = { A: names.slice(0, 3), B: names.slice(3, 5) };
  const nodes = names.map((name) => n(name));
  const cluster = new PureCluster({ groups, views: 'own', settings: { windowMax: 4, ownGroupDelayMs } });
  cluster.settle();
  const crashed = new Set<NodeId>();
  let counter = 0;
  for (const next of commands) {
    applyScheduleCommand(cluster, nodes, groups, crashed, next, (node) => `${node}#${++counter}`);
  }
  cluster.settle();
  checkDelivery(cluster, [], []);
  settled(cluster);
  for (const node of nodes) {
    if (crashed.has(node)) continue;
    for (const [key, sent] of cluster.sent) {
      if (crashed.has(key.slice(0, key.lastIndexOf(':')) as NodeId)) continue;
      expect(cluster.deliveredFrom(node, key), `${node} from ${key}`).toEqual(sent);
    }
  }
}

describe('multicast connection with prototype-named nodes against a model (claim 36)', () => {
  it('never throws and delivers every sender list, in order and once, under any schedule', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(namePool, { minLength: 5, maxLength: 5 }),
        fc.array(command, { maxLength: 80 }),
        fc.constantFrom(0, 2),
        (names, commands, ownGroupDelayMs) => runSchedule(names, commands, ownGroupDelayMs),
      ),
      { numRuns: 150 },
    );
  });
});
