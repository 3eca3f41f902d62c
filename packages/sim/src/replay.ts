/**
 * Replaying a run: the shell command that reruns a seed (house style rule 11), and the report a
 * failing run prints. The command uses exactly the flags of `steadfast sim`:
 * `--seed N --nodes K --steps S --faults LIST --trace FILE --json`.
 */
import { formatFaults, type FaultKind } from './faults.js';

/**
 * The flags of the replay command besides the seed. Options without a CLI flag (`safetyMs`, the
 * network, ...) are not carried, so a run is only replayable when it used the CLI's defaults.
 */
export interface ReplayOptions {
  /** Node count, or the node ids (only their count travels: the CLI names nodes `n1`..`nK`). */
  readonly nodes: number | readonly string[];
  readonly faults: readonly FaultKind[];
  /** Bound on clock steps (`--steps`), when the run had one. */
  readonly steps?: number;
  /** Where the replay writes its trace (`--trace`). */
  readonly trace?: string;
  readonly json?: boolean;
}

/** The node ids the CLI uses for `--nodes K`: `n1`..`nK`. */
export function defaultNodeIds(count: number): string[] {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`node count must be a positive integer, got ${count}`);
  return Array.from({ length: count }, (_, index) => `n${index + 1}`);
}

/** Quotes a shell word only when it needs it. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:,=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `pnpm steadfast sim --seed 42 --nodes 3 --faults crash,loss`: the command that replays a run. */
export function replayCommand(seed: number, options: ReplayOptions): string {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  const nodesCount = typeof options.nodes === 'number' ? options.nodes : options.nodes.length;
  const words = ['pnpm', 'steadfast', 'sim', '--seed', String(seed), '--nodes', String(nodesCount)];
  if (options.steps !== undefined) words.push('--steps', String(options.steps));
  words.push('--faults', formatFaults(options.faults));
  if (options.trace !== undefined) words.push('--trace', shellWord(options.trace));
  if (options.json === true) words.push('--json');
  return words.join(' ');
}

/** The part of a violation `formatReport` prints: its virtual time, its event number and its message. */
export interface ReportedViolation {
  readonly atMs: number;
  readonly event: number;
  readonly message: string;
}

/**
 * The fields of a run's result that `formatReport` reads: a `SimulationResult` has them, and so may
 * any other result that should print the same way.
 */
export interface ReportableResult {
  readonly seed: number;
  readonly events: number;
  readonly simulatedMs: number;
  readonly violations: readonly ReportedViolation[];
  readonly replayCommand: string;
  readonly traceHash: string;
}

/** A short human report; a failing one names the seed, each violation's virtual time and the replay command. */
export function formatReport(result: ReportableResult): string {
  const ok = result.violations.length === 0;
  const lines = [
    `simulation seed ${result.seed}: ${ok ? 'passed' : 'FAILED'} after ${result.events} events, ${result.simulatedMs} ms of virtual time`,
  ];
  for (const violation of result.violations) {
    lines.push(`  violation at ${violation.atMs} ms (event ${violation.event}): ${violation.message}`);
  }
  lines.push(`  trace hash ${result.traceHash}`);
  lines.push(`  replay with: ${result.replayCommand}`);
  return lines.join('\n');
}
