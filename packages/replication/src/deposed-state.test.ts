// A deposed primary's state never becomes a replica's (claims 65, 69: the new primary's order is the
// group's, and a position past its flush's cut was never decided). Each scenario gives the old
// primary b1 a position only it holds (an outside client's one-way input), has b1 fail, and
// delivers b1's state to another replica after the new primary's flush cut below it: as a passive
// checkpoint, as a state transfer to a joiner, or as the only state of a passive replica whose
// first view makes it primary. Invariant: every replica that ends up primary holds exactly the
// decided inputs (r1, r2), never the deposed primary's E. Found by review; each test fails with its
// check taken out (`Checkpoint.epoch` judged by the bases, the transfer's epoch, `fresh`).
import type { Packet } from '@steadfast/group';
import { defineActor } from '@steadfast/runtime';
import { nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { directGroups } from './direct-groups.test-support.js';
import { ReplicationCluster, type ClusterGroup } from './simulation.js';
import type { ReplicaControl, ReplicationStyle } from './types.js';
import type { IssueCommand } from './workload.js';

interface LedgerState {
  readonly total: number;
  readonly applied: Readonly<Record<string, number>>;
}

/** The ledger as a reducer that also takes one-way adds (an outside client's), answering none. */
const oneWayLedger = defineActor<LedgerState>({
  kind: 'test-one-way-ledger',
  initial: () => ({ total: 0, applied: {} }),
  handle(state, input, ctx) {
    if (input.type !== 'message') return state;
    const body = input.envelope.body as { type?: string; key?: string; amount?: number };
    if (body.type !== 'add' || typeof body.key !== 'string') return state;
    const next = {
      total: state.total + (body.amount ?? 1),
      applied: { ...state.applied, [body.key]: (state.applied[body.key] ?? 0) + 1 },
    };
    if (input.envelope.kind !== 'one-way') ctx.reply({ type: 'added', key: body.key, total: next.total });
    return next;
  },
});

function issue(sim: ReplicationCluster, key: string): void {
  const body: IssueCommand = { type: 'issue', key, target: 'B', priority: 0, deadlineMs: 0 };
  sim.input(nodeId('c1'), { type: 'external', body });
}

/** An input only `node` gets: an outside client's one-way add, worth 100. */
function outsideInput(sim: ReplicationCluster, node: string): void {
  sim.input(nodeId(node), { type: 'external', body: { type: 'add', key: 'E', amount: 100 } });
}

function applied(sim: ReplicationCluster, node: string): Readonly<Record<string, number>> {
  return (sim.role(node).actorState() as LedgerState).applied;
}

/** Group B of `style` running `oneWayLedger`, with 1 ms links, seed 1. */
function cluster(style: ReplicationStyle, ledgerSettings?: ClusterGroup['settings']): ReplicationCluster {
  return new ReplicationCluster({
    seed: 1,
    network: { latencyMs: [1, 1] },
    groups: directGroups({
      style,
      behavior: oneWayLedger,
      ...(ledgerSettings === undefined ? {} : { ledgerSettings }),
    }),
  });
}

describe("a passive backup refuses a deposed primary's checkpoint", () => {
  for (const outputCommit of ['at-once', 'majority'] as const)
    it(`${outputCommit}: b1's checkpoint past epoch 2's cut, delivered late, is refused; b3 takes over with the decided state`, () => {
      const sim = cluster('passive', { checkpointEvery: 1, checkpointIntervalMs: 0, outputCommit });
      sim.start();
      sim.runUntil(300);
      issue(sim, 'r1');
      sim.runUntil(400);
      expect(sim.role('b1').position).toBe(2); // start, r1

      // b1's packets reach nobody for now; those to b3 are kept, to arrive late.
      for (const other of ['b2', 'b3', 'c1']) sim.block('b1', other);
      const late: Packet[] = [];
      sim.hook = (node, _role, _input, effects) => {
        if (String(node) === 'b1')
          for (const effect of effects)
            if (effect.type === 'send' && String(effect.target) === 'b3') late.push(effect.packet);
        return { type: 'continue' };
      };
      outsideInput(sim, 'b1'); // b1 processes E at position 3 and checkpoints it
      sim.runUntil(420);
      expect(sim.role('b1').position).toBe(3);
      sim.hook = undefined;
      sim.crash(nodeId('b1'));
      sim.runUntil(700);
      expect(sim.role('b2').role).toBe('primary');
      expect(sim.role('b2').epochBases().at(-1)).toEqual({ epoch: 2, cut: 2 }); // E was never decided

      for (const packet of late) sim.input(nodeId('b3'), { type: 'packet', packet });
      expect(sim.role('b3').counters.checkpointsCut).toBeGreaterThanOrEqual(1);
      expect(sim.role('b3').coverage()).toBe(2);

      issue(sim, 'r2');
      sim.runUntil(760);
      expect(sim.role('b2').position).toBe(3); // r2 is position 3 of the decided order
      sim.crash(nodeId('b2'));
      sim.runUntil(1200);
      expect(sim.role('b3').role).toBe('primary');
      expect(applied(sim, 'b3')).toEqual({ r1: 1, r2: 1 });
    });
});

/**
 * b3 restarts and joins (epoch 3); when it asks b1 for the state, b1 processes an input only it
 * receives at position 3 first, and from then on b1's sends reach nobody: its answer (the state at
 * position 3) is kept, to arrive late. Then b1 fails. Returns the run and that answer.
 */
function lateAnswerOfDeposedPrimary(style: ReplicationStyle): {
  sim: ReplicationCluster;
  late: ReplicaControl;
} {
  const sim = cluster(style);
  sim.start();
  sim.runUntil(300);
  issue(sim, 'r1');
  sim.runUntil(400);
  sim.crash(nodeId('b3'));
  sim.runUntil(500); // b3 out (epoch 2)
  sim.restart(nodeId('b3'));
  let late: ReplicaControl | undefined;
  let cutOff = false;
  sim.hook = (node, _role, _input, effects) => {
    for (const effect of effects) {
      if (
        !cutOff &&
        String(node) === 'b3' &&
        effect.type === 'control-send' &&
        effect.message.type === 'rep-state-request'
      ) {
        cutOff = true;
        for (const other of ['b2', 'b3', 'c1']) sim.block('b1', other);
        outsideInput(sim, 'b1');
      }
      if (String(node) === 'b1' && effect.type === 'control-send' && effect.message.type === 'rep-state')
        late ??= effect.message;
    }
    return { type: 'continue' };
  };
  sim.views.join('B', nodeId('b3')); // epoch 3: b1, b2, b3
  sim.runUntil(sim.clock.now() + 500, () => late !== undefined);
  expect(late).toMatchObject({ type: 'rep-state', checkpoint: { position: 3 } });
  sim.hook = undefined;
  sim.crash(nodeId('b1'));
  return { sim, late: late! };
}

describe("a joiner ignores a deposed primary's state transfer", () => {
  for (const style of ['semi-active', 'passive'] as const satisfies readonly ReplicationStyle[])
    it(`${style}: b3 ignores b1's late answer (past epoch 4's cut) and takes b2's state`, () => {
      const { sim, late } = lateAnswerOfDeposedPrimary(style);
      sim.runUntil(sim.clock.now() + 500, () => sim.role('b2').role === 'primary');
      expect(sim.role('b2').epochBases().at(-1)).toEqual({ epoch: 4, cut: 2 });
      expect(sim.role('b3').role).toBe('joining');

      sim.input(nodeId('b3'), { type: 'control', from: nodeId('b1'), message: late });
      expect(sim.role('b3').role).toBe('joining');
      expect(sim.role('b3').counters.stateTransfersStale).toBe(1);

      issue(sim, 'r2');
      sim.runUntil(sim.clock.now() + 300);
      expect(sim.role('b2').position).toBe(3);
      expect(sim.role('b3').role).toBe('backup');
      sim.crash(nodeId('b2'));
      sim.runUntil(sim.clock.now() + 600);
      expect(sim.role('b3').role).toBe('primary');
      expect(applied(sim, 'b3')).toEqual({ r1: 1, r2: 1 });
      expect(sim.diverged).toEqual([]);
    });
});

describe("a replica whose state came from a deposed primary's transfer starts over", () => {
  for (const style of ['semi-active', 'passive'] as const satisfies readonly ReplicationStyle[])
    it(`${style}: b3 takes b1's answer before the next view, then discards it on learning epoch 4's cut`, () => {
      const { sim, late } = lateAnswerOfDeposedPrimary(style);
      // The answer arrives while b3 is still in epoch 3 and knows no later basis: it is taken.
      sim.input(nodeId('b3'), { type: 'control', from: nodeId('b1'), message: late });
      expect(sim.role('b3').role).toBe('backup');
      expect(applied(sim, 'b3')).toMatchObject({ E: 1 });

      sim.runUntil(sim.clock.now() + 500, () => sim.role('b2').role === 'primary');
      expect(sim.role('b2').epochBases().at(-1)).toEqual({ epoch: 4, cut: 2 });
      issue(sim, 'r2');
      sim.runUntil(sim.clock.now() + 500);
      expect(sim.role('b3').counters.discardedStates).toBe(1);
      expect(sim.role('b3').role).toBe('backup');
      sim.crash(nodeId('b2'));
      sim.runUntil(sim.clock.now() + 600);
      expect(sim.role('b3').role).toBe('primary');
      expect(applied(sim, 'b3')).toEqual({ r1: 1, r2: 1 });
    });
});

describe('a passive replica whose first view names it primary', () => {
  it('takes over from the checkpoint it holds, not as a new group', () => {
    const sim = cluster('passive', { checkpointEvery: 1, checkpointIntervalMs: 0 });
    // b2's membership is late: the group's first view reaches every replica but b2, which still
    // gets the group's traffic (its endpoints learn views from packets) and b1's checkpoints.
    const b2 = sim.hosted.get(nodeId('b2'))!;
    b2.alive = false;
    sim.start();
    b2.alive = true;
    sim.runUntil(300);
    issue(sim, 'r1');
    issue(sim, 'r2');
    sim.runUntil(400);
    expect(sim.role('b2').role).toBe('starting');
    expect(sim.role('b2').coverage()).toBe(3); // start, r1, r2, as a checkpoint
    sim.crash(nodeId('b1'));
    sim.runUntil(800);
    expect(sim.role('b2').role).toBe('primary');
    expect(applied(sim, 'b2')).toEqual({ r1: 1, r2: 1 });
    expect(sim.role('b2').position).toBe(3);
  });
});
