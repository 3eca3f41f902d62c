// Tests for the in-memory transport: the shared compliance suite, run lossless, plus the rules of
// the network itself (names, unknown peers, per-transport limits).
import { describe, expect, it } from 'vitest';
import { MemoryNetwork } from './memory-transport.js';
import { transportComplianceSuite } from './testing/index.js';

transportComplianceSuite(
  'MemoryNetwork',
  async () => {
    const network = new MemoryNetwork();
    const a = network.attach('a');
    const b = network.attach('b');
    return { a, b, cleanup: async () => void (await Promise.all([a.close(), b.close()])) };
  },
  { lossless: true, unreachableEndpoint: 'nobody' },
);

describe('MemoryNetwork', () => {
  it('counts a send to an endpoint nobody attached as unknown-peer on the sender, not as sent', () => {
    const network = new MemoryNetwork();
    const a = network.attach('a');
    a.send('ghost', Uint8Array.of(1));
    expect(a.counters()).toEqual({
      sent: 0,
      received: 0,
      dropped: { oversize: 0, 'unknown-peer': 1, 'send-failed': 0, closed: 0 },
    });
  });

  it('refuses a second transport on an attached endpoint (programmer error), and frees it on close', async () => {
    const network = new MemoryNetwork();
    const first = network.attach('a');
    expect(() => network.attach('a')).toThrow(/already attached/);
    await first.close();
    expect(network.endpoints()).toEqual([]);
    const second = network.attach('a');
    expect(second.endpoint).toBe('a');
  });

  it('delivers on a microtask after send returns, never synchronously', async () => {
    const network = new MemoryNetwork();
    const a = network.attach('a');
    const calls: number[] = [];
    a.onReceive((frame) => calls.push(frame[0] ?? -1));
    a.send('a', Uint8Array.of(42));
    expect(calls).toEqual([]);
    await Promise.resolve();
    expect(calls).toEqual([42]);
  });

  it('loses a frame in flight when the receiver closes before delivery, as a closed socket would', async () => {
    const network = new MemoryNetwork();
    const a = network.attach('a');
    const b = network.attach('b');
    const frames: Uint8Array[] = [];
    b.onReceive((frame) => frames.push(frame));
    a.send('b', Uint8Array.of(1));
    await b.close();
    expect(frames).toEqual([]);
    expect(a.counters().sent).toBe(1);
    expect(b.counters().received).toBe(0);
  });

  it('drops a frame over the receiver’s own maxDatagramBytes as oversize on the receiver', async () => {
    const network = new MemoryNetwork();
    const a = network.attach('a', { maxDatagramBytes: 100 });
    const b = network.attach('b', { maxDatagramBytes: 10 });
    const frames: Uint8Array[] = [];
    b.onReceive((frame) => frames.push(frame));
    a.send('b', new Uint8Array(50));
    a.send('b', new Uint8Array(10));
    await Promise.resolve();
    expect(frames.map((f) => f.byteLength)).toEqual([10]);
    expect(a.counters().sent).toBe(2);
    expect(b.counters().dropped.oversize).toBe(1);
    expect(b.counters().received).toBe(1);
  });

  it('rejects an invalid maxDatagramBytes (programmer error)', () => {
    const network = new MemoryNetwork();
    expect(() => network.attach('a', { maxDatagramBytes: -1 })).toThrow(RangeError);
    expect(() => network.attach('b', { maxDatagramBytes: 1.5 })).toThrow(RangeError);
    expect(() => network.attach('')).toThrow(RangeError);
  });
});
