/**
 * The deployment API on real runtime nodes: `group(behavior, ...)` gives a replica actor that a
 * `Node` hosts unchanged, over the in-memory transport with signed frames. Invariant: with views
 * given as `replica-view` commands, a client's requests are answered once each, backups process
 * the primary's order into the same state, and a failover keeps both properties (claims 33, 34, 65).
 */
import { MemoryNetwork, Node, SimulatedClock, entropyFrom } from '@steadfast/runtime';
import { address, createCodec, nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { REPLICA_ACTOR_NAME, group, replicationRegistry } from './group.js';
import { client, ledger } from './workload.js';

const key = new Uint8Array(32).fill(7);

describe('group() on runtime nodes', () => {
  it('serves a client from a 3-replica ledger, fails over, and every replica ends in the same state', async () => {
    const clock = new SimulatedClock();
    const network = new MemoryNetwork();
    const names = ['c1', 'b1', 'b2', 'b3'];
    const peers = Object.fromEntries(names.map((name) => [name, name]));
    const ledgerGroup = group(ledger, { replicas: 3, style: 'semi-active' });
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
        codec: createCodec({ keys: new Map([[1, key]]), activeKeyId: 1 }),
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
            contacts: isClient ? ['b1', 'b2', 'b3'].map((n) => nodeId(n)) : [nodeId('c1')],
          },
        ],
      });
    }
    const tell = (name: string, body: unknown) =>
      nodes.get(name)!.tell(address(name, REPLICA_ACTOR_NAME), body);
    const view = (groupName: string, members: string[], epoch: number) => ({
      type: 'replica-view',
      view: { group: groupName, epoch, members, primary: members[0] },
    });
    const run = async (ms: number) => {
      const until = clock.now() + ms;
      while (clock.now() < until) {
        clock.advance(1);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    tell('c1', view('C', ['c1'], 1));
    for (const name of ['b1', 'b2', 'b3']) tell(name, view('B', ['b1', 'b2', 'b3'], 1));
    await run(300);
    for (const requestKey of ['r1', 'r2', 'r3'])
      tell('c1', {
        type: 'replica-external',
        body: { type: 'issue', key: requestKey, target: 'B', priority: 0, deadlineMs: 0 },
      });
    await run(100);
    // The primary fails; membership (here: the test) installs the next view at the survivors.
    await nodes.get('b1')!.close();
    for (const name of ['b2', 'b3']) tell(name, view('B', ['b2', 'b3'], 2));
    await run(400);
    tell('c1', {
      type: 'replica-external',
      body: { type: 'issue', key: 'r4', target: 'B', priority: 0, deadlineMs: 0 },
    });
    await run(300);
    const b2 = nodes.get('b2')!.actorState(REPLICA_ACTOR_NAME) as {
      role: string;
      position: number;
      digest: string;
    };
    const b3 = nodes.get('b3')!.actorState(REPLICA_ACTOR_NAME) as {
      role: string;
      position: number;
      digest: string;
    };
    expect(b2.role).toBe('primary');
    expect(b2.position).toBe(5); // start + four requests
    // The primary keeps no outputs of its own after sending them: `kept` is for outputs a backup
    // has not yet seen its primary send, so it must not grow with every request served.
    expect((b2 as unknown as { backlog: { kept: number } }).backlog.kept).toBe(0);
    // Counters differ by role; the order and the state must not.
    expect({ position: b3.position, digest: b3.digest, role: b3.role }).toEqual({
      position: b2.position,
      digest: b2.digest,
      role: 'backup',
    });
    expect(replicationRegistry().has(ledgerGroup.replicaBehavior.kind)).toBe(true);
  });
});
