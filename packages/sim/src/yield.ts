/**
 * Handing control back to the host between two simulation events, so that every promise
 * continuation the event started (a store write resolving, a `request()` reply) runs before the
 * next event. `setImmediate` runs only once the microtask queue is empty, so one call drains it
 * however long its chains are. It feeds nothing into the simulation (no time, no randomness):
 * the order of continuations is JavaScript's own, the same in every run, which keeps runs
 * deterministic as long as the code under test does no real I/O.
 */
export function yieldToHost(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
