/**
 * UDP echo latency at concurrency 1: through the runtime (codec with HMAC, router, actor, reply
 * through the node client) against a bare `node:dgram` + msgpackr echo, in the same run, both
 * with the server and client on loopback in this process.
 */
import { UdpTransport } from '@steadfast/net';
import { defineActor, Node, RealClock } from '@steadfast/runtime';
import { address, createCodec } from '@steadfast/wire';
import { pack, unpack } from 'msgpackr';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { latencySummary, round } from './stats.js';

const echoActor = defineActor<null>({
  kind: 'bench.echo',
  initial: () => null,
  handle(state, input, ctx) {
    if (input.type === 'message') ctx.reply(input.envelope.body);
    return state;
  },
});

const hmacKey = Buffer.alloc(32, 3);

/** With `withHmac`, each side signs what it sends and checks what it receives, as the runtime must. */
function seal(payload: Uint8Array, withHmac: boolean): Uint8Array {
  if (!withHmac) return payload;
  const mac = createHmac('sha256', hmacKey).update(payload).digest();
  return Buffer.concat([mac, payload]);
}

function open(frame: Uint8Array, withHmac: boolean): Uint8Array | undefined {
  if (!withHmac) return frame;
  const payload = frame.subarray(32);
  const mac = createHmac('sha256', hmacKey).update(payload).digest();
  return timingSafeEqual(mac, frame.subarray(0, 32)) ? payload : undefined;
}

async function bareEcho(requests: number, withHmac = false): Promise<number[]> {
  const server = createSocket('udp4');
  const client = createSocket('udp4');
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  server.on('message', (message, remote) => {
    const opened = open(message, withHmac);
    if (opened === undefined) return;
    const body = unpack(opened) as { sequence: number };
    server.send(seal(pack({ sequence: body.sequence, echo: true }), withHmac), remote.port, remote.address);
  });
  const port = server.address().port;
  const samples: number[] = [];
  let waiting: ((sequence: number) => void) | undefined;
  client.on('message', (message) => {
    const opened = open(message, withHmac);
    if (opened !== undefined) waiting?.((unpack(opened) as { sequence: number }).sequence);
  });
  for (let sequence = 0; sequence < requests; sequence++) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      // A lost datagram is resent; loopback at concurrency 1 rarely loses any.
      const request = seal(pack({ sequence, type: 'echo' }), withHmac);
      const resend = setInterval(() => client.send(request, port, '127.0.0.1'), 200);
      waiting = (received) => {
        if (received !== sequence) return;
        clearInterval(resend);
        resolve();
      };
      client.send(request, port, '127.0.0.1');
    });
    samples.push((performance.now() - started) * 1000);
  }
  await Promise.all([close(server), close(client)]);
  return samples;
}

function close(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

async function runtimeEcho(requests: number): Promise<number[]> {
  const codec = createCodec({ keys: new Map([[1, new Uint8Array(32).fill(3)]]), activeKeyId: 1 });
  const serverClock = new RealClock();
  const clientClock = new RealClock();
  const serverTransport = await UdpTransport.bind();
  const clientTransport = await UdpTransport.bind();
  const server = new Node({
    id: 'server',
    incarnation: 1,
    clock: serverClock,
    transport: serverTransport,
    codec,
  });
  const client = new Node({
    id: 'client',
    incarnation: 1,
    clock: clientClock,
    transport: clientTransport,
    codec,
    peers: { server: serverTransport.endpoint },
  });
  server.spawn('echo', echoActor);
  const target = address('server', 'echo');
  const samples: number[] = [];
  for (let sequence = 0; sequence < requests; sequence++) {
    const started = performance.now();
    await client.request(target, { sequence, type: 'echo' });
    samples.push((performance.now() - started) * 1000);
  }
  await Promise.all([server.close(), client.close()]);
  serverClock.clearAll();
  clientClock.clearAll();
  return samples;
}

export async function benchUdpEcho(requests = 3000) {
  await bareEcho(300);
  await bareEcho(300, true);
  await runtimeEcho(300);
  // Interleave halves so drift in machine load affects every variant alike.
  const bare: number[] = [];
  const bareWithHmac: number[] = [];
  const runtime: number[] = [];
  for (let half = 0; half < 2; half++) {
    bare.push(...(await bareEcho(requests / 2)));
    bareWithHmac.push(...(await bareEcho(requests / 2, true)));
    runtime.push(...(await runtimeEcho(requests / 2)));
  }
  const bareSummary = latencySummary(bare);
  const hmacSummary = latencySummary(bareWithHmac);
  const runtimeSummary = latencySummary(runtime);
  return {
    requests,
    bare: bareSummary,
    bareWithHmac: hmacSummary,
    runtime: runtimeSummary,
    p50Ratio: round(runtimeSummary.p50Us / bareSummary.p50Us, 3),
    p50RatioToBareWithHmac: round(runtimeSummary.p50Us / hmacSummary.p50Us, 3),
    target: 'p50 ratio <= 1.3',
  };
}
