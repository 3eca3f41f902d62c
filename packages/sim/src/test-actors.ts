/**
 * Tiny actors for the simulator's own tests (the example application lives elsewhere): a counter
 * that persists its count and answers `inc` requests, and a client that sends a fixed number of
 * `inc` operations one at a time, retrying each on a timer until it is answered.
 *
 * The counter keeps two numbers: `count`, restored from its store after a restart, and
 * `appliedSinceStart`, volatile, which a crash must reset. Each increment is also tallied in a
 * test-side `IncrementTally`, so a property can compare replies with increments really applied.
 */
import { defineActor, type ActorBehavior, type Node } from '@steadfast/runtime';
import type { Table } from '@steadfast/store';
import { address, type Address } from '@steadfast/wire';
import type { Invariant, SetupContext, Simulation } from './simulation.js';

export interface IncrementTally {
  applied: number;
}

export interface CounterState {
  readonly count: number;
  readonly appliedSinceStart: number;
}

type CounterBody = { readonly type: 'inc'; readonly op: number };

export function counterActor(table: Table, tally: IncrementTally): ActorBehavior {
  return defineActor<CounterState, CounterBody>({
    kind: 'test-counter',
    initial: (_ctx, input) => ({ count: (input as { count: number }).count, appliedSinceStart: 0 }),
    handle(state, input, ctx) {
      if (input.type !== 'message' || input.envelope.body.type !== 'inc') return state;
      const count = state.count + 1;
      tally.applied++;
      // Persist before replying, as a durable service would; the write completes before the next event.
      table.put('count', count).catch(() => undefined);
      ctx.reply({ type: 'count', op: input.envelope.body.op, count });
      return { count, appliedSinceStart: state.appliedSinceStart + 1 };
    },
  });
}

export interface ClientInput {
  readonly target: Address;
  readonly opsTotal: number;
  readonly retryMs: number;
  readonly thinkMs: number;
}

export interface ClientState {
  readonly input: ClientInput;
  /** Operations answered. */
  readonly done: number;
  /** The operation waiting for its reply, if any. */
  readonly outstanding: number | undefined;
  readonly attempts: number;
  /** Largest count any reply carried. */
  readonly replyMax: number;
}

type ClientBody = { readonly type: 'count'; readonly op: number; readonly count: number };

export const clientActor: ActorBehavior = defineActor<ClientState, ClientBody>({
  kind: 'test-client',
  initial(ctx, input) {
    ctx.setTimer('next', 0);
    return { input: input as ClientInput, done: 0, outstanding: undefined, attempts: 0, replyMax: 0 };
  },
  handle(state, input, ctx) {
    if (input.type === 'timer') {
      const op = state.outstanding ?? state.done + 1;
      if (op > state.input.opsTotal) return state;
      // Each attempt is a new request (a new message id): the counter may apply an operation twice.
      ctx.request(state.input.target, { type: 'inc', op });
      ctx.setTimer('retry', state.input.retryMs);
      return { ...state, outstanding: op, attempts: state.attempts + 1 };
    }
    const body = input.envelope.body;
    if (body.type !== 'count') return state;
    const replyMax = Math.max(state.replyMax, body.count);
    if (body.op !== state.outstanding) return { ...state, replyMax };
    ctx.cancelTimer('retry');
    const done = state.done + 1;
    if (done < state.input.opsTotal) ctx.setTimer('next', state.input.thinkMs);
    return { ...state, done, outstanding: undefined, replyMax };
  },
});

export interface CounterClusterOptions {
  readonly counterNode: string;
  readonly opsTotal?: number;
  readonly retryMs?: number;
  readonly thinkMs?: number;
}

/** A `setup` that runs the counter on `counterNode` and a client on every node, plus its tally. */
export function counterCluster(options: CounterClusterOptions): {
  setup: (node: Node, context: SetupContext) => void;
  tally: IncrementTally;
} {
  const tally: IncrementTally = { applied: 0 };
  const clientInput: ClientInput = {
    target: address(options.counterNode, 'counter'),
    opsTotal: options.opsTotal ?? 10,
    retryMs: options.retryMs ?? 100,
    thinkMs: options.thinkMs ?? 20,
  };
  const setup = (node: Node, { store, simulation }: SetupContext): void => {
    node.spawn('client', clientActor, clientInput);
    if (node.id !== options.counterNode) return;
    const table = store.table('counter');
    void table.get('count').then((stored) => {
      // The node may have crashed again while its disk was read.
      if (simulation.node(node.id) !== node) return;
      node.spawn('counter', counterActor(table, tally), { count: typeof stored === 'number' ? stored : 0 });
    });
  };
  return { setup, tally };
}

export function clientStates(simulation: Simulation): ClientState[] {
  const states: ClientState[] = [];
  for (const node of simulation.runningNodes()) {
    const state = node.actorState('client') as ClientState | undefined;
    if (state !== undefined) states.push(state);
  }
  return states;
}

/** Safety: no reply ever carries a count above the number of increments applied so far. */
export function repliesWithinIncrements(tally: IncrementTally): Invariant {
  return (simulation) => {
    const violations: string[] = [];
    for (const state of clientStates(simulation)) {
      if (state.replyMax > tally.applied) {
        violations.push(
          `a reply carried count ${state.replyMax} but only ${tally.applied} increments were applied`,
        );
      }
    }
    return violations;
  };
}

/** Liveness: every client on every node has had all its operations answered. */
export const everyRequestAnswered: Invariant = (simulation) => {
  const violations: string[] = [];
  for (const node of simulation.runningNodes()) {
    const state = node.actorState('client') as ClientState | undefined;
    if (state === undefined) violations.push(`node ${node.id} runs no client`);
    else if (state.done !== state.input.opsTotal || state.outstanding !== undefined) {
      violations.push(
        `client on ${node.id} has ${state.done}/${state.input.opsTotal} answered, op ${String(state.outstanding)} outstanding`,
      );
    }
  }
  if (simulation.runningNodes().length !== simulation.nodeIds.length)
    violations.push('a node is still down after the heal');
  return violations;
};
