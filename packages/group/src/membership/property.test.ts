// fast-check over explicit fault schedules (any mix of crash, restart, partition, one-way, loss,
// duplicate, reorder and delay at any time): the safety invariants of atomic broadcast hold after
// every event. fast-check shrinks a failing schedule to a few faults and prints its own seed and path.
import { ALL_FAULTS, faultScheduleArbitrary } from '@steadfast/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runGroupSimulation } from './testing/simulation.js';

const members = ['n1', 'n2', 'n3'];
const safetyMs = 1_500;

describe('atomic broadcast over generated fault schedules', () => {
  it('agreement, no duplicates, integrity and one primary per epoch hold under any schedule', async () => {
    await fc.assert(
      fc.asyncProperty(
        faultScheduleArbitrary({ nodes: members, safetyMs, faults: ALL_FAULTS, durationMs: [50, 1_000] }),
        fc.integer({ min: 1, max: 1_000_000 }),
        async (schedule, seed) => {
          const result = await runGroupSimulation({ seed, members, schedule, safetyMs, livenessMs: 1_500 });
          const safety = result.violations.filter((violation) => violation.phase === 'safety');
          expect(safety.map((violation) => violation.message)).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  });
});
