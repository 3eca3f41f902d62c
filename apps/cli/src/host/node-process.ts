/**
 * `steadfast node`: one process hosting one Steadfast node on UDP. Started by a parent over IPC
 * (the demo, benchmarks and end-to-end tests do this), it binds a UDP port, learns its peers,
 * spawns its actors from the app registry and serves until told to stop or killed.
 */
import { appRegistries } from './apps.js';
import { DelayingTransport, UdpTransport } from '@steadfast/net';
import {
  coalescingActorStore,
  Node,
  RealClock,
  TraceFileWriter,
  type ActorRegistry,
  type ActorStateStore,
} from '@steadfast/runtime';
import { openLmdbStore, type Store } from '@steadfast/store';
import { createCodec } from '@steadfast/wire';
import type { ChildMessage, NodeProcessConfig, ParentMessage } from './protocol.js';

export function codecFromHex(keyHex: string) {
  if (!/^([0-9a-fA-F]{2}){16,64}$/.test(keyHex)) {
    throw new Error('the cluster key must be 16 to 64 bytes of hex');
  }
  return createCodec({ keys: new Map([[1, Uint8Array.from(Buffer.from(keyHex, 'hex'))]]), activeKeyId: 1 });
}

/**
 * The incarnation of this start: one more than the last start recorded in the node's store (and
 * at least `floor`), saved durably before the node sends anything, so message ids
 * (origin, incarnation, sequence) never repeat across restarts.
 */
export async function nextIncarnation(store: Store, floor: number): Promise<number> {
  const meta = store.table('node');
  const last = await meta.get('incarnation');
  const next = Math.max(floor, typeof last === 'number' ? last + 1 : 1);
  await meta.put('incarnation', next);
  return next;
}

function tell(message: ChildMessage): void {
  // The parent may be gone already (it killed us, or it exited): nothing to tell then.
  if (process.connected) process.send?.(message);
}

export async function runNodeProcess(
  registries: Readonly<Record<string, ActorRegistry>> = appRegistries,
): Promise<number> {
  if (process.send === undefined) {
    process.stderr.write(
      'steadfast node: must be started by a parent process with an IPC channel (see docs/cli.md)\n',
    );
    return 2;
  }
  let node: Node | undefined;
  let trace: TraceFileWriter | undefined;
  let clock: RealClock | undefined;
  let config: NodeProcessConfig | undefined;
  let store: Store | undefined;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (code: number) => {
      if (stopping) return;
      stopping = true;
      await node?.flushed();
      await node?.close();
      clock?.clearAll();
      await store?.close();
      trace?.close();
      tell({ type: 'stopped', counters: node?.counters() });
      process.off('message', onMessage);
      if (process.connected) process.disconnect?.();
      resolve(code);
    };
    const onMessage = (raw: unknown) => {
      const message = raw as ParentMessage;
      void (async () => {
        try {
          switch (message.type) {
            case 'configure': {
              config = message.config;
              const socket = await UdpTransport.bind({ host: config.host, port: config.port });
              const transport =
                config.delay === undefined
                  ? socket
                  : new DelayingTransport(socket, {
                      minDelayMs: config.delay.minMs,
                      maxDelayMs: config.delay.maxMs,
                    });
              clock = new RealClock();
              let actorStore: ActorStateStore | undefined;
              let incarnation = config.incarnation;
              if (config.dataDir !== undefined) {
                store = await openLmdbStore({ path: config.dataDir });
                incarnation = await nextIncarnation(store, config.incarnation);
                const table = store.table('actors');
                // Saves of one actor queued behind a running write are folded into the newest one.
                actorStore = coalescingActorStore((actor, state) => table.put(actor, state));
              }
              if (config.traceFile !== undefined) {
                trace = new TraceFileWriter(config.traceFile, {
                  node: config.id,
                  incarnation,
                  app: config.app ?? 'bank',
                });
              }
              node = new Node({
                id: config.id,
                incarnation,
                clock,
                transport,
                codec: codecFromHex(config.keyHex),
                ...(trace === undefined ? {} : { trace }),
                ...(actorStore === undefined ? {} : { actorStore }),
              });
              tell({ type: 'bound', endpoint: transport.endpoint });
              return;
            }
            case 'peers': {
              if (node === undefined || config === undefined) throw new Error('peers before configure');
              for (const [peer, endpoint] of Object.entries(message.peers)) {
                if (peer !== node.id) node.setPeer(peer, endpoint);
              }
              const actors = store?.table('actors');
              const registry = registries[config.app ?? 'bank'];
              if (registry === undefined) throw new Error(`unknown app '${config.app}'`);
              for (const actor of config.actors) {
                const behavior = registry.get(actor.kind);
                if (behavior === undefined) throw new Error(`unknown actor kind ${actor.kind}`);
                // A restarted node resumes each actor from the state it last persisted.
                const restored = await actors?.get(actor.name);
                const input =
                  actor.hostInput === true
                    ? {
                        ...(actor.input as object),
                        incarnation: node.incarnation,
                        joining: node.incarnation > 1,
                      }
                    : actor.input;
                node.spawn(actor.name, behavior, input, restored);
              }
              tell({ type: 'ready' });
              return;
            }
            case 'inspect':
              tell({
                type: 'inspected',
                requestId: message.requestId,
                state: node?.actorState(message.actor),
              });
              return;
            case 'counters':
              tell({
                type: 'node-counters',
                requestId: message.requestId,
                counters: node?.counters(),
                cpuUs: processCpuUs(),
              });
              return;
            case 'stop':
              await stop(0);
              return;
          }
        } catch (error) {
          tell({ type: 'error', message: (error as Error).message });
          await stop(1);
        }
      })();
    };
    process.on('message', onMessage);
    // A parent that dies takes its children with it: no orphaned nodes left bound to ports.
    process.on('disconnect', () => void stop(0));
  });
}

/** CPU time this process has used so far (user and system), in microseconds. */
function processCpuUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}
