/**
 * The deployment API on real runtime nodes: `group(behavior, ...)` gives a replica actor that a
 * `Node` hosts unchanged, over the in-memory transport with signed frames. Invariant: with views
 * given as `replica-view` commands, a client's requests are answered once each, backups process
 * the primary's order into the same state, and a failover keeps both properties (claims 33, 34, 65).
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { MemoryNetwork, Node, SimulatedClock } from '@steadfast/runtime';
import { address, createCodec } from '@steadfast/wire';
import {
  group,
  REPLICA_ACTOR_NAME,
  replicaActor,
  replicaQuorumCommand,
  replicationRegistry,
} from './group.js';
import { receptionPolicy } from './policy.js';
import type { ReplicaRole } from './replica.js';
import { clientAndLedgers, runtimeReplicas } from './runtime-nodes.test-support.js';
import { client, ledger } from './workload.js';

describe('group() on runtime nodes', () => {
  it('serves a client from a 3-replica ledger, fails over, and every replica ends in the same state', async () => {
    const ledgerGroup = group(ledger, { replicas: 3, style: 'semi-active' });
    const clientGroup = group(client, { replicas: 1, style: 'semi-active' });
    const { nodes, tell, view, run, state } = runtimeReplicas(
      clientAndLedgers(ledgerGroup.replicaBehavior, clientGroup.replicaBehavior),
    );
    tell('c1', view('C', ['c1'], 1));
    for (const name of ['b1', 'b2', 'b3']) tell(name, view('B', ['b1', 'b2', 'b3'], 1));
    await run(300);
    for (const requestKey of ['r1', 'r2', 'r3'])
      tell('c1', {
        type: 'replica-external',
        body: { type: 'issue', key: requestKey, target: 'B', priority: 0, deadlineMs: 0 },
      });
    await run(100);
    // A peer node cannot stop the primary: `replica-quorum` counts only from the replica's own node.
    nodes.get('c1')!.tell(address('b1', REPLICA_ACTOR_NAME), replicaQuorumCommand('B', false));
    tell('c1', {
      type: 'replica-external',
      body: { type: 'issue', key: 'r0', target: 'B', priority: 0, deadlineMs: 0 },
    });
    await run(100);
    expect((state('b1') as { position: number }).position).toBe(5); // start + four requests
    // The primary fails; membership (here: the test) installs the next view at the survivors.
    await nodes.get('b1')!.close();
    for (const name of ['b2', 'b3']) tell(name, view('B', ['b2', 'b3'], 2));
    await run(400);
    tell('c1', {
      type: 'replica-external',
      body: { type: 'issue', key: 'r4', target: 'B', priority: 0, deadlineMs: 0 },
    });
    await run(300);
    const b2 = state('b2') as {
      role: string;
      position: number;
      digest: string;
    };
    const b3 = state('b3') as {
      role: string;
      position: number;
      digest: string;
    };
    expect(b2.role).toBe('primary');
    expect(b2.position).toBe(6); // start + five requests
    // The primary keeps no outputs of its own after sending them: `kept` is for outputs a backup
    // has not yet seen its primary send, so it must not grow with every request served.
    expect((b2 as unknown as { backlog: { kept: number } }).backlog.kept).toBe(0);
    // Counters differ by role; the order and the state must not.
    expect({ position: b3.position, digest: b3.digest, role: b3.role }).toEqual({
      position: b2.position,
      digest: b2.digest,
      role: 'backup',
    });
    // Each connection's multicast counters are inspectable. The new primary sent its outputs to the
    // client at once and to its backup after `ownGroupDelayMs` (replication's default 2 ms); the
    // backup sent no data at all. Null messages (announcements with no output to ride on) wait too.
    type Counted = 'dataMessages' | 'nullMessages' | 'deferredSends';
    type Inspected = { connections: Record<string, Record<Counted, number>> };
    const primaryConnections = Object.values((b2 as unknown as Inspected).connections);
    const backupConnections = Object.values((b3 as unknown as Inspected).connections);
    expect(primaryConnections.length).toBeGreaterThan(0);
    const sum = (list: typeof primaryConnections, key: Counted) =>
      list.reduce((total, counters) => total + counters[key], 0);
    expect(sum(primaryConnections, 'dataMessages')).toBeGreaterThan(0);
    expect(sum(primaryConnections, 'deferredSends')).toBe(
      sum(primaryConnections, 'dataMessages') + sum(primaryConnections, 'nullMessages'),
    );
    expect(sum(backupConnections, 'dataMessages')).toBe(0);
    expect(replicationRegistry().has(ledgerGroup.replicaBehavior.kind)).toBe(true);
  });
});

/** A node of its own (`b1`) on a network of its own, for a replica that only starts. */
function loneNode(): Node {
  return new Node({
    id: 'b1',
    incarnation: 1,
    clock: new SimulatedClock(),
    transport: new MemoryNetwork().attach('b1'),
    codec: createCodec({ keys: new Map([[1, new Uint8Array(32).fill(7)]]), activeKeyId: 1 }),
    peers: { b1: 'b1' },
  });
}

describe("a host's settings in the replica's input", () => {
  // Invariant: `ReplicaActorInput.settings` lies over the deployment's settings field by field (the
  // connection's too), output commit takes the own group's delay away unless a host sets it, and a
  // setting out of range stops the replica at its start with an error naming it.
  function hosted(settings: unknown): { start: () => ReplicaRole } {
    const node = loneNode();
    const roles: ReplicaRole[] = [];
    const behavior = replicaActor(ledger, {
      style: 'semi-active',
      policy: receptionPolicy,
      settings: { relayAfterMs: 50, connection: { ackDelayMs: 7 } },
      onRole: (role) => roles.push(role),
    });
    return {
      start: () => {
        node.spawn(REPLICA_ACTOR_NAME, behavior, { group: 'B', incarnation: 1, peers: [], settings });
        return roles[0]!;
      },
    };
  }

  it('lie over the deployment’s, field by field', () => {
    const role = hosted({ outputCommit: 'majority', connection: { windowMax: 64 } }).start();
    expect(role.settings.relayAfterMs).toBe(50);
    expect(role.settings.outputCommit).toBe('majority');
    expect(role.settings.connection).toMatchObject({ ackDelayMs: 7, windowMax: 64, ownGroupDelayMs: 0 });
  });

  it('keep the deployment’s and the defaults where they say nothing', () => {
    const role = hosted(undefined).start();
    expect(role.settings.outputCommit).toBe('at-once');
    expect(role.settings.connection).toMatchObject({ ackDelayMs: 7, ownGroupDelayMs: 2 });
  });

  it('out of range, stop the replica at its start with an error naming the setting', () => {
    expect(() => hosted({ outputCommit: 'sometimes' }).start()).toThrow(/outputCommit/);
  });
});

describe('group() options', () => {
  // Invariant: a deployment with a bad option fails where it is made, with an error naming the
  // option, before any replica starts: options often come from configuration, where a misspelt
  // style or a policy's name in place of the policy would otherwise run as something else or fail
  // at the first input.
  it.each([
    [{ replicas: 0 }, RangeError, 'replicas must be a positive integer, got 0'],
    [{ style: 'semi-activ' }, RangeError, 'style must be one of semi-active, passive, got semi-activ'],
    [
      { policy: 'priority' },
      TypeError,
      "policy must be an OrderingPolicy ({ name, pick(queue, served) }; policyByName gives a built-in), got 'priority'",
    ],
    [{ policy: { name: 'no-pick' } }, TypeError, 'policy must be an OrderingPolicy'],
    [{ settings: { historyMax: -1 } }, RangeError, 'historyMax must be a positive integer, got -1'],
    [{ settings: { ackDelayMs: 5 } }, RangeError, "unknown replication setting 'ackDelayMs'"],
  ] as const)('refuses %j', (override, errorType, message) => {
    const options = { replicas: 3, style: 'semi-active', ...override } as unknown as Parameters<
      typeof group
    >[1];
    expect(() => group(ledger, options)).toThrow(errorType);
    expect(() => group(ledger, options)).toThrow(message);
  });

  it.each([
    [
      undefined,
      'behavior must be an actor behavior (fromMachine(kind, machine) or defineActor(...)), got undefined',
    ],
    [
      createMachine({ id: 'account' }),
      'behavior is an xstate machine: wrap it as an actor with fromMachine(kind, machine) first',
    ],
    [
      { kind: '', start: () => ({}) },
      'behavior must be an actor behavior ({ kind, start }, from fromMachine or defineActor), got an object with kind "" and start () => ({})',
    ],
    [{ kind: 'k' }, 'got an object with kind "k" and start undefined'],
  ] as const)('refuses a behavior that is no actor behavior: %#', (behavior, message) => {
    const make = () =>
      group(behavior as unknown as Parameters<typeof group>[0], { replicas: 3, style: 'semi-active' });
    expect(make).toThrow(TypeError);
    expect(make).toThrow(message);
  });

  it.each([undefined, null, 3])('refuses options that are no object: %j', (options) => {
    const make = () => group(ledger, options as unknown as Parameters<typeof group>[1]);
    expect(make).toThrow(TypeError);
    expect(make).toThrow(
      `options must be an object { replicas, style, policy?, settings? }, got ${String(options)}`,
    );
  });

  it('accepts good options and keeps them', () => {
    const deployment = group(ledger, {
      replicas: 3,
      style: 'passive',
      settings: { outputCommit: 'majority' },
    });
    expect(deployment.style).toBe('passive');
    expect(deployment.policy).toBe(receptionPolicy);
    expect(deployment.settings).toEqual({ outputCommit: 'majority' });
  });
});

describe("the replica actor's start input", () => {
  // Invariant: a start input of the wrong shape (from a host's spec or configuration) stops the
  // replica at its start with a TypeError naming the field, never a replica of a group named
  // `undefined` or a failure deep in the role.
  const good = { group: 'B', incarnation: 1, peers: [{ group: 'C', contacts: ['c1'] }] };
  function spawn(input: unknown): void {
    const node = loneNode();
    node.spawn(
      REPLICA_ACTOR_NAME,
      group(ledger, { replicas: 3, style: 'semi-active' }).replicaBehavior,
      input,
    );
  }

  it('accepts a good one', () => {
    expect(() => spawn(good)).not.toThrow();
    expect(() =>
      spawn({ ...good, joining: true, reportTo: 'm1/monitor', reportToLocal: 'view-relay' }),
    ).not.toThrow();
  });

  it.each([
    [undefined, 'replica input: must be an object, got undefined'],
    [{ ...good, group: '' }, 'replica input: group must be a non-empty string, got ""'],
    [{ ...good, incarnation: 0 }, 'replica input: incarnation must be a positive integer, got 0'],
    [{ ...good, peers: 'C' }, 'replica input: peers must be an array of { group, contacts }, got "C"'],
    [
      { ...good, peers: [{ group: 'C' }] },
      'replica input: peers[0].contacts must be an array of node ids, got undefined',
    ],
    [{ ...good, peers: [null] }, 'replica input: peers[0].group must be a non-empty string, got undefined'],
    [{ ...good, joining: 'yes' }, 'replica input: joining must be a boolean, got "yes"'],
    [
      { ...good, reportTo: 'monitor' },
      'replica input: reportTo must be an address (node/actor), got "monitor"',
    ],
    [{ ...good, reportToLocal: 7 }, 'replica input: reportToLocal must be a non-empty actor name, got 7'],
    [{ ...good, incarnation: 2n }, 'replica input: incarnation must be a positive integer, got 2'],
  ])('refuses bad input %#, naming the field', (input, message) => {
    expect(() => spawn(input)).toThrow(new TypeError(message));
  });
});
