/**
 * A small seeded PRNG (sfc32, seeded through splitmix32) for the replication simulation, which the
 * CLI runs outside tests and so cannot take `@steadfast/sim`'s. Each component draws from its own
 * `fork(label)`, so adding draws in one place does not shift the values another place sees.
 */
function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashLabel(label: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < label.length; index++)
    hash = Math.imul(hash ^ label.charCodeAt(index), 0x01000193);
  return hash >>> 0;
}

/**
 * A seeded generator (sfc32, seeded through splitmix32): the same seed gives the same numbers on
 * every platform, so the pure-role simulation is a function of its seed, and the values a
 * synchronous reply derives (`derived.seed`) are the same at every replica that processes it. Not
 * for cryptography. A seed that is not a non-negative safe integer is a `RangeError`.
 */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    const next = splitmix32(seed ^ Math.floor(seed / 2 ** 32));
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let index = 0; index < 12; index++) this.nextUint32();
  }

  /** A generator for one component: a function of the seed and the label only. */
  fork(label: string): SeededRandom {
    return new SeededRandom((this.seed * 31 + hashLabel(label)) % 2 ** 48);
  }

  /** The next number of the sequence, an integer in [0, 2^32). */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** An integer in [min, max]. */
  integer(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `probability` (0: never; 1: always). */
  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /** One of `items`, each as likely; a `RangeError` for an empty list. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.integer(0, items.length - 1)]!;
  }
}
