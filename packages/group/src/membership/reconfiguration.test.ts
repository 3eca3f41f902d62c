// Joins and leaves (reconfiguration through the log) and the view notices to a local actor.
// Golden scenarios: each a short script and the exact view installations it must produce, plus
// what must hold at the end. Then the nemesis sweep with random joins and leaves, and the
// checkers of the configuration invariants catching each violation.
// Claims: issue 3 item 2 (joins, leaves and state transfer to a new member); the single-member
// change rule (old and new majorities intersect) is what keeps one primary per epoch across a
// change, and the view change keeps every committed op (primary-order-announcements claim 65).
import { defineActor, type ActorBehavior } from '@steadfast/runtime';
import { ALL_FAULTS, Simulation } from '@steadfast/sim';
import { address, nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import type { GroupViewNotice } from './messages.js';
import type { MemberState } from './state.js';
import {
  GroupRecorder,
  groupCluster,
  runGroupSimulation,
  type GroupCluster,
  type GroupViolation,
  type MembershipChangeRequest,
} from './testing/simulation.js';

/** Small snapshots and chunks, so a joining member gets a snapshot and several chunks of log. */
const settings = { snapshotEveryOps: 8, entriesPerMessageMax: 4, preparesInFlightMax: 4 };

function scenario(
  nodes: readonly string[],
  members: readonly string[],
  script: readonly MembershipChangeRequest[],
  extra?: (node: Parameters<GroupCluster['setup']>[0]) => void,
) {
  const cluster = groupCluster({
    members,
    spares: nodes.filter((node) => !members.includes(node)),
    keepDeliveries: true,
    opsPerClient: 30,
    thinkMs: 10,
    membershipScript: script,
    changeEveryMs: 300,
    settings,
    notify: 'replica',
  });
  const simulation = new Simulation({
    seed: 1,
    nodes,
    setup: (node, context) => {
      cluster.setup(node, context);
      extra?.(node);
    },
    safetyMs: 60_000,
    livenessMs: 0,
    invariants: cluster.invariants,
    hashStates: false,
  });
  cluster.bind(simulation);
  return { cluster, simulation };
}

function viewLog(cluster: GroupCluster): string[] {
  return cluster.recorder.views.map((view) => `${view.node}:e${view.epoch}:${view.primary}`);
}

function member(simulation: Simulation, node: string): MemberState {
  return simulation.node(node)!.actorState('group.g') as MemberState;
}

function deliveredBy(cluster: GroupCluster, node: string): string[] {
  return cluster.recorder.deliveries
    .filter((delivery) => delivery.node === node)
    .map((delivery) => delivery.key);
}

function expectConverged(cluster: GroupCluster, simulation: Simulation): void {
  expect(simulation.violations).toEqual([]);
  expect(cluster.liveness[0]!(simulation)).toEqual([]);
}

describe('golden reconfiguration scenarios', () => {
  it('join of a 4th member: it gets a snapshot and the log suffix in chunks, then holds the same state (state transfer)', async () => {
    const { cluster, simulation } = scenario(
      ['n1', 'n2', 'n3', 'n4'],
      ['n1', 'n2', 'n3'],
      [{ type: 'join', node: 'n4' }],
    );
    await simulation.runUntil(250);
    // A spare takes part in nothing before the join commits.
    expect(member(simulation, 'n4').status).toBe('outside');
    expect(member(simulation, 'n4').commitNumber).toBe(0);
    await simulation.runUntil(3_000);
    // The change takes effect at the next epoch, in the new configuration: its primary is
    // configuration[1 mod 4] = n2, and n4 installs the view like the others.
    expect(viewLog(cluster)).toEqual([
      'n1:e0:n1',
      'n2:e0:n1',
      'n3:e0:n1',
      'n2:e1:n2',
      'n3:e1:n2',
      'n1:e1:n2',
      'n4:e1:n2',
    ]);
    const joined = member(simulation, 'n4');
    expect(joined.configuration).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(joined.counters.snapshotsInstalled).toBe(1);
    expect(joined.counters.fetches).toBeGreaterThan(1);
    // Same delivered log and application state as the others.
    expect(joined.commitNumber).toBe(member(simulation, 'n1').commitNumber);
    expect(joined.appState).toEqual(member(simulation, 'n1').appState);
    const after = member(simulation, 'n1').commitNumber - deliveredBy(cluster, 'n4').length;
    expect(deliveredBy(cluster, 'n4')).toEqual(deliveredBy(cluster, 'n1').slice(after - 1));
    expectConverged(cluster, simulation);
  });

  it('leave of a backup: the group goes on in two members, the one that left goes outside and is not heard', async () => {
    const { cluster, simulation } = scenario(
      ['n1', 'n2', 'n3'],
      ['n1', 'n2', 'n3'],
      [{ type: 'leave', node: 'n3' }],
    );
    await simulation.runUntil(3_000);
    expect(viewLog(cluster)).toEqual(['n1:e0:n1', 'n2:e0:n1', 'n3:e0:n1', 'n2:e1:n2', 'n1:e1:n2']);
    expect(member(simulation, 'n3').status).toBe('outside');
    expect(member(simulation, 'n1').configuration).toEqual(['n1', 'n2']);
    // Ops go on committing without n3: every client (n3's included, through n1 and n2) is answered.
    expect(member(simulation, 'n2').commitNumber).toBeGreaterThan(member(simulation, 'n3').commitNumber);
    expect(deliveredBy(cluster, 'n1')).toEqual(deliveredBy(cluster, 'n2'));
    expectConverged(cluster, simulation);
  });

  it('leave of the primary: it hands over by a view change and no committed op is lost (claim 65)', async () => {
    const { cluster, simulation } = scenario(
      ['n1', 'n2', 'n3'],
      ['n1', 'n2', 'n3'],
      [{ type: 'leave', node: 'n1' }],
    );
    await simulation.runUntil(3_000);
    // Epoch 1 in [n2, n3]: its primary is configuration[1 mod 2] = n3.
    expect(viewLog(cluster)).toEqual(['n1:e0:n1', 'n2:e0:n1', 'n3:e0:n1', 'n3:e1:n3', 'n2:e1:n3']);
    const left = member(simulation, 'n1');
    expect(left.status).toBe('outside');
    // Everything the old primary committed is a prefix of what the new configuration delivered.
    expect(deliveredBy(cluster, 'n2').slice(0, deliveredBy(cluster, 'n1').length)).toEqual(
      deliveredBy(cluster, 'n1'),
    );
    expect(deliveredBy(cluster, 'n2')).toEqual(deliveredBy(cluster, 'n3'));
    expectConverged(cluster, simulation);
  });

  it('remove-member from a local actor submits a leave, and the local notify actor hears every view', async () => {
    const notices: GroupViewNotice[] = [];
    const asker: { recorder?: GroupRecorder } = {};
    const replica: ActorBehavior = defineActor<null>({
      kind: 'test-replica',
      initial(ctx) {
        if (ctx.node === 'n2') ctx.setTimer('diverged', 300);
        return null;
      },
      handle(state, input, ctx) {
        // The recorder checks that only asked-for changes commit: this actor is the one asking.
        if (input.type === 'timer') asker.recorder?.requestChange('leave', 'n3');
        if (input.type === 'timer')
          ctx.send(address(ctx.node, 'group.g'), { type: 'remove-member', node: 'n3', reason: 'diverged' });
        else if (ctx.node === 'n2') notices.push(input.envelope.body as GroupViewNotice);
        return state;
      },
    });
    const { cluster, simulation } = scenario(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3'], [], (node) =>
      node.spawn('replica', replica, undefined),
    );
    asker.recorder = cluster.recorder;
    await simulation.runUntil(3_000);
    // n2 is a backup: it forwards the leave to the primary, which commits it.
    expect(member(simulation, 'n3').status).toBe('outside');
    expect(member(simulation, 'n2').configuration).toEqual(['n1', 'n2']);
    expect(viewLog(cluster)).toEqual(['n1:e0:n1', 'n2:e0:n1', 'n3:e0:n1', 'n2:e1:n2', 'n1:e1:n2']);
    expect(notices).toEqual([
      { type: 'group-view', group: 'g', view: { epoch: 1, members: ['n2', 'n1'], primary: 'n2' } },
    ]);
    expect(simulation.violations).toEqual([]);
  });
});

function describeFailures(violations: readonly GroupViolation[]): string {
  return violations
    .map((violation) => `seed ${violation.seed}: ${violation.message}\n  replay: ${violation.replayCommand}`)
    .join('\n');
}

describe('random joins and leaves under the nemesis (every fault kind)', () => {
  it('3 members + 2 spares, 4 changes each, 150 seeds: safety after every event, liveness after the heal', async () => {
    const violations: GroupViolation[] = [];
    let changes = 0;
    let viewChanges = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const result = await runGroupSimulation({
        seed,
        spares: 2,
        membershipChanges: 4,
        opsPerClient: 20,
        faults: ALL_FAULTS,
        settings: { snapshotEveryOps: 8 },
      });
      violations.push(...result.violations);
      changes += result.changesCommitted;
      viewChanges += result.viewChanges;
    }
    expect(violations, describeFailures(violations)).toEqual([]);
    // The runs did reconfigure, and did fail over besides.
    expect(changes).toBeGreaterThan(150 * 2);
    expect(viewChanges).toBeGreaterThan(changes);
  });
});

describe('the configuration checkers catch each violation', () => {
  const n1 = nodeId('n1');
  const n2 = nodeId('n2');
  const n4 = nodeId('n4');
  const view = (node: typeof n1, epoch: number, members: (typeof n1)[], configurationVersion: number) =>
    ({ type: 'view-installed', node, epoch, primary: members[0]!, members, configurationVersion }) as const;

  it('a view in a configuration no committed op produced, or with other members than committed', () => {
    const recorder = new GroupRecorder(() => 0, { members: ['n1', 'n2'] });
    recorder.observe(view(n1, 1, [n1, n2, n4], 5));
    recorder.requestChange('join', 'n4');
    recorder.observe({
      type: 'reconfigured',
      node: n1,
      opNumber: 1,
      change: { type: 'join', node: n4 },
      members: [n1, n2, n4],
    });
    recorder.observe(view(n2, 2, [n2, n1], 1));
    expect(recorder.takeViolations()).toEqual([
      'n1 installed epoch 1 in configuration 5, which no committed op produced',
      'n2 installed epoch 2 with members [n1,n2], but configuration 1 is [n1,n2,n4]',
    ]);
  });

  it('a change nobody asked for, two configurations for one version, and a node going back', () => {
    const recorder = new GroupRecorder(() => 0, { members: ['n1', 'n2'] });
    const change = { type: 'join', node: n4 } as const;
    recorder.observe({ type: 'reconfigured', node: n1, opNumber: 1, change, members: [n1, n2, n4] });
    recorder.observe({ type: 'reconfigured', node: n2, opNumber: 1, change, members: [n1, n4] });
    recorder.observe(view(n1, 1, [n1, n2, n4], 1));
    recorder.observe(view(n1, 2, [n1, n2], 0));
    expect(recorder.takeViolations()).toEqual([
      'integrity: n1 committed membership:join:n4, which nobody asked for',
      'integrity: n2 committed membership:join:n4, which nobody asked for',
      'configuration 1 is [n1,n2,n4] at one member and [n1,n4] at another',
      'n1 went back from configuration 1 to 0 (epoch 2)',
    ]);
  });
});
