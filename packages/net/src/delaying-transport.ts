/**
 * A transport that holds every outgoing frame for a random delay before handing it to the
 * transport it wraps: datagrams between real processes arrive late, and two sent to one peer
 * within the delay's span may arrive in the other order. It is a test tool for end-to-end runs
 * (`steadfast chaos replication --delay-ms`), for kernels without `sch_netem`, which these machines
 * lack (`tc qdisc add … netem` answers "Specified qdisc kind is unknown"), and which nftables
 * cannot stand in for: its rules drop and duplicate, but do not delay.
 *
 * The delay happens before the socket, at the sender: for the receiver that is the same as a slow
 * path through the network, and the frames still cross the kernel's UDP stack, where the
 * namespace's rules (loss, duplication, cuts) act on them as on any other.
 */
import type { Endpoint, ReceiveHandler, Transport, TransportCounters } from '@steadfast/runtime';

/**
 * Options of `DelayingTransport`: each frame's delay is drawn uniformly from `minDelayMs` to
 * `maxDelayMs`. Delays that are negative, not finite, reversed or over `DELAY_MS_MAX` make the
 * constructor throw a `RangeError` naming the option.
 */
export interface DelayingTransportOptions {
  /** Shortest delay of a frame, ms (≥ 0). */
  readonly minDelayMs: number;
  /** Longest delay of a frame, ms (≥ `minDelayMs`); each frame's is uniform in between. */
  readonly maxDelayMs: number;
  /** A number in [0, 1) per frame; `Math.random` by default. A seeded one repeats the delays. */
  readonly random?: () => number;
}

/** The wrapped transport's counters, and what the delays did. */
export interface DelayingTransportCounters extends TransportCounters {
  /** Frames held for a delay (all frames sent while open, but oversize ones). */
  readonly delayed: number;
  /** Frames that left after a frame sent later to the same endpoint: the reorderings made. */
  readonly reordered: number;
}

/** Longest delay accepted: a frame held longer is a lost one, which the loss rules already make. */
export const DELAY_MS_MAX = 10_000;

/**
 * Wraps a transport and holds every frame given to `send` for a random delay
 * (`DelayingTransportOptions`) before handing it to the wrapped one, so frames arrive late and two
 * sent to one endpoint within the delay's span may arrive in the other order. A test tool for real
 * processes on real sockets (`steadfast chaos replication`, `steadfast demo --delay-ms`), not for
 * production. Receiving, `endpoint` and `maxDatagramBytes` are the wrapped transport's; the frame is
 * copied, so the caller may reuse its buffer at once; oversize frames and sends after `close` go
 * straight through to be counted as the wrapped transport counts them. `counters()` adds `delayed`
 * and `reordered`. docs/transport.md, "A delaying wrapper, for tests on real networks".
 */
export class DelayingTransport implements Transport {
  readonly #inner: Transport;
  readonly #minDelayMs: number;
  readonly #spanMs: number;
  readonly #random: () => number;
  /** Frames waiting for their delay: each one's timer and what sends it, so `close` can send it. */
  readonly #waiting = new Map<ReturnType<typeof setTimeout>, () => void>();
  /** Per endpoint: the number of the last frame queued, and the highest number that left. */
  readonly #queued = new Map<Endpoint, number>();
  readonly #left = new Map<Endpoint, number>();
  #delayed = 0;
  #reordered = 0;
  #closed = false;

  /** Throws `RangeError` for delays that are negative, not finite, reversed or over `DELAY_MS_MAX`. */
  constructor(inner: Transport, options: DelayingTransportOptions) {
    const { minDelayMs, maxDelayMs } = options;
    for (const [name, value] of [
      ['minDelayMs', minDelayMs],
      ['maxDelayMs', maxDelayMs],
    ] as const) {
      if (!Number.isFinite(value) || value < 0 || value > DELAY_MS_MAX)
        throw new RangeError(`${name} must be a number of ms in 0..${DELAY_MS_MAX}, not ${value}`);
    }
    if (maxDelayMs < minDelayMs)
      throw new RangeError(`maxDelayMs (${maxDelayMs}) is below minDelayMs (${minDelayMs})`);
    this.#inner = inner;
    this.#minDelayMs = minDelayMs;
    this.#spanMs = maxDelayMs - minDelayMs;
    this.#random = options.random ?? Math.random;
  }

  get endpoint(): Endpoint {
    return this.#inner.endpoint;
  }

  get maxDatagramBytes(): number {
    return this.#inner.maxDatagramBytes;
  }

  send(target: Endpoint, frame: Uint8Array): void {
    // Closed, or too long to travel: the wrapped transport counts it, at once, as it would.
    if (this.#closed || frame.byteLength > this.#inner.maxDatagramBytes) {
      this.#inner.send(target, frame);
      return;
    }
    // The caller may reuse its buffer once `send` returns; the frame leaves later.
    const copy = frame.slice();
    const number = (this.#queued.get(target) ?? 0) + 1;
    this.#queued.set(target, number);
    this.#delayed++;
    const leave = () => {
      const highest = this.#left.get(target) ?? 0;
      if (number < highest) this.#reordered++;
      else this.#left.set(target, number);
      this.#inner.send(target, copy);
    };
    const timer = setTimeout(
      () => {
        this.#waiting.delete(timer);
        leave();
      },
      this.#minDelayMs + this.#random() * this.#spanMs,
    );
    this.#waiting.set(timer, leave);
  }

  onReceive(handler: ReceiveHandler): void {
    this.#inner.onReceive(handler);
  }

  counters(): DelayingTransportCounters {
    return { ...this.#inner.counters(), delayed: this.#delayed, reordered: this.#reordered };
  }

  /**
   * Frames still waiting for their delay leave at once, before the wrapped transport closes: a
   * clean stop loses nothing that was sent. (A crash loses them, as it would the socket's buffer.)
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const [timer, leave] of this.#waiting) {
        clearTimeout(timer);
        leave();
      }
      this.#waiting.clear();
    }
    await this.#inner.close();
  }
}
