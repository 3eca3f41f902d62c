// The router against a dumb model (house style rule 13): per-mailbox FIFO, bounded mailboxes,
// and no input lost without a counted error.
import type { ActorId } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ActorInput } from './actor.js';
import { Router } from './router.js';

type Command =
  | { op: 'enqueue'; actor: number; sender: number; sequence: number }
  | { op: 'drain'; limit: number }
  | { op: 'unregister'; actor: number }
  | { op: 'register'; actor: number };

const actorName = (index: number) => `actor-${index}` as ActorId;
const input = (sender: number, sequence: number): ActorInput => ({
  type: 'timer',
  name: `s${sender}`,
  payload: sequence,
});

describe('Router', () => {
  it('matches the model: per-sender FIFO, bounded mailboxes, every drop counted', () => {
    const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          op: fc.constant('enqueue' as const),
          actor: fc.nat(3),
          sender: fc.nat(2),
          sequence: fc.nat(),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({ op: fc.constant('drain' as const), limit: fc.integer({ min: 1, max: 10 }) }),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('unregister' as const), actor: fc.nat(3) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('register' as const), actor: fc.nat(3) }) },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(commandArbitrary, { maxLength: 200 }),
        (capacity, commands) => {
          const handled: Array<{ actor: number; sender: string; sequence: unknown }> = [];
          const router = new Router({ mailboxCapacity: capacity });
          const model = new Map<number, Array<{ sender: string; sequence: number }>>();
          const modelHandled: typeof handled = [];
          let modelDrops = 0;
          let sequenceCounter = 0;
          const register = (actor: number) => {
            if (model.has(actor)) return;
            model.set(actor, []);
            router.register(actorName(actor), (received) => {
              if (received.type !== 'timer') throw new Error('unexpected input');
              handled.push({ actor, sender: received.name, sequence: received.payload });
            });
          };
          for (let actor = 0; actor < 4; actor++) register(actor);
          for (const command of commands) {
            switch (command.op) {
              case 'register':
                register(command.actor);
                break;
              case 'unregister': {
                const queue = model.get(command.actor);
                if (queue !== undefined) modelDrops += queue.length;
                model.delete(command.actor);
                router.unregister(actorName(command.actor));
                break;
              }
              case 'enqueue': {
                const sequence = sequenceCounter++;
                const result = router.enqueue(actorName(command.actor), input(command.sender, sequence));
                const queue = model.get(command.actor);
                if (queue === undefined) {
                  expect(result).toEqual({
                    ok: false,
                    error: { reason: 'unknown-actor', actor: actorName(command.actor) },
                  });
                  modelDrops++;
                } else if (queue.length >= capacity) {
                  expect(result.ok).toBe(false);
                  modelDrops++;
                } else {
                  expect(result.ok).toBe(true);
                  queue.push({ sender: `s${command.sender}`, sequence });
                }
                break;
              }
              case 'drain': {
                const before = handled.length;
                router.drain(command.limit);
                // The model does not fix the interleaving across actors, only each mailbox's order:
                // every handled input must be the head of its actor's model queue.
                for (const entry of handled.slice(before)) {
                  const queue = model.get(entry.actor)!;
                  const head = queue.shift();
                  expect(head).toEqual({ sender: entry.sender, sequence: entry.sequence });
                  modelHandled.push(entry);
                }
                break;
              }
            }
            for (const [actor, queue] of model)
              expect(router.queuedCount(actorName(actor))).toBe(queue.length);
          }
          const counters = router.counters();
          expect(
            counters.droppedMailboxFull + counters.droppedUnknownActor + counters.droppedOnUnregister,
          ).toBe(modelDrops);
          expect(counters.handled).toBe(modelHandled.length);
          const queued = [...model.values()].reduce((sum, queue) => sum + queue.length, 0);
          expect(counters.enqueued).toBe(counters.handled + counters.droppedOnUnregister + queued - 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('drains actors round-robin so one busy mailbox cannot starve the others', () => {
    const order: string[] = [];
    const router = new Router();
    router.register('a' as ActorId, () => order.push('a'));
    router.register('b' as ActorId, () => order.push('b'));
    for (let index = 0; index < 3; index++) router.enqueue('a' as ActorId, input(0, index));
    router.enqueue('b' as ActorId, input(0, 0));
    router.drain();
    expect(order).toEqual(['a', 'b', 'a', 'a']);
  });

  it('reports a throwing handler and goes on with the other actors', () => {
    const failures: string[] = [];
    const handledBy: string[] = [];
    const router = new Router({ onHandlerError: (actor) => failures.push(actor) });
    router.register('bad' as ActorId, () => {
      throw new Error('boom');
    });
    router.register('good' as ActorId, () => handledBy.push('good'));
    router.enqueue('bad' as ActorId, input(0, 0));
    router.enqueue('good' as ActorId, input(0, 1));
    router.drain();
    expect(failures).toEqual(['bad']);
    expect(handledBy).toEqual(['good']);
    expect(router.counters().failed).toBe(1);
  });

  it('rejects a bad capacity with a clear error', () => {
    expect(() => new Router({ mailboxCapacity: 0 })).toThrow(/mailboxCapacity/);
  });
});
