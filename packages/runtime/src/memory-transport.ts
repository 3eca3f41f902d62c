/**
 * An in-process network for tests and single-process demos: each `attach` returns a `Transport`
 * that reaches the other transports attached to the same `MemoryNetwork` by name.
 *
 * Beyond the promises of the `Transport` interface it adds one: a frame sent to an attached, open
 * endpoint is delivered exactly once, in send order. Delivery runs on a microtask, never inside
 * `send`, so code that would break over UDP because a handler ran re-entrantly breaks here too.
 * Fault injection (loss, delay, partitions) belongs to the simulator's own network, not here.
 */
import { emptyTransportCounters } from './transport.js';
import type {
  Endpoint,
  ReceiveHandler,
  Transport,
  TransportCounters,
  TransportDropReason,
} from './transport.js';

/** The largest UDP payload over IPv4, so frames that fit here also fit the UDP transport by default. */
export const memoryDatagramBytesMaxDefault = 65_507;

/** Options of `MemoryNetwork.attach`; `maxDatagramBytes` defaults to `memoryDatagramBytesMaxDefault`. */
export interface MemoryAttachOptions {
  /** Frames longer than this are dropped and counted `oversize`, on send and on receipt. */
  readonly maxDatagramBytes?: number;
}

/**
 * The in-process network of the module comment: transports attached to one `MemoryNetwork` reach
 * each other by endpoint name. It has no faults and no clock; delivery is on microtasks.
 */
export class MemoryNetwork {
  readonly #transports = new Map<Endpoint, MemoryTransport>();

  /**
   * Attaches a new transport receiving on `endpoint`. Attaching a name that is already attached is
   * a programmer error and throws; once the earlier transport has closed, the name is free again.
   */
  attach(endpoint: Endpoint, options: MemoryAttachOptions = {}): Transport {
    if (endpoint.length === 0) throw new RangeError('MemoryNetwork.attach: endpoint must not be empty');
    if (this.#transports.has(endpoint)) {
      throw new Error(`MemoryNetwork.attach: endpoint ${JSON.stringify(endpoint)} is already attached`);
    }
    const maxDatagramBytes = options.maxDatagramBytes ?? memoryDatagramBytesMaxDefault;
    if (!Number.isSafeInteger(maxDatagramBytes) || maxDatagramBytes < 0) {
      throw new RangeError(
        `MemoryNetwork.attach: maxDatagramBytes must be a non-negative integer, got ${maxDatagramBytes}`,
      );
    }
    const transport = new MemoryTransport(this.#transports, endpoint, maxDatagramBytes);
    this.#transports.set(endpoint, transport);
    return transport;
  }

  /** The endpoints attached and not yet closed, for tests and diagnostics. */
  endpoints(): Endpoint[] {
    return [...this.#transports.keys()];
  }
}

class MemoryTransport implements Transport {
  /** The network's registry of open transports, shared by every transport attached to it. */
  readonly #transports: Map<Endpoint, MemoryTransport>;
  readonly #counters = emptyTransportCounters();
  #handler: ReceiveHandler | undefined;
  #closed = false;

  constructor(
    transports: Map<Endpoint, MemoryTransport>,
    readonly endpoint: Endpoint,
    readonly maxDatagramBytes: number,
  ) {
    this.#transports = transports;
  }

  send(target: Endpoint, frame: Uint8Array): void {
    if (this.#closed) return this.#drop('closed');
    if (frame.byteLength > this.maxDatagramBytes) return this.#drop('oversize');
    const receiver = this.#transports.get(target);
    if (receiver === undefined) return this.#drop('unknown-peer');
    // Copy now: the sender may reuse its buffer as soon as `send` returns, as it may with a socket.
    const copy = frame.slice();
    this.#counters.sent += 1;
    const source = this.endpoint;
    queueMicrotask(() => receiver.deliver(copy, source));
  }

  onReceive(handler: ReceiveHandler): void {
    this.#handler = handler;
  }

  counters(): TransportCounters {
    return { ...this.#counters, dropped: { ...this.#counters.dropped } };
  }

  close(): Promise<void> {
    // Closing is synchronous here, so a second call has nothing to wait for: idempotent by construction.
    if (!this.#closed) {
      this.#closed = true;
      this.#handler = undefined;
      if (this.#transports.get(this.endpoint) === this) this.#transports.delete(this.endpoint);
    }
    return Promise.resolve();
  }

  /** Runs on a microtask after the sender's `send` has returned. */
  deliver(frame: Uint8Array, source: Endpoint): void {
    // A frame in flight when the receiver closed is lost, as a datagram to a closed socket is.
    if (this.#closed) return;
    if (frame.byteLength > this.maxDatagramBytes) return this.#drop('oversize');
    this.#counters.received += 1;
    this.#handler?.(frame, source);
  }

  #drop(reason: TransportDropReason): void {
    this.#counters.dropped[reason] += 1;
  }
}
