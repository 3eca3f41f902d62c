/**
 * fast-check arbitraries for fault schedules. A property over `faultScheduleArbitrary` runs a
 * simulation under each generated schedule (option `schedule`, in place of the nemesis); when one
 * fails, fast-check shrinks it to a short list of faults that still breaks the property, which is
 * far easier to read than a failing seed.
 */
import fc from 'fast-check';
import { ALL_FAULTS, type FaultKind, type FaultSchedule, type ScheduledFault } from './faults.js';
import { minorityOf } from './nemesis.js';

/**
 * Options of `faultScheduleArbitrary`: the nodes and safety phase the schedules are for, and the
 * bounds they keep. Throws `RangeError` for no nodes or a non-positive `safetyMs`.
 */
export interface FaultScheduleArbitraryOptions {
  readonly nodes: readonly string[];
  /** Faults start in [0, safetyMs). */
  readonly safetyMs: number;
  /** Kinds to draw from. Default: all. */
  readonly faults?: readonly FaultKind[];
  /** Most entries in a schedule. Default 12. */
  readonly entriesMax?: number;
  /** Most nodes crashed at once; crashes beyond it are left out. Default: a minority. */
  readonly crashedMax?: number;
  /** Bounds of a fault's duration. Default [50, 2000]. */
  readonly durationMs?: readonly [min: number, max: number];
}

interface RawFault {
  readonly atMs: number;
  readonly fault: FaultKind;
  readonly nodes: readonly string[];
  readonly durationMs: number;
  readonly intensityPercent: number;
}

/** Explicit fault schedules, in time order, that keep at most `crashedMax` nodes down at once. */
export function faultScheduleArbitrary(options: FaultScheduleArbitraryOptions): fc.Arbitrary<FaultSchedule> {
  const kinds = options.faults ?? ALL_FAULTS;
  if (options.nodes.length === 0) throw new RangeError('faultScheduleArbitrary needs at least one node');
  if (kinds.length === 0) return fc.constant([]);
  if (!(Number.isInteger(options.safetyMs) && options.safetyMs > 0)) {
    throw new RangeError(`safetyMs must be a positive integer, got ${options.safetyMs}`);
  }
  const [durationMinMs, durationMaxMs] = options.durationMs ?? [50, 2_000];
  const crashedMax = options.crashedMax ?? minorityOf(options.nodes.length);
  const raw: fc.Arbitrary<RawFault> = fc.record({
    atMs: fc.integer({ min: 0, max: options.safetyMs - 1 }),
    fault: fc.constantFrom(...kinds),
    nodes: fc.shuffledSubarray([...options.nodes], { minLength: 1 }),
    durationMs: fc.integer({ min: durationMinMs, max: durationMaxMs }),
    intensityPercent: fc.integer({ min: 5, max: 90 }),
  });
  return fc
    .array(raw, { maxLength: options.entriesMax ?? 12 })
    .map((entries) => normalise(entries, options.nodes, crashedMax));
}

/** Sorts by time, shapes each entry for its kind and leaves out crashes past the bound. */
function normalise(
  entries: readonly RawFault[],
  nodes: readonly string[],
  crashedMax: number,
): ScheduledFault[] {
  const sorted = entries.slice().sort((left, right) => left.atMs - right.atMs);
  const crashed = new Set<string>();
  const schedule: ScheduledFault[] = [];
  for (const entry of sorted) {
    const shaped = shape(entry, nodes, crashed, crashedMax);
    if (shaped !== undefined) schedule.push(shaped);
  }
  return schedule;
}

function shape(
  entry: RawFault,
  nodes: readonly string[],
  crashed: Set<string>,
  crashedMax: number,
): ScheduledFault | undefined {
  const { atMs, fault, durationMs } = entry;
  switch (fault) {
    case 'crash': {
      const victims = entry.nodes
        .filter((id) => !crashed.has(id))
        .slice(0, Math.max(0, crashedMax - crashed.size));
      for (const id of victims) crashed.add(id);
      return victims.length === 0 ? undefined : { atMs, fault, nodes: victims };
    }
    case 'restart': {
      for (const id of entry.nodes) crashed.delete(id);
      return { atMs, fault, nodes: entry.nodes };
    }
    case 'partition': {
      // One side must leave somebody on the other side.
      const side = entry.nodes.length === nodes.length ? entry.nodes.slice(1) : entry.nodes;
      return side.length === 0 ? undefined : { atMs, fault, nodes: side, durationMs };
    }
    case 'one-way': {
      const source = entry.nodes[0]!;
      const target = entry.nodes[1] ?? nodes.find((id) => id !== source);
      return target === undefined ? undefined : { atMs, fault, nodes: [source, target], durationMs };
    }
    case 'loss':
    case 'duplicate':
    case 'reorder':
      return { atMs, fault, nodes: entry.nodes, durationMs, intensity: entry.intensityPercent / 100 };
    case 'delay':
      return { atMs, fault, nodes: entry.nodes, durationMs, intensity: entry.intensityPercent * 4 };
  }
}
