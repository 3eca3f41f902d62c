/**
 * An output no frame can carry (house rule: oversized payloads get a clear error or a counted
 * drop, never lost data or a stall). A replicated actor whose reply to one request is far larger
 * than a frame: the connection refuses that output as too large, the replica counts it as refused
 * (it is never retried, at the primary or after a failover), and every later output still flows —
 * the stream does not stall behind it.
 */
import {
  defineActor,
  MemoryNetwork,
  Node,
  SimulatedClock,
  entropyFrom,
  type ActorBehavior,
} from '@steadfast/runtime';
import { address, createCodec, nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { REPLICA_ACTOR_NAME, group } from './group.js';
import { client } from './workload.js';

/** Answers `add` like the ledger, but with a ~40 KB reply for the key 'huge'. */
const bloated: ActorBehavior = defineActor<{ total: number }>({
  kind: 'test-bloated-ledger',
  initial: () => ({ total: 0 }),
  handle(state, input, ctx) {
    if (input.type !== 'message') return state;
    const body = input.envelope.body as { type?: string; key?: string };
    if (body.type !== 'add' || typeof body.key !== 'string') return state;
    const total = state.total + 1;
    ctx.reply({
      type: 'added',
      key: body.key,
      total,
      padding: body.key === 'huge' ? 'x'.repeat(40_000) : '',
    });
    return { total };
  },
});

describe('an output too large for any frame', () => {
  it('is refused and counted once, and the outputs after it still reach the client', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork();
    const names = ['c1', 'b1', 'b2', 'b3'];
    const peers = Object.fromEntries(names.map((name) => [name, name]));
    const ledgerGroup = group(bloated, { replicas: 3, style: 'semi-active' });
    const clientGroup = group(client, { replicas: 1, style: 'semi-active' });
    const nodes = new Map<string, Node>();
    let seed = 1;
    for (const name of names) {
      let state = seed++;
      const node = new Node({
        id: name,
        incarnation: 1,
        clock,
        entropy: entropyFrom(() => (state = (state * 16807) % 2147483647) / 2147483647),
        transport: network.attach(name),
        codec: createCodec({ keys: new Map([[1, new Uint8Array(32).fill(7)]]), activeKeyId: 1 }),
        peers,
        scheduleDrain: (drain) => clock.setTimer(0, drain),
      });
      nodes.set(name, node);
      const isClient = name === 'c1';
      node.spawn(REPLICA_ACTOR_NAME, isClient ? clientGroup.replicaBehavior : ledgerGroup.replicaBehavior, {
        group: isClient ? 'C' : 'B',
        incarnation: 1,
        peers: [
          {
            group: isClient ? 'B' : 'C',
            contacts: isClient ? ['b1', 'b2', 'b3'].map(nodeId) : [nodeId('c1')],
          },
        ],
      });
    }
    const tell = (name: string, body: unknown) =>
      nodes.get(name)!.tell(address(name, REPLICA_ACTOR_NAME), body);
    const view = (groupName: string, members: string[]) => ({
      type: 'replica-view',
      view: { group: groupName, epoch: 1, members, primary: members[0] },
    });
    const run = async (ms: number) => {
      const until = clock.now() + ms;
      while (clock.now() < until) {
        clock.advance(1);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    tell('c1', view('C', ['c1']));
    for (const name of ['b1', 'b2', 'b3']) tell(name, view('B', ['b1', 'b2', 'b3']));
    await run(300);
    for (const key of ['r1', 'huge', 'r2', 'r3']) {
      tell('c1', {
        type: 'replica-external',
        body: { type: 'issue', key, target: 'B', priority: 0, deadlineMs: 0 },
      });
    }
    await run(600);
    const clientState = nodes.get('c1')!.actorState(REPLICA_ACTOR_NAME) as { position: number };
    const primary = nodes.get('b1')!.actorState(REPLICA_ACTOR_NAME) as {
      position: number;
      counters: { outputsRefused: number; outputsSent: number };
    };
    // All four requests were processed; one reply was refused for good, three were sent.
    expect(primary.position).toBe(1 + 4); // the actor's start is position 1
    expect(primary.counters.outputsRefused).toBe(1);
    expect(primary.counters.outputsSent).toBe(3);
    // The client processed its four commands and the three replies that could travel.
    expect(clientState.position).toBe(1 + 4 + 3);
  });
});

describe('parts of a split control message (state transfers, flush replies)', () => {
  it('bad parts from a peer are counted drops, never a crash; a forged whole message is handled only if it is a control message', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork();
    const names = ['b1', 'b2'];
    const peers = Object.fromEntries(names.map((name) => [name, name]));
    const ledgerGroup = group(bloated, { replicas: 2, style: 'semi-active' });
    const nodes = new Map<string, Node>();
    for (const name of names) {
      let state = name.length;
      const node = new Node({
        id: name,
        incarnation: 1,
        clock,
        entropy: entropyFrom(() => (state = (state * 16807) % 2147483647) / 2147483647),
        transport: network.attach(name),
        codec: createCodec({ keys: new Map([[1, new Uint8Array(32).fill(7)]]), activeKeyId: 1 }),
        peers,
        scheduleDrain: (drain) => clock.setTimer(0, drain),
      });
      nodes.set(name, node);
      node.spawn(REPLICA_ACTOR_NAME, ledgerGroup.replicaBehavior, { group: 'B', incarnation: 1, peers: [] });
    }
    const run = async (ms: number) => {
      const until = clock.now() + ms;
      while (clock.now() < until) {
        clock.advance(1);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    for (const name of names)
      nodes.get(name)!.tell(address(name, REPLICA_ACTOR_NAME), {
        type: 'replica-view',
        view: { group: 'B', epoch: 1, members: names, primary: 'b1' },
      });
    await run(50);
    const part = (fields: Record<string, unknown>) => ({
      type: 'rep-part',
      group: 'B',
      incarnation: 1,
      transfer: 1,
      index: 0,
      count: 1,
      bytes: new Uint8Array([0x80]),
      ...fields,
    });
    const fromB1 = (body: unknown) => nodes.get('b1')!.tell(address('b2', REPLICA_ACTOR_NAME), body);
    fromB1(part({ count: 0 })); // no parts
    fromB1(part({ index: 3 })); // index out of range
    fromB1(part({ bytes: 'not bytes' })); // not bytes
    fromB1(part({ transfer: 2, bytes: new Uint8Array([0xc1]) })); // whole, but not msgpack
    fromB1(part({ transfer: 3 })); // whole, decodes to {} (not a control message)
    fromB1(part({ transfer: 4, bytes: new Uint8Array(new Uint8Array(7_000)) })); // larger than a part
    fromB1(part({ group: 'X' })); // another group's: ignored before anything
    await run(50);
    const b2 = nodes.get('b2')!.actorState(REPLICA_ACTOR_NAME) as {
      role: string;
      counters: { controlPartsDropped: number; controlMessagesJoined: number };
    };
    expect(b2.counters.controlPartsDropped).toBe(6);
    expect(b2.counters.controlMessagesJoined).toBe(0);
    expect(b2.role).toBe('backup');
  });
});
