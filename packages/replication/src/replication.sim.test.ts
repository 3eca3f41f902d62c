/**
 * Replica groups as real runtime actors on `@steadfast/sim` nodes, under the nemesis (crash,
 * restart, partition, one-way, loss, duplicate, reorder, delay). Invariants checked by
 * `runReplicationSimulation` after every event: no replica of any incarnation processes another
 * input at a position that a non-primary replica already processed (backups follow a prefix of the
 * primary's order; no failover picks a conflicting order: claims 41, 64, 65, 68, 69); no replica
 * diverged. At the end of the healed liveness phase: every live replica at the primary's position
 * with the same state (passive: able to take over at it), each request applied exactly once with
 * exactly one reply, and the replies' totals consistent with one ledger order. With these scripted
 * views (crashes only, never a live primary deposed) no replica may ever process a position a later
 * epoch's basis cuts: the checker's exception for such positions must never be needed here
 * (`discardedStates` is 0).
 * `REPLICATION_SIM_SEEDS` changes the number of seeds per configuration.
 */
import { describe, expect, it } from 'vitest';
import { policyForSeed } from './policy.js';
import { ALL_FAULTS } from '@steadfast/sim';
import {
  replicationSimReplayCommand,
  runReplicationSimulation,
  type ReplicationSimResult,
} from './testing.js';

const SEEDS = Number(process.env['REPLICATION_SIM_SEEDS'] ?? 25);

function failures(results: readonly ReplicationSimResult[]): string[] {
  return results
    .filter((result) => !result.ok)
    .map((result) => `${result.violations[0]?.message} — replay: ${result.replayCommand}`);
}

describe('replica groups on the simulator, under every fault kind', () => {
  for (const style of ['semi-active', 'passive'] as const) {
    it(`${style}: seeds 1-${SEEDS} × chain and direct, every policy, all faults: safe after every event, live after the heal`, async () => {
      const results: ReplicationSimResult[] = [];
      for (const topology of ['chain', 'direct'] as const)
        for (let seed = 1; seed <= SEEDS; seed++)
          results.push(
            await runReplicationSimulation({
              seed,
              style,
              topology,
              policy: policyForSeed(seed),
            }),
          );
      expect(failures(results)).toEqual([]);
      // The nemesis must actually have failed primaries over and restarted replicas, or this proves little.
      expect(results.reduce((sum, result) => sum + result.failovers, 0)).toBeGreaterThan(SEEDS / 2);
      expect(results.reduce((sum, result) => sum + result.stateTransfers, 0)).toBeGreaterThan(SEEDS);
      expect(results.reduce((sum, result) => sum + result.faultsInjected.partition, 0)).toBeGreaterThan(0);
    });
  }

  it('failover soundness: the old primary’s last messages, delayed 400 ms, arrive after the flush and are fenced (claims 65, 69)', async () => {
    const schedule = [
      { atMs: 400, fault: 'delay', nodes: ['b1'], durationMs: 1500, intensity: 400 },
      { atMs: 430, fault: 'crash', nodes: ['b1'] },
    ] as const;
    const results: ReplicationSimResult[] = [];
    for (let seed = 1; seed <= 16; seed++)
      for (const topology of ['direct', 'chain'] as const)
        results.push(
          await runReplicationSimulation({
            seed,
            style: 'semi-active',
            topology,
            requests: 16,
            faults: [],
            schedule,
          }),
        );
    expect(failures(results)).toEqual([]);
    expect(results.every((result) => result.failovers === 1)).toBe(true);
    // In some runs messages of the old epoch past the cut reach replicas after the flush and are
    // dropped. Which runs catch such a message depends on how the old primary's last sends were
    // packed and in which order they left (a pass's outputs leave batched, the other group first),
    // so the check asks that the scenario occurs, not in which seed.
    const fenced = results.filter((result) => result.fencedMessages > 0);
    expect(fenced.length).toBeGreaterThan(0);
  });

  it('crashes of a backup, a client backup and a client primary, with restarts: each new incarnation gets a state transfer', async () => {
    for (const style of ['semi-active', 'passive'] as const) {
      const result = await runReplicationSimulation({
        seed: 11,
        style,
        topology: 'chain',
        faults: [],
        schedule: [
          { atMs: 300, fault: 'crash', nodes: ['b3'] },
          { atMs: 400, fault: 'crash', nodes: ['c2'] },
          { atMs: 600, fault: 'restart', nodes: ['b3'] },
          { atMs: 700, fault: 'restart', nodes: ['c2'] },
          { atMs: 900, fault: 'crash', nodes: ['c1'] },
          { atMs: 1000, fault: 'partition', nodes: ['a1', 'b1'], durationMs: 300 },
        ],
      });
      expect(failures([result])).toEqual([]);
      expect(result.stateTransfers).toBeGreaterThanOrEqual(3); // b3, c2, and c1 at the heal
      expect(result.failovers).toBeGreaterThanOrEqual(1); // C's primary c1
    }
  });

  it('state transfers and flush replies larger than the frame budget go in parts and are joined (piggybackCharsMax 300), under every fault, both view origins', async () => {
    const results: ReplicationSimResult[] = [];
    for (const views of ['scripted', 'membership'] as const)
      for (const style of ['semi-active', 'passive'] as const)
        for (let seed = 1; seed <= 6; seed++)
          results.push(
            await runReplicationSimulation({
              seed,
              style,
              views,
              policy: policyForSeed(seed),
              settings: { piggybackCharsMax: 300 },
            }),
          );
    expect(failures(results)).toEqual([]);
    expect(results.reduce((sum, result) => sum + result.controlMessagesJoined, 0)).toBeGreaterThan(10);
    expect(results.reduce((sum, result) => sum + result.stateTransfers, 0)).toBeGreaterThan(10);
  });

  it('a tiny inputsMax (4) under every fault: no input is lost and no backup is left behind', async () => {
    // Seeds that failed before (semi-active, 30 requests): with every replica dropping inputs past
    // the bound, requests were never applied nor answered (86015, 86018); with a backup's entries
    // ahead and orders held bounded at inputsMax, backups stayed behind (86047, 86070, 86125).
    const results: ReplicationSimResult[] = [];
    for (const seed of [86015, 86018, 86047, 86070, 86125])
      results.push(
        await runReplicationSimulation({
          seed,
          style: 'semi-active',
          requests: 30,
          settings: { inputsMax: 4 },
        }),
      );
    expect(failures(results)).toEqual([]);
  });

  // With the fixed 3 s phase the groups were still catching up when the end checks ran: requests
  // unanswered. The phase grows with the requests (3 s plus 15 ms each).
  it.each([
    { seed: 98203, requests: 600, options: { style: 'passive' } },
    {
      seed: 99654,
      requests: 100,
      options: {
        style: 'semi-active',
        policy: 'fairness',
        views: 'membership',
        failingRequests: true,
        settings: { outputCommit: 'majority' },
      },
    },
    {
      seed: 100982,
      requests: 200,
      options: {
        style: 'semi-active',
        policy: 'priority',
        topology: 'chain',
        frontCalls: true,
        settings: { outputCommit: 'majority', syncReplyTimeoutMs: 80 },
      },
    },
  ] as const)(
    'a run of many requests gets a liveness phase long enough to finish them (seed $seed, $requests requests)',
    async ({ seed, requests, options }) => {
      const result = await runReplicationSimulation({ seed, requests, ...options });
      expect(failures([result])).toEqual([]);
      expect(result.replies).toBe(requests);
    },
  );

  // Seed 100982 of the chain with an 80 ms reply timeout partitions the primaries of the client
  // group D and the front from their groups, then crashes both. D's primary timed its own call out,
  // and the harness took that answer, which only the primary held, as final: the backup that took
  // over never issued the request, and nobody offered it again (requests lost). With 200 requests,
  // the client group C's backup then waited for good for a reply of the front's old epoch that its
  // primary no longer kept; its primary now says so, and the backup starts over by state transfer.
  it.each([
    { requests: 100, style: 'semi-active', frontCalls: false },
    { requests: 100, style: 'passive', frontCalls: false },
    { requests: 200, style: 'semi-active', frontCalls: true },
    { requests: 200, style: 'passive', frontCalls: true },
  ] as const)(
    'seed 100982 ($style, $requests requests): every request once, every backup at its primary',
    async ({ requests, style, frontCalls }) => {
      const result = await runReplicationSimulation({
        seed: 100982,
        requests,
        style,
        policy: 'priority',
        topology: 'chain',
        frontCalls,
        settings: { syncReplyTimeoutMs: 80 },
      });
      expect(failures([result])).toEqual([]);
      expect(result.replies).toBe(requests);
    },
  );

  it('a run is a function of its seed', async () => {
    const first = await runReplicationSimulation({ seed: 7, style: 'semi-active', topology: 'chain' });
    const second = await runReplicationSimulation({ seed: 7, style: 'semi-active', topology: 'chain' });
    expect(second.events).toBe(first.events);
    expect(second.simulatedMs).toBe(first.simulatedMs);
    expect(second.failovers).toBe(first.failovers);
  });

  it('a violation names the seed and the command that replays it', async () => {
    // No liveness phase and a safety phase too short to answer: the end checks must fail.
    const result = await runReplicationSimulation({
      seed: 3,
      style: 'passive',
      faults: [],
      livenessMs: 0,
      safetyMs: 55,
    });
    expect(result.ok).toBe(false);
    expect(result.violations[0]?.seed).toBe(3);
    expect(result.violations[0]?.replayCommand).toBe(
      'pnpm steadfast sim replication --seeds 1 --from 3 --style passive --faults none',
    );
  });

  it('the replay command repeats every option that changes the run, and only those', () => {
    expect(replicationSimReplayCommand(9, 'semi-active')).toBe(
      'pnpm steadfast sim replication --seeds 1 --from 9 --style semi-active',
    );
    // The defaults (all faults, 3 replicas) are left out; the rest is there, in the CLI's words.
    expect(
      replicationSimReplayCommand(9, 'passive', undefined, 'scripted', {
        faults: ALL_FAULTS,
        replicas: 3,
        stuckAskMs: 500,
        checkpointIntervalMs: 20,
        syncReplyTimeoutMs: 0,
      }),
    ).toBe('pnpm steadfast sim replication --seeds 1 --from 9 --style passive');
    expect(
      replicationSimReplayCommand(9, 'passive', 'fairness', 'membership', {
        faults: ['loss', 'crash'],
        replicas: 5,
        piggybackCharsMax: 300,
        outputCommit: 'majority',
        frontCalls: true,
        stuckAskMs: 0,
        checkpointIntervalMs: 1000,
        syncReplyTimeoutMs: 30,
      }),
    ).toBe(
      'pnpm steadfast sim replication --seeds 1 --from 9 --style passive --policy fairness --views membership --faults crash,loss --replicas 5 --piggyback-chars 300 --output-commit majority --front-calls --stuck-ask-ms 0 --checkpoint-interval-ms 1000 --sync-reply-timeout-ms 30',
    );
  });
});
