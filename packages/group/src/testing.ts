/**
 * `@steadfast/group/testing`: simulation harnesses for the group layer (they import the simulator,
 * so production code imports `@steadfast/group` instead).
 */
export {
  CLIENT_ACTOR_NAME,
  digestApplication,
  groupClient,
  groupCluster,
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
  type ObservedDelivery,
  type ObservedView,
} from './membership/testing/simulation.js';
