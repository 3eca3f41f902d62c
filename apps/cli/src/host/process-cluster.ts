/**
 * Starts a cluster of `steadfast node` processes on loopback UDP and controls them over IPC:
 * the demo, the benchmarks and the end-to-end tests share it. Every child is killed when the
 * cluster stops or the parent exits, so no test leaves processes or ports behind.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ActorSpec, ChildMessage, NodeProcessConfig, ParentMessage } from './protocol.js';

const mainScript = fileURLToPath(new URL('../main.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');

export interface ProcessClusterOptions {
  readonly nodeIds: readonly string[];
  readonly actorsFor: (nodeId: string, index: number) => readonly ActorSpec[];
  readonly keyHex?: string;
  readonly host?: string;
  readonly traceFileFor?: (nodeId: string) => string | undefined;
  /** Parent directory of the nodes' data directories (`<dataDir>/<node id>`). */
  readonly dataDir?: string;
  /** Time allowed for a child to start, bind and spawn its actors. */
  readonly startTimeoutMs?: number;
}

export interface ProcessCluster {
  readonly keyHex: string;
  /** Node id → `host:port`. */
  readonly peers: Readonly<Record<string, string>>;
  readonly pids: Readonly<Record<string, number>>;
  /** SIGKILLs a node's process: a crash, with no goodbye. */
  kill(nodeId: string): void;
  /** Asks every live node to stop cleanly (traces closed), then kills any that do not. */
  stop(): Promise<Record<string, unknown>>;
}

interface Child {
  readonly id: string;
  readonly process: ChildProcess;
  alive: boolean;
}

function waitFor(child: Child, type: ChildMessage['type'], timeoutMs: number): Promise<ChildMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`node ${child.id} did not answer '${type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: ChildMessage) => {
      if (message.type === 'error') {
        cleanup();
        reject(new Error(`node ${child.id}: ${message.message}`));
      } else if (message.type === type) {
        cleanup();
        resolve(message);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(
        new Error(`node ${child.id} exited (code ${code}, signal ${signal}) while waiting for '${type}'`),
      );
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.process.off('message', onMessage);
      child.process.off('exit', onExit);
    };
    child.process.on('message', onMessage);
    child.process.on('exit', onExit);
  });
}

export async function startProcessCluster(options: ProcessClusterOptions): Promise<ProcessCluster> {
  const keyHex = options.keyHex ?? randomBytes(32).toString('hex');
  const host = options.host ?? '127.0.0.1';
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const children: Child[] = options.nodeIds.map((id) => {
    const child = fork(mainScript, ['node'], {
      execArgv: ['--import', tsxLoader],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    const entry: Child = { id, process: child, alive: true };
    child.on('exit', () => {
      entry.alive = false;
    });
    return entry;
  });
  const killAll = () => {
    for (const child of children) if (child.alive) child.process.kill('SIGKILL');
  };
  process.once('exit', killAll);
  try {
    const peers: Record<string, string> = {};
    await Promise.all(
      children.map(async (child, index) => {
        const traceFile = options.traceFileFor?.(child.id);
        const config: NodeProcessConfig = {
          id: child.id,
          incarnation: 1,
          host,
          port: 0,
          keyHex,
          actors: options.actorsFor(child.id, index),
          ...(traceFile === undefined ? {} : { traceFile }),
          ...(options.dataDir === undefined ? {} : { dataDir: join(options.dataDir, child.id) }),
        };
        const bound = waitFor(child, 'bound', startTimeoutMs);
        child.process.send({ type: 'configure', config } satisfies ParentMessage);
        const message = await bound;
        if (message.type === 'bound') peers[child.id] = message.endpoint;
      }),
    );
    await Promise.all(
      children.map(async (child) => {
        const ready = waitFor(child, 'ready', startTimeoutMs);
        child.process.send({ type: 'peers', peers } satisfies ParentMessage);
        await ready;
      }),
    );
    return {
      keyHex,
      peers,
      pids: Object.fromEntries(children.map((child) => [child.id, child.process.pid ?? -1])),
      kill(nodeId) {
        const child = children.find((candidate) => candidate.id === nodeId);
        if (child?.alive === true) child.process.kill('SIGKILL');
      },
      async stop() {
        const counters: Record<string, unknown> = {};
        await Promise.all(
          children.map(async (child) => {
            if (!child.alive) return;
            try {
              const stopped = waitFor(child, 'stopped', 5_000);
              child.process.send({ type: 'stop' } satisfies ParentMessage);
              const message = await stopped;
              if (message.type === 'stopped') counters[child.id] = message.counters;
            } catch {
              // A child that cannot stop cleanly is killed below; its counters are lost, nothing else.
            }
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
        killAll();
        process.off('exit', killAll);
        return counters;
      },
    };
  } catch (error) {
    killAll();
    process.off('exit', killAll);
    throw error;
  }
}
