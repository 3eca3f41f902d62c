/**
 * `@steadfast/group`: group communication. Group membership and atomic broadcast (the group member:
 * failure detector, views installed by a majority, total order through the primary, joins and leaves;
 * docs/group-membership.md) and reliable multicast connections between two groups (the pure endpoint
 * role and its wire form; docs/group-multicast.md). The simulation harnesses are under
 * `@steadfast/group/testing` (tests and the CLI only).
 */
export * from './membership/index.js';
export * from './multicast/index.js';
