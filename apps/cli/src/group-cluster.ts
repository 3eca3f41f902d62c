/**
 * A group of real node processes on loopback UDP plus a client node in this process: what
 * `bench failover`, `bench broadcast` and the end-to-end group tests run on.
 */
import { memberActorName, type MemberState } from '@steadfast/group';
import { UdpTransport } from '@steadfast/net';
import { Node, RealClock } from '@steadfast/runtime';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEDGER_MEMBER_KIND, type LedgerMemberInput, type LedgerState } from './group-app.js';
import { codecFromHex } from './host/node-process.js';
import { startProcessCluster, type ProcessCluster } from './host/process-cluster.js';

export const GROUP_NAME = 'ledger';

export interface GroupProcessCluster {
  readonly cluster: ProcessCluster;
  readonly client: Node;
  readonly members: readonly string[];
  /** The member's state (status, epoch, app state), or undefined when the node is down. */
  memberState(nodeId: string): Promise<MemberState | undefined>;
  /** The current primary as the live members see it: the one most of them name in normal status. */
  primary(): Promise<{ node: string; epoch: number } | undefined>;
  close(): Promise<void>;
}

export async function startGroupProcessCluster(memberCount = 3): Promise<GroupProcessCluster> {
  const members = Array.from({ length: memberCount }, (_, index) => `n${index + 1}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'steadfast-group-'));
  const input: LedgerMemberInput = { group: GROUP_NAME, members };
  const cluster = await startProcessCluster({
    nodeIds: members,
    app: 'group',
    dataDir,
    actorsFor: () => [{ name: memberActorName(GROUP_NAME), kind: LEDGER_MEMBER_KIND, input }],
  });
  const clock = new RealClock();
  const client = new Node({
    id: 'client',
    incarnation: Date.now(),
    clock,
    transport: await UdpTransport.bind(),
    codec: codecFromHex(cluster.keyHex),
    peers: cluster.peers,
  });
  const memberState = async (nodeId: string) => {
    if (!cluster.isAlive(nodeId)) return undefined;
    try {
      return (await cluster.inspect(nodeId, memberActorName(GROUP_NAME))) as MemberState | undefined;
    } catch {
      return undefined;
    }
  };
  return {
    cluster,
    client,
    members,
    memberState,
    async primary() {
      const votes = new Map<string, number>();
      let epochSeen = -1;
      for (const nodeId of members) {
        const state = await memberState(nodeId);
        if (state === undefined || state.status !== 'normal') continue;
        const primary = state.configuration[state.epoch % state.configuration.length]!;
        votes.set(`${primary}@${state.epoch}`, (votes.get(`${primary}@${state.epoch}`) ?? 0) + 1);
        epochSeen = Math.max(epochSeen, state.epoch);
      }
      const best = [...votes.entries()].sort((a, b) => b[1] - a[1])[0];
      if (best === undefined || best[1] < Math.floor(members.length / 2) + 1) return undefined;
      const [node, epoch] = best[0].split('@') as [string, string];
      return { node, epoch: Number(epoch) };
    },
    async close() {
      await client.close();
      clock.clearAll();
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function ledgerOf(state: MemberState | undefined): LedgerState | undefined {
  return state?.appState as LedgerState | undefined;
}
