/**
 * One seed of the multicast workload under the nemesis, for `steadfast sim group`: a connection
 * between a group of 3 and a group of 2 whose members multicast continuously, scripted views that
 * remove crashed members and re-add them as new incarnations, and the harness's invariants after
 * every event (per-sender order, exactly once, nothing unsent, bounded buffers) and after the heal
 * (every live sender's messages everywhere, buffers drained).
 */
import { ALL_FAULTS, formatFaults, Simulation, type FaultKind } from '@steadfast/sim';
import { MulticastHarness } from './harness.js';

/**
 * The outcome of one seed of `runMulticastSimulation`: whether it passed, its violations (each
 * already prefixed `multicast:`), totals for the CLI's summary, and the command that replays it.
 */
export interface MulticastSimulationResult {
  readonly ok: boolean;
  readonly violations: readonly { readonly atMs: number; readonly message: string }[];
  /** Multicasts accepted by the endpoints (null messages not counted). */
  readonly multicasts: number;
  /** Messages delivered, summed over every replica (null messages included). */
  readonly deliveries: number;
  /** Views the scripted membership installed, both groups together. */
  readonly viewChanges: number;
  readonly replayCommand: string;
}

/** The node ids of the simulated connection's two groups: `A` with 3 replicas, `B` with 2. */
export const MULTICAST_GROUPS = { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] } as const;

/**
 * Runs one seed of the multicast workload (see the module comment) under the nemesis with `faults`
 * (default: all kinds): a 2 s safety phase, the heal, a 3 s liveness phase, with a window of 32. The
 * same seed and faults give the same run; `replayCommand` replays it.
 */
export async function runMulticastSimulation(options: {
  readonly seed: number;
  readonly faults?: readonly FaultKind[];
}): Promise<MulticastSimulationResult> {
  const faults = options.faults ?? ALL_FAULTS;
  const harness = new MulticastHarness({
    groups: { A: [...MULTICAST_GROUPS.A], B: [...MULTICAST_GROUPS.B] },
    settings: { windowMax: 32 },
  });
  const simulation = new Simulation({
    seed: options.seed,
    nodes: harness.nodes,
    setup: harness.setup,
    workload: harness.workload,
    faults,
    safetyMs: 2_000,
    livenessMs: 3_000,
    trace: false,
    invariants: [harness.invariant],
    liveness: [harness.liveness],
  });
  const result = await simulation.run();
  return {
    ok: result.ok,
    violations: result.violations.map((violation) => ({
      atMs: violation.atMs,
      message: `multicast: ${violation.message}`,
    })),
    multicasts: harness.multicasts,
    deliveries: harness.deliveries,
    viewChanges: harness.viewChanges,
    replayCommand: `pnpm steadfast sim group --seeds 1 --from ${options.seed} --faults ${formatFaults(faults)}`,
  };
}
