// End to end over real UDP processes, two tiers (issue 4, claims 48, 65 – 69): a front group of 3
// processes calls the example bank's account, replicated on 3 more, synchronously for every request
// of the client group of one in this process. Each group has its own membership. SIGKILL of the
// front's primary and then of the accounts group's primary, each with deposits in flight:
// - every deposit is answered once and applied once (the balance is exactly the sum of them);
// - the survivors of each group agree (semi-active: position and state digest; passive: the
//   backup's log reaches the primary's position);
// - no replica of the front diverged, although the front reads the wall clock through `ctx.call`
//   in the handling of every synchronous reply: backups replay the primary's reading.
// Each style runs twice: as the network delivers, and with every datagram held 0 – 5 ms by its
// sender (`DelayingTransport`), so datagrams to one peer arrive out of order.
//
// The same chain with the simulations' ledger as its last tier, every other request one the ledger
// turns down (thrown in an action, or rejected before it runs), through the same two SIGKILLs:
// - each turned-down request is answered once, with a `RefusedReply` giving the reason, and the
//   front's synchronous call returns, so the front goes on serving (before `082b3b2` no reply
//   came and the front's group stopped for good);
// - no turned-down request took effect anywhere (the ledger's final total is the sum of the others),
//   and every other one took effect once.
import { isRefusedReply, REPLICA_ACTOR_NAME, type FailingRequest } from '@steadfast/replication';
import { describe, expect, it } from 'vitest';
import { within } from './cli-kit.js';
import { startChainCluster, waitFor, type ChainCluster } from './replication-cluster.js';

interface ReplicaInspection {
  readonly role: string;
  readonly position: number;
  /** The last position a replica could take over at (a passive backup replays its log to it). */
  readonly coverage: number;
  readonly digest: string;
  readonly counters: { readonly divergences: number };
}

async function inspectReplicas(chain: ChainCluster, nodes: readonly string[]): Promise<ReplicaInspection[]> {
  return (await Promise.all(
    nodes.map((node) => chain.cluster.inspect(node, REPLICA_ACTOR_NAME)),
  )) as ReplicaInspection[];
}

/**
 * Waits until the live replicas on `nodes` agree: semi-active ones hold the primary's position and
 * state digest; a passive backup holds the primary's position in its checkpoint and log (its state
 * is the last checkpoint's until it takes over).
 */
async function agreeing(
  chain: ChainCluster,
  nodes: readonly string[],
  style: 'semi-active' | 'passive',
  what: string,
): Promise<ReplicaInspection[]> {
  return waitFor(
    async () => {
      const replicas = await inspectReplicas(chain, nodes);
      const primary = replicas.find((replica) => replica.role === 'primary');
      if (primary === undefined) return undefined;
      const same = replicas.every((replica) =>
        style === 'semi-active'
          ? replica.position === primary.position && replica.digest === primary.digest
          : replica === primary || replica.coverage === primary.position,
      );
      return same ? replicas : undefined;
    },
    10_000,
    what,
  );
}

/** The survivors of each tier once they agree, after the SIGKILL of `killedFront` and `killedLedger`. */
async function survivorsAgreeing(
  chain: ChainCluster,
  killedFront: string,
  killedLedger: string,
  style: 'semi-active' | 'passive',
): Promise<{ fronts: ReplicaInspection[]; ledgers: ReplicaInspection[] }> {
  const survivors = (nodes: readonly string[], killed: string) => nodes.filter((node) => node !== killed);
  return {
    fronts: await agreeing(
      chain,
      survivors(chain.fronts, killedFront),
      style,
      "the front's survivors to agree",
    ),
    ledgers: await agreeing(
      chain,
      survivors(chain.ledgers, killedLedger),
      style,
      "the last tier's survivors to agree",
    ),
  };
}

describe('a replicated front calling a replicated account, 6 real processes over UDP', () => {
  for (const style of ['semi-active', 'passive'] as const)
    for (const delayMaxMs of [0, 5])
      it(`${style}${delayMaxMs > 0 ? `, each datagram held 0 – ${delayMaxMs} ms by its sender (reordered)` : ''}: SIGKILL of the front primary, then of the accounts primary, under load: every deposit answered and applied once`, async () => {
        const chain = await startChainCluster(
          style,
          delayMaxMs > 0 ? { delay: { minMs: 0, maxMs: delayMaxMs } } : {},
        );
        try {
          const front = await waitFor(() => chain.primary(), 20_000, "the front's primary");
          const ledger = await waitFor(() => chain.ledgerPrimary(), 20_000, "the accounts group's primary");
          const deposit = async (index: number) => {
            chain.issue({ type: 'deposit', operationId: `d${index}`, amountCents: 10 });
            return within(chain.result(`d${index}`), 20_000);
          };
          for (let index = 0; index < 10; index++) expect(await deposit(index)).toBeDefined();

          // Four deposits in flight when the front's primary dies, four more after.
          const frontInFlight = [10, 11, 12, 13].map(deposit);
          chain.cluster.kill(front.node);
          await Promise.all([...frontInFlight, ...[14, 15, 16, 17].map(deposit)]);
          const nextFront = await waitFor(() => chain.primary(), 20_000, "the front's next primary");
          expect(nextFront.node).not.toBe(front.node);

          // The same at the accounts group.
          const ledgerInFlight = [18, 19, 20, 21].map(deposit);
          chain.cluster.kill(ledger.node);
          await Promise.all([...ledgerInFlight, ...[22, 23, 24, 25].map(deposit)]);
          const nextLedger = await waitFor(
            () => chain.ledgerPrimary(),
            20_000,
            "the accounts group's next primary",
          );
          expect(nextLedger.node).not.toBe(ledger.node);

          chain.issue({ type: 'balance', operationId: 'balance' });
          const balance = await within(chain.result('balance'), 20_000);
          expect(balance?.reply).toMatchObject({ balanceCents: 26 * 10 });
          expect(Object.values(chain.results()).every((result) => result.count === 1)).toBe(true);

          const { fronts, ledgers } = await survivorsAgreeing(chain, front.node, ledger.node, style);
          expect(fronts.map((replica) => replica.role).sort()).toEqual(['backup', 'primary']);
          expect(fronts.every((replica) => replica.counters.divergences === 0)).toBe(true);
          expect(ledgers.map((replica) => replica.role).sort()).toEqual(['backup', 'primary']);
        } finally {
          await chain.close();
        }
      });
});

describe('a replicated front calling a replicated ledger that turns requests down, 6 real processes over UDP', () => {
  // Requests 1, 5, 9 … throw in the ledger's action; 3, 7, 11 … are rejected before it runs.
  const failOf = (index: number): FailingRequest | undefined =>
    index % 4 === 1 ? 'throw' : index % 4 === 3 ? 'reject' : undefined;
  const requests = 26;

  for (const style of ['semi-active', 'passive'] as const)
    it(`${style}: every turned-down request answered once with a refusal, applied nowhere, across SIGKILLs of both primaries`, async () => {
      const chain = await startChainCluster(style, { ledgerService: 'workload-ledger' });
      try {
        const front = await waitFor(() => chain.primary(), 20_000, "the front's primary");
        const ledger = await waitFor(() => chain.ledgerPrimary(), 20_000, "the ledger group's primary");
        const add = async (index: number) => {
          const fail = failOf(index);
          chain.issue({
            type: 'add',
            operationId: `a${index}`,
            amount: index + 1,
            ...(fail ? { fail } : {}),
          });
          return within(chain.result(`a${index}`), 20_000);
        };
        for (let index = 0; index < 8; index++) expect(await add(index)).toBeDefined();

        const frontInFlight = [8, 9, 10, 11].map(add);
        chain.cluster.kill(front.node);
        await Promise.all([...frontInFlight, ...[12, 13, 14, 15].map(add)]);
        expect((await waitFor(() => chain.primary(), 20_000, "the front's next primary")).node).not.toBe(
          front.node,
        );

        const ledgerInFlight = [16, 17, 18, 19].map(add);
        chain.cluster.kill(ledger.node);
        await Promise.all([...ledgerInFlight, ...[20, 21, 22, 23, 24, 25].map(add)]);
        const nextLedger = await waitFor(
          () => chain.ledgerPrimary(),
          20_000,
          "the ledger group's next primary",
        );
        expect(nextLedger.node).not.toBe(ledger.node);

        const results = chain.results();
        let appliedSum = 0;
        for (let index = 0; index < requests; index++) {
          const result = results[`a${index}`];
          expect(result?.count, `answers to a${index}`).toBe(1);
          const fail = failOf(index);
          if (fail === undefined) {
            expect(result?.reply, `a${index}`).toMatchObject({ type: 'added', key: `a${index}` });
            appliedSum += index + 1;
          } else {
            expect(isRefusedReply(result?.reply), `a${index} refused`).toBe(true);
            expect(result?.reply).toMatchObject({ reason: fail === 'throw' ? 'failed' : 'rejected' });
          }
        }
        // An add of 0 reads the total: the turned-down requests added nothing, the others once each.
        chain.issue({ type: 'add', operationId: 'total', amount: 0 });
        expect((await within(chain.result('total'), 20_000))?.reply).toMatchObject({
          type: 'added',
          total: appliedSum,
        });

        const { fronts, ledgers } = await survivorsAgreeing(chain, front.node, ledger.node, style);
        expect([...fronts, ...ledgers].every((replica) => replica.counters.divergences === 0)).toBe(true);
      } finally {
        await chain.close();
      }
    });
});
