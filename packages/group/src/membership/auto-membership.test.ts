// autoMembership: views that exclude crashed members (virtual synchrony), for the replication
// layer, whose failover flush waits for every member of a view. The primary evicts a member it has
// not heard from for `evictAfterMs` through the ordinary one-change-at-a-time reconfiguration, and
// a node that comes back outside the group asks to join again. Golden scenario first (the exact
// views and `group-view` notices), then a nemesis sweep: the safety invariants after every event,
// and after the heal every running node back in the configuration.
import { defineActor, type ActorBehavior } from '@steadfast/runtime';
import { ALL_FAULTS, Simulation } from '@steadfast/sim';
import { addressNode, nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { harness, type Effects } from './member-harness.test-support.js';
import type { GroupOutsideNotice, GroupQuorumNotice, GroupViewNotice, PeerMessage } from './messages.js';
import { groupSettings } from './settings.js';
import type { MemberState } from './state.js';
import {
  groupCluster,
  runGroupSimulation,
  type GroupCluster,
  type GroupViolation,
} from './testing/simulation.js';

const nodes = ['n1', 'n2', 'n3'];

/** `node:e<epoch>:<primary>:<members>` for each view installation, in the order observed. */
function viewLog(cluster: GroupCluster, from = 0): string[] {
  return cluster.recorder.views.slice(from).map((view) => `${view.node}:e${view.epoch}:${view.primary}`);
}

function member(simulation: Simulation, node: string): MemberState {
  return simulation.node(node)!.actorState('group.g') as MemberState;
}

function deliveredBy(cluster: GroupCluster, node: string): string[] {
  return cluster.recorder.deliveries
    .filter((delivery) => delivery.node === node)
    .map((delivery) => delivery.key);
}

type Notice = GroupViewNotice | GroupOutsideNotice | GroupQuorumNotice;

/**
 * The notices each node's local notify actor received: `e<epoch>:<members>` for a `group-view`,
 * `outside@v<version>` for a `group-outside`, `quorum:<heard>` for a `group-quorum`.
 */
function noticesOf(notices: readonly { node: string; notice: Notice }[], node: string): string[] {
  return notices
    .filter((entry) => entry.node === node)
    .map(({ notice }) =>
      notice.type === 'group-view'
        ? `e${notice.view.epoch}:${notice.view.members.join(',')}`
        : notice.type === 'group-outside'
          ? `outside@v${notice.version}`
          : `quorum:${String(notice.heardFromMajority)}`,
    );
}

function scenario() {
  const notices: { node: string; notice: Notice }[] = [];
  const replica: ActorBehavior = defineActor<null>({
    kind: 'test-replica',
    initial: () => null,
    handle(state, input, ctx) {
      if (input.type === 'message') notices.push({ node: ctx.node, notice: input.envelope.body as Notice });
      return state;
    },
  });
  const cluster = groupCluster({
    members: nodes,
    keepDeliveries: true,
    opsPerClient: 40,
    thinkMs: 10,
    notify: 'replica',
    settings: { autoMembership: true },
  });
  const simulation = new Simulation({
    seed: 1,
    nodes,
    setup: (node, context) => {
      // The notify actor first, so that it hears the view the member installs at its start.
      node.spawn('replica', replica, undefined);
      cluster.setup(node, context);
    },
    safetyMs: 60_000,
    livenessMs: 0,
    invariants: cluster.invariants,
    hashStates: false,
  });
  cluster.bind(simulation);
  return { cluster, simulation, notices };
}

describe('autoMembership settings', () => {
  it('is off by default; evictAfterMs follows the suspicion timeout and may not undercut it', () => {
    const defaults = groupSettings();
    expect(defaults.autoMembership).toBe(false);
    expect(defaults.evictAfterMs).toBe(2 * defaults.suspicionTimeoutMs);
    expect(defaults.membersMin).toBe(1);
    expect(groupSettings({ suspicionTimeoutMs: 200 }).evictAfterMs).toBe(400);
    expect(() => groupSettings({ evictAfterMs: 100 })).toThrow(/evictAfterMs/);
    expect(() => groupSettings({ membersMin: 0 })).toThrow(/membersMin/);
  });
});

/** One member driven as a pure function (`harness`): feed an input, read the messages it sent. */
function unit(self: string, settings: Parameters<typeof groupSettings>[0], notify?: string) {
  const member = harness(
    self,
    { autoMembership: true, ...settings },
    {
      members: nodes,
      ...(notify === undefined ? {} : { notify }),
    },
  );
  const sent = (effects: Effects) =>
    effects.sends.map((send) => ({ target: addressNode(send.target), body: send.body }));
  return {
    get state(): MemberState {
      return member.state;
    },
    tick: () => sent(member.tick()),
    peer: (from: string, body: PeerMessage) => sent(member.peer(from, body)),
    reply: (from: string, body: unknown) => sent(member.reply(from, body)),
  };
}

describe('autoMembership handlers', () => {
  const evictTicks = groupSettings().evictAfterMs / groupSettings().heartbeatIntervalMs;
  const proposedLeaves = <Sent extends { body: unknown }>(sent: Sent[]) =>
    sent.filter((message) => {
      const body = message.body as { type: string; entry?: { change?: unknown } };
      return body.type === 'prepare' && body.entry?.change !== undefined;
    });

  /** Ticks the primary n1 with n2 answering every heartbeat and n3 silent; returns the leaves proposed. */
  function silentN3(settings: Parameters<typeof groupSettings>[0], ticks: number) {
    const primary = unit('n1', settings);
    const proposed: { target: string; body: unknown }[][] = [];
    for (let tick = 1; tick <= ticks; tick++) {
      const sent = primary.tick();
      primary.peer('n2', { type: 'prepare-ok', epoch: 0, opNumber: primary.state.opNumber });
      if (proposedLeaves(sent).length > 0) proposed.push(proposedLeaves(sent));
    }
    return { primary, proposed };
  }

  it('the primary proposes leave for a member silent evictAfterMs, once, and never the live ones', () => {
    const early = silentN3({}, evictTicks - 1);
    expect(early.proposed).toEqual([]);
    const { primary, proposed } = silentN3({}, evictTicks + 5);
    expect(proposed).toHaveLength(1);
    expect(proposed[0]!.map((message) => message.target)).toEqual(['n2', 'n3']);
    expect(proposed[0]![0]!.body).toMatchObject({ entry: { change: { type: 'leave', node: 'n3' } } });
    expect(primary.state.counters.evictions).toBe(1);
  });

  // Invariant: eviction follows acknowledgements, not mere traffic: a member that keeps sending
  // (a deaf one's pre-votes) but acknowledges nothing is evicted like a silent one; a member that
  // asks for a state transfer (catching up) is following, and is not.
  it('evicts a member that talks but acknowledges nothing, and not one that is catching up', () => {
    const deaf = unit('n1', {});
    const caughtUp = unit('n1', {});
    const evictedBy = (primary: ReturnType<typeof unit>, from: PeerMessage) => {
      const proposed: unknown[] = [];
      for (let tick = 1; tick <= evictTicks + 5; tick++) {
        proposed.push(...proposedLeaves(primary.tick()));
        primary.peer('n2', { type: 'prepare-ok', epoch: 0, opNumber: primary.state.opNumber });
        primary.peer('n3', from);
      }
      return proposed;
    };
    const asked = evictedBy(deaf, { type: 'pre-view-change', epoch: 1 });
    expect(asked.map((message) => (message as { body: unknown }).body)).toContainEqual(
      expect.objectContaining({ entry: expect.objectContaining({ change: { type: 'leave', node: 'n3' } }) }),
    );
    expect(deaf.state.counters.evictions).toBe(1);
    expect(evictedBy(caughtUp, { type: 'get-state', epoch: 0, fromOp: 0 })).toEqual([]);
    expect(caughtUp.state.counters.evictions).toBe(0);
  });

  it('never evicts below membersMin', () => {
    expect(silentN3({ membersMin: 3 }, evictTicks + 5).proposed).toEqual([]);
  });

  it('a node outside asks every member it knows to join, retries, and follows a not-primary hint', () => {
    // n4 is not in the spawn list: it starts outside, knowing n1..n3.
    const spare = unit('n4', {});
    expect(spare.state.status).toBe('outside');
    const join = { type: 'join', node: 'n4' };
    expect(spare.tick()).toEqual(nodes.map((target) => ({ target, body: join })));
    expect(spare.tick()).toEqual([]);
    // The answer names a primary n4 never heard of: ask it at once, and on every retry after.
    const hinted = spare.reply('n2', {
      type: 'not-primary',
      change: 'join',
      node: 'n4',
      epoch: 7,
      primary: 'n9',
    });
    expect(hinted).toEqual([{ target: 'n9', body: join }]);
    // A reply about another node's join is not a hint for ours.
    expect(
      spare.reply('n2', { type: 'not-primary', change: 'join', node: 'n5', epoch: 7, primary: 'n8' }),
    ).toEqual([]);
    const retryTicks = groupSettings().rejoinRetryMs / groupSettings().heartbeatIntervalMs;
    const retries = Array.from({ length: retryTicks - 1 }, () => spare.tick()).flat();
    expect(retries.map((message) => message.target)).toEqual([...nodes, 'n9']);
    expect(spare.state.counters.rejoinRequests).toBe(2);
  });
});

describe('golden autoMembership scenario', () => {
  it('primary crash: a new primary, then after evictAfterMs a view without the dead node; restart: it rejoins by state transfer (no committed op lost)', async () => {
    const { cluster, simulation, notices } = scenario();
    await simulation.runUntil(300);
    const committedBeforeCrash = member(simulation, 'n2').commitNumber;
    simulation.crash('n1');
    await simulation.runUntil(2_000);
    // Epoch 1: the next by rank takes over in the old configuration (the dead node still listed).
    // Epoch 2: its primary evicted n1 (a committed leave), and the view excludes it.
    expect(viewLog(cluster)).toEqual([
      'n1:e0:n1',
      'n2:e0:n1',
      'n3:e0:n1',
      'n2:e1:n2',
      'n3:e1:n2',
      'n2:e2:n2',
      'n3:e2:n2',
    ]);
    const installed = (node: string, epoch: number) =>
      cluster.recorder.views.find((view) => view.node === node && view.epoch === epoch)!.atMs;
    // Virtual time: the eviction waited evictAfterMs after the new primary took over.
    expect(installed('n2', 2) - installed('n2', 1)).toBeGreaterThanOrEqual(groupSettings().evictAfterMs);
    expect(member(simulation, 'n2').counters.evictions).toBe(1);
    expect(member(simulation, 'n2').configuration).toEqual(['n2', 'n3']);
    // The new primary's order extends the old one: the prefix committed before the crash is kept.
    expect(deliveredBy(cluster, 'n2').slice(0, committedBeforeCrash)).toEqual(
      deliveredBy(cluster, 'n1').slice(0, committedBeforeCrash),
    );

    simulation.restart('n1');
    const fetchesAtRestart = member(simulation, 'n1').counters.fetches;
    await simulation.runUntil(4_000);
    // n1 recovers, learns it was evicted, goes outside, asks to join; the join commits and takes
    // effect at epoch 3 in [n2, n3, n1] (primary configuration[3 mod 3] = n2).
    expect(viewLog(cluster, 7)).toEqual(['n2:e3:n2', 'n3:e3:n2', 'n1:e3:n2']);
    const rejoined = member(simulation, 'n1');
    expect(rejoined.status).toBe('normal');
    expect(rejoined.configuration).toEqual(['n2', 'n3', 'n1']);
    expect(rejoined.counters.rejoinRequests).toBeGreaterThan(0);
    expect(rejoined.counters.fetches).toBeGreaterThan(fetchesAtRestart);
    // Same delivered state everywhere.
    expect(rejoined.commitNumber).toBe(member(simulation, 'n2').commitNumber);
    expect(rejoined.appState).toEqual(member(simulation, 'n2').appState);
    expect(deliveredBy(cluster, 'n3')).toEqual(deliveredBy(cluster, 'n2'));

    // The local notify actor at each member saw exactly the configuration of each view, primary
    // first; n1 also heard it was outside (the configuration of the leave that evicted it, op 52) before it rejoined.
    expect(noticesOf(notices, 'n1')).toEqual(['e0:n1,n2,n3', 'outside@v52', 'e3:n2,n3,n1']);
    for (const node of ['n2', 'n3'])
      expect(noticesOf(notices, node)).toEqual(['e0:n1,n2,n3', 'e1:n2,n3,n1', 'e2:n2,n3', 'e3:n2,n3,n1']);
    // Safety after every event; liveness: every acknowledged op delivered at every member, all
    // clients answered, and every running node (n1 included) back in the final configuration.
    expect(simulation.violations).toEqual([]);
    expect(cluster.liveness[0]!(simulation)).toEqual([]);
  });

  it('off by default: the same crash leaves the dead node in every view (no eviction)', async () => {
    const cluster = groupCluster({ members: nodes, opsPerClient: 10, thinkMs: 10 });
    const simulation = new Simulation({
      seed: 1,
      nodes,
      setup: cluster.setup,
      safetyMs: 60_000,
      livenessMs: 0,
      invariants: cluster.invariants,
      hashStates: false,
    });
    cluster.bind(simulation);
    await simulation.runUntil(300);
    simulation.crash('n1');
    await simulation.runUntil(2_000);
    expect(viewLog(cluster)).toEqual(['n1:e0:n1', 'n2:e0:n1', 'n3:e0:n1', 'n2:e1:n2', 'n3:e1:n2']);
    expect(member(simulation, 'n2').configuration).toEqual(['n1', 'n2', 'n3']);
    expect(member(simulation, 'n2').counters.evictions).toBe(0);
  });
});

function describeFailures(violations: readonly GroupViolation[]): string {
  return violations
    .map((violation) => `seed ${violation.seed}: ${violation.message}\n  replay: ${violation.replayCommand}`)
    .join('\n');
}

describe('autoMembership under the nemesis (every fault kind)', () => {
  it('3 members, 100 seeds: safety after every event; after the heal every running node is back in the configuration', async () => {
    const violations: GroupViolation[] = [];
    let changes = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const result = await runGroupSimulation({
        seed,
        faults: ALL_FAULTS,
        opsPerClient: 20,
        settings: { autoMembership: true, snapshotEveryOps: 8 },
      });
      violations.push(...result.violations);
      changes += result.changesCommitted;
    }
    expect(violations, describeFailures(violations)).toEqual([]);
    // Nobody else asks for changes here: every committed one is an eviction or a rejoin, so the
    // runs did evict members and bring them back (about 1.5 changes per seed).
    expect(changes).toBeGreaterThan(100);
  });

  it('seed 116103 of sim group --auto-membership: every op delivered once per incarnation', async () => {
    // n3, alone in the configuration that evicted n1, completed the view change in the step that
    // joined it, and the step returned its state from before: it delivered ops 97 – 100 twice
    // (the unit test "a member that alone is a majority of its configuration keeps the view it
    // installs on joining a view change" builds the case by hand).
    const result = await runGroupSimulation({
      seed: 116103,
      faults: ALL_FAULTS,
      settings: { autoMembership: true },
    });
    expect(result.violations, describeFailures(result.violations)).toEqual([]);
  });
});

// A replication primary cut off from its group must stop ordering before the group replaces it
// (docs/replication.md, known limits: seeds 1329 and 1534). Invariant: the primary tells its
// notify actor `heardFromMajority: false` after one tick less than the suspicion timeout without
// a majority, exactly once, and `true` once it hears from one again; if it does not, it steps down
// at the timeout and says nothing more until it is in a view again; a backup tells nothing.
describe('group-quorum notices', () => {
  const suspicionTicks = groupSettings().suspicionTimeoutMs / groupSettings().heartbeatIntervalMs;
  const quorumNotices = (sent: { target: string; body: unknown }[]) =>
    sent
      .filter((message) => (message.body as { type?: unknown }).type === 'group-quorum')
      .map((message) => ({ target: message.target, body: message.body as GroupQuorumNotice }));

  it('a primary that hears from no majority says so a tick before the suspicion timeout, and again when it does', () => {
    const primary = unit('n1', {}, 'replica');
    const told: { tick: number; heard: boolean }[] = [];
    for (let tick = 1; tick <= suspicionTicks - 1; tick++)
      for (const notice of quorumNotices(primary.tick())) {
        expect(notice.target).toBe('n1');
        told.push({ tick, heard: notice.body.heardFromMajority });
      }
    expect(told).toEqual([{ tick: suspicionTicks - 1, heard: false }]);
    // One backup answers: with the primary itself, a majority of three.
    primary.peer('n2', { type: 'prepare-ok', epoch: 0, opNumber: primary.state.opNumber });
    expect(quorumNotices(primary.tick()).map((notice) => notice.body)).toEqual([
      { type: 'group-quorum', group: 'g', heardFromMajority: true },
    ]);
    expect(quorumNotices(primary.tick())).toEqual([]);
  });

  it('a primary still hearing no majority at the timeout steps down, stays stopped, and says true in its next view', () => {
    const primary = unit('n1', {}, 'replica');
    const told: { tick: number; heard: boolean }[] = [];
    for (let tick = 1; tick <= suspicionTicks + 3; tick++)
      for (const notice of quorumNotices(primary.tick()))
        told.push({ tick, heard: notice.body.heardFromMajority });
    expect(told).toEqual([{ tick: suspicionTicks - 1, heard: false }]);
    expect(primary.state.status).toBe('view-change');
    expect(primary.state.epoch).toBe(1);
    // A backup's prepare-ok now is stale: no `true` while it is in the view change.
    primary.peer('n2', { type: 'prepare-ok', epoch: 0, opNumber: primary.state.opNumber });
    expect(quorumNotices(primary.tick())).toEqual([]);
    // The view of epoch 1 (primary n2) reaches it: it is a backup there, and says so at once.
    const installed = primary.peer('n2', {
      type: 'start-view',
      epoch: 1,
      opNumber: primary.state.opNumber,
      commitNumber: primary.state.commitNumber,
      configuration: { version: 0, members: nodes.map((node) => nodeId(node)) },
      entries: [],
    });
    expect(primary.state.status).toBe('normal');
    expect(quorumNotices(installed).map((notice) => notice.body)).toEqual([
      { type: 'group-quorum', group: 'g', heardFromMajority: true },
    ]);
  });

  it('a backup tells nothing, even hearing from no one', () => {
    const backup = unit('n2', {}, 'replica');
    for (let tick = 1; tick < suspicionTicks; tick++) expect(quorumNotices(backup.tick())).toEqual([]);
  });
});
