// Unit tests of the group member's handlers, driven as a pure function: feed one input, look at
// the effects it asked for (sends, replies, timers, persist) and at the next state. References are
// to Viewstamped Replication Revisited (Liskov and Cowling 2012), section numbers in the titles.
import { address, nodeId, type NodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { bodies, harness, members, type Effects } from './member-harness.test-support.js';
import type { PeerMessage } from './messages.js';
import { GROUP_DEFAULTS, groupSettings } from './settings.js';

/** The configuration the group was spawned with (version 0). */
const initialConfiguration = { version: 0, members: members.map((member) => nodeId(member)) };

/** The primary of epoch 0 handed over in that step: a view change to epoch 1, told to all, and why. */
function expectSteppedDown(primary: ReturnType<typeof harness>, stepped: Effects, reason: string): void {
  expect(primary.state.status).toBe('view-change');
  expect(primary.state.epoch).toBe(1);
  expect(primary.state.counters.stepDowns).toBe(1);
  expect(bodies(stepped)).toContainEqual({
    type: 'start-view-change',
    epoch: 1,
    configuration: initialConfiguration,
  });
  expect(primary.events).toContainEqual({ type: 'stepped-down', node: 'n1', epoch: 0, reason });
}

const to = (node: string) => address(node, 'group.g');
/** The log entry, at `opNumber`, of the membership change that takes `node` out of the configuration. */
function leaveEntry(node: string, opNumber: number) {
  return {
    opNumber,
    clientId: '#membership',
    requestNumber: 0,
    op: null,
    change: { type: 'leave', node: nodeId(node) },
  } as const;
}
/** The committed-to-be log entry that takes n3 out of the configuration (op 1). */
const leaveOfN3 = leaveEntry('n3', 1);
const broadcast = (requestNumber: number, op: unknown = { n: requestNumber }) => ({
  type: 'broadcast',
  op,
  clientId: 'c1',
  requestNumber,
});

describe('group settings', () => {
  it('fills defaults and rejects a bad setting by name (bounds are validated)', () => {
    expect(groupSettings()).toEqual(GROUP_DEFAULTS);
    expect(() => groupSettings({ heartbeatIntervalMs: 0 })).toThrow(/heartbeatIntervalMs/);
    expect(() => groupSettings({ suspicionTimeoutMs: 40 })).toThrow(/twice heartbeatIntervalMs/);
    expect(() => groupSettings({ preparesInFlightMax: 64 })).toThrow(/entriesPerMessageMax/);
    expect(() => groupSettings({ opBytesMax: 4_096 })).toThrow(/one frame/);
  });
});

describe('normal operation (VR 4.1)', () => {
  it('the primary persists, prepares to every backup, commits at a majority and answers the client once', () => {
    const primary = harness('n1');
    const { request, effects } = primary.client(broadcast(1));
    expect(effects.persisted).toBe(1);
    expect(effects.replies).toEqual([]);
    expect(effects.sends).toEqual([
      {
        target: to('n2'),
        body: {
          type: 'prepare',
          epoch: 0,
          entry: { opNumber: 1, clientId: 'c1', requestNumber: 1, op: { n: 1 } },
          commitNumber: 0,
        },
      },
      {
        target: to('n3'),
        body: {
          type: 'prepare',
          epoch: 0,
          entry: { opNumber: 1, clientId: 'c1', requestNumber: 1, op: { n: 1 } },
          commitNumber: 0,
        },
      },
    ]);
    const committed = primary.peer('n2', { type: 'prepare-ok', epoch: 0, opNumber: 1 });
    expect(committed.replies).toEqual([
      { to: request, body: { type: 'broadcast-committed', clientId: 'c1', requestNumber: 1, opNumber: 1 } },
    ]);
    expect(primary.state.commitNumber).toBe(1);
    expect(primary.state.appState).toEqual([{ n: 1 }]);
    expect(primary.events.filter((event) => event.type === 'deliver')).toHaveLength(1);
    // The third member's late prepare-ok commits nothing new and answers nobody again.
    expect(primary.peer('n3', { type: 'prepare-ok', epoch: 0, opNumber: 1 }).replies).toEqual([]);
  });

  it('integrity: a retried request is answered from the client table, not ordered twice', () => {
    const primary = harness('n1');
    primary.client(broadcast(1));
    primary.peer('n2', { type: 'prepare-ok', epoch: 0, opNumber: 1 });
    const { effects } = primary.client(broadcast(1));
    expect(effects.sends).toEqual([]);
    expect(effects.replies.map((reply) => reply.body)).toEqual([
      { type: 'broadcast-committed', clientId: 'c1', requestNumber: 1, opNumber: 1 },
    ]);
    // A retry while the op is still being prepared waits for the same op instead.
    const second = primary.client(broadcast(2));
    const retry = primary.client(broadcast(2));
    expect(second.effects.sends).toHaveLength(2);
    expect(retry.effects.sends).toEqual([]);
    const done = primary.peer('n3', { type: 'prepare-ok', epoch: 0, opNumber: 2 });
    expect(done.replies.map((reply) => reply.to)).toEqual([second.request, retry.request]);
  });

  it('a backup refuses a broadcast with not-primary and names the primary', () => {
    const backup = harness('n2');
    const { effects } = backup.client(broadcast(1));
    expect(effects.replies.map((reply) => reply.body)).toEqual([
      { type: 'not-primary', clientId: 'c1', requestNumber: 1, epoch: 0, primary: 'n1' },
    ]);
  });

  it('bounds: an op over opBytesMax is refused, and so is one past preparesInFlightMax (busy)', () => {
    const primary = harness('n1', { preparesInFlightMax: 2 });
    expect(primary.client(broadcast(1, 'x'.repeat(600))).effects.replies[0]!.body.type).toBe(
      'invalid-broadcast',
    );
    primary.client({ ...broadcast(1), clientId: 'a' });
    primary.client({ ...broadcast(1), clientId: 'b' });
    expect(primary.client({ ...broadcast(1), clientId: 'c' }).effects.replies[0]!.body).toEqual({
      type: 'busy',
      clientId: 'c',
      requestNumber: 1,
      reason: 'prepares-in-flight',
    });
  });

  it('a backup appends in order, persists before its prepare-ok, and asks for state on a gap', () => {
    const backup = harness('n2');
    const entry = (opNumber: number) => ({ opNumber, clientId: 'c1', requestNumber: opNumber, op: opNumber });
    const first = backup.peer('n1', { type: 'prepare', epoch: 0, entry: entry(1), commitNumber: 0 });
    expect(first.persisted).toBe(1);
    expect(first.sends).toEqual([{ target: to('n1'), body: { type: 'prepare-ok', epoch: 0, opNumber: 1 } }]);
    const gap = backup.peer('n1', { type: 'prepare', epoch: 0, entry: entry(3), commitNumber: 1 });
    expect(gap.sends).toEqual([{ target: to('n1'), body: { type: 'get-state', epoch: 0, fromOp: 1 } }]);
    expect(backup.state.opNumber).toBe(1);
    expect(backup.state.commitNumber).toBe(1);
  });

  it('a malformed message is counted and dropped, never thrown on', () => {
    const backup = harness('n2');
    const { effects } = backup.client({ type: 'prepare', epoch: -1 });
    expect(effects.replies[0]!.body.type).toBe('invalid-broadcast');
    expect(backup.state.counters.invalid).toBe(1);
    // Pre-votes are checked like every other message: a bad epoch is dropped, not answered.
    for (const body of [
      { type: 'pre-view-change', epoch: 'one' },
      { type: 'pre-view-change-ok' },
      { type: 'pre-view-change', epoch: -1 },
    ])
      expect(bodies(backup.peer('n3', body as unknown as PeerMessage))).toEqual([]);
    expect(backup.state.counters.invalid).toBe(4);
    expect(backup.state.counters.preVotesGranted + backup.state.counters.preVotesRefused).toBe(0);
  });
});

describe('failure detector and incarnations', () => {
  // Invariant: suspicion needs the whole timeout of silence (any message resets it), and then the
  // backup only asks (a pre-vote); the view change starts when a majority, itself included, agrees.
  it('a backup suspects a silent primary after suspicionTimeoutMs, and any message from it resets the count', () => {
    const backup = harness('n2');
    const ticks = GROUP_DEFAULTS.suspicionTimeoutMs / GROUP_DEFAULTS.heartbeatIntervalMs;
    for (let tick = 1; tick < ticks; tick++) expect(backup.tick().sends).toEqual([]);
    backup.peer('n1', { type: 'commit', epoch: 0, commitNumber: 0, opNumber: 0 });
    for (let tick = 1; tick < ticks; tick++) backup.tick();
    expect(backup.state.status).toBe('normal');
    const suspected = backup.tick();
    expect(backup.state.status).toBe('normal');
    expect(bodies(suspected)).toEqual([
      { type: 'pre-view-change', epoch: 1 },
      { type: 'pre-view-change', epoch: 1 },
    ]);
    const agreed = backup.peer('n3', { type: 'pre-view-change-ok', epoch: 1 });
    expect(backup.state.status).toBe('view-change');
    expect(backup.state.epoch).toBe(1);
    expect(bodies(agreed)).toContainEqual({
      type: 'start-view-change',
      epoch: 1,
      configuration: initialConfiguration,
    });
  });

  // Invariant: a member cut off alone never moves the epoch on: with no one agreeing, it asks again
  // every tick and stays in its view; once it hears its primary again, it stops asking.
  it('a backup that hears no one asks every tick but never starts a view change on its own', () => {
    const backup = harness('n2');
    for (let tick = 0; tick < 20; tick++) backup.tick();
    expect(backup.state.status).toBe('normal');
    expect(backup.state.epoch).toBe(0);
    expect(backup.state.counters.preVotesSent).toBe(16);
    expect(backup.state.counters.viewChangesStarted).toBe(0);
    backup.peer('n1', { type: 'commit', epoch: 0, commitNumber: 0, opNumber: 0 });
    expect(bodies(backup.tick())).toEqual([]);
    expect(backup.state.preVote).toBeNull();
  });

  // Invariant: a pre-vote is answered yes only by a member with no working view of its own: a backup
  // that still hears its primary and a primary that still hears a majority say nothing.
  it('answers a pre-vote only when it too has lost its primary (or, as primary, its majority)', () => {
    const backup = harness('n3');
    backup.peer('n1', { type: 'commit', epoch: 0, commitNumber: 0, opNumber: 0 });
    expect(bodies(backup.peer('n2', { type: 'pre-view-change', epoch: 1 }))).toEqual([]);
    expect(backup.state.counters.preVotesRefused).toBe(1);
    for (let tick = 0; tick < 4; tick++) backup.tick();
    expect(bodies(backup.peer('n2', { type: 'pre-view-change', epoch: 1 }))).toEqual([
      { type: 'pre-view-change-ok', epoch: 1 },
    ]);
    // A pre-vote for the epoch it is already in, or an older one: no.
    expect(bodies(backup.peer('n2', { type: 'pre-view-change', epoch: 0 }))).toEqual([]);
    const primary = harness('n1');
    primary.peer('n2', { type: 'prepare-ok', epoch: 0, opNumber: 0 });
    primary.peer('n3', { type: 'prepare-ok', epoch: 0, opNumber: 0 });
    expect(bodies(primary.peer('n2', { type: 'pre-view-change', epoch: 1 }))).toEqual([]);
    expect(primary.state.status).toBe('normal');
  });

  // Invariant: a backup's own primary asking for a pre-vote is answered yes although the backup hears
  // from it (the asker has no working view, so neither has the backup). Regression for seed 3935 of
  // the replication sweep: a member back from an empty disk in epoch 0 kept hearing its "primary"
  // n1 in n1's own pre-votes, refused them, and its yes was the majority's: no view ever again.
  it("answers its own primary's pre-vote even while it hears from it", () => {
    const backup = harness('n3');
    backup.peer('n1', { type: 'commit', epoch: 0, commitNumber: 0, opNumber: 0 });
    // Another member asking is still refused: this backup's primary is alive.
    expect(bodies(backup.peer('n2', { type: 'pre-view-change', epoch: 2 }))).toEqual([]);
    expect(bodies(backup.peer('n1', { type: 'pre-view-change', epoch: 2 }))).toEqual([
      { type: 'pre-view-change-ok', epoch: 2 },
    ]);
    expect(backup.state.counters.preVotesGranted).toBe(1);
    expect(backup.state.status).toBe('normal');
  });

  it('an idle primary sends heartbeats, but not on a tick after it prepared something (busy link)', () => {
    const primary = harness('n1');
    expect(primary.tick().sends.map((send) => (send.body as PeerMessage).type)).toEqual(['commit', 'commit']);
    primary.client(broadcast(1));
    expect(primary.tick().sends).toEqual([]);
  });

  it('fencing: once a newer incarnation of a member is seen, messages of the older one are dropped', () => {
    const primary = harness('n1');
    primary.client(broadcast(1));
    primary.peer('n2', { type: 'commit', epoch: 0, commitNumber: 0, opNumber: 0 }, 2);
    const old = primary.peer('n2', { type: 'prepare-ok', epoch: 0, opNumber: 1 }, 1);
    expect(old.replies).toEqual([]);
    expect(primary.state.commitNumber).toBe(0);
    expect(primary.state.counters.fenced).toBe(1);
  });

  // Invariant: a primary that hears from no majority for the suspicion timeout stops being primary
  // (it refuses writes instead of splitting the brain), and hands over with a view change, which
  // the others join even if they still hear it (it may be deaf, not silent).
  it('no-quorum: a primary that hears from no majority steps down and refuses writes instead of splitting the brain', () => {
    const primary = harness('n1');
    for (let tick = 0; tick < 4; tick++) primary.tick();
    expect(primary.state.status).toBe('normal');
    expectSteppedDown(primary, primary.tick(), 'heard from no majority for the suspicion timeout');
    expect(primary.client(broadcast(1)).effects.replies[0]!.body).toMatchObject({
      type: 'not-primary',
      clientId: 'c1',
      requestNumber: 1,
    });
    // A backup that still hears it joins the view change it started.
    const backup = harness('n2');
    backup.peer('n1', { type: 'commit', epoch: 0, commitNumber: 0, opNumber: 0 });
    backup.peer('n1', { type: 'start-view-change', epoch: 1, configuration: initialConfiguration });
    expect(backup.state.status).toBe('view-change');
    expect(backup.state.epoch).toBe(1);
  });
});

describe('view change (VR 4.2)', () => {
  it('the next member by rank collects a majority of do-view-changes, keeps the best log and starts the view', () => {
    const next = harness('n2');
    const entry = { opNumber: 1, clientId: 'c1', requestNumber: 1, op: 'kept' };
    next.peer('n3', { type: 'start-view-change', epoch: 1, configuration: initialConfiguration });
    expect(next.state.status).toBe('view-change');
    // n2 has nothing; n3's log holds op 1, prepared in epoch 0 and not known to be committed.
    const started = next.peer('n3', {
      type: 'do-view-change',
      epoch: 1,
      lastNormalEpoch: 0,
      opNumber: 1,
      commitNumber: 0,
      configuration: initialConfiguration,
      entries: [entry],
    });
    expect(next.state.status).toBe('normal');
    expect(next.state.epoch).toBe(1);
    expect(next.state.log).toEqual([entry]);
    expect(started.sends).toContainEqual({
      target: to('n3'),
      body: {
        type: 'start-view',
        epoch: 1,
        opNumber: 1,
        commitNumber: 0,
        configuration: initialConfiguration,
        entries: [entry],
      },
    });
    expect(next.events.at(-1)).toEqual({
      type: 'view-installed',
      node: 'n2',
      epoch: 1,
      primary: 'n2',
      members: ['n2', 'n3', 'n1'] as NodeId[],
      configurationVersion: 0,
    });
    // The op commits in the new view once n3 acknowledges it there.
    next.peer('n3', { type: 'prepare-ok', epoch: 1, opNumber: 1 });
    expect(next.state.commitNumber).toBe(1);
  });

  it('a member that is not the new primary sends its log to it once a majority agrees to change', () => {
    const backup = harness('n3');
    const sent = backup.peer('n2', {
      type: 'start-view-change',
      epoch: 1,
      configuration: initialConfiguration,
    });
    expect(sent.sends).toContainEqual({
      target: to('n2'),
      body: {
        type: 'do-view-change',
        epoch: 1,
        lastNormalEpoch: 0,
        opNumber: 0,
        commitNumber: 0,
        configuration: initialConfiguration,
        entries: [],
      },
    });
    expect(sent.persisted).toBe(1);
    // A stale start-view-change of an older epoch changes nothing.
    backup.peer('n1', { type: 'start-view-change', epoch: 0, configuration: initialConfiguration });
    expect(backup.state.epoch).toBe(1);
  });

  it('a member that alone is a majority of its configuration keeps the view it installs on joining a view change', () => {
    // Invariant: the state a step returns holds every view the step reported installed, and every
    // op it delivered. n1, the primary of the pair n1 – n2, ordered an op and then its own leave,
    // and starts the view change in the new configuration, n2 alone. n2 completes that view change
    // inside the very step that joins it. The step used to return n2's state from before: n2 stayed
    // in epoch 0 having reported epoch 1 and delivered the op, and installed epoch 1 again later,
    // delivering the op a second time (the group sweep, seed 116103 with --auto-membership: n3
    // delivered ops 97 – 100 twice).
    const pair = ['n1', 'n2'];
    const newConfiguration = { version: 2, members: [nodeId('n2')] };
    const op = { opNumber: 1, clientId: 'c1', requestNumber: 1, op: 'kept' };
    const leaveOfN1 = leaveEntry('n1', 2);
    const joins: PeerMessage[] = [
      { type: 'start-view-change', epoch: 1, configuration: newConfiguration },
      {
        type: 'do-view-change',
        epoch: 1,
        lastNormalEpoch: 0,
        opNumber: 2,
        commitNumber: 0,
        configuration: newConfiguration,
        entries: [op, leaveOfN1],
      },
    ];
    for (const join of joins) {
      const member = harness('n2', {}, { members: pair });
      member.peer('n1', { type: 'prepare', epoch: 0, entry: op, commitNumber: 0 });
      member.peer('n1', { type: 'prepare', epoch: 0, entry: leaveOfN1, commitNumber: 0 });
      member.peer('n1', join);
      const installs = member.events.filter((event) => event.type === 'view-installed' && event.epoch === 1);
      expect(installs, join.type).toHaveLength(1);
      expect(member.state.status, join.type).toBe('normal');
      expect(member.state.epoch, join.type).toBe(1);
      expect(member.state.configuration, join.type).toEqual(['n2']);
      expect(member.state.commitNumber, join.type).toBe(2);
      for (let tick = 0; tick < 10; tick++) member.tick();
      expect(member.state.epoch, join.type).toBe(1);
      expect(
        member.events.filter((event) => event.type === 'deliver').map((event) => event.opNumber),
        join.type,
      ).toEqual([1]);
    }
  });
});

describe('reconfiguration: joins and leaves through the log', () => {
  const v1 = { version: 1, members: ['n1', 'n2', 'n3', 'n4'].map((member) => nodeId(member)) };

  it('join: the primary orders the change like an op, answers committed at commit, then starts the next epoch in the new configuration', () => {
    const primary = harness('n1');
    const { request, effects } = primary.client({ type: 'join', node: 'n4' });
    expect(effects.persisted).toBe(1);
    expect(bodies(effects)).toEqual([
      {
        type: 'prepare',
        epoch: 0,
        entry: {
          opNumber: 1,
          clientId: '#membership',
          requestNumber: 0,
          op: null,
          change: { type: 'join', node: 'n4' },
        },
        commitNumber: 0,
      },
      {
        type: 'prepare',
        epoch: 0,
        entry: {
          opNumber: 1,
          clientId: '#membership',
          requestNumber: 0,
          op: null,
          change: { type: 'join', node: 'n4' },
        },
        commitNumber: 0,
      },
    ]);
    // Not in effect yet: the epoch's configuration is still the initial one.
    expect(primary.state.configuration).toEqual(['n1', 'n2', 'n3']);
    const committed = primary.peer('n2', { type: 'prepare-ok', epoch: 0, opNumber: 1 });
    expect(committed.replies).toEqual([
      {
        to: request,
        body: { type: 'membership-committed', change: 'join', node: 'n4', opNumber: 1, members: v1.members },
      },
    ]);
    // The application never sees a membership change.
    expect(primary.state.appState).toEqual([]);
    // It takes effect at the next epoch: a view change in the new configuration, n4 included.
    expect(primary.state.status).toBe('view-change');
    expect(primary.state.epoch).toBe(1);
    expect(primary.state.configuration).toEqual(v1.members);
    expect(committed.sends.filter((send) => (send.body as PeerMessage).type === 'start-view-change')).toEqual(
      ['n2', 'n3', 'n4'].map((node) => ({
        target: to(node),
        body: { type: 'start-view-change', epoch: 1, configuration: v1 },
      })),
    );
    expect(primary.events).toContainEqual({
      type: 'reconfigured',
      node: 'n1',
      opNumber: 1,
      change: { type: 'join', node: 'n4' },
      members: v1.members,
    });
  });

  it('typed refusals: not-primary at a backup, invalid node id, busy while another change is uncommitted, committed when already in effect', () => {
    const backup = harness('n2');
    expect(backup.client({ type: 'leave', node: 'n3' }).effects.replies[0]!.body).toEqual({
      type: 'not-primary',
      change: 'leave',
      node: 'n3',
      epoch: 0,
      primary: 'n1',
    });
    const primary = harness('n1');
    expect(primary.client({ type: 'join', node: 'bad id!' }).effects.replies[0]!.body.type).toBe(
      'invalid-membership',
    );
    expect(primary.client({ type: 'join', node: 'n2' }).effects.replies[0]!.body).toEqual({
      type: 'membership-committed',
      change: 'join',
      node: 'n2',
      opNumber: 0,
      members: ['n1', 'n2', 'n3'],
    });
    primary.client({ type: 'join', node: 'n4' });
    expect(primary.client({ type: 'leave', node: 'n3' }).effects.replies[0]!.body).toEqual({
      type: 'busy',
      change: 'leave',
      node: 'n3',
      reason: 'reconfiguration-in-progress',
    });
    // The same change again waits for the same commit instead of ordering it twice.
    const retry = primary.client({ type: 'join', node: 'n4' });
    expect(retry.effects.replies).toEqual([]);
    expect(retry.effects.sends).toEqual([]);
    expect(primary.state.opNumber).toBe(1);
  });

  it('a spare starts outside, comes in on hearing a configuration that includes it, and votes in it', () => {
    const spare = harness('n4');
    expect(spare.state.status).toBe('outside');
    expect(spare.events).toEqual([]);
    // A message from the old configuration is not for it: it says what it knows and stays out.
    const ignored = spare.peer('n1', { type: 'commit', epoch: 0, commitNumber: 0, opNumber: 0 });
    expect(spare.state.status).toBe('outside');
    expect(bodies(ignored)).toEqual([{ type: 'new-configuration', configuration: initialConfiguration }]);
    const voted = spare.peer('n1', { type: 'start-view-change', epoch: 1, configuration: v1 });
    expect(spare.state.status).toBe('view-change');
    expect(spare.state.configuration).toEqual(v1.members);
    // With n1's vote and its own, 2 of 4 is no majority yet; a third vote sends its (empty) log
    // to the new primary, configuration[1 mod 4] = n2.
    expect(bodies(voted).map((body) => body.type)).toEqual([
      'start-view-change',
      'start-view-change',
      'start-view-change',
    ]);
    const sent = spare.peer('n3', { type: 'start-view-change', epoch: 1, configuration: v1 });
    expect(sent.sends).toContainEqual({
      target: to('n2'),
      body: {
        type: 'do-view-change',
        epoch: 1,
        lastNormalEpoch: 0,
        opNumber: 0,
        commitNumber: 0,
        configuration: v1,
        entries: [],
      },
    });
    // Persist, then send: its vote's configuration was saved in the step that joined the view change.
    expect(voted.persisted).toBe(1);
  });

  it('one vote per (epoch, configuration): a vote in an older configuration is not counted, and the voter is told', () => {
    const member = harness('n3');
    member.peer('n4', { type: 'start-view-change', epoch: 1, configuration: v1 });
    expect(member.state.configurationVersion).toBe(1);
    const old = member.peer('n1', {
      type: 'start-view-change',
      epoch: 1,
      configuration: initialConfiguration,
    });
    expect(member.state.viewChange!.startViewChangeFrom).toEqual(['n4']);
    expect(old.sends).toEqual([{ target: to('n1'), body: { type: 'new-configuration', configuration: v1 } }]);
  });

  it('a member switches to a newer configuration it hears of before its do-view-change is sent', () => {
    const member = harness('n3');
    member.tick();
    member.peer('n2', { type: 'start-view-change', epoch: 1, configuration: initialConfiguration });
    // Majority of 3 reached: the do-view-change went out in the initial configuration; n3 stays in it.
    expect(member.state.viewChange!.doViewChangeSent).toBe(true);
    member.peer('n4', { type: 'start-view-change', epoch: 1, configuration: v1 });
    expect(member.state.configurationVersion).toBe(0);
    expect(member.state.known).toEqual(v1);
    // A member that suspected the primary on its own has only its own vote: it may still switch.
    const suspecting = harness('n3');
    for (let tick = 0; tick < 5; tick++) suspecting.tick();
    suspecting.peer('n2', { type: 'pre-view-change-ok', epoch: 1 });
    // n2's yes made the majority for the view change; n2's own start-view-change has not come yet.
    expect(suspecting.state.status).toBe('view-change');
    expect(suspecting.state.viewChange!.doViewChangeSent).toBe(false);
    const switched = suspecting.peer('n1', { type: 'start-view-change', epoch: 1, configuration: v1 });
    expect(suspecting.state.configurationVersion).toBe(1);
    expect(suspecting.state.viewChange!.startViewChangeFrom).toEqual(['n1']);
    expect(bodies(switched)).toContainEqual({ type: 'start-view-change', epoch: 1, configuration: v1 });
  });

  it('a backup that commits its own leave goes outside, and then answers every message with the new configuration', () => {
    const backup = harness('n3');
    backup.peer('n1', { type: 'prepare', epoch: 0, entry: leaveOfN3, commitNumber: 0 });
    backup.peer('n1', { type: 'commit', epoch: 0, commitNumber: 1, opNumber: 1 });
    expect(backup.state.status).toBe('outside');
    expect(backup.events).toContainEqual({ type: 'left', node: 'n3', version: 1 });
    const answered = backup.peer('n2', {
      type: 'start-view-change',
      epoch: 1,
      configuration: initialConfiguration,
    });
    expect(answered.sends).toEqual([
      {
        target: to('n2'),
        body: { type: 'new-configuration', configuration: { version: 1, members: ['n1', 'n2'] } },
      },
    ]);
    expect(backup.state.status).toBe('outside');
  });

  it('a member that goes outside tells its local notify actor, once, with the configuration that excludes it', () => {
    const backup = harness('n3', {}, { notify: 'relay' });
    backup.peer('n1', { type: 'prepare', epoch: 0, entry: leaveOfN3, commitNumber: 0 });
    const committed = backup.peer('n1', { type: 'commit', epoch: 0, commitNumber: 1, opNumber: 1 });
    const notice = { type: 'group-outside', group: 'g', version: 1 };
    expect(committed.sends).toContainEqual({ target: address('n3', 'relay'), body: notice });
    // Already outside: later messages do not repeat it.
    const later = backup.peer('n2', {
      type: 'start-view-change',
      epoch: 1,
      configuration: initialConfiguration,
    });
    expect(later.sends.filter((send) => send.target === address('n3', 'relay'))).toEqual([]);
  });

  it('step-down: only from a local actor, only the primary of that very epoch starts the view change to the next', () => {
    const primary = harness('n1');
    expect(primary.remote('n2', { type: 'step-down', epoch: 0, reason: 'no state' }).sends).toEqual([]);
    expect(primary.state.counters.invalid).toBe(1);
    expect(primary.local({ type: 'step-down', epoch: 3, reason: 'no state' }).sends).toEqual([]);
    expect(primary.state.counters.stale).toBe(1);
    expectSteppedDown(
      primary,
      primary.local({ type: 'step-down', epoch: 0, reason: 'no state' }),
      'no state',
    );
    // A backup asked to step down changes nothing.
    const backup = harness('n2');
    expect(backup.local({ type: 'step-down', epoch: 0, reason: 'no state' }).sends).toEqual([]);
    expect(backup.state.status).toBe('normal');
  });

  // Invariant: a member alone in its configuration does not hand over to itself. It did, and the
  // view it installed made its replica (waiting for a state transfer nobody could send) ask again,
  // in a loop of local messages with no end (replication sweep, passive seed 795).
  it('step-down: a primary alone in its configuration stays, since the next epoch would be its own again', () => {
    const alone = harness('n1', {}, { members: ['n1'] });
    expect(alone.state.status).toBe('normal');
    expect(alone.local({ type: 'step-down', epoch: 0, reason: 'no state' }).sends).toEqual([]);
    expect(alone.state.status).toBe('normal');
    expect(alone.state.epoch).toBe(0);
    expect(alone.state.counters.stepDowns).toBe(0);
    expect(alone.state.counters.stale).toBe(1);
  });

  it('a member drops messages from a node outside its configuration, telling it so', () => {
    const primary = harness('n1');
    const effects = primary.peer('n9', { type: 'prepare-ok', epoch: 0, opNumber: 1 });
    expect(effects.sends).toEqual([
      { target: to('n9'), body: { type: 'new-configuration', configuration: initialConfiguration } },
    ]);
    expect(primary.state.acks).toEqual({});
  });

  it('notify: the local actor hears each installed view as group-view', () => {
    const next = harness('n2', {}, { notify: 'replica' });
    next.peer('n3', { type: 'start-view-change', epoch: 1, configuration: initialConfiguration });
    const installed = next.peer('n3', {
      type: 'do-view-change',
      epoch: 1,
      lastNormalEpoch: 0,
      opNumber: 0,
      commitNumber: 0,
      configuration: initialConfiguration,
      entries: [],
    });
    expect(installed.sends).toContainEqual({
      target: address('n2', 'replica'),
      body: {
        type: 'group-view',
        group: 'g',
        view: { epoch: 1, members: ['n2', 'n3', 'n1'], primary: 'n2' },
      },
    });
  });

  it('remove-member: only from a local actor; the primary proposes the leave, a backup forwards it to the primary', () => {
    const primary = harness('n1');
    expect(primary.remote('n2', { type: 'remove-member', node: 'n3', reason: 'diverged' }).sends).toEqual([]);
    expect(primary.state.counters.invalid).toBe(1);
    const proposed = primary.local({ type: 'remove-member', node: 'n3', reason: 'diverged' });
    expect(bodies(proposed).map((body) => body.type === 'prepare' && body.entry.change)).toEqual([
      { type: 'leave', node: 'n3' },
      { type: 'leave', node: 'n3' },
    ]);
    const backup = harness('n2');
    const forwarded = backup.local({ type: 'remove-member', node: 'n3', reason: 'diverged' });
    expect(forwarded.sends).toEqual([{ target: to('n1'), body: { type: 'leave', node: 'n3' } }]);
    // Retried on each tick until the node is out of the configuration.
    expect(backup.tick().sends).toContainEqual({ target: to('n1'), body: { type: 'leave', node: 'n3' } });
  });
});
