/**
 * Simulator speed: simulated time over wall time for the example bank on 5 nodes under every
 * fault, with tracing on (the default, what `steadfast sim` does) and off.
 */
import { createBankSimulation } from '@steadfast/example-bank';
import { ALL_FAULTS } from '@steadfast/sim';
import { round } from './stats.js';

async function measure(seed: number, trace: boolean) {
  const simulation = createBankSimulation({
    seed,
    nodes: 5,
    faults: [...ALL_FAULTS],
    trace,
    wallClock: () => performance.now(),
  });
  const result = await simulation.run();
  if (!result.ok) throw new Error(`seed ${seed} failed: ${result.violations[0]?.message}`);
  return { simulatedMs: result.simulatedMs, wallMs: result.wallMs ?? 0, events: result.events };
}

export async function benchSimulator(seeds = 5) {
  await measure(1_000, true); // warm-up: the JIT and the codec's first frames
  const rows: Record<string, { simulatedMs: number; wallMs: number; events: number }> = {};
  for (const trace of [true, false]) {
    let simulatedMs = 0;
    let wallMs = 0;
    let events = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const run = await measure(seed, trace);
      simulatedMs += run.simulatedMs;
      wallMs += run.wallMs;
      events += run.events;
    }
    rows[trace ? 'traced' : 'untraced'] = { simulatedMs, wallMs: round(wallMs), events };
  }
  const speed = (row: { simulatedMs: number; wallMs: number }) => round(row.simulatedMs / row.wallMs, 1);
  return {
    nodes: 5,
    seeds,
    traced: {
      ...rows.traced!,
      speedup: speed(rows.traced!),
      eventsPerSec: Math.round(rows.traced!.events / (rows.traced!.wallMs / 1000)),
    },
    untraced: {
      ...rows.untraced!,
      speedup: speed(rows.untraced!),
      eventsPerSec: Math.round(rows.untraced!.events / (rows.untraced!.wallMs / 1000)),
    },
    target: 'simulated/wall >= 100',
  };
}
