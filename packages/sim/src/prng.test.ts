// The seeded PRNG: a seed names one stream, forks are independent of the parent's draws, and every
// draw stays in its documented range.
import { describe, expect, it } from 'vitest';
import { Prng } from './prng.js';

function draws(prng: Prng, count: number): number[] {
  return Array.from({ length: count }, () => prng.nextUint32());
}

describe('Prng', () => {
  it('gives the same stream for the same seed, and different streams for different seeds', () => {
    expect(draws(new Prng(42), 100)).toEqual(draws(new Prng(42), 100));
    expect(draws(new Prng(42), 100)).not.toEqual(draws(new Prng(43), 100));
    // Seeds that differ only above 2^32 must still differ (the CLI accepts any safe integer).
    expect(draws(new Prng(5), 20)).not.toEqual(draws(new Prng(5 + 2 ** 32), 20));
  });

  it('derives a fork from the seed and label only, not from how much the parent drew', () => {
    const fresh = new Prng(7);
    const used = new Prng(7);
    draws(used, 1_000);
    expect(draws(fresh.fork('network'), 50)).toEqual(draws(used.fork('network'), 50));
    expect(draws(fresh.fork('network'), 50)).not.toEqual(draws(fresh.fork('nemesis'), 50));
    expect(draws(new Prng(8).fork('network'), 50)).not.toEqual(draws(fresh.fork('network'), 50));
    // A fork's draws do not move its parent.
    const parent = new Prng(9);
    const twin = new Prng(9);
    draws(parent.fork('child'), 100);
    expect(draws(parent, 10)).toEqual(draws(twin, 10));
  });

  it('keeps nextFloat in [0, 1), nextInt and between in range, and spreads nextInt evenly', () => {
    const prng = new Prng(1);
    const buckets = new Array<number>(10).fill(0);
    for (let index = 0; index < 10_000; index++) {
      const float = prng.nextFloat();
      expect(float).toBeGreaterThanOrEqual(0);
      expect(float).toBeLessThan(1);
      const bucket = prng.nextInt(10);
      buckets[bucket] = buckets[bucket]! + 1;
      const between = prng.between(3, 5);
      expect(between === 3 || between === 4 || between === 5).toBe(true);
    }
    // 1 000 expected per bucket; the seed is fixed, so this is a check of the generator, not luck.
    for (const count of buckets) expect(Math.abs(count - 1_000)).toBeLessThan(150);
  });

  it('draws nothing for chance(0) and chance(1), so fault-free links cost no draws', () => {
    const prng = new Prng(3);
    const twin = new Prng(3);
    expect(prng.chance(0)).toBe(false);
    expect(prng.chance(1)).toBe(true);
    expect(prng.nextUint32()).toBe(twin.nextUint32());
  });

  it('picks every element of an array eventually, shuffles to a permutation, and rejects bad input', () => {
    const prng = new Prng(11);
    const seen = new Set<string>();
    for (let index = 0; index < 200; index++) seen.add(prng.pick(['a', 'b', 'c']));
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    expect(prng.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(() => prng.pick([])).toThrow(RangeError);
    expect(() => prng.nextInt(0)).toThrow(RangeError);
    expect(() => new Prng(-1)).toThrow(RangeError);
    expect(() => new Prng(1.5)).toThrow(RangeError);
  });
});
