// Real node processes over loopback UDP: a node killed with SIGKILL and restarted resumes its
// durable actors from its LMDB store under a new incarnation, on the same address, and the bank
// keeps every acknowledged transfer (no acknowledged write is lost across a crash).
import { bankAccountAddresses, bankActorSpecs, COORDINATOR_NAME } from '@steadfast/example-bank';
import { UdpTransport } from '@steadfast/net';
import { Node, RealClock } from '@steadfast/runtime';
import { address } from '@steadfast/wire';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codecFromHex } from './node-process.js';
import { startProcessCluster } from './process-cluster.js';

describe('process cluster', () => {
  it('restarts a SIGKILLed node with its durable actors intact and a new incarnation', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'steadfast-cluster-test-'));
    const nodeIds = ['n1', 'n2', 'n3'];
    const options = { accounts: 3, initialCents: 1_000, durable: true };
    const cluster = await startProcessCluster({
      nodeIds,
      dataDir,
      actorsFor: (nodeId) => bankActorSpecs(nodeId, nodeIds, options),
    });
    const clock = new RealClock();
    const client = new Node({
      id: 'client',
      incarnation: 1,
      clock,
      transport: await UdpTransport.bind(),
      codec: codecFromHex(cluster.keyHex),
      peers: cluster.peers,
    });
    try {
      const [a0, a1] = bankAccountAddresses(nodeIds, 3);
      const transfer = (index: number) =>
        client.request(address('n1', COORDINATOR_NAME), {
          type: 'transfer',
          transferId: `t${index}`,
          from: a0,
          to: a1,
          amountCents: 10,
        });
      for (let index = 0; index < 5; index++) {
        expect((await transfer(index)).body).toMatchObject({ ok: true, type: 'transferred' });
      }
      // account-1 lives on n2: crash it, restart it, and read its balance back.
      const pidBefore = cluster.pid('n2');
      cluster.kill('n2');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(cluster.isAlive('n2')).toBe(false);
      await cluster.restart('n2');
      expect(cluster.pid('n2')).not.toBe(pidBefore);
      const balance = await client.request(a1!, { type: 'balance' });
      expect(balance.body).toMatchObject({ balanceCents: 1_050 });
      // A transfer after the restart works, and a retransmitted transfer id is not applied twice.
      expect((await transfer(5)).body).toMatchObject({ ok: true });
      expect((await transfer(5)).body).toMatchObject({ ok: true });
      const after = (await cluster.inspect('n2', 'account-1')) as { context: { balanceCents: number } };
      expect(after.context.balanceCents).toBe(1_060);
    } finally {
      await client.close();
      clock.clearAll();
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
