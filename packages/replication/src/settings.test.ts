// Bad configuration is a clear error at the replica's creation, naming the setting, never a replica
// that runs with a nonsense bound (a negative or NaN delay would relay or hash on every message, or
// never). Invariant: every setting refuses values outside its range (and a name the role does not
// know) and accepts its default and any value within its range.
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
    ['inputsMax', -1, 'inputsMax must be a positive integer, got -1'],
    ['historyMax', Number.NaN, 'historyMax must be a positive integer, got NaN'],
    ['peerAnnouncementsMax', 0, 'peerAnnouncementsMax must be a positive integer, got 0'],
    ['processBatchMax', '64', 'processBatchMax must be a positive integer, got 64'],
    ['announceDelayMs', -2, 'announceDelayMs must be a finite number of milliseconds, 0 or more, got -2'],
    ['processDelayMs', '0', 'processDelayMs must be a finite number of milliseconds, 0 or more, got 0'],
    ['recoveryWaitMs', 0, 'recoveryWaitMs must be a finite number of milliseconds, above 0, got 0'],
    [
      'recoveryMaxMs',
      Number.POSITIVE_INFINITY,
      'recoveryMaxMs must be a finite number of milliseconds, above 0',
    ],
    ['outputCommit', 'eventually', 'outputCommit must be one of at-once, majority, got eventually'],
    ['connection', 'fast', 'connection must be an object of connection settings, got fast'],
    ['connection', { ackDelayMs: -1 }, 'ackDelayMs must be a finite number >= 0, got -1'],
    ['connection', { windowMax: 0.5 }, 'windowMax must be a positive integer, got 0.5'],
  ] as const)('refuses %s = %s with a RangeError naming it', (name, value, message) => {
    expect(() => role({ [name]: value })).toThrow(RangeError);
    expect(() => role({ [name]: value })).toThrow(message);
  });

  // Settings often come from a host's configuration file, where a misspelt name would otherwise be
  // ignored in silence and the default run instead.
  it('refuses an unknown setting, naming it and the known ones', () => {
    const misspelt = { outputComit: 'majority' } as unknown as Partial<ReplicationSettings>;
    expect(() => role(misspelt)).toThrow(RangeError);
    expect(() => role(misspelt)).toThrow(
      /unknown replication setting 'outputComit' \(known: announceDelayMs, .*outputCommit/,
    );
  });

  it('refuses an unknown connection setting, naming it and the known ones', () => {
    const misspelt = { connection: { ackDelay: 5 } } as unknown as Partial<ReplicationSettings>;
    expect(() => role(misspelt)).toThrow(RangeError);
    expect(() => role(misspelt)).toThrow(/unknown connection setting 'ackDelay' \(known: .*ackDelayMs/);
  });

  it('refuses settings that are not an object', () => {
    expect(() => role(null as unknown as Partial<ReplicationSettings>)).toThrow(
      new RangeError('replication settings must be an object, got null'),
    );
  });

  it('accepts every setting at a value in its range', () => {
    expect(() =>
      role({
        announceDelayMs: 0,
        processDelayMs: 1,
        inputsMax: 1,
        historyMax: 10,
        peerAnnouncementsMax: 1,
        recoveryWaitMs: 0.5,
        recoveryMaxMs: 100,
        outputCommit: 'majority',
        connection: { ackDelayMs: 5 },
      }),
    ).not.toThrow();
  });
});
