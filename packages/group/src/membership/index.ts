/**
 * Group membership and atomic broadcast: the group member actor (failure detector with suspicion,
 * epoch-numbered views installed by a majority, recovery of restarted members, state transfer,
 * total-order broadcast through the primary, joins and leaves through the log, view notices to a
 * local actor), its messages and settings.
 *
 * The simulation harness lives in `@steadfast/group/testing`: it imports `@steadfast/sim`, a test
 * tool, which code that only needs the member must not pull in.
 */
export {
  groupMember,
  groupMemberCore,
  memberActorName,
  memberAddress,
  GROUP_MEMBER_KIND,
  type DeliveryMeta,
  type GroupApplication,
  type GroupMemberOptions,
  type MemberEvent,
} from './member.js';
export * from './messages.js';
export { GROUP_DEFAULTS, groupSettings, type GroupSettings } from './settings.js';
export {
  applyChange,
  majorityOf,
  primaryOf,
  viewOf,
  type MemberCounters,
  type MemberState,
  type MemberStatus,
  type PendingReconfiguration,
  type Transfer,
  type View,
} from './state.js';
