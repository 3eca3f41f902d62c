/**
 * Properties. Policies against a dumb model: each picks what a plain sort by its criterion puts
 * first (claims 5, 39). Whole runs over fast-check-chosen policies, styles, topologies, crash
 * points and request counts, with or without a front that takes `ctx.call` values on the ledger's
 * replies: the simulation's invariants (prefix order after every event, same order and state at the
 * end, exactly-once effect and reply) hold for every schedule.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POLICY_NAMES, policyByName, type QueuedInput } from './policy.js';
import { CRASH_POINTS, runReplicationSimulation } from './simulation.js';
import { SequenceSet } from './sequence-set.js';

const queued = fc.array(
  fc.record({
    source: fc.constantFrom('C', 'D', 'E'),
    channel: fc.integer({ min: 1, max: 50 }),
    arrival: fc.integer({ min: 1, max: 1000 }),
    body: fc.record({
      priority: fc.integer({ min: 0, max: 3 }),
      deadlineMs: fc.integer({ min: 0, max: 100 }),
    }),
  }),
  { minLength: 1, maxLength: 12 },
);

/** The model: each policy's criterion as a sort key; the first by it is what the policy must pick. */
function modelKey(
  name: string,
  input: QueuedInput,
  served: Record<string, number>,
): readonly (number | string)[] {
  const body = (input: QueuedInput) => input.body as { priority: number; deadlineMs: number };
  const key: Record<string, (input: QueuedInput) => readonly (number | string)[]> = {
    sequence: (input) => [input.channel, input.source],
    reception: (input) => [input.arrival],
    priority: (input) => [-body(input).priority, input.arrival],
    deadline: (input) => [body(input).deadlineMs, input.arrival],
    fairness: (input) => [served[input.source] ?? 0, input.arrival],
  };
  return key[name]!(input);
}

function compareKeys(a: readonly (number | string)[], b: readonly (number | string)[]): number {
  for (let index = 0; index < a.length; index++)
    if (a[index] !== b[index]) return a[index]! < b[index]! ? -1 : 1;
  return 0;
}

describe('ordering policies', () => {
  it('each policy picks an input that its criterion ranks first (model: a plain sort)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...POLICY_NAMES),
        queued,
        fc.record({ C: fc.nat(5), D: fc.nat(5), E: fc.nat(5) }),
        (name, queue, served) => {
          const index = policyByName(name).pick(queue, served);
          expect(index).toBeGreaterThanOrEqual(0);
          expect(index).toBeLessThan(queue.length);
          const picked = modelKey(name, queue[index]!, served);
          // No input ranks strictly before the picked one (ties: any of the tied inputs).
          for (const input of queue)
            expect(compareKeys(modelKey(name, input, served), picked)).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('sequence sets', () => {
  it('hold exactly what was added, whatever the order (model: a Set)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 60 }), (values) => {
        const set = new SequenceSet();
        const model = new Set<number>();
        for (const value of values)
          expect(set.add(value)).toBe(!model.has(value) && (model.add(value), true));
        for (let value = 1; value <= 40; value++) expect(set.has(value)).toBe(model.has(value));
        // Bounded: the floor is the longest run 1, 2, … added, and only numbers past a gap stay above it.
        let run = 0;
        while (model.has(run + 1)) run++;
        expect(set.data().floor).toBe(run);
        expect(set.sparseCount).toBe([...model].filter((value) => value > run).length);
        expect(SequenceSet.from(set.data()).data()).toEqual(set.data());
      }),
    );
  });
});

describe('replica groups over random schedules', () => {
  it('every policy, style, topology and crash point keeps the invariants', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 0, max: 1_000_000 }),
          style: fc.constantFrom('semi-active' as const, 'passive' as const),
          policy: fc.constantFrom(...POLICY_NAMES),
          point: fc.constantFrom(...CRASH_POINTS),
          position: fc.integer({ min: 2, max: 10 }),
          requests: fc.integer({ min: 2, max: 14 }),
          group: fc.constantFrom('A', 'B'),
          // A front that takes a `ctx.call` value on every ledger reply: a backup that took its own
          // instead of replaying its primary's would end in another state than its primary.
          frontCalls: fc.boolean(),
        }),
        ({ seed, style, policy, point, position, requests, group, frontCalls }) => {
          const result = runReplicationSimulation({
            seed,
            style,
            policy,
            requests,
            frontCalls,
            topology: 'chain',
            faults: ['crash', 'duplicate', 'reorder', 'loss'],
            crash: { group: point === 'mid-call' ? 'A' : group, point, position },
          });
          expect(result.violations).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  });
});
