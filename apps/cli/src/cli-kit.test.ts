// The CLI's small helpers, apart from the commands that use them.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { within } from './cli-kit.js';

describe('within', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Invariant: a promise that settles in time gives its value, and its deadline timer is gone at
  // once (thousands of requests in a load must not leave thousands of timers pending).
  it('gives the value of a promise that settles in time and clears its timer', async () => {
    vi.useFakeTimers();
    const answer = within(Promise.resolve(42), 20_000);
    await expect(answer).resolves.toBe(42);
    expect(vi.getTimerCount()).toBe(0);
  });

  // Invariant: a promise still pending at the deadline gives undefined, not a rejection.
  it('gives undefined when the promise has not settled by the deadline', async () => {
    vi.useFakeTimers();
    const answer = within(new Promise<number>(() => {}), 1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(answer).resolves.toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  // Invariant: a rejection is passed on, not hidden as a timeout, and the timer is cleared too.
  it('passes a rejection on', async () => {
    vi.useFakeTimers();
    const answer = within(Promise.reject(new Error('refused')), 1_000);
    await expect(answer).rejects.toThrow('refused');
    expect(vi.getTimerCount()).toBe(0);
  });
});
