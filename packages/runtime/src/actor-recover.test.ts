// `ActorInstance.recover`: after `handle` threw, the actor is as it was before that input and takes
// the next one. Invariant: for a machine whose action threw (xstate keeps the snapshot from before
// the event, marked `error`) and for a reducer that threw, `state()` after `recover()` equals the
// state before the failed input, and the next input is handled from it. A node never calls it (it
// stops a failed actor); replica groups do (docs/replication.md, "A failed input").
import { assign, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { actorId, address, nodeId } from '@steadfast/wire';
import {
  ActorFailedError,
  RejectedInputError,
  defineActor,
  fromMachine,
  type ActorBehavior,
} from './actor.js';
import { SimulatedClock } from './clock.js';
import { createActorContext } from './context.js';
import { entropyFrom } from './entropy.js';
import { Supervisor } from './supervisor.js';

/** Timer calls the actor made, in order: `set name` and `cancel name`. */
function started(behavior: ActorBehavior, timerCalls: string[] = []) {
  const clock = new SimulatedClock();
  const supervisor = new Supervisor({ clock, entropy: entropyFrom(() => 0.5) }, 'live');
  const ctx = createActorContext({
    self: address('n1', 'counter'),
    actor: actorId('counter'),
    node: nodeId('n1'),
    supervisor,
    current: () => undefined,
    emit: () => ({ origin: nodeId('n1'), incarnation: 1, sequence: 1 }),
    setTimer: (name) => void timerCalls.push(`set ${name}`),
    cancelTimer: (name) => void timerCalls.push(`cancel ${name}`),
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

  // An `after` delay pending when an input failed: xstate stopped the failed machine and cancelled
  // it; the restarted machine takes it back under the same timer name (the host undid the failed
  // input's cancel, so that timer still runs) and the delay fires. Found untested by review: before,
  // the machine stayed in its state for good.
  describe('a machine with an `after` delay', () => {
    const machine = setup({
      actions: {
        boom: () => {
          throw new Error('boom');
        },
      },
    }).createMachine({
      initial: 'idle',
      states: {
        idle: { on: { arm: 'armed' } },
        armed: {
          after: { 50: 'fired' },
          on: { bad: { actions: 'boom' }, leave: 'idle' },
        },
        fired: {},
      },
    });
    const byName = fromMachine('armed', machine, {
      toEvent: (input) => ({ type: input.type === 'timer' ? input.name : 'none' }),
    });

    it('fires a delay pending before the failed input, under its timer name', () => {
      const calls: string[] = [];
      const instance = started(byName, calls);
      instance.handle(timer('arm'));
      expect(calls).toEqual(['set xstate.after#1']);
      expect(() => instance.handle(timer('bad'))).toThrow(ActorFailedError);
      instance.recover!();
      // The failure cancelled it; the restart set no new timer, but took the name back.
      expect(calls).toEqual(['set xstate.after#1', 'cancel xstate.after#1']);
      instance.handle(timer('xstate.after#1'));
      expect(instance.state()).toEqual({ value: 'fired', context: {} });
    });

    it('cancels the taken-back delay when the machine leaves its state', () => {
      const calls: string[] = [];
      const instance = started(byName, calls);
      instance.handle(timer('arm'));
      expect(() => instance.handle(timer('bad'))).toThrow(ActorFailedError);
      instance.recover!();
      instance.handle(timer('leave'));
      // Cancelled by the failure, then again by the restarted machine, which holds it.
      expect(calls).toEqual(['set xstate.after#1', 'cancel xstate.after#1', 'cancel xstate.after#1']);
      // Its timer firing late anyway is refused (no transition takes it) and changes nothing.
      expect(() => instance.handle(timer('xstate.after#1'))).toThrow(RejectedInputError);
      expect(instance.state()).toEqual({ value: 'idle', context: {} });
    });
  });
});
