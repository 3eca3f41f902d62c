/**
 * The processed-position history every replica keeps for the invariant checks is bounded by
 * `historyMax`, and cutting it never loses count of positions.
 */
import { nodeId } from '@steadfast/wire';
import { expect, it } from 'vitest';
import { receptionPolicy } from './policy.js';
import { ReplicationCluster } from './simulation.js';
import { client, ledger, type IssueCommand } from './workload.js';

it('history stays within historyMax while positions go far past it (invariant: historyStart + history length = position)', () => {
  const historyMax = 32;
  const sim = new ReplicationCluster({
    seed: 1,
    network: { latencyMs: [1, 1] },
    groups: [
      {
        group: 'C',
        members: ['c1'],
        behavior: client,
        style: 'semi-active',
        policy: receptionPolicy,
        peers: ['B'],
      },
      {
        group: 'B',
        members: ['b1', 'b2', 'b3'],
        behavior: ledger,
        style: 'semi-active',
        policy: receptionPolicy,
        peers: ['C'],
        settings: { historyMax },
      },
    ],
  });
  sim.start();
  sim.runUntil(300);
  for (let index = 1; index <= 120; index++) {
    const body: IssueCommand = { type: 'issue', key: `r${index}`, target: 'B', priority: 0, deadlineMs: 0 };
    sim.input(nodeId('c1'), { type: 'external', body });
  }
  sim.runUntil(3_000);
  for (const member of ['b1', 'b2', 'b3']) {
    const role = sim.role(member);
    expect(role.position).toBeGreaterThan(120);
    expect(role.history().length).toBeLessThanOrEqual(historyMax);
    expect(role.history().length).toBeGreaterThan(0);
    expect(role.historyEpochs().length).toBe(role.history().length);
    expect(role.historyStart() + role.history().length).toBe(role.position);
  }
  expect(sim.role('b2').history()).toEqual(sim.role('b1').history());
});
