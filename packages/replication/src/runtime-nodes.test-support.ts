/**
 * Replica actors on real runtime `Node`s for tests: an in-memory network, signed frames, a
 * simulated clock advanced 1 ms at a time, and seeded entropy per node. Each node hosts one replica
 * actor (`REPLICA_ACTOR_NAME`) of the group its entry names; views are given by hand with `view`.
 */
import { MemoryNetwork, Node, SimulatedClock, entropyFrom, type ActorBehavior } from '@steadfast/runtime';
import { address, createCodec, nodeId, type MessageId } from '@steadfast/wire';
import { REPLICA_ACTOR_NAME } from './group.js';

export interface RuntimeReplica {
  readonly node: string;
  readonly group: string;
  readonly behavior: ActorBehavior;
  /** The peer groups of this replica's group and their members. */
  readonly peers: Readonly<Record<string, readonly string[]>>;
}

export function runtimeReplicas(replicas: readonly RuntimeReplica[]) {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork();
  const peers = Object.fromEntries(replicas.map(({ node }) => [node, node]));
  const key = new Uint8Array(32).fill(7);
  const nodes = new Map<string, Node>();
  replicas.forEach((replica, index) => {
    let state = index + 1;
    const node = new Node({
      id: replica.node,
      incarnation: 1,
      clock,
      entropy: entropyFrom(() => (state = (state * 16807) % 2147483647) / 2147483647),
      transport: network.attach(replica.node),
      codec: createCodec({ keys: new Map([[1, key]]), activeKeyId: 1 }),
      peers,
      scheduleDrain: (drain) => clock.setTimer(0, drain),
    });
    nodes.set(replica.node, node);
    node.spawn(REPLICA_ACTOR_NAME, replica.behavior, {
      group: replica.group,
      incarnation: 1,
      peers: Object.entries(replica.peers).map(([group, members]) => ({
        group,
        contacts: members.map((member) => nodeId(member)),
      })),
    });
  });
  return {
    clock,
    nodes,
    /** A one-way message to `name`'s replica actor, from that node's built-in client. */
    tell: (name: string, body: unknown): MessageId =>
      nodes.get(name)!.tell(address(name, REPLICA_ACTOR_NAME), body),
    /** The `replica-view` command naming `members[0]` primary. */
    view: (group: string, members: readonly string[], epoch = 1) => ({
      type: 'replica-view',
      view: { group, epoch, members, primary: members[0] },
    }),
    /** Advances the clock `ms` milliseconds, 1 ms at a time, letting the nodes run in between. */
    async run(ms: number): Promise<void> {
      const until = clock.now() + ms;
      while (clock.now() < until) {
        clock.advance(1);
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    state: (name: string): unknown => nodes.get(name)!.actorState(REPLICA_ACTOR_NAME),
  };
}

/**
 * The usual pair: the workload's client as a one-replica group C on `c1`, and `ledger` (any
 * replicated behavior) as group B on `b1`, `b2`, `b3`.
 */
export function clientAndLedgers(
  ledgerReplica: ActorBehavior,
  clientReplica: ActorBehavior,
): RuntimeReplica[] {
  const ledgers = ['b1', 'b2', 'b3'];
  return [
    { node: 'c1', group: 'C', behavior: clientReplica, peers: { B: ledgers } },
    ...ledgers.map((node) => ({ node, group: 'B', behavior: ledgerReplica, peers: { C: ['c1'] } })),
  ];
}
