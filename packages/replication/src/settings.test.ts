// Bad configuration is a clear error at the replica's creation, naming the setting, never a replica
// that runs with a nonsense bound (a negative or NaN delay would relay or hash on every message, or
// never). Invariant: every numeric setting the role checks refuses values outside its range and
// accepts its default.
import { SimulatedClock } from '@steadfast/runtime';
import { nodeId } from '@steadfast/wire';
import { describe, expect, it } from 'vitest';
import { receptionPolicy } from './policy.js';
import { ReplicaRole } from './replica.js';
import type { ReplicationSettings } from './types.js';
import { ledger } from './workload.js';

function role(settings: Partial<ReplicationSettings>): ReplicaRole {
  return new ReplicaRole(
    {
      group: 'B',
      self: nodeId('b1'),
      incarnation: 1,
      behavior: ledger,
      style: 'semi-active',
      policy: receptionPolicy,
      peers: [],
      settings,
    },
    { clock: new SimulatedClock(), entropy: { random: () => 0.5, id: () => 'id' } },
  );
}

describe('replica settings', () => {
  it('accepts the defaults and a zero delay', () => {
    expect(() => role({})).not.toThrow();
    expect(() => role({ relayAfterMs: 0, digestIntervalMs: 0, stuckAskMs: 0 })).not.toThrow();
  });

  it.each([
    ['relayAfterMs', -1, 'relayAfterMs must be a finite number of milliseconds, 0 or more'],
    ['relayAfterMs', Number.NaN, 'relayAfterMs must be a finite number of milliseconds, 0 or more'],
    ['digestIntervalMs', Number.POSITIVE_INFINITY, 'digestIntervalMs must be a finite number'],
    ['stuckAskMs', -500, 'stuckAskMs must be a finite number of milliseconds, 0 or more'],
    ['announceBatchMax', 0, 'announceBatchMax must be a positive integer'],
    ['piggybackCharsMax', 1.5, 'piggybackCharsMax must be a positive integer'],
  ] as const)('refuses %s = %s with a RangeError naming it', (name, value, message) => {
    expect(() => role({ [name]: value })).toThrow(RangeError);
    expect(() => role({ [name]: value })).toThrow(message);
  });
});
