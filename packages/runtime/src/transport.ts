/**
 * The transport moves bytes and knows no protocol (house style rule 6, after hashicorp/memberlist).
 *
 * Guarantees, and the lack of them, that every implementation shares and the compliance suite
 * in `@steadfast/runtime/testing` checks:
 * - `send` is best effort: a frame may be lost, duplicated or reordered, and `send` never throws
 *   for a network failure; it counts it instead. Protocols above retransmit.
 * - A frame is delivered whole or not at all: never cut, never merged with another.
 * - `onReceive` is called once per datagram received, with the sender's endpoint, after `send`
 *   has returned (never re-entrantly from inside `send`).
 * - A frame longer than `maxDatagramBytes` is not sent: it is dropped and counted as `oversize`.
 * - After `close()` resolves, no handler is called and `send` is a counted no-op (`closed`).
 */

/** A transport-level location: `host:port` for UDP, a plain name for the memory transport. */
export type Endpoint = string;

/**
 * Why a transport dropped a frame (docs/transport.md, "Counters"): over `maxDatagramBytes` on send
 * or receipt; a target not attached (memory) or a sender not allowed (UDP); a target the transport
 * cannot parse or the OS refused; a send after `close()`.
 */
export type TransportDropReason = 'oversize' | 'unknown-peer' | 'send-failed' | 'closed';

/**
 * A snapshot of a transport's counts. Once `close()` has resolved, each `send` is counted exactly
 * once, as `sent` or as one drop reason; each datagram reaching an open transport is counted once,
 * as `received` or a drop. Frames that fail to decode count as `received`: decoding is not the
 * transport's business, the node counts those.
 */
export interface TransportCounters {
  readonly sent: number;
  readonly received: number;
  readonly dropped: Readonly<Record<TransportDropReason, number>>;
}

/** Called once per datagram received, with the sender's endpoint; never from inside `send`. */
export type ReceiveHandler = (frame: Uint8Array, source: Endpoint) => void;

/**
 * Moves frames between endpoints with the guarantees above. The memory, UDP and delaying transports
 * and the simulator's network implement it, and each passes `transportComplianceSuite`. `send`
 * copies the frame, so the caller may reuse its buffer as soon as `send` returns.
 */
export interface Transport {
  /** The endpoint this transport receives on; peers send to it. */
  readonly endpoint: Endpoint;
  readonly maxDatagramBytes: number;
  send(target: Endpoint, frame: Uint8Array): void;
  /** Sets the single receive handler, replacing any earlier one. */
  onReceive(handler: ReceiveHandler): void;
  counters(): TransportCounters;
  close(): Promise<void>;
}

/** Zeroed, mutable counters for a transport implementation to count into and copy out of `counters()`. */
export function emptyTransportCounters(): {
  sent: number;
  received: number;
  dropped: Record<TransportDropReason, number>;
} {
  return { sent: 0, received: 0, dropped: { oversize: 0, 'unknown-peer': 0, 'send-failed': 0, closed: 0 } };
}
