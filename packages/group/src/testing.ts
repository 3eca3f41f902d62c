/**
 * `@steadfast/group/testing`: simulation harnesses for the group layer (they import the simulator,
 * so production code imports `@steadfast/group` instead).
 */
export {
  CLIENT_ACTOR_NAME,
  digestApplication,
  groupClient,
  groupCluster,
  groupOperator,
  OPERATOR_ACTOR_NAME,
  groupInvariants,
  groupLiveness,
  GroupRecorder,
  groupReplayCommand,
  runGroupSimulation,
  type GroupCluster,
  type GroupClusterOptions,
  type GroupSimulationOptions,
  type GroupSimulationResult,
  type GroupViolation,
  type MembershipChangeRequest,
  type OperatorInput,
  type OperatorState,
  type ObservedDelivery,
  type ObservedView,
} from './membership/testing/simulation.js';
export {
  MULTICAST_GROUPS,
  runMulticastSimulation,
  type MulticastSimulationResult,
} from './multicast/testing/simulation.js';
