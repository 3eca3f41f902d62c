/**
 * The bank as a whole: the registry of its behaviors (so `steadfast trace replay` can rebuild the
 * actors of a recorded run), a deployment over any number of nodes, a random workload, and the
 * invariants a run must keep. The invariants are pure functions over actor states, as read with
 * `node.actorState(name)`, returning one message per violation (an empty list means all is well),
 * so a test, the simulator or a live inspector can check them after every step.
 */
import { actorRegistry, type ActorRegistry, type Node } from '@steadfast/runtime';
import { address, addressActor, addressNode, type Address } from '@steadfast/wire';
import { account, type AccountContext, type AccountInput } from './account.js';
import {
  inTransitCents,
  transferCoordinator,
  type CoordinatorInput,
  type CoordinatorState,
} from './coordinator.js';
import { bankClient, CLIENT_KIND, type BankClientInput } from './client.js';
import type { BalanceRequest, TransferRequest } from './messages.js';
import { ACCOUNT_KIND } from './account.js';
import { COORDINATOR_KIND } from './coordinator.js';

/** Every behavior of the bank, by kind. */
export const bankRegistry: ActorRegistry = actorRegistry([account, transferCoordinator, bankClient]);

/** An actor to start: what a node process or a simulated node spawns from configuration. */
export interface BankActorSpec {
  readonly name: string;
  readonly kind: string;
  readonly input: unknown;
}

/**
 * The bank's layout over named nodes, for hosts that start each node separately (node processes,
 * simulated nodes): account i on node i mod n, a coordinator on every node, and optionally a
 * client per node issuing `clientTransfers` transfers. `deployBank` is the same layout for nodes
 * in one process.
 */
export function bankActorSpecs(
  nodeId: string,
  nodeIds: readonly string[],
  options: BankOptions & { readonly client?: Omit<BankClientInput, 'accounts' | 'coordinators'> },
): BankActorSpec[] {
  const index = nodeIds.indexOf(nodeId);
  if (index < 0) throw new RangeError(`node ${nodeId} is not one of ${nodeIds.join(', ')}`);
  const durable = options.durable === true ? { durable: true } : {};
  const specs: BankActorSpec[] = [
    { name: COORDINATOR_NAME, kind: COORDINATOR_KIND, input: { ...options.coordinator, ...durable } },
  ];
  for (let account = index; account < options.accounts; account += nodeIds.length) {
    const input: AccountInput = {
      owner: `owner-${account}`,
      balanceCents: options.initialCents,
      ...(options.appliedOperationsMax === undefined
        ? {}
        : { appliedOperationsMax: options.appliedOperationsMax }),
      ...durable,
    };
    specs.push({ name: accountName(account), kind: ACCOUNT_KIND, input });
  }
  if (options.client !== undefined) {
    const client: BankClientInput = {
      ...options.client,
      accounts: bankAccountAddresses(nodeIds, options.accounts),
      coordinators: nodeIds.map((id) => address(id, COORDINATOR_NAME)),
    };
    specs.push({ name: 'client', kind: CLIENT_KIND, input: client });
  }
  return specs;
}

/** The addresses of the accounts in `bankActorSpecs`' layout. */
export function bankAccountAddresses(nodeIds: readonly string[], accounts: number): Address[] {
  return Array.from({ length: accounts }, (_, index) =>
    address(nodeIds[index % nodeIds.length]!, accountName(index)),
  );
}

/** The name of the coordinator on each node. */
export const COORDINATOR_NAME = 'transfer-coordinator';

/** The actor name of account `index` (`account-0`, `account-1`, …), the same on whichever node hosts it. */
export function accountName(index: number): string {
  return `account-${index}`;
}

/**
 * The shape of a bank, for `deployBank` and `bankActorSpecs`: how many accounts, how much each
 * holds at opening, and what is passed on to every account and coordinator.
 */
export interface BankOptions {
  /** Number of accounts, spread round-robin over the nodes. */
  readonly accounts: number;
  /** Opening balance of each account. */
  readonly initialCents: number;
  /** Input of every coordinator; `durable: true` below overrides its own `durable`. */
  readonly coordinator?: CoordinatorInput;
  /** Each account's idempotence bound (`AccountInput.appliedOperationsMax`); default 10 000. */
  readonly appliedOperationsMax?: number;
  /** Accounts and coordinators persist their state after each change (the nodes need an `actorStore`). */
  readonly durable?: boolean;
}

/**
 * Where `deployBank` put the bank: the account and coordinator addresses a client sends to, and the
 * total the invariants check against. Pass it to `bankWorkload` and `collectBankStates`.
 */
export interface BankDeployment {
  /** Account `i` at index `i`. */
  readonly accounts: readonly Address[];
  /** One per node, in the order of the nodes given. */
  readonly coordinators: readonly Address[];
  /** Money in the bank: what the balances must add up to once no transfer is in flight. */
  readonly totalCents: number;
}

/**
 * Spawns `account-0` … on the nodes in turn (account i on node i mod n) and one coordinator per
 * node. Throws for impossible options (a programmer error: deployments come from code).
 */
export function deployBank(nodes: readonly Node[], options: BankOptions): BankDeployment {
  const { accounts: accountCount, initialCents } = options;
  if (nodes.length === 0) throw new RangeError('deployBank needs at least one node');
  if (!Number.isSafeInteger(accountCount) || accountCount < 1) {
    throw new RangeError(`accounts must be a positive integer, got ${accountCount}`);
  }
  const totalCents = accountCount * initialCents;
  if (!Number.isSafeInteger(initialCents) || initialCents < 0 || !Number.isSafeInteger(totalCents)) {
    throw new RangeError(
      `initialCents must be a non-negative integer with a safe total, got ${initialCents}`,
    );
  }
  const accounts: Address[] = [];
  for (let index = 0; index < accountCount; index++) {
    const node = nodes[index % nodes.length]!;
    const input: AccountInput = {
      owner: `owner-${index}`,
      balanceCents: initialCents,
      ...(options.appliedOperationsMax === undefined
        ? {}
        : { appliedOperationsMax: options.appliedOperationsMax }),
      ...(options.durable === true ? { durable: true } : {}),
    };
    accounts.push(node.spawn(accountName(index), account, input));
  }
  const coordinatorInput: CoordinatorInput = {
    ...options.coordinator,
    ...(options.durable === true ? { durable: true } : {}),
  };
  const coordinators = nodes.map((node) =>
    node.spawn(COORDINATOR_NAME, transferCoordinator, coordinatorInput),
  );
  return { accounts, coordinators, totalCents };
}

// ---------------------------------------------------------------------------------------------
// Workload

/**
 * One request of a `bankWorkload`: send `body` to `target` as a request (`node.request`); `kind`
 * says which reply to expect (a transfer outcome, a balance, or `invalid-request`).
 */
export type BankWorkItem =
  | { readonly kind: 'transfer'; readonly target: Address; readonly body: TransferRequest }
  | { readonly kind: 'balance'; readonly target: Address; readonly body: BalanceRequest }
  /** A request the bank must refuse with an `invalid-request` reply (and survive). */
  | { readonly kind: 'bad'; readonly target: Address; readonly body: unknown };

/** Options of `bankWorkload`: only the size of its transfers; the mix of requests is fixed. */
export interface BankWorkloadOptions {
  /** Largest transfer; default half an account's opening balance, so some transfers find short funds. */
  readonly transferCentsMax?: number;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  const index = Math.min(items.length - 1, Math.floor(random() * items.length));
  return items[index]!;
}

function token(random: () => number): string {
  return Math.floor(random() * 36 ** 8)
    .toString(36)
    .padStart(8, '0');
}

/** Bodies that must be refused: each exercises one validation path of the coordinator or an account. */
function badRequest(random: () => number, deployment: BankDeployment): BankWorkItem {
  const coordinator = pick(random, deployment.coordinators);
  const [from, to] = [deployment.accounts[0]!, deployment.accounts[1]!];
  const target = pick(random, deployment.accounts);
  const cases: readonly BankWorkItem[] = [
    { kind: 'bad', target: coordinator, body: { type: 'transfer', from, to, amountCents: -5 } },
    { kind: 'bad', target: coordinator, body: { type: 'transfer', from, to, amountCents: 1.5 } },
    { kind: 'bad', target: coordinator, body: { type: 'transfer', from, to: from, amountCents: 1 } },
    {
      kind: 'bad',
      target: coordinator,
      body: { type: 'transfer', from: 'not an address', to, amountCents: 1 },
    },
    {
      kind: 'bad',
      target: coordinator,
      body: { type: 'transfer', from, to, amountCents: 1, transferId: '' },
    },
    { kind: 'bad', target: coordinator, body: { type: 'steal' } },
    { kind: 'bad', target: coordinator, body: 'transfer everything' },
    { kind: 'bad', target, body: { type: 'withdraw', operationId: 'bad-0', amountCents: 0 } },
    { kind: 'bad', target, body: { type: 'deposit', operationId: 'bad-1', amountCents: 2.5 } },
    { kind: 'bad', target, body: { type: 'deposit', operationId: '', amountCents: 1 } },
    { kind: 'bad', target, body: { type: 'deposit', amountCents: 1 } },
    { kind: 'bad', target, body: { type: 'xstate.stop' } },
    { kind: 'bad', target, body: 42 },
  ];
  return pick(random, cases);
}

/**
 * An endless stream of requests for a deployed bank, drawn with `random` (a float in [0, 1), for
 * instance a seeded PRNG, so a workload is replayable): about 85 % transfers between two distinct
 * accounts through a random coordinator (a third of them with a client-chosen transfer id), 10 %
 * balance queries, 5 % bad requests. Take as many as you need. No request deposits or withdraws
 * directly, so the bank's total stays what `deployBank` put in.
 */
export function* bankWorkload(
  random: () => number,
  deployment: BankDeployment,
  options: BankWorkloadOptions = {},
): Generator<BankWorkItem, never, undefined> {
  if (deployment.accounts.length < 2) throw new RangeError('a bank workload needs at least two accounts');
  const perAccountCents = Math.floor(deployment.totalCents / deployment.accounts.length);
  const transferCentsMax = options.transferCentsMax ?? Math.max(1, Math.floor(perAccountCents / 2));
  for (let index = 0; ; index++) {
    const draw = random();
    if (draw < 0.85) {
      const from = pick(random, deployment.accounts);
      const others = deployment.accounts.filter((candidate) => candidate !== from);
      const to = pick(random, others);
      const amountCents = 1 + Math.floor(random() * transferCentsMax);
      const body: TransferRequest =
        random() < 1 / 3
          ? { type: 'transfer', transferId: `w${index}-${token(random)}`, from, to, amountCents }
          : { type: 'transfer', from, to, amountCents };
      yield { kind: 'transfer', target: pick(random, deployment.coordinators), body };
    } else if (draw < 0.95) {
      yield { kind: 'balance', target: pick(random, deployment.accounts), body: { type: 'balance' } };
    } else {
      yield badRequest(random, deployment);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Invariants

/** One actor's state as read from its node, with the address it was read at. */
export interface ActorStateAt<State = unknown> {
  readonly address: Address;
  /** What `node.actorState(name)` returned: undefined when the actor is not running. */
  readonly state: State;
}

/**
 * A snapshot of the whole bank for the invariants: every account's and coordinator's state and the
 * money the bank was given. `collectBankStates` reads one from live nodes; the simulator builds its
 * own from live nodes and crashed nodes' disks.
 */
export interface BankStates {
  readonly totalCents: number;
  readonly accounts: readonly ActorStateAt[];
  readonly coordinators: readonly ActorStateAt[];
}

/** Reads every bank actor's state from the nodes hosting them. */
export function collectBankStates(nodes: readonly Node[], deployment: BankDeployment): BankStates {
  const stateOf = (at: Address): ActorStateAt => {
    const node = nodes.find((candidate) => candidate.id === addressNode(at));
    return { address: at, state: node?.actorState(addressActor(at)) };
  };
  return {
    totalCents: deployment.totalCents,
    accounts: deployment.accounts.map(stateOf),
    coordinators: deployment.coordinators.map(stateOf),
  };
}

/** The account context inside a machine actor's state (`{ value, context }`), or a reason there is none. */
function accountContextOf(state: unknown): AccountContext | string {
  if (typeof state !== 'object' || state === null) return 'is not running (stopped or failed)';
  const context = (state as { context?: unknown }).context as Partial<AccountContext> | undefined;
  if (typeof context?.balanceCents !== 'number') return 'has no account state';
  return context as AccountContext;
}

function coordinatorStateOf(state: unknown): CoordinatorState | string {
  if (typeof state !== 'object' || state === null) return 'is not running (stopped or failed)';
  if (typeof (state as Partial<CoordinatorState>).active !== 'object') return 'has no coordinator state';
  return state as CoordinatorState;
}

/**
 * The bank's safety invariants, pure functions over a `BankStates` snapshot, each returning one
 * message per violation (empty when all is well). Check them after every step of a test or a
 * simulation, not only at the end: an account that is not running, or a state that is not the
 * expected shape, is reported as a violation too.
 */
export const bankInvariants = {
  /**
   * Money is neither created nor lost. Each unfinished transfer has taken at most its amount out
   * of the balances and not yet put it back, so at every moment
   *   total − (sum of unfinished transfer amounts) ≤ sum of balances ≤ total,
   * which is exact equality once no transfer is in flight (or in doubt).
   */
  conservation(states: BankStates): string[] {
    const violations: string[] = [];
    let balancesCents = 0;
    for (const { address: at, state } of states.accounts) {
      const context = accountContextOf(state);
      if (typeof context === 'string') violations.push(`account ${at} ${context}`);
      else balancesCents += context.balanceCents;
    }
    let unfinishedCents = 0;
    let unfinished = 0;
    for (const { address: at, state } of states.coordinators) {
      const coordinator = coordinatorStateOf(state);
      if (typeof coordinator === 'string') {
        violations.push(`coordinator ${at} ${coordinator}`);
        continue;
      }
      for (const transfer of Object.values(coordinator.active)) {
        unfinishedCents += transfer.amountCents;
        unfinished++;
      }
    }
    if (balancesCents > states.totalCents) {
      violations.push(
        `balances add up to ${balancesCents} cents, more than the ${states.totalCents} the bank holds`,
      );
    }
    if (balancesCents < states.totalCents - unfinishedCents) {
      violations.push(
        `balances add up to ${balancesCents} cents: ${states.totalCents - balancesCents} missing, ` +
          `but only ${unfinishedCents} cents are in ${unfinished} unfinished transfers`,
      );
    }
    return violations;
  },

  /** No account ever goes below zero, and balances stay whole cents. */
  noNegativeBalance(states: BankStates): string[] {
    const violations: string[] = [];
    for (const { address: at, state } of states.accounts) {
      const context = accountContextOf(state);
      if (typeof context === 'string') violations.push(`account ${at} ${context}`);
      else if (!Number.isSafeInteger(context.balanceCents) || context.balanceCents < 0) {
        violations.push(`account ${at} has balance ${context.balanceCents} cents`);
      }
    }
    return violations;
  },

  /** Both invariants. */
  all(states: BankStates): string[] {
    return [...bankInvariants.conservation(states), ...bankInvariants.noNegativeBalance(states)];
  },
};

/** Transfers still unfinished (in flight or in doubt) across the coordinators. */
export function unfinishedTransfers(states: BankStates): number {
  let total = 0;
  for (const { state } of states.coordinators) {
    const coordinator = coordinatorStateOf(state);
    if (typeof coordinator !== 'string') total += Object.keys(coordinator.active).length;
  }
  return total;
}

/** Money withdrawn by a coordinator and not yet deposited, across the coordinators. */
export function moneyInTransitCents(states: BankStates): number {
  let total = 0;
  for (const { state } of states.coordinators) {
    const coordinator = coordinatorStateOf(state);
    if (typeof coordinator !== 'string') total += inTransitCents(coordinator);
  }
  return total;
}

/** The address of the coordinator on a node. */
export function coordinatorOn(node: Node | string): Address {
  return address(typeof node === 'string' ? node : node.id, COORDINATOR_NAME);
}
