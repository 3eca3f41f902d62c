/**
 * Golden scenarios, one per claim group of `primary-order-announcements.txt`. Each builds a small
 * cluster with fixed one-millisecond links, lets the connections establish, drives a few requests
 * and compares the multicasts it produced (`source->target kind group#channel order[...] relay G[...]`) with
 * the exact expected trace. Only the lines of one link are kept, so each golden stays readable.
 * The same small cluster also checks the bound of the position history every replica keeps.
 */
import { defineActor, type ActorBehavior } from '@steadfast/runtime';
import { address, nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { priorityPolicy, receptionPolicy, type OrderingPolicy } from './policy.js';
import { groupAddress } from './replica.js';
import { directGroups, expectCaughtUpByStateTransfer } from './direct-groups.test-support.js';
import { ReplicationCluster, type ClusterGroup } from './simulation.js';
import {
  REPLICATION_PIGGYBACK_KEY,
  type ReplicaEffect,
  type ReplicationPiggyback,
  type ReplicationSettings,
} from './types.js';
import { client, front, ledger, type IssueCommand } from './workload.js';

const WARM_UP_MS = 300;

function cluster(groups: readonly ClusterGroup[]): ReplicationCluster {
  const result = new ReplicationCluster({ seed: 1, trace: true, network: { latencyMs: [1, 1] }, groups });
  result.start();
  // The multicast layer admits a member once every member counts it: let that happen first.
  result.runUntil(WARM_UP_MS);
  result.trace.length = 0;
  return result;
}

function issue(
  target: ReplicationCluster,
  clientNode: string,
  key: string,
  group: string,
  priority = 0,
): void {
  const body: IssueCommand = { type: 'issue', key, target: group, priority, deadlineMs: 0 };
  target.input(nodeId(clientNode), { type: 'external', body });
}

/** Requests from c1 to `group`, each followed by a run until its time (ms after the warm-up). */
function issueEach(
  target: ReplicationCluster,
  group: string,
  steps: readonly (readonly [key: string, runUntilMs: number])[],
): void {
  for (const [key, runUntilMs] of steps) {
    issue(target, 'c1', key, group);
    target.runUntil(WARM_UP_MS + runUntilMs);
  }
}

/**
 * A group of one, C (`c1`, running `sender`, semi-active), sending to a group S (`sinkMembers`,
 * `s1` and `s2` by default, running `sink` with `sinkSettings`, semi-active by default), both in
 * reception order.
 */
function senderSinkCluster(
  sender: ActorBehavior,
  sink: ActorBehavior,
  sinkSettings?: ClusterGroup['settings'],
  sinkMembers: readonly string[] = ['s1', 's2'],
  sinkStyle: ClusterGroup['style'] = 'semi-active',
): ReplicationCluster {
  return cluster([
    {
      group: 'C',
      members: ['c1'],
      behavior: sender,
      style: 'semi-active',
      policy: receptionPolicy,
      peers: ['S'],
    },
    {
      group: 'S',
      members: sinkMembers,
      behavior: sink,
      style: sinkStyle,
      policy: receptionPolicy,
      peers: ['C'],
      ...(sinkSettings === undefined ? {} : { settings: sinkSettings }),
    },
  ]);
}

/** A client C calling a front A (two replicas) that calls the ledger B synchronously, by priority. */
function syncCallCluster(): ReplicationCluster {
  const policy = priorityPolicy();
  return cluster([
    { group: 'C', members: ['c1'], behavior: client, style: 'semi-active', policy, peers: ['A'] },
    {
      group: 'A',
      members: ['a1', 'a2'],
      behavior: front({ ledgerGroup: 'B', sync: true }),
      style: 'semi-active',
      policy,
      peers: ['C', 'B'],
    },
    { group: 'B', members: ['b1', 'b2'], behavior: ledger, style: 'semi-active', policy, peers: ['A'] },
  ]);
}

/**
 * `syncCallCluster`'s groups, but the front's handler of the ledger's synchronous reply takes a
 * nondeterministic value through `ctx.call` (which node ran it, and how many runs came before) and
 * keeps it in its state. `calls` collects the node of every real call.
 */
function stampingCluster(calls: string[]): ReplicationCluster {
  const forwarding = front({ ledgerGroup: 'B', sync: true });
  const stamping: ActorBehavior = {
    kind: 'stamping-front',
    start(ctx, input) {
      const inner = forwarding.start(ctx, input);
      let stamps: string[] = [];
      return {
        handle(actorInput) {
          inner.handle(actorInput);
          if (actorInput.type !== 'message' || actorInput.envelope.kind !== 'sync-reply') return;
          const stamp = ctx.call('stamp', () => {
            calls.push(String(ctx.node));
            return `${String(ctx.node)}#${calls.length}`;
          });
          stamps = [...stamps, `${stamp}@${ctx.now()}`];
        },
        state: () => ({ inner: inner.state(), stamps }),
        persisted: () => ({ inner: inner.persisted(), stamps }),
        stop: () => inner.stop(),
      };
    },
  };
  const policy = priorityPolicy();
  return cluster([
    { group: 'C', members: ['c1'], behavior: client, style: 'semi-active', policy, peers: ['A'] },
    {
      group: 'A',
      members: ['a1', 'a2'],
      behavior: stamping,
      style: 'semi-active',
      policy,
      peers: ['C', 'B'],
    },
    { group: 'B', members: ['b1', 'b2'], behavior: ledger, style: 'semi-active', policy, peers: ['A'] },
  ]);
}

/** `node` receives everything, but nothing it sends to `others` arrives: they never learn what it holds. */
function silence(target: ReplicationCluster, node: string, others: readonly string[]): void {
  for (const other of others) target.block(node, other);
}

function link(trace: readonly string[], prefix: string): string[] {
  return trace.filter((line) => line.split(' ')[1] === prefix).map((line) => line.replace(/^\d+ms /, ''));
}

describe('golden scenarios', () => {
  it('piggybacking (claims 42, 44, 62): the order of a request rides on its own reply, no extra message', () => {
    const sim = cluster(directGroups());
    issue(sim, 'c1', 'r1', 'B');
    sim.runUntil(WARM_UP_MS + 50);
    expect(link(sim.trace, 'b1->c1')).toEqual(['b1->c1 async-reply B#1 order[2]']);
    expect(sim.role('b1').counters.nullMessages).toBe(1); // Only the start's, during warm-up.
    expect(sim.role('b2').history()).toEqual(['start', 'C#1']);
    expect(sim.role('b3').digest()).toBe(sim.role('b1').digest());
  });

  it('null message (claims 46, 53, 60): with no outgoing message, the announcement goes alone after the bound', () => {
    // A sink processes one-way messages and sends nothing: only a null message can carry its order.
    const sink = defineActor<{ seen: number; atMs: number }>({
      kind: 'sink',
      initial: () => ({ seen: 0, atMs: 0 }),
      handle: (state, _input, ctx) => ({ seen: state.seen + 1, atMs: ctx.now() }),
    });
    const sender = defineActor<null>({
      kind: 'sender',
      initial: () => null,
      handle: (state, input, ctx) => {
        if (input.type === 'message') ctx.send(groupAddress('S'), { type: 'note' });
        return state;
      },
    });
    const sim = senderSinkCluster(sender, sink);
    sim.input(nodeId('c1'), { type: 'external', body: { type: 'go' } });
    sim.runUntil(WARM_UP_MS + 50);
    expect(link(sim.trace, 's1->s2')).toEqual(['s1->s2 null order[2]']);
    expect(sim.role('s1').counters.nullMessages).toBe(2);
    expect(sim.role('s2').actorState()).toEqual(sim.role('s1').actorState());
  });

  describe('a primary never runs further ahead of its announcements than it keeps entries', () => {
    // A sink sends nothing, so only null messages carry its order, after `announceDelayMs`. Its
    // primary keeps the entries of 4 × announceBatchMax = 8 positions, and a burst of notes is
    // processed in passes of 4, back to back, long before that delay.
    const sink = defineActor<{ seen: number }>({
      kind: 'sink',
      initial: () => ({ seen: 0 }),
      handle: (state) => ({ seen: state.seen + 1 }),
    });
    /** Sends `count` notes to S, in one step, for each message it gets. */
    const burst = defineActor<null>({
      kind: 'burst',
      initial: () => null,
      handle: (state, input, ctx) => {
        if (input.type !== 'message') return state;
        const count = (input.envelope.body as { count?: number }).count ?? 30;
        for (let note = 0; note < count; note++) ctx.send(groupAddress('S'), { type: 'note', note });
        return state;
      },
    });
    const settings = { announceBatchMax: 2, processBatchMax: 4 };
    const go = (sim: ReplicationCluster, count: number) =>
      sim.input(nodeId('c1'), { type: 'external', body: { type: 'go', count } });

    it('passes without outputs announce before the oldest entry would go', () => {
      // Invariant: every position the primary processed reaches its backup, which ends at the
      // primary's position with its state. Before the rule the passes dropped 22 entries
      // unannounced and the backup stopped at position 1 for good (the sweep's seeds 97054 and
      // 97106 did this through a client group).
      const sim = senderSinkCluster(burst, sink, settings);
      go(sim, 30);
      sim.runUntil(WARM_UP_MS + 500);
      expect(sim.role('s1').actorState()).toEqual({ seen: 30 });
      expect(sim.role('s2').position).toBe(sim.role('s1').position);
      expect(sim.role('s2').actorState()).toEqual({ seen: 30 });
      // The owed entries went in null messages as the passes reached the bound, not all at the end.
      expect(sim.role('s1').counters.nullMessages).toBeGreaterThan(2);
    });

    it('a pass waits while the connection cannot take the null message, and goes on once it can', () => {
      // Invariant: while no message can carry the owed entries (the connection's window is full),
      // the primary processes no position that would drop one, and once a message can leave it
      // goes on by itself; in the end the backup holds every position, in the primary's state.
      // s2's acknowledgements are lost (to s1, and to c1, which would pass them on to s1), so none of
      // s1's messages becomes stable and a window of 2 fills with its first two null messages.
      const sim = senderSinkCluster(burst, sink, { ...settings, connection: { windowMax: 2 } });
      silence(sim, 's2', ['s1', 'c1']);
      go(sim, 30);
      sim.runUntil(WARM_UP_MS + 500);
      const primary = sim.role('s1');
      expect(primary.counters.announcementWaitPasses).toBeGreaterThan(0);
      expect(primary.actorState()).not.toEqual({ seen: 30 });
      // Stopped within what it keeps: the backup got every entry the two messages carried.
      expect(primary.position - sim.role('s2').position).toBeLessThanOrEqual(4 * settings.announceBatchMax);
      for (const other of ['s1', 'c1']) sim.unblock('s2', other);
      sim.runUntil(sim.clock.now() + 1_000);
      expect(primary.actorState()).toEqual({ seen: 30 });
      expect(sim.role('s2').position).toBe(primary.position);
      expect(sim.role('s2').actorState()).toEqual({ seen: 30 });
    });

    it('passive: a backup promoted from its checkpoint, with no entries of its own kept, goes on ordering', () => {
      // Invariant: after the failover the new primary processes every later note, and the backup
      // left covers its position. The rule asks about the oldest entry kept: a first version that
      // counted positions since the last announcement found a promoted passive backup (which never
      // announced anything, and whose checkpoint carries no entries) far behind, had nothing to
      // send, and stopped ordering for good (`chaos replication --style passive`).
      const sim = senderSinkCluster(burst, sink, settings, ['s1', 's2', 's3'], 'passive');
      go(sim, 30);
      sim.runUntil(WARM_UP_MS + 500);
      expect(sim.role('s2').coverage()).toBe(sim.role('s1').position);
      sim.crash(nodeId('s1'));
      sim.runUntil(sim.clock.now() + 1_000, () => sim.role('s2').role === 'primary');
      expect(sim.role('s2').role).toBe('primary');
      go(sim, 30);
      sim.runUntil(sim.clock.now() + 1_000);
      expect(sim.role('s2').actorState()).toEqual({ seen: 60 });
      expect(sim.role('s3').coverage()).toBe(sim.role('s2').position);
    });
  });

  it('a replica alone in its group owes nobody its order: what it relays rides on its request, no null message ahead', () => {
    // Relays at once (`relayAfterMs: 0`) what the peer may lack: b2 receives everything, but its
    // acknowledgements are lost, so nobody learns that it holds B's replies.
    const sim = cluster(directGroups({ clientSettings: { relayAfterMs: 0 } }));
    silence(sim, 'b2', ['c1', 'b1', 'b3']);
    issueEach(sim, 'B', [
      ['r1', 50],
      ['r2', 100],
    ]);
    // The second request carries B's announcement of the first (learnt from its reply) itself. B's
    // start (position 1) was acknowledged by all during the warm-up: nothing to relay on the first.
    expect(link(sim.trace, 'c1->b2')).toEqual([
      'c1->b2 async-request C#1',
      'c1->b2 async-request C#2 relay B[2]',
    ]);
    expect(sim.role('c1').endpoint('B')?.counters.nullMessages).toBe(1); // Only the start's.
  });

  it('relay only what the peer may lack (claims 66, 67): nothing relayed when every member got the carrier', () => {
    const sim = cluster(directGroups());
    issueEach(sim, 'B', [
      ['r1', 50],
      ['r2', 100],
    ]);
    // B's backups got B's announcements on the very replies that brought them to the client, and
    // acknowledged them within the connection's acknowledgement delay: repeating them is useless.
    expect(link(sim.trace, 'c1->b2')).toEqual(['c1->b2 async-request C#1', 'c1->b2 async-request C#2']);
    expect(sim.role('c1').counters.entriesRelayed).toBe(0);
    expect(sim.role('c1').counters.relaysSkipped).toBe(2);
    expect(sim.role('b2').history()).toEqual(sim.role('b1').history());
  });

  it('relay only what the peer may lack (claims 66, 67): a carrier not known delivered everywhere is relayed after relayAfterMs', () => {
    const sim = cluster(directGroups());
    // b2's acknowledgements are lost: nobody learns that it holds B's replies.
    silence(sim, 'b2', ['c1', 'b1', 'b3']);
    issueEach(sim, 'B', [
      ['r1', 50],
      ['r2', 150],
      ['r3', 200],
      ['r4', 300],
    ]);
    // r1's announcement (B[2]) came at ~2 ms: 48 ms old on r2, too young; 148 ms on r3, relayed.
    // r2's (B[3], ~52 ms) is 98 ms old on r3 and waits with anything after it; on r4 (at 200 ms) it
    // goes, and B[2], relayed once, does not go again.
    expect(link(sim.trace, 'c1->b2')).toEqual([
      'c1->b2 async-request C#1',
      'c1->b2 async-request C#2',
      'c1->b2 async-request C#3 relay B[2]',
      'c1->b2 async-request C#4 relay B[3]',
    ]);
    expect(sim.role('c1').counters.entriesRelayed).toBe(2);
  });

  it('batching (claims 43, 45, 47): requests processed in one pass announce together on the first reply', () => {
    const sim = cluster(directGroups());
    for (const key of ['r1', 'r2', 'r3']) issue(sim, 'c1', key, 'B');
    sim.runUntil(WARM_UP_MS + 50);
    expect(link(sim.trace, 'b1->c1')).toEqual([
      'b1->c1 async-reply B#1 order[2,3,4]',
      'b1->c1 async-reply B#2',
      'b1->c1 async-reply B#3',
    ]);
    expect(sim.role('b1').counters.entriesAnnounced).toBe(4);
    expect(sim.role('b1').counters.nullMessages).toBe(1);
  });

  it('ordering policy (claims 5, 39): the primary processes the higher priority first and backups follow', () => {
    const sim = cluster(directGroups({ policy: priorityPolicy() }));
    issue(sim, 'c1', 'low', 'B', 0);
    issue(sim, 'c1', 'high', 'B', 3);
    sim.runUntil(WARM_UP_MS + 50);
    expect(sim.role('b1').history()).toEqual(['start', 'C#2', 'C#1']);
    expect(sim.role('b3').history()).toEqual(['start', 'C#2', 'C#1']);
  });

  // Invariant: a policy of the user's own is consulted like the built-ins, and backups follow the
  // order it chose (they never consult it). Here: the latest arrival first.
  it("ordering policy (claims 5, 39): a policy of one's own picks the order, and backups follow it", () => {
    const latestFirst: OrderingPolicy = {
      name: 'latest-first',
      pick: (queue) =>
        queue.reduce((chosen, input, index) => (input.arrival > queue[chosen]!.arrival ? index : chosen), 0),
    };
    const sim = cluster(directGroups({ policy: latestFirst }));
    for (const key of ['first', 'second', 'third']) issue(sim, 'c1', key, 'B');
    sim.runUntil(WARM_UP_MS + 50);
    expect(sim.role('b1').history()).toEqual(['start', 'C#3', 'C#2', 'C#1']);
    expect(sim.role('b2').history()).toEqual(sim.role('b1').history());
    expect(sim.role('b3').history()).toEqual(sim.role('b1').history());
  });

  // Invariant: a policy that answers an index outside the queue is a programmer error, reported as
  // a RangeError naming the policy, never an input processed at random or skipped.
  it('ordering policy: an index outside the queue stops the primary with a RangeError naming the policy', () => {
    const outOfRange: OrderingPolicy = { name: 'off-by-one', pick: (queue) => queue.length };
    const groups = directGroups().map((spec) =>
      spec.group === 'B' ? { ...spec, policy: outOfRange } : spec,
    );
    const sim = cluster(groups);
    issue(sim, 'c1', 'first', 'B');
    expect(() => sim.runUntil(WARM_UP_MS + 50)).toThrow(
      new RangeError("policy 'off-by-one' picked index 1 of 1"),
    );
    expect(sim.role('b1').history()).toEqual(['start']);
  });

  it('synchronous reply (claim 48): processed at once at the caller, ahead of a waiting higher-priority request', () => {
    const sim = syncCallCluster();
    issue(sim, 'c1', 'first', 'A', 0);
    sim.runUntil(WARM_UP_MS + 1);
    issue(sim, 'c1', 'urgent', 'A', 3);
    sim.runUntil(WARM_UP_MS + 60);
    // C#2 (urgent) arrived while A waited for B's reply to C#1's call: the reply (B#1) still went first.
    expect(sim.role('a1').history()).toEqual(['start', 'C#1', 'B#1', 'C#2', 'B#2']);
    expect(sim.role('a2').history()).toEqual(sim.role('a1').history());
  });

  // Invariant: a backup holds the position of a synchronous reply with the epoch its primary
  // stamped on it, even before it installs that epoch's view: the epoch's basis, piggybacked, may
  // come first. When backups processed the reply on their own and stamped it with their older
  // view's epoch, the position looked past the next epoch's cut, never decided, and a promoted
  // backup discarded the group's state for it (sweep seed 7377).
  it("synchronous reply (claim 48): a backup holds it with its primary's epoch, before that view", () => {
    const sim = syncCallCluster();
    issue(sim, 'c1', 'first', 'A', 0);
    sim.runUntil(WARM_UP_MS + 60);
    // a1 goes on as primary in epoch 2 (a view change that kept it); a2 installs that view later.
    const next = { group: 'A', epoch: 2, members: [nodeId('a1'), nodeId('a2')], primary: nodeId('a1') };
    sim.input(nodeId('a1'), { type: 'view-installed', view: next });
    issue(sim, 'c1', 'second', 'A', 0);
    sim.runUntil(WARM_UP_MS + 120);
    const primary = sim.role('a1');
    const backup = sim.role('a2');
    expect(primary.history()).toEqual(['start', 'C#1', 'B#1', 'C#2', 'B#2']);
    expect(primary.historyEpochs()).toEqual([1, 1, 1, 2, 2]);
    expect(backup.history()).toEqual(primary.history());
    expect(backup.historyEpochs()).toEqual(primary.historyEpochs());
    sim.input(nodeId('a2'), { type: 'view-installed', view: next });
    sim.runUntil(WARM_UP_MS + 160);
    expect(backup.counters.discardedStates).toBe(0);
  });

  // Invariant (replica-supervisors.txt): a backup never calls the real source, not even while it
  // handles a synchronous reply, which needs no announcement of its order (claim 48). What the
  // handler takes through `ctx.call` comes from the primary's entry for that position; the clock,
  // randomness and ids still come from the reply's derived record.
  it('synchronous reply (claim 48): a call in its handler runs at the primary only; the backup replays its result', () => {
    const calls: string[] = [];
    const sim = stampingCluster(calls);
    issueEach(sim, 'A', [
      ['first', 60],
      ['second', 120],
    ]);
    expect(sim.role('a1').history()).toEqual(['start', 'C#1', 'B#1', 'C#2', 'B#2']);
    expect(sim.role('a2').history()).toEqual(sim.role('a1').history());
    expect(calls).toEqual(['a1', 'a1']);
    expect(sim.role('a2').actorState()).toEqual(sim.role('a1').actorState());
    expect(sim.role('a2').counters.divergences).toBe(0);
    expect(sim.role('c1').actorState()).toEqual({
      issued: ['first', 'second'],
      replies: { first: [1], second: [2] },
      asked: expect.any(Object),
      refused: {},
    });
  });

  // Invariant: the same when the primary fails after handling the reply and its entry reached only
  // the peer groups: the new primary's flush gets the entry from them and replays the old
  // primary's call instead of making its own.
  it('synchronous reply (claim 48): a new primary replays the call its old primary made, from the peer group', () => {
    const calls: string[] = [];
    const sim = stampingCluster(calls);
    silence(sim, 'a1', ['a2']);
    issueEach(sim, 'A', [['first', 60]]);
    const stamps = (sim.role('a1').actorState() as { stamps: string[] }).stamps;
    expect(sim.role('a1').history()).toEqual(['start', 'C#1', 'B#1']);
    // C#1's order reached a2 relayed by the ledger (claims 66, 67); B#1's entry reached the peers only.
    expect(sim.role('a2').history()).toEqual(['start', 'C#1']);
    sim.crash(nodeId('a1'));
    sim.runUntil(WARM_UP_MS + 700);
    expect(sim.role('a2').role).toBe('primary');
    expect(sim.role('a2').history()).toEqual(['start', 'C#1', 'B#1']);
    expect(calls).toEqual(['a1']);
    expect((sim.role('a2').actorState() as { stamps: string[] }).stamps).toEqual(stamps);
    expect(sim.role('c1').actorState()).toEqual({
      issued: ['first'],
      replies: { first: [1] },
      asked: expect.any(Object),
      refused: {},
    });
  });

  it('multi-tier relay (claims 66, 67): the caller relays the announcements of the callee to its backups', () => {
    const sim = cluster([
      {
        group: 'C',
        members: ['c1'],
        behavior: client,
        style: 'semi-active',
        policy: receptionPolicy,
        peers: ['A'],
      },
      {
        group: 'A',
        members: ['a1', 'a2'],
        behavior: front({ ledgerGroup: 'B', sync: false }),
        style: 'semi-active',
        policy: receptionPolicy,
        peers: ['C', 'B'],
        // At once (by default after `relayAfterMs`) what B's members may lack.
        settings: { relayAfterMs: 0 },
      },
      {
        group: 'B',
        members: ['b1', 'b2'],
        behavior: ledger,
        style: 'semi-active',
        policy: receptionPolicy,
        peers: ['A'],
      },
    ]);
    // b2's acknowledgements are lost: A cannot know that b2 holds B's replies, so it relays.
    silence(sim, 'b2', ['a1', 'a2', 'b1']);
    issueEach(sim, 'A', [
      ['r1', 30],
      ['r2', 60],
    ]);
    expect(link(sim.trace, 'a1->b2')).toEqual([
      // B's start (position 1) was announced on a null message during warm-up, and every member
      // acknowledged it then: no relay. r1's order (B[2]) came on B's reply to A and goes on to B's
      // backups with A's next request.
      'a1->b2 async-request A#1 order[2]',
      'a1->b2 async-request A#2 order[3,4] relay B[2]',
    ]);
    expect(sim.role('a1').counters.entriesRelayed).toBe(1);
    expect(sim.role('b2').history()).toEqual(sim.role('b1').history());
  });

  it('failover retrieval from the peer group (claims 65, 69): the new primary gets the reply and the order of the old primary from the client', () => {
    const sim = cluster(directGroups());
    // The primary's messages reach the client only; then it crashes.
    sim.block('b1', 'b2');
    sim.block('b1', 'b3');
    issue(sim, 'c1', 'r1', 'B');
    sim.runUntil(WARM_UP_MS + 10);
    expect(sim.role('c1').actorState()).toEqual({
      issued: ['r1'],
      replies: { r1: [1] },
      asked: expect.any(Object),
      refused: {},
    });
    expect(sim.role('b2').history()).toEqual(['start']);
    sim.crash(nodeId('b1'));
    sim.runUntil(WARM_UP_MS + 600);
    expect(sim.role('b2').role).toBe('primary');
    expect(sim.role('b2').history()).toEqual(['start', 'C#1']);
    expect(sim.role('b3').history()).toEqual(['start', 'C#1']);
    // The client kept the one reply: the new primary's copy of B#1 was dropped as a duplicate.
    expect(sim.role('c1').actorState()).toEqual({
      issued: ['r1'],
      replies: { r1: [1] },
      asked: expect.any(Object),
      refused: {},
    });
    expect(sim.role('c1').endpoint('B')!.counters.retransmissions).toBeGreaterThan(0);
  });

  it('divergence: a backup whose state escaped the supervisor is reported at the position and removed', () => {
    let escaped = 0; // State outside the supervisor: each replica counts its own calls.
    const leaky = defineActor<{ n: number }>({
      kind: 'leaky',
      initial: () => ({ n: 0 }),
      handle: (state, input, ctx) => {
        if (input.type !== 'message') return state;
        escaped++;
        ctx.reply({ type: 'added', key: 'k', total: escaped });
        return { n: state.n + escaped };
      },
    });
    const sim = cluster(directGroups({ behavior: leaky, ledgerSettings: { digestEvery: 1 } }));
    issue(sim, 'c1', 'r1', 'B');
    sim.runUntil(WARM_UP_MS + 100);
    expect(sim.diverged.map(({ replica, position }) => ({ replica, position }))).toEqual([
      { replica: 'b2', position: 2 },
      { replica: 'b3', position: 2 },
    ]);
    expect(sim.views.current('B')?.members).toEqual(['b1']);
    expect(sim.role('b2').role).toBe('diverged');
  });

  it('digest pacing: digestIntervalMs bounds how often the primary hashes its state; backups check whatever carries one', () => {
    const checked = (digestIntervalMs: number) => {
      const sim = cluster(directGroups({ ledgerSettings: { digestEvery: 1, digestIntervalMs } }));
      for (let index = 1; index <= 8; index++) {
        issue(sim, 'c1', `r${index}`, 'B');
        sim.runUntil(sim.clock.now() + 40);
      }
      sim.runUntil(sim.clock.now() + 200);
      expect(sim.diverged).toEqual([]);
      return sim.role('b2').counters.digestsChecked;
    };
    const everyPass = checked(0);
    const paced = checked(10_000);
    expect(everyPass).toBeGreaterThanOrEqual(8);
    expect(paced).toBe(1);
  });
});

describe('bounds', () => {
  it('history stays within historyMax while positions go far past it (invariant: historyStart + history length = position)', () => {
    const historyMax = 32;
    const sim = cluster(directGroups({ ledgerSettings: { historyMax } }));
    for (let index = 1; index <= 120; index++) issue(sim, 'c1', `r${index}`, 'B');
    sim.runUntil(sim.clock.now() + 3_000);
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

  // Invariant: no input is lost at the pool's bound (`inputsMax`): every replica keeps an input
  // past it and counts it (`inputsOverBound`), since the connection delivers it once and no one
  // else keeps it. So every request is applied once and answered once, and the backups end in the
  // primary's order and state. Before, every replica dropped the four requests past a bound of 2;
  // the primary never answered them.
  it.each(['semi-active', 'passive'] as const)(
    '%s: inputs past inputsMax are kept, not dropped, by the primary and the backups alike',
    (style) => {
      const sim = cluster(directGroups({ style, ledgerSettings: { inputsMax: 2 } }));
      const keys = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
      // One turn: the six requests reach each replica of B together, past its bound of 2.
      for (const key of keys) issue(sim, 'c1', key, 'B');
      sim.runUntil(sim.clock.now() + 3_000);
      const primary = sim.role('b1');
      const ledgerState = primary.actorState() as { context: { applied: Record<string, number> } };
      expect(ledgerState.context.applied).toEqual(Object.fromEntries(keys.map((key) => [key, 1])));
      const clientState = sim.role('c1').actorState() as { replies: Record<string, number[]> };
      expect(Object.keys(clientState.replies).sort()).toEqual(keys);
      for (const totals of Object.values(clientState.replies)) expect(totals).toHaveLength(1);
      for (const node of ['b1', 'b2', 'b3'])
        expect(sim.role(node).counters.inputsOverBound, node).toBeGreaterThan(0);
      for (const node of ['b2', 'b3']) {
        const backup = sim.role(node);
        expect(backup.coverage(), node).toBe(primary.position);
        if (style === 'passive') continue;
        expect(backup.history(), node).toEqual(primary.history());
        expect(backup.actorState(), node).toEqual(primary.actorState());
      }
    },
  );
});

/**
 * b2 is cut off from everything but b1's messages: it gets the primary's announcements (on b1's
 * replies) but neither the client's requests nor a way to ask for them, and keeps at most 32
 * announcements (`inputsMax` 2). After 60 requests the cut ends: b2 gets the requests, and holds
 * announcements of the first 32 or so positions only, the rest dropped at its bound.
 */
function backupPastItsBound(
  ledgerSettings: Partial<ReplicationSettings>,
  afterCut: (sim: ReplicationCluster) => void = () => {},
): ReplicationCluster {
  const sim = cluster(directGroups({ ledgerSettings: { inputsMax: 2, ...ledgerSettings } }));
  const cut = [...['c1', 'b1', 'b3'].map((other) => ['b2', other]), ['c1', 'b2'], ['b3', 'b2']] as const;
  for (const [source, target] of cut) sim.block(source, target);
  for (let index = 1; index <= 60; index++) {
    issue(sim, 'c1', `r${index}`, 'B');
    sim.runUntil(sim.clock.now() + 5);
  }
  sim.runUntil(sim.clock.now() + 100);
  expect(sim.role('b2').position).toBe(1);
  expect(sim.role('b2').backlog().announced).toBeLessThan(60);
  for (const [source, target] of cut) sim.unblock(source, target);
  afterCut(sim);
  sim.runUntil(sim.clock.now() + 3_000);
  return sim;
}

// Invariant: a semi-active backup that lacks the announcement of its next position while it holds
// inputs that wait for it asks its primary for the order (`stuckAskMs`, the safety net), and ends
// at the primary's position with its state. Before the net, the backup of `backupPastItsBound`
// processed the positions it held announcements of and waited at the next for good, since no
// message would announce it again.
describe('a backup missing an announcement', () => {
  it('gets the entries its primary still keeps', () => {
    const sim = backupPastItsBound({});
    const [primary, backup] = [sim.role('b1'), sim.role('b2')];
    expect(backup.counters.missingEntriesAsked).toBeGreaterThan(0);
    expect(primary.counters.missingEntriesSent).toBeGreaterThan(0);
    expect(backup.counters.missingEntriesFetched).toBeGreaterThan(0);
    expect(backup.counters.fellBehind).toBe(0);
    expect(backup.position).toBe(primary.position);
    expect(backup.history()).toEqual(primary.history());
    expect(backup.actorState()).toEqual(primary.actorState());
  });

  it('starts over by state transfer when its primary no longer keeps them', () => {
    // The primary keeps the entries of its last 8 positions (4 × announceBatchMax).
    const sim = backupPastItsBound({ announceBatchMax: 2 });
    expectCaughtUpByStateTransfer(sim.role('b1'), sim.role('b2'));
  });

  it('asks again when the first answer is lost', () => {
    // b1 reaches b2 again only after it answered b2's first ask into the void; b2 asks again,
    // `stuckAskMs` later, and gets the entries then.
    const sim = backupPastItsBound({}, (cut) => {
      cut.block('b1', 'b2');
      const asked = () => cut.role('b2').counters.missingEntriesAsked > 0;
      cut.runUntil(cut.clock.now() + 2_000, asked);
      cut.runUntil(cut.clock.now() + 50);
      expect(cut.role('b2').counters.missingEntriesAsked).toBe(1);
      expect(cut.role('b2').position).toBeLessThan(cut.role('b1').position);
      cut.unblock('b1', 'b2');
    });
    const [primary, backup] = [sim.role('b1'), sim.role('b2')];
    expect(backup.counters.missingEntriesAsked).toBeGreaterThanOrEqual(2);
    expect(backup.counters.missingEntriesFetched).toBeGreaterThan(0);
    expect(backup.position).toBe(primary.position);
    expect(backup.actorState()).toEqual(primary.actorState());
  });

  it('waits for good without the net (stuckAskMs 0), as before it', () => {
    const sim = backupPastItsBound({ stuckAskMs: 0 });
    expect(sim.role('b2').counters.missingEntriesAsked).toBe(0);
    expect(sim.role('b2').position).toBeLessThan(sim.role('b1').position);
  });
});

// Invariant: a primary whose membership hears from no majority of its group (`quorum` input, from
// membership's `group-quorum` notice) orders nothing, its backups follow nothing new, and once it
// hears from a majority again it orders what waited (docs/replication.md, known limits: seeds
// 1329 and 1534, where a primary cut off from its group kept ordering for a peer it could reach).
describe('a primary cut off from its group', () => {
  it('orders nothing until its membership hears from a majority again', () => {
    const sim = cluster(directGroups());
    sim.input(nodeId('b1'), { type: 'quorum', heardFromMajority: false });
    issue(sim, 'c1', 'r1', 'B');
    sim.runUntil(WARM_UP_MS + 100);
    expect(sim.role('b1').history()).toEqual(['start']);
    expect(sim.role('b2').history()).toEqual(['start']);
    // The request is in: it waits for the primary's order, which does not come.
    expect(sim.role('b1').backlog().inputs).toBe(1);
    sim.input(nodeId('b1'), { type: 'quorum', heardFromMajority: true });
    sim.runUntil(WARM_UP_MS + 200);
    for (const node of ['b1', 'b2', 'b3']) expect(sim.role(node).history(), node).toEqual(['start', 'C#1']);
  });
});

/**
 * The client group changes its mind about a channel: its primary c1 sends r1 (on channel 1) to the
 * ledger, reaching `reachedOnly` alone, which reaches nobody either; c1 then fails, and c2 becomes
 * the client primary without ever hearing of r1. The blocks stay in place.
 */
function afterClientFailover(style: 'semi-active' | 'passive', reachedOnly: string): ReplicationCluster {
  const sim = cluster(
    directGroups({
      style,
      clientMembers: ['c1', 'c2'],
      // The new client primary waits this long for a peer member that does not answer.
      clientSettings: { recoveryMaxMs: 200 },
    }),
  );
  for (const target of ['c2', 'b1', 'b2', 'b3'].filter((node) => node !== reachedOnly)) {
    sim.block('c1', target);
    sim.block(reachedOnly, target);
  }
  issue(sim, 'c1', 'r1', 'B');
  sim.runUntil(WARM_UP_MS + 50);
  sim.crash(nodeId('c1'));
  sim.runUntil(WARM_UP_MS + 1_000, () => sim.role('c2').role === 'primary');
  expect(sim.role('c2').history()).toEqual(['start']);
  return sim;
}

describe('a client group that changes its mind about a channel', () => {
  // Invariant: a backup processes the very message its primary processed at each position, even
  // when the client group's next primary, never hearing of it, sent another message on the same
  // channel (sweep seed 1399: entries named the channel only, and a backup took the later message).
  it.each(['semi-active', 'passive'] as const)(
    '%s backups take the message their primary processed, fetched from it (asking again while unanswered) when the client group disowned it',
    (style) => {
      // c1 reaches b1 alone, and b1 reaches nobody: nobody else hears of r1, which b1 processed.
      const sim = afterClientFailover(style, 'b1');
      expect(sim.role('b1').history()).toEqual(['start', 'C#1']);
      // c2 uses channel 1 for another request: b2 and b3 hold it; b1 drops it (channel 1 is done).
      issue(sim, 'c2', 'r2', 'B');
      sim.runUntil(WARM_UP_MS + 1_100);
      // b1 reaches its backups again: they learn its entry for C#1, which names r1's copy, and r1
      // itself (of the client group's old epoch, past its new epoch's cut: fenced). b1's first
      // answers are lost; the backups ask again until one gets through.
      sim.unblock('b1', 'b2');
      sim.unblock('b1', 'b3');
      const asked = () => ['b2', 'b3'].every((node) => sim.role(node).counters.inputsAsked > 0);
      sim.runUntil(WARM_UP_MS + 1_400, asked);
      expect(asked()).toBe(true);
      sim.block('b1', 'b2');
      sim.block('b1', 'b3');
      sim.runUntil(sim.clock.now() + 250);
      for (const node of ['b2', 'b3']) {
        expect(sim.role(node).counters.inputsAsked, node).toBeGreaterThanOrEqual(2);
        expect(sim.role(node).counters.inputsFetched, node).toBe(0);
      }
      sim.unblock('b1', 'b2');
      sim.unblock('b1', 'b3');
      sim.runUntil(WARM_UP_MS + 2_000);
      const primaryState = sim.role('b1').actorState();
      for (const node of ['b2', 'b3']) {
        const backup = sim.role(node);
        expect(backup.role, node).toBe('backup');
        expect(backup.counters.inputsFetched, node).toBe(1);
        // A passive backup processes nothing: it holds every input up to the primary's position.
        expect(backup.coverage(), node).toBe(sim.role('b1').position);
        if (style === 'passive') continue;
        expect(backup.history(), node).toEqual(sim.role('b1').history());
        expect(backup.actorState(), node).toEqual(primaryState);
      }
      expect(JSON.stringify(primaryState)).toContain('r1');
    },
  );
});

describe('a client group that changes its mind about a channel, the other way round', () => {
  // Invariant: when a replica holds both messages a client group sent on one channel (the older one
  // from a primary that was then cut off, the later one from the next primary, which never heard
  // of it), the ledger group processes one of them, the same at every replica, and never the one
  // the client group disowned: a backup takes the one its primary's entry names, and a backup
  // promoted while it holds both orders the later one. The request the client group still knows
  // of takes effect once and is answered once. No sweep seed reaches these paths (docs/replication.md,
  // "Known limits"); this scenario builds them.

  /**
   * `afterClientFailover` with r1 at b2 alone; then c2 sends r2 on the same channel, and b2 holds
   * both copies. `beforeR2` runs just before r2 is sent.
   */
  function holdingBoth(style: 'semi-active' | 'passive', beforeR2: (sim: ReplicationCluster) => void) {
    // b2, a backup, holds r1 unprocessed: its primary never got it.
    const sim = afterClientFailover(style, 'b2');
    expect(sim.role('b2').backlog().inputs).toBe(1);
    beforeR2(sim);
    issue(sim, 'c2', 'r2', 'B');
    sim.runUntil(sim.clock.now() + 50);
    // Another message on the channel of the one it holds, from a later epoch: b2 keeps both.
    expect(sim.role('b2').counters.otherCopiesKept).toBe(1);
    for (const target of ['c2', 'b1', 'b3']) sim.unblock('b2', target);
    return sim;
  }

  /** The ledger applied r2 once and r1 never; the client got one reply, to r2. */
  function expectR2Only(sim: ReplicationCluster, node: string): void {
    const ledgerState = sim.role(node).actorState() as { context: { applied: Record<string, number> } };
    expect(ledgerState.context.applied, node).toEqual({ r2: 1 });
    const clientState = sim.role('c2').actorState() as { replies: Record<string, number[]> };
    expect(clientState.replies).toEqual({ r2: [1] });
  }

  it.each(['semi-active', 'passive'] as const)(
    '%s: a backup holding both takes the copy its primary processed, and replays that one once promoted',
    (style) => {
      // b2 does not hear b1 while r2 arrives: its entry for C#1 comes after b2 holds both copies.
      const sim = holdingBoth(style, (started) => started.block('b1', 'b2'));
      expect(sim.role('b1').history()).toEqual(['start', 'C#1']);
      sim.unblock('b1', 'b2');
      sim.runUntil(sim.clock.now() + 500);
      const primary = sim.role('b1');
      expectR2Only(sim, 'b1');
      for (const node of ['b2', 'b3']) {
        const backup = sim.role(node);
        expect(backup.role, node).toBe('backup');
        expect(backup.coverage(), node).toBe(primary.position);
        if (style === 'passive') continue;
        expect(backup.history(), node).toEqual(primary.history());
        expect(backup.actorState(), node).toEqual(primary.actorState());
      }
      // A passive backup processed nothing yet: it replays its log when it takes over.
      sim.crash(nodeId('b1'));
      sim.runUntil(sim.clock.now() + 1_000, () => sim.role('b2').role === 'primary');
      sim.runUntil(sim.clock.now() + 200);
      expect(sim.role('b2').role).toBe('primary');
      expectR2Only(sim, 'b2');
    },
  );

  it.each(['semi-active', 'passive'] as const)(
    '%s: a backup promoted while it holds both orders the later copy, and the older never',
    (style) => {
      // b1 hears neither request: nobody orders either copy before b2 takes over.
      const sim = holdingBoth(style, (started) => started.block('c2', 'b1'));
      expect(sim.role('b1').history()).toEqual(['start']);
      sim.crash(nodeId('b1'));
      sim.runUntil(sim.clock.now() + 1_000, () => sim.role('b2').role === 'primary');
      sim.runUntil(sim.clock.now() + 500);
      const primary = sim.role('b2');
      expect(primary.role).toBe('primary');
      expect(primary.history()).toEqual(['start', 'C#1']);
      expectR2Only(sim, 'b2');
      const backup = sim.role('b3');
      expect(backup.coverage()).toBe(primary.position);
      if (style === 'semi-active') expect(backup.actorState()).toEqual(primary.actorState());
    },
  );
});

describe('a backup that held the message its primary processed', () => {
  // Invariant: a backup follows its primary's order even for a message it holds back (of an older
  // epoch of the client group than it knows, waiting for that group's next basis): the entry names
  // that very copy, the primary processed it, and the basis may never come. Sweep seed 2740: the
  // basis never came (the sender group lost its state) and the backup stayed behind for good.
  // A passive backup processes nothing, but its log must hold what it would replay on taking over
  // (sweep seed 7619, passive): it takes the held copy all the same, and covers its primary.
  it.each(['semi-active', 'passive'] as const)(
    "%s: takes the held copy its entry names, while the client group's flush never concludes",
    (style) => {
      const sim = cluster(
        directGroups({
          style,
          clientMembers: ['c1', 'c2'],
          // c2's flush waits for b3, which it never hears: no basis of C's next epoch in this test.
          clientSettings: { recoveryMaxMs: 60_000 },
        }),
      );
      // b2 hears of r1 from nobody until the client group has moved to its next epoch.
      for (const source of ['c1', 'b1', 'b3']) sim.block(source, 'b2');
      sim.block('c1', 'c2');
      issue(sim, 'c1', 'r1', 'B');
      sim.runUntil(WARM_UP_MS + 50);
      expect(sim.role('b1').history()).toEqual(['start', 'C#1']);
      sim.crash(nodeId('c1'));
      sim.block('b3', 'c2');
      sim.runUntil(WARM_UP_MS + 1_000, () => sim.role('c2').role === 'recovering');
      expect(sim.role('c2').role).toBe('recovering');
      sim.runUntil(sim.clock.now() + 100);
      sim.unblock('b1', 'b2');
      sim.unblock('b3', 'b2');
      sim.runUntil(sim.clock.now() + 500);
      const backup = sim.role('b2');
      expect(backup.counters.heldCopiesFollowed).toBe(1);
      if (style === 'passive') {
        expect(backup.coverage()).toBe(sim.role('b1').position);
        return;
      }
      expect(backup.history()).toEqual(sim.role('b1').history());
      expect(backup.actorState()).toEqual(sim.role('b1').actorState());
    },
  );
});

describe('a copy its source group disowned, waiting in a pool', () => {
  // Invariant: a replica that orders (a primary, a new primary's flush) never orders a copy its
  // source group's bases disown, whether the basis came before the copy (it is fenced on arrival)
  // or after it, while the copy waited in the pool of a backup later promoted. Sweep seed 19778: a
  // new primary processed a peer's reply its group had disowned.
  it('is dropped, not ordered, by the backup that becomes primary', () => {
    const sim = cluster(
      directGroups({
        clientMembers: ['c1', 'c2'],
        // The new client primary waits this long for a peer member that does not answer.
        clientSettings: { recoveryMaxMs: 200 },
      }),
    );
    // c1 reaches b2 alone, and b2 reaches nobody: only b2 holds r1, unprocessed.
    for (const target of ['c2', 'b1', 'b3']) sim.block('c1', target);
    for (const target of ['c2', 'b1', 'b3']) sim.block('b2', target);
    issue(sim, 'c1', 'r1', 'B');
    sim.runUntil(WARM_UP_MS + 50);
    expect(sim.role('b2').backlog().inputs).toBe(1);
    expect(sim.role('b1').history()).toEqual(['start']);
    // The client group moves on without r1: its next epoch's basis cuts before it.
    sim.crash(nodeId('c1'));
    sim.runUntil(WARM_UP_MS + 1_000, () => sim.role('c2').role === 'primary');
    expect(sim.role('c2').history()).toEqual(['start']);
    sim.runUntil(sim.clock.now() + 100);
    for (const target of ['c2', 'b1', 'b3']) sim.unblock('b2', target);
    sim.crash(nodeId('b1'));
    sim.runUntil(sim.clock.now() + 1_000, () => sim.role('b2').role === 'primary');
    sim.runUntil(sim.clock.now() + 200);
    const primary = sim.role('b2');
    expect(primary.role).toBe('primary');
    expect(primary.history()).toEqual(['start']);
    expect(primary.counters.fencedMessages).toBeGreaterThan(0);
    expect(JSON.stringify(primary.actorState())).not.toContain('r1');
  });

  it("is dropped by a new primary's flush as soon as it learns the basis that disowns it", () => {
    const sim = cluster(
      directGroups({
        clientMembers: ['c1', 'c2'],
        clientSettings: { recoveryMaxMs: 200 },
        // b2's flush waits this long for b3, which it does not hear while the basis arrives.
        ledgerSettings: { recoveryMaxMs: 60_000 },
      }),
    );
    // As above, only b2 holds r1; and b2 hears nothing of the client group's next epoch yet.
    for (const target of ['c2', 'b1', 'b3']) sim.block('c1', target);
    for (const target of ['c2', 'b1', 'b3']) sim.block('b2', target);
    sim.block('c2', 'b2');
    issue(sim, 'c1', 'r1', 'B');
    sim.runUntil(WARM_UP_MS + 50);
    expect(sim.role('b2').backlog().inputs).toBe(1);
    sim.crash(nodeId('c1'));
    sim.runUntil(WARM_UP_MS + 1_000, () => sim.role('c2').role === 'primary');
    expect(sim.role('c2').history()).toEqual(['start']);
    // b1 fails; b2 starts its flush and waits for b3, whose answers do not reach it.
    for (const target of ['c2', 'b1', 'b3']) sim.unblock('b2', target);
    sim.block('b3', 'b2');
    sim.crash(nodeId('b1'));
    sim.runUntil(sim.clock.now() + 1_000, () => sim.role('b2').role === 'recovering');
    const flushing = sim.role('b2');
    expect(flushing.role).toBe('recovering');
    expect(flushing.counters.fencedMessages).toBe(0);
    // The client group's next request brings its basis, which cuts before r1: the flush drops r1
    // then, before anything could order it.
    sim.unblock('c2', 'b2');
    issue(sim, 'c2', 'r2', 'B');
    sim.runUntil(sim.clock.now() + 100);
    expect(flushing.role).toBe('recovering');
    expect(flushing.counters.fencedMessages).toBeGreaterThan(0);
    sim.unblock('b3', 'b2');
    sim.runUntil(sim.clock.now() + 1_000, () => sim.role('b2').role === 'primary');
    sim.runUntil(sim.clock.now() + 200);
    const primary = sim.role('b2');
    expect(primary.role).toBe('primary');
    const state = JSON.stringify(primary.actorState());
    expect(state).not.toContain('r1');
    expect(state).toContain('r2');
  });
});

describe('two copies of one channel, the later one ahead of its basis', () => {
  // Invariant: a replica that orders (a primary, a backup once promoted) and holds two copies of one
  // channel from two epochs of the source group, with no basis of the later epoch yet, orders the
  // later copy: the source group's new primary sent it, so it is that group's word. Since
  // 2026-11-25 a new primary's basis rides on its first message to every peer, so over FIFO streams
  // a basis cannot come after its epoch's messages ("A later copy ahead of its basis" in
  // docs/replication.md); these tests strip it from the ledger's messages to the client group, to
  // keep the defence for that case tested. Without the swap, the client orders the old copy: a reply
  // from a position the ledger's failover cut, and the client's state disagrees with the ledger's.

  /** A ledger whose reply carries a supervised random draw: the old and new primary's differ. */
  const drawingLedger = defineActor<{ draws: number[] }>({
    kind: 'golden-drawing-ledger',
    initial: () => ({ draws: [] }),
    handle(state, input, ctx) {
      if (input.type !== 'message') return state;
      const body = input.envelope.body as { type?: string; key?: string };
      if (body.type !== 'add') return state;
      const total = Math.floor(ctx.random() * 1_000_000);
      ctx.reply({ type: 'added', key: body.key, total });
      return { draws: [...state.draws, total] };
    },
  });
  const draws = (sim: ReplicationCluster, node: string) =>
    (sim.role(node).actorState() as { draws: number[] }).draws;
  const repliesAt = (sim: ReplicationCluster, node: string) =>
    (sim.role(node).actorState() as { replies: Record<string, number[]> }).replies;

  /**
   * c1 sends r1 to the ledger, whose primary b1 answers it to the client group only; b1 then
   * fails, and its successor b2, hearing nothing from the client group, processes r1 anew and
   * answers it on the same channel. `beforeFailover` runs before b1's answer arrives. While
   * `strip` says so, b2's messages to the client group reach it without the ledger's bases, or the
   * relayed order of the client group. Returns the old and the new primary's draws.
   */
  function answeredTwice(
    sim: ReplicationCluster,
    strip: () => boolean,
    beforeFailover: () => void,
  ): { oldDraw: number; newDraw: number } {
    sim.hook = (node, _role, _input, effects) => {
      if (node !== nodeId('b2') || !strip()) return { type: 'continue' };
      const sends = effects as ReplicaEffect[];
      sends.forEach((effect, index) => {
        if (effect.type !== 'send' || !['c1', 'c2'].includes(String(effect.target))) return;
        const data = effect.packet.data.map((message) => {
          const rep = message.piggyback?.[REPLICATION_PIGGYBACK_KEY] as ReplicationPiggyback | undefined;
          if (rep === undefined) return message;
          const { bases: _bases, relay: _relay, ...rest } = rep;
          return { ...message, piggyback: { ...message.piggyback, [REPLICATION_PIGGYBACK_KEY]: rest } };
        });
        sends[index] = { ...effect, packet: { ...effect.packet, data } };
      });
      return { type: 'continue' };
    };
    silence(sim, 'b1', ['b2', 'b3']);
    issue(sim, 'c1', 'r1', 'B');
    sim.runUntil(WARM_UP_MS + 10, () => ['b2', 'b3'].every((node) => sim.role(node).backlog().inputs > 0));
    // The ledger's backups hold the request; nothing the client group does next reaches them.
    silence(sim, 'c1', ['b2', 'b3']);
    silence(sim, 'c2', ['b2', 'b3']);
    beforeFailover();
    sim.runUntil(sim.clock.now() + 10);
    const [oldDraw] = draws(sim, 'b1');
    sim.crash(nodeId('b1'));
    sim.runUntil(sim.clock.now() + 1_000, () => sim.role('b2').role === 'primary');
    sim.runUntil(sim.clock.now() + 50);
    const [newDraw] = draws(sim, 'b2');
    expect(newDraw).not.toBe(oldDraw);
    return { oldDraw: oldDraw!, newDraw: newDraw! };
  }

  const twoCopyCluster = () =>
    cluster(
      directGroups({
        behavior: drawingLedger,
        clientMembers: ['c1', 'c2'],
        // b2's flush gives up on the client group (cut off from it) after this long.
        ledgerSettings: { recoveryMaxMs: 100 },
      }),
    );

  it('is the one a backup promoted before the basis came orders (the swap at promotion)', () => {
    const sim = twoCopyCluster();
    let stripping = true;
    // c2 hears nothing from its primary c1, which processes b1's reply at once.
    sim.block('c1', 'c2');
    const { oldDraw, newDraw } = answeredTwice(
      sim,
      () => stripping,
      () => undefined,
    );
    expect(repliesAt(sim, 'c1')).toEqual({ r1: [oldDraw] });
    const backup = sim.role('c2');
    expect(backup.counters.otherCopiesKept).toBe(1);
    expect(backup.counters.copiesAheadOfBasis).toBeGreaterThan(0);
    // c1 fails too: c2 becomes primary with both copies, and still no basis of the ledger's epoch.
    sim.crash(nodeId('c1'));
    for (const node of ['b2', 'b3']) sim.unblock('c2', node);
    sim.runUntil(sim.clock.now() + 1_000, () => backup.role === 'primary');
    expect(backup.role).toBe('primary');
    sim.runUntil(sim.clock.now() + 20);
    // No basis disowned the old copy: the swap alone chose the new one.
    expect(backup.counters.fencedMessages).toBe(0);
    expect(repliesAt(sim, 'c2')).toEqual({ r1: [newDraw] });
    stripping = false;
    sim.runUntil(sim.clock.now() + 500);
    expect(repliesAt(sim, 'c2')).toEqual({ r1: [newDraw] });
    expect(draws(sim, 'b3')).toEqual([newDraw]);
  });

  it('is the one a primary holding the older copy unprocessed orders (the swap on arrival)', () => {
    const sim = twoCopyCluster();
    let stripping = true;
    // The client primary's ordering stops before b1's reply comes, so the reply waits in its pool.
    const { newDraw } = answeredTwice(
      sim,
      () => stripping,
      () => sim.input(nodeId('c1'), { type: 'quorum', heardFromMajority: false }),
    );
    const primary = sim.role('c1');
    expect(repliesAt(sim, 'c1')).toEqual({});
    expect(primary.counters.otherCopiesKept).toBe(1);
    expect(primary.counters.copiesAheadOfBasis).toBeGreaterThan(0);
    sim.input(nodeId('c1'), { type: 'quorum', heardFromMajority: true });
    sim.runUntil(sim.clock.now() + 20);
    expect(primary.counters.fencedMessages).toBe(0);
    expect(repliesAt(sim, 'c1')).toEqual({ r1: [newDraw] });
    stripping = false;
    for (const client of ['c1', 'c2']) for (const node of ['b2', 'b3']) sim.unblock(client, node);
    sim.runUntil(sim.clock.now() + 500);
    for (const client of ['c1', 'c2']) expect(repliesAt(sim, client), client).toEqual({ r1: [newDraw] });
    expect(draws(sim, 'b3')).toEqual([newDraw]);
  });
});

describe("output commit (outputCommit: 'majority')", () => {
  // Invariant: with `majority`, no output of a position leaves the primary before a majority of its
  // view holds that position; so a primary cut off from its backups sends nothing a peer could act
  // on, and a failover can never cut a position a peer acted on (docs/replication.md, "Output
  // commit"). With `at-once` the same primary answers at once: the setting is what holds it.
  const repliesAt = (sim: ReplicationCluster, node: string) =>
    (sim.role(node).actorState() as { replies: Record<string, number[]> }).replies;
  /** The ledger's primary b1 and its backups b2 and b3 no longer hear each other. */
  const cutOffPrimary = (sim: ReplicationCluster) => {
    silence(sim, 'b1', ['b2', 'b3']);
    silence(sim, 'b2', ['b1']);
    silence(sim, 'b3', ['b1']);
  };
  const healPrimary = (sim: ReplicationCluster) => {
    for (const backup of ['b2', 'b3']) {
      sim.unblock('b1', backup);
      sim.unblock(backup, 'b1');
    }
  };

  it.each(['semi-active', 'passive'] as const)(
    '%s: a primary cut off from its backups processes a request, and its reply waits until a backup holds it',
    (style) => {
      const sim = cluster(directGroups({ style, ledgerSettings: { outputCommit: 'majority' } }));
      cutOffPrimary(sim);
      issue(sim, 'c1', 'r1', 'B');
      sim.runUntil(WARM_UP_MS + 200);
      const primary = sim.role('b1');
      expect(primary.history()).toEqual(['start', 'C#1']);
      expect(repliesAt(sim, 'c1')).toEqual({});
      expect(primary.counters.outputsAwaitingMajority).toBeGreaterThan(0);
      // While the reply waits, the primary asks its backups every `recoveryWaitMs` what they hold.
      expect(primary.counters.heldAsked).toBeGreaterThan(0);
      healPrimary(sim);
      sim.runUntil(WARM_UP_MS + 400);
      expect(repliesAt(sim, 'c1')).toEqual({ r1: [1] });
      expect(sim.role('b2').counters.heldTold + sim.role('b3').counters.heldTold).toBeGreaterThan(0);
    },
  );

  it('a send to an address outside every group waits the same way, and leaves once after the heal', () => {
    // A ledger that also tells an outside log of each request it applies (`external-send`).
    const loggingLedger = defineActor<{ total: number }>({
      kind: 'golden-logging-ledger',
      initial: () => ({ total: 0 }),
      handle(state, input, ctx) {
        if (input.type !== 'message') return state;
        const body = input.envelope.body as { type?: string; key?: string };
        if (body.type !== 'add') return state;
        const total = state.total + 1;
        ctx.reply({ type: 'added', key: body.key, total });
        ctx.send(address('outside', 'log'), { type: 'applied', key: body.key });
        return { total };
      },
    });
    const sim = cluster(
      directGroups({ behavior: loggingLedger, ledgerSettings: { outputCommit: 'majority' } }),
    );
    const externalSends = () => sim.trace.filter((line) => line.endsWith('external-send from b1')).length;
    cutOffPrimary(sim);
    issue(sim, 'c1', 'r1', 'B');
    sim.runUntil(WARM_UP_MS + 200);
    expect(sim.role('b1').history()).toEqual(['start', 'C#1']);
    expect(externalSends()).toBe(0);
    healPrimary(sim);
    sim.runUntil(WARM_UP_MS + 400);
    expect(externalSends()).toBe(1);
    expect(repliesAt(sim, 'c1')).toEqual({ r1: [1] });
  });

  it('at-once (the default): the same cut-off primary answers at once', () => {
    const sim = cluster(directGroups());
    cutOffPrimary(sim);
    issue(sim, 'c1', 'r1', 'B');
    sim.runUntil(WARM_UP_MS + 200);
    expect(repliesAt(sim, 'c1')).toEqual({ r1: [1] });
    expect(sim.role('b1').counters.outputsAwaitingMajority).toBe(0);
  });

  it('when nothing fails, every reply comes, each after one backup told the primary it holds its position', () => {
    const sim = cluster(directGroups({ ledgerSettings: { outputCommit: 'majority' } }));
    issueEach(sim, 'B', [
      ['r1', 20],
      ['r2', 40],
      ['r3', 60],
    ]);
    sim.runUntil(WARM_UP_MS + 200);
    expect(repliesAt(sim, 'c1')).toEqual({ r1: [1], r2: [2], r3: [3] });
    const primary = sim.role('b1');
    expect(primary.counters.outputsAwaitingMajority).toBeGreaterThanOrEqual(3);
    expect(primary.counters.heldAsked).toBe(0);
    for (const node of ['b2', 'b3']) expect(sim.role(node).history(), node).toEqual(primary.history());
  });
});
