// Tests for DelayingTransport: the shared transport compliance suite over real UDP sockets, then
// what it adds: frames arrive late, reordered, every one of them, and none after close.
import { describe, expect, it } from 'vitest';
import { transportComplianceSuite } from '@steadfast/runtime/testing';
import { Prng } from '@steadfast/sim';
import { DelayingTransport } from './delaying-transport.js';
import { UdpTransport } from './udp-transport.js';

transportComplianceSuite(
  'DelayingTransport over UdpTransport',
  async () => {
    const a = new DelayingTransport(await UdpTransport.bind(), { minDelayMs: 0, maxDelayMs: 5 });
    const b = new DelayingTransport(await UdpTransport.bind(), { minDelayMs: 0, maxDelayMs: 5 });
    return { a, b, cleanup: async () => void (await Promise.all([a.close(), b.close()])) };
  },
  { lossless: false, unreachableEndpoint: 'no-such-endpoint' },
);

/** A seeded generator (the simulator's), so a run's delays are the same every time. */
function seeded(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.nextFloat();
}

async function pair(minDelayMs: number, maxDelayMs: number) {
  const sender = new DelayingTransport(await UdpTransport.bind(), {
    minDelayMs,
    maxDelayMs,
    random: seeded(7),
  });
  const receiver = await UdpTransport.bind({ receiveBufferBytes: 4 * 1024 * 1024 });
  const received: number[] = [];
  receiver.onReceive((frame) => received.push(new DataView(frame.buffer, frame.byteOffset).getUint32(0)));
  return { sender, receiver, received };
}

function numbered(index: number): Uint8Array {
  const frame = new Uint8Array(4);
  new DataView(frame.buffer).setUint32(0, index);
  return frame;
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('DelayingTransport', () => {
  // Invariant: no frame leaves before its shortest delay, and the caller's buffer may be reused at
  // once (the frame that leaves is the one that was sent).
  it('holds each frame at least minDelayMs and sends the bytes it was given', async () => {
    const { sender, receiver, received } = await pair(30, 40);
    try {
      const frame = numbered(11);
      const sentAt = performance.now();
      sender.send(receiver.endpoint, frame);
      frame.fill(0);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(received).toEqual([]);
      await until(() => received.length === 1, 2_000);
      expect(received).toEqual([11]);
      expect(performance.now() - sentAt).toBeGreaterThanOrEqual(29);
    } finally {
      await Promise.all([sender.close(), receiver.close()]);
    }
  });

  // Invariant: with a delay span, frames to one endpoint leave out of order, each counted; every
  // frame still leaves exactly once (loopback may lose a few, so most must arrive, none twice).
  it('reorders frames sent within the delay span, and counts it', async () => {
    const { sender, receiver, received } = await pair(0, 10);
    try {
      const count = 200;
      for (let index = 0; index < count; index++) sender.send(receiver.endpoint, numbered(index));
      await until(() => received.length === count, 3_000);
      expect(new Set(received).size).toBe(received.length);
      expect(received.length).toBeGreaterThanOrEqual(count * 0.9);
      const outOfOrder = received.filter((value, index) => index > 0 && value < received[index - 1]!);
      expect(outOfOrder.length).toBeGreaterThan(0);
      const counters = sender.counters();
      expect(counters.delayed).toBe(count);
      expect(counters.reordered).toBeGreaterThan(0);
      expect(counters.sent).toBe(count);
    } finally {
      await Promise.all([sender.close(), receiver.close()]);
    }
  });

  // Invariant: a clean close loses nothing: frames still waiting leave at once, before the socket
  // closes; a send after close is a counted drop.
  it('sends the frames still waiting when it closes, and none after', async () => {
    const { sender, receiver, received } = await pair(5_000, 6_000);
    try {
      for (let index = 0; index < 5; index++) sender.send(receiver.endpoint, numbered(index));
      await sender.close();
      sender.send(receiver.endpoint, numbered(99));
      await until(() => received.length === 5, 2_000);
      expect([...received].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4]);
      expect(sender.counters().sent).toBe(5);
      expect(sender.counters().dropped.closed).toBe(1);
      expect(sender.counters().delayed).toBe(5);
    } finally {
      await receiver.close();
    }
  });

  // Invariant: bad delays are refused when the transport is made, with the option named.
  it('refuses negative, reversed, unbounded and non-numeric delays', async () => {
    const inner = await UdpTransport.bind();
    try {
      for (const [options, message] of [
        [{ minDelayMs: -1, maxDelayMs: 5 }, /minDelayMs/],
        [{ minDelayMs: 5, maxDelayMs: 1 }, /below minDelayMs/],
        [{ minDelayMs: 0, maxDelayMs: Number.POSITIVE_INFINITY }, /maxDelayMs/],
        [{ minDelayMs: Number.NaN, maxDelayMs: 1 }, /minDelayMs/],
        [{ minDelayMs: 0, maxDelayMs: 60_000 }, /maxDelayMs/],
      ] as const)
        expect(() => new DelayingTransport(inner, options)).toThrow(message);
    } finally {
      await inner.close();
    }
  });
});
