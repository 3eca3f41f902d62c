// Coalesced saves: every save resolves only once a state at least as new as its own is durable;
// newer states replace queued older ones; a failed write fails exactly the saves it covered.
import type { ActorId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { coalescingActorStore } from './actor-store.js';

function controlledDisk() {
  const written: Array<{ actor: string; state: unknown; finish: (error?: Error) => void }> = [];
  const durable = new Map<string, unknown>();
  const write = (actor: ActorId, state: unknown) =>
    new Promise<void>((resolve, reject) => {
      written.push({
        actor,
        state,
        finish: (error) => {
          if (error === undefined) {
            durable.set(actor, state);
            resolve();
          } else reject(error);
        },
      });
    });
  return { written, durable, write };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const a = 'a' as ActorId;

describe('coalescingActorStore', () => {
  it('writes the newest queued state once, and resolves each save only when a newer-or-equal state is durable', async () => {
    const disk = controlledDisk();
    const store = coalescingActorStore(disk.write);
    const resolved: number[] = [];
    for (let version = 1; version <= 4; version++)
      void store.save(a, version)!.then(() => resolved.push(version));
    expect(disk.written.map((entry) => entry.state)).toEqual([1]);
    disk.written[0]!.finish();
    await tick();
    expect(resolved).toEqual([1]);
    expect(disk.written.map((entry) => entry.state)).toEqual([1, 4]);
    disk.written[1]!.finish();
    await tick();
    expect(resolved).toEqual([1, 2, 3, 4]);
    expect(disk.durable.get(a)).toBe(4);
    expect(store.counters).toEqual({ writes: 2, coalesced: 2 }); // 3 and 4 each replaced a queued state
  });

  it('keeps actors independent and fails only the saves a failed write covered', async () => {
    const disk = controlledDisk();
    const store = coalescingActorStore(disk.write);
    const outcomes: string[] = [];
    void store.save(a, 1)!.then(
      () => outcomes.push('a1 ok'),
      () => outcomes.push('a1 failed'),
    );
    void store.save('b' as ActorId, 1)!.then(() => outcomes.push('b1 ok'));
    void store.save(a, 2)!.then(
      () => outcomes.push('a2 ok'),
      () => outcomes.push('a2 failed'),
    );
    disk.written[0]!.finish(new Error('disk full'));
    disk.written[1]!.finish();
    await tick();
    disk.written[2]!.finish();
    await tick();
    expect(outcomes.sort()).toEqual(['a1 failed', 'a2 ok', 'b1 ok']);
  });
});
