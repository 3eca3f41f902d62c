/**
 * The simulator's one source of randomness: a small, fast, seeded PRNG (sfc32, seeded through
 * splitmix32). A simulation builds one `Prng` from its seed and hands each component its own
 * `fork(label)`, a stream derived from the seed and the label alone, so a component that draws
 * more (a new fault kind, a chattier network) never shifts what another component draws.
 */

const twoPow32 = 4_294_967_296;

/** One step of splitmix32: returns the next state and its mixed output, both as uint32. */
function splitmix32(state: number): [next: number, output: number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [next >>> 0, z >>> 0];
}

/** FNV-1a over the label's UTF-16 code units, folded into `key` with a murmur3 finaliser. */
function hashLabel(label: string, key: number): number {
  let hash = 0x811c9dc5 ^ key;
  for (let index = 0; index < label.length; index++) {
    hash ^= label.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** Splits a non-negative safe integer seed into two 32-bit words; throws for anything else. */
function seedWords(seed: number): [low: number, high: number] {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`a PRNG seed must be a non-negative safe integer, got ${seed}`);
  }
  return [seed >>> 0, Math.floor(seed / twoPow32) >>> 0];
}

/**
 * A seeded stream of random numbers (sfc32): the only randomness a simulation may use, so that a
 * seed names one run. Draws are deterministic given the seed and the order of calls; `fork` gives
 * each component a stream of its own. Methods throw `RangeError` on impossible arguments (a
 * programmer error).
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** The two words this stream was seeded from: forks derive their own words from these. */
  private readonly low: number;
  private readonly high: number;

  /** `seed`: a non-negative safe integer (the `--seed` of the CLI). */
  constructor(seed: number);
  /** @internal forks seed from two words directly */
  constructor(seed: number, words: readonly [number, number]);
  constructor(seed: number, words?: readonly [number, number]) {
    [this.low, this.high] = words === undefined ? seedWords(seed) : [words[0] >>> 0, words[1] >>> 0];
    // Two splitmix32 streams, one per seed word, so seeds that differ only above 2^32 differ here.
    let stateLow = this.low;
    let stateHigh = this.high ^ 0x6a09e667;
    let output: number;
    [stateLow, output] = splitmix32(stateLow);
    this.a = output;
    [stateHigh, output] = splitmix32(stateHigh);
    this.b = output;
    [, output] = splitmix32(stateLow);
    this.c = output;
    [, output] = splitmix32(stateHigh);
    this.d = output;
    // Warm-up rounds, as the sfc32 authors recommend, so nearby seeds decorrelate at once.
    for (let round = 0; round < 12; round++) this.nextUint32();
  }

  /** The next 32 random bits, as an unsigned integer (sfc32). */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1) with 32 bits of resolution. */
  nextFloat(): number {
    return this.nextUint32() / twoPow32;
  }

  /** An integer in [0, maxExclusive); `maxExclusive` is an integer in [1, 2^32]. */
  nextInt(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive < 1 || maxExclusive > twoPow32) {
      throw new RangeError(`nextInt: maxExclusive must be an integer in [1, 2^32], got ${maxExclusive}`);
    }
    return Math.floor((this.nextUint32() * maxExclusive) / twoPow32);
  }

  /** An integer in [minInclusive, maxInclusive]. */
  between(minInclusive: number, maxInclusive: number): number {
    if (maxInclusive < minInclusive) {
      throw new RangeError(`between: max ${maxInclusive} is below min ${minInclusive}`);
    }
    return minInclusive + this.nextInt(maxInclusive - minInclusive + 1);
  }

  /**
   * True with probability `p`. A `p` of 0 or less, or 1 or more, draws nothing: the network asks
   * for `chance(loss)` on every datagram, and a fault-free link should cost no draws.
   */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.nextFloat() < p;
  }

  /** A uniformly chosen element; throws on an empty array (a programmer error). */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick: the array is empty');
    return items[this.nextInt(items.length)]!;
  }

  /** A uniformly shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const copy = items.slice();
    for (let index = copy.length - 1; index > 0; index--) {
      const other = this.nextInt(index + 1);
      [copy[index], copy[other]] = [copy[other]!, copy[index]!];
    }
    return copy;
  }

  /**
   * An independent stream named `label`, derived from this stream's seed and the label only (not
   * from how much this stream has drawn), so the same label always gives the same stream.
   */
  fork(label: string): Prng {
    return new Prng(0, [hashLabel(label, this.low), hashLabel(label, this.high ^ 0x9e3779b9)]);
  }
}
