/**
 * A group of real node processes on loopback UDP plus a client node in this process: what
 * `bench failover`, `bench broadcast` and the end-to-end group tests run on.
 */
import { memberActorName, type MemberState } from '@steadfast/group';
import { type Node } from '@steadfast/runtime';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEDGER_MEMBER_KIND, type LedgerMemberInput, type LedgerState } from './group-app.js';
import {
  inspectLive,
  startClientNode,
  startProcessCluster,
  type ProcessCluster,
} from './host/process-cluster.js';

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
  const client = await startClientNode(cluster);

  const memberState = async (nodeId: string) =>
    (await inspectLive(cluster, nodeId, memberActorName(GROUP_NAME))) as MemberState | undefined;
  return {
    cluster,
    client: client.node,
    members,
    memberState,
    primary: () => majorityPrimary(members, memberState),
    async close() {
      await client.close();
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The primary and epoch that a majority of the members, in normal status, agree on (the primary of
 * epoch e is member e mod n of the configuration); undefined while no majority agrees.
 */
export async function majorityPrimary(
  members: readonly string[],
  memberState: (nodeId: string) => Promise<MemberState | undefined>,
): Promise<{ node: string; epoch: number } | undefined> {
  const votes = new Map<string, { node: string; epoch: number; count: number }>();
  for (const nodeId of members) {
    const state = await memberState(nodeId);
    if (state === undefined || state.status !== 'normal') continue;
    const node = state.configuration[state.epoch % state.configuration.length]!;
    const key = `${node}@${state.epoch}`;
    const vote = votes.get(key) ?? { node, epoch: state.epoch, count: 0 };
    vote.count++;
    votes.set(key, vote);
  }
  const best = [...votes.values()].sort((a, b) => b.count - a.count)[0];
  if (best === undefined || best.count < Math.floor(members.length / 2) + 1) return undefined;
  return { node: best.node, epoch: best.epoch };
}

export function ledgerOf(state: MemberState | undefined): LedgerState | undefined {
  return state?.appState as LedgerState | undefined;
}
