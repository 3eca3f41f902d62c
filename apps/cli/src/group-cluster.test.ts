// End to end over real UDP processes (issue 3): SIGKILL the primary of a 3-member group; the
// survivors install a view with a new primary (hdc claims 10-12) and keep ordering, every op
// acknowledged before or after the crash is in every survivor's state, and the survivors agree
// on the order (same digest). The killed node restarts as a new incarnation and catches up.
import { describe, expect, it } from 'vitest';
import { GroupClient } from './group-app.js';
import { GROUP_NAME, ledgerOf, startGroupProcessCluster, type GroupProcessCluster } from './group-cluster.js';

async function settle(group: GroupProcessCluster): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const states = (await Promise.all(group.members.map((id) => group.memberState(id)))).filter(
      (s) => s !== undefined,
    );
    if (
      states.length > 0 &&
      states.every((s) => s.status === 'normal' && s.commitNumber === states[0]!.commitNumber)
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('members did not settle within 5 s');
}

async function primaryOf(group: GroupProcessCluster) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const primary = await group.primary();
    if (primary !== undefined) return primary;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('no primary within 10 s');
}

describe('group of 3 real processes over UDP', () => {
  it('survives a SIGKILL of its primary: new view, ordering goes on, nothing acknowledged is lost', async () => {
    const group = await startGroupProcessCluster(3);
    try {
      const client = new GroupClient(group.client, GROUP_NAME, group.members, 'e2e');
      const before = await primaryOf(group);
      for (let index = 0; index < 20; index++) expect(await client.submit({ index })).toBeDefined();

      group.cluster.kill(before.node);
      const orderedBy = new Set<string>();
      for (let index = 20; index < 40; index++) {
        const outcome = await client.submit({ index });
        expect(outcome).toBeDefined();
        orderedBy.add(outcome!.orderedBy);
      }
      const after = await primaryOf(group);
      expect(after.epoch).toBeGreaterThan(before.epoch);
      expect(after.node).not.toBe(before.node);
      expect(orderedBy.has(before.node)).toBe(false);

      await settle(group);
      const survivors = group.members.filter((id) => id !== before.node);
      const ledgers = await Promise.all(survivors.map(async (id) => ledgerOf(await group.memberState(id))));
      for (const ledger of ledgers) {
        expect(ledger?.highestRequest.e2e).toBe(40);
        expect(ledger?.digest).toBe(ledgers[0]?.digest);
      }

      // The killed node comes back as a new incarnation and catches up to the same state.
      await group.cluster.restart(before.node);
      expect(await client.submit({ index: 40 })).toBeDefined();
      await settle(group);
      const rejoined = ledgerOf(await group.memberState(before.node));
      const survivor = ledgerOf(await group.memberState(survivors[0]!));
      expect(rejoined?.highestRequest.e2e).toBe(41);
      expect(rejoined?.digest).toBe(survivor?.digest);
    } finally {
      await group.close();
    }
  });
});
