/**
 * `pnpm bench [router|udp|sim ...] [--markdown]`: the foundation's benchmarks, side by side in one
 * run, printed as one JSON object (and a Markdown table with --markdown). Never asserted in tests:
 * timings here are noisy, so compare the ratios measured within one run.
 */
import { benchChain } from './chain.js';
import { hopsMain } from './hops.js';
import { benchRouter } from './router-vs-xstate.js';
import { benchSimulator } from './sim-speed.js';
import { benchUdpEcho } from './udp-echo.js';

const all = ['router', 'udp', 'sim', 'chain'] as const;
type BenchName = (typeof all)[number];

async function main(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write(
      'usage: pnpm bench [router] [udp] [sim] [chain] [--markdown]\n       pnpm bench hops DIR [--timeline PID:PORT] [--count N] [--json]\n\nRuns the named benchmarks (default all) and prints one JSON object; `hops` reads the hop trace\nfiles of a run (STEADFAST_HOP_TRACE) instead.\n',
    );
    return 0;
  }
  if (args[0] === 'hops') return hopsMain(args.slice(1));
  const markdown = args.includes('--markdown');
  const named = args.filter((arg) => !arg.startsWith('--'));
  for (const name of named) {
    if (!(all as readonly string[]).includes(name)) {
      process.stderr.write(`bench: unknown benchmark '${name}' (known: ${all.join(', ')})\n`);
      return 2;
    }
  }
  const chosen = (named.length === 0 ? all : named) as readonly BenchName[];
  const results: Record<string, unknown> = {
    machine: {
      node: process.version,
      cpus: (await import('node:os')).cpus().length,
      date: new Date().toISOString(),
    },
  };
  if (chosen.includes('router')) {
    process.stderr.write('bench: router vs bare xstate…\n');
    results.router = benchRouter();
  }
  if (chosen.includes('udp')) {
    process.stderr.write('bench: UDP echo through the runtime vs bare dgram + msgpackr…\n');
    results.udpEcho = await benchUdpEcho();
  }
  if (chosen.includes('sim')) {
    process.stderr.write('bench: simulator speed, 5 nodes…\n');
    results.simulator = await benchSimulator();
  }
  if (chosen.includes('chain')) {
    process.stderr.write('bench: hand-written chains, client + server vs client + primary + 2 backups…\n');
    results.chain = await benchChain();
  }
  if (markdown) process.stderr.write(`${toMarkdown(results)}\n`);
  process.stdout.write(`${JSON.stringify(results)}\n`);
  return 0;
}

function toMarkdown(results: Record<string, unknown>): string {
  const lines = ['| benchmark | figure | target |', '|---|---|---|'];
  const router = results.router as ReturnType<typeof benchRouter> | undefined;
  if (router)
    lines.push(
      `| router vs bare xstate | ${router.routerOpsPerSec} vs ${router.bareXstateOpsPerSec} events/s = ${router.ratio}× | ≥ 0.5× |`,
    );
  const udp = results.udpEcho as Awaited<ReturnType<typeof benchUdpEcho>> | undefined;
  if (udp)
    lines.push(
      `| UDP echo p50 | ${udp.runtime.p50Us} µs vs ${udp.bare.p50Us} µs bare (${udp.bareWithHmac.p50Us} µs bare + HMAC) = ${udp.p50Ratio}× | ≤ 1.3× |`,
    );
  const sim = results.simulator as Awaited<ReturnType<typeof benchSimulator>> | undefined;
  if (sim)
    lines.push(
      `| simulator, 5 nodes | ${sim.traced.speedup}× traced, ${sim.untraced.speedup}× untraced | ≥ 100× |`,
    );
  const chain = results.chain as Awaited<ReturnType<typeof benchChain>> | undefined;
  if (chain)
    lines.push(
      `| hand-written chain, 3-replica pattern vs pair | p50 ${chain.group.p50Us} vs ${chain.pair.p50Us} µs = ${chain.latencyRatioP50}×; ${chain.group.opsPerSec} vs ${chain.pair.opsPerSec} ops/s = ${chain.throughputRatio}× | (the floor of bench replication) |`,
      `| hand-written chain batched, 3 replicas | ${chain.batchedGroup.opsPerSec} ops/s; ${chain.batchedGroupWithAccount.opsPerSec} ops/s running the bank's account on each replica | (what batching allows) |`,
    );
  return lines.join('\n');
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
