/**
 * Ordering policies (claims 5, 39, 55): which waiting input the primary processes next. Only the
 * primary consults a policy; backups follow the order it announces, so a policy may use anything
 * the primary sees (arrival order, message contents, how often a sender was served) without
 * making the replicas diverge. A policy is a pure function of the queue and the served counts.
 */

/** An input waiting at the primary. */
export interface QueuedInput {
  /** The source group. */
  readonly source: string;
  /** Per (source group, this group) sequence: the sender's own order. */
  readonly channel: number;
  /** Arrival order at this replica. */
  readonly arrival: number;
  readonly body: unknown;
}

/**
 * How a group's primary chooses which waiting input to process next (claims 5, 39). Only the primary
 * consults it, and backups follow the order it announces, so `pick` may read anything it is given;
 * it should be a pure function of its arguments, as the built-ins are. An index out of range stops
 * the replica with a `RangeError` naming the policy. docs/replication.md, "Ordering policies".
 */
export interface OrderingPolicy {
  /** Names the policy in errors; a built-in's is its `PolicyName`. */
  readonly name: string;
  /**
   * Returns the index in `queue` (never empty) of the input to process next. `served` counts the
   * inputs processed per source group so far.
   */
  pick(queue: readonly QueuedInput[], served: Readonly<Record<string, number>>): number;
}

function best(queue: readonly QueuedInput[], before: (a: QueuedInput, b: QueuedInput) => boolean): number {
  let chosen = 0;
  for (let index = 1; index < queue.length; index++)
    if (before(queue[index]!, queue[chosen]!)) chosen = index;
  return chosen;
}

function numberField(body: unknown, field: string, fallback: number): number {
  if (typeof body !== 'object' || body === null) return fallback;
  const value = (body as Record<string, unknown>)[field];
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

/** Lowest sender sequence first (ties: source group name). */
export const sequencePolicy: OrderingPolicy = {
  name: 'sequence',
  pick: (queue) =>
    best(queue, (a, b) => a.channel < b.channel || (a.channel === b.channel && a.source < b.source)),
};

/** Reception order at the primary. */
export const receptionPolicy: OrderingPolicy = {
  name: 'reception',
  pick: (queue) => best(queue, (a, b) => a.arrival < b.arrival),
};

/** Highest `priority` field of the body first (default 0); ties by reception. */
export function priorityPolicy(field = 'priority'): OrderingPolicy {
  return {
    name: 'priority',
    pick: (queue) =>
      best(queue, (a, b) => {
        const pa = numberField(a.body, field, 0);
        const pb = numberField(b.body, field, 0);
        return pa > pb || (pa === pb && a.arrival < b.arrival);
      }),
  };
}

/** Earliest `deadlineMs` field of the body first (none: last); ties by reception. */
export function deadlinePolicy(field = 'deadlineMs'): OrderingPolicy {
  return {
    name: 'deadline',
    pick: (queue) =>
      best(queue, (a, b) => {
        const da = numberField(a.body, field, Number.POSITIVE_INFINITY);
        const db = numberField(b.body, field, Number.POSITIVE_INFINITY);
        return da < db || (da === db && a.arrival < b.arrival);
      }),
  };
}

/** The sender served least so far first, so a busy sender cannot starve the others; ties by reception. */
export const fairnessPolicy: OrderingPolicy = {
  name: 'fairness',
  pick: (queue, served) =>
    best(queue, (a, b) => {
      const sa = served[a.source] ?? 0;
      const sb = served[b.source] ?? 0;
      return sa < sb || (sa === sb && a.arrival < b.arrival);
    }),
};

/** The names of the built-in policies, as configuration and the CLI's `--policy` give them. */
export type PolicyName = 'sequence' | 'reception' | 'priority' | 'deadline' | 'fairness';

/** Every `PolicyName`, in the order `policyForSeed` takes them; the CLI offers them as `--policy`. */
export const POLICY_NAMES: readonly PolicyName[] = [
  'sequence',
  'reception',
  'priority',
  'deadline',
  'fairness',
];

/**
 * The policy a seed of a sweep runs with when none is named: they take turns with the seed, so a
 * sweep covers every policy (`steadfast sim replication` without `--policy`, the CI sweeps).
 */
export function policyForSeed(seed: number): PolicyName {
  return POLICY_NAMES[Math.abs(Math.trunc(seed)) % POLICY_NAMES.length]!;
}

/**
 * The built-in policy named `name` (`priority` and `deadline` read their default fields,
 * `priority` and `deadlineMs`). A name that is none, from configuration or untyped code, is a
 * `RangeError`.
 */
export function policyByName(name: PolicyName): OrderingPolicy {
  switch (name) {
    case 'sequence':
      return sequencePolicy;
    case 'reception':
      return receptionPolicy;
    case 'priority':
      return priorityPolicy();
    case 'deadline':
      return deadlinePolicy();
    case 'fairness':
      return fairnessPolicy;
    default: {
      const unknown: never = name;
      throw new RangeError(`unknown ordering policy '${String(unknown)}'`);
    }
  }
}
