// `ActorInstance.recover`: after `handle` threw, the actor is as it was before that input and takes
// the next one. Invariant: for a machine whose action threw (xstate keeps the snapshot from before
// the event, marked `error`) and for a reducer that threw, `state()` after `recover()` equals the
// state before the failed input, and the next input is handled from it. A node never calls it (it
// stops a failed actor); replica groups do (docs/replication.md, "A failed input").
import { assign, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { actorId, address, nodeId } from '@steadfast/wire';
import { ActorFailedError, defineActor, fromMachine, type ActorBehavior } from './actor.js';
import { SimulatedClock } from './clock.js';
import { createActorContext } from './context.js';
import { entropyFrom } from './entropy.js';
import { Supervisor } from './supervisor.js';

function started(behavior: ActorBehavior) {
  const clock = new SimulatedClock();
  const supervisor = new Supervisor({ clock, entropy: entropyFrom(() => 0.5) }, 'live');
  const ctx = createActorContext({
    self: address('n1', 'counter'),
    actor: actorId('counter'),
    node: nodeId('n1'),
    supervisor,
    current: () => undefined,
    emit: () => ({ origin: nodeId('n1'), incarnation: 1, sequence: 1 }),
    setTimer: () => undefined,
    cancelTimer: () => undefined,
    persist: () => undefined,
  });
  return behavior.start(ctx, undefined);
}

const timer = (name: string) => ({ type: 'timer' as const, name, payload: undefined });

describe('ActorInstance.recover', () => {
  it('puts a machine whose action threw back as it was before the event', () => {
    const machine = setup({
      actions: {
        boom: () => {
          throw new Error('boom');
        },
      },
    }).createMachine({
      context: { n: 0 },
      on: {
        inc: { actions: assign({ n: ({ context }) => context.n + 1 }) },
        bad: { actions: [assign({ n: ({ context }) => context.n + 100 }), 'boom'] },
      },
    });
    const instance = started(
      fromMachine('counter', machine, {
        toEvent: (input) => ({ type: input.type === 'timer' ? input.name : 'none' }),
      }),
    );
    instance.handle(timer('inc'));
    const before = instance.state();
    expect(() => instance.handle(timer('bad'))).toThrow(ActorFailedError);
    expect(() => instance.handle(timer('inc'))).toThrow(ActorFailedError); // stopped until recovered
    instance.recover!();
    expect(instance.state()).toEqual(before);
    instance.handle(timer('inc'));
    expect(instance.state()).toEqual({ value: {}, context: { n: 2 } });
  });

  it('leaves a reducer that threw with the state from before the input', () => {
    const instance = started(
      defineActor<{ n: number }>({
        kind: 'counter',
        initial: () => ({ n: 0 }),
        handle(state, input) {
          if (input.type === 'timer' && input.name === 'bad') throw new Error('boom');
          return { n: state.n + 1 };
        },
      }),
    );
    instance.handle(timer('inc'));
    expect(() => instance.handle(timer('bad'))).toThrow('boom');
    instance.recover!();
    expect(instance.state()).toEqual({ n: 1 });
    instance.handle(timer('inc'));
    expect(instance.state()).toEqual({ n: 2 });
  });
});
