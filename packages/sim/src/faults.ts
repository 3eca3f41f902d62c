/**
 * Fault kinds and fault schedules: the vocabulary shared by the nemesis (which draws a schedule
 * from the seed), by fast-check (which generates schedules to shrink) and by the CLI's `--faults`.
 */

/** Every fault the simulator can inject. Append-only: the names appear in traces and commands. */
export const ALL_FAULTS = [
  'crash',
  'restart',
  'partition',
  'one-way',
  'loss',
  'duplicate',
  'reorder',
  'delay',
] as const;

/** One of `ALL_FAULTS`: the name of a fault in schedules, traces, counters and `--faults`. */
export type FaultKind = (typeof ALL_FAULTS)[number];

const faultNames: ReadonlySet<string> = new Set(ALL_FAULTS);

/** Whether `value` names a fault kind (for checking a `--faults` entry or a schedule read from JSON). */
export function isFaultKind(value: string): value is FaultKind {
  return faultNames.has(value);
}

/**
 * Thrown by `parseFaults` for an entry that names no fault; `fault` holds the entry. The CLI turns
 * it into a usage error, and its message lists the valid names.
 */
export class UnknownFaultError extends Error {
  override readonly name = 'UnknownFaultError';
  constructor(readonly fault: string) {
    super(
      `unknown fault '${fault}': expected a comma-separated list of ${ALL_FAULTS.join(', ')} (or 'all', or 'none')`,
    );
  }
}

/**
 * Parses a `--faults` list such as `crash,partition,loss`. `all` names every fault and `none` (or
 * an empty string) none; names may repeat and are returned once each, in `ALL_FAULTS` order so
 * that the same set always prints the same way. Throws `UnknownFaultError` naming the bad entry.
 */
export function parseFaults(list: string): FaultKind[] {
  const wanted = new Set<FaultKind>();
  for (const raw of list.split(',')) {
    const name = raw.trim();
    if (name === '' || name === 'none') continue;
    if (name === 'all') {
      for (const fault of ALL_FAULTS) wanted.add(fault);
      continue;
    }
    if (!isFaultKind(name)) throw new UnknownFaultError(name);
    wanted.add(name);
  }
  return ALL_FAULTS.filter((fault) => wanted.has(fault));
}

/** The `--faults` form of a list: the inverse of `parseFaults`. */
export function formatFaults(faults: readonly FaultKind[]): string {
  const present = new Set(faults);
  const ordered = ALL_FAULTS.filter((fault) => present.has(fault));
  return ordered.length === 0 ? 'none' : ordered.join(',');
}

/**
 * One fault at one virtual time. What `nodes` means depends on the kind:
 * - `crash` / `restart`: the nodes crashed or restarted (a restart of a running node is a no-op).
 * - `partition`: one side of a symmetric split; every other node is on the other side.
 * - `one-way`: `[source, target]`: frames from source to target are lost, the reverse path works.
 * - `loss`, `duplicate`, `reorder`, `delay`: every link from or to one of these nodes is degraded.
 * Every kind but crash and restart lasts `durationMs`, or until the heal when it is absent.
 * `intensity` is the probability of loss, duplication or reordering, or the extra latency in ms
 * of a delay; without it the nemesis's defaults apply (`defaultIntensity`).
 */
export interface ScheduledFault {
  readonly atMs: number;
  readonly fault: FaultKind;
  readonly nodes: readonly string[];
  readonly durationMs?: number;
  readonly intensity?: number;
}

/**
 * A list of faults to inject, in time order: what the nemesis plans from the seed, what
 * `faultScheduleArbitrary` generates, and what `SimulationOptions.schedule` takes instead of the
 * nemesis.
 */
export type FaultSchedule = readonly ScheduledFault[];

/** Most entries `faultScheduleFrom` takes: a schedule is a test's handful of faults, not a log. */
export const FAULT_SCHEDULE_ENTRIES_MAX = 1_000;

/**
 * What `faultScheduleFrom` gives: the checked schedule, sorted by time, or a message naming the
 * bad entry and field.
 */
export type FaultScheduleResult =
  { readonly ok: true; readonly schedule: ScheduledFault[] } | { readonly ok: false; readonly error: string };

/**
 * A fault schedule from untrusted data (JSON from a file or a command line, such as a fast-check
 * counterexample): an array of at most `FAULT_SCHEDULE_ENTRIES_MAX` entries
 * `{ atMs, fault, nodes, durationMs?, intensity? }`, each with a non-negative integer time, a known
 * fault kind, a non-empty array of node ids and, when present, a positive integer duration and a
 * finite non-negative intensity (a probability of at most 1 for loss, duplicate and reorder). Other
 * fields are an error too, so a misspelt one is not silently dropped. Never throws: a wrong value
 * comes back as a message naming the entry and the field. The entries come back sorted by time, as
 * the simulator applies them, each with only the fields above.
 */
export function faultScheduleFrom(value: unknown): FaultScheduleResult {
  if (!Array.isArray(value)) return { ok: false, error: 'a fault schedule must be an array of entries' };
  if (value.length > FAULT_SCHEDULE_ENTRIES_MAX) {
    return {
      ok: false,
      error: `a fault schedule has at most ${FAULT_SCHEDULE_ENTRIES_MAX} entries, got ${value.length}`,
    };
  }
  const schedule: ScheduledFault[] = [];
  for (const [index, entry] of value.entries()) {
    const shaped = scheduledFaultFrom(entry);
    if (typeof shaped === 'string') return { ok: false, error: `fault schedule entry ${index}: ${shaped}` };
    schedule.push(shaped);
  }
  return { ok: true, schedule: schedule.sort((left, right) => left.atMs - right.atMs) };
}

const SCHEDULED_FAULT_FIELDS: ReadonlySet<string> = new Set([
  'atMs',
  'fault',
  'nodes',
  'durationMs',
  'intensity',
]);

function scheduledFaultFrom(entry: unknown): ScheduledFault | string {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'not an object';
  const fields = entry as Record<string, unknown>;
  const unknown = Object.keys(fields).find((name) => !SCHEDULED_FAULT_FIELDS.has(name));
  if (unknown !== undefined) return `unknown field ${JSON.stringify(unknown)}`;
  const { atMs, fault, nodes, durationMs, intensity } = fields;
  if (!Number.isSafeInteger(atMs) || (atMs as number) < 0) return 'atMs must be a non-negative integer';
  if (typeof fault !== 'string' || !isFaultKind(fault))
    return `fault must be one of ${ALL_FAULTS.join(', ')}`;
  if (
    !Array.isArray(nodes) ||
    nodes.length === 0 ||
    !nodes.every((node) => typeof node === 'string' && node !== '')
  )
    return 'nodes must be a non-empty array of node ids';
  if (durationMs !== undefined && (!Number.isSafeInteger(durationMs) || (durationMs as number) <= 0))
    return 'durationMs must be a positive integer';
  if (intensity !== undefined) {
    if (typeof intensity !== 'number' || !Number.isFinite(intensity) || intensity < 0)
      return 'intensity must be a finite non-negative number';
    if (fault !== 'delay' && intensity > 1) return `intensity of ${fault} is a probability, at most 1`;
  }
  return {
    atMs: atMs as number,
    fault,
    nodes: [...(nodes as string[])],
    ...(durationMs === undefined ? {} : { durationMs: durationMs as number }),
    ...(intensity === undefined ? {} : { intensity }),
  };
}

/** A record with a zero count per fault kind. */
export function zeroFaultCounts(): Record<FaultKind, number> {
  return {
    crash: 0,
    restart: 0,
    partition: 0,
    'one-way': 0,
    loss: 0,
    duplicate: 0,
    reorder: 0,
    delay: 0,
  };
}
