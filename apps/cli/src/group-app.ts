/**
 * The group app that node processes host for `bench failover`, `bench broadcast` and the
 * end-to-end tests: a group member whose replicated application is a small ledger of what was
 * delivered (a count, the highest request number per client, a running digest), so a run can check
 * that every acknowledged op is in every survivor's state without keeping the whole log.
 */
import {
  groupMember,
  memberAddress,
  type BroadcastReply,
  type GroupApplication,
  type GroupSettings,
} from '@steadfast/group';
import type { ActorBehavior, Node } from '@steadfast/runtime';
import { addressNode, stableHash, type Address } from '@steadfast/wire';

export interface LedgerState {
  readonly applied: number;
  /** Client id → highest request number delivered (each client submits in order, one at a time). */
  readonly highestRequest: Readonly<Record<string, number>>;
  readonly digest: string;
}

export const ledgerApplication: GroupApplication<LedgerState> = {
  initial: () => ({ applied: 0, highestRequest: {}, digest: '' }),
  apply(state, op, meta) {
    const previous = state.highestRequest[meta.clientId] ?? 0;
    return {
      applied: state.applied + 1,
      highestRequest: { ...state.highestRequest, [meta.clientId]: Math.max(previous, meta.requestNumber) },
      digest: stableHash([state.digest, meta.opNumber, op]),
    };
  },
};

export const LEDGER_MEMBER_KIND = 'group-ledger-member';

export interface LedgerMemberInput {
  readonly group: string;
  readonly members: readonly string[];
  readonly settings?: Partial<GroupSettings>;
}

/** A group member whose configuration comes from its spawn input, so a registry can hold it. */
export const ledgerMember: ActorBehavior = {
  kind: LEDGER_MEMBER_KIND,
  start(ctx, input, restored) {
    const { group, members, settings } = input as LedgerMemberInput;
    return groupMember({
      group,
      members,
      application: ledgerApplication,
      ...(settings === undefined ? {} : { settings }),
    }).start(ctx, undefined, restored);
  },
};

export interface SubmitOutcome {
  readonly opNumber: number;
  /** The member that acknowledged it (the primary that ordered it). */
  readonly orderedBy: string;
  readonly latencyMs: number;
  readonly attempts: number;
}

/**
 * A client that submits ops to a group with one request outstanding: it follows `not-primary`
 * hints, moves on to the next member when one does not answer, and resends the same
 * (client id, request number) so the group orders each op once.
 */
export class GroupClient {
  private target = 0;
  private requestNumber = 0;

  constructor(
    private readonly node: Node,
    private readonly group: string,
    private readonly members: readonly string[],
    readonly clientId: string,
    private readonly retryAfterMs = 60,
  ) {}

  async submit(op: unknown, deadlineMs = 10_000): Promise<SubmitOutcome | undefined> {
    const requestNumber = ++this.requestNumber;
    const started = performance.now();
    let attempts = 0;
    while (performance.now() - started < deadlineMs) {
      attempts++;
      const member: Address = memberAddress(this.group, this.members[this.target % this.members.length]!);
      let reply: BroadcastReply;
      try {
        const envelope = await this.node.request(
          member,
          { type: 'broadcast', op, clientId: this.clientId, requestNumber },
          { retryAfterMs: this.retryAfterMs, attemptsMax: 1 },
        );
        reply = envelope.body as BroadcastReply;
      } catch {
        this.target++; // no answer: that member may be down
        continue;
      }
      switch (reply.type) {
        case 'broadcast-committed':
          return {
            opNumber: reply.opNumber,
            orderedBy: addressNode(member),
            latencyMs: performance.now() - started,
            attempts,
          };
        case 'not-primary': {
          const hinted = reply.primary === null ? -1 : this.members.indexOf(reply.primary);
          this.target = hinted >= 0 ? hinted : this.target + 1;
          if (reply.primary === null) await pause(10);
          break;
        }
        default:
          await pause(10); // no quorum or busy: a view change is under way
      }
    }
    return undefined;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
