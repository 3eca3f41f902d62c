// A live node on UDP fed random and mutated frames. Invariants: the node never crashes; every
// datagram its transport received is accounted for, either accepted or dropped with a counted
// reason; no bad frame reaches an actor; the node still serves good requests afterwards.
import { defineActor, Node, RealClock } from '@steadfast/runtime';
import { address, createCodec, nodeId, type Envelope } from '@steadfast/wire';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindRaw, closeRaw, sendRaw, waitFor } from './testing/raw-udp.js';
import { parseEndpoint, UdpTransport } from './udp-transport.js';

const key = new Uint8Array(32).fill(0x42);
const codec = createCodec({ keys: new Map([[1, key]]), activeKeyId: 1, maxFrameBytes: 4096 });

const recorder = defineActor<{ bodies: unknown[] }>({
  kind: 'test.recorder',
  initial: () => ({ bodies: [] }),
  handle(state, input, ctx) {
    if (input.type !== 'message') return state;
    if (input.envelope.kind === 'async-request') ctx.reply({ ok: true });
    return { bodies: [...state.bodies, input.envelope.body] };
  },
});

function validEnvelope(sequence: number, body: unknown): Envelope {
  return {
    kind: 'one-way',
    id: { origin: nodeId('fuzzer'), incarnation: 1, sequence },
    source: address('fuzzer', 'a'),
    target: address('victim', 'recorder'),
    body,
  };
}

describe('a live UDP node under fuzzing', () => {
  let clock: RealClock;
  let transport: UdpTransport;
  let node: Node;
  let port: number;

  beforeAll(async () => {
    clock = new RealClock();
    transport = await UdpTransport.bind({ maxDatagramBytes: 4096 });
    node = new Node({ id: 'victim', incarnation: 1, clock, transport, codec });
    node.spawn('recorder', recorder);
    port = parseEndpoint(transport.endpoint)!.port;
  });

  afterAll(async () => {
    await node.close();
    clock.clearAll();
  });

  it('counts every bad frame (random bytes, bit flips, truncations, extensions) and delivers only good ones', async () => {
    const raw = await bindRaw();
    let goodSent = 0;
    try {
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
        fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
        fc.record({
          kind: fc.constant('extend' as const),
          extra: fc.uint8Array({ minLength: 1, maxLength: 16 }),
        }),
        fc.record({ kind: fc.constant('good' as const) }),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(mutation, { minLength: 1, maxLength: 20 }),
          fc.jsonValue({ maxDepth: 2 }),
          async (mutations, body) => {
            for (const change of mutations) {
              const encoded = codec.encode(validEnvelope(goodSent + 1, body));
              if (!encoded.ok) return;
              const frame = encoded.frame;
              let bytes: Uint8Array;
              switch (change.kind) {
                case 'random':
                  bytes = change.bytes;
                  break;
                case 'flip': {
                  bytes = Uint8Array.from(frame);
                  const at = change.at % bytes.length;
                  bytes[at] = bytes[at]! ^ (1 << change.bit);
                  break;
                }
                case 'truncate':
                  bytes = frame.subarray(0, change.at % frame.length);
                  break;
                case 'extend':
                  bytes = Uint8Array.from([...frame, ...change.extra]);
                  break;
                case 'good':
                  bytes = frame;
                  goodSent++;
                  break;
              }
              await sendRaw(raw, bytes, port);
            }
          },
        ),
        { numRuns: 40 },
      );
      // Let the last datagrams land, then check the books balance.
      const settled = () => {
        const counters = node.counters();
        const decodeDrops = Object.values(counters.dropped).reduce((sum, count) => sum + count, 0);
        const transportDrops = Object.values(counters.transport!.dropped).reduce(
          (sum, count) => sum + count,
          0,
        );
        return { counters, decodeDrops, transportDrops };
      };
      let previous = -1;
      await waitFor(
        () => {
          const now = node.counters().transport!.received;
          const stable = now === previous;
          previous = now;
          return stable;
        },
        5_000,
        'receive counter to settle',
      );
      const { counters, decodeDrops, transportDrops } = settled();
      // Every received datagram was either accepted by the node or dropped with a counted reason.
      expect(counters.receivedRemote + decodeDrops).toBe(counters.transport!.received);
      expect(decodeDrops + transportDrops).toBeGreaterThan(0);
      // Only good frames reached the actor (the fuzzer's bodies were valid JSON values; a frame
      // that got through while mutated would have had to forge the MAC).
      const delivered = (node.actorState('recorder') as { bodies: unknown[] }).bodies.length;
      expect(delivered).toBeLessThanOrEqual(goodSent);
      expect(counters.receivedRemote).toBe(delivered);
    } finally {
      await closeRaw(raw);
    }
  });

  it('still answers a well-formed request from a real client after the fuzzing', async () => {
    const clientClock = new RealClock();
    const clientTransport = await UdpTransport.bind();
    const client = new Node({
      id: 'client',
      incarnation: 1,
      clock: clientClock,
      transport: clientTransport,
      codec,
      peers: { victim: transport.endpoint },
    });
    try {
      const reply = await client.request(address('victim', 'recorder'), { hello: true });
      expect(reply.body).toEqual({ ok: true });
    } finally {
      await client.close();
      clientClock.clearAll();
    }
  });
});
