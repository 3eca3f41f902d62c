/**
 * `@steadfast/bench/chain`: what this machine allows a semi-active group without any protocol logic.
 *
 * Hand-written chains of node processes over loopback UDP, each datagram msgpack with an
 * HMAC-SHA256, in one run:
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
 *
 * Two batched groups tell what batching allows (the issue's way to its throughput target), in the
 * same run: the client sends the requests issued in one turn as one datagram, and the primary
 * answers each such datagram with one datagram of replies (which would carry the order):
 * - `batchedGroup`: each replica applies a request as above (a map and a sum);
 * - `batchedGroupWithAccount`: each replica runs the example bank's `account` actor, the xstate
 *   machine `steadfast bench replication` replicates, on every request: the actor's own cost,
 *   paid three times, and nothing of ours but its `fromMachine` wrapper.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { account } from '@steadfast/example-bank';
import { createActorContext, RealClock, realEntropy, Supervisor } from '@steadfast/runtime';
import { actorId, address, nodeId, type Envelope } from '@steadfast/wire';
import { pack, unpack } from 'msgpackr';
import { latencySummary } from './stats.js';

const ROLE_FLAG = '--chain-role';
/** Child flags: answer batches of requests with batches of replies; run the bank's account actor. */
const BATCHED_FLAG = '--batched';
const ACCOUNT_FLAG = '--account';
const hmacKey = Buffer.alloc(32, 7);
const RESEND_AFTER_MS = 200;

interface Request {
  readonly type: 'deposit';
  readonly operationId: string;
  readonly amountCents: number;
}

interface Reply {
  readonly operationId: string;
  readonly balanceCents: number;
  readonly order: { readonly position: number; readonly operationId: string };
}

type Datagram =
  | { readonly kind: 'ports'; readonly client: number; readonly backups: readonly number[] }
  | { readonly kind: 'request'; readonly request: Request }
  | ({ readonly kind: 'reply' } & Reply)
  | { readonly kind: 'requests'; readonly requests: readonly Request[] }
  | { readonly kind: 'replies'; readonly replies: readonly Reply[] };

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

/** Applies a deposit once per operation id and returns the balance after it. */
type Apply = (request: Request) => number;

/** A map and a sum: the least a replica can do per request. */
function plainApply(): Apply {
  const applied = new Map<string, number>();
  let balanceCents = 0;
  return ({ operationId, amountCents }) => {
    let balance = applied.get(operationId);
    if (balance === undefined) {
      balanceCents += amountCents;
      balance = balanceCents;
      applied.set(operationId, balance);
    }
    return balance;
  };
}

/**
 * The example bank's `account` actor (its xstate machine through `fromMachine`), fed each request
 * as a node would feed it: its context is the runtime's own (`createActorContext`), with a live
 * supervisor on the real clock, and the host keeps the reply instead of sending it.
 */
function accountApply(): Apply {
  let replied: unknown;
  let current: Envelope | undefined;
  let sequence = 0;
  const self = address('chain', 'account');
  const ctx = createActorContext({
    self,
    actor: actorId('account'),
    node: nodeId('chain'),
    supervisor: new Supervisor({ clock: new RealClock(), entropy: realEntropy }),
    current: () => current,
    emit: (envelope) => {
      if (envelope.kind === 'async-reply') replied = envelope.body;
      return { origin: nodeId('chain'), incarnation: 1, sequence: ++sequence };
    },
    setTimer: () => {},
    cancelTimer: () => {},
    persist: () => {},
  });
  const instance = account.start(ctx, { owner: 'chain', balanceCents: 0, appliedOperationsMax: 256 });
  return (request) => {
    current = {
      id: { origin: nodeId('client'), incarnation: 1, sequence: ++sequence },
      kind: 'async-request',
      source: address('client', 'client'),
      target: self,
      body: request,
    };
    replied = undefined;
    instance.handle({ type: 'message', envelope: current });
    return (replied as { balanceCents?: number } | undefined)?.balanceCents ?? -1;
  };
}

/**
 * A server, primary or backup process: applies requests once each (by operation id), in arrival
 * order. Batched, the primary answers each datagram of requests with one datagram of replies.
 */
function runChild(role: string, batched: boolean, withAccount: boolean): void {
  const socket = createSocket('udp4');
  const apply = withAccount ? accountApply() : plainApply();
  let position = 0;
  let client: number | undefined;
  let backups: readonly number[] = [];
  const answer = (frame: Buffer) => {
    socket.send(frame, client!, '127.0.0.1');
    for (const backup of backups) socket.send(frame, backup, '127.0.0.1');
  };
  socket.on('message', (frame) => {
    const datagram = open(frame);
    if (datagram === undefined) return;
    if (datagram.kind === 'ports') {
      client = datagram.client;
      backups = datagram.backups;
      return;
    }
    const requests =
      datagram.kind === 'request'
        ? [datagram.request]
        : datagram.kind === 'requests'
          ? datagram.requests
          : [];
    if (requests.length === 0) return;
    const replies: Reply[] = [];
    for (const request of requests) {
      const balanceCents = apply(request);
      position++;
      replies.push({
        operationId: request.operationId,
        balanceCents,
        order: { position, operationId: request.operationId },
      });
    }
    if (role === 'backup' || client === undefined) return;
    if (batched) answer(seal({ kind: 'replies', replies }));
    else answer(seal({ kind: 'reply', ...replies[0]! }));
  });
  socket.bind(0, '127.0.0.1', () => process.send?.({ port: socket.address().port }));
  process.on('disconnect', () => process.exit(0));
}

interface ChainOptions {
  readonly batched: boolean;
  readonly withAccount: boolean;
}

function startChild(
  role: 'server' | 'backup',
  options: ChainOptions,
): Promise<{ child: ChildProcess; port: number }> {
  const flags = [...(options.batched ? [BATCHED_FLAG] : []), ...(options.withAccount ? [ACCOUNT_FLAG] : [])];
  const child = fork(fileURLToPath(import.meta.url), [ROLE_FLAG, role, ...flags], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, port: (message as { port: number }).port }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`chain ${role} exited with code ${code}`)));
  });
}

/** A running chain: its client's socket in this process, its server, primary and backups forked. */
export interface Chain {
  /**
   * Sends a deposit under `operationId` and resolves once its reply came back (resent every 200 ms
   * until then; each replica applies an operation id once).
   */
  operate(operationId: string): Promise<void>;
  /** Runs `requests` deposits (ids `prefix` + index) with `inFlight` outstanding. */
  run(
    prefix: string,
    requests: number,
    inFlight: number,
  ): Promise<{ opsPerSec: number; latenciesUs: number[] }>;
  /** Stops the forked processes and closes the client's socket. */
  close(): Promise<void>;
}

/**
 * The hand-written group of `benchChain` (`group`: a primary and two backups, one datagram per
 * request and per reply, a map and a sum per request), for a caller that drives its own load:
 * `steadfast bench replication` measures it in each round beside its own sides, as the reference
 * the throughput target names ("a hand-written chain … reaches about 11,000").
 */
export function startHandWrittenGroup(): Promise<Chain> {
  return startChain(2, { batched: false, withAccount: false });
}

async function startChain(backupCount: number, options: ChainOptions): Promise<Chain> {
  const server = await startChild('server', options);
  const backups = await Promise.all(Array.from({ length: backupCount }, () => startChild('backup', options)));
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const ports = seal({ kind: 'ports', client: socket.address().port, backups: backups.map((b) => b.port) });
  socket.send(ports, server.port, '127.0.0.1');
  const waiting = new Map<string, () => void>();
  const answered = (operationId: string) => {
    const wake = waiting.get(operationId);
    waiting.delete(operationId);
    wake?.();
  };
  socket.on('message', (frame) => {
    const datagram = open(frame);
    if (datagram?.kind === 'reply') answered(datagram.operationId);
    else if (datagram?.kind === 'replies') for (const reply of datagram.replies) answered(reply.operationId);
  });
  const send = (frame: Buffer) => {
    socket.send(frame, server.port, '127.0.0.1');
    for (const backup of backups) socket.send(frame, backup.port, '127.0.0.1');
  };
  // Batched: the requests issued in one turn leave together, on the next one.
  let batch: Request[] = [];
  const flush = () => {
    const requests = batch;
    batch = [];
    send(seal({ kind: 'requests', requests }));
  };
  const operate = (operationId: string) =>
    new Promise<void>((resolve) => {
      const request: Request = { type: 'deposit', operationId, amountCents: 1 };
      // Batched, the single-request frame serves only a resend: sealed then, not for every request.
      let frame = options.batched ? undefined : seal({ kind: 'request', request });
      const resend = setInterval(() => send((frame ??= seal({ kind: 'request', request }))), RESEND_AFTER_MS);
      waiting.set(operationId, () => {
        clearInterval(resend);
        resolve();
      });
      if (frame !== undefined) send(frame);
      else if (batch.push(request) === 1) setImmediate(flush);
    });
  return {
    operate,
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

async function measure(backupCount: number, requests: number, options: ChainOptions) {
  const chain = await startChain(backupCount, options);
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

/**
 * `pnpm bench chain`: measures `pair`, `group` and the two batched groups in turn, each on processes
 * of its own, warmed up with 3,000 requests at 64 in flight and 500 one at a time, then `requests` at
 * concurrency 1 (p50) and `requests` with 64 in flight (ops/s).
 */
export async function benchChain(requests = 3_000) {
  const unbatched = { batched: false, withAccount: false };
  const pair = await measure(0, requests, unbatched);
  const group = await measure(2, requests, unbatched);
  const batchedGroup = await measure(2, requests, { batched: true, withAccount: false });
  const batchedGroupWithAccount = await measure(2, requests, { batched: true, withAccount: true });
  return {
    pair,
    group,
    latencyRatioP50: Math.round((group.p50Us / pair.p50Us) * 1000) / 1000,
    throughputRatio: Math.round((group.opsPerSec / pair.opsPerSec) * 1000) / 1000,
    batchedGroup,
    batchedGroupWithAccount,
  };
}

const roleIndex = process.argv.indexOf(ROLE_FLAG);
if (roleIndex >= 0)
  runChild(
    process.argv[roleIndex + 1] ?? 'server',
    process.argv.includes(BATCHED_FLAG),
    process.argv.includes(ACCOUNT_FLAG),
  );
