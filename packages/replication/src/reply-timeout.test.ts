/**
 * A synchronous request that is never answered in time (`syncReplyTimeoutMs`). The chain C → A → B
 * of the simulations, with the front A calling a ledger B that holds one request (`silent`) without
 * answering it until the next request comes. Invariants:
 * - the caller goes on: once the delay has run out, its replicas process a `reply-timeout` at the
 *   position the reply would have taken, alike at every replica that processes (both styles), and
 *   every later request is answered;
 * - the request given up on is answered exactly once, with the `ReplyTimeout`, also when the
 *   caller's primary fails during the wait (its next primary starts the delay again);
 * - the ledger's late reply to it is dropped at every replica of the caller, so no second answer
 *   reaches the client, and the replicas of each group agree (no divergence).
 * With the setting at 0 (the default) the caller still waits for good: the known behaviour.
 */
import { defineActor, type ActorBehavior } from '@steadfast/runtime';
import { messageKey, nodeId, type Envelope } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { replicaActor } from './group.js';
import { receptionPolicy } from './policy.js';
import { runtimeReplicas } from './runtime-nodes.test-support.js';
import { ReplicationCluster, type ClusterGroup } from './simulation.js';
import { groupAddress, type ReplicaRole } from './replica.js';
import { isReplyTimeout, type ReplicationSettings, type ReplicationStyle } from './types.js';
import { client, front, type AddRequest, type IssueCommand } from './workload.js';

const STYLES = ['semi-active', 'passive'] as const satisfies readonly ReplicationStyle[];
const TIMEOUT_MS = 150;

interface SilentLedgerState {
  readonly total: number;
  readonly applied: Readonly<Record<string, number>>;
  /** The `silent` request, held unanswered until the next request arrives. */
  readonly held: Envelope | null;
}

/**
 * A ledger that applies every `add` but answers `silent` only late: with the next request's
 * handling. So its caller's wait for that reply runs out, and the reply still comes afterwards.
 */
const silentLedger: ActorBehavior = defineActor<SilentLedgerState>({
  kind: 'silent-ledger',
  initial: () => ({ total: 0, applied: {}, held: null }),
  handle(state, input, ctx) {
    if (input.type !== 'message') return state;
    const envelope = input.envelope;
    if (envelope.kind !== 'sync-request' && envelope.kind !== 'async-request') return state;
    const body = envelope.body as AddRequest;
    const total = state.total + body.amount;
    const applied = { ...state.applied, [body.key]: (state.applied[body.key] ?? 0) + 1 };
    if (body.key === 'silent') return { total, applied, held: envelope };
    if (state.held !== null) ctx.reply({ type: 'added', key: 'silent', total }, { to: state.held });
    ctx.reply({ type: 'added', key: body.key, total });
    return { total, applied, held: null };
  },
});

interface FrontState {
  /** Ledger request (message key) → the client's request it serves, and its key. */
  readonly pending: Readonly<Record<string, { readonly request: Envelope; readonly key: string }>>;
  /** Every reply the actor was handed, in order: its request's key, and `timeout` or the total. */
  readonly seen: readonly string[];
}

/**
 * The workload's synchronous front, written out so that it also records every reply its actor is
 * handed (`seen`): a reply the replica should have dropped would show there, even one the front
 * then ignores.
 */
const recordingFront: ActorBehavior = defineActor<FrontState>({
  kind: 'recording-front',
  initial: () => ({ pending: {}, seen: [] }),
  handle(state, input, ctx) {
    if (input.type !== 'message') return state;
    const envelope = input.envelope;
    if (envelope.kind === 'async-request' || envelope.kind === 'sync-request') {
      const body = envelope.body as AddRequest;
      const id = ctx.request(groupAddress('B'), { type: 'add', key: body.key, amount: 1 }, { sync: true });
      return {
        ...state,
        pending: { ...state.pending, [messageKey(id)]: { request: envelope, key: body.key } },
      };
    }
    if (envelope.kind !== 'sync-reply') return state;
    const waiting = state.pending[messageKey(envelope.inReplyTo)];
    const outcome = isReplyTimeout(envelope.body)
      ? 'timeout'
      : String((envelope.body as { total?: number }).total);
    const seen = [...state.seen, `${waiting?.key ?? 'unknown'}:${outcome}`];
    if (waiting === undefined) return { ...state, seen };
    ctx.reply(
      isReplyTimeout(envelope.body)
        ? envelope.body
        : { type: 'added', key: waiting.key, total: Number(outcome) },
      { to: waiting.request },
    );
    const pending = { ...state.pending };
    delete pending[messageKey(envelope.inReplyTo)];
    return { pending, seen };
  },
});

function frontSeen(sim: ReplicationCluster, node: string): readonly string[] {
  return (sim.role(node).actorState() as FrontState).seen;
}

/** The client's and the front's group names: one letter, or as long as a node id allows. */
interface ChainNames {
  readonly client: string;
  readonly front: string;
}
const SHORT_NAMES: ChainNames = { client: 'C', front: 'A' };

function chainGroups(
  style: ReplicationStyle,
  syncReplyTimeoutMs: number,
  names: ChainNames = SHORT_NAMES,
  frontBehavior: ActorBehavior = recordingFront,
): ClusterGroup[] {
  const policy = receptionPolicy;
  return [
    {
      group: names.client,
      members: ['c1'],
      behavior: client,
      style: 'semi-active',
      policy,
      peers: [names.front],
    },
    {
      group: names.front,
      members: ['a1', 'a2', 'a3'],
      behavior: frontBehavior,
      style,
      policy,
      peers: [names.client, 'B'],
      settings: { syncReplyTimeoutMs },
    },
    { group: 'B', members: ['b1', 'b2', 'b3'], behavior: silentLedger, style, policy, peers: [names.front] },
  ];
}

function started(groups: ClusterGroup[]): ReplicationCluster {
  const sim = new ReplicationCluster({ seed: 7, network: { latencyMs: [1, 1] }, groups, trace: true });
  sim.start();
  sim.runUntil(300);
  return sim;
}

/** Issues `key` from c1 to the front and runs `forMs`. */
function issue(sim: ReplicationCluster, key: string, forMs = 50, front = SHORT_NAMES.front): void {
  const body: IssueCommand = { type: 'issue', key, target: front, priority: 0, deadlineMs: 0 };
  sim.input(nodeId('c1'), { type: 'external', body });
  sim.runUntil(sim.clock.now() + forMs);
}

interface ClientState {
  readonly replies: Record<string, number[]>;
  readonly refused: Record<string, number>;
  readonly timedOut?: Record<string, number>;
}

function clientState(sim: ReplicationCluster): ClientState {
  return sim.role('c1').actorState() as ClientState;
}

/** The replicas of the front that process every position: all three semi-active, the primary passive. */
function processingFronts(sim: ReplicationCluster, style: ReplicationStyle, alive: readonly string[]) {
  return style === 'semi-active' ? alive : [sim.primaryOf('A')!.self];
}

describe('a synchronous request never answered in time (syncReplyTimeoutMs)', () => {
  for (const style of STYLES) {
    it(`${style}: the caller gives up after the delay, goes on, and drops the late reply`, () => {
      const sim = started(chainGroups(style, TIMEOUT_MS));
      issue(sim, 'r1');
      issue(sim, 'silent', 40);
      // Well within the delay: the front still waits, and r2 waits behind it (claim 48).
      issue(sim, 'r2', 40);
      expect(clientState(sim).replies).toEqual({ r1: [1] });
      expect(sim.primaryOf('A')!.awaitingReply()).toBe(true);
      sim.runUntil(sim.clock.now() + TIMEOUT_MS + 100);
      // Given up on once, answered once with the timeout; r2 went on, and the ledger's late reply to
      // `silent` (sent with r2's) reached the front and was dropped there.
      expect(clientState(sim).timedOut).toEqual({ silent: 1 });
      expect(clientState(sim).replies).toEqual({ r1: [1], r2: [3] });
      expect(sim.primaryOf('A')!.awaitingReply()).toBe(false);
      for (const node of processingFronts(sim, style, ['a1', 'a2', 'a3'])) {
        expect(sim.role(node).counters.replyTimeouts, node).toBe(1);
        expect(sim.role(node).counters.lateRepliesDropped, node).toBe(1);
        expect(frontSeen(sim, node), node).toEqual(['r1:1', 'silent:timeout', 'r2:3']);
      }
      issue(sim, 'r3', 100);
      expect(clientState(sim).replies).toEqual({ r1: [1], r2: [3], r3: [4] });
      expect(clientState(sim).timedOut).toEqual({ silent: 1 });
      expect(clientState(sim).refused).toEqual({});
      // The request given up on still took effect at the ledger: a timeout says "no answer in time".
      const ledger = sim.primaryOf('B')!.actorState() as SilentLedgerState;
      expect(ledger.applied).toEqual({ r1: 1, silent: 1, r2: 1, r3: 1 });
      expect(sim.diverged).toEqual([]);
    });

    it(`${style}: the caller's primary fails during the wait; its next primary gives up once`, () => {
      const sim = started(chainGroups(style, TIMEOUT_MS));
      issue(sim, 'r1');
      issue(sim, 'silent', 40);
      expect(sim.primaryOf('A')!.self).toBe('a1');
      expect(sim.role('a1').awaitingReply()).toBe(true);
      sim.crash(nodeId('a1'));
      sim.runUntil(sim.clock.now() + 600);
      expect(sim.primaryOf('A')!.self).not.toBe('a1');
      expect(clientState(sim).timedOut).toEqual({ silent: 1 });
      issue(sim, 'r2', 200);
      expect(clientState(sim).replies).toEqual({ r1: [1], r2: [3] });
      expect(clientState(sim).timedOut).toEqual({ silent: 1 });
      for (const node of processingFronts(sim, style, ['a2', 'a3'])) {
        expect(sim.role(node).counters.replyTimeouts, node).toBe(1);
        expect(sim.role(node).counters.lateRepliesDropped, node).toBe(1);
        expect(frontSeen(sim, node), node).toEqual(['r1:1', 'silent:timeout', 'r2:3']);
      }
      expect(sim.diverged).toEqual([]);
    });
  }

  it('groups named with 64 characters: the ids a replica makes up for its actor stay node ids', () => {
    // The client's group gets outside inputs (`group.external` ids) and the front's times out
    // (`group.timeout` ids): with the names whole, both ids were past 64 characters, and making
    // one threw out of the replica's step.
    const names = { client: 'c'.repeat(64), front: 'a'.repeat(64) };
    const sim = started(chainGroups('semi-active', TIMEOUT_MS, names));
    issue(sim, 'r1', 50, names.front);
    issue(sim, 'silent', 40, names.front);
    issue(sim, 'r2', TIMEOUT_MS + 140, names.front);
    expect(clientState(sim).replies).toEqual({ r1: [1], r2: [3] });
    expect(clientState(sim).timedOut).toEqual({ silent: 1 });
    expect(sim.diverged).toEqual([]);
  });

  it('with the default (0) the caller waits for good: nothing times out', () => {
    const sim = started(chainGroups('semi-active', 0));
    issue(sim, 'r1');
    issue(sim, 'silent', 40);
    issue(sim, 'r2', 2_000);
    // r2 reached the front but waits behind `silent`, whose reply the ledger sends only with r2's.
    expect(clientState(sim).replies).toEqual({ r1: [1] });
    expect(clientState(sim).timedOut).toBeUndefined();
    expect(sim.primaryOf('A')!.awaitingReply()).toBe(true);
    expect(sim.role('a1').counters.replyTimeouts).toBe(0);
  });
});

/**
 * Random schedules: the delay, when `silent` comes among six other requests, lossy or duplicating
 * links until a heal, and a crash of the front's or the ledger's primary at a random time.
 * Invariants at the end: every request is answered exactly once at the client, with its total or
 * with the timeout (`silent`, last, can only time out); every request took effect exactly once at
 * the ledger, timed out or not; the live replicas of each semi-active group processed the same
 * order, and none diverged; no replica dropped as malformed anything another one wrote.
 */
describe('a synchronous request never answered in time, under random faults', () => {
  it('answers every request once and applies it once, whatever the schedule', () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.nat(1_000_000),
          style: fc.constantFrom(...STYLES),
          // A setting is any finite number of milliseconds: fractions too.
          timeoutMs: fc.oneof(
            fc.integer({ min: 20, max: 400 }),
            fc.double({ min: 20, max: 400, noNaN: true, noDefaultInfinity: true }),
          ),
          silentAt: fc.integer({ min: 0, max: 6 }),
          loss: fc.constantFrom(0, 0.05),
          duplicate: fc.constantFrom(0, 0.05),
          crash: fc.constantFrom(null, 'a1', 'b1'),
          crashAtMs: fc.integer({ min: 0, max: 500 }),
        }),
        ({ seed, style, timeoutMs, silentAt, loss, duplicate, crash, crashAtMs }) => {
          const sim = new ReplicationCluster({
            seed,
            network: { latencyMs: [1, 3], loss, duplicate },
            // The workload's own front: it passes the timeout on to the client, which counts it.
            groups: chainGroups(style, timeoutMs, SHORT_NAMES, front({ ledgerGroup: 'B', sync: true })),
          });
          sim.start();
          sim.runUntil(300);
          const keys = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
          keys.splice(silentAt, 0, 'silent');
          keys.forEach((key, index) => {
            const body: IssueCommand = { type: 'issue', key, target: 'A', priority: 0, deadlineMs: 0 };
            sim.clock.setTimer(index * 40, () => sim.input(nodeId('c1'), { type: 'external', body }));
          });
          if (crash !== null) sim.clock.setTimer(crashAtMs, () => sim.crash(nodeId(crash)));
          sim.runUntil(sim.clock.now() + 1_500);
          sim.heal();
          sim.runUntil(sim.clock.now() + 3_000);

          const state = clientState(sim);
          for (const key of keys) {
            const answers = (state.replies[key]?.length ?? 0) + (state.timedOut?.[key] ?? 0);
            expect(answers, `answers to ${key}`).toBe(1);
          }
          if (silentAt === keys.length - 1) expect(state.timedOut?.silent).toBe(1);
          const ledger = sim.primaryOf('B')!.actorState() as SilentLedgerState;
          for (const key of keys) expect(ledger.applied[key], `${key} at the ledger`).toBe(1);
          expect(sim.diverged).toEqual([]);
          // Nothing here sends a malformed message: a drop means a replica refused what another wrote.
          for (const group of ['C', 'A', 'B'])
            for (const role of sim.replicas(group)) {
              const { controlMessagesDropped, checkpointsDropped, piggybackFieldsDropped } = role.counters;
              expect(controlMessagesDropped + checkpointsDropped + piggybackFieldsDropped, role.self).toBe(0);
            }
          if (style === 'semi-active')
            for (const group of ['A', 'B']) {
              const primary = sim.primaryOf(group)!;
              for (const role of sim.replicas(group))
                expect(role.history().join(), `${role.self} of ${group}`).toBe(primary.history().join());
            }
        },
      ),
      {
        numRuns: Number(process.env.STEADFAST_TIMEOUT_RUNS ?? 60),
        seed: Number(process.env.STEADFAST_TIMEOUT_SEED ?? 24112417),
      },
    );
  }, 300_000);
});

/**
 * The same chain on runtime nodes: signed frames, the real codec and the entries' wire form, which
 * the pure-role simulation above skips (its packets travel as objects). Invariants: the timeout and
 * the late reply's drop happen at every replica of the front, no receiver drops any entry as
 * malformed (the delay is fractional on purpose: a setting may be), and the client gets the timeout
 * once and every other reply.
 */
describe('a synchronous request never answered in time, on runtime nodes', () => {
  it('every replica of the front gives up once and drops the late reply; nothing is malformed', async () => {
    const fronts = ['a1', 'a2', 'a3'];
    const ledgers = ['b1', 'b2', 'b3'];
    const roles = new Map<string, ReplicaRole>();
    const replicated = (behavior: ActorBehavior, settings: Partial<ReplicationSettings> = {}) =>
      replicaActor(behavior, {
        style: 'semi-active',
        policy: receptionPolicy,
        settings,
        onRole: (role) => roles.set(role.self, role),
      });
    const { tell, view, run } = runtimeReplicas([
      { node: 'c1', group: 'C', behavior: replicated(client), peers: { A: fronts } },
      ...fronts.map((node) => ({
        node,
        group: 'A',
        // Fractional on purpose: a setting may be, and the entry must still pass the receivers' checks.
        behavior: replicated(recordingFront, { syncReplyTimeoutMs: 150.5 }),
        peers: { C: ['c1'], B: ledgers },
      })),
      ...ledgers.map((node) => ({
        node,
        group: 'B',
        behavior: replicated(silentLedger),
        peers: { A: fronts },
      })),
    ]);
    tell('c1', view('C', ['c1']));
    for (const node of fronts) tell(node, view('A', fronts));
    for (const node of ledgers) tell(node, view('B', ledgers));
    await run(300);
    const issueKey = (key: string) =>
      tell('c1', {
        type: 'replica-external',
        body: { type: 'issue', key, target: 'A', priority: 0, deadlineMs: 0 },
      });
    issueKey('r1');
    await run(50);
    issueKey('silent');
    await run(40);
    issueKey('r2');
    await run(600);

    const clientNow = roles.get('c1')!.actorState() as ClientState;
    expect(clientNow.replies).toEqual({ r1: [1], r2: [3] });
    expect(clientNow.timedOut).toEqual({ silent: 1 });
    for (const node of fronts) {
      const role = roles.get(node)!;
      expect(role.counters.replyTimeouts, node).toBe(1);
      expect(role.counters.lateRepliesDropped, node).toBe(1);
      expect((role.actorState() as FrontState).seen, node).toEqual(['r1:1', 'silent:timeout', 'r2:3']);
    }
    for (const [node, role] of roles) {
      const { controlMessagesDropped, checkpointsDropped, piggybackFieldsDropped } = role.counters;
      expect(controlMessagesDropped + checkpointsDropped + piggybackFieldsDropped, node).toBe(0);
    }
  });
});
