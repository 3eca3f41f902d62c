/**
 * Views from the real membership layer for the replication simulation: what a real node process
 * runs (apps/cli/src/replication-app.ts). Each node of a replicated group hosts three actors: the
 * membership relay (`membershipRelay`), the replica, and the group's membership member
 * (`groupMember` with `autoMembership`, so views exclude crashed members and restarted ones ask back
 * in) that notifies the relay of every view it installs and of finding itself outside. The relay
 * also carries the replica's `diverged` and `refused-promotion` notices back to the member.
 */
import {
  groupMember,
  memberActorName,
  type GroupApplication,
  type GroupSettings,
  type GroupView,
} from '@steadfast/group';
import type { ActorBehavior, Node } from '@steadfast/runtime';
import type { SetupContext } from '@steadfast/sim';
import type { NodeId } from '@steadfast/wire';
import { membershipRelay, VIEW_RELAY_ACTOR } from '../membership-relay.js';

export { VIEW_RELAY_ACTOR };

/**
 * Membership orders no operations for replication (the replicas order their own inputs): its
 * application only has to exist, and its state stays empty.
 */
const noApplication: GroupApplication<null> = {
  initial: () => null,
  apply: (state) => state,
};

/**
 * The relay real nodes run (`membershipRelay`), with `onView` letting the harness see every view a
 * node relays (it never changes what is relayed).
 */
export function membershipViewRelay(onView?: (node: NodeId, view: GroupView) => void): ActorBehavior {
  return membershipRelay({ kind: 'replication-sim-view-relay', ...(onView === undefined ? {} : { onView }) });
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
