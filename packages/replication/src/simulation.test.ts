/**
 * Simulation over many seeds, both styles and every ordering policy, with the primary crashing at
 * every protocol point. Invariants (checked by `runReplicationSimulation`): after every event each
 * live replica's processing order is a prefix of every longer one in its group (claims 41, 64, 68);
 * at the end every live replica of a group processed the same inputs in the same order into the same
 * state, or (passive) could take over at the primary's position; every client request took effect
 * exactly once at the ledger and got exactly one reply (claims 65, 69); no replica diverged.
 */
import { describe, expect, it } from 'vitest';
import { POLICY_NAMES } from './policy.js';
import {
  CRASH_POINTS,
  runReplicationSimulation,
  type CrashPlan,
  type ReplicationSimulationResult,
} from './simulation.js';

const STYLES = ['semi-active', 'passive'] as const;

function failures(results: readonly ReplicationSimulationResult[]): string[] {
  return results
    .filter((result) => !result.ok)
    .map((result) => `${result.violations[0]?.message} — replay: ${result.violations[0]?.replayCommand}`);
}

describe('replica groups under a seeded nemesis', () => {
  for (const style of STYLES) {
    it(`${style}: every policy, seeds 1-40, random crash point, duplicates, reordering and loss: safe and live`, () => {
      const results: ReplicationSimulationResult[] = [];
      for (const policy of POLICY_NAMES)
        for (let seed = 1; seed <= 40; seed++)
          results.push(
            runReplicationSimulation({
              seed,
              style,
              policy,
              faults: ['crash', 'duplicate', 'reorder', 'loss'],
            }),
          );
      expect(failures(results)).toEqual([]);
      // The nemesis must actually have failed primaries over, or the run proves little.
      expect(results.filter((result) => result.failovers > 0).length).toBeGreaterThan(results.length / 2);
    });
  }

  for (const style of STYLES) {
    it(`${style}: the primary crashes at every point (before processing, after processing, after announcing, mid-call), in both tiers`, () => {
      const results: ReplicationSimulationResult[] = [];
      for (const point of CRASH_POINTS)
        for (const group of point === 'mid-call' ? ['A'] : ['A', 'B'])
          for (const position of [2, 5, 9]) {
            const crash: CrashPlan = { group, point, position };
            const result = runReplicationSimulation({
              seed: 100 + position,
              style,
              topology: 'chain',
              crash,
              requests: 12,
            });
            results.push(result);
            expect(result.crashed, `${point} ${group} ${position}: the crash did not happen`).toBe(true);
          }
      expect(failures(results)).toEqual([]);
      expect(results.every((result) => result.failovers >= 1)).toBe(true);
    });
  }

  it('a run is a function of its seed: the same seed gives the same events and counts', () => {
    const first = runReplicationSimulation({ seed: 7, style: 'semi-active', policy: 'fairness' });
    const second = runReplicationSimulation({ seed: 7, style: 'semi-active', policy: 'fairness' });
    expect(second.events).toBe(first.events);
    expect(second.packets).toBe(first.packets);
    expect(second.simulatedMs).toBe(first.simulatedMs);
  });

  it('a violation names the seed and the command that replays it', () => {
    // A time limit too short to answer every request is a liveness violation.
    const result = runReplicationSimulation({ seed: 3, style: 'passive', crash: null, limitMs: 20 });
    expect(result.ok).toBe(false);
    expect(result.violations[0]?.seed).toBe(3);
    expect(result.violations[0]?.replayCommand).toBe(
      'pnpm steadfast sim replication --seeds 1 --from 3 --style passive',
    );
  });
});
