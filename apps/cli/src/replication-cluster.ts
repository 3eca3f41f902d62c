/**
 * A replicated accounts group on 3 node processes over loopback UDP, and a client group with a
 * collector in this process: the harness of `demo replication`, `bench replication` and the
 * end-to-end replication tests; and the chain (a replicated front calling the accounts group).
 */
import { memberActorName, type MemberState } from '@steadfast/group';
import {
  replicaExternalCommand,
  type ReplicationSettings,
  type ReplicationStyle,
} from '@steadfast/replication';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActorBehavior, Node } from '@steadfast/runtime';
import { majorityPrimary } from './group-cluster.js';
import {
  inspectLive,
  startClientNode,
  startProcessCluster,
  type ProcessCluster,
} from './host/process-cluster.js';
import type { ActorSpec, DatagramDelay } from './host/protocol.js';
import {
  ACCOUNTS_GROUP,
  accountReplicaSpecs,
  chainReplicaSpecs,
  clientGroup,
  collectedResults,
  FRONT_GROUP,
  frontClientGroup,
  hostClientGroup,
  type ClientCommand,
  type CollectedResult,
  type LedgerService,
} from './replication-app.js';

export const CLIENT_NODE = 'client';

export interface ReplicationCluster {
  readonly cluster: ProcessCluster;
  readonly client: Node;
  /** The client node's UDP endpoint (`host:port`). */
  readonly clientEndpoint: string;
  readonly members: readonly string[];
  /** Hands a command to the client group (which sends it to the accounts group). */
  issue(command: ClientCommand): void;
  /** Resolves when the result of `operationId` reaches the collector. */
  result(operationId: string): Promise<CollectedResult>;
  results(): Readonly<Record<string, CollectedResult>>;
  /** The accounts group's primary as a majority of live members sees it. */
  primary(): Promise<{ node: string; epoch: number } | undefined>;
  close(): Promise<void>;
}

/**
 * `replicas` (default 3) node processes host the accounts group. The benchmark also runs a group
 * of one, whose replica has no backups: it tells the cost of the group and replica layers apart
 * from the cost of the backups. With `delay`, every node and the client hold each datagram they
 * send for a random delay in that range (`chaos replication --delay-ms`).
 */
export async function startReplicationCluster(
  style: ReplicationStyle,
  replicas = 3,
  options: {
    readonly delay?: DatagramDelay;
    /** Over the accounts group's settings (`bench replication --output-commit`). */
    readonly replicationSettings?: Partial<ReplicationSettings>;
  } = {},
): Promise<ReplicationCluster> {
  const members = Array.from({ length: replicas }, (_, index) => `n${index + 1}`);
  return startClientsAnd({
    nodeIds: members,
    actorsFor: () => accountReplicaSpecs(members, style, CLIENT_NODE, undefined, options.replicationSettings),
    target: { group: ACCOUNTS_GROUP, members },
    clientBehavior: clientGroup.replicaBehavior,
    ...(options.delay === undefined ? {} : { delay: options.delay }),
  });
}

/** The chain: the client group → a front group on `fronts` → the accounts group on `ledgers`. */
export interface ChainCluster extends ReplicationCluster {
  /** The front group's nodes (`members` too: the group the client sends to). */
  readonly fronts: readonly string[];
  /** The accounts group's nodes. */
  readonly ledgers: readonly string[];
  /** The accounts group's primary as a majority of its live members sees it. */
  ledgerPrimary(): Promise<{ node: string; epoch: number } | undefined>;
}

/**
 * Six node processes: a front group of 3 (`f1` – `f3`) that calls an accounts group of 3 (`l1` –
 * `l3`) synchronously for every request of the client group of one in this process (claims 48,
 * 66, 67 over real UDP). Each group has its own membership; `primary()` is the front's. With
 * `delay`, every node and the client hold each datagram they send for a random delay in that range.
 * `ledgerService` `workload-ledger` runs the simulations' ledger in the accounts group instead of
 * the bank's account: it takes `add` commands, and turns down those marked `fail`. `frontSettings`
 * go over the front replicas' settings (`syncReplyTimeoutMs`, say).
 */
export async function startChainCluster(
  style: ReplicationStyle,
  options: {
    readonly delay?: DatagramDelay;
    readonly ledgerService?: LedgerService;
    readonly frontSettings?: Partial<ReplicationSettings>;
  } = {},
): Promise<ChainCluster> {
  const fronts = ['f1', 'f2', 'f3'];
  const ledgers = ['l1', 'l2', 'l3'];
  const replicated = await startClientsAnd({
    nodeIds: [...fronts, ...ledgers],
    actorsFor: (node) =>
      chainReplicaSpecs(
        node,
        fronts,
        ledgers,
        style,
        CLIENT_NODE,
        options.ledgerService,
        options.frontSettings,
      ),
    target: { group: FRONT_GROUP, members: fronts },
    clientBehavior: frontClientGroup.replicaBehavior,
    ...(options.delay === undefined ? {} : { delay: options.delay }),
  });
  const memberState = async (nodeId: string) =>
    (await inspectLive(replicated.cluster, nodeId, memberActorName(ACCOUNTS_GROUP))) as
      MemberState | undefined;
  return {
    ...replicated,
    fronts,
    ledgers,
    ledgerPrimary: () => majorityPrimary(ledgers, memberState),
  };
}

/**
 * Node processes for `nodeIds` hosting what `actorsFor` names, and the client side in this process:
 * a client group of one (`clientBehavior`) sending to the group `target`, and the collector.
 */
async function startClientsAnd(options: {
  readonly nodeIds: readonly string[];
  readonly actorsFor: (nodeId: string) => ActorSpec[];
  readonly target: { readonly group: string; readonly members: readonly string[] };
  readonly clientBehavior: ActorBehavior;
  readonly delay?: DatagramDelay;
}): Promise<ReplicationCluster> {
  const { target } = options;
  // Membership persists its log and views (replicas keep their state in each other, not on disk).
  const dataDir = mkdtempSync(join(tmpdir(), 'steadfast-replication-'));
  const cluster = await startProcessCluster({
    nodeIds: options.nodeIds,
    app: 'replication',
    dataDir,
    actorsFor: options.actorsFor,
    ...(options.delay === undefined ? {} : { delay: options.delay }),
  });
  const clientNode = await startClientNode(cluster, CLIENT_NODE, options.delay);
  const client = clientNode.node;

  const waiting = new Map<string, Array<() => void>>();
  const clientReplica = hostClientGroup(
    client,
    target.members,
    (operationId) => {
      for (const wake of waiting.get(operationId) ?? []) queueMicrotask(wake);
      waiting.delete(operationId);
    },
    options.clientBehavior,
    target.group,
  );
  const memberState = async (nodeId: string) =>
    (await inspectLive(cluster, nodeId, memberActorName(target.group))) as MemberState | undefined;
  return {
    cluster,
    client,
    clientEndpoint: clientNode.endpoint,
    members: target.members,
    issue: (command) => void client.tell(clientReplica, replicaExternalCommand(command)),
    results: () => collectedResults(client),
    result(operationId) {
      const results = () => collectedResults(client);
      const known = results()[operationId];
      if (known !== undefined) return Promise.resolve(known);
      return new Promise((resolve) => {
        const list = waiting.get(operationId) ?? [];
        list.push(() => resolve(results()[operationId]!));
        waiting.set(operationId, list);
      });
    },
    primary: () => majorityPrimary(target.members, memberState),
    async close() {
      await clientNode.close();
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export { waitFor } from './cli-kit.js';
