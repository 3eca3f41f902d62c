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
  ledger as workloadLedger,
  membershipRelay,
  REPLICA_ACTOR_NAME,
  replicaViewCommand,
  VIEW_RELAY_ACTOR,
  type AddedReply,
  type FailingRequest,
  type RefusedReply,
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
import { address, messageKey, nodeId, type Address, type Envelope } from '@steadfast/wire';
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
/** The middle tier of the chain (`startChainCluster`): clients → front → accounts. */
export const FRONT_GROUP = 'front';

export const replicatedAccounts = {
  'semi-active': group(account, { replicas: 3, style: 'semi-active' }),
  passive: group(account, { replicas: 3, style: 'passive' }),
} as const;

/**
 * The simulations' ledger (`ledger` of `@steadfast/replication`) as the chain's last tier instead of
 * the account (`startChainCluster`'s `ledgerService`): it turns down a request marked `fail`, thrown
 * in an action or rejected before it runs, which the bank's account never does. It is how a refused
 * synchronous request crosses real processes: its group answers the front with a `RefusedReply`.
 */
export const replicatedWorkloadLedgers = {
  'semi-active': group(workloadLedger, { replicas: 3, style: 'semi-active' }),
  passive: group(workloadLedger, { replicas: 3, style: 'passive' }),
} as const;

/** What the chain's last tier runs: the bank's account, or the simulations' ledger. */
export type LedgerService = 'account' | 'workload-ledger';

/** Each last tier's replicated groups, and what its replicas' input adds (the account's opening). */
const ledgerServices = {
  account: {
    groups: replicatedAccounts,
    replicaInput: {
      input: { owner: 'chained', balanceCents: 0, appliedOperationsMax: BENCH_APPLIED_OPERATIONS_MAX },
    },
  },
  'workload-ledger': { groups: replicatedWorkloadLedgers, replicaInput: {} },
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
  | { readonly type: 'balance'; readonly operationId: string }
  /** For the workload ledger (`LedgerService`): add `amount`, or be turned down as `fail` says. */
  | {
      readonly type: 'add';
      readonly operationId: string;
      readonly amount: number;
      readonly fail?: FailingRequest;
    };

/**
 * What a client request is answered with: the account's reply, the workload ledger's, or the
 * refusal of a group whose actor turned the request down.
 */
export type ServiceReply = AccountReply | AddedReply | RefusedReply;

export interface ClientResult {
  readonly type: 'result';
  readonly operationId: string;
  readonly reply: ServiceReply;
}

/**
 * What the client waits for: message key of each request in flight → its operation id. An array of
 * pairs, not a record: the state is immutable (the replica keeps past states), and copying a
 * record whose keys come and go on every operation (spread, then rest-destructure) cost ~80 µs per
 * operation at 64 in flight, where filtering 64 pairs costs about one.
 */
type Waiting = ReadonlyArray<readonly [messageKey: string, operationId: string]>;

/** The client group's actor: forwards each command to the accounts group, reports each reply. */
export const accountClient: ActorBehavior = accountClientOf(ACCOUNTS_GROUP, 'replication-account-client');

/** The same client, sending its commands to the replica group `target` (the chain's front). */
function accountClientOf(target: string, kind: string): ActorBehavior {
  return defineActor<{ waiting: Waiting }>({
    kind,
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
          reply: envelope.body as ServiceReply,
        };
        ctx.send(address(ctx.node, COLLECTOR_ACTOR), result);
        return { waiting: withoutIndex(state.waiting, index) };
      }
      const command = envelope.body as ClientCommand;
      const body = requestBody(command);
      const id = ctx.request(groupAddress(target), body);
      return { waiting: withEntry(state.waiting, [messageKey(id), command.operationId]) };
    },
  });
}

/** The request a client command becomes. */
function requestBody(command: ClientCommand): object {
  switch (command.type) {
    case 'deposit':
      return { type: 'deposit', operationId: command.operationId, amountCents: command.amountCents };
    case 'balance':
      return { type: 'balance' };
    case 'add':
      return {
        type: 'add',
        key: command.operationId,
        amount: command.amount,
        ...(command.fail === undefined ? {} : { fail: command.fail }),
      };
  }
}

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

/** The chain's client group of one: its commands go to the front group. */
export const frontClientGroup = group(accountClientOf(FRONT_GROUP, 'replication-front-client'), {
  replicas: 1,
  style: 'semi-active',
});

interface FrontState {
  /** Message key of each synchronous call to the accounts group → the client request it serves. */
  readonly serving: ReadonlyArray<readonly [callKey: string, request: Envelope]>;
  /** When the last reply of the accounts group was handled, by a real clock call on the primary. */
  readonly lastAnsweredAtMs: number;
}

/**
 * The chain's middle tier: passes each client request on to the accounts group with a synchronous
 * request (its primary processes the accounts group's reply at once, claim 48, and its backups from
 * the primary's entry) and answers the client with the account's reply. Handling that reply it reads the wall clock through `ctx.call`,
 * a value no synchronous reply carries: every backup must replay the primary's (a backup that read
 * its own clock would hold another state, and the digests would report it diverged).
 */
export const accountFront: ActorBehavior = defineActor<FrontState>({
  kind: 'replication-account-front',
  initial: () => ({ serving: [], lastAnsweredAtMs: 0 }),
  handle(state, input, ctx: ActorContext) {
    if (input.type !== 'message') return state;
    const envelope = input.envelope;
    if (envelope.kind === 'sync-reply') {
      const key = messageKey(envelope.inReplyTo);
      const index = state.serving.findIndex(([callKey]) => callKey === key);
      if (index < 0) return state;
      ctx.reply(envelope.body, { to: state.serving[index]![1] });
      return {
        serving: state.serving.filter((_, at) => at !== index),
        lastAnsweredAtMs: ctx.call('answered-at', () => Date.now()),
      };
    }
    if (envelope.kind !== 'async-request' && envelope.kind !== 'sync-request') return state;
    const id = ctx.request(groupAddress(ACCOUNTS_GROUP), envelope.body, { sync: true });
    return { ...state, serving: [...state.serving, [messageKey(id), envelope] as const] };
  },
});

export const replicatedFronts = {
  'semi-active': group(accountFront, { replicas: 3, style: 'semi-active' }),
  passive: group(accountFront, { replicas: 3, style: 'passive' }),
} as const;

export interface CollectedResult {
  readonly reply: ServiceReply;
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
  target: string = ACCOUNTS_GROUP,
): Address {
  client.spawn(COLLECTOR_ACTOR, collector(onResult));
  client.spawn(REPLICA_ACTOR_NAME, replicaBehavior, {
    group: CLIENTS_GROUP,
    incarnation: client.incarnation,
    peers: [{ group: target, contacts: members }],
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
  const state = client.actorState(COLLECTOR_ACTOR) as
    { results: Record<string, CollectedResult> } | undefined;
  if (state === undefined) throw new Error(`the collector on ${client.id} is not running (its node closed?)`);
  return state.results;
}

export const replicationAppRegistry = actorRegistry([
  replicatedAccounts['semi-active'].replicaBehavior,
  replicatedAccounts.passive.replicaBehavior,
  replicatedFronts['semi-active'].replicaBehavior,
  replicatedFronts.passive.replicaBehavior,
  replicatedWorkloadLedgers['semi-active'].replicaBehavior,
  replicatedWorkloadLedgers.passive.replicaBehavior,
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

/**
 * What each node of the chain hosts (`startChainCluster`): a front replica on each of `fronts`,
 * a replica of `ledgerService` (the account by default) on each of `ledgers`, each with its group's
 * membership member and view relay. The front's peers are the clients and the accounts group; the
 * accounts group's peer is the front. `frontSettings` go over the front replicas' settings.
 */
export function chainReplicaSpecs(
  node: string,
  fronts: readonly string[],
  ledgers: readonly string[],
  style: ReplicationStyle,
  clientNode: string,
  ledgerService: LedgerService = 'account',
  frontSettings?: Partial<ReplicationSettings>,
): ActorSpec[] {
  const isFront = fronts.includes(node);
  const groupName = isFront ? FRONT_GROUP : ACCOUNTS_GROUP;
  const memberInput: ReplicatedMemberInput = {
    group: groupName,
    members: isFront ? fronts : ledgers,
    settings: { autoMembership: true },
  };
  const replicaInput = isFront
    ? {
        group: FRONT_GROUP,
        peers: [
          { group: CLIENTS_GROUP, contacts: [clientNode] },
          { group: ACCOUNTS_GROUP, contacts: ledgers },
        ],
        reportToLocal: VIEW_RELAY_ACTOR,
        ...(frontSettings === undefined ? {} : { settings: frontSettings }),
      }
    : {
        group: ACCOUNTS_GROUP,
        peers: [{ group: FRONT_GROUP, contacts: fronts }],
        reportToLocal: VIEW_RELAY_ACTOR,
        ...ledgerServices[ledgerService].replicaInput,
      };
  return [
    { name: VIEW_RELAY_ACTOR, kind: viewRelay.kind },
    {
      name: REPLICA_ACTOR_NAME,
      kind: (isFront ? replicatedFronts : ledgerServices[ledgerService].groups)[style].replicaBehavior.kind,
      input: replicaInput,
      hostInput: true,
    },
    { name: memberActorName(groupName), kind: replicaGroupMember.kind, input: memberInput },
  ];
}

export function collectorAddress(node: string): Address {
  return address(node, COLLECTOR_ACTOR);
}
