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
import {
  PureCluster,
  applyScheduleCommand,
  scheduleCommand,
  type ScheduleCommand,
} from './pure-cluster.test-support.js';

const groups = { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] };
const allNodes = [...groups.A, ...groups.B].map((node) => nodeId(node));

const command = scheduleCommand();

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

function run(commands: readonly ScheduleCommand[], ownGroupDelayMs = 0): void {
  const cluster = new PureCluster({ groups, views: 'own', settings: { windowMax: 4, ownGroupDelayMs } });
  cluster.settle();
  const crashed = new Set<NodeId>();
  let counter = 0;
  for (const next of commands) {
    applyScheduleCommand(cluster, allNodes, groups, crashed, next, (node) => ({ from: node, n: ++counter }));
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
