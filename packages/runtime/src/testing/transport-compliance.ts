/**
 * The compliance suite every `Transport` must pass, the in-memory one included (after js-libp2p's
 * interface-compliance-tests). Each case checks one guarantee written in `../transport.ts`.
 *
 * Call it at the top level of a test file with a factory for two connected transports:
 *
 *   transportComplianceSuite('UdpTransport', async () => { ...; return { a, b, cleanup } });
 *
 * A transport that loses frames (UDP) passes with `lossless: false`: the cases that need a frame
 * to arrive retransmit it, as a protocol would, and the bulk case demands most frames rather than
 * all. A lossless transport (memory) must deliver every frame, once, in order.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Endpoint, Transport, TransportCounters } from '../transport.js';

/** What the suite's factory returns for each case: two fresh, connected transports. */
export interface TransportPair {
  /** Two open transports that can reach each other and themselves by their `endpoint`. */
  readonly a: Transport;
  readonly b: Transport;
  /** Closes both transports; the suite may already have closed one of them. */
  cleanup(): Promise<void>;
}

/**
 * How strict the suite is: `lossless` demands every frame once and in order; the waits and the
 * delivered fraction bound what a lossy transport may get away with.
 */
export interface TransportComplianceOptions {
  /** True when every frame to an open peer arrives exactly once and in order. Default false. */
  readonly lossless?: boolean;
  /** An endpoint `a` cannot reach: unknown or unparsable for this transport. */
  readonly unreachableEndpoint?: Endpoint;
  /** How long to wait for a frame before giving up or sending it again. Default 200. */
  readonly retransmitIntervalMs?: number;
  /** How many times a frame is sent before the case fails. Default 10. */
  readonly attemptsMax?: number;
  /** How long the bulk case waits for stragglers. Default 3000. */
  readonly settleTimeoutMs?: number;
  /** Fraction of the bulk frames a lossy transport must deliver. Default 0.9. */
  readonly bulkDeliveredFractionMin?: number;
}

interface Received {
  readonly frame: Uint8Array;
  readonly source: Endpoint;
}

const bulkFramesCount = 200;
const bulkPauseEveryFrames = 10;
const pollIntervalMs = 2;

/**
 * Registers the compliance cases (a vitest `describe`) for the transport `name`. `makePair` is
 * called before every case and `cleanup` after it, so each case gets transports of its own. See the
 * module comment for lossy transports.
 */
export function transportComplianceSuite(
  name: string,
  makePair: () => Promise<TransportPair>,
  options: TransportComplianceOptions = {},
): void {
  const lossless = options.lossless ?? false;
  const unreachableEndpoint = options.unreachableEndpoint ?? 'no-such-endpoint';
  const retransmitIntervalMs = options.retransmitIntervalMs ?? 200;
  const attemptsMax = options.attemptsMax ?? 10;
  const settleTimeoutMs = options.settleTimeoutMs ?? 3_000;
  const bulkDeliveredFractionMin = options.bulkDeliveredFractionMin ?? 0.9;
  const waitTimeoutMs = retransmitIntervalMs * attemptsMax;

  /**
   * Sends `frame` until `inbox` holds a frame equal to it, as a protocol above a lossy transport
   * would. Returns the number of sends; a lossless transport must need exactly one.
   */
  async function deliver(
    from: Transport,
    target: Endpoint,
    frame: Uint8Array,
    inbox: readonly Received[],
  ): Promise<number> {
    for (let attempt = 1; attempt <= attemptsMax; attempt += 1) {
      from.send(target, frame);
      const arrived = await waitUntil(
        () => inbox.some((r) => bytesEqual(r.frame, frame)),
        retransmitIntervalMs,
      );
      if (arrived) {
        if (lossless) expect(attempt).toBe(1);
        return attempt;
      }
    }
    throw new Error(`${name}: frame not delivered after ${attemptsMax} attempts`);
  }

  describe(`${name} passes the transport compliance suite`, () => {
    let pair: TransportPair;
    let inboxA: Received[];
    let inboxB: Received[];

    beforeEach(async () => {
      pair = await makePair();
      inboxA = [];
      inboxB = [];
      pair.a.onReceive((frame, source) => inboxA.push({ frame, source }));
      pair.b.onReceive((frame, source) => inboxB.push({ frame, source }));
    });

    afterEach(async () => {
      await pair.cleanup();
    });

    it('delivers a frame sent a→b whole, with a’s endpoint as its source', async () => {
      const { a, b } = pair;
      const frame = patternFrame(1, 300);
      const attempts = await deliver(a, b.endpoint, frame, inboxB);
      expect(inboxB.length).toBeGreaterThanOrEqual(1);
      for (const r of inboxB) {
        expect(r.source).toBe(a.endpoint);
        expect(bytesEqual(r.frame, frame)).toBe(true);
      }
      expect(b.counters().received).toBe(inboxB.length);
      await waitFor(() => settledSends(a.counters()) === attempts, waitTimeoutMs, 'a.sent to settle');
      expect(a.counters().sent).toBe(attempts);
      if (lossless) expect(inboxB.length).toBe(1);
    });

    it('delivers frames of 0, 1 and exactly maxDatagramBytes bytes whole (no cutting at the boundary)', async () => {
      const { a, b } = pair;
      const sizes = [0, 1, Math.min(a.maxDatagramBytes, b.maxDatagramBytes)];
      for (const [index, size] of sizes.entries()) {
        inboxB.length = 0;
        const frame = patternFrame(index, size);
        await deliver(a, b.endpoint, frame, inboxB);
        for (const r of inboxB) expect(bytesEqual(r.frame, frame)).toBe(true);
      }
      expect(a.counters().dropped.oversize).toBe(0);
    });

    it('copies the bytes: mutating the buffer after send does not change the frame received', async () => {
      const { a, b } = pair;
      const original = patternFrame(7, 512);
      for (let attempt = 1; attempt <= attemptsMax; attempt += 1) {
        const buffer = original.slice();
        a.send(b.endpoint, buffer);
        buffer.fill(0xff);
        if (await waitUntil(() => inboxB.length > 0, retransmitIntervalMs)) break;
      }
      expect(inboxB.length).toBeGreaterThan(0);
      for (const r of inboxB) expect(bytesEqual(r.frame, original)).toBe(true);
    });

    it(`delivers ${bulkFramesCount} frames without corruption, and counts received ≤ sent`, async () => {
      const { a, b } = pair;
      const frames = Array.from({ length: bulkFramesCount }, (_, index) =>
        patternFrame(index, 8 + ((index * 37) % 1_000)),
      );
      for (const [index, frame] of frames.entries()) {
        a.send(b.endpoint, frame);
        // Pausing now and then lets the receiver drain its socket, so loopback does not overflow.
        if (index % bulkPauseEveryFrames === bulkPauseEveryFrames - 1) await sleep(1);
      }
      await waitFor(
        () => settledSends(a.counters()) === bulkFramesCount,
        settleTimeoutMs,
        'a.sent to settle',
      );
      await waitUntil(() => inboxB.length >= bulkFramesCount, settleTimeoutMs);

      const indexes = inboxB.map((r) => {
        expect(r.source).toBe(a.endpoint);
        const index = frameIndex(r.frame);
        const expected = frames[index];
        expect(expected, `frame index ${index} was never sent`).toBeDefined();
        expect(bytesEqual(r.frame, expected ?? new Uint8Array()), `frame ${index} corrupted`).toBe(true);
        return index;
      });
      const counters = { a: a.counters(), b: b.counters() };
      expect(counters.a.sent + counters.a.dropped['send-failed']).toBe(bulkFramesCount);
      expect(counters.b.received).toBe(inboxB.length);
      expect(counters.b.received).toBeLessThanOrEqual(counters.a.sent);
      if (lossless) {
        expect(counters.a.sent).toBe(bulkFramesCount);
        expect(indexes).toEqual(frames.map((_, index) => index));
      } else {
        expect(new Set(indexes).size).toBeGreaterThanOrEqual(
          Math.ceil(bulkFramesCount * bulkDeliveredFractionMin),
        );
      }
    });

    it('drops a frame longer than maxDatagramBytes, counts it as oversize, and never delivers it', async () => {
      const { a, b } = pair;
      const before = a.counters();
      const oversize = patternFrame(3, a.maxDatagramBytes + 1);
      expect(() => a.send(b.endpoint, oversize)).not.toThrow();
      expect(a.counters().dropped.oversize).toBe(before.dropped.oversize + 1);
      // A later frame that arrives shows the oversize one had its chance to arrive too.
      const attempts = await deliver(a, b.endpoint, patternFrame(4, 16), inboxB);
      expect(inboxB.some((r) => r.frame.byteLength > a.maxDatagramBytes)).toBe(false);
      await waitFor(() => settledSends(a.counters()) === before.sent + attempts, waitTimeoutMs, 'a.sent');
      expect(a.counters().sent).toBe(before.sent + attempts);
    });

    it('counts a send to an unreachable endpoint as a drop, without throwing or returning a promise', async () => {
      const { a } = pair;
      const before = a.counters();
      let returned: unknown = 'not called';
      expect(() => {
        returned = a.send(unreachableEndpoint, patternFrame(5, 32));
      }).not.toThrow();
      expect(returned).toBeUndefined();
      const unreachableDrops = (c: TransportCounters): number =>
        c.dropped['unknown-peer'] + c.dropped['send-failed'];
      await waitFor(
        () => unreachableDrops(a.counters()) === unreachableDrops(before) + 1,
        waitTimeoutMs,
        'the drop',
      );
      expect(a.counters().sent).toBe(before.sent);
    });

    it('never calls a handler re-entrantly from inside send, even for a send to oneself', async () => {
      const { a, b } = pair;
      let sendDepth = 0;
      let handlerCalls = 0;
      let reentrantCalls = 0;
      const guardedSend = (from: Transport, target: Endpoint, frame: Uint8Array): void => {
        sendDepth += 1;
        try {
          from.send(target, frame);
        } finally {
          sendDepth -= 1;
        }
      };
      // Each handler replies once to a first-hop frame, from inside the handler, as protocols do.
      const handlerFor = (self: Transport) => (frame: Uint8Array, source: Endpoint) => {
        handlerCalls += 1;
        if (sendDepth > 0) reentrantCalls += 1;
        if (frame[0] === 0) guardedSend(self, source, Uint8Array.of(1));
      };
      a.onReceive(handlerFor(a));
      b.onReceive(handlerFor(b));
      const expectedCalls = 8; // four first hops (a→b, b→a, a→a, b→b) and four replies
      guardedSend(a, b.endpoint, Uint8Array.of(0));
      guardedSend(b, a.endpoint, Uint8Array.of(0));
      guardedSend(a, a.endpoint, Uint8Array.of(0));
      guardedSend(b, b.endpoint, Uint8Array.of(0));
      await waitUntil(() => handlerCalls >= expectedCalls, settleTimeoutMs);
      expect(handlerCalls).toBeGreaterThan(0);
      if (lossless) expect(handlerCalls).toBe(expectedCalls);
      expect(reentrantCalls).toBe(0);
    });

    it('replaces the receive handler: only the latest one is called', async () => {
      const { a, b } = pair;
      const first: Received[] = [];
      const second: Received[] = [];
      b.onReceive((frame, source) => first.push({ frame, source }));
      b.onReceive((frame, source) => second.push({ frame, source }));
      await deliver(a, b.endpoint, patternFrame(6, 10), second);
      expect(first).toEqual([]);
    });

    it('after close resolves, calls no handler and counts each send as closed', async () => {
      const { a, b } = pair;
      let closeResolved = false;
      let callsAfterClose = 0;
      b.onReceive(() => {
        if (closeResolved) callsAfterClose += 1;
      });
      // Frames in flight while b closes must not reach b's handler after close resolves.
      for (let index = 0; index < 20; index += 1) a.send(b.endpoint, patternFrame(index, 64));
      await b.close();
      closeResolved = true;
      for (let index = 0; index < 5; index += 1) a.send(b.endpoint, patternFrame(index, 64));

      const before = b.counters();
      expect(() => b.send(a.endpoint, patternFrame(8, 16))).not.toThrow();
      expect(b.counters().dropped.closed).toBe(before.dropped.closed + 1);
      expect(b.counters().sent).toBe(before.sent);

      // a's frame to itself is a fence: once it is back, b's frames would have arrived too.
      await deliver(a, a.endpoint, patternFrame(9, 16), inboxA);
      expect(inboxA.every((r) => r.source === a.endpoint)).toBe(true);
      expect(callsAfterClose).toBe(0);
    });

    it('counts every send exactly once, as sent or as one drop reason, once close has resolved', async () => {
      const { a, b } = pair;
      const sendsCount = 30;
      for (let index = 0; index < sendsCount; index += 1) {
        // A mix of outcomes, several still in flight when close is called.
        if (index % 10 === 3) a.send(b.endpoint, patternFrame(index, a.maxDatagramBytes + 1));
        else if (index % 10 === 7) a.send(unreachableEndpoint, patternFrame(index, 8));
        else a.send(b.endpoint, patternFrame(index, 64));
      }
      await a.close();
      a.send(b.endpoint, patternFrame(sendsCount, 8));
      const counters = a.counters();
      const droppedCount = Object.values(counters.dropped).reduce((sum, count) => sum + count, 0);
      expect(counters.sent + droppedCount).toBe(sendsCount + 1);
      expect(counters.dropped.oversize).toBe(3);
      expect(counters.dropped['unknown-peer'] + counters.dropped['send-failed']).toBeGreaterThanOrEqual(3);
      expect(counters.dropped.closed).toBeGreaterThanOrEqual(1);
    });

    it('close is idempotent: repeated and concurrent calls resolve, and the transport stays closed', async () => {
      const { a, b } = pair;
      await Promise.all([b.close(), b.close()]);
      await b.close();
      b.send(a.endpoint, patternFrame(10, 16));
      expect(b.counters().dropped.closed).toBe(1);
      expect(() => b.onReceive(() => undefined)).not.toThrow();
      await a.close();
      await a.close();
      a.send(a.endpoint, patternFrame(11, 16));
      expect(a.counters().dropped.closed).toBe(1);
    });
  });
}

/** Frames sent or failed so far; UDP counts both only once the operating system has answered. */
function settledSends(counters: TransportCounters): number {
  return counters.sent + counters.dropped['send-failed'];
}

/** A frame whose first four bytes hold `index` (when it has room) and whose rest is derived from it. */
function patternFrame(index: number, sizeBytes: number): Uint8Array {
  const frame = new Uint8Array(sizeBytes);
  for (let offset = 0; offset < sizeBytes; offset += 1) frame[offset] = (index * 31 + offset * 7) & 0xff;
  if (sizeBytes >= 4) new DataView(frame.buffer).setUint32(0, index);
  return frame;
}

function frameIndex(frame: Uint8Array): number {
  return frame.byteLength >= 4
    ? new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0)
    : -1;
}

function bytesEqual(left: Uint8Array, right: Uint8Array): boolean {
  if (left.byteLength !== right.byteLength) return false;
  for (let offset = 0; offset < left.byteLength; offset += 1)
    if (left[offset] !== right[offset]) return false;
  return true;
}

function sleep(durationMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, durationMs));
}

/** Polls `condition` until it holds (true) or `timeoutMs` has passed (false). */
async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadlineMs = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadlineMs) return false;
    await sleep(pollIntervalMs);
  }
  return true;
}

async function waitFor(condition: () => boolean, timeoutMs: number, description: string): Promise<void> {
  if (!(await waitUntil(condition, timeoutMs)))
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
}
