/**
 * Replica groups under fault schedules that fast-check chooses, and shrinks on a failure to the few
 * faults that still break a run (`faultScheduleArbitrary`, docs/simulator.md), where the sweeps and
 * `replication.sim.test.ts` let the nemesis draw them from a seed. Any mix of partitions, one-way
 * links, loss, duplication, reordering and delay, with crashes and restarts that fail one replica
 * of a group at a time (`survivableSchedule(…, 1)` leaves out a crash while another replica of its
 * group is down or has just restarted), for both styles, every policy, both topologies and both
 * view origins. With `outputCommit: 'majority'`, which closes the double-fault limits of the
 * default (docs/replication.md, "Known limits"), every invariant of the simulation must hold:
 *
 * - after every event, no two replicas of a group (of any incarnation) processed different inputs at
 *   one position, so every backup's order is a prefix of its primary's (claims 44-47, 65, 69), and
 *   no replica diverged;
 * - at the end, every live replica of a group stands at its primary's position with the same state,
 *   and every client request took effect exactly once and got exactly one reply; with
 *   `failingRequests`, a request the ledger fails on or rejects took effect nowhere and got exactly
 *   one reply, a refusal; with `syncReplyTimeoutMs`, a request whose front gave up on the ledger got
 *   exactly one reply, the timeout, and still took effect exactly once (nowhere, for a failing one).
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
// A fixed seed, so CI runs the same schedules every time; set STEADFAST_SCHEDULE_SEED (and
// STEADFAST_SCHEDULE_RUNS) to explore others. fast-check prints the seed of a failure.
const SEED = Number(process.env['STEADFAST_SCHEDULE_SEED'] ?? 20_261_124);

function scheduleFor(topology: Topology): fc.Arbitrary<FaultSchedule> {
  const groups = Object.values(replicationGroupMembers(topology)).map((members) => ({ members }));
  const nodes = groups.flatMap((group) => group.members);
  return faultScheduleArbitrary({
    nodes,
    safetyMs: SAFETY_MS,
    entriesMax: 10,
    // Any node may crash; `survivableSchedule` fails one replica of a group at a time.
    crashedMax: nodes.length,
    durationMs: [50, 1_500],
  }).map((schedule) => survivableSchedule(schedule, groups, 1));
}

const runs = fc.constantFrom<Topology>('direct', 'chain').chain((topology) =>
  fc.record({
    topology: fc.constant(topology),
    schedule: scheduleFor(topology),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    style: fc.constantFrom('semi-active' as const, 'passive' as const),
    policy: fc.constantFrom(...POLICY_NAMES),
    views: fc.constantFrom(...VIEW_ORIGINS),
    // Every fourth request one the ledger fails on or rejects: it must be refused once, anywhere.
    failingRequests: fc.boolean(),
    // Half the runs wait for ever for a synchronous reply; the rest give up after 10 - 300 ms, so
    // the chain's front answers with a `ReplyTimeout` when the schedule holds the ledger's reply.
    syncReplyTimeoutMs: fc.oneof(fc.constant(0), fc.integer({ min: 10, max: 300 })),
  }),
);

describe('replica groups under fast-check fault schedules (outputCommit majority)', () => {
  it('keep order, state and exactly-once under any schedule that fails one replica of a group at a time, shrunk to its faults on a failure', async () => {
    const results: ReplicationSimResult[] = [];
    await fc.assert(
      fc.asyncProperty(runs, async (run) => {
        const { topology, schedule, seed, style, policy, views, failingRequests, syncReplyTimeoutMs } = run;
        const result = await runReplicationSimulation({
          seed,
          style,
          policy,
          topology,
          views,
          failingRequests,
          requests: 10,
          faults: [],
          schedule,
          safetyMs: SAFETY_MS,
          settings: { outputCommit: 'majority', syncReplyTimeoutMs },
        });
        results.push(result);
        expect(result.violations).toEqual([]);
      }),
      { numRuns: RUNS, seed: SEED },
    );
    // The schedules must have failed primaries over, or this proves little.
    expect(results.reduce((sum, result) => sum + result.failovers, 0)).toBeGreaterThan(0);
    expect(results.reduce((sum, result) => sum + result.faultsInjected.crash, 0)).toBeGreaterThan(0);
  });
});
