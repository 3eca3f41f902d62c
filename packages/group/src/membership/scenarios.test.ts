// Golden scenarios of the view change, each a short script (faults at fixed virtual times) and
// the exact sequence of view installations it must produce, plus agreement on the deliveries.
// Seed claims: hierarchical-datacenter-fault-tolerance claims 10-13 (the local sub-protocol detects
// failures, develops a suspicion, and determines an alternate object to become the primary) and
// primary-order-announcements claim 65 (a backup that assumes the primary role carries on with the
// same messages in the same order as the failed primary).
import { Simulation } from '@steadfast/sim';
import { describe, expect, it } from 'vitest';
import type { MemberState } from './state.js';
import { groupCluster, type GroupCluster } from './testing/simulation.js';

const nodes = ['n1', 'n2', 'n3'];

function scenario(seed = 1) {
  const cluster = groupCluster({ members: nodes, keepDeliveries: true, opsPerClient: 30, thinkMs: 10 });
  const simulation = new Simulation({
    seed,
    nodes,
    setup: cluster.setup,
    safetyMs: 60_000,
    livenessMs: 0,
    invariants: cluster.invariants,
    hashStates: false,
  });
  cluster.bind(simulation);
  return { cluster, simulation };
}

/** `node:e<epoch>:<primary>` for each view installation, in the order observed. */
function viewLog(cluster: GroupCluster): string[] {
  return cluster.recorder.views.map((view) => `${view.node}:e${view.epoch}:${view.primary}`);
}

function deliveredBy(cluster: GroupCluster, node: string): string[] {
  return cluster.recorder.deliveries
    .filter((delivery) => delivery.node === node)
    .map((delivery) => delivery.key);
}

function member(simulation: Simulation, node: string): MemberState {
  return simulation.node(node)!.actorState('group.g') as MemberState;
}

/** The run ended with every invariant holding, all members agreeing, and every client answered. */
function expectConverged(cluster: GroupCluster, simulation: Simulation): void {
  expect(simulation.violations).toEqual([]);
  expect(cluster.liveness[0]!(simulation)).toEqual([]);
}

describe('golden view-change scenarios', () => {
  it('primary crash: the next member by rank is elected and keeps every acknowledged op (hdc claims 12-13, claim 65)', async () => {
    const { cluster, simulation } = scenario();
    await simulation.runUntil(300);
    const committedBeforeCrash = member(simulation, 'n2').commitNumber;
    simulation.crash('n1');
    await simulation.runUntil(1_500);
    expect(viewLog(cluster)).toEqual(['n1:e0:n1', 'n2:e0:n1', 'n3:e0:n1', 'n2:e1:n2', 'n3:e1:n2']);
    // The new primary's order extends the old one: the prefix delivered before the crash is kept.
    expect(deliveredBy(cluster, 'n2').slice(0, committedBeforeCrash)).toEqual(
      deliveredBy(cluster, 'n1').slice(0, committedBeforeCrash),
    );
    simulation.restart('n1');
    await simulation.runUntil(3_000);
    expect(viewLog(cluster).slice(5)).toEqual(['n1:e1:n2']);
    expect(deliveredBy(cluster, 'n1')).toEqual(deliveredBy(cluster, 'n2'));
    expect(deliveredBy(cluster, 'n3')).toEqual(deliveredBy(cluster, 'n2'));
    expectConverged(cluster, simulation);
  });

  it('partition 2-1 isolating the primary: the minority commits nothing, the majority elects (hdc claims 10-11)', async () => {
    const { cluster, simulation } = scenario();
    await simulation.runUntil(300);
    simulation.network.partition([['n1'], ['n2', 'n3']]);
    await simulation.runUntil(320);
    const isolatedCommit = member(simulation, 'n1').commitNumber;
    await simulation.runUntil(1_200);
    // The old primary could not commit a single op; hearing no majority for the suspicion timeout,
    // it stepped down (it refuses writes), and it cannot move the epoch on alone (no pre-vote yes).
    expect(member(simulation, 'n1').commitNumber).toBe(isolatedCommit);
    expect(member(simulation, 'n1').counters.stepDowns).toBe(1);
    expect(member(simulation, 'n1').status).toBe('view-change');
    expect(member(simulation, 'n1').epoch).toBe(1);
    expect(viewLog(cluster)).toEqual(['n1:e0:n1', 'n2:e0:n1', 'n3:e0:n1', 'n2:e1:n2', 'n3:e1:n2']);
    expect(member(simulation, 'n2').commitNumber).toBeGreaterThan(isolatedCommit);
    simulation.network.healPartition();
    await simulation.runUntil(3_000);
    expect(viewLog(cluster).slice(5)).toEqual(['n1:e1:n2']);
    expect(deliveredBy(cluster, 'n1')).toEqual(deliveredBy(cluster, 'n2'));
    expectConverged(cluster, simulation);
  });

  it('one-way partition: a backup that cannot hear the primary does not disturb the others, and catches up after', async () => {
    const { cluster, simulation } = scenario();
    await simulation.runUntil(300);
    simulation.network.blockOneWay('n1', 'n2');
    await simulation.runUntil(1_200);
    // n2 suspects n1 and asks for a view change; n3 and n1 still hear each other, so neither agrees
    // (before pre-votes, they joined the higher epoch n2 started, and the group changed views).
    expect(viewLog(cluster)).toEqual(['n1:e0:n1', 'n2:e0:n1', 'n3:e0:n1']);
    expect(member(simulation, 'n2').counters.preVotesSent).toBeGreaterThan(0);
    expect(member(simulation, 'n3').counters.preVotesRefused).toBeGreaterThan(0);
    expect(member(simulation, 'n1').counters.preVotesRefused).toBeGreaterThan(0);
    expect(member(simulation, 'n1').commitNumber).toBeGreaterThan(member(simulation, 'n2').commitNumber);
    simulation.network.unblockOneWay('n1', 'n2');
    await simulation.runUntil(3_000);
    expect(deliveredBy(cluster, 'n1')).toEqual(deliveredBy(cluster, 'n3'));
    expect(deliveredBy(cluster, 'n2')).toEqual(deliveredBy(cluster, 'n3'));
    expectConverged(cluster, simulation);
  });

  it('restart with a new incarnation: late messages of the old incarnation are fenced off, the new one recovers', async () => {
    const { cluster, simulation } = scenario();
    await simulation.runUntil(300);
    // Frames n1 sends now reach n2 only after 80 ms: they are still in flight when n1 comes back.
    simulation.network.setLink('n1', 'n2', { latencyMs: [80, 80] });
    await simulation.runUntil(310);
    simulation.crash('n1');
    simulation.restart('n1');
    simulation.network.setLink('n1', 'n2', { latencyMs: [1, 1] });
    await simulation.runUntil(1_500);
    expect(member(simulation, 'n2').counters.fenced).toBeGreaterThan(0);
    expect(member(simulation, 'n1').counters.recoveries).toBe(1);
    // The restarted primary of epoch 0 lost its volatile state, so it hands over at once.
    expect(viewLog(cluster)).toEqual([
      'n1:e0:n1',
      'n2:e0:n1',
      'n3:e0:n1',
      'n2:e1:n2',
      'n3:e1:n2',
      'n1:e1:n2',
    ]);
    await simulation.runUntil(3_000);
    expect(deliveredBy(cluster, 'n1')).toEqual(deliveredBy(cluster, 'n2'));
    expectConverged(cluster, simulation);
  });
});
