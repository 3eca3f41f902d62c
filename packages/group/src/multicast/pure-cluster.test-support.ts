/**
 * A hand-driven cluster of pure connection endpoints for unit and property tests: no runtime, no
 * clock. Packets wait in a list until the test delivers, drops or duplicates one; timers wait in a
 * set until the test fires one. `settle()` plays a fault-free network to quiescence.
 */
import { nodeId, type NodeId } from '@steadfast/wire';
import fc from 'fast-check';
import {
  attachPiggyback,
  createEndpoint,
  fireTimer,
  holdSends,
  installView,
  multicast,
  receivePacket,
  releaseSends,
  streamKey,
  takeEffects,
  type EndpointState,
} from './endpoint.js';
import type {
  ConnectionConfig,
  ConnectionSettings,
  DeliveredMessage,
  EndpointTimer,
  ForOtherGroups,
  MulticastKind,
  MulticastResult,
  Packet,
  PiggybackResult,
} from './types.js';

export interface InFlight {
  readonly source: NodeId;
  readonly target: NodeId;
  readonly packet: Packet;
}

export interface PureClusterOptions {
  /** Group name → member node ids. Exactly two groups. */
  readonly groups: Readonly<Record<string, readonly string[]>>;
  readonly settings?: Partial<ConnectionSettings>;
  /**
   * Which views each node is given: `'own'` (its own group's only, the other learned from peers
   * through the contacts) or `'both'`. Default `'own'`.
   */
  readonly views?: 'own' | 'both';
  /** Sees every packet an endpoint emits, as it is emitted (a test's check of what goes on the wire). */
  readonly onSend?: (flight: InFlight) => void;
}

/** The configuration of one endpoint, a1 of group A on the connection A<->B, for tests of `createEndpoint`. */
export const A1_ENDPOINT_CONFIG: ConnectionConfig = {
  connection: 'A<->B',
  groups: ['A', 'B'],
  group: 'A',
  self: nodeId('a1'),
  incarnation: 1,
};

const timerOrder: readonly EndpointTimer[] = ['flush', 'null-message', 'own-group', 'sync'];

export class PureCluster {
  readonly connection = 'A<->B';
  readonly endpoints = new Map<NodeId, EndpointState>();
  readonly inFlight: InFlight[] = [];
  readonly timers = new Map<NodeId, Set<EndpointTimer>>();
  /** Node → what it delivered, in order. */
  readonly delivered = new Map<NodeId, DeliveredMessage[]>();
  /** Stream key → payloads multicast on it, in order. */
  readonly sent = new Map<string, unknown[]>();
  readonly groupNames: readonly [string, string];
  private readonly members = new Map<string, NodeId[]>();
  private readonly epochs = new Map<string, number>();

  constructor(private readonly options: PureClusterOptions) {
    const names = Object.keys(options.groups);
    if (names.length !== 2) throw new RangeError('a pure cluster joins exactly two groups');
    this.groupNames = [names[0]!, names[1]!];
    for (const [group, members] of Object.entries(options.groups)) {
      this.members.set(
        group,
        members.map((member) => nodeId(member)),
      );
      this.epochs.set(group, 1);
    }
    for (const group of this.groupNames) {
      for (const member of this.members.get(group)!) this.start(member, group, 1);
    }
  }

  groupOf(node: NodeId): string {
    for (const [group, members] of this.members) if (members.includes(node)) return group;
    throw new RangeError(`node ${node} is in no group`);
  }

  /** Starts (or restarts, with a new incarnation) an endpoint, with the current views. */
  start(node: NodeId, group: string, incarnation: number): void {
    const other = this.groupNames[0] === group ? this.groupNames[1] : this.groupNames[0];
    const contacts = this.members.get(other)!.slice(0, 1);
    const state = createEndpoint({
      connection: this.connection,
      groups: this.groupNames,
      group,
      self: node,
      incarnation,
      contacts,
      ...this.options.settings,
    });
    this.endpoints.set(node, state);
    this.timers.set(node, new Set());
    // A restarted node is a new replica: what its predecessor delivered is not its history.
    this.delivered.set(node, []);
    const groups = this.options.views === 'both' ? this.groupNames : [group];
    for (const viewGroup of groups) installView(state, this.viewOf(viewGroup));
    this.collect(node);
  }

  viewOf(group: string) {
    const members = this.members.get(group)!;
    return { group, epoch: this.epochs.get(group)!, members, primary: members[0]! };
  }

  /** Installs a new view of `group` with `members` at the running members of that group. */
  changeView(group: string, members: readonly string[]): void {
    this.members.set(
      group,
      members.map((member) => nodeId(member)),
    );
    this.epochs.set(group, this.epochs.get(group)! + 1);
    const view = this.viewOf(group);
    for (const member of view.members) {
      const state = this.endpoints.get(member);
      if (state === undefined) continue;
      installView(state, view);
      this.collect(member);
    }
  }

  /** Loses the endpoint's volatile state; packets already in flight from it stay in flight. */
  crash(node: NodeId): void {
    this.endpoints.delete(node);
    this.timers.delete(node);
    for (let index = this.inFlight.length - 1; index >= 0; index--)
      if (this.inFlight[index]!.target === node) this.inFlight.splice(index, 1);
  }

  multicast(
    node: NodeId,
    payload: unknown,
    kind: MulticastKind = 'one-way',
    bytes?: number,
  ): MulticastResult {
    const state = this.endpoints.get(node);
    if (state === undefined) throw new Error(`node ${node} is down`);
    const result = multicast(state, payload, bytes === undefined ? { kind } : { kind, bytes });
    if (result.ok) {
      const key = streamKey(result.id);
      const list = this.sent.get(key) ?? [];
      list.push(payload);
      this.sent.set(key, list);
    }
    this.collect(node);
    return result;
  }

  /** Holds `node`'s sends (`holdSends`) until `release`. */
  hold(node: NodeId): void {
    const state = this.endpoints.get(node);
    if (state === undefined) throw new Error(`node ${node} is down`);
    holdSends(state);
  }

  /** Sends what `node` multicast since `hold`, batched (`releaseSends`). */
  release(node: NodeId): void {
    const state = this.endpoints.get(node);
    if (state === undefined) throw new Error(`node ${node} is down`);
    releaseSends(state);
    this.collect(node);
  }

  attachPiggyback(
    node: NodeId,
    key: string,
    data: unknown,
    forOtherGroups?: ForOtherGroups,
    bytes?: number,
  ): PiggybackResult {
    const state = this.endpoints.get(node);
    if (state === undefined) throw new Error(`node ${node} is down`);
    const result = attachPiggyback(state, key, data, forOtherGroups, bytes);
    this.collect(node);
    return result;
  }

  deliver(index: number): void {
    const [flight] = this.inFlight.splice(index, 1);
    if (flight === undefined) return;
    const state = this.endpoints.get(flight.target);
    if (state === undefined) return;
    // The packet goes through structuredClone, as it would through the codec: no shared objects.
    receivePacket(state, structuredClone(flight.packet));
    this.collect(flight.target);
  }

  drop(index: number): void {
    this.inFlight.splice(index, 1);
  }

  duplicate(index: number): void {
    const flight = this.inFlight[index];
    if (flight !== undefined) this.inFlight.push(flight);
  }

  fire(node: NodeId, timer: EndpointTimer): boolean {
    const timers = this.timers.get(node);
    const state = this.endpoints.get(node);
    if (timers === undefined || state === undefined || !timers.delete(timer)) return false;
    fireTimer(state, timer);
    this.collect(node);
    return true;
  }

  /**
   * Fires every timer armed now, once (nodes in order; flush before null message before sync), as
   * if a short while passed. Returns false when no timer was armed.
   */
  tick(): boolean {
    const armed: [NodeId, EndpointTimer][] = [];
    for (const timer of timerOrder) {
      for (const [node, timers] of this.timers) if (timers.has(timer)) armed.push([node, timer]);
    }
    for (const [node, timer] of armed) this.fire(node, timer);
    return armed.length > 0;
  }

  /** Runs up to `steps` steps of a fault-free network (it may not settle: a member may be down). */
  run(steps: number): void {
    for (let stepCount = 0; stepCount < steps; stepCount++) {
      if (this.inFlight.length > 0) this.deliver(0);
      else if (!this.tick()) return;
    }
  }

  /** Runs a fault-free network until no packet is in flight and no timer is armed. */
  settle(stepsMax = 100_000): void {
    for (let stepCount = 0; stepCount < stepsMax; stepCount++) {
      if (this.inFlight.length > 0) this.deliver(0);
      else if (!this.tick()) return;
    }
    throw new Error(`the cluster did not settle within ${stepsMax} steps`);
  }

  /** Delivered payloads of `stream` at `node`, in order. */
  deliveredFrom(node: NodeId, stream: string): unknown[] {
    return (this.delivered.get(node) ?? [])
      .filter((message) => streamKey(message.id) === stream && message.kind !== 'null')
      .map((message) => message.payload);
  }

  private collect(node: NodeId): void {
    const state = this.endpoints.get(node);
    if (state === undefined) return;
    const timers = this.timers.get(node)!;
    for (const effect of takeEffects(state)) {
      switch (effect.type) {
        case 'send': {
          const flight = { source: node, target: effect.target, packet: effect.packet };
          this.options.onSend?.(flight);
          this.inFlight.push(flight);
          break;
        }
        case 'deliver':
          this.delivered.get(node)!.push(effect.message);
          break;
        case 'set-timer':
          timers.add(effect.name);
          break;
        case 'cancel-timer':
          timers.delete(effect.name);
          break;
      }
    }
  }
}

/** One step of a fault schedule over a `PureCluster`, as the property tests draw them. */
export type ScheduleCommand =
  | { readonly type: 'multicast'; readonly node: number }
  | { readonly type: 'deliver'; readonly index: number }
  | { readonly type: 'drop'; readonly index: number }
  | { readonly type: 'duplicate'; readonly index: number }
  | { readonly type: 'tick' }
  | { readonly type: 'clone'; readonly node: number }
  | { readonly type: 'crash'; readonly node: number };

/**
 * Schedule steps over five nodes (indexes 0 – 4): mostly multicasts and deliveries, some losses,
 * duplicates, timers and crashes; with `clone`, also a node's endpoint state replaced by a
 * `structuredClone` of it (the state must stay plain data).
 */
export function scheduleCommand(options: { readonly clone?: boolean } = {}): fc.Arbitrary<ScheduleCommand> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ type: fc.constant('multicast' as const), node: fc.nat(4) }) },
    { weight: 8, arbitrary: fc.record({ type: fc.constant('deliver' as const), index: fc.nat(40) }) },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('drop' as const), index: fc.nat(40) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('duplicate' as const), index: fc.nat(40) }) },
    { weight: 1, arbitrary: fc.constant({ type: 'tick' as const }) },
    ...(options.clone === true
      ? [{ weight: 1, arbitrary: fc.record({ type: fc.constant('clone' as const), node: fc.nat(4) }) }]
      : []),
    { weight: 1, arbitrary: fc.record({ type: fc.constant('crash' as const), node: fc.nat(4) }) },
  );
}

/**
 * Carries out one schedule step on `cluster`, whose nodes are `nodes` (indexed by the step) in the
 * groups `members`. A crashed node multicasts nothing; at most one node crashes, so both groups
 * keep a member, and the view change removes it. `payload` makes each multicast's payload.
 */
export function applyScheduleCommand(
  cluster: PureCluster,
  nodes: readonly NodeId[],
  members: Readonly<Record<string, readonly string[]>>,
  crashed: Set<NodeId>,
  next: ScheduleCommand,
  payload: (node: NodeId) => unknown,
): void {
  const flights = cluster.inFlight.length;
  switch (next.type) {
    case 'multicast': {
      const node = nodes[next.node]!;
      if (!crashed.has(node)) cluster.multicast(node, payload(node));
      return;
    }
    case 'deliver':
      if (flights > 0) cluster.deliver(next.index % flights);
      return;
    case 'drop':
      if (flights > 0) cluster.drop(next.index % flights);
      return;
    case 'duplicate':
      if (flights > 0) cluster.duplicate(next.index % flights);
      return;
    case 'tick':
      cluster.tick();
      return;
    case 'clone': {
      const node = nodes[next.node]!;
      const state = cluster.endpoints.get(node);
      if (state !== undefined) cluster.endpoints.set(node, structuredClone(state));
      return;
    }
    case 'crash': {
      const node = nodes[next.node]!;
      if (crashed.size > 0) return;
      crashed.add(node);
      cluster.crash(node);
      const group = cluster.groupOf(node);
      cluster.changeView(
        group,
        (members[group] ?? []).filter((member) => member !== node),
      );
      return;
    }
  }
}
