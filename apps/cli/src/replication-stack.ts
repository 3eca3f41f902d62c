/**
 * The replicated accounts stack of `bench replication` in one process: the client group of one
 * and the 3 replicas of the accounts group as four runtime nodes on an in-memory network, with the
 * real codec (frames packed, signed and checked), the real replica and group layers and the real
 * account actor, and views given by hand (no membership). `bench replication-stack` measures it.
 *
 * Why: on the 2-core benchmark machines four node processes contend for the cores, and the same
 * code measured twice over UDP differs by 10-30 % from one minute to the next. One process on one
 * core has no scheduling in its figures, so the CPU time and the bytes allocated per request tell
 * two versions of the code apart (an A/B), where the UDP benchmark tells what a deployment gets.
 */
import { account } from '@steadfast/example-bank';
import {
  group,
  REPLICA_ACTOR_NAME,
  replicaExternalCommand,
  replicaViewCommand,
  type ReplicationSettings,
  type ReplicationStyle,
} from '@steadfast/replication';
import { MemoryNetwork, Node, RealClock, type Transport } from '@steadfast/runtime';
import { address, createCodec, nodeId } from '@steadfast/wire';
import { randomBytes } from 'node:crypto';
import {
  ACCOUNTS_GROUP,
  accountClient,
  BENCH_APPLIED_OPERATIONS_MAX,
  CLIENTS_GROUP,
  collectedResults,
  hostClientGroup,
  type ClientCommand,
} from './replication-app.js';

export interface ReplicationStack {
  /** Hands a command to the client group; resolves when its result reached the collector. */
  request(command: ClientCommand & { readonly operationId: string }): Promise<void>;
  /**
   * Bytes of the frames sent to each node so far, by role (`client`, `primary`, `backup1`,
   * `backup2`): what each receives, decodes and checks (the in-memory network loses nothing).
   */
  bytesSentTo(): Readonly<Record<StackRole, number>>;
  /** Results the collector holds, by operation id, with how many times each arrived. */
  resultCounts(): ReadonlyMap<string, number>;
  close(): Promise<void>;
}

const CLIENT = 'client';
const MEMBERS = ['n1', 'n2', 'n3'] as const;

/** The four nodes by what they do: views are given by hand, with `n1` the primary. */
export type StackRole = 'client' | 'primary' | 'backup1' | 'backup2';
const ROLES: Readonly<Record<string, StackRole>> = {
  [CLIENT]: 'client',
  n1: 'primary',
  n2: 'backup1',
  n3: 'backup2',
};

/** `transport`, adding the bytes of every frame it sends to `sentTo[target]`. */
function countingSends(transport: Transport, sentTo: Record<string, number>): Transport {
  return {
    endpoint: transport.endpoint,
    maxDatagramBytes: transport.maxDatagramBytes,
    send(target, frame) {
      sentTo[target] = (sentTo[target] ?? 0) + frame.length;
      transport.send(target, frame);
    },
    onReceive: (handler) => transport.onReceive(handler),
    counters: () => transport.counters(),
    close: () => transport.close(),
  };
}

/**
 * Starts the stack. `settings` apply to both groups (an A/B of a setting: `digestIntervalMs`,
 * `historyMax`, …); the command runs it with the defaults. `style` is the accounts group's (the
 * client group of one is semi-active, as in `bench replication`).
 */
export function startReplicationStack(
  settings: Partial<ReplicationSettings> = {},
  style: ReplicationStyle = 'semi-active',
): ReplicationStack {
  const network = new MemoryNetwork();
  const sentTo: Record<string, number> = {};
  const codec = createCodec({ keys: new Map([[1, new Uint8Array(randomBytes(32))]]), activeKeyId: 1 });
  const clock = new RealClock();
  const ids = [CLIENT, ...MEMBERS];
  const peers = Object.fromEntries(ids.map((id) => [id, id]));
  const nodes = ids.map(
    (id) =>
      new Node({
        id,
        incarnation: 1,
        clock,
        transport: countingSends(network.attach(id), sentTo),
        codec,
        peers,
      }),
  );
  const accounts = group(account, { replicas: MEMBERS.length, style, settings });
  const clients = group(accountClient, { replicas: 1, style: 'semi-active', settings });

  for (const node of nodes.slice(1)) {
    node.spawn(REPLICA_ACTOR_NAME, accounts.replicaBehavior, {
      group: ACCOUNTS_GROUP,
      incarnation: 1,
      joining: false,
      peers: [{ group: CLIENTS_GROUP, contacts: [CLIENT] }],
      input: { owner: 'stack', balanceCents: 0, appliedOperationsMax: BENCH_APPLIED_OPERATIONS_MAX },
    });
    node.tell(
      address(node.id, REPLICA_ACTOR_NAME),
      replicaViewCommand({
        group: ACCOUNTS_GROUP,
        epoch: 1,
        members: MEMBERS.map((member) => nodeId(member)),
        primary: nodeId(MEMBERS[0]),
      }),
    );
  }

  const client = nodes[0]!;
  const waiting = new Map<string, () => void>();
  const clientReplica = hostClientGroup(
    client,
    MEMBERS,
    (operationId) => {
      const wake = waiting.get(operationId);
      waiting.delete(operationId);
      if (wake !== undefined) queueMicrotask(wake);
    },
    clients.replicaBehavior,
  );

  return {
    request(command) {
      return new Promise((resolve) => {
        waiting.set(command.operationId, resolve);
        client.tell(clientReplica, replicaExternalCommand(command));
      });
    },
    bytesSentTo: () =>
      Object.fromEntries(ids.map((id) => [ROLES[id]!, sentTo[id] ?? 0])) as Record<StackRole, number>,
    resultCounts: () =>
      new Map(
        Object.entries(collectedResults(client)).map(([operationId, result]) => [operationId, result.count]),
      ),
    async close() {
      for (const node of nodes) await node.close();
      clock.clearAll();
    },
  };
}
