/**
 * A request of a peer group that the actor refuses (`RejectedInputError`) or fails on is answered
 * with a `RefusedReply`, decided alike at every replica. Invariants: a caller waiting on a
 * synchronous request goes on (every later request is answered), the refused request takes effect
 * nowhere and gets exactly one reply, also when the callee's primary fails after the refusal, the
 * replicas of the callee agree on their state, and a refused input's sends are withheld as a failed
 * one's are.
 *
 * Found by review: a refused or failed synchronous request was never answered, so the caller's
 * group waited for its reply for good and ordered nothing more; `sync: a caller goes on` fails with
 * `replyRefused` taken out.
 */
import {
  actorContext,
  defineActor,
  fromMachine,
  RejectedInputError,
  type ActorBehavior,
} from '@steadfast/runtime';
import { setup } from 'xstate';
import { address, nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { directGroups } from './direct-groups.test-support.js';
import { receptionPolicy } from './policy.js';
import { groupAddress } from './replica.js';
import { ReplicationCluster, type ClusterGroup } from './simulation.js';
import type { ReplicationStyle } from './types.js';
import { client, front, ledger, type FailingRequest, type IssueCommand } from './workload.js';

const STYLES = ['semi-active', 'passive'] as const satisfies readonly ReplicationStyle[];

/** C (`c1`) calls the front A (`a1`, `a2`), which calls the ledger B (`b1`–`b3`) synchronously. */
function chainGroups(style: ReplicationStyle, ledgerBehavior: ActorBehavior = ledger): ClusterGroup[] {
  const policy = receptionPolicy;
  return [
    { group: 'C', members: ['c1'], behavior: client, style: 'semi-active', policy, peers: ['A'] },
    {
      group: 'A',
      members: ['a1', 'a2'],
      behavior: front({ ledgerGroup: 'B', sync: true }),
      style,
      policy,
      peers: ['C', 'B'],
    },
    { group: 'B', members: ['b1', 'b2', 'b3'], behavior: ledgerBehavior, style, policy, peers: ['A'] },
  ];
}

function started(groups: ClusterGroup[]): ReplicationCluster {
  const sim = new ReplicationCluster({ seed: 1, network: { latencyMs: [1, 1] }, groups, trace: true });
  sim.start();
  sim.runUntil(300);
  return sim;
}

/** Issues `key` from c1 to `target` and runs 50 ms. */
function issue(sim: ReplicationCluster, target: string, key: string, fail?: FailingRequest): void {
  const body: IssueCommand = {
    type: 'issue',
    key,
    target,
    priority: 0,
    deadlineMs: 0,
    ...(fail === undefined ? {} : { fail }),
  };
  sim.input(nodeId('c1'), { type: 'external', body });
  sim.runUntil(sim.clock.now() + 50);
}

interface ClientState {
  readonly replies: Record<string, number[]>;
  readonly refused: Record<string, number>;
}

function clientState(sim: ReplicationCluster): ClientState {
  return sim.role('c1').actorState() as ClientState;
}

function ledgerApplied(sim: ReplicationCluster, node: string): Record<string, number> {
  return (sim.role(node).actorState() as { context: { applied: Record<string, number> } }).context.applied;
}

describe('a refused request', () => {
  for (const style of STYLES)
    for (const fail of ['throw', 'reject'] as const)
      it(`${style}, ${fail}: a caller of a synchronous request goes on, answered once, also across a failover`, () => {
        const sim = started(chainGroups(style));
        issue(sim, 'A', 'r1');
        issue(sim, 'A', 'bad', fail);
        issue(sim, 'A', 'r2');
        sim.runUntil(sim.clock.now() + 200);
        expect(clientState(sim).replies).toEqual({ r1: [1], r2: [2] });
        expect(clientState(sim).refused).toEqual({ bad: 1 });
        const counter = fail === 'throw' ? 'inputsFailed' : 'inputsRejected';
        const ledgerReplicas = style === 'semi-active' ? ['b1', 'b2', 'b3'] : ['b1'];
        for (const node of ledgerReplicas) {
          expect(sim.role(node).counters[counter], node).toBe(1);
          expect(sim.role(node).counters.refusedReplies, node).toBe(1);
          expect(ledgerApplied(sim, node), node).toEqual({ r1: 1, r2: 1 });
        }
        // The front's replicas passed the refusal on; none of them refused anything itself.
        expect(sim.role('a1').counters.refusedReplies).toBe(0);

        // The ledger's primary, then the front's, fail: nothing of the refusal is repeated.
        sim.crash(nodeId('b1'));
        sim.runUntil(sim.clock.now() + 600);
        issue(sim, 'A', 'r3');
        sim.crash(nodeId('a1'));
        sim.runUntil(sim.clock.now() + 600);
        issue(sim, 'A', 'r4');
        sim.runUntil(sim.clock.now() + 400);
        expect(clientState(sim).replies).toEqual({ r1: [1], r2: [2], r3: [3], r4: [4] });
        expect(clientState(sim).refused).toEqual({ bad: 1 });
        expect(ledgerApplied(sim, sim.primaryOf('B')!.self)).toEqual({ r1: 1, r2: 1, r3: 1, r4: 1 });
        expect(sim.diverged).toEqual([]);
      });

  // A machine that takes one `add` and then none: xstate drops an event no transition takes, and
  // `fromMachine` now refuses it instead (`RejectedInputError`), so the synchronous caller gets a
  // refusal where before it waited for good.
  const takesOne: ActorBehavior = fromMachine(
    'test-takes-one',
    setup({
      types: { events: {} as { type: 'add'; key: string } },
      actions: { answer: ({ event }) => actorContext().reply({ type: 'added', key: event.key, total: 1 }) },
    }).createMachine({
      initial: 'open',
      states: { open: { on: { add: { target: 'closed', actions: 'answer' } } }, closed: {} },
    }),
  );

  for (const style of STYLES)
    it(`${style}: a request the callee's machine has no transition for is refused, and its synchronous caller goes on`, () => {
      const sim = started(chainGroups(style, takesOne));
      issue(sim, 'A', 'r1');
      issue(sim, 'A', 'r2');
      issue(sim, 'A', 'r3');
      sim.runUntil(sim.clock.now() + 200);
      expect(clientState(sim).replies).toEqual({ r1: [1] });
      expect(clientState(sim).refused).toEqual({ r2: 1, r3: 1 });
      expect(sim.role('b1').counters.inputsRejected).toBe(2);
      expect(sim.diverged).toEqual([]);
    });

  it('asynchronous: the caller gets its refusal, and later requests their totals', () => {
    const sim = started(directGroups());
    issue(sim, 'B', 'r1');
    issue(sim, 'B', 'thrown', 'throw');
    issue(sim, 'B', 'rejected', 'reject');
    issue(sim, 'B', 'r2');
    sim.runUntil(sim.clock.now() + 200);
    expect(clientState(sim).replies).toEqual({ r1: [1], r2: [2] });
    expect(clientState(sim).refused).toEqual({ thrown: 1, rejected: 1 });
    for (const node of ['b1', 'b2', 'b3']) {
      const counters = sim.role(node).counters;
      expect([counters.inputsFailed, counters.inputsRejected, counters.refusedReplies], node).toEqual([
        1, 1, 2,
      ]);
    }
    expect(sim.diverged).toEqual([]);
  });

  /**
   * A reducer that sends to a peer group and to an address outside every group, sets a timer and
   * answers, then refuses the input: none of it may leave, as on a runtime node, which withholds a
   * rejected step's sends. Before, a replica undid only a failed input's effects, not a rejected one's.
   */
  const refusingLate: ActorBehavior = defineActor<{
    readonly keys: readonly string[];
    readonly timers: number;
  }>({
    kind: 'test-refusing-late',
    initial: () => ({ keys: [], timers: 0 }),
    handle(state, input, ctx) {
      if (input.type === 'timer') return { ...state, timers: state.timers + 1 };
      const body = input.envelope.body as { type?: string; key?: string };
      if (body.type !== 'add' || typeof body.key !== 'string') return state;
      if (body.key === 'late') {
        ctx.send(groupAddress('C'), { type: 'note', key: body.key });
        ctx.send(address('elsewhere', 'sink'), { type: 'note', key: body.key });
        ctx.setTimer('late-timer', 20);
        ctx.reply({ type: 'added', key: body.key, total: -5 });
        throw new RejectedInputError('refused after sending');
      }
      const keys = [...state.keys, body.key];
      ctx.reply({ type: 'added', key: body.key, total: keys.length });
      return { ...state, keys };
    },
  });

  // A value thrown that has no text (a null-prototype object) made the refusal itself throw,
  // stopping every replica at the position; its reply now says so (`errorText`).
  it('a request whose actor throws a value with no text is refused with a detail that says so', () => {
    const throwsNoText: ActorBehavior = defineActor<number>({
      kind: 'test-throws-no-text',
      initial: () => 0,
      handle() {
        throw Object.create(null) as unknown;
      },
    });
    const sim = started(directGroups({ behavior: throwsNoText }));
    issue(sim, 'B', 'r1');
    sim.runUntil(sim.clock.now() + 200);
    expect(clientState(sim).refused).toEqual({ r1: 1 });
    for (const node of ['b1', 'b2', 'b3']) expect(sim.role(node).counters.inputsFailed, node).toBe(1);
    const notices = sim.trace.filter((line) => line.includes('input-failed'));
    expect(notices.some((line) => line.includes('a thrown object that has no text'))).toBe(true);
  });

  for (const style of STYLES)
    it(`${style}: a rejected input's sends, timers and reply are withheld like a failed one's`, () => {
      const sim = started(directGroups({ style, behavior: refusingLate }));
      issue(sim, 'B', 'r1');
      issue(sim, 'B', 'late');
      issue(sim, 'B', 'r2');
      sim.runUntil(sim.clock.now() + 200);
      expect(clientState(sim).replies).toEqual({ r1: [1], r2: [2] });
      expect(clientState(sim).refused).toEqual({ late: 1 });
      expect(sim.trace.filter((line) => line.includes('external-send'))).toEqual([]);
      expect(sim.role('b1').actorState()).toEqual({ keys: ['r1', 'r2'], timers: 0 });
      // No gap in the channel numbers of B's messages to C: the withheld note took none.
      const processedBy = (sim.role('c1') as unknown as { processedBy: Map<string, { sparseCount: number }> })
        .processedBy;
      expect(processedBy.get('B')?.sparseCount ?? 0).toBe(0);
    });
});
