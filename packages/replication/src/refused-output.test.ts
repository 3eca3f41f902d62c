/**
 * Outputs no frame can carry, decided where they are made (house rule: an oversize output is a
 * counted drop, never a stall and never lost data elsewhere). `emit` runs alike at every replica
 * that processes a position, so it refuses such an output at all of them: the output takes no
 * channel number, no replica keeps it for failover, a refused synchronous request leaves nobody
 * waiting, and every replica that made it counts it in `outputsRefused`.
 *
 * Before, the primary's connection refused it when it sent it: the channel number was used up at
 * every replica but never seen by the peer (whose duplicate-suppression set for the group then
 * grew by every later message, and travelled so in every checkpoint and state transfer), each
 * backup kept the output for good, and a refused synchronous request stopped its group for good,
 * across failovers too (`syncWait` is in the bookkeeping).
 */
import { nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { directGroups } from './direct-groups.test-support.js';
import { bloatedLedger, paddedFront } from './oversize.test-support.js';
import { receptionPolicy } from './policy.js';
import type { ReplicaRole } from './replica.js';
import { ReplicationCluster } from './simulation.js';
import type { ReplicationStyle } from './types.js';
import { client, ledger, type IssueCommand } from './workload.js';

const paddedCaller = paddedFront('test-padded-front');
const lateGrowingFront = paddedFront('test-late-growing-front', true);

function issue(sim: ReplicationCluster, clientNode: string, key: string, target: string): void {
  const body: IssueCommand = { type: 'issue', key, target, priority: 0, deadlineMs: 0 };
  sim.input(nodeId(clientNode), { type: 'external', body });
}

/** How many channel numbers `role` holds above its floor for `source` (0: no gap). */
function sparseOf(role: ReplicaRole, source: string): number {
  const processedBy = (role as unknown as { processedBy: Map<string, { sparseCount: number }> }).processedBy;
  return processedBy.get(source)?.sparseCount ?? 0;
}

function started(groups: ConstructorParameters<typeof ReplicationCluster>[0]['groups']): ReplicationCluster {
  const sim = new ReplicationCluster({ seed: 1, network: { latencyMs: [1, 1] }, groups });
  sim.start();
  // The multicast layer admits a member once every member counts it: let that happen first.
  sim.runUntil(300);
  return sim;
}

describe('a refused output to a peer group', () => {
  // Invariant: a refused output uses up no channel number, so the receiver's duplicate-suppression
  // set for the source stays a floor with nothing above it however much traffic follows, and no
  // backup keeps the refused output (so none resends it when promoted).
  it('leaves no gap in the receiver’s channels and no kept copy at any backup, before and after a failover', () => {
    const sim = started(directGroups({ behavior: bloatedLedger }));
    issue(sim, 'c1', 'huge', 'B');
    sim.runUntil(sim.clock.now() + 20);
    for (let index = 0; index < 200; index++) {
      issue(sim, 'c1', `r${index}`, 'B');
      sim.runUntil(sim.clock.now() + 2);
    }
    sim.runUntil(sim.clock.now() + 300);
    const c1 = sim.role('c1');
    // The old code: 200 (every later reply's channel sat above the floor, for good).
    expect(sparseOf(c1, 'B')).toBe(0);
    for (const name of ['b1', 'b2', 'b3']) expect(sim.role(name).backlog().kept).toBe(0);
    const replies = (c1.actorState() as { replies: Record<string, number[]> }).replies;
    expect(replies['huge']).toBeUndefined();
    expect(Object.keys(replies)).toHaveLength(200);

    // The primary fails: its successor resends nothing (it kept nothing), and replies go on.
    sim.crash(nodeId('b1'));
    sim.runUntil(sim.clock.now() + 500);
    const successor = sim.primaryOf('B')!;
    expect(successor.role).toBe('primary');
    expect(successor.counters.outputsResent).toBe(0);
    for (let index = 0; index < 50; index++) {
      issue(sim, 'c1', `after${index}`, 'B');
      sim.runUntil(sim.clock.now() + 2);
    }
    sim.runUntil(sim.clock.now() + 300);
    expect(Object.keys((c1.actorState() as { replies: Record<string, number[]> }).replies)).toHaveLength(250);
    expect(sparseOf(c1, 'B')).toBe(0);
  });

  // Invariant: `outputsRefused` counts the refusal at every replica that made the output, so it
  // is the same at a semi-active primary and its backups (the old code counted it at the primary
  // only, where the connection refused it).
  it('is counted in outputsRefused alike at the primary and its semi-active backups', () => {
    const sim = started(directGroups({ behavior: bloatedLedger }));
    for (const key of ['r1', 'huge', 'r2', 'huge2', 'r3']) issue(sim, 'c1', key, 'B');
    sim.runUntil(sim.clock.now() + 300);
    expect(sim.role('b1').role).toBe('primary');
    for (const name of ['b1', 'b2', 'b3']) {
      const replica = sim.role(name);
      expect(replica.position).toBe(1 + 5); // the actor's start, then the five requests
      expect(replica.counters.outputsRefused).toBe(1);
    }
    expect(sim.role('b1').counters.outputsSent).toBe(4);
  });
});

describe('a refused synchronous request', () => {
  function frontAndLedger(style: ReplicationStyle, front = paddedCaller): ReplicationCluster {
    const policy = receptionPolicy;
    return started([
      { group: 'C', members: ['c1'], behavior: client, style: 'semi-active', policy, peers: ['A'] },
      { group: 'A', members: ['a1', 'a2', 'a3'], behavior: front, style, policy, peers: ['C', 'B'] },
      { group: 'B', members: ['b1', 'b2'], behavior: ledger, style: 'semi-active', policy, peers: ['A'] },
    ]);
  }

  for (const style of ['semi-active', 'passive'] as const) {
    // Invariant: a synchronous request that can never be sent sets nobody waiting for its reply,
    // so the caller's group goes on processing and answering later requests, at every replica,
    // and after a failover too (the old code stopped the group for good at `syncWait`, which the
    // bookkeeping carried to the next primary).
    it(`does not stop its group (${style}): later requests are processed and answered, after a failover too`, () => {
      const sim = frontAndLedger(style);
      issue(sim, 'c1', 'r1', 'A');
      sim.runUntil(sim.clock.now() + 100);
      issue(sim, 'c1', 'huge', 'A');
      sim.runUntil(sim.clock.now() + 100);
      for (const key of ['r2', 'r3', 'r4']) issue(sim, 'c1', key, 'A');
      sim.runUntil(sim.clock.now() + 1_000);

      const a1 = sim.role('a1');
      expect(a1.role).toBe('primary');
      expect(a1.counters.outputsRefused).toBe(1);
      // The five requests and the four replies that could come (the start is position 1).
      expect(a1.position).toBe(1 + 5 + 4);
      expect(a1.actorState()).toEqual({ called: 5, answered: 4 });
      for (const name of ['a1', 'a2', 'a3']) {
        const replica = sim.role(name);
        expect(replica.awaitingReply()).toBe(false);
        // A passive backup holds the primary's checkpoint and logs the inputs after it.
        expect(replica.coverage()).toBe(1 + 5 + 4);
        if (style === 'semi-active' || name === 'a1') {
          expect(replica.backlog().inputs).toBe(0);
          expect(replica.actorState()).toEqual({ called: 5, answered: 4 });
          expect(replica.counters.outputsRefused).toBe(1);
        }
      }
      expect(sim.role('b1').position).toBe(1 + 4);

      // The primary fails; its successor goes on answering.
      sim.crash(nodeId('a1'));
      sim.runUntil(sim.clock.now() + 500);
      const successor = sim.primaryOf('A')!;
      expect(successor.role).toBe('primary');
      for (const key of ['r5', 'r6']) issue(sim, 'c1', key, 'A');
      sim.runUntil(sim.clock.now() + 1_000);
      for (const replica of sim.replicas('A')) {
        expect(replica.awaitingReply()).toBe(false);
        if (style === 'semi-active' || replica === successor)
          expect(replica.actorState()).toEqual({ called: 7, answered: 6 });
      }
    });
  }

  // Invariant (the safety net): an output `emit` accepted that the primary's connection still
  // refuses when it sends it is dropped and counted there, and a synchronous request so dropped
  // stops no one waiting: not the primary, nor a backup once promoted (it resends its kept copy,
  // which is refused alike).
  it('refused only when the primary sends it still stops no group, before and after a failover', () => {
    const sim = frontAndLedger('semi-active', lateGrowingFront);
    issue(sim, 'c1', 'r1', 'A');
    sim.runUntil(sim.clock.now() + 100);
    issue(sim, 'c1', 'huge', 'A');
    sim.runUntil(sim.clock.now() + 100);
    for (const key of ['r2', 'r3']) issue(sim, 'c1', key, 'A');
    sim.runUntil(sim.clock.now() + 1_000);
    const a1 = sim.role('a1');
    expect(a1.counters.outputsRefused).toBe(1);
    expect(a1.actorState()).toEqual({ called: 4, answered: 3 });
    expect(a1.awaitingReply()).toBe(false);
    for (const name of ['a2', 'a3']) expect(sim.role(name).actorState()).toEqual({ called: 4, answered: 3 });

    sim.crash(nodeId('a1'));
    sim.runUntil(sim.clock.now() + 500);
    const successor = sim.primaryOf('A')!;
    expect(successor.role).toBe('primary');
    expect(successor.counters.outputsRefused).toBe(1);
    for (const key of ['r4', 'r5']) issue(sim, 'c1', key, 'A');
    sim.runUntil(sim.clock.now() + 1_000);
    for (const replica of sim.replicas('A')) {
      expect(replica.awaitingReply()).toBe(false);
      expect(replica.actorState()).toEqual({ called: 6, answered: 5 });
    }
  });
});
