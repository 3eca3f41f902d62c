// Host contract: persist, then send. A step's messages leave only after its state is durable,
// and a restarted actor resumes from the state it last persisted.
import type { ActorId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from './clock.js';
import { Node, type ActorStateStore } from './node.js';
import { durableCounterActor } from './test-actors.test-support.js';

class ControlledStore implements ActorStateStore {
  readonly disk = new Map<ActorId, unknown>();
  readonly waiting: Array<{
    resolve: () => void;
    reject: (error: Error) => void;
    actor: ActorId;
    state: unknown;
  }> = [];
  save(actor: ActorId, state: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({
        actor,
        state,
        resolve: () => {
          this.disk.set(actor, state);
          resolve();
        },
        reject,
      });
    });
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('persist', () => {
  it('holds a step’s reply until its state is durable, and keeps later sends in order behind it', async () => {
    const store = new ControlledStore();
    const node = new Node({ id: 'n1', incarnation: 1, clock: new SimulatedClock(), actorStore: store });
    const counter = node.spawn('counter', durableCounterActor);
    const replies: number[] = [];
    const first = node
      .request(counter, { type: 'inc' })
      .then((reply) => replies.push((reply.body as { total: number }).total));
    const second = node
      .request(counter, { type: 'inc' })
      .then((reply) => replies.push((reply.body as { total: number }).total));
    await settle();
    expect(store.waiting).toHaveLength(2);
    expect(replies).toEqual([]);
    store.waiting[1]!.resolve();
    await settle();
    expect(replies).toEqual([]); // the second reply waits behind the first save
    store.waiting[0]!.resolve();
    await Promise.all([first, second]);
    expect(replies).toEqual([1, 2]);
  });

  it('resumes a restarted actor from the state it last persisted', async () => {
    const store = new ControlledStore();
    const first = new Node({ id: 'n1', incarnation: 1, clock: new SimulatedClock(), actorStore: store });
    const counter = first.spawn('counter', durableCounterActor);
    const reply = first.request(counter, { type: 'inc' });
    await settle();
    store.waiting.shift()!.resolve();
    await reply;
    await first.close();
    const second = new Node({ id: 'n1', incarnation: 2, clock: new SimulatedClock(), actorStore: store });
    second.spawn('counter', durableCounterActor, undefined, store.disk.get('counter' as ActorId));
    const next = second.request(counter, { type: 'inc' });
    await settle();
    store.waiting.shift()!.resolve();
    expect((await next).body).toEqual({ type: 'total', total: 2 });
  });

  it('withholds the sends of a step whose save failed, counts it and stops the actor', async () => {
    const store = new ControlledStore();
    const node = new Node({ id: 'n1', incarnation: 1, clock: new SimulatedClock(), actorStore: store });
    const counter = node.spawn('counter', durableCounterActor);
    const reply = node.request(counter, { type: 'inc' }, { attemptsMax: 1, retryAfterMs: 10 });
    reply.catch(() => {});
    await settle();
    store.waiting[0]!.reject(new Error('disk full'));
    await settle();
    expect(node.counters().dropped['persist-failed']).toBe(1);
    expect(node.hasActor('counter')).toBe(false);
    expect(store.disk.size).toBe(0);
  });

  it('refuses persist() on a node without a store, with a clear error', async () => {
    const node = new Node({ id: 'n1', incarnation: 1, clock: new SimulatedClock() });
    const counter = node.spawn('counter', durableCounterActor);
    node.tell(counter, { type: 'inc' });
    const reply = node.request(counter, { type: 'inc' }, { attemptsMax: 1, retryAfterMs: 1 });
    reply.catch(() => {});
    await settle();
    expect(node.hasActor('counter')).toBe(false);
  });
});
