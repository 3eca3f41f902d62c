/**
 * `@steadfast/replication`: replica groups. Any actor deployed with `group(behavior, { replicas,
 * style, policy })` runs as a primary and backups that process the same inputs in the same order,
 * with order announcements piggybacked on messages sent anyway (seed
 * `primary-order-announcements.txt`) and replica supervisors (`replica-supervisors.txt`).
 * docs/replication.md describes the protocol, the host contract and what membership must provide.
 * The simulator harness is under `@steadfast/replication/testing` (tests and the CLI only).
 */
export * from './types.js';
export * from './policy.js';
export * from './sequence-set.js';
export * from './replica.js';
export * from './lifecycle.js';
export * from './view-source.js';
export * from './random.js';
export * from './workload.js';
export * from './group.js';
export * from './membership-relay.js';
export * from './wire-form.js';
