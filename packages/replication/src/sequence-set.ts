/**
 * A set of positive sequence numbers kept as a floor (every number up to it is in the set) and the
 * few numbers above it. Senders number their messages from 1 without gaps, so the set stays small
 * however long a connection lives: it is how receivers drop duplicates by id for ever, bounded.
 */
import type { SequenceSetData } from './types.js';

/**
 * A set of positive sequence numbers, kept as a floor and the few numbers above it: a replica's
 * record, per source group, of the channel sequences it processed, so it drops a duplicate input
 * however long the group runs. `data()` and `SequenceSet.from` carry it in a checkpoint's bookkeeping.
 */
export class SequenceSet {
  private floor = 0;
  private readonly above = new Set<number>();

  /** The set `data` describes (from a checkpoint or a state transfer). */
  static from(data: SequenceSetData): SequenceSet {
    const set = new SequenceSet();
    set.floor = data.floor;
    for (const value of data.above) set.add(value);
    return set;
  }

  has(value: number): boolean {
    return value <= this.floor || this.above.has(value);
  }

  /**
   * Adds `value`; returns false if it was already there. `above` never holds `floor + 1` (the floor
   * would have taken it), so only that number moves the floor: the next number in order, the
   * common case, costs no hash-set operation at all unless it closes a gap.
   */
  add(value: number): boolean {
    if (value === this.floor + 1) {
      this.floor = value;
      while (this.above.size > 0 && this.above.delete(this.floor + 1)) this.floor++;
      return true;
    }
    if (this.has(value)) return false;
    this.above.add(value);
    return true;
  }

  /** Numbers above the floor, at most: a set this sparse means a sender skipped numbers (a bug). */
  get sparseCount(): number {
    return this.above.size;
  }

  /** The set as plain data: the floor, and the numbers above it in ascending order. */
  data(): SequenceSetData {
    return { floor: this.floor, above: [...this.above].sort((a, b) => a - b) };
  }
}
