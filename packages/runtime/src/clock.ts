/**
 * Clocks. All time in Steadfast comes through a `Clock`, so the simulator can drive it.
 *
 * `RealClock` reads the wall clock and uses Node timers; `SimulatedClock` keeps virtual time and a
 * queue of timers that fire only when the host steps it, in due-time order, ties broken by the
 * order the timers were set. That makes every simulated run a pure function of its inputs.
 */

import { HopEvent, hopTrace } from './hop-trace.js';

/** Names a pending timer of one `Clock`, for `clearTimer`; ids are never reused by that clock. */
export interface TimerHandle {
  readonly timerId: number;
}

/**
 * The only source of time and timers in Steadfast (house style rule 2): nodes, supervisors and the
 * replication layer take one, so the simulator can drive them all with a `SimulatedClock`.
 */
export interface Clock {
  /** Milliseconds. Real: since the epoch. Simulated: virtual time since the run began. */
  now(): number;
  /** Calls `callback` once, `delayMs` from now; throws `RangeError` unless it is finite and >= 0. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
  /** Cancels a pending timer; a fired or unknown handle is ignored. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * The longest delay one Node timer takes: 2^31 − 1 ms (~24.8 days). Node runs a timer set for
 * longer after 1 ms (with a `TimeoutOverflowWarning`), so a setting meant as "about a month" would
 * fire at once; `RealClock` waits out a longer delay in steps of at most this.
 */
const NODE_TIMER_DELAY_MAX_MS = 2 ** 31 - 1;

/**
 * Both clocks refuse the same delays, so a computed delay that goes wrong (NaN from a bad setting,
 * a negative one from a deadline already past) throws in a real run as it does in the simulator,
 * instead of the real clock firing it on some next turn and the simulator alone catching it.
 */
function assertTimerDelay(delayMs: number): void {
  if (!(delayMs >= 0) || !Number.isFinite(delayMs)) {
    throw new RangeError(`timer delay must be a finite number >= 0, got ${delayMs}`);
  }
}

/**
 * Wall-clock time (epoch ms) and Node timers, for real nodes. Hosts call `clearAll()` when they shut
 * down, so no pending timer keeps the process alive.
 */
export class RealClock implements Clock {
  private nextTimerId = 1;
  private readonly pending = new Map<
    number,
    { timeout?: ReturnType<typeof setTimeout>; immediate?: ReturnType<typeof setImmediate> }
  >();

  now(): number {
    return Date.now();
  }

  /**
   * A zero-delay timer runs on `setImmediate`: Node clamps `setTimeout(fn, 0)` to at least 1 ms,
   * and protocols that hand work to the next turn with a zero-delay timer would pay that at every
   * hop (it was most of a replicated request's latency).
   */
  setTimer(delayMs: number, callback: () => void): TimerHandle {
    assertTimerDelay(delayMs);
    const timerId = this.nextTimerId++;
    const fire = () => {
      this.pending.delete(timerId);
      if (hopTrace.enabled) hopTrace.record(HopEvent.timerFired, 0, delayMs);
      callback();
      if (hopTrace.enabled) hopTrace.record(HopEvent.timerDone, 0, delayMs);
    };
    if (hopTrace.enabled) hopTrace.record(HopEvent.timerSet, 0, delayMs);
    if (delayMs === 0) this.pending.set(timerId, { immediate: setImmediate(fire) });
    else this.arm(timerId, delayMs, fire);
    return { timerId };
  }

  /**
   * A Node timer for `delayMs`, or, past what one takes (`NODE_TIMER_DELAY_MAX_MS`), one for that
   * much that sets the next for the rest; the pending entry always holds the current step, so
   * `clearTimer` cancels whichever is running.
   */
  private arm(timerId: number, delayMs: number, fire: () => void): void {
    if (delayMs <= NODE_TIMER_DELAY_MAX_MS) {
      this.pending.set(timerId, { timeout: setTimeout(fire, delayMs) });
      return;
    }
    const rest = delayMs - NODE_TIMER_DELAY_MAX_MS;
    const step = setTimeout(() => this.arm(timerId, rest, fire), NODE_TIMER_DELAY_MAX_MS);
    this.pending.set(timerId, { timeout: step });
  }

  clearTimer(handle: TimerHandle): void {
    const timer = this.pending.get(handle.timerId);
    if (timer === undefined) return;
    if (timer.timeout !== undefined) clearTimeout(timer.timeout);
    if (timer.immediate !== undefined) clearImmediate(timer.immediate);
    this.pending.delete(handle.timerId);
  }

  /** Cancels every pending timer, so a closed node leaves nothing behind to keep the process alive. */
  clearAll(): void {
    for (const handle of [...this.pending.keys()]) this.clearTimer({ timerId: handle });
  }
}

interface ScheduledTimer {
  readonly timerId: number;
  readonly dueAt: number;
  readonly callback: () => void;
}

/**
 * Virtual time. Nothing happens until the host calls `step()`, `runUntil()` or `advance()`.
 * Timers due at the same instant fire in the order they were set (FIFO), which keeps runs
 * deterministic without any tie-breaking randomness.
 */
export class SimulatedClock implements Clock {
  private currentMs: number;
  private nextTimerId = 1;
  // A binary min-heap on (dueAt, timerId); cancelled timers are skipped lazily when popped.
  private readonly heap: ScheduledTimer[] = [];
  private readonly cancelled = new Set<number>();

  constructor(startMs = 0) {
    this.currentMs = startMs;
  }

  now(): number {
    return this.currentMs;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    assertTimerDelay(delayMs);
    const timer: ScheduledTimer = { timerId: this.nextTimerId++, dueAt: this.currentMs + delayMs, callback };
    this.push(timer);
    return { timerId: timer.timerId };
  }

  clearTimer(handle: TimerHandle): void {
    this.cancelled.add(handle.timerId);
  }

  /** Time of the next pending timer, or undefined when none is pending. */
  nextDueAt(): number | undefined {
    this.dropCancelledTop();
    return this.heap[0]?.dueAt;
  }

  pendingCount(): number {
    return this.heap.length - this.cancelled.size;
  }

  /** Fires the earliest pending timer, advancing time to it. Returns false when none is pending. */
  step(): boolean {
    this.dropCancelledTop();
    const timer = this.pop();
    if (timer === undefined) return false;
    this.currentMs = Math.max(this.currentMs, timer.dueAt);
    timer.callback();
    return true;
  }

  /** Fires every timer due up to `timeMs` (inclusive), then sets the time to `timeMs`. */
  runUntil(timeMs: number): number {
    let fired = 0;
    for (;;) {
      const dueAt = this.nextDueAt();
      if (dueAt === undefined || dueAt > timeMs) break;
      this.step();
      fired++;
    }
    this.currentMs = Math.max(this.currentMs, timeMs);
    return fired;
  }

  /** Moves time forward by `deltaMs`, firing what falls due. */
  advance(deltaMs: number): number {
    return this.runUntil(this.currentMs + deltaMs);
  }

  private dropCancelledTop(): void {
    while (this.heap.length > 0 && this.cancelled.has(this.heap[0]!.timerId)) {
      this.cancelled.delete(this.pop()!.timerId);
    }
  }

  private before(a: ScheduledTimer, b: ScheduledTimer): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.timerId < b.timerId);
  }

  private push(timer: ScheduledTimer): void {
    const heap = this.heap;
    heap.push(timer);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.before(heap[index]!, heap[parent]!)) break;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  private pop(): ScheduledTimer | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let smallest = index;
      if (left < heap.length && this.before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === index) break;
      [heap[index], heap[smallest]] = [heap[smallest]!, heap[index]!];
      index = smallest;
    }
    return top;
  }
}
