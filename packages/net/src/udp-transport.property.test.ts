// Property: whatever bytes arrive on the socket, UdpTransport neither crashes nor loses count.
// Every datagram a raw socket sends is counted exactly once, by a model simple enough to be
// obviously right: unknown-peer if allowPeer rejects its source, else oversize if it is longer than
// maxDatagramBytes, else received (and handed to the handler byte for byte).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bindRaw, closeRaw, sendRaw, waitFor } from './testing/raw-udp.js';
import { UdpTransport, parseEndpoint } from './udp-transport.js';

const maxDatagramBytes = 1_500;

const datagramArbitrary = fc.record({
  fromStranger: fc.boolean(),
  bytes: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 2_048 })),
});

describe('UdpTransport under random datagrams', () => {
  it('counts every datagram once as received, unknown-peer or oversize, and delivers the received ones intact', async () => {
    const friend = await bindRaw();
    const stranger = await bindRaw();
    const strangerEndpoint = `127.0.0.1:${stranger.address().port}`;
    const transport = await UdpTransport.bind({
      maxDatagramBytes,
      allowPeer: (endpoint) => endpoint !== strangerEndpoint,
    });
    const port = parseEndpoint(transport.endpoint)?.port ?? 0;
    const inbox: string[] = [];
    transport.onReceive((frame) => inbox.push(Buffer.from(frame).toString('hex')));
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(datagramArbitrary, { maxLength: 20 }), async (datagrams) => {
          const before = transport.counters();
          inbox.length = 0;
          for (const datagram of datagrams)
            await sendRaw(datagram.fromStranger ? stranger : friend, datagram.bytes, port);

          const expected = { received: [] as string[], unknownPeer: 0, oversize: 0 };
          for (const datagram of datagrams) {
            if (datagram.fromStranger) expected.unknownPeer += 1;
            else if (datagram.bytes.byteLength > maxDatagramBytes) expected.oversize += 1;
            else expected.received.push(Buffer.from(datagram.bytes).toString('hex'));
          }
          const counted = (): number => {
            const c = transport.counters();
            return c.received + c.dropped['unknown-peer'] + c.dropped.oversize;
          };
          const countedBefore = before.received + before.dropped['unknown-peer'] + before.dropped.oversize;
          await waitFor(
            () => counted() === countedBefore + datagrams.length,
            3_000,
            'every datagram counted',
          );

          const after = transport.counters();
          expect(after.received - before.received).toBe(expected.received.length);
          expect(after.dropped['unknown-peer'] - before.dropped['unknown-peer']).toBe(expected.unknownPeer);
          expect(after.dropped.oversize - before.dropped.oversize).toBe(expected.oversize);
          // Loopback keeps order in practice, but the transport does not promise it: compare as multisets.
          expect([...inbox].sort()).toEqual([...expected.received].sort());
        }),
        { numRuns: 40 },
      );
    } finally {
      await transport.close();
      await Promise.all([closeRaw(friend), closeRaw(stranger)]);
    }
  });
});
