/**
 * The smallest topology of the replication tests: a client group of one (`c1`, or the members
 * given) calling a group of three (`b1`–`b3`) directly. The golden scenarios and the control-input
 * tests build on it.
 */
import type { ActorBehavior } from '@steadfast/runtime';
import { expect } from 'vitest';
import { receptionPolicy, type OrderingPolicy } from './policy.js';
import type { ReplicaRole } from './replica.js';
import type { ClusterGroup } from './simulation.js';
import type { ReplicationStyle } from './types.js';
import { client, ledger } from './workload.js';

export interface DirectGroupsOptions {
  readonly policy?: OrderingPolicy;
  /** Group B's actor: the ledger by default. */
  readonly behavior?: ActorBehavior;
  /** Group B's style: semi-active by default (the client group is always semi-active). */
  readonly style?: ReplicationStyle;
  readonly ledgerSettings?: ClusterGroup['settings'];
  readonly clientSettings?: ClusterGroup['settings'];
  /** Group C's members: `['c1']` by default; two when a test fails the client group over. */
  readonly clientMembers?: readonly string[];
}

/** Groups C (`c1` by default) and B (`b1`, `b2`, `b3`), each the other's peer. */
export function directGroups(options: DirectGroupsOptions = {}): ClusterGroup[] {
  const policy = options.policy ?? receptionPolicy;
  const { ledgerSettings, clientSettings } = options;
  return [
    {
      group: 'C',
      members: options.clientMembers ?? ['c1'],
      behavior: client,
      style: 'semi-active',
      policy,
      peers: ['B'],
      ...(clientSettings === undefined ? {} : { settings: clientSettings }),
    },
    {
      group: 'B',
      members: ['b1', 'b2', 'b3'],
      behavior: options.behavior ?? ledger,
      style: options.style ?? 'semi-active',
      policy,
      peers: ['C'],
      ...(ledgerSettings === undefined ? {} : { settings: ledgerSettings }),
    },
  ];
}

/**
 * `backup` fell behind once (`fell-behind`: its primary no longer kept what it lacked), started over
 * by one state transfer, and is a backup again at its primary's position, in its primary's state.
 */
export function expectCaughtUpByStateTransfer(primary: ReplicaRole, backup: ReplicaRole): void {
  expect(backup.counters.fellBehind).toBe(1);
  expect(backup.counters.stateTransfersApplied).toBe(1);
  expect(backup.role).toBe('backup');
  expect(backup.position).toBe(primary.position);
  expect(backup.actorState()).toEqual(primary.actorState());
}
