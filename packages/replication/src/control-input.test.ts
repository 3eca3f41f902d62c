/**
 * Control messages and checkpoints a replica cannot read (house rule: bad input is a counted drop,
 * never a crash). Frames are signed, so these come from key holders only, but one may run another
 * version or have a bug; before `control-form.ts`, a state transfer with a malformed bookkeeping
 * threw out of the role's step and stopped the replica actor.
 *
 * Invariants checked:
 * - every control message the replicas write themselves, across a failover with flush and peer
 *   questions and a state transfer, passes the shape checks (so they refuse nothing real);
 * - a malformed state transfer is dropped and counted, and the well-formed one after it is applied;
 * - no message of any control type with arbitrary fields makes a replica's step throw, whatever its
 *   role (primary, backup, recovering during a failover, joining), in either style;
 * - a passive primary takes one checkpoint per pass, and a checkpoint replaced before it left hands
 *   its outputs on, so a backup taking over from the new one resends them.
 */
import fc from 'fast-check';
import { SimulatedClock, entropyFrom } from '@steadfast/runtime';
import { nodeId, type NodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { controlMessageProblem, isApplicationPayload } from './control-form.js';
import { directGroups, expectCaughtUpByStateTransfer } from './direct-groups.test-support.js';
import { receptionPolicy } from './policy.js';
import { ReplicaRole } from './replica.js';
import { ReplicationCluster } from './simulation.js';
import {
  REPLICA_CONTROL_TYPES,
  REPLICATION_PIGGYBACK_KEY,
  type ApplicationPayload,
  type MessageInput,
  type ReplicaControl,
  type ReplicaEffect,
  type ReplicationPiggyback,
  type ReplicationSettings,
  type ReplicationStyle,
} from './types.js';
import { client, ledger, type IssueCommand } from './workload.js';

function ledgerCluster(
  style: ReplicationStyle,
  ledgerSettings?: Partial<ReplicationSettings>,
): ReplicationCluster {
  const cluster = new ReplicationCluster({
    seed: 7,
    network: { latencyMs: [1, 1] },
    groups: directGroups({ style, ...(ledgerSettings === undefined ? {} : { ledgerSettings }) }),
  });
  cluster.start();
  cluster.runUntil(300);
  return cluster;
}

function issue(cluster: ReplicationCluster, key: string): void {
  const body: IssueCommand = { type: 'issue', key, target: 'B', priority: 0, deadlineMs: 0 };
  cluster.input(nodeId('c1'), { type: 'external', body });
}

/** Issues requests `r1` … `r<count>` 5 ms apart (one pass each), then runs a second more. */
function issueSpaced(cluster: ReplicationCluster, count: number): void {
  for (let index = 1; index <= count; index++) {
    issue(cluster, `r${index}`);
    cluster.runUntil(cluster.clock.now() + 5);
  }
  cluster.runUntil(cluster.clock.now() + 1_000);
}

function replica(self: string, style: ReplicationStyle, joining: boolean): ReplicaRole {
  return new ReplicaRole(
    {
      group: 'B',
      self: nodeId(self),
      incarnation: 1,
      behavior: ledger,
      style,
      policy: receptionPolicy,
      peers: [{ group: 'C', contacts: [nodeId('c1')] }],
      joining,
    },
    { clock: new SimulatedClock(), entropy: entropyFrom(() => 0.5) },
  );
}

/** A primary b1 and a joining b4 in one view; the primary's answer to b4's request for the state. */
function stateTransfer(style: ReplicationStyle): {
  primary: ReplicaRole;
  joiner: ReplicaRole;
  state: ReplicaControl;
} {
  const view = { group: 'B', epoch: 1, members: [nodeId('b1'), nodeId('b4')], primary: nodeId('b1') };
  const primary = replica('b1', style, false);
  const joiner = replica('b4', style, true);
  primary.step({ type: 'view-installed', view });
  joiner.step({ type: 'view-installed', view });
  const effects = primary.step({
    type: 'control',
    from: nodeId('b4'),
    message: { type: 'rep-state-request', group: 'B', incarnation: 1 },
  });
  const sent = effects.find((effect) => effect.type === 'control-send');
  if (sent?.type !== 'control-send') throw new Error('the primary sent no state');
  return { primary, joiner, state: sent.message };
}

describe('the shape checks of control messages', () => {
  for (const style of ['semi-active', 'passive'] as const)
    it(`accept every control message ${style} replicas write across a failover and a state transfer`, () => {
      const cluster = ledgerCluster(style);
      const written: ReplicaControl[] = [];
      cluster.hook = (_node, _role, _input, effects) => {
        for (const effect of effects) if (effect.type === 'control-send') written.push(effect.message);
        return { type: 'continue' };
      };
      issue(cluster, 'r1');
      issue(cluster, 'r2');
      cluster.runUntil(320);
      cluster.crash(nodeId('b1'));
      cluster.runUntil(800);
      written.push(stateTransfer(style).state);
      const types = new Set(written.map((message) => message.type));
      expect([...types].sort()).toEqual(
        [
          'rep-flush-reply',
          'rep-flush-request',
          'rep-peer-order-reply',
          'rep-peer-order-request',
          'rep-state',
        ].sort(),
      );
      for (const message of written) expect(controlMessageProblem(message)).toBeUndefined();
    });

  it('name what is wrong', () => {
    const { state } = stateTransfer('passive');
    const broken = (change: (message: Record<string, unknown>) => void) => {
      const copy = structuredClone(state) as unknown as Record<string, unknown>;
      change(copy);
      return controlMessageProblem(copy);
    };
    expect(broken(() => {})).toBeUndefined();
    expect(broken((m) => ((m.checkpoint as { bookkeeping: unknown }).bookkeeping = 5))).toBe(
      'rep-state: a malformed checkpoint',
    );
    expect(broken((m) => (m.inputs = [null]))).toBe('rep-state: a malformed input');
    expect(broken((m) => (m.peerBases = { C: 3 }))).toBe('rep-state: malformed peer bases');
    expect(broken((m) => (m.incarnation = '1'))).toBe('rep-state: incarnation is not an integer');
    expect(broken((m) => (m.joining = -1))).toBe('rep-state: joining is not a count');
    expect(
      controlMessageProblem({ type: 'rep-state-request', group: 'B', incarnation: 1, joining: 'x' }),
    ).toBe('rep-state-request: joining is not a count');
    expect(broken((m) => (m.type = 'rep-newer'))).toBe('unknown control message type rep-newer');
    expect(
      controlMessageProblem({
        type: 'rep-flush-reply',
        group: 'B',
        epoch: 2,
        position: 3,
        entries: [
          { position: 4, input: { type: 'message', source: 'C', channel: 1, sentEpoch: 1 }, values: [] },
        ],
        inputs: [],
      }),
    ).toBe('rep-flush-reply: a malformed entry');
    expect(controlMessageProblem({ type: 'rep-input-request', group: 'B', position: 1.5 })).toBe(
      'rep-input-request: position is not an integer',
    );
    // A named request must name its copy whole: a message input with its epoch and position.
    const named = { type: 'message', source: 'C', channel: 1, sentEpoch: 1, sentAt: 2 };
    expect(
      controlMessageProblem({ type: 'rep-input-request', group: 'B', position: 2, input: named }),
    ).toBeUndefined();
    for (const input of [{ ...named, sentAt: undefined }, { type: 'start' }, 'C#1'])
      expect(controlMessageProblem({ type: 'rep-input-request', group: 'B', position: 2, input })).toBe(
        'rep-input-request: the input is not a message named with its epoch and position',
      );
    expect(controlMessageProblem({ type: 'rep-entries', group: 'B', epoch: 1, after: 2, entries: [] })).toBe(
      'rep-entries: kept is not a boolean',
    );
    expect(
      controlMessageProblem({
        type: 'rep-entries',
        group: 'B',
        epoch: 1,
        after: 2,
        kept: true,
        entries: [3],
      }),
    ).toBe('rep-entries: a malformed entry');
    expect(controlMessageProblem({ type: 'rep-entries-request', group: 'B', epoch: 1 })).toBe(
      'rep-entries-request: after is not an integer',
    );
    expect(controlMessageProblem(null)).toBe('not a record');
  });
});

describe('a named input request', () => {
  // Invariant: a replica answers a new primary's request for the input of a position with the very
  // copy the request names (source, channel, the epoch and position it was sent from), whatever its
  // own role, and says nothing when it holds only another copy of that channel. It is how a flush
  // gets an input that only a member which is not the primary still holds (seed 5690).
  it('is answered with the named copy only', () => {
    const cluster = ledgerCluster('semi-active');
    let copy: ApplicationPayload | undefined;
    const answers: ReplicaControl[] = [];
    cluster.hook = (node, _role, input, effects) => {
      if (node === 'b2' && input.type === 'packet')
        for (const message of input.packet.data)
          if (isApplicationPayload(message.payload) && message.payload.source === 'C')
            copy ??= message.payload;
      if (node === 'b2')
        for (const effect of effects)
          if (effect.type === 'control-send' && effect.message.type === 'rep-input-reply')
            answers.push(effect.message);
      return { type: 'continue' };
    };
    issue(cluster, 'r1');
    cluster.runUntil(320);
    if (copy === undefined) throw new Error('b2 received no request from the client group');
    const name: MessageInput = {
      type: 'message',
      source: copy.source,
      channel: copy.channel,
      sentEpoch: copy.epoch,
      sentAt: copy.position,
    };
    const ask = (input: MessageInput) =>
      cluster.input(nodeId('b2'), {
        type: 'control',
        from: nodeId('b3'),
        message: { type: 'rep-input-request', group: 'B', position: 2, input },
      });
    ask({ ...name, sentAt: name.sentAt! + 1 });
    ask({ ...name, sentEpoch: name.sentEpoch! + 1 });
    expect(answers).toEqual([]);
    ask(name);
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ type: 'rep-input-reply', group: 'B', position: 2 });
    expect((answers[0] as { input: { payload: ApplicationPayload } }).input.payload).toEqual(copy);
  });
});

/**
 * A ledger cluster whose backup b2 gets nothing of the client's stream: not from c1, and not
 * retransmitted by b1 or b3. With `unstamped`, b1's entries name the client's messages as a
 * primary that took them from a flush answer does (epoch 0).
 */
function starvedBackupCluster(
  unstamped: boolean,
  ledgerSettings?: Partial<ReplicationSettings>,
): { cluster: ReplicationCluster; renamed: () => number } {
  const cluster = ledgerCluster('semi-active', ledgerSettings);
  cluster.block('c1', 'b2');
  cluster.block('b3', 'b2');
  let renamed = 0;
  cluster.hook = (node, _role, _input, effects) => {
    if (node !== nodeId('b1')) return { type: 'continue' };
    const sends = effects as ReplicaEffect[];
    sends.forEach((effect, index) => {
      if (effect.type !== 'send') return;
      const data = effect.packet.data
        .filter((message) => effect.target !== nodeId('b2') || message.id.origin !== nodeId('c1'))
        .map((message) => {
          const rep = message.piggyback?.[REPLICATION_PIGGYBACK_KEY] as ReplicationPiggyback | undefined;
          if (!unstamped || rep?.order === undefined) return message;
          const entries = rep.order.entries.map((entry) => {
            if (entry.input.type !== 'message' || entry.input.source !== 'C') return entry;
            renamed++;
            return { ...entry, input: { ...entry.input, sentEpoch: 0 } };
          });
          const order = { ...rep.order, entries };
          return {
            ...message,
            piggyback: { ...message.piggyback, [REPLICATION_PIGGYBACK_KEY]: { ...rep, order } },
          };
        });
      sends[index] = { ...effect, packet: { ...effect.packet, data } };
    });
    return { type: 'continue' };
  };
  return { cluster, renamed: () => renamed };
}

describe("a primary's answer to a backup's request for the order", () => {
  // Invariant: only a backup that noted a gap in its announcements and asked starts over when its
  // primary says it no longer keeps the entry (`fell-behind`); the same answer reaching a backup
  // that follows its primary changes nothing, in either style.
  it.each(['semi-active', 'passive'] as const)('changes nothing at a %s backup that did not ask', (style) => {
    const cluster = ledgerCluster(style);
    issue(cluster, 'r1');
    cluster.runUntil(400);
    const backup = cluster.role('b2');
    const position = backup.position;
    const message: ReplicaControl = {
      type: 'rep-entries',
      group: 'B',
      epoch: 1,
      after: position,
      kept: false,
      entries: [],
    };
    cluster.input(nodeId('b2'), { type: 'control', from: nodeId('b1'), message });
    cluster.runUntil(600);
    expect(backup.role).toBe('backup');
    expect(backup.counters.fellBehind).toBe(0);
    expect(backup.counters.rejoins).toBe(0);
    expect(backup.counters.controlMessagesDropped).toBe(0);
  });
});

describe('an entry naming an unstamped copy', () => {
  // Invariant: a backup that cannot process an entry naming an unstamped copy (epoch 0: its primary
  // got the message from a peer member's flush answer, not from the connection) asks its primary
  // for it at once, and follows. Sweep seed 10993: the peer group then lost its state, no
  // connection ever delivered the message, and the backup waited at that position for good.
  it('is fetched from the primary by a backup that never got the message, at once', () => {
    const { cluster, renamed } = starvedBackupCluster(true);
    issue(cluster, 'r1');
    // Well within the safety net's 500 ms: this is the unstamped entry's own rule.
    cluster.runUntil(450);
    const primary = cluster.role('b1');
    const backup = cluster.role('b2');
    expect(renamed()).toBeGreaterThan(0);
    expect(primary.history()).toEqual(['start', 'C#1']);
    expect(backup.counters.inputsAsked).toBeGreaterThan(0);
    expect(backup.counters.stuckInputsAsked).toBe(0);
    expect(backup.history()).toEqual(primary.history());
    expect(backup.digest()).toBe(primary.digest());
  });
});

describe('a backup stopped at one position', () => {
  // Invariant (the safety net under every rule above): a semi-active backup that waits 500 ms at
  // one position for an input no rule asked for asks its primary, and follows; before that it
  // waits for the connection, as a message normally comes within tens of milliseconds. An answer
  // that is lost is asked for again, in a group that sends nothing more too: the backup looks on a
  // timer of its own, not only after its inputs.
  it('asks its primary for the input after 500 ms, whatever the reason it lacks it', () => {
    const { cluster } = starvedBackupCluster(false);
    issue(cluster, 'r1');
    cluster.runUntil(450);
    const primary = cluster.role('b1');
    const backup = cluster.role('b2');
    expect(primary.history()).toEqual(['start', 'C#1']);
    expect(backup.history()).toEqual(['start']);
    expect(backup.counters.inputsAsked).toBe(0);
    cluster.runUntil(1_200);
    expect(backup.counters.stuckInputsAsked).toBe(1);
    expect(backup.history()).toEqual(primary.history());
    expect(backup.digest()).toBe(primary.digest());
  });

  it('asks again when the answer is lost, with no request after the one it lacks', () => {
    // b1's answer to the first ask goes into the void. No request follows r1, so only the ask
    // again brings the input: c1's copy never reaches b2, and b1 keeps its retransmissions from it.
    const { cluster } = starvedBackupCluster(false);
    issue(cluster, 'r1');
    const backup = cluster.role('b2');
    cluster.runUntil(450);
    cluster.block('b1', 'b2');
    cluster.runUntil(2_000, () => backup.counters.stuckInputsAsked > 0);
    expect(backup.counters.inputsAsked).toBe(1);
    cluster.runUntil(cluster.clock.now() + 50);
    expect(backup.history()).toEqual(['start']);
    cluster.unblock('b1', 'b2');
    cluster.runUntil(cluster.clock.now() + 1_000);
    expect(backup.counters.stuckInputsAsked).toBe(1);
    expect(backup.counters.inputsAsked).toBeGreaterThanOrEqual(2);
    expect(backup.counters.inputsFetched).toBe(1);
    expect(backup.history()).toEqual(cluster.role('b1').history());
    expect(backup.digest()).toBe(cluster.role('b1').digest());
  });

  it.each([500, 0])(
    'looks on its own timer when no input comes, and asks again on it (stuckAskMs %i)',
    (stuckAskMs) => {
      // A backup alone with its primary's entry for position 2, whose input it never gets: after
      // the entry, only the backup's timers reach it. With the net off it sets none and asks nothing.
      const clock = new SimulatedClock();
      const backup = new ReplicaRole(
        {
          group: 'B',
          self: nodeId('b2'),
          incarnation: 1,
          behavior: ledger,
          style: 'semi-active',
          policy: receptionPolicy,
          peers: [{ group: 'C', contacts: [nodeId('c1')] }],
          joining: false,
          settings: { stuckAskMs },
        },
        { clock, entropy: entropyFrom(() => 0.5) },
      );
      const members = [nodeId('b1'), nodeId('b2')];
      backup.step({ type: 'view-installed', view: { group: 'B', epoch: 1, members, primary: members[0]! } });
      const input: MessageInput = { type: 'message', source: 'C', channel: 1, sentEpoch: 1, sentAt: 2 };
      const stuckTimers: number[] = [];
      const asked: number[] = [];
      const note = (effects: readonly ReplicaEffect[]) => {
        for (const effect of effects) {
          if (effect.type === 'set-timer' && effect.name === 'rep:nets') stuckTimers.push(effect.delayMs);
          if (effect.type === 'control-send' && effect.message.type === 'rep-input-request')
            asked.push(clock.now());
        }
      };
      note(
        backup.step({
          type: 'control',
          from: nodeId('b1'),
          message: {
            type: 'rep-entries',
            group: 'B',
            epoch: 1,
            after: backup.position,
            kept: true,
            entries: [{ position: backup.position + 1, input, values: [] }],
          },
        }),
      );
      expect(backup.backlog().announced).toBe(1);
      // The host's part: each timer the backup sets fires as its input when due, with the time.
      while (stuckTimers.length > 0) {
        const dueMs = clock.now() + stuckTimers.shift()!;
        if (dueMs > 1_600) break;
        clock.runUntil(dueMs);
        note(backup.step({ type: 'timer', name: 'rep:nets' }, clock.now()));
      }
      if (stuckAskMs === 0) {
        expect(asked).toEqual([]);
        return;
      }
      expect(asked).toEqual([500, 1_000, 1_500]);
      expect(backup.counters.stuckInputsAsked).toBe(1);
      expect(backup.counters.inputsAsked).toBe(3);
    },
  );

  it('starts over by state transfer when its primary no longer keeps the input', () => {
    // The primary keeps the entries of its last 8 positions (4 × announceBatchMax): by the time b2
    // asks for r1's input, 500 ms on, the primary is 11 positions further. Before it said so, it
    // did not answer, and b2 asked ten times a second for good.
    const { cluster } = starvedBackupCluster(false, { announceBatchMax: 2 });
    for (let index = 1; index <= 12; index++) {
      issue(cluster, `r${index}`);
      cluster.runUntil(cluster.clock.now() + 5);
    }
    cluster.runUntil(cluster.clock.now() + 1_500);
    const primary = cluster.role('b1');
    const backup = cluster.role('b2');
    expect(primary.position).toBeGreaterThan(10);
    expect(backup.counters.stuckInputsAsked).toBe(1);
    expectCaughtUpByStateTransfer(primary, backup);
    expect(backup.digest()).toBe(primary.digest());
  });

  it('asks after stuckAskMs, as set, and never with stuckAskMs 0 (the sweeps turn the net off so)', () => {
    const early = starvedBackupCluster(false, { stuckAskMs: 200 }).cluster;
    issue(early, 'r1');
    early.runUntil(650);
    expect(early.role('b2').counters.stuckInputsAsked).toBe(1);
    expect(early.role('b2').history()).toEqual(early.role('b1').history());

    const off = starvedBackupCluster(false, { stuckAskMs: 0 }).cluster;
    issue(off, 'r1');
    off.runUntil(3_000);
    // Every other rule still holds: this starved backup needs the net, so it stays behind.
    expect(off.role('b2').counters.stuckInputsAsked).toBe(0);
    expect(off.role('b2').counters.inputsAsked).toBe(0);
    expect(off.role('b2').history()).toEqual(['start']);
    expect(off.role('b1').history()).toEqual(['start', 'C#1']);
  });
});

describe('a joining replica', () => {
  for (const style of ['semi-active', 'passive'] as const)
    it(`drops malformed state transfers, counted, and applies the well-formed one after them (${style})`, () => {
      const { primary, joiner, state } = stateTransfer(style);
      const corruptions: ((message: Record<string, unknown>) => void)[] = [
        (m) => ((m.checkpoint as { bookkeeping: { processed: unknown } }).bookkeeping.processed = 5),
        (m) => (m.inputs = [null]),
        (m) => (m.outputs = [{ connection: 'B<->C' }]),
        (m) => (m.peerBases = { C: 3 }),
      ];
      for (const corrupt of corruptions) {
        const copy = structuredClone(state) as unknown as Record<string, unknown>;
        corrupt(copy);
        joiner.step({ type: 'control', from: nodeId('b1'), message: copy as unknown as ReplicaControl });
      }
      expect(joiner.counters.controlMessagesDropped).toBe(corruptions.length);
      expect(joiner.role).toBe('joining');
      joiner.step({ type: 'control', from: nodeId('b1'), message: state });
      expect(joiner.counters.stateTransfersApplied).toBe(1);
      expect(joiner.role).toBe('backup');
      expect(joiner.digest()).toBe(primary.digest());
    });
});

describe('a replica that joins again', () => {
  // Invariant: a joiner applies only an answer to its current joining. One that answers an earlier
  // joining of the same incarnation (delayed past its being taken out and added back) may stand
  // before positions whose announcements it skipped since, which no one sends again.
  for (const style of ['semi-active', 'passive'] as const)
    it(`ignores a state transfer that answers its earlier joining, counted, and applies its current one's (${style})`, () => {
      const { primary, joiner } = stateTransfer(style);
      const answer = (joining: number): ReplicaControl => {
        const effects = primary.step({
          type: 'control',
          from: nodeId('b4'),
          message: { type: 'rep-state-request', group: 'B', incarnation: 1, joining },
        });
        const sent = effects.find((effect) => effect.type === 'control-send');
        if (sent?.type !== 'control-send') throw new Error('the primary sent no state');
        expect(sent.message).toMatchObject({ type: 'rep-state', joining });
        return sent.message;
      };
      const first = answer(1);
      joiner.step({ type: 'control', from: nodeId('b1'), message: first });
      expect(joiner.role).toBe('backup');
      // Taken out of the group, then added back: it joins again, a second time.
      for (const [epoch, members] of [
        [2, ['b1']],
        [3, ['b1', 'b4']],
      ] as const) {
        const view = {
          group: 'B',
          epoch,
          members: members.map((member) => nodeId(member)),
          primary: nodeId('b1'),
        };
        primary.step({ type: 'view-installed', view });
        joiner.step({ type: 'view-installed', view });
      }
      expect(joiner.role).toBe('joining');
      joiner.step({ type: 'control', from: nodeId('b1'), message: first });
      expect(joiner.counters.stateTransfersStale).toBe(1);
      expect(joiner.counters.stateTransfersApplied).toBe(1);
      expect(joiner.role).toBe('joining');
      joiner.step({ type: 'control', from: nodeId('b1'), message: answer(2) });
      expect(joiner.counters.stateTransfersApplied).toBe(2);
      expect(joiner.role).toBe('backup');
      expect(joiner.digest()).toBe(primary.digest());
    });
});

/**
 * Records the position of every checkpoint `node` sends from now on (whole, or in parts when larger
 * than half a piggyback), with the simulated time it left.
 */
function checkpointsSentBy(cluster: ReplicationCluster, node: string): { position: number; atMs: number }[] {
  const carried: { position: number; atMs: number }[] = [];
  cluster.hook = (stepped, _role, _input, effects) => {
    if (stepped !== nodeId(node)) return { type: 'continue' };
    for (const effect of effects) {
      if (effect.type !== 'send') continue;
      for (const message of effect.packet.data) {
        const rep = message.piggyback?.[REPLICATION_PIGGYBACK_KEY] as ReplicationPiggyback | undefined;
        const position = rep?.checkpoint?.position ?? rep?.checkpointPart?.position;
        if (position !== undefined) carried.push({ position, atMs: cluster.clock.now() });
      }
    }
    return { type: 'continue' };
  };
  return carried;
}

describe("a passive primary's checkpoints", () => {
  // Invariant: a pass that reaches several multiples of `checkpointEvery` takes one checkpoint, at
  // its last position, and the backups apply it: a checkpoint taken at each multiple was replaced
  // before it left, after the whole state had been copied and serialized for it.
  it('are taken once per pass, at its last position, however many multiples of checkpointEvery it reached', () => {
    const cluster = ledgerCluster('passive');
    const carried = checkpointsSentBy(cluster, 'b1');
    const primary = cluster.role('b1');
    const before = primary.counters.checkpointsSent;
    const from = primary.position;
    // Twenty requests at once: the client sends them in one packet, the primary orders them in
    // one pass, through two multiples of 8.
    for (let index = 1; index <= 20; index++) issue(cluster, `r${index}`);
    cluster.runUntil(1_000);
    expect(primary.position).toBe(from + 20);
    expect(Math.floor(primary.position / 8) - Math.floor(from / 8)).toBeGreaterThanOrEqual(2);
    expect(primary.counters.checkpointsSent - before).toBe(1);
    expect(new Set(carried.map((sent) => sent.position))).toEqual(new Set([primary.position]));
    for (const backup of ['b2', 'b3'].map((name) => cluster.role(name))) {
      expect(backup.counters.checkpointsApplied).toBeGreaterThan(0);
      expect(backup.coverage()).toBe(primary.position);
    }
  });
  // Invariant: a checkpoint, whole or in parts, reaches every backup and no member of the peer
  // group (which never reads one: only its own group's backups apply it); the backups still apply
  // the primary's checkpoints, and the client still gets each reply once.
  it('reach the backups and never the peer group, whole or in parts', () => {
    for (const piggybackCharsMax of [undefined, 400]) {
      const cluster = ledgerCluster('passive', {
        checkpointEvery: 1,
        checkpointIntervalMs: 0,
        ...(piggybackCharsMax === undefined ? {} : { piggybackCharsMax }),
      });
      const carriedTo = { backups: 0, peers: 0 };
      cluster.hook = (node, _role, _input, effects) => {
        if (node !== nodeId('b1')) return { type: 'continue' };
        for (const effect of effects as ReplicaEffect[]) {
          if (effect.type !== 'send') continue;
          for (const message of effect.packet.data) {
            const rep = message.piggyback?.[REPLICATION_PIGGYBACK_KEY] as ReplicationPiggyback | undefined;
            if (rep?.checkpoint === undefined && rep?.checkpointPart === undefined) continue;
            if (effect.target === nodeId('c1')) carriedTo.peers++;
            else carriedTo.backups++;
          }
        }
        return { type: 'continue' };
      };
      const primary = cluster.role('b1');
      const before = primary.counters.checkpointsSent;
      issueSpaced(cluster, 10);
      const label = `piggybackCharsMax ${piggybackCharsMax ?? 'default'}`;
      // One per pass whole; in parts, a checkpoint partly sent is finished before the next is taken.
      expect(primary.counters.checkpointsSent - before, label).toBe(piggybackCharsMax === undefined ? 10 : 4);
      if (piggybackCharsMax !== undefined) expect(primary.counters.checkpointParts, label).toBeGreaterThan(0);
      expect(carriedTo.backups, label).toBeGreaterThan(0);
      expect(carriedTo.peers, label).toBe(0);
      for (const backup of ['b2', 'b3'].map((name) => cluster.role(name))) {
        expect(backup.counters.checkpointsApplied, label).toBeGreaterThan(0);
        expect(backup.coverage(), label).toBe(primary.position);
      }
      const replies = (cluster.role('c1').actorState() as { replies: Record<string, number[]> }).replies;
      for (let index = 1; index <= 10; index++) expect(replies[`r${index}`], label).toHaveLength(1);
    }
  });

  // Invariant: a backup that gets a checkpoint's carrying message without the checkpoint (the copy
  // a peer member holds, retransmitted to it) skips that checkpoint and keeps its log; taking over
  // from its older checkpoint, it replays the log, and each request is applied and answered once.
  it("missed by a backup (a peer member's copy of the message) leave it its log to take over from", () => {
    const cluster = ledgerCluster('passive', { checkpointEvery: 1, checkpointIntervalMs: 0 });
    const [primary, missing, complete] = ['b1', 'b2', 'b3'].map((name) => cluster.role(name));
    const from = primary!.position;
    // After the first three requests, b1's copies to b2 carry no checkpoint, as a client's would not.
    cluster.hook = (node, _role, _input, effects) => {
      if (node !== nodeId('b1') || primary!.position < from + 3) return { type: 'continue' };
      const sends = effects as ReplicaEffect[];
      sends.forEach((effect, index) => {
        if (effect.type !== 'send' || effect.target !== nodeId('b2')) return;
        const data = effect.packet.data.map((message) => {
          const rep = message.piggyback?.[REPLICATION_PIGGYBACK_KEY] as ReplicationPiggyback | undefined;
          if (rep?.checkpoint === undefined && rep?.checkpointPart === undefined) return message;
          const { checkpoint: _checkpoint, checkpointPart: _part, ...rest } = rep;
          return { ...message, piggyback: { ...message.piggyback, [REPLICATION_PIGGYBACK_KEY]: rest } };
        });
        sends[index] = { ...effect, packet: { ...effect.packet, data } };
      });
      return { type: 'continue' };
    };
    issueSpaced(cluster, 10);
    expect(missing!.counters.checkpointsApplied).toBeGreaterThan(0);
    expect(missing!.counters.checkpointsApplied).toBeLessThan(complete!.counters.checkpointsApplied);
    expect(missing!.coverage()).toBe(primary!.position);
    cluster.crash(nodeId('b1'));
    cluster.runUntil(cluster.clock.now() + 1_000);
    expect(missing!.role).toBe('primary');
    for (const key of ['r11', 'r12', 'r13']) issue(cluster, key);
    cluster.runUntil(cluster.clock.now() + 1_000);
    const replies = (cluster.role('c1').actorState() as { replies: Record<string, number[]> }).replies;
    for (let index = 1; index <= 13; index++) expect(replies[`r${index}`], `r${index}`).toHaveLength(1);
    // The ledger applied each request once; the other backup's checkpoint and log reach its position.
    const ledger = (missing!.actorState() as { context: { total: number; applied: Record<string, number> } })
      .context;
    expect(ledger.total).toBe(13);
    expect(Object.values(ledger.applied)).toEqual(new Array<number>(13).fill(1));
    expect(complete!.coverage()).toBe(missing!.position);
  });

  // Invariant: a passive primary takes at most one checkpoint per `checkpointIntervalMs` of its
  // clock, unless a quarter of `inputsMax` positions passed since the last one; the backups still
  // cover its position with the checkpoints it takes.
  it('are taken at most once per checkpointIntervalMs, or once a quarter of inputsMax positions passed', () => {
    const taken = (settings: Partial<ReplicationSettings>) => {
      const cluster = ledgerCluster('passive', { checkpointEvery: 1, ...settings });
      const primary = cluster.role('b1');
      const before = primary.counters.checkpointsSent;
      // Twenty requests 5 ms apart: twenty passes in 100 ms, each at a multiple of 1.
      issueSpaced(cluster, 20);
      for (const backup of ['b2', 'b3'].map((name) => cluster.role(name)))
        expect(backup.counters.checkpointsApplied).toBeGreaterThan(0);
      return primary.counters.checkpointsSent - before;
    };
    expect(taken({ checkpointIntervalMs: 0 })).toBe(20);
    // One per 30 ms over the 100 ms of load, and one when the interval after the last ends.
    const paced = taken({ checkpointIntervalMs: 30 });
    expect(paced).toBeGreaterThanOrEqual(4);
    expect(paced).toBeLessThanOrEqual(5);
    // An interval longer than the run: only the log's bound (16 / 4 = 4 positions) takes them.
    expect(taken({ checkpointIntervalMs: 60_000, inputsMax: 16 })).toBe(5);
  });

  // Invariant: a checkpoint that waits for the interval's end is taken then even if no pass
  // comes: when the load stops, the backups' checkpoint reaches the primary's last position
  // within the interval, so their logs (and the positions a new primary replays) stay short.
  it('waiting for the interval, are taken at its end when the load stops', () => {
    const cluster = ledgerCluster('passive', { checkpointEvery: 1, checkpointIntervalMs: 40 });
    const carried = checkpointsSentBy(cluster, 'b1');
    const primary = cluster.role('b1');
    // Three requests 5 ms apart, then nothing: the first pass takes a checkpoint, the next two are
    // within its interval.
    const startMs = cluster.clock.now();
    for (const key of ['r1', 'r2', 'r3']) {
      issue(cluster, key);
      cluster.runUntil(cluster.clock.now() + 5);
    }
    cluster.runUntil(startMs + 200);
    const last = carried.find((sent) => sent.position === primary.position);
    expect(last).toBeDefined();
    // Within the interval after the first pass's checkpoint, plus a null message's delay.
    expect(last!.atMs - carried[0]!.atMs).toBeLessThanOrEqual(40 + 2 + 1);
    for (const backup of ['b2', 'b3'].map((name) => cluster.role(name)))
      expect(backup.counters.checkpointsApplied).toBe(primary.counters.checkpointsSent);
  });

  // Invariant: a checkpoint replaced before it left hands its outputs on to the one that replaces
  // it. A passive backup that takes over from that checkpoint resends its outputs the old primary
  // had not sent, and each request still gets exactly one reply. Without the hand-on, the output
  // of the replaced checkpoint's pass is in no checkpoint a backup holds and at no position it
  // replays: its request is never answered. And the resends of the new epoch reach D behind that
  // epoch's basis (`copiesAheadOfBasis` 0 at d1): the new primary attaches its bases before it
  // resends, so they ride on the first message of the connection. With the two calls the other way
  // round (the order before 2026-11-25), d1 counts 1: the first resend left bare.
  it('hand the outputs of a checkpoint replaced before it left on to the one that replaces it', () => {
    const cluster = new ReplicationCluster({
      seed: 7,
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
          group: 'D',
          members: ['d1'],
          behavior: client,
          style: 'semi-active',
          policy: receptionPolicy,
          peers: ['B'],
        },
        {
          group: 'B',
          members: ['b1', 'b2', 'b3'],
          behavior: ledger,
          style: 'passive',
          policy: receptionPolicy,
          peers: ['C', 'D'],
          // A checkpoint every pass (no interval); a window of one message on each connection, so D's replies
          // wait behind the first one; a null message 5 ms after a pass, and the own group's
          // packets sent at once, so the crash below reaches the backups with it.
          settings: {
            checkpointEvery: 1,
            checkpointIntervalMs: 0,
            announceDelayMs: 5,
            connection: { windowMax: 1, ownGroupDelayMs: 0 },
          },
        },
      ],
    });
    cluster.start();
    cluster.runUntil(300);
    const from = cluster.role('b1').position;
    // d1's three requests reach b1 1 ms apart, one pass each. r1's reply fills the window to D;
    // r2's pass takes a checkpoint that cannot leave (its only message would be r2's reply); r3's
    // pass replaces it. The null message that carries r3's checkpoint goes on the connection to C,
    // whose window is free; b1 crashes once the backups have it, before r2's and r3's replies left.
    let carried: readonly string[] | undefined;
    cluster.hook = (node, _role, _input, effects) => {
      if (node !== nodeId('b1') || carried !== undefined) return { type: 'continue' };
      for (const effect of effects as ReplicaEffect[]) {
        if (effect.type !== 'send') continue;
        for (const message of effect.packet.data) {
          const checkpoint = (
            message.piggyback?.[REPLICATION_PIGGYBACK_KEY] as ReplicationPiggyback | undefined
          )?.checkpoint;
          if (message.kind !== 'null' || checkpoint?.position !== from + 3) continue;
          carried = checkpoint.outputs.map((output) => (output.payload.body as { key: string }).key);
          return { type: 'crash-after-own-group' };
        }
      }
      return { type: 'continue' };
    };
    for (const key of ['r1', 'r2', 'r3']) {
      const body: IssueCommand = { type: 'issue', key, target: 'B', priority: 0, deadlineMs: 0 };
      cluster.input(nodeId('d1'), { type: 'external', body });
      cluster.runUntil(cluster.clock.now() + 1);
    }
    cluster.runUntil(cluster.clock.now() + 3_000);
    expect(carried).toEqual(['r2', 'r3']);
    const promoted = ['b2', 'b3'].map((name) => cluster.role(name)).find((role) => role.role === 'primary');
    expect(promoted?.counters.outputsResent).toBe(2);
    const replies = (cluster.role('d1').actorState() as { replies: Record<string, number[]> }).replies;
    expect(replies).toEqual({ r1: [1], r2: [2], r3: [3] });
    expect(cluster.role('d1').counters.copiesAheadOfBasis).toBe(0);
  });
});

describe('a malformed checkpoint on the connection', () => {
  it('is dropped and counted by the passive backups, which take the next one', () => {
    const cluster = ledgerCluster('passive');
    let corrupted: number | undefined;
    // The primary's first checkpoint reaches both backups with a bookkeeping of the wrong type.
    cluster.hook = (node, _role, _input, effects) => {
      if (node !== nodeId('b1')) return { type: 'continue' };
      const sends = effects as ReplicaEffect[];
      sends.forEach((effect, index) => {
        if (effect.type !== 'send') return;
        const data = effect.packet.data.map((message) => {
          const rep = message.piggyback?.[REPLICATION_PIGGYBACK_KEY] as ReplicationPiggyback | undefined;
          const checkpoint = rep?.checkpoint;
          if (checkpoint === undefined || (corrupted ?? checkpoint.position) !== checkpoint.position)
            return message;
          corrupted = checkpoint.position;
          const bad = { ...checkpoint, bookkeeping: 5 };
          return {
            ...message,
            piggyback: { ...message.piggyback, [REPLICATION_PIGGYBACK_KEY]: { ...rep, checkpoint: bad } },
          };
        });
        sends[index] = { ...effect, packet: { ...effect.packet, data } };
      });
      return { type: 'continue' };
    };
    // One request every 5 ms: a checkpoint every `checkpointEvery` (8) positions.
    for (let index = 1; index <= 30; index++) {
      issue(cluster, `r${index}`);
      cluster.runUntil(300 + 5 * index);
    }
    cluster.runUntil(2_000);
    expect(corrupted).toBeDefined();
    const primary = cluster.role('b1');
    for (const backup of ['b2', 'b3'].map((name) => cluster.role(name))) {
      expect(backup.counters.checkpointsDropped).toBe(1);
      expect(backup.counters.checkpointsApplied).toBeGreaterThan(0);
      expect(backup.coverage()).toBe(primary.position);
    }
  });
});

describe('malformed fields in a piggyback', () => {
  it('are skipped and counted; the rest of the piggyback and the message are still handled', () => {
    const cluster = ledgerCluster('semi-active');
    let corrupted = 0;
    // The first three messages of b1 that announce its order also carry bases and a checkpoint
    // part of the wrong types.
    cluster.hook = (node, _role, _input, effects) => {
      if (node !== nodeId('b1')) return { type: 'continue' };
      const sends = effects as ReplicaEffect[];
      const carriers = new Set<unknown>();
      sends.forEach((effect, index) => {
        if (effect.type !== 'send' || corrupted >= 3) return;
        const data = effect.packet.data.map((message) => {
          const rep = message.piggyback?.[REPLICATION_PIGGYBACK_KEY] as ReplicationPiggyback | undefined;
          if (rep?.order === undefined) return message;
          carriers.add(message.id.sequence);
          const bad = { ...rep, bases: null, checkpointPart: 7 };
          return { ...message, piggyback: { ...message.piggyback, [REPLICATION_PIGGYBACK_KEY]: bad } };
        });
        sends[index] = { ...effect, packet: { ...effect.packet, data } };
      });
      corrupted += carriers.size;
      return { type: 'continue' };
    };
    for (let index = 1; index <= 6; index++) {
      issue(cluster, `r${index}`);
      cluster.runUntil(300 + 5 * index);
    }
    cluster.runUntil(1_000);
    expect(corrupted).toBeGreaterThan(0);
    const primary = cluster.role('b1');
    for (const backup of ['b2', 'b3'].map((name) => cluster.role(name))) {
      expect(backup.counters.piggybackFieldsDropped).toBeGreaterThan(0);
      // The order rode beside the bad fields and was followed.
      expect(backup.history()).toEqual(primary.history());
    }
  });
});

// Mostly plausible values (the epochs and positions of the scenario), so that messages get past
// the role and epoch checks to the handlers that read deep; sometimes anything at all.
const small = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: fc.anything() },
);
const list = (item: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.array(item, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.anything() },
  );
const FIELD_NAMES = [
  'position',
  'state',
  'bookkeeping',
  'outputs',
  'kind',
  'payload',
  'epoch',
  'cut',
  'input',
  'values',
];
const loose = fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom(...FIELD_NAMES), fc.anything()));
/** A control message of a random type whose fields are plausible or anything at all. */
const anyControl = fc.record({
  type: fc.constantFrom(...REPLICA_CONTROL_TYPES),
  group: fc.constant('B'),
  epoch: small,
  incarnation: small,
  position: small,
  from: fc.oneof(fc.constantFrom('B', 'C'), small),
  about: fc.oneof(fc.constantFrom('B', 'C'), small),
  after: small,
  kept: fc.oneof(fc.boolean(), fc.anything()),
  entries: list(loose),
  inputs: list(loose),
  held: list(loose),
  outputs: list(loose),
  bases: list(loose),
  checkpoint: loose,
  peerEpochs: fc.oneof(fc.dictionary(fc.constantFrom('C', 'B'), small), fc.anything()),
  peerBases: fc.oneof(fc.dictionary(fc.constantFrom('C', 'B'), list(loose)), fc.anything()),
  input: loose,
  transfer: small,
  count: small,
  index: small,
  bytes: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.anything()),
});
// b2 is the one that takes over.
const member = fc.constantFrom('b1', 'b2', 'b2', 'b2', 'b3');

describe('arbitrary control messages', () => {
  for (const style of ['semi-active', 'passive'] as const)
    it(`never make a ${style} replica throw, serving or while a new primary flushes`, () => {
      let duringFlush = 0;
      fc.assert(
        fc.property(
          fc.array(fc.tuple(member, member, anyControl), { minLength: 1, maxLength: 8 }),
          fc.constantFrom('serving', 'flushing'),
          (messages, moment) => {
            const cluster = ledgerCluster(style);
            issue(cluster, 'r1');
            cluster.runUntil(320);
            if (moment === 'flushing') {
              // b2 takes over from b1 and asks the others (and the client group) what it lacks.
              cluster.crash(nodeId('b1'));
              cluster.runUntil(1_000, () => cluster.role('b2').role === 'recovering');
              if (cluster.role('b2').role === 'recovering') duringFlush++;
            }
            for (const [to, from, message] of messages) {
              const control = message as unknown as ReplicaControl;
              cluster.input(nodeId(to), { type: 'control', from: nodeId(from) as NodeId, message: control });
            }
            cluster.runUntil(1_500);
          },
        ),
        { numRuns: 200 },
      );
      // The flush moment was reached, or this test would not test it.
      expect(duringFlush).toBeGreaterThan(0);
    });

  it('never make a joining replica throw', () => {
    fc.assert(
      fc.property(
        fc.array(
          anyControl.map((message) => ({ ...message, type: 'rep-state', incarnation: 1 })),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        fc.constantFrom('semi-active', 'passive'),
        (messages, style) => {
          const { joiner } = stateTransfer(style as ReplicationStyle);
          for (const message of messages)
            joiner.step({
              type: 'control',
              from: nodeId('b1'),
              message: message as unknown as ReplicaControl,
            });
          expect(joiner.counters.controlMessagesDropped).toBe(messages.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});
