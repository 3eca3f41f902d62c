/**
 * `RealClock` over Node's timers (faked by vitest, which keeps Node's limit: a `setTimeout` longer
 * than 2^31 − 1 ms runs after 1 ms). Invariants: a timer fires once, at its delay and not before,
 * however long the delay; a cleared one never fires, whichever step of a long delay it is in; a
 * zero delay runs on the next turn; a delay that is negative or not finite is refused with the same
 * error by `RealClock` and `SimulatedClock`, and sets no timer.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RealClock, SimulatedClock } from './clock.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** What one Node timer takes at most. */
const NODE_MAX_MS = 2 ** 31 - 1;

describe('RealClock', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires a timer at its delay, not before', () => {
    const clock = new RealClock();
    const fired: number[] = [];
    clock.setTimer(250, () => fired.push(Date.now()));
    const start = Date.now();
    vi.advanceTimersByTime(249);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([start + 250]);
  });

  for (const delayMs of [NODE_MAX_MS + 1, 30 * DAY_MS, 3 * NODE_MAX_MS + 7])
    it(`waits out a delay longer than one Node timer takes (${delayMs} ms), once, at its due time`, () => {
      const clock = new RealClock();
      let fired = 0;
      clock.setTimer(delayMs, () => fired++);
      // Node alone would have run it after 1 ms.
      vi.advanceTimersByTime(1_000);
      expect(fired).toBe(0);
      vi.advanceTimersByTime(delayMs - 1_000 - 1);
      expect(fired).toBe(0);
      vi.advanceTimersByTime(1);
      expect(fired).toBe(1);
      vi.advanceTimersByTime(10 * NODE_MAX_MS);
      expect(fired).toBe(1);
    });

  it('cancels a long timer in any of its steps', () => {
    const clock = new RealClock();
    let fired = 0;
    const early = clock.setTimer(3 * NODE_MAX_MS, () => fired++);
    const late = clock.setTimer(3 * NODE_MAX_MS, () => fired++);
    clock.clearTimer(early);
    // Into the second step of the second timer: the entry it holds is the running step's.
    vi.advanceTimersByTime(NODE_MAX_MS + 5);
    clock.clearTimer(late);
    vi.advanceTimersByTime(5 * NODE_MAX_MS);
    expect(fired).toBe(0);
  });

  it('clearAll cancels long timers too', () => {
    const clock = new RealClock();
    let fired = 0;
    clock.setTimer(2 * NODE_MAX_MS, () => fired++);
    vi.advanceTimersByTime(NODE_MAX_MS + 1);
    clock.clearAll();
    vi.advanceTimersByTime(4 * NODE_MAX_MS);
    expect(fired).toBe(0);
  });

  it('runs a zero delay on the next turn, not 1 ms later', () => {
    const clock = new RealClock();
    let fired = 0;
    clock.setTimer(0, () => fired++);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(0);
    vi.runOnlyPendingTimers();
    expect(fired).toBe(1);
  });

  for (const delayMs of [-1, -0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
    it(`refuses a delay of ${delayMs} as the simulated clock does, setting no timer`, () => {
      const clock = new RealClock();
      let fired = 0;
      const message = `timer delay must be a finite number >= 0, got ${delayMs}`;
      expect(() => clock.setTimer(delayMs, () => fired++)).toThrow(new RangeError(message));
      expect(() => new SimulatedClock().setTimer(delayMs, () => fired++)).toThrow(new RangeError(message));
      vi.runAllTimers();
      expect(fired).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    });
});
