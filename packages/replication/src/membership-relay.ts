/**
 * The link between a node's membership member and its replica: one small actor per node, named
 * `VIEW_RELAY_ACTOR`, that real node processes and the simulations both host.
 *
 * Membership → replica:
 * - `group-view` (a view the member installed) becomes a `replica-view` command, with the epoch
 *   plus 1 (membership numbers epochs from 0, the multicast layer's epochs are positive);
 * - `group-outside` (the member found itself outside the newest configuration) becomes a
 *   `replica-outside` command: if the node is added back, its replica starts over by state transfer;
 * - `group-quorum` (whether the member, as primary, hears from a majority) becomes a
 *   `replica-quorum` command: a primary cut off from its group stops ordering.
 *
 * Replica → membership (the replica's `reportToLocal` names this actor):
 * - `diverged` becomes `remove-member` for that replica, so it leaves before it could be promoted;
 * - `refused-promotion` (named primary while it still waits for its state) becomes `step-down` for
 *   that epoch, so membership moves on to the next epoch and its next member by rank.
 *
 * Notices are taken from actors on this node only: a peer must not steer another node's membership.
 */
import {
  memberActorName,
  type GroupOutsideNotice,
  type GroupQuorumNotice,
  type GroupView,
  type GroupViewNotice,
  type RemoveMember,
  type StepDown,
} from '@steadfast/group';
import { defineActor, type ActorBehavior } from '@steadfast/runtime';
import { address, addressNode, type NodeId } from '@steadfast/wire';
import {
  REPLICA_ACTOR_NAME,
  replicaOutsideCommand,
  replicaQuorumCommand,
  replicaViewCommand,
  type ReplicaNotice,
} from './group.js';

/** The relay's actor name, the same on every node. */
export const VIEW_RELAY_ACTOR = 'view-relay';

/**
 * The relay actor's state: counts of what it passed on, each way (views, outside and quorum notices
 * to the replica; removals and step-downs to membership), and of what it ignored. It keeps no views.
 */
export interface MembershipRelayState {
  readonly views: number;
  readonly outside: number;
  /** `group-quorum` notices passed on. */
  readonly quorum: number;
  readonly removals: number;
  readonly stepDowns: number;
  /** Bodies that were none of the above, or came from another node. */
  readonly ignored: number;
}

/** Options of `membershipRelay`: the actor kind, and a hook that sees each view relayed. */
export interface MembershipRelayOptions {
  /** Default `replication-view-relay`; a registry hosts it by kind. */
  readonly kind?: string;
  /** Sees every view relayed, as it is relayed (test harnesses); changes nothing. */
  readonly onView?: (node: NodeId, view: GroupView) => void;
}

function typeOf(body: unknown): unknown {
  return typeof body === 'object' && body !== null ? (body as { type?: unknown }).type : undefined;
}

/**
 * The membership relay, to host as `VIEW_RELAY_ACTOR` on every node of a replicated group beside its
 * membership member (which notifies it) and its replica (started with `reportToLocal:
 * VIEW_RELAY_ACTOR`); this file's opening comment lists what it turns into what. A body from
 * another node, or of another type or shape, is ignored and counted (`ignored`).
 * docs/replication.md, "The membership relay".
 */
export function membershipRelay(options: MembershipRelayOptions = {}): ActorBehavior {
  return defineActor<MembershipRelayState>({
    kind: options.kind ?? 'replication-view-relay',
    initial: () => ({ views: 0, outside: 0, quorum: 0, removals: 0, stepDowns: 0, ignored: 0 }),
    handle(state, input, ctx) {
      if (input.type !== 'message') return state;
      const { body, source } = input.envelope;
      const ignored = { ...state, ignored: state.ignored + 1 };
      if (addressNode(source) !== ctx.node) return ignored;
      switch (typeOf(body)) {
        case 'group-view': {
          const notice = body as Partial<GroupViewNotice>;
          if (notice.view === undefined || typeof notice.group !== 'string') return ignored;
          const { epoch, members, primary } = notice.view;
          const view: GroupView = { group: notice.group, epoch: epoch + 1, members, primary };
          options.onView?.(ctx.node, view);
          ctx.send(address(ctx.node, REPLICA_ACTOR_NAME), replicaViewCommand(view));
          return { ...state, views: state.views + 1 };
        }
        case 'group-outside': {
          const notice = body as Partial<GroupOutsideNotice>;
          if (typeof notice.group !== 'string') return ignored;
          ctx.send(address(ctx.node, REPLICA_ACTOR_NAME), replicaOutsideCommand(notice.group));
          return { ...state, outside: state.outside + 1 };
        }
        case 'group-quorum': {
          const notice = body as Partial<GroupQuorumNotice>;
          if (typeof notice.group !== 'string' || typeof notice.heardFromMajority !== 'boolean')
            return ignored;
          ctx.send(
            address(ctx.node, REPLICA_ACTOR_NAME),
            replicaQuorumCommand(notice.group, notice.heardFromMajority),
          );
          return { ...state, quorum: state.quorum + 1 };
        }
        case 'diverged': {
          const notice = body as Extract<ReplicaNotice, { type: 'diverged' }>;
          if (typeof notice.group !== 'string' || typeof notice.replica !== 'string') return ignored;
          const request: RemoveMember = {
            type: 'remove-member',
            node: notice.replica,
            reason: `diverged at position ${notice.position}: ${notice.reason}`,
          };
          ctx.send(address(ctx.node, memberActorName(notice.group)), request);
          return { ...state, removals: state.removals + 1 };
        }
        case 'refused-promotion': {
          const notice = body as Extract<ReplicaNotice, { type: 'refused-promotion' }>;
          if (typeof notice.group !== 'string' || !Number.isSafeInteger(notice.epoch)) return ignored;
          const request: StepDown = {
            type: 'step-down',
            epoch: notice.epoch - 1,
            reason: 'the replica here waits for its state transfer',
          };
          ctx.send(address(ctx.node, memberActorName(notice.group)), request);
          return { ...state, stepDowns: state.stepDowns + 1 };
        }
        // Nothing for membership to do: every replica refused the input alike.
        case 'promoted':
        case 'input-failed':
          return state;
        default:
          return ignored;
      }
    },
  });
}
