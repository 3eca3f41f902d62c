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
//
// The chain again, with the front giving up on a synchronous reply after 300 ms
// (`syncReplyTimeoutMs`), and the accounts group's three processes SIGKILLed after three deposits:
// - every later request is answered exactly once, with a `ReplyTimeout`, and the front goes on
//   serving (without the setting it would wait for good for a group that is gone);
// - the same across a SIGKILL of the front's primary while a call waits: its successor sets the
//   delay again (without that, the waiting call and every later one go unanswered: the test fails);
// - the front's survivors processed the same order, the timeouts included, and none diverged.
import {
  isRefusedReply,
  isReplyTimeout,
  REPLICA_ACTOR_NAME,
  type FailingRequest,
} from '@steadfast/replication';
import { describe, expect, it } from 'vitest';
import { within } from './cli-kit.js';
import { startChainCluster, waitFor, type ChainCluster } from './replication-cluster.js';

interface ReplicaInspection {
  readonly role: string;
  readonly position: number;
  /** The last position a replica could take over at (a passive backup replays its log to it). */
  readonly coverage: number;
  readonly digest: string;
  readonly counters: { readonly divergences: number; readonly replyTimeouts: number };
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

/** How many requests `throughBothKills` asks, indexes 0 to 25. */
const REQUESTS_THROUGH_KILLS = 26;

/**
 * The load and faults both tests put the chain through, 26 requests by index: 10 one at a time, then
 * 4 in flight when the front's primary is SIGKILLed and 4 more after, then the same at the last
 * tier. Each tier must have a new primary after its kill. Returns the two killed nodes.
 */
async function throughBothKills(
  chain: ChainCluster,
  ask: (index: number) => Promise<unknown>,
): Promise<{ front: string; ledger: string }> {
  const front = await waitFor(() => chain.primary(), 20_000, "the front's primary");
  const ledger = await waitFor(() => chain.ledgerPrimary(), 20_000, "the last tier's primary");
  for (let index = 0; index < 10; index++) expect(await ask(index)).toBeDefined();

  // Four requests in flight when the front's primary dies, four more after.
  const frontInFlight = [10, 11, 12, 13].map(ask);
  chain.cluster.kill(front.node);
  await Promise.all([...frontInFlight, ...[14, 15, 16, 17].map(ask)]);
  const nextFront = await waitFor(() => chain.primary(), 20_000, "the front's next primary");
  expect(nextFront.node).not.toBe(front.node);

  // The same at the last tier.
  const ledgerInFlight = [18, 19, 20, 21].map(ask);
  chain.cluster.kill(ledger.node);
  await Promise.all([...ledgerInFlight, ...[22, 23, 24, 25].map(ask)]);
  const nextLedger = await waitFor(() => chain.ledgerPrimary(), 20_000, "the last tier's next primary");
  expect(nextLedger.node).not.toBe(ledger.node);
  return { front: front.node, ledger: ledger.node };
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
          const deposit = async (index: number) => {
            chain.issue({ type: 'deposit', operationId: `d${index}`, amountCents: 10 });
            return within(chain.result(`d${index}`), 20_000);
          };
          const killed = await throughBothKills(chain, deposit);

          chain.issue({ type: 'balance', operationId: 'balance' });
          const balance = await within(chain.result('balance'), 20_000);
          expect(balance?.reply).toMatchObject({ balanceCents: REQUESTS_THROUGH_KILLS * 10 });
          expect(Object.values(chain.results()).every((result) => result.count === 1)).toBe(true);

          const { fronts, ledgers } = await survivorsAgreeing(chain, killed.front, killed.ledger, style);
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

  for (const style of ['semi-active', 'passive'] as const)
    it(`${style}: every turned-down request answered once with a refusal, applied nowhere, across SIGKILLs of both primaries`, async () => {
      const chain = await startChainCluster(style, { ledgerService: 'workload-ledger' });
      try {
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
        const killed = await throughBothKills(chain, add);

        const results = chain.results();
        let appliedSum = 0;
        for (let index = 0; index < REQUESTS_THROUGH_KILLS; index++) {
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

        const { fronts, ledgers } = await survivorsAgreeing(chain, killed.front, killed.ledger, style);
        expect([...fronts, ...ledgers].every((replica) => replica.counters.divergences === 0)).toBe(true);
      } finally {
        await chain.close();
      }
    });
});

describe('a replicated front whose callee group is gone, 6 real processes over UDP', () => {
  // The front gives up on the accounts group's reply after this long (`syncReplyTimeoutMs`).
  const REPLY_TIMEOUT_MS = 300;

  for (const style of ['semi-active', 'passive'] as const)
    it(`${style}: with the accounts group's three processes SIGKILLed, the front answers each request once with a ReplyTimeout after ${REPLY_TIMEOUT_MS} ms, and goes on doing so across a SIGKILL of its own primary`, async () => {
      const chain = await startChainCluster(style, {
        frontSettings: { syncReplyTimeoutMs: REPLY_TIMEOUT_MS },
      });
      try {
        const deposit = async (operationId: string) => {
          chain.issue({ type: 'deposit', operationId, amountCents: 10 });
          return within(chain.result(operationId), 20_000);
        };
        const front = await waitFor(() => chain.primary(), 20_000, "the front's primary");
        await waitFor(() => chain.ledgerPrimary(), 20_000, "the accounts group's primary");
        // While the accounts group serves, no wait runs out.
        for (const operationId of ['d0', 'd1', 'd2'])
          expect((await deposit(operationId))?.reply).toMatchObject({ type: 'deposited', ok: true });

        for (const ledger of chain.ledgers) chain.cluster.kill(ledger);
        // Each synchronous call now waits for a reply that never comes: the front gives up on it and
        // answers the client with the timeout (one call at a time: claim 48).
        const gone = await Promise.all(['g0', 'g1', 'g2'].map(deposit));
        // The front's primary dies while a call waits: the new primary sets the delay again.
        const waitingAtKill = ['k0', 'k1'].map(deposit);
        await sleep(REPLY_TIMEOUT_MS / 3);
        chain.cluster.kill(front.node);
        const afterKill = await Promise.all([...waitingAtKill, ...['k2', 'k3'].map(deposit)]);
        const nextFront = await waitFor(() => chain.primary(), 20_000, "the front's next primary");
        expect(nextFront.node).not.toBe(front.node);

        for (const result of [...gone, ...afterKill]) {
          expect(isReplyTimeout(result?.reply), JSON.stringify(result?.reply)).toBe(true);
          expect(result?.reply).toMatchObject({ afterMs: REPLY_TIMEOUT_MS });
        }
        // Every request answered exactly once, the timed-out ones included.
        expect(Object.keys(chain.results()).sort()).toEqual(
          ['d0', 'd1', 'd2', 'g0', 'g1', 'g2', 'k0', 'k1', 'k2', 'k3'].sort(),
        );
        expect(Object.values(chain.results()).every((result) => result.count === 1)).toBe(true);

        // The front's survivors processed the same order (timeouts included) into the same state
        // (passive: the backup's log reaches the primary's position).
        const fronts = await agreeing(
          chain,
          chain.fronts.filter((node) => node !== front.node),
          style,
          "the front's survivors to agree",
        );
        expect(fronts.map((replica) => replica.role).sort()).toEqual(['backup', 'primary']);
        for (const replica of fronts) {
          expect(replica.counters.divergences).toBe(0);
          // Each survivor that processes processed the timeouts of the calls made after the accounts
          // group died (those before the front's failover too, from the old primary's entries); a
          // passive backup only logs them.
          if (style === 'semi-active' || replica.role === 'primary')
            expect(replica.counters.replyTimeouts).toBeGreaterThanOrEqual(7);
        }
      } finally {
        await chain.close();
      }
    });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
