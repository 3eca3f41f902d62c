/**
 * End to end over a real network: `steadfast chaos replication` runs the replicated bank account on
 * 3 node processes inside a network namespace whose kernel (nftables) drops 5 % and duplicates 3 %
 * of the UDP datagrams throughout, while every process holds each datagram it sends for a random
 * 0 – 5 ms (so some arrive after later ones); it cuts the primary off for a second, then SIGKILLs
 * the primary and restarts it, then cuts a backup off, then the client, for a second each; then it
 * cuts the primary one way (unheard: its datagrams dropped; then deaf: datagrams to it dropped),
 * and last a backup deaf (docs/cli.md, `steadfast chaos replication`).
 *
 * Invariants checked, for each style: every deposit issued was answered exactly once and applied
 * exactly once (the balance is their sum, no request lost or answered twice); after each cut of a
 * member, after each one-way cut and after the crash every member served again (in the primary's
 * view, a backup able to take over close to the primary's position), and no client waited longer
 * than 1.5 s for an answer through a one-way cut of 2 s (before pre-votes, a deaf member stopped
 * the group for the whole cut); after the client's cut the answers resumed; and the
 * faults really happened (the rules' counters show dropped, duplicated and cut-off datagrams, the
 * senders' counters delayed and reordered ones), so a run that skipped them cannot pass.
 *
 * `chaos chain` puts two tiers there: a replicated front that calls the replicated account
 * synchronously for every deposit (reading the wall clock through `ctx.call` while it handles each
 * reply), with a SIGKILL and restart of each group's primary and then a cut of each: every deposit
 * answered and applied exactly once, both groups whole again after every fault, no replica of the
 * front diverged (with the backups' processing of synchronous replies before 2026-11-23, 48
 * divergences in one run), and the faults happened. Once more with the front giving up on the
 * account's reply after 100 ms (`--sync-reply-timeout-ms`): some deposits are answered with the
 * timeout, and the balance still counts each deposit exactly once.
 *
 * `chaos demo` puts the example bank of `steadfast demo` in the same network (loss, duplication,
 * delay and reordering): every transfer answered, the money conserved, and the faults happened.
 *
 * Needs root, iproute2 and nftables: `.ci/run` installs them and runs as root. Elsewhere the test
 * is skipped with the reason, except under CI, where a missing tool fails it.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ChainChaosSummary, ChaosSummary } from './commands/chaos.js';
import { namespaceUnavailable } from './host/network-namespace.js';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
const unavailable = namespaceUnavailable();
const mustRun = process.env['CI'] !== undefined && process.env['CI'] !== 'false';
if (unavailable !== undefined && !mustRun) process.stderr.write(`chaos.test.ts: skipped, ${unavailable}\n`);

function chaos(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  what = 'replication',
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', tsx, main, 'chaos', what, '--json', ...args],
      { timeout: 170_000, maxBuffer: 64 * 1024 * 1024, env },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1,
          stdout,
          stderr,
        }),
    );
  });
}

/** Every deposit issued (at least `requests`) answered once and applied once: the balance is their sum. */
function expectExactlyOnce(summary: ChaosSummary | ChainChaosSummary, requests: number): void {
  expect(summary.lost).toBe(0);
  expect(summary.duplicated).toBe(0);
  expect(summary.replies).toBe(summary.requests);
  expect(summary.requests).toBeGreaterThanOrEqual(requests);
  expect(summary.balanceCents).toBe(summary.expectedBalanceCents);
  expect(summary.exactlyOnce).toBe(true);
}

/** The run's faults happened: datagrams dropped, duplicated and cut off; delayed, and reordered. */
function expectFaultsHappened(summary: ChaosSummary | ChainChaosSummary): void {
  expect(summary.faults.dropped).toBeGreaterThan(0);
  expect(summary.faults.duplicated).toBeGreaterThan(0);
  expect(summary.faults.cut).toBeGreaterThan(0);
  expect(summary.delays.maxMs).toBe(5);
  expect(summary.delays.delayed).toBeGreaterThan(0);
  expect(summary.delays.reordered).toBeGreaterThan(0);
}

describe.skipIf(unavailable !== undefined && !mustRun)(
  'chaos replication: a private network that loses, duplicates and partitions',
  () => {
    it('this machine can make one (under CI it must)', () => {
      expect(unavailable).toBeUndefined();
    });

    for (const style of ['semi-active', 'passive'] as const)
      it(`${style}: every deposit answered and applied exactly once through loss, duplication, delay, reordering, partitions and a SIGKILL`, async () => {
        const run = await chaos(['--style', style, '--requests', '600', '--cut-ms', '2000']);
        const lines = run.stdout.trimEnd().split('\n');
        const summary = JSON.parse(lines[lines.length - 1]!) as ChaosSummary;
        expectExactlyOnce(summary, 600);
        expect(summary.partition?.wholeMs ?? null).not.toBeNull();
        expect(summary.crash?.wholeMs ?? null).not.toBeNull();
        expect(summary.backupCut?.wholeMs ?? null).not.toBeNull();
        expect(summary.clientCut?.resumedMs ?? null).not.toBeNull();
        for (const oneWay of [summary.primaryUnheard, summary.primaryDeaf, summary.backupDeaf]) {
          expect(oneWay?.wholeMs ?? null).not.toBeNull();
          expect(oneWay!.longestGapMs).toBeLessThan(1_500);
        }
        expectFaultsHappened(summary);
        expect(run.code, run.stderr).toBe(0);
      }, 180_000);
  },
);

describe.skipIf(unavailable !== undefined && !mustRun)(
  'chaos chain: two tiers of replica groups in the same network',
  () => {
    for (const style of ['semi-active', 'passive'] as const)
      it(`${style}: every deposit through the front answered and applied exactly once through loss, duplication, delay, reordering, a SIGKILL and a cut in each tier`, async () => {
        const run = await chaos(['--style', style, '--requests', '400'], process.env, 'chain');
        const lines = run.stdout.trimEnd().split('\n');
        const summary = JSON.parse(lines[lines.length - 1]!) as ChainChaosSummary;
        expectExactlyOnce(summary, 400);
        for (const fault of [
          summary.frontCrash,
          summary.accountsCrash,
          summary.frontCut,
          summary.accountsCut,
        ])
          expect(fault?.wholeMs ?? null).not.toBeNull();
        expect(summary.frontDivergences).toBe(0);
        expectFaultsHappened(summary);
        expect(run.code, run.stderr).toBe(0);
      }, 180_000);

    it('semi-active, the front giving up on the account after 100 ms: every deposit answered once (some with the timeout) and applied exactly once', async () => {
      const args = ['--requests', '400', '--sync-reply-timeout-ms', '100'];
      const run = await chaos(args, process.env, 'chain');
      const lines = run.stdout.trimEnd().split('\n');
      const summary = JSON.parse(lines[lines.length - 1]!) as ChainChaosSummary;
      // A timed-out deposit counts as answered and in the balance: the account still applies it.
      expectExactlyOnce(summary, 400);
      // The account's SIGKILL and cut each hold a synchronous call past 100 ms (a failover takes
      // longer), so some deposits are answered with the timeout: the path this case is for.
      expect(summary.timedOut).toBeGreaterThan(0);
      expect(summary.timedOut).toBeLessThan(summary.replies);
      expect(summary.frontDivergences).toBe(0);
      expectFaultsHappened(summary);
      expect(run.code, run.stderr).toBe(0);
    }, 180_000);
  },
);

describe.skipIf(unavailable !== undefined && !mustRun)(
  'chaos demo: the example bank in the same network',
  () => {
    it('answers every transfer and conserves the money through loss, duplication, delay and reordering', async () => {
      const run = await chaos(['--requests', '300'], process.env, 'demo');
      const lines = run.stdout.trimEnd().split('\n');
      const summary = JSON.parse(lines[lines.length - 1]!) as {
        requests: number;
        replies: number;
        lost: number;
        conserved: boolean;
        faults: { dropped: number; duplicated: number };
        delays: { maxMs: number; delayed: number; reordered: number };
      };
      expect(summary.requests).toBe(300);
      expect(summary.replies).toBe(300);
      expect(summary.lost).toBe(0);
      expect(summary.conserved).toBe(true);
      expect(summary.faults.dropped).toBeGreaterThan(0);
      expect(summary.faults.duplicated).toBeGreaterThan(0);
      expect(summary.delays.delayed).toBeGreaterThan(0);
      expect(summary.delays.reordered).toBeGreaterThan(0);
      expect(run.code, run.stderr).toBe(0);
    }, 180_000);
  },
);

describe('chaos replication without the tools', () => {
  it('exits 2 saying what is missing, before it starts anything', async () => {
    // No PATH: neither `ip` nor `nft` (nor a shell to look them up) can be found.
    const run = await chaos([], { ...process.env, PATH: '/nonexistent' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /cannot make a private network here: (.*is not installed|.*need root|.*need Linux)/,
    );
    expect(run.stdout).toBe('');
  }, 60_000);
});
