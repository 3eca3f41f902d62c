/**
 * Sources of randomness and ids. Real nodes use the platform's; the simulator passes a seeded
 * `Prng`-backed source so that a seed determines the whole run.
 */
import { randomBytes } from 'node:crypto';
import { customRandom, nanoid, urlAlphabet } from 'nanoid';

/**
 * A source of randomness and ids, behind an actor's supervisor: `realEntropy` on real nodes,
 * `entropyFrom(seeded PRNG)` in the simulator and tests.
 */
export interface Entropy {
  /** A float in [0, 1). */
  random(): number;
  /** A fresh 21-character url-safe id (nanoid). */
  id(): string;
}

/** Platform randomness: `crypto` for ids, so they are collision-resistant across processes. */
export const realEntropy: Entropy = {
  random: () => randomBytes(6).readUIntBE(0, 6) / 2 ** 48,
  id: () => nanoid(),
};

/** Entropy drawn from a deterministic float source (for instance a seeded PRNG). */
export function entropyFrom(nextFloat: () => number): Entropy {
  const idFromFloats = customRandom(urlAlphabet, 21, (size) => {
    const bytes = new Uint8Array(size);
    for (let index = 0; index < size; index++) bytes[index] = Math.floor(nextFloat() * 256);
    return bytes;
  });
  return { random: nextFloat, id: () => idFromFloats() };
}
