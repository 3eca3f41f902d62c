/**
 * Starts a cluster of `steadfast node` processes on loopback UDP and controls them over IPC:
 * the demos, the benchmarks and the end-to-end tests share it. A node can be killed (SIGKILL: a
 * crash, no goodbye) and restarted on the same address with the same data directory, so it
 * resumes its persisted actors under a new incarnation. Every child is killed when the cluster
 * stops or the parent exits, so no run leaves processes or ports behind.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DelayingTransport, UdpTransport } from '@steadfast/net';
import { Node, RealClock } from '@steadfast/runtime';
import { codecFromHex } from './node-process.js';
import type { ActorSpec, ChildMessage, DatagramDelay, NodeProcessConfig, ParentMessage } from './protocol.js';

const mainScript = fileURLToPath(new URL('../main.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
/**
 * Extra node flags for every node process, for diagnosis: for example
 * `STEADFAST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` (Node refuses --cpu-prof in NODE_OPTIONS).
 */
const extraNodeArgs = (process.env['STEADFAST_NODE_ARGS'] ?? '').split(/\s+/).filter((arg) => arg.length > 0);

export interface ProcessClusterOptions {
  readonly nodeIds: readonly string[];
  readonly actorsFor: (nodeId: string, index: number) => readonly ActorSpec[];
  /** Which actor registry the nodes spawn from (see host/apps.ts). Default `bank`. */
  readonly app?: string;
  readonly keyHex?: string;
  readonly host?: string;
  readonly traceFileFor?: (nodeId: string) => string | undefined;
  /** Parent directory of the nodes' data directories (`<dataDir>/<node id>`). */
  readonly dataDir?: string;
  /** Time allowed for a child to start, bind and spawn its actors. */
  readonly startTimeoutMs?: number;
  /** Every node holds each datagram it sends for a random delay in this range (default none). */
  readonly delay?: DatagramDelay;
}

export interface ProcessCluster {
  readonly keyHex: string;
  /** Node id → `host:port`; a restarted node keeps its address. */
  readonly peers: Readonly<Record<string, string>>;
  pid(nodeId: string): number | undefined;
  isAlive(nodeId: string): boolean;
  /** SIGKILLs a node's process: a crash, with no goodbye. */
  kill(nodeId: string): void;
  /** Starts a killed node again on its old address and data directory; resolves when it is ready. */
  restart(nodeId: string): Promise<void>;
  /** The state of an actor on a live node, read over IPC (for checks at the end of a run). */
  inspect(nodeId: string, actor: string): Promise<unknown>;
  /** A live node's counters (sent, received, drops, transport), read over IPC. */
  nodeCounters(nodeId: string): Promise<unknown>;
  /** CPU time a live node's process has used so far (user and system), in µs, read over IPC. */
  nodeCpuUs(nodeId: string): Promise<number | undefined>;
  /** Asks every live node to stop cleanly (traces closed), then kills any that do not. */
  stop(): Promise<Record<string, unknown>>;
}

interface NodeSlot {
  readonly id: string;
  readonly index: number;
  process: ChildProcess | undefined;
  alive: boolean;
  endpoint: string | undefined;
}

function waitFor(
  slot: NodeSlot,
  accept: (message: ChildMessage) => boolean,
  what: string,
  timeoutMs: number,
): Promise<ChildMessage> {
  const child = slot.process;
  if (child === undefined) return Promise.reject(new Error(`node ${slot.id} is not running`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`node ${slot.id} did not answer '${what}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: ChildMessage) => {
      if (message.type === 'error') {
        cleanup();
        reject(new Error(`node ${slot.id}: ${message.message}`));
      } else if (accept(message)) {
        cleanup();
        resolve(message);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(
        new Error(`node ${slot.id} exited (code ${code}, signal ${signal}) while waiting for '${what}'`),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

function send(slot: NodeSlot, message: ParentMessage): void {
  if (slot.process?.connected === true) slot.process.send(message);
}

export async function startProcessCluster(options: ProcessClusterOptions): Promise<ProcessCluster> {
  const keyHex = options.keyHex ?? randomBytes(32).toString('hex');
  const host = options.host ?? '127.0.0.1';
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const slots: NodeSlot[] = options.nodeIds.map((id, index) => ({
    id,
    index,
    process: undefined,
    alive: false,
    endpoint: undefined,
  }));
  const peers: Record<string, string> = {};
  let inspections = 0;

  const spawnChild = (slot: NodeSlot) => {
    const child = fork(mainScript, ['node'], {
      execArgv: [...extraNodeArgs, '--import', tsxLoader],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    slot.process = child;
    slot.alive = true;
    child.on('exit', () => {
      if (slot.process === child) slot.alive = false;
    });
  };

  const configure = async (slot: NodeSlot) => {
    const traceFile = options.traceFileFor?.(slot.id);
    const port =
      slot.endpoint === undefined ? 0 : Number(slot.endpoint.slice(slot.endpoint.lastIndexOf(':') + 1));
    const config: NodeProcessConfig = {
      id: slot.id,
      incarnation: 1,
      host,
      port,
      keyHex,
      app: options.app ?? 'bank',
      actors: options.actorsFor(slot.id, slot.index),
      ...(traceFile === undefined ? {} : { traceFile }),
      ...(options.dataDir === undefined ? {} : { dataDir: join(options.dataDir, slot.id) }),
      ...(options.delay === undefined ? {} : { delay: options.delay }),
    };
    const bound = waitFor(slot, (message) => message.type === 'bound', 'bound', startTimeoutMs);
    send(slot, { type: 'configure', config });
    const message = await bound;
    if (message.type === 'bound') {
      slot.endpoint = message.endpoint;
      peers[slot.id] = message.endpoint;
    }
  };

  const start = async (slot: NodeSlot) => {
    const ready = waitFor(slot, (message) => message.type === 'ready', 'ready', startTimeoutMs);
    send(slot, { type: 'peers', peers });
    await ready;
  };

  const killAll = () => {
    for (const slot of slots) if (slot.alive) slot.process?.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const find = (nodeId: string): NodeSlot => {
    const slot = slots.find((candidate) => candidate.id === nodeId);
    if (slot === undefined) throw new Error(`no node ${nodeId} in this cluster`);
    return slot;
  };
  /** Sends a numbered request to a live node and waits (5 s at most) for its answer of type `answer`. */
  const ask = async <Type extends ChildMessage['type']>(
    nodeId: string,
    request: (requestId: number) => ParentMessage,
    answer: Type,
  ): Promise<Extract<ChildMessage, { type: Type }> | undefined> => {
    const slot = find(nodeId);
    const requestId = ++inspections;
    const answered = waitFor(
      slot,
      (message) => message.type === answer && 'requestId' in message && message.requestId === requestId,
      answer,
      5_000,
    );
    send(slot, request(requestId));
    const message = await answered;
    return message.type === answer ? (message as Extract<ChildMessage, { type: Type }>) : undefined;
  };
  const countersOf = (nodeId: string) =>
    ask(nodeId, (requestId) => ({ type: 'counters', requestId }), 'node-counters');

  try {
    for (const slot of slots) spawnChild(slot);
    await Promise.all(slots.map(configure));
    await Promise.all(slots.map(start));
  } catch (error) {
    killAll();
    process.off('exit', killAll);
    throw error;
  }

  return {
    keyHex,
    peers,
    pid: (nodeId) => find(nodeId).process?.pid,
    isAlive: (nodeId) => find(nodeId).alive,
    kill(nodeId) {
      const slot = find(nodeId);
      if (slot.alive) slot.process?.kill('SIGKILL');
    },
    async restart(nodeId) {
      const slot = find(nodeId);
      // Killed but not reaped yet (SIGKILL is asynchronous): wait for the exit, not an error.
      const child = slot.process;
      if (slot.alive && child?.killed === true && child.exitCode === null && child.signalCode === null)
        await new Promise((resolve) => child.once('exit', resolve));
      if (slot.alive) throw new Error(`node ${nodeId} is running; kill it first`);
      spawnChild(slot);
      await configure(slot);
      await start(slot);
    },
    async inspect(nodeId, actor) {
      return (await ask(nodeId, (requestId) => ({ type: 'inspect', requestId, actor }), 'inspected'))?.state;
    },
    async nodeCounters(nodeId) {
      return (await countersOf(nodeId))?.counters;
    },
    async nodeCpuUs(nodeId) {
      return (await countersOf(nodeId))?.cpuUs;
    },
    async stop() {
      const counters: Record<string, unknown> = {};
      await Promise.all(
        slots.map(async (slot) => {
          if (!slot.alive) return;
          try {
            const stopped = waitFor(slot, (message) => message.type === 'stopped', 'stopped', 5_000);
            send(slot, { type: 'stop' });
            const message = await stopped;
            if (message.type === 'stopped') counters[slot.id] = message.counters;
          } catch {
            // A child that cannot stop cleanly is killed below; its counters are lost, nothing else.
          }
        }),
      );
      // A stopped child exits on its own; give it a moment (longer when diagnosis flags such as
      // --cpu-prof make it write a profile on exit) before the stragglers are killed.
      const exitGraceMs = extraNodeArgs.length > 0 ? 10_000 : 500;
      await Promise.all(
        slots.map((slot) => {
          const child = slot.process;
          if (!slot.alive || child === undefined || child.exitCode !== null || child.signalCode !== null)
            return undefined;
          return new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, exitGraceMs);
            child.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          });
        }),
      );
      killAll();
      process.off('exit', killAll);
      return counters;
    },
  };
}

/** What the senders' delays did (`DelayingTransport`), summed over some nodes' counters. */
export interface DelayCounts {
  /** The longest delay of a datagram, ms (each is uniform from 0 to it); 0 when off. */
  readonly maxMs: number;
  readonly delayed: number;
  /** Datagrams that left after one sent later to the same endpoint. */
  readonly reordered: number;
}

/**
 * Sums the transport's `delayed` and `reordered` over nodes' counters (`Node.counters()`, or what
 * a node process reports); a node without a delaying transport, or without counters, adds 0.
 */
export function sumDelays(maxMs: number, nodeCounters: readonly unknown[]): DelayCounts {
  let delayed = 0;
  let reordered = 0;
  for (const counters of nodeCounters) {
    const transport = (counters as { transport?: { delayed?: number; reordered?: number } } | undefined)
      ?.transport;
    delayed += transport?.delayed ?? 0;
    reordered += transport?.reordered ?? 0;
  }
  return { maxMs, delayed, reordered };
}

export interface ClientNode {
  readonly node: Node;
  /** Its UDP socket's `host:port`. */
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * A node in this process that talks to the cluster over UDP (the demos', benchmarks' and tests'
 * client): the cluster's key and peers, a fresh incarnation, a receive buffer sized for bursts.
 * With `delay`, it holds each datagram it sends for a random delay in that range.
 */
export async function startClientNode(
  cluster: ProcessCluster,
  id = 'client',
  delay?: DatagramDelay,
): Promise<ClientNode> {
  const clock = new RealClock();
  const socket = await UdpTransport.bind({ receiveBufferBytes: 8 * 1024 * 1024 });
  const transport =
    delay === undefined
      ? socket
      : new DelayingTransport(socket, { minDelayMs: delay.minMs, maxDelayMs: delay.maxMs });
  const node = new Node({
    id,
    incarnation: Date.now(),
    clock,
    transport,
    codec: codecFromHex(cluster.keyHex),
    peers: cluster.peers,
  });
  return {
    node,
    endpoint: transport.endpoint,
    async close() {
      await node.close();
      clock.clearAll();
    },
  };
}

/** An actor's state on a node, or undefined when the node is down or does not answer. */
export async function inspectLive(cluster: ProcessCluster, nodeId: string, actor: string): Promise<unknown> {
  if (!cluster.isAlive(nodeId)) return undefined;
  try {
    return await cluster.inspect(nodeId, actor);
  } catch {
    return undefined;
  }
}
