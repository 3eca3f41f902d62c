/**
 * Trimming a table keyed by position (a peer group's order entries a replica keeps for relaying and
 * for that group's failover) to its bound, dropping the lowest positions.
 */

/**
 * `table` without its `excess` lowest positions. When `ascending` (every key was inserted above
 * the ones before it, the usual case: a group announces its positions in order) those are the
 * first keys in iteration order and are deleted in place, without looking at the rest; this runs
 * on every announcement a busy replica receives once the bound is reached, where sorting every key
 * cost a sort of the whole table each time. Otherwise the keys are sorted and a new table is built
 * in ascending order, so the next trims take the fast path again. Returns the table to keep.
 */
export function withoutLowestPositions<T>(
  table: Map<number, T>,
  excess: number,
  ascending: boolean,
): Map<number, T> {
  if (excess <= 0) return table;
  if (ascending) {
    let left = excess;
    for (const position of table.keys()) {
      if (left-- === 0) break;
      table.delete(position);
    }
    return table;
  }
  const kept = [...table.keys()].sort((a, b) => a - b).slice(excess);
  const sorted = new Map<number, T>();
  for (const position of kept) sorted.set(position, table.get(position)!);
  return sorted;
}
