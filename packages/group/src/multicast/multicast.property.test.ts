// fast-check over message and fault schedules (house style rule 13): a cluster of pure endpoints
// against a dumb model, a list of payloads per sender. Claim 36: whatever the schedule (multicasts,
// packets delivered in any order, lost, duplicated, timers firing, a sender or receiver crashing
// and being removed by a view change), every replica's delivered sequence from each sender is a
// prefix of the model's list for that sender, with no duplicates; and once the network is fair
// again, every live replica holds the whole list of every live sender, and every buffer is empty.
import { nodeId, type NodeId } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bufferedMessages, streamKey } from './endpoint.js';
import { PureCluster } from './pure-cluster.test-support.js';

const groups = { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] };
const allNodes = [...groups.A, ...groups.B].map((node) => nodeId(node));

type Command =
  | { readonly type: 'multicast'; readonly node: number }
  | { readonly type: 'deliver'; readonly index: number }
  | { readonly type: 'drop'; readonly index: number }
  | { readonly type: 'duplicate'; readonly index: number }
  | { readonly type: 'tick' }
  | { readonly type: 'crash'; readonly node: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('multicast' as const), node: fc.nat(4) }) },
  { weight: 8, arbitrary: fc.record({ type: fc.constant('deliver' as const), index: fc.nat(40) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('drop' as const), index: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('duplicate' as const), index: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.constant({ type: 'tick' as const }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('crash' as const), node: fc.nat(4) }) },
);

/** The model: what each sender stream multicast, in order. The cluster records it in `sent`. */
function checkPrefixes(cluster: PureCluster, crashed: ReadonlySet<NodeId>): void {
  for (const node of allNodes) {
    if (crashed.has(node)) continue;
    const byStream = new Map<string, unknown[]>();
    for (const message of cluster.delivered.get(node) ?? []) {
      const key = streamKey(message.id);
      const list = byStream.get(key) ?? [];
      list.push(message.payload);
      byStream.set(key, list);
    }
    for (const [key, delivered] of byStream) {
      const sent = cluster.sent.get(key) ?? [];
      expect(delivered, `${node} from ${key}`).toEqual(sent.slice(0, delivered.length));
    }
  }
}

function run(commands: readonly Command[], ownGroupDelayMs = 0): void {
  const cluster = new PureCluster({ groups, views: 'own', settings: { windowMax: 4, ownGroupDelayMs } });
  cluster.settle();
  const crashed = new Set<NodeId>();
  let counter = 0;
  for (const next of commands) {
    const flights = cluster.inFlight.length;
    switch (next.type) {
      case 'multicast': {
        const node = allNodes[next.node]!;
        if (!crashed.has(node)) cluster.multicast(node, { from: node, n: ++counter });
        break;
      }
      case 'deliver':
        if (flights > 0) cluster.deliver(next.index % flights);
        break;
      case 'drop':
        if (flights > 0) cluster.drop(next.index % flights);
        break;
      case 'duplicate':
        if (flights > 0) cluster.duplicate(next.index % flights);
        break;
      case 'tick':
        cluster.tick();
        break;
      case 'crash': {
        // At most one crash, so both groups keep a member; the view change removes it.
        const node = allNodes[next.node]!;
        if (crashed.size > 0) break;
        crashed.add(node);
        cluster.crash(node);
        const group = cluster.groupOf(node);
        cluster.changeView(
          group,
          groups[group as 'A' | 'B'].filter((member) => member !== node),
        );
        break;
      }
    }
    checkPrefixes(cluster, crashed);
  }
  // Heal: a fair network until quiet.
  cluster.settle();
  checkPrefixes(cluster, crashed);
  for (const node of allNodes) {
    if (crashed.has(node)) continue;
    const state = cluster.endpoints.get(node)!;
    expect(bufferedMessages(state), `${node} buffers`).toBe(0);
    for (const [key, sent] of cluster.sent) {
      const origin = key.split(':')[0] as NodeId;
      if (crashed.has(origin)) continue;
      expect(cluster.deliveredFrom(node, key), `${node} from ${key}`).toEqual(sent);
    }
  }
}

describe('multicast connection against a model (claim 36)', () => {
  it('delivers prefixes of each sender list under any schedule, and everything once the network is fair', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 120 }), (commands) => run(commands)),
      { numRuns: 300 },
    );
  });

  it('does the same when data to the own group’s followers waits (ownGroupDelayMs)', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 120 }), (commands) => run(commands, 2)),
      { numRuns: 300 },
    );
  });
});
