/**
 * Views from the real membership layer for the replication simulation: what a real node process
 * runs (apps/cli/src/replication-app.ts), rebuilt here because test code must not import an app.
 * Each node of a replicated group hosts three actors: a view relay, the replica, and the group's
 * membership member (`groupMember` with `autoMembership`, so views exclude crashed members and
 * restarted ones ask back in) that notifies the relay of every view it installs. The relay turns
 * each `group-view` notice into a `replica-view` command for the replica on its node.
 */
import {
  groupMember,
  memberActorName,
  type GroupApplication,
  type GroupSettings,
  type GroupView,
  type GroupViewNotice,
} from '@steadfast/group';
import { defineActor, type ActorBehavior, type Node } from '@steadfast/runtime';
import type { SetupContext } from '@steadfast/sim';
import { address, type NodeId } from '@steadfast/wire';
import { REPLICA_ACTOR_NAME, replicaViewCommand } from '../group.js';

/** The relay's actor name, as on real nodes. */
export const VIEW_RELAY_ACTOR = 'view-relay';

/**
 * Membership orders no operations for replication (the replicas order their own inputs): its
 * application only has to exist, and its state stays empty.
 */
const noApplication: GroupApplication<null> = {
  initial: () => null,
  apply: (state) => state,
};

/**
 * The relay: a `group-view` notice (membership's epochs start at 0) becomes a `replica-view`
 * command with the epoch plus 1 (the multicast layer's epochs are positive), as on real nodes.
 * `onView` lets the harness see every view a node relays (it never changes what is relayed).
 */
export function membershipViewRelay(onView?: (node: NodeId, view: GroupView) => void): ActorBehavior {
  return defineActor<{ relayed: number }>({
    kind: 'replication-sim-view-relay',
    initial: () => ({ relayed: 0 }),
    handle(state, input, ctx) {
      if (input.type !== 'message') return state;
      const notice = input.envelope.body as Partial<GroupViewNotice>;
      if (notice.type !== 'group-view' || notice.view === undefined || notice.group === undefined)
        return state;
      const { epoch, members, primary } = notice.view;
      const view: GroupView = { group: notice.group, epoch: epoch + 1, members, primary };
      onView?.(ctx.node, view);
      ctx.send(address(ctx.node, REPLICA_ACTOR_NAME), replicaViewCommand(view));
      return { relayed: state.relayed + 1 };
    },
  });
}

export interface MembershipPlan {
  readonly group: string;
  /** The group's initial configuration, in rank order. */
  readonly members: readonly string[];
}

/**
 * The membership member of each replicated group, with `autoMembership` on (as real nodes run it:
 * replica groups need views without crashed members, since a flush waits for every view member)
 * and notices to the relay.
 */
export function membershipMembers(
  plans: readonly MembershipPlan[],
  settings?: Partial<GroupSettings>,
): Map<string, ActorBehavior> {
  return new Map(
    plans.map((plan) => [
      plan.group,
      groupMember({
        group: plan.group,
        members: plan.members,
        application: noApplication,
        notify: VIEW_RELAY_ACTOR,
        settings: { autoMembership: true, ...settings },
      }),
    ]),
  );
}

/**
 * The latest view of each group anywhere: epochs are installed by a majority, so the highest epoch
 * relayed by any node is the group's current view. The harness reads it to find a group's primary
 * (to offer client commands, and for the end checks).
 */
export class RelayedViews {
  private readonly views = new Map<string, GroupView>();

  record(view: GroupView): void {
    const known = this.views.get(view.group);
    if (known === undefined || view.epoch > known.epoch) this.views.set(view.group, view);
  }

  current(group: string): GroupView | undefined {
    return this.views.get(group);
  }
}

/**
 * Spawns the relay before the replica, so the replica's first view never reaches a missing
 * actor; `spawnMember` then spawns the member (restored from its disk after a restart: membership
 * persists its epoch, log and configuration).
 */
export function spawnRelay(node: Node, relay: ActorBehavior): void {
  node.spawn(VIEW_RELAY_ACTOR, relay);
}

export function spawnMember(node: Node, group: string, member: ActorBehavior, context: SetupContext): void {
  const name = memberActorName(group);
  node.spawn(name, member, undefined, context.restart ? context.actorDisk.get(name) : undefined);
}
