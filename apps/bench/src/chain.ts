/**
 * What this machine allows a semi-active group without any protocol logic: hand-written chains of
 * node processes over loopback UDP, each datagram msgpack with an HMAC-SHA256, in one run:
 *
 * - `pair`: a client process and a server process; the server applies each request and replies.
 * - `group`: the pattern of a 3-replica semi-active group: the client sends each request to the
 *   primary first and then to two backups; the primary applies it and sends the reply (which would
 *   carry the order) to the client first and then to both backups; the backups apply the request.
 *
 * One datagram per request and per reply (no batching), at concurrency 1 (p50) and with 64 in
 * flight (ops/s). The ratios are the floor of `steadfast bench replication`'s: what its transport
 * pattern and process count cost on these cores, before any code of ours runs. A lost datagram is
 * resent after 200 ms (loopback drops some under load).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { pack, unpack } from 'msgpackr';
import { latencySummary } from './stats.js';

const ROLE_FLAG = '--chain-role';
const hmacKey = Buffer.alloc(32, 7);
const RESEND_AFTER_MS = 200;

interface Request {
  readonly type: 'deposit';
  readonly operationId: string;
  readonly amountCents: number;
}

type Datagram =
  | { readonly kind: 'ports'; readonly client: number; readonly backups: readonly number[] }
  | { readonly kind: 'request'; readonly request: Request }
  | {
      readonly kind: 'reply';
      readonly operationId: string;
      readonly balanceCents: number;
      readonly order: { readonly position: number; readonly operationId: string };
    };

function seal(datagram: Datagram): Buffer {
  const body = pack(datagram);
  return Buffer.concat([createHmac('sha256', hmacKey).update(body).digest(), body]);
}

function open(frame: Buffer): Datagram | undefined {
  const body = frame.subarray(32);
  const mac = createHmac('sha256', hmacKey).update(body).digest();
  return frame.length > 32 && timingSafeEqual(mac, frame.subarray(0, 32))
    ? (unpack(body) as Datagram)
    : undefined;
}

/** A server, primary or backup process: applies requests once each (by operation id), in arrival order. */
function runChild(role: string): void {
  const socket = createSocket('udp4');
  const applied = new Map<string, number>();
  let balanceCents = 0;
  let position = 0;
  let client: number | undefined;
  let backups: readonly number[] = [];
  socket.on('message', (frame) => {
    const datagram = open(frame);
    if (datagram === undefined) return;
    if (datagram.kind === 'ports') {
      client = datagram.client;
      backups = datagram.backups;
      return;
    }
    if (datagram.kind !== 'request') return;
    const { operationId, amountCents } = datagram.request;
    let balance = applied.get(operationId);
    if (balance === undefined) {
      balanceCents += amountCents;
      balance = balanceCents;
      applied.set(operationId, balance);
      position++;
    }
    if (role === 'backup' || client === undefined) return;
    const reply = seal({
      kind: 'reply',
      operationId,
      balanceCents: balance,
      order: { position, operationId },
    });
    socket.send(reply, client, '127.0.0.1');
    for (const backup of backups) socket.send(reply, backup, '127.0.0.1');
  });
  socket.bind(0, '127.0.0.1', () => process.send?.({ port: socket.address().port }));
  process.on('disconnect', () => process.exit(0));
}

function startChild(role: 'server' | 'backup'): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), [ROLE_FLAG, role], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, port: (message as { port: number }).port }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`chain ${role} exited with code ${code}`)));
  });
}

interface Chain {
  run(
    prefix: string,
    requests: number,
    inFlight: number,
  ): Promise<{ opsPerSec: number; latenciesUs: number[] }>;
  close(): Promise<void>;
}

async function startChain(backupCount: number): Promise<Chain> {
  const server = await startChild('server');
  const backups = await Promise.all(Array.from({ length: backupCount }, () => startChild('backup')));
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const ports = seal({ kind: 'ports', client: socket.address().port, backups: backups.map((b) => b.port) });
  socket.send(ports, server.port, '127.0.0.1');
  const waiting = new Map<string, () => void>();
  socket.on('message', (frame) => {
    const datagram = open(frame);
    if (datagram?.kind !== 'reply') return;
    const wake = waiting.get(datagram.operationId);
    waiting.delete(datagram.operationId);
    wake?.();
  });
  const send = (frame: Buffer) => {
    socket.send(frame, server.port, '127.0.0.1');
    for (const backup of backups) socket.send(frame, backup.port, '127.0.0.1');
  };
  const operate = (operationId: string) =>
    new Promise<void>((resolve) => {
      const frame = seal({ kind: 'request', request: { type: 'deposit', operationId, amountCents: 1 } });
      const resend = setInterval(() => send(frame), RESEND_AFTER_MS);
      waiting.set(operationId, () => {
        clearInterval(resend);
        resolve();
      });
      send(frame);
    });
  return {
    async run(prefix, requests, inFlight) {
      const latenciesUs: number[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < requests) {
            const index = next++;
            const sent = performance.now();
            await operate(`${prefix}${index}`);
            latenciesUs.push((performance.now() - sent) * 1000);
          }
        }),
      );
      return { opsPerSec: Math.round(requests / ((performance.now() - started) / 1000)), latenciesUs };
    },
    async close() {
      for (const child of [server, ...backups]) child.child.disconnect();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

async function measure(backupCount: number, requests: number) {
  const chain = await startChain(backupCount);
  try {
    await chain.run('warm-', 3_000, 64);
    await chain.run('warm1-', 500, 1);
    const latency = await chain.run('c1-', requests, 1);
    const throughput = await chain.run('c64-', requests, 64);
    return { p50Us: latencySummary(latency.latenciesUs).p50Us, opsPerSec: throughput.opsPerSec };
  } finally {
    await chain.close();
  }
}

export async function benchChain(requests = 3_000) {
  const pair = await measure(0, requests);
  const group = await measure(2, requests);
  return {
    pair,
    group,
    latencyRatioP50: Math.round((group.p50Us / pair.p50Us) * 1000) / 1000,
    throughputRatio: Math.round((group.opsPerSec / pair.opsPerSec) * 1000) / 1000,
  };
}

const roleIndex = process.argv.indexOf(ROLE_FLAG);
if (roleIndex >= 0) runChild(process.argv[roleIndex + 1] ?? 'server');
