/**
 * Replica groups under fault schedules that fast-check chooses, and shrinks on a failure to the few
 * faults that still break a run (`faultScheduleArbitrary`, docs/simulator.md), where the sweeps and
 * `replication.sim.test.ts` let the nemesis draw them from a seed. Any mix of crashes, restarts,
 * partitions, one-way links, loss, duplication, reordering and delay that the groups can survive
 * (`survivableSchedule`: a crash never takes a group's last replica holding the state), for both
 * styles, every policy, both topologies and both view origins. With `outputCommit: 'majority'`,
 * which closes the double-fault limits of the default (docs/replication.md, "Known limits"), every
 * invariant of the simulation must hold:
 *
 * - after every event, no two replicas of a group (of any incarnation) processed different inputs at
 *   one position, so every backup's order is a prefix of its primary's (claims 44-47, 65, 69), and
 *   no replica diverged;
 * - at the end, every live replica of a group stands at its primary's position with the same state,
 *   and every client request took effect exactly once and got exactly one reply.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { faultScheduleArbitrary, type FaultSchedule } from '@steadfast/sim';
import { POLICY_NAMES } from './policy.js';
import {
  replicationGroupMembers,
  runReplicationSimulation,
  survivableSchedule,
  VIEW_ORIGINS,
  type ReplicationSimResult,
  type Topology,
} from './testing.js';

const SAFETY_MS = 3_000;
const RUNS = Number(process.env['STEADFAST_SCHEDULE_RUNS'] ?? 24);

function scheduleFor(topology: Topology): fc.Arbitrary<FaultSchedule> {
  const groups = Object.values(replicationGroupMembers(topology)).map((members) => ({ members }));
  const nodes = groups.flatMap((group) => group.members);
  return faultScheduleArbitrary({
    nodes,
    safetyMs: SAFETY_MS,
    entriesMax: 10,
    // Any node may crash; `survivableSchedule` keeps a holder of the state in every group.
    crashedMax: nodes.length,
    durationMs: [50, 1_500],
  }).map((schedule) => survivableSchedule(schedule, groups));
}

const runs = fc.constantFrom<Topology>('direct', 'chain').chain((topology) =>
  fc.record({
    topology: fc.constant(topology),
    schedule: scheduleFor(topology),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    style: fc.constantFrom('semi-active' as const, 'passive' as const),
    policy: fc.constantFrom(...POLICY_NAMES),
    views: fc.constantFrom(...VIEW_ORIGINS),
  }),
);

describe('replica groups under fast-check fault schedules (outputCommit majority)', () => {
  it('keep order, state and exactly-once under any survivable schedule, shrunk to its faults on a failure', async () => {
    const results: ReplicationSimResult[] = [];
    await fc.assert(
      fc.asyncProperty(runs, async ({ topology, schedule, seed, style, policy, views }) => {
        const result = await runReplicationSimulation({
          seed,
          style,
          policy,
          topology,
          views,
          requests: 10,
          faults: [],
          schedule,
          safetyMs: SAFETY_MS,
          settings: { outputCommit: 'majority' },
        });
        results.push(result);
        expect(result.violations).toEqual([]);
      }),
      { numRuns: RUNS },
    );
    // The schedules must have failed primaries over, or this proves little.
    expect(results.reduce((sum, result) => sum + result.failovers, 0)).toBeGreaterThan(0);
    expect(results.reduce((sum, result) => sum + result.faultsInjected.crash, 0)).toBeGreaterThan(0);
  });
});
