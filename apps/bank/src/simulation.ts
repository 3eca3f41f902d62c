/**
 * The bank under the deterministic simulator: the scenario behind `steadfast sim`.
 *
 * Every node hosts some accounts, a transfer coordinator and a client that issues transfers; all
 * of them persist their state, so a crashed node resumes where its disk says. The nemesis injects
 * the requested faults during the safety phase; then the network heals, crashed nodes restart, and
 * the liveness phase must let every client finish.
 *
 * Invariants after every event (actors of a crashed node are read from its disk, which is exactly
 * the state they will resume from):
 * - no account balance is ever negative or fractional;
 * - money is conserved: total − (unfinished transfers) ≤ Σ balances ≤ total.
 * At the end (liveness):
 * - every client issued all its transfers and got a final outcome for each;
 * - no transfer is unfinished, and every account's balance is exactly its opening balance plus the
 *   transfers reported `transferred` into it minus those out of it: each transfer took effect
 *   exactly once, whatever was lost, duplicated or crashed on the way.
 */
import { defaultNodeIds, Simulation, type FaultKind, type SimulationResult } from '@steadfast/sim';
import { addressActor, addressNode, type Address } from '@steadfast/wire';
import {
  bankAccountAddresses,
  bankActorSpecs,
  bankInvariants,
  bankRegistry,
  COORDINATOR_NAME,
  unfinishedTransfers,
  type ActorStateAt,
  type BankStates,
} from './bank.js';
import { bankClientFinished, type BankClientState } from './client.js';
import { address } from '@steadfast/wire';

/**
 * Options of `createBankSimulation`: the seed, the bank's size and the run's length. Unset sizes
 * take `BANK_SIMULATION_DEFAULTS`; the rest is passed on to the simulator (see `SimulationOptions`
 * in @steadfast/sim), whose defaults apply.
 */
export interface BankSimulationOptions {
  /** A non-negative safe integer: the whole run is a function of it and of these options. */
  readonly seed: number;
  /** Node count; nodes get the simulator's default ids. Default 3. */
  readonly nodes?: number;
  /** Fault kinds the nemesis may inject during the safety phase; default none. */
  readonly faults?: readonly FaultKind[];
  /** Stop after this many events (clock steps). */
  readonly eventsMax?: number;
  /** Accounts, spread round-robin over the nodes. Default 6. */
  readonly accounts?: number;
  /** Opening balance of each account. Default 10 000 cents. */
  readonly initialCents?: number;
  /** Transfers each node's client issues. Default 40. */
  readonly transfersPerClient?: number;
  /** Virtual time of the safety phase, when faults are injected. Default 10 000 ms. */
  readonly safetyMs?: number;
  /** Virtual time after the heal for every client to finish. Default 20 000 ms. */
  readonly livenessMs?: number;
  /** Record the run's trace (the simulator's default: on). */
  readonly trace?: boolean;
  /** Hash each actor's state into the trace after every step (the simulator's default: on when tracing). */
  readonly hashStates?: boolean;
  /** Wall clock for the result's `wallMs`; the simulator itself never reads real time. */
  readonly wallClock?: () => number;
}

/** The bank's size and phase lengths where `BankSimulationOptions` leaves them out. */
export const BANK_SIMULATION_DEFAULTS = {
  nodes: 3,
  accounts: 6,
  initialCents: 10_000,
  transfersPerClient: 40,
  safetyMs: 10_000,
  livenessMs: 20_000,
} as const;

interface Layout {
  readonly nodeIds: readonly string[];
  readonly accounts: readonly Address[];
  readonly coordinators: readonly Address[];
  readonly clients: readonly Address[];
  readonly initialCents: number;
  readonly totalCents: number;
}

/** An actor's state: live if its node runs, else what its disk holds (what it will resume from). */
function stateOf(simulation: Simulation, at: Address, fallback: unknown): unknown {
  const node = addressNode(at);
  const name = addressActor(at);
  if (!simulation.isCrashed(node)) {
    const live = simulation.node(node)?.actorState(name);
    if (live !== undefined) return live;
  }
  return simulation.actorDiskOf(node).get(name) ?? fallback;
}

function bankStates(simulation: Simulation, layout: Layout): BankStates {
  // An actor that never persisted resumes from its input: an untouched account, an idle coordinator.
  const accountFallback = { context: { balanceCents: layout.initialCents } };
  const coordinatorFallback = { active: {} };
  const read =
    (fallback: unknown) =>
    (at: Address): ActorStateAt => ({ address: at, state: stateOf(simulation, at, fallback) });
  return {
    totalCents: layout.totalCents,
    accounts: layout.accounts.map(read(accountFallback)),
    coordinators: layout.coordinators.map(read(coordinatorFallback)),
  };
}

function exactlyOnce(simulation: Simulation, layout: Layout): string[] {
  const violations: string[] = [];
  const expected = new Map<string, number>(layout.accounts.map((at) => [at, layout.initialCents]));
  for (const client of layout.clients) {
    const state = stateOf(simulation, client, undefined) as BankClientState | undefined;
    if (state === undefined) {
      violations.push(`client ${client} has no state`);
      continue;
    }
    if (!bankClientFinished(state)) {
      violations.push(
        `client ${client} did not finish: ${state.issued}/${state.settings.transfers} issued, ${Object.keys(state.pending).length} without a final outcome`,
      );
    }
    for (const outcome of Object.values(state.outcomes)) {
      if (outcome.type !== 'transferred') continue;
      expected.set(outcome.from, (expected.get(outcome.from) ?? 0) - outcome.amountCents);
      expected.set(outcome.to, (expected.get(outcome.to) ?? 0) + outcome.amountCents);
    }
  }
  const states = bankStates(simulation, layout);
  const unfinished = unfinishedTransfers(states);
  if (unfinished > 0) violations.push(`${unfinished} transfers are still unfinished after the heal`);
  for (const { address: at, state } of states.accounts) {
    const balance = (state as { context?: { balanceCents?: number } }).context?.balanceCents;
    if (balance !== expected.get(at)) {
      violations.push(
        `account ${at} holds ${balance} cents; the reported outcomes imply ${expected.get(at)}`,
      );
    }
  }
  return violations;
}

/**
 * Builds the bank scenario (see this module's comment) without running it: every node gets its
 * accounts, a coordinator and a client, all durable, and is set up again from its disk after a
 * crash. Call `run()` for the whole run, or step it yourself (`runUntil`) to look inside.
 */
export function createBankSimulation(options: BankSimulationOptions): Simulation {
  const nodeIds = defaultNodeIds(options.nodes ?? BANK_SIMULATION_DEFAULTS.nodes);
  const accountCount = options.accounts ?? BANK_SIMULATION_DEFAULTS.accounts;
  const initialCents = options.initialCents ?? BANK_SIMULATION_DEFAULTS.initialCents;
  const layout: Layout = {
    nodeIds,
    accounts: bankAccountAddresses(nodeIds, accountCount),
    coordinators: nodeIds.map((id) => address(id, COORDINATOR_NAME)),
    clients: nodeIds.map((id) => address(id, 'client')),
    initialCents,
    totalCents: accountCount * initialCents,
  };
  const layoutOptions = {
    accounts: accountCount,
    initialCents,
    durable: true,
    client: { transfers: options.transfersPerClient ?? BANK_SIMULATION_DEFAULTS.transfersPerClient },
  };
  return new Simulation({
    seed: options.seed,
    nodes: nodeIds,
    faults: options.faults ?? [],
    safetyMs: options.safetyMs ?? BANK_SIMULATION_DEFAULTS.safetyMs,
    livenessMs: options.livenessMs ?? BANK_SIMULATION_DEFAULTS.livenessMs,
    ...(options.eventsMax === undefined ? {} : { eventsMax: options.eventsMax }),
    ...(options.trace === undefined ? {} : { trace: options.trace }),
    ...(options.hashStates === undefined ? {} : { hashStates: options.hashStates }),
    ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
    setup(node, { actorDisk }) {
      for (const spec of bankActorSpecs(node.id, nodeIds, layoutOptions)) {
        const behavior = bankRegistry.get(spec.kind);
        if (behavior === undefined) throw new Error(`no behavior of kind ${spec.kind}`);
        node.spawn(spec.name, behavior, spec.input, actorDisk.get(spec.name));
      }
    },
    invariants: [(simulation) => bankInvariants.all(bankStates(simulation, layout))],
    liveness: [(simulation) => exactlyOnce(simulation, layout)],
  });
}

/**
 * Builds and runs the bank scenario: safety phase, heal, liveness phase. The result's `ok` is false
 * on any violation, and its `replayCommand` reruns the same seed.
 */
export async function runBankSimulation(options: BankSimulationOptions): Promise<SimulationResult> {
  return createBankSimulation(options).run();
}
