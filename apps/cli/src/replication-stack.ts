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
} from '@steadfast/replication';
import { MemoryNetwork, Node, RealClock } from '@steadfast/runtime';
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
  /** Results the collector holds, by operation id, with how many times each arrived. */
  resultCounts(): ReadonlyMap<string, number>;
  close(): Promise<void>;
}

const CLIENT = 'client';
const MEMBERS = ['n1', 'n2', 'n3'] as const;

/**
 * Starts the stack. `settings` apply to both groups (an A/B of a setting: `digestIntervalMs`,
 * `historyMax`, …); the command runs it with the defaults.
 */
export function startReplicationStack(settings: Partial<ReplicationSettings> = {}): ReplicationStack {
  const network = new MemoryNetwork();
  const codec = createCodec({ keys: new Map([[1, new Uint8Array(randomBytes(32))]]), activeKeyId: 1 });
  const clock = new RealClock();
  const ids = [CLIENT, ...MEMBERS];
  const peers = Object.fromEntries(ids.map((id) => [id, id]));
  const nodes = ids.map(
    (id) => new Node({ id, incarnation: 1, clock, transport: network.attach(id), codec, peers }),
  );
  const accounts = group(account, { replicas: MEMBERS.length, style: 'semi-active', settings });
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
