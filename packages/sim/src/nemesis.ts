/**
 * The nemesis: draws a fault schedule for the safety phase from a seeded PRNG.
 *
 * The whole schedule is planned up front, from the seed, the node ids and the options alone, so a
 * run's faults can be printed, compared and replayed without running anything. The planner keeps
 * its own account of which nodes it crashed and which faults are still active, which is how it
 * keeps its bounds: never more than `crashedMax` nodes down at once, at most one symmetric
 * partition at a time, at most `linkFaultsMax` link faults at once, every fault bounded in time.
 */
import type { FaultKind, ScheduledFault } from './faults.js';
import type { Prng } from './prng.js';

/**
 * Tuning of the nemesis, all optional; the defaults are those of docs/simulator.md. Every bound here
 * keeps a run meaningful: a majority stays up and every fault ends.
 */
export interface NemesisOptions {
  /** How often the nemesis considers a new fault. Default 100 ms (the simulation's `tickMs`). */
  readonly intervalMs?: number;
  /** Probability of a fault at each interval. Default 0.25. */
  readonly faultChance?: number;
  /** Most nodes crashed at once. Default: a minority, `floor((nodes - 1) / 2)`. */
  readonly crashedMax?: number;
  /** Bounds of a fault's duration (every kind but crash and restart). Default [100, 1500]. */
  readonly faultDurationMs?: readonly [min: number, max: number];
  /** Most one-way blocks and degraded links (loss, duplicate, reorder, delay) at once. Default 3. */
  readonly linkFaultsMax?: number;
}

/**
 * What `planFaults` plans for: the cluster's nodes, the fault kinds allowed and the safety phase's
 * length, with the nemesis's tuning.
 */
export interface FaultPlanRequest extends NemesisOptions {
  readonly nodes: readonly string[];
  readonly faults: readonly FaultKind[];
  /** Faults start in [intervalMs, safetyMs). */
  readonly safetyMs: number;
}

/** The most nodes that may be down while a majority stays up. */
export function minorityOf(nodesCount: number): number {
  return Math.max(0, Math.floor((nodesCount - 1) / 2));
}

/** Intensity ranges the nemesis draws from, per link fault kind (probability, or extra ms for delay). */
const intensityRanges: Readonly<
  Record<'loss' | 'duplicate' | 'reorder' | 'delay', readonly [number, number]>
> = {
  loss: [10, 60],
  duplicate: [10, 50],
  reorder: [20, 80],
  delay: [20, 300],
};

/** The intensity used when a schedule entry gives none. */
export const defaultIntensity: Readonly<Record<'loss' | 'duplicate' | 'reorder' | 'delay', number>> = {
  loss: 0.3,
  duplicate: 0.3,
  reorder: 0.5,
  delay: 100,
};

interface PlannerState {
  readonly crashed: Set<string>;
  partitionUntilMs: number;
  linkFaultEndsMs: number[];
}

/**
 * Draws the schedule. Deterministic: the same PRNG state and request give the same list, in
 * time order. Throws `RangeError` for options that make no sense (a programmer error).
 */
export function planFaults(prng: Prng, request: FaultPlanRequest): ScheduledFault[] {
  const intervalMs = request.intervalMs ?? 100;
  const faultChance = request.faultChance ?? 0.25;
  const crashedMax = request.crashedMax ?? minorityOf(request.nodes.length);
  const [durationMinMs, durationMaxMs] = request.faultDurationMs ?? [100, 1500];
  const linkFaultsMax = request.linkFaultsMax ?? 3;
  if (!(Number.isInteger(intervalMs) && intervalMs > 0))
    throw new RangeError(`intervalMs must be a positive integer, got ${intervalMs}`);
  if (!(faultChance >= 0 && faultChance <= 1))
    throw new RangeError(`faultChance must be in [0, 1], got ${faultChance}`);
  if (!(
    Number.isInteger(durationMinMs) &&
    durationMinMs > 0 &&
    Number.isInteger(durationMaxMs) &&
    durationMaxMs >= durationMinMs
  )) {
    throw new RangeError(
      `faultDurationMs must be integers [min, max] with 0 < min <= max, got [${durationMinMs}, ${durationMaxMs}]`,
    );
  }
  if (!(Number.isInteger(crashedMax) && crashedMax >= 0))
    throw new RangeError(`crashedMax must be a non-negative integer, got ${crashedMax}`);
  const enabled = new Set(request.faults);
  const state: PlannerState = { crashed: new Set(), partitionUntilMs: 0, linkFaultEndsMs: [] };
  const schedule: ScheduledFault[] = [];
  for (let atMs = intervalMs; atMs < request.safetyMs; atMs += intervalMs) {
    if (!prng.chance(faultChance)) continue;
    state.linkFaultEndsMs = state.linkFaultEndsMs.filter((endMs) => endMs > atMs);
    const candidates = applicableFaults(enabled, state, request.nodes, atMs, crashedMax, linkFaultsMax);
    if (candidates.length === 0) continue;
    const fault = prng.pick(candidates);
    const durationMs = prng.between(durationMinMs, durationMaxMs);
    schedule.push(drawFault(prng, fault, request.nodes, state, atMs, durationMs));
  }
  return schedule;
}

function applicableFaults(
  enabled: ReadonlySet<FaultKind>,
  state: PlannerState,
  nodes: readonly string[],
  atMs: number,
  crashedMax: number,
  linkFaultsMax: number,
): FaultKind[] {
  const candidates: FaultKind[] = [];
  const linkFaultRoom = state.linkFaultEndsMs.length < linkFaultsMax;
  if (enabled.has('crash') && state.crashed.size < crashedMax) candidates.push('crash');
  if (enabled.has('restart') && state.crashed.size > 0) candidates.push('restart');
  if (enabled.has('partition') && nodes.length >= 2 && state.partitionUntilMs <= atMs)
    candidates.push('partition');
  if (enabled.has('one-way') && nodes.length >= 2 && linkFaultRoom) candidates.push('one-way');
  for (const kind of ['loss', 'duplicate', 'reorder', 'delay'] as const) {
    if (enabled.has(kind) && nodes.length >= 2 && linkFaultRoom) candidates.push(kind);
  }
  return candidates;
}

function drawFault(
  prng: Prng,
  fault: FaultKind,
  nodes: readonly string[],
  state: PlannerState,
  atMs: number,
  durationMs: number,
): ScheduledFault {
  switch (fault) {
    case 'crash': {
      const node = prng.pick(nodes.filter((id) => !state.crashed.has(id)));
      state.crashed.add(node);
      return { atMs, fault, nodes: [node] };
    }
    case 'restart': {
      const node = prng.pick([...state.crashed]);
      state.crashed.delete(node);
      return { atMs, fault, nodes: [node] };
    }
    case 'partition': {
      const shuffled = prng.shuffle(nodes);
      const sideSize = prng.between(1, nodes.length - 1);
      state.partitionUntilMs = atMs + durationMs;
      return { atMs, fault, nodes: shuffled.slice(0, sideSize), durationMs };
    }
    case 'one-way': {
      const [source, target] = prng.shuffle(nodes);
      state.linkFaultEndsMs.push(atMs + durationMs);
      return { atMs, fault, nodes: [source!, target!], durationMs };
    }
    case 'loss':
    case 'duplicate':
    case 'reorder':
    case 'delay': {
      const [low, high] = intensityRanges[fault];
      const drawn = prng.between(low, high);
      const intensity = fault === 'delay' ? drawn : drawn / 100;
      state.linkFaultEndsMs.push(atMs + durationMs);
      return { atMs, fault, nodes: [prng.pick(nodes)], durationMs, intensity };
    }
  }
}
