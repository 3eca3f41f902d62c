// Small actors for the runtime's own tests (not exported from the package).
import { address } from '@steadfast/wire';
import { assign, setup } from 'xstate';
import { actorContext, defineActor, fromMachine, type ActorBehavior } from './actor.js';

/** Replies to `inc` with the new total; stamps each step with the supervised clock and an id. */
export const counterActor: ActorBehavior = defineActor<{ total: number; lastAt: number; lastId: string }>({
  kind: 'test.counter',
  initial: () => ({ total: 0, lastAt: 0, lastId: '' }),
  handle(state, input, ctx) {
    if (input.type !== 'message') return state;
    const body = input.envelope.body as { type: string; by?: number; forceReply?: boolean };
    if (body.type !== 'inc') return state;
    if (body.forceReply === true) ctx.reply({ type: 'total', total: state.total }); // throws on a one-way
    const next = { total: state.total + (body.by ?? 1), lastAt: ctx.now(), lastId: ctx.id() };
    if (input.envelope.kind === 'async-request' || input.envelope.kind === 'sync-request')
      ctx.reply({ type: 'total', total: next.total });
    return next;
  },
});

/** Same contract, but adds twice: the "deliberately changed actor" replay must catch. */
export const changedCounterActor: ActorBehavior = defineActor<{
  total: number;
  lastAt: number;
  lastId: string;
}>({
  kind: 'test.counter',
  initial: () => ({ total: 0, lastAt: 0, lastId: '' }),
  handle(state, input, ctx) {
    if (input.type !== 'message') return state;
    const body = input.envelope.body as { type: string; by?: number };
    if (body.type !== 'inc') return state;
    const next = { total: state.total + 2 * (body.by ?? 1), lastAt: ctx.now(), lastId: ctx.id() };
    if (input.envelope.kind === 'async-request' || input.envelope.kind === 'sync-request')
      ctx.reply({ type: 'total', total: next.total });
    return next;
  },
});

type PingEvent = { type: 'ping'; text: string } | { type: 'tick' };

/** An xstate v5 machine actor: answers pings, counts them, and ticks on a runtime timer. */
export const pingMachine = setup({
  types: { context: {} as { pings: number; ticks: number; lastText: string }, events: {} as PingEvent },
  actions: {
    answer: ({ context, event }) => {
      if (event.type !== 'ping') return;
      actorContext().reply({ type: 'pong', text: event.text, pings: context.pings });
    },
    armTimer: () => actorContext().setTimer('tick', 50),
  },
}).createMachine({
  id: 'ping',
  context: { pings: 0, ticks: 0, lastText: '' },
  entry: 'armTimer',
  on: {
    ping: {
      actions: [
        assign({ pings: ({ context }) => context.pings + 1, lastText: ({ event }) => event.text }),
        'answer',
      ],
    },
    tick: { actions: [assign({ ticks: ({ context }) => context.ticks + 1 }), 'armTimer'] },
  },
});

export const pingActor = fromMachine('test.ping', pingMachine);

/** Forwards each `inc` it gets to a counter on another node and relays the reply to its client. */
export const relayActor: ActorBehavior = defineActor<{ forwarded: number; waiting: Record<string, unknown> }>(
  {
    kind: 'test.relay',
    initial: () => ({ forwarded: 0, waiting: {} }),
    handle(state, input, ctx) {
      if (input.type !== 'message') return state;
      const envelope = input.envelope;
      if (envelope.kind === 'async-reply') {
        const key = `${envelope.inReplyTo.sequence}`;
        const request = state.waiting[key];
        if (request === undefined) return state;
        ctx.reply(envelope.body, { to: request as never });
        const { [key]: _removed, ...waiting } = state.waiting;
        return { ...state, waiting };
      }
      const body = envelope.body as { type: string; counterNode: string };
      const id = ctx.request(address(body.counterNode, 'counter'), { type: 'inc' });
      return { forwarded: state.forwarded + 1, waiting: { ...state.waiting, [`${id.sequence}`]: envelope } };
    },
  },
);

/** A counter that persists after every increment (for the persist-then-send contract). */
export const durableCounterActor: ActorBehavior = defineActor<{ total: number }>({
  kind: 'test.durable-counter',
  initial: () => ({ total: 0 }),
  handle(state, input, ctx) {
    if (input.type !== 'message' || input.envelope.kind !== 'async-request') return state;
    const next = { total: state.total + 1 };
    ctx.reply({ type: 'total', total: next.total });
    ctx.persist();
    return next;
  },
});

/** A machine with an xstate `after` delay: it must run on the runtime's timers, not real ones. */
export const delayedMachine = setup({
  types: { context: {} as { state: string }, events: {} as { type: 'arm' } | { type: 'ask' } },
  actions: { answer: ({ context }) => actorContext().reply({ type: 'status', state: context.state }) },
}).createMachine({
  id: 'delayed',
  initial: 'idle',
  context: { state: 'idle' },
  states: {
    idle: { on: { arm: 'armed', ask: { actions: 'answer' } } },
    armed: {
      after: { 100: { target: 'fired', actions: assign({ state: 'fired' }) } },
      on: { ask: { actions: 'answer' } },
    },
    fired: { on: { ask: { actions: 'answer' } } },
  },
});

export const delayedActor = fromMachine('test.delayed', delayedMachine);
