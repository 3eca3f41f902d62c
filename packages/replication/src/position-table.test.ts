// Invariant: trimming keeps exactly the highest positions, whether the table was filled in order
// (fast path, deleting the first keys) or not (sorted and rebuilt), and a rebuilt table iterates in
// ascending order so that the fast path applies to it afterwards.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withoutLowestPositions } from './position-table.js';

function reference(keys: readonly number[], excess: number): number[] {
  return [...new Set(keys)].sort((a, b) => a - b).slice(Math.max(0, excess));
}

describe('withoutLowestPositions', () => {
  it('keeps the highest positions of a table filled in any order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 500 }), { maxLength: 80 }),
        fc.integer({ min: -2, max: 90 }),
        (keys, excess) => {
          const table = new Map<number, string>();
          let highest = 0;
          let ascending = true;
          for (const key of keys) {
            if (!table.has(key) && key < highest) ascending = false;
            table.set(key, `entry ${key}`);
            highest = Math.max(highest, key);
          }
          const kept = withoutLowestPositions(table, excess, ascending);
          expect([...kept.keys()].sort((a, b) => a - b)).toEqual(reference(keys, excess));
          for (const [key, value] of kept) expect(value).toBe(`entry ${key}`);
          // Whatever path a trim took, the table now iterates in ascending order (with nothing to
          // trim it is returned as it was).
          const order = [...kept.keys()];
          if (excess > 0) expect(order).toEqual([...order].sort((a, b) => a - b));
          else expect(kept).toBe(table);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('takes the first keys when told the table is ascending (does not sort)', () => {
    const table = new Map([
      [5, 'a'],
      [6, 'b'],
      [7, 'c'],
    ]);
    expect(withoutLowestPositions(table, 2, true)).toBe(table);
    expect([...table.keys()]).toEqual([7]);
  });
});
