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

export type FaultKind = (typeof ALL_FAULTS)[number];

const faultNames: ReadonlySet<string> = new Set(ALL_FAULTS);

export function isFaultKind(value: string): value is FaultKind {
  return faultNames.has(value);
}

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

export type FaultSchedule = readonly ScheduledFault[];

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
