/**
 * `bench replication`'s verdicts on its targets (`replicationTargetVerdicts`), and `sim
 * replication`'s handling of one seed (`sweepReplicationSeed`), with the simulation replaced by
 * scripted results: the branch in which a run passes with the stuck-input safety net and fails
 * without it has no seed known to reach it (that is what the sweeps found), so only a script can
 * drive it. The CLI test runs the real simulation through the passing branch (seed 5840).
 */
import { describe, expect, it } from 'vitest';
import {
  emptyReplicationSweepTally,
  replicationTargetVerdicts,
  sweepReplicationSeed,
  targetVerdictsLine,
  type ReplicationSweepRun,
} from './replication.js';

const NET_MS = 500;

function run(overrides: Partial<ReplicationSweepRun> = {}): ReplicationSweepRun {
  return {
    requests: 12,
    timedOut: 0,
    failovers: 3,
    stateLosses: [],
    stuckInputsAsked: 0,
    missingEntriesFetched: 0,
    fellBehind: 0,
    copiesAheadOfBasis: 0,
    violations: [],
    replayCommand: 'pnpm steadfast sim replication --seeds 1 --from 7 --style passive',
    ...overrides,
  };
}

const violation = {
  seed: 7,
  atMs: 1_234,
  event: 56,
  message: 'request r2 took effect 0 times at the ledger',
  replayCommand: 'pnpm steadfast sim replication --seeds 1 --from 7 --stuck-ask-ms 0',
  check: 'end' as const,
};

/** A scripted `simulate`: the result for each net wait, and every call it got. */
function scripted(byNetMs: Record<number, ReplicationSweepRun>) {
  const calls: [seed: number, stuckAskMs: number][] = [];
  const simulate = async (seed: number, stuckAskMs: number) => {
    calls.push([seed, stuckAskMs]);
    const result = byNetMs[stuckAskMs];
    if (result === undefined) throw new Error(`unexpected net wait ${stuckAskMs}`);
    return result;
  };
  return { simulate, calls };
}

/** A sweep's tally and printed lines, fresh, and `seed`, which sweeps one seed into them. */
function sweep(simulate: ReturnType<typeof scripted>['simulate']) {
  const counts = emptyReplicationSweepTally();
  const lines: string[] = [];
  const seed = (value: number) =>
    sweepReplicationSeed(value, NET_MS, simulate, counts, (line) => lines.push(line));
  return { counts, lines, seed };
}

describe('replicationTargetVerdicts', () => {
  // Invariant: a figure on its bound meets the target, one a step past it does not, each in its
  // own direction (at most for messages and the latency ratio, at least for the throughput).
  it('meets each target on its bound and misses it just past', () => {
    const onBounds = replicationTargetVerdicts({
      orderingOnlyMessagesPerRequest: 0,
      replicatedOpsPerSec: 20_000,
      latencyRatioP50: 1.2,
    });
    expect(onBounds).toEqual({
      orderingOnlyMessagesPerRequest: { target: 0, measured: 0, met: true },
      replicatedOpsPerSec: { target: 20_000, measured: 20_000, met: true },
      latencyRatioP50: { target: 1.2, measured: 1.2, met: true },
    });
    const past = replicationTargetVerdicts({
      orderingOnlyMessagesPerRequest: 0.0001,
      replicatedOpsPerSec: 19_999,
      latencyRatioP50: 1.201,
    });
    expect(Object.values(past).map((verdict) => verdict.met)).toEqual([false, false, false]);
  });

  it('says which targets a run met, and when the run is not the setting they are for', () => {
    const verdicts = replicationTargetVerdicts({
      orderingOnlyMessagesPerRequest: 0,
      replicatedOpsPerSec: 9_328,
      latencyRatioP50: 3.418,
    });
    const line = targetVerdictsLine(verdicts, true);
    expect(line).toBe(
      'targets: ordering-only messages per request 0 (target 0): met; replicated 9328 ops/s with 64 in flight (target >= 20000): not met; latency ratio p50 3.418 (target <= 1.2): not met',
    );
    expect(targetVerdictsLine(verdicts, false)).toMatch(
      /^targets \(the targets are set for semi-active with outputCommit at-once; this run is another setting\): /,
    );
  });
});

describe('sweepReplicationSeed', () => {
  // Invariant: a run a net carried to a pass, which fails without the nets, is counted as needing
  // that net (the two nets apart) and printed with the failing run's replay command; the seed
  // itself is no violation.
  it.each([
    {
      net: 'stuck-input',
      fired: { stuckInputsAsked: 2 },
      counted: { stuckInputRuns: 1, stuckInputNeededRuns: 1 },
      said: 'asked its primary for the input (2 times)',
    },
    {
      net: 'missing-entry',
      fired: { missingEntriesFetched: 3 },
      counted: { missingEntryRuns: 1, missingEntryNeededRuns: 1 },
      said: 'for the order after its position (3 answers brought a missing announcement, 0 times',
    },
  ])('counts and prints a run that passes with the $net net and fails without it', async (net) => {
    const { simulate, calls } = scripted({
      [NET_MS]: run(net.fired),
      0: run({ violations: [violation] }),
    });
    const { counts, lines, seed } = sweep(simulate);
    const violations = await seed(7);
    expect(violations).toEqual([]);
    expect(calls).toEqual([
      [7, NET_MS],
      [7, 0],
    ]);
    expect(counts).toEqual({
      ...emptyReplicationSweepTally(),
      requests: 12,
      failovers: 3,
      ...net.counted,
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(net.said);
    expect(lines[0]).toContain(`WITHOUT THE NET THE RUN FAILS: ${violation.message}`);
    expect(lines[0]).toContain(`(replay: ${violation.replayCommand})`);
  });

  // Invariant: a run that passes either way counts as a net run, not a needed one (the recheck's
  // own run adds nothing to the requests and failovers).
  it('counts a run that passes without the net too as not needing it', async () => {
    const { simulate, calls } = scripted({ [NET_MS]: run({ stuckInputsAsked: 1 }), 0: run() });
    const { counts, lines, seed } = sweep(simulate);
    expect(await seed(8)).toEqual([]);
    expect(calls).toEqual([
      [8, NET_MS],
      [8, 0],
    ]);
    expect(counts).toEqual({
      ...emptyReplicationSweepTally(),
      requests: 12,
      failovers: 3,
      stuckInputRuns: 1,
    });
    expect(lines).toEqual([expect.stringContaining('; without the net the run passes too')]);
  });

  // Invariant: a failing run is reported as its own violation and not rerun (the recheck asks only
  // whether a pass depended on the net); a run in which the net never fired is not rerun either.
  it('does not rerun a run that failed, nor one in which the net did not fire', async () => {
    const failed = scripted({ [NET_MS]: run({ stuckInputsAsked: 1, violations: [violation] }) });
    const { counts, lines, seed } = sweep(failed.simulate);
    expect(await seed(9)).toEqual([{ message: violation.message, replay: violation.replayCommand }]);
    expect(failed.calls).toEqual([[9, NET_MS]]);
    expect(counts.stuckInputRuns).toBe(1);
    expect(counts.stuckInputNeededRuns).toBe(0);
    expect(lines[0]).not.toContain('without the net');

    const quiet = scripted({ [NET_MS]: run({ stateLosses: [{ group: 'B', atMs: 1_800 }] }) });
    const { counts: quietCounts, lines: quietLines, seed: quietSeed } = sweep(quiet.simulate);
    expect(await quietSeed(10)).toEqual([]);
    expect(quiet.calls).toEqual([[10, NET_MS]]);
    expect(quietCounts).toEqual({
      ...emptyReplicationSweepTally(),
      requests: 12,
      failovers: 3,
      stateLosses: 1,
    });
    expect(quietLines).toEqual([
      '  seed 10: group B lost its state at 1800 ms (every replica holding it failed: beyond what the group tolerates)',
    ]);
  });

  // Invariant: messages that reached a replica ahead of their epoch's basis are added up over the
  // runs and each run with some is named with its replay command; the run is no violation and is
  // not rerun. A run without any prints nothing about them.
  it('adds up and names the runs with messages ahead of their basis', async () => {
    const { simulate, calls } = scripted({ [NET_MS]: run({ copiesAheadOfBasis: 4 }) });
    const { counts, lines, seed } = sweep(simulate);
    expect(await seed(11)).toEqual([]);
    expect(await seed(12)).toEqual([]);
    expect(calls).toEqual([
      [11, NET_MS],
      [12, NET_MS],
    ]);
    expect(counts).toEqual({
      ...emptyReplicationSweepTally(),
      requests: 24,
      failovers: 6,
      copiesAheadOfBasis: 8,
    });
    expect(lines).toEqual([
      "  seed 11: 4 messages of a group's new epoch reached a replica ahead of that epoch's basis (not a violation, but a path to find; replay: pnpm steadfast sim replication --seeds 1 --from 7 --style passive)",
      "  seed 12: 4 messages of a group's new epoch reached a replica ahead of that epoch's basis (not a violation, but a path to find; replay: pnpm steadfast sim replication --seeds 1 --from 7 --style passive)",
    ]);
    const { counts: none, lines: quiet, seed: quietSeed } = sweep(scripted({ [NET_MS]: run() }).simulate);
    await quietSeed(13);
    expect(none.copiesAheadOfBasis).toBe(0);
    expect(quiet).toEqual([]);
  });
});
