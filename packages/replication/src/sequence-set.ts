/**
 * A set of positive sequence numbers kept as a floor (every number up to it is in the set) and the
 * few numbers above it. Senders number their messages from 1 without gaps, so the set stays small
 * however long a connection lives: it is how receivers drop duplicates by id for ever, bounded.
 */
import type { SequenceSetData } from './types.js';

export class SequenceSet {
  private floor = 0;
  private readonly above = new Set<number>();

  static from(data: SequenceSetData): SequenceSet {
    const set = new SequenceSet();
    set.floor = data.floor;
    for (const value of data.above) set.add(value);
    return set;
  }

  has(value: number): boolean {
    return value <= this.floor || this.above.has(value);
  }

  /** Adds `value`; returns false if it was already there. */
  add(value: number): boolean {
    if (this.has(value)) return false;
    this.above.add(value);
    while (this.above.delete(this.floor + 1)) this.floor++;
    return true;
  }

  /** Numbers above the floor, at most: a set this sparse means a sender skipped numbers (a bug). */
  get sparseCount(): number {
    return this.above.size;
  }

  data(): SequenceSetData {
    return { floor: this.floor, above: [...this.above].sort((a, b) => a - b) };
  }
}
