// End to end over real UDP processes (issue 4, claims 33, 36, 65): the example bank's account,
// replicated semi-actively on 3 node processes with membership supplying the views. SIGKILL of the
// primary while deposits are in flight: the group fails over to the next replica by rank, no
// deposit is lost or applied twice (the balance is exactly the sum of the deposits), and no reply
// reaches the client twice.
import { REPLICA_ACTOR_NAME } from '@steadfast/replication';
import { describe, expect, it } from 'vitest';
import { within } from './cli-kit.js';
import { startReplicationCluster, waitFor } from './replication-cluster.js';

describe('replica group of 3 real processes over UDP', () => {
  it('fails over when the primary is SIGKILLed under load, with every request applied exactly once', async () => {
    const replicated = await startReplicationCluster('semi-active');
    try {
      const before = await waitFor(() => replicated.primary(), 15_000, 'a primary');
      const deposit = async (index: number) => {
        replicated.issue({ type: 'deposit', operationId: `d${index}`, amountCents: 10 });
        return within(replicated.result(`d${index}`), 15_000);
      };
      for (let index = 0; index < 20; index++) expect(await deposit(index)).toBeDefined();
      // Four deposits in flight when the primary dies.
      const inFlight = [20, 21, 22, 23].map(deposit);
      replicated.cluster.kill(before.node);
      const afterKill = await Promise.all([...inFlight, ...[24, 25, 26, 27].map(deposit)]);
      expect(afterKill.every((result) => result !== undefined)).toBe(true);

      const after = await waitFor(() => replicated.primary(), 15_000, 'a new primary');
      expect(after.node).not.toBe(before.node);
      expect(after.epoch).toBeGreaterThan(before.epoch);

      replicated.issue({ type: 'balance', operationId: 'balance' });
      const balance = await replicated.result('balance');
      expect(balance.reply).toMatchObject({ balanceCents: 28 * 10 });
      const results = replicated.results();
      expect(Object.values(results).every((result) => result.count === 1)).toBe(true);

      // The surviving replicas hold the same state at the same position.
      const survivors = replicated.members.filter((id) => id !== before.node);
      const states = (await Promise.all(
        survivors.map((id) => replicated.cluster.inspect(id, REPLICA_ACTOR_NAME)),
      )) as Array<{
        role: string;
        position: number;
        digest: string;
      }>;
      await waitFor(
        async () => {
          const now = (await Promise.all(
            survivors.map((id) => replicated.cluster.inspect(id, REPLICA_ACTOR_NAME)),
          )) as typeof states;
          return now[0]!.position === now[1]!.position && now[0]!.digest === now[1]!.digest
            ? true
            : undefined;
        },
        5_000,
        'the survivors to agree',
      );
      expect(states.map((state) => state.role).sort()).toEqual(['backup', 'primary']);
    } finally {
      await replicated.close();
    }
  });
});

describe('a restarted replica rejoins by state transfer', () => {
  // The account remembers up to 256 operations: after 150 deposits its state is ~30 KB, more than a
  // 16 KiB frame. Before state transfers went in parts, a restarted replica asked for the state
  // forever and never served again.
  it('after 150 deposits, a SIGKILLed and restarted backup gets the state in parts and follows the primary', async () => {
    const replicated = await startReplicationCluster('semi-active');
    try {
      const primary = await waitFor(() => replicated.primary(), 15_000, 'a primary');
      let next = 0;
      const worker = async () => {
        while (next < 150) {
          const index = next++;
          replicated.issue({ type: 'deposit', operationId: `s${index}`, amountCents: 10 });
          await replicated.result(`s${index}`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      const backup = replicated.members.find((id) => id !== primary.node)!;
      replicated.cluster.kill(backup);
      await replicated.cluster.restart(backup);
      type ReplicaState = {
        role: string;
        position: number;
        digest: string;
        counters: { stateTransfersApplied: number; controlMessagesJoined: number };
      };
      const inspect = async (id: string) =>
        (await replicated.cluster.inspect(id, REPLICA_ACTOR_NAME)) as ReplicaState;
      // A few more deposits after the restart: the rejoined replica must follow them too.
      for (let index = 150; index < 160; index++) {
        replicated.issue({ type: 'deposit', operationId: `s${index}`, amountCents: 10 });
        await replicated.result(`s${index}`);
      }
      const rejoined = await waitFor(
        async () => {
          const [mine, theirs] = await Promise.all([inspect(backup), inspect(primary.node)]);
          return mine.role === 'backup' && mine.position === theirs.position && mine.digest === theirs.digest
            ? mine
            : undefined;
        },
        20_000,
        'the restarted replica to catch up with the primary',
      );
      expect(rejoined.counters.stateTransfersApplied).toBe(1);
      expect(rejoined.counters.controlMessagesJoined).toBeGreaterThanOrEqual(1);
      replicated.issue({ type: 'balance', operationId: 'balance' });
      expect((await replicated.result('balance')).reply).toMatchObject({ balanceCents: 160 * 10 });
    } finally {
      await replicated.close();
    }
  });
});

describe('passive replica group of 3 real processes over UDP', () => {
  // Before checkpoints were sent in parts, a passive primary's checkpoint of the account (which
  // remembers up to 256 operations) outgrew a 16 KiB frame after ~85 deposits; the encoder dropped
  // it on every retransmission and in-order delivery stalled everything behind it.
  it('keeps answering as checkpoints outgrow one frame, and across a SIGKILL of the primary', async () => {
    const replicated = await startReplicationCluster('passive');
    try {
      const before = await waitFor(() => replicated.primary(), 15_000, 'a primary');
      let next = 0;
      const answered: string[] = [];
      const worker = async (killAt: number) => {
        while (next < 150) {
          const index = next++;
          if (index === killAt) replicated.cluster.kill(before.node);
          replicated.issue({ type: 'deposit', operationId: `p${index}`, amountCents: 10 });
          const result = await within(replicated.result(`p${index}`), 15_000);
          if (result !== undefined) answered.push(`p${index}`);
        }
      };
      await Promise.all(Array.from({ length: 8 }, () => worker(120)));
      expect(answered).toHaveLength(150);
      replicated.issue({ type: 'balance', operationId: 'balance' });
      expect((await replicated.result('balance')).reply).toMatchObject({ balanceCents: 150 * 10 });
      expect(Object.values(replicated.results()).every((result) => result.count === 1)).toBe(true);
    } finally {
      await replicated.close();
    }
  });
});
