/**
 * The bank across nodes: three bank nodes and a client node on a `MemoryNetwork`, frames signed
 * by the wire codec, all on one `SimulatedClock`. Every cross-node request really is encoded,
 * authenticated, carried and decoded. The lossy run drops frames on purpose (safety under faults,
 * invariants checked after every clock step), then heals the network and demands that every
 * transfer finishes and every cent is accounted for (liveness).
 */
import { MemoryNetwork, Node, SimulatedClock, type Transport } from '@steadfast/runtime';
import { createCodec, type Address, type Envelope } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bankInvariants,
  bankRegistry,
  bankWorkload,
  collectBankStates,
  COORDINATOR_NAME,
  deployBank,
  unfinishedTransfers,
  type BankDeployment,
  type BankOptions,
} from './bank.js';
import { account } from './account.js';
import { transferCoordinator, type CoordinatorState } from './coordinator.js';
import type { AccountReply, TransferReply, TransferRequest } from './messages.js';
import { seededRandom } from './test-support.js';

const BANK_NODES = ['n0', 'n1', 'n2'];
const CLIENT_NODE = 'client';

/** Wraps a transport so that `drop(target)` decides, frame by frame, whether a send is lost. */
function lossy(inner: Transport, drop: (target: string) => boolean): Transport {
  return {
    endpoint: inner.endpoint,
    maxDatagramBytes: inner.maxDatagramBytes,
    send: (target, frame) => {
      if (!drop(target)) inner.send(target, frame);
    },
    onReceive: (handler) => inner.onReceive(handler),
    counters: () => inner.counters(),
    close: () => inner.close(),
  };
}

/** A node's disk: what its actors persisted, by actor name (copied, as a disk would). */
type Disk = Map<string, unknown>;

function startNode(
  name: string,
  incarnation: number,
  shared: { clock: SimulatedClock; network: MemoryNetwork; drop: (target: string) => boolean; disk?: Disk },
): Node {
  const peers = Object.fromEntries([...BANK_NODES, CLIENT_NODE].map((peer) => [peer, peer]));
  const disk = shared.disk;
  return new Node({
    id: name,
    incarnation,
    clock: shared.clock,
    transport: lossy(shared.network.attach(name), shared.drop),
    codec: createCodec({ keys: new Map([[1, new Uint8Array(32).fill(7)]]), activeKeyId: 1 }),
    peers,
    ...(disk === undefined
      ? {}
      : { actorStore: { save: (actor, state) => void disk.set(actor, structuredClone(state)) } }),
  });
}

function cluster(
  options: BankOptions,
  drop: (target: string) => boolean = () => false,
  disks?: ReadonlyMap<string, Disk>,
) {
  const clock = new SimulatedClock();
  const network = new MemoryNetwork();
  const nodes = [...BANK_NODES, CLIENT_NODE].map((name) => {
    const disk = disks?.get(name);
    return startNode(name, 1, { clock, network, drop, ...(disk === undefined ? {} : { disk }) });
  });
  const bankNodes = nodes.slice(0, BANK_NODES.length);
  const client = nodes.at(-1)!;
  const deployment = deployBank(bankNodes, options);
  return { clock, network, nodes, bankNodes, client, deployment };
}

type Cluster = ReturnType<typeof cluster>;

function invariantViolations(bank: Cluster): string[] {
  return bankInvariants.all(collectBankStates(bank.bankNodes, bank.deployment));
}

/**
 * Lets the microtasks run (deliveries and drains), then steps the simulated clock, until every
 * promise has settled. `afterStep` runs after each round: the place to check invariants.
 */
async function settle<T>(
  clock: SimulatedClock,
  promises: readonly Promise<T>[],
  afterStep: () => void = () => {},
) {
  let settled = false;
  const all = Promise.allSettled(promises).then((results) => {
    settled = true;
    return results;
  });
  for (let round = 0; round < 100_000 && !settled; round++) {
    await new Promise((resolve) => setImmediate(resolve));
    afterStep();
    if (!settled && !clock.step()) await new Promise((resolve) => setImmediate(resolve));
  }
  expect(settled).toBe(true);
  return all;
}

/** Balances each account must hold, given the transfers that the coordinators reported as done. */
function expectedBalances(
  deployment: BankDeployment,
  initialCents: number,
  done: readonly TransferRequest[],
) {
  const balances = new Map<Address, number>(deployment.accounts.map((at) => [at, initialCents]));
  for (const transfer of done) {
    balances.set(transfer.from, balances.get(transfer.from)! - transfer.amountCents);
    balances.set(transfer.to, balances.get(transfer.to)! + transfer.amountCents);
  }
  return balances;
}

function balancesNow(bank: Cluster): Map<Address, number> {
  const states = collectBankStates(bank.bankNodes, bank.deployment);
  return new Map(
    states.accounts.map(({ address: at, state }) => [
      at,
      (state as { context: { balanceCents: number } }).context.balanceCents,
    ]),
  );
}

describe('deployBank and bankRegistry', () => {
  it('spreads accounts round-robin over the nodes, puts one coordinator on each and knows every kind', () => {
    const bank = cluster({ accounts: 5, initialCents: 100 });
    expect(bank.deployment.accounts).toEqual([
      'n0/account-0',
      'n1/account-1',
      'n2/account-2',
      'n0/account-3',
      'n1/account-4',
    ]);
    expect(bank.deployment.coordinators).toEqual([
      'n0/transfer-coordinator',
      'n1/transfer-coordinator',
      'n2/transfer-coordinator',
    ]);
    expect(bank.deployment.totalCents).toBe(500);
    expect([...bankRegistry.keys()].sort()).toEqual(['account', 'bank-client', 'transfer-coordinator']);
    expect(invariantViolations(bank)).toEqual([]);
    expect(() => deployBank([], { accounts: 1, initialCents: 1 })).toThrow(RangeError);
  });

  it('the invariants catch what they claim to: a stopped account, a negative balance, money created', () => {
    const bank = cluster({ accounts: 2, initialCents: 100 });
    const states = collectBankStates(bank.bankNodes, bank.deployment);
    const forged = {
      ...states,
      accounts: [
        { address: states.accounts[0]!.address, state: { value: {}, context: { balanceCents: -1 } } },
        { address: states.accounts[1]!.address, state: { value: {}, context: { balanceCents: 250 } } },
      ],
    };
    expect(bankInvariants.noNegativeBalance(forged)).toEqual([`account n0/account-0 has balance -1 cents`]);
    expect(bankInvariants.conservation(forged)).toEqual([expect.stringContaining('more than the 200')]);
    bank.bankNodes[1]!.stopActor('account-1');
    expect(invariantViolations(bank)).toContain('account n1/account-1 is not running (stopped or failed)');
  });
});

describe('the bank across nodes over a MemoryNetwork', () => {
  it('random transfers (fast-check amounts): every one answered, balances match the reported outcomes, money conserved', async () => {
    const accounts = 6;
    const initialCents = 1_000;
    const transfer = fc.record({
      from: fc.nat({ max: accounts - 1 }),
      offset: fc.integer({ min: 1, max: accounts - 1 }),
      amountCents: fc.integer({ min: 1, max: 600 }),
      via: fc.nat({ max: BANK_NODES.length - 1 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(transfer, { minLength: 60, maxLength: 100 }), async (drawn) => {
        const bank = cluster({ accounts, initialCents });
        const { accounts: at, coordinators } = bank.deployment;
        const bodies: TransferRequest[] = drawn.map(({ from, offset, amountCents }) => ({
          type: 'transfer',
          from: at[from]!,
          to: at[(from + offset) % accounts]!,
          amountCents,
        }));
        // All at once: the coordinators hold many transfers in flight and interleave them.
        const promises = bodies.map((body, index) =>
          bank.client.request(coordinators[drawn[index]!.via]!, body),
        );
        const results = await settle(bank.clock, promises);
        const done: TransferRequest[] = [];
        results.forEach((result, index) => {
          expect(result.status).toBe('fulfilled');
          const reply = (result as PromiseFulfilledResult<Envelope>).value.body as TransferReply;
          expect(['transferred', 'insufficient-funds']).toContain(reply.type);
          if (reply.type === 'transferred') done.push(bodies[index]!);
        });
        expect(balancesNow(bank)).toEqual(expectedBalances(bank.deployment, initialCents, done));
        expect(unfinishedTransfers(collectBankStates(bank.bankNodes, bank.deployment))).toBe(0);
        expect(invariantViolations(bank)).toEqual([]);
        // The transfers really crossed the network: the client sent all its requests remotely.
        expect(bank.client.counters().sentRemote).toBe(bodies.length);
        await Promise.all(bank.nodes.map((node) => node.close()));
      }),
      { numRuns: 4 },
    );
  });

  it('bankWorkload (seeded): every request answered as its kind demands, bad ones refused, no actor lost', async () => {
    const seed = 20_240_601;
    const bank = cluster({ accounts: 8, initialCents: 5_000 });
    const workload = bankWorkload(seededRandom(seed), bank.deployment);
    const items = Array.from({ length: 300 }, () => workload.next().value);
    const results = await settle(
      bank.clock,
      items.map((item) => bank.client.request(item.target, item.body)),
    );
    const kinds = new Map<string, number>();
    results.forEach((result, index) => {
      const item = items[index]!;
      kinds.set(item.kind, (kinds.get(item.kind) ?? 0) + 1);
      expect(result.status, `seed ${seed}, request ${index}`).toBe('fulfilled');
      const reply = (result as PromiseFulfilledResult<Envelope>).value.body as TransferReply | AccountReply;
      const expected = {
        transfer: ['transferred', 'insufficient-funds'],
        balance: ['balance'],
        bad: ['invalid-request'],
      }[item.kind];
      expect(expected, `seed ${seed}, request ${index}: ${JSON.stringify(item.body)}`).toContain(reply.type);
    });
    expect(kinds.get('transfer')).toBeGreaterThan(200);
    expect(kinds.get('bad')).toBeGreaterThan(0);
    for (const node of bank.bankNodes) expect(node.actorIds().length).toBeGreaterThan(0);
    expect(bank.bankNodes.reduce((sum, node) => sum + node.actorIds().length, 0)).toBe(8 + 3);
    expect(invariantViolations(bank)).toEqual([]);
    expect(unfinishedTransfers(collectBankStates(bank.bankNodes, bank.deployment))).toBe(0);
  });

  it('under 20% frame loss the invariants hold after every step; once healed, every transfer finishes and every cent is there', async () => {
    const seed = 7;
    const random = seededRandom(seed);
    let lossRate = 0.2;
    const initialCents = 2_000;
    const bank = cluster(
      { accounts: 6, initialCents, coordinator: { retryAfterMs: 50, attemptsMax: 4 } },
      () => random() < lossRate,
    );
    const { accounts: at, coordinators } = bank.deployment;
    const bodies: TransferRequest[] = Array.from({ length: 120 }, (_, index) => {
      const from = Math.floor(random() * at.length);
      const to = (from + 1 + Math.floor(random() * (at.length - 1))) % at.length;
      return {
        type: 'transfer',
        transferId: `t${index}`,
        from: at[from]!,
        to: at[to]!,
        amountCents: 1 + Math.floor(random() * 900),
      };
    });
    const checkSafety = () => expect(invariantViolations(bank), `seed ${seed}`).toEqual([]);
    const send = (indexes: readonly number[]) =>
      settle(
        bank.clock,
        indexes.map((index) =>
          bank.client.request(coordinators[index % coordinators.length]!, bodies[index]!, {
            retryAfterMs: 200,
            attemptsMax: 5,
          }),
        ),
        checkSafety,
      );
    const final = new Map<number, TransferReply>();
    const record = (indexes: readonly number[], results: PromiseSettledResult<Envelope>[]) =>
      results.forEach((result, position) => {
        if (result.status !== 'fulfilled') return;
        const reply = result.value.body as TransferReply;
        if (reply.type === 'transferred' || reply.type === 'insufficient-funds')
          final.set(indexes[position]!, reply);
      });

    const everyIndex = bodies.map((_, index) => index);
    record(everyIndex, await send(everyIndex));
    const coordinatorCounters = () =>
      collectBankStates(bank.bankNodes, bank.deployment).coordinators.map(
        ({ state }) => (state as CoordinatorState).counters,
      );
    // The faults were real: frames were lost and coordinators had to resend steps.
    expect(coordinatorCounters().reduce((sum, counters) => sum + counters.resends, 0)).toBeGreaterThan(0);

    lossRate = 0;
    for (let round = 0; round < 5 && final.size < bodies.length; round++) {
      const unfinished = everyIndex.filter((index) => !final.has(index));
      record(unfinished, await send(unfinished));
    }
    expect(final.size, `seed ${seed}`).toBe(bodies.length);
    // Liveness after healing: nothing left in flight or in doubt, and the balances are exactly
    // what the reported outcomes say: no transfer applied twice, none lost.
    expect(unfinishedTransfers(collectBankStates(bank.bankNodes, bank.deployment))).toBe(0);
    const done = everyIndex
      .filter((index) => final.get(index)?.type === 'transferred')
      .map((index) => bodies[index]!);
    expect(balancesNow(bank)).toEqual(expectedBalances(bank.deployment, initialCents, done));
    expect(invariantViolations(bank)).toEqual([]);
  });

  it('durable: a coordinator node that crashes mid-transfer restarts from its disk and finishes the transfer, no cent lost', async () => {
    const disks = new Map(BANK_NODES.map((name) => [name, new Map<string, unknown>()] as const));
    let n2Reachable = false;
    const bank = cluster(
      { accounts: 3, initialCents: 1_000, durable: true },
      (target) => target === 'n2' && !n2Reachable,
      disks,
    );
    const [, from, to] = bank.deployment.accounts;
    const body: TransferRequest = {
      type: 'transfer',
      transferId: 't1',
      from: from!,
      to: to!,
      amountCents: 100,
    };
    const reply = bank.client.request(bank.deployment.coordinators[0]!, body, {
      retryAfterMs: 200,
      attemptsMax: 20,
    });
    for (let round = 0; round < 5; round++) await new Promise((resolve) => setImmediate(resolve));
    // n2 is unreachable, so the money has left account-1 and waits in the coordinator on n0's disk.
    const saved = disks.get('n0')!.get('transfer-coordinator') as CoordinatorState;
    expect(saved.active['t1']).toMatchObject({ phase: 'depositing' });

    // Crash n0 (its memory and timers are gone), heal the network, and start n0 again from its disk.
    const crashed = bank.bankNodes[0]!;
    await crashed.close();
    n2Reachable = true;
    const restarted = startNode('n0', 2, {
      clock: bank.clock,
      network: bank.network,
      drop: () => false,
      disk: disks.get('n0')!,
    });
    const disk = disks.get('n0')!;
    restarted.spawn(
      'account-0',
      account,
      { owner: 'owner-0', balanceCents: 1_000, durable: true },
      disk.get('account-0'),
    );
    restarted.spawn(COORDINATOR_NAME, transferCoordinator, { durable: true }, disk.get(COORDINATOR_NAME));
    bank.bankNodes[0] = restarted;

    const [result] = await settle(bank.clock, [reply], () => expect(invariantViolations(bank)).toEqual([]));
    expect(result).toMatchObject({
      status: 'fulfilled',
      value: { body: { ok: true, type: 'transferred', transferId: 't1' } },
    });
    expect([...balancesNow(bank).values()]).toEqual([1_000, 900, 1_100]);
    expect(unfinishedTransfers(collectBankStates(bank.bankNodes, bank.deployment))).toBe(0);
  });
});
