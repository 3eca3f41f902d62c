/**
 * Replica groups on real node processes: what `demo replication`, `bench replication` and the
 * end-to-end test run. The example bank's `account` actor (an xstate machine that knows nothing of
 * replication) is deployed as a group of 3 replicas with `group(account, ...)`; a membership member
 * on each node supplies the views (failure detection, epochs, the primary by rank), relayed to the
 * local replica by a small actor; clients are a one-replica group in the parent process whose
 * replies go to a collector the parent reads.
 */
import { account, type AccountReply } from '@steadfast/example-bank';
import { groupMember, memberActorName, type GroupSettings } from '@steadfast/group';
import {
  group,
  groupAddress,
  membershipRelay,
  REPLICA_ACTOR_NAME,
  replicaViewCommand,
  VIEW_RELAY_ACTOR,
  type ReplicationSettings,
  type ReplicationStyle,
} from '@steadfast/replication';
import {
  actorRegistry,
  defineActor,
  type ActorBehavior,
  type ActorContext,
  type Node,
} from '@steadfast/runtime';
import { address, messageKey, nodeId, type Address } from '@steadfast/wire';
import { ledgerApplication } from './group-app.js';
import type { ActorSpec } from './host/protocol.js';

export const ACCOUNTS_GROUP = 'accounts';
/**
 * Operation ids an account remembers for idempotence. The account copies this table on every
 * change, so the demo and the benchmark bound it small, the same on both sides of a comparison.
 */
export const BENCH_APPLIED_OPERATIONS_MAX = 256;
export const CLIENTS_GROUP = 'clients';
export const COLLECTOR_ACTOR = 'collector';

export const replicatedAccounts = {
  'semi-active': group(account, { replicas: 3, style: 'semi-active' }),
  passive: group(account, { replicas: 3, style: 'passive' }),
} as const;

/** Membership's notices to the replica, and the replica's refusals and divergence back. */
export const viewRelay: ActorBehavior = membershipRelay();

export interface ReplicatedMemberInput {
  readonly group: string;
  readonly members: readonly string[];
  readonly settings?: Partial<GroupSettings>;
}

/** The membership member of a replica group: it tells the view relay of every view it installs. */
export const replicaGroupMember: ActorBehavior = {
  kind: 'replication-group-member',
  start(ctx, input, restored) {
    const { group: name, members, settings } = input as ReplicatedMemberInput;
    return groupMember({
      group: name,
      members,
      application: ledgerApplication,
      notify: VIEW_RELAY_ACTOR,
      ...(settings === undefined ? {} : { settings }),
    }).start(ctx, undefined, restored);
  },
};

/** Client commands the parent sends (as `replica-external` bodies) to the client group. */
export type ClientCommand =
  | { readonly type: 'deposit'; readonly operationId: string; readonly amountCents: number }
  | { readonly type: 'balance'; readonly operationId: string };

export interface ClientResult {
  readonly type: 'result';
  readonly operationId: string;
  readonly reply: AccountReply;
}

/**
 * What the client waits for: message key of each request in flight → its operation id. An array of
 * pairs, not a record: the state is immutable (the replica keeps past states), and copying a
 * record whose keys come and go on every operation (spread, then rest-destructure) cost ~80 µs per
 * operation at 64 in flight, where filtering 64 pairs costs about one.
 */
type Waiting = ReadonlyArray<readonly [messageKey: string, operationId: string]>;

/** The client group's actor: forwards each command to the accounts group, reports each reply. */
export const accountClient: ActorBehavior = defineActor<{ waiting: Waiting }>({
  kind: 'replication-account-client',
  initial: () => ({ waiting: [] }),
  handle(state, input, ctx: ActorContext) {
    if (input.type !== 'message') return state;
    const envelope = input.envelope;
    if (envelope.kind === 'async-reply') {
      const key = messageKey(envelope.inReplyTo);
      const index = state.waiting.findIndex(([waitingKey]) => waitingKey === key);
      if (index < 0) return state;
      const result: ClientResult = {
        type: 'result',
        operationId: state.waiting[index]![1],
        reply: envelope.body as AccountReply,
      };
      ctx.send(address(ctx.node, COLLECTOR_ACTOR), result);
      return { waiting: withoutIndex(state.waiting, index) };
    }
    const command = envelope.body as ClientCommand;
    const body =
      command.type === 'deposit'
        ? { type: 'deposit', operationId: command.operationId, amountCents: command.amountCents }
        : { type: 'balance' };
    const id = ctx.request(groupAddress(ACCOUNTS_GROUP), body);
    return { waiting: withEntry(state.waiting, [messageKey(id), command.operationId]) };
  },
});

// Copies of the waiting table at their final length: a spread or a filter grows its copy step by
// step, and this table is copied on every request and every reply of the benchmark's client.
function withEntry(waiting: Waiting, entry: Waiting[number]): Waiting {
  const copy = new Array<Waiting[number]>(waiting.length + 1);
  for (let index = 0; index < waiting.length; index++) copy[index] = waiting[index]!;
  copy[waiting.length] = entry;
  return copy;
}

function withoutIndex(waiting: Waiting, removed: number): Waiting {
  const copy = new Array<Waiting[number]>(waiting.length - 1);
  for (let index = 0, to = 0; index < waiting.length; index++)
    if (index !== removed) copy[to++] = waiting[index]!;
  return copy;
}

export const clientGroup = group(accountClient, { replicas: 1, style: 'semi-active' });

export interface CollectedResult {
  readonly reply: AccountReply;
  readonly count: number;
}

/**
 * Gathers the client group's results; a count above 1 is a duplicated reply. It runs only in the
 * parent process (never replicated or replayed), so it may call back into the harness.
 */
export function collector(onResult?: (operationId: string) => void): ActorBehavior {
  return defineActor<{ results: Record<string, CollectedResult> }>({
    kind: 'replication-collector',
    initial: () => ({ results: {} }),
    handle(state, input) {
      if (input.type !== 'message') return state;
      const result = input.envelope.body as Partial<ClientResult>;
      if (result.type !== 'result' || result.operationId === undefined || result.reply === undefined)
        return state;
      // Updated in place: the collector lives only in the harness process (never replicated or
      // replayed), and copying a table of thousands of results per result was quadratic.
      const previous = state.results[result.operationId];
      state.results[result.operationId] = { reply: result.reply, count: (previous?.count ?? 0) + 1 };
      onResult?.(result.operationId);
      return state;
    },
  });
}

/**
 * Hosts the client side on `client`: the collector (calling `onResult` with each operation id it
 * gets a result for) and the client group of one, connected to the accounts group on `members`,
 * with its view. Returns the client replica's address: commands go to it as `replica-external`.
 */
export function hostClientGroup(
  client: Node,
  members: readonly string[],
  onResult: (operationId: string) => void,
  replicaBehavior: ActorBehavior = clientGroup.replicaBehavior,
): Address {
  client.spawn(COLLECTOR_ACTOR, collector(onResult));
  client.spawn(REPLICA_ACTOR_NAME, replicaBehavior, {
    group: CLIENTS_GROUP,
    incarnation: client.incarnation,
    peers: [{ group: ACCOUNTS_GROUP, contacts: members }],
  });
  const clientReplica = address(client.id, REPLICA_ACTOR_NAME);
  client.tell(
    clientReplica,
    replicaViewCommand({
      group: CLIENTS_GROUP,
      epoch: 1,
      members: [nodeId(client.id)],
      primary: nodeId(client.id),
    }),
  );
  return clientReplica;
}

/** The collector's results on `client`: operation id → the reply and how many times it came. */
export function collectedResults(client: Node): Readonly<Record<string, CollectedResult>> {
  return (client.actorState(COLLECTOR_ACTOR) as { results: Record<string, CollectedResult> }).results;
}

export const replicationAppRegistry = actorRegistry([
  replicatedAccounts['semi-active'].replicaBehavior,
  replicatedAccounts.passive.replicaBehavior,
  replicaGroupMember,
  viewRelay,
]);

/** What each node of the accounts group hosts. */
export function accountReplicaSpecs(
  members: readonly string[],
  style: ReplicationStyle,
  clientNode: string,
  settings?: Partial<GroupSettings>,
  replicationSettings?: Partial<ReplicationSettings>,
): ActorSpec[] {
  // Replica groups need views without crashed members (the failover flush and the multicast
  // stability wait for every view member), so membership evicts silent members and lets them rejoin.
  const memberInput: ReplicatedMemberInput = {
    group: ACCOUNTS_GROUP,
    members,
    settings: { autoMembership: true, ...settings },
  };
  return [
    { name: VIEW_RELAY_ACTOR, kind: viewRelay.kind },
    {
      name: REPLICA_ACTOR_NAME,
      kind: replicatedAccounts[style].replicaBehavior.kind,
      input: {
        group: ACCOUNTS_GROUP,
        peers: [{ group: CLIENTS_GROUP, contacts: [clientNode] }],
        reportToLocal: VIEW_RELAY_ACTOR,
        ...(replicationSettings === undefined ? {} : { settings: replicationSettings }),
        input: { owner: 'replicated', balanceCents: 0, appliedOperationsMax: BENCH_APPLIED_OPERATIONS_MAX },
      },
      hostInput: true,
    },
    { name: memberActorName(ACCOUNTS_GROUP), kind: replicaGroupMember.kind, input: memberInput },
  ];
}

export function collectorAddress(node: string): Address {
  return address(node, COLLECTOR_ACTOR);
}
