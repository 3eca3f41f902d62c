/**
 * The group under the simulator: a cluster of members with a client on each member node, an
 * observer that checks the safety invariants of atomic broadcast as events happen, the liveness
 * checks run after the heal, and `runGroupSimulation`, which the CLI's `steadfast sim group` and
 * the tests call once per seed.
 *
 * Invariants (checked after every event; the first violation stops the run):
 * - agreement on order: no two deliveries, at any members, put different ops at one op number;
 * - no duplicates: one (client id, request number) is delivered at one op number only, and each
 *   member incarnation delivers op numbers consecutively (never one twice);
 * - integrity: every delivered op was submitted by a client, with that content;
 * - acknowledged means ordered: the op number a client was told its op committed at holds that op;
 * - at most one primary per epoch: every member that installs epoch `e` agrees on its primary, and
 *   no two members ever act as primary of the same epoch;
 * - configurations change only by committed ops: every view is installed in the initial
 *   configuration or in one a committed membership change produced (same version, same members),
 *   every member agrees on the configuration each change produced, and a node never installs a
 *   view in an older configuration than one it installed before;
 * - membership changes are delivered in the log order like ops, and each was asked for.
 * Liveness (after the heal): every member of the final configuration is up, in normal status in
 * that configuration and in the same epoch, and has delivered every op a client was told
 * committed; members with the same commit point hold the same application state (so a member
 * that joined by state transfer holds the others' delivered prefix); every other node is outside;
 * every client's ops and the operator's changes were all answered. With `autoMembership`, every
 * node must instead be back in the final configuration, and a change the member asked for itself
 * (an eviction, a rejoin) counts as asked for.
 */
import { defineActor, type ActorBehavior, type Node } from '@steadfast/runtime';
import {
  ALL_FAULTS,
  defaultNodeIds,
  formatFaults,
  Simulation,
  type FaultKind,
  type FaultSchedule,
  type Invariant,
  type NemesisOptions,
  type SetupContext,
  type SimulationPhase,
  type SimulationResult,
} from '@steadfast/sim';
import { nodeId, type NodeId } from '@steadfast/wire';
import {
  groupMember,
  memberActorName,
  memberAddress,
  type GroupApplication,
  type MemberEvent,
} from '../member.js';
import type { BroadcastReply, MembershipReply } from '../messages.js';
import type { GroupSettings } from '../settings.js';
import type { MemberState } from '../state.js';

/** One view installation, as observed. */
export interface ObservedView {
  readonly atMs: number;
  readonly node: NodeId;
  readonly epoch: number;
  readonly primary: NodeId;
}

/** One delivery, as observed. */
export interface ObservedDelivery {
  readonly atMs: number;
  readonly node: NodeId;
  readonly opNumber: number;
  readonly key: string;
}

function opKey(clientId: string, requestNumber: number): string {
  return `${clientId}#${requestNumber}`;
}

function changeKey(type: 'join' | 'leave', node: string): string {
  return `membership:${type}:${node}`;
}

function membersKey(members: readonly string[]): string {
  return [...members].sort().join(',');
}

/**
 * Watches members and clients and checks the safety invariants as events arrive. Violations are
 * queued and handed to the simulation by `groupInvariants` after the event.
 */
export class GroupRecorder {
  readonly views: ObservedView[] = [];
  readonly deliveries: ObservedDelivery[] = [];
  /** Keep every delivery in `deliveries` (scenario tests); off in bulk runs to save memory. */
  private readonly keepDeliveries: boolean;
  private readonly order = new Map<number, string>();
  private readonly deliveredAt = new Map<string, number>();
  private readonly submitted = new Map<string, string>();
  private readonly acknowledged = new Map<string, number>();
  private readonly deliveredUpTo = new Map<string, number>();
  private readonly primaries = new Map<number, NodeId>();
  /** Configuration version -> its members (sorted), as committed; version 0 is the initial one. */
  private readonly configurations = new Map<number, string>();
  private readonly configurationMembers = new Map<number, readonly NodeId[]>();
  private readonly requestedChanges = new Set<string>();
  private readonly installedVersion = new Map<string, number>();
  private readonly pendingViolations: string[] = [];
  deliveriesTotal = 0;
  acknowledgedMax = 0;
  failures = 0;

  constructor(
    private readonly now: () => number,
    options: { readonly keepDeliveries?: boolean; readonly members?: readonly string[] } = {},
  ) {
    this.keepDeliveries = options.keepDeliveries ?? false;
    if (options.members !== undefined)
      this.recordConfiguration(
        0,
        options.members.map((id) => nodeId(id)),
      );
  }

  /** The member observer. */
  observe = (event: MemberEvent): void => {
    switch (event.type) {
      case 'deliver':
        return this.onDeliver(
          event.node,
          event.opNumber,
          opKey(event.clientId, event.requestNumber),
          event.op,
        );
      case 'snapshot-installed':
        this.deliveredUpTo.set(event.node, Math.max(this.deliveredUpTo.get(event.node) ?? 0, event.opNumber));
        return;
      case 'restored':
        // A new incarnation resumes from its disk: it delivers again from its persisted commit point.
        this.deliveredUpTo.set(event.node, event.commitNumber);
        return;
      case 'view-installed':
        this.onViewConfiguration(event.node, event.epoch, event.members, event.configurationVersion);
        return this.onView(event.node, event.epoch, event.primary);
      case 'reconfigured':
        return this.onReconfigured(event.node, event.opNumber, event.change, event.members);
      case 'left':
        return;
      case 'membership-asked':
        // autoMembership: the member asked for this change itself (an eviction or a rejoin).
        return this.requestChange(event.change.type, event.change.node);
    }
  };

  /** An operator asked for this change (integrity of membership changes). */
  requestChange(type: 'join' | 'leave', node: string): void {
    this.requestedChanges.add(changeKey(type, node));
  }

  /** The newest committed configuration seen (the one the group must end in). */
  latestConfiguration(): { readonly version: number; readonly members: readonly NodeId[] } | undefined {
    const version = Math.max(...this.configurationMembers.keys());
    const members = this.configurationMembers.get(version);
    return members === undefined ? undefined : { version, members };
  }

  submit(clientId: string, requestNumber: number, op: unknown): void {
    this.submitted.set(opKey(clientId, requestNumber), JSON.stringify(op));
  }

  acknowledge(clientId: string, requestNumber: number, opNumber: number): void {
    const key = opKey(clientId, requestNumber);
    const earlier = this.acknowledged.get(key);
    if (earlier !== undefined && earlier !== opNumber)
      this.violation(`${key} was acknowledged at op ${earlier} and at op ${opNumber}`);
    this.acknowledged.set(key, opNumber);
    this.acknowledgedMax = Math.max(this.acknowledgedMax, opNumber);
    const there = this.order.get(opNumber);
    if (there !== undefined && there !== key)
      this.violation(`${key} was acknowledged at op ${opNumber}, which holds ${there}`);
  }

  fail(): void {
    this.failures++;
  }

  deliveredUpToOf(node: string): number {
    return this.deliveredUpTo.get(node) ?? 0;
  }

  /** Hands over the violations seen since the last call. */
  takeViolations(): string[] {
    return this.pendingViolations.splice(0);
  }

  private violation(message: string): void {
    this.pendingViolations.push(message);
  }

  private onDeliver(node: NodeId, opNumber: number, key: string, op: unknown): void {
    this.deliveriesTotal++;
    if (this.keepDeliveries) this.deliveries.push({ atMs: this.now(), node, opNumber, key });
    const previous = this.deliveredUpTo.get(node) ?? 0;
    if (opNumber !== previous + 1)
      this.violation(`${node} delivered op ${opNumber} after op ${previous} (a repeat or a gap)`);
    this.deliveredUpTo.set(node, Math.max(previous, opNumber));
    const there = this.order.get(opNumber);
    if (there === undefined) this.order.set(opNumber, key);
    else if (there !== key)
      this.violation(`agreement: ${node} delivered ${key} at op ${opNumber}, others ${there}`);
    const at = this.deliveredAt.get(key);
    if (at === undefined) this.deliveredAt.set(key, opNumber);
    else if (at !== opNumber) this.violation(`duplicate: ${key} delivered at op ${at} and at op ${opNumber}`);
    const content = this.submitted.get(key);
    if (content === undefined)
      this.violation(`integrity: ${node} delivered ${key}, which no client submitted`);
    else if (content !== JSON.stringify(op)) this.violation(`integrity: ${key} delivered with other content`);
    const acknowledgedAt = this.acknowledged.get(key);
    if (acknowledgedAt !== undefined && acknowledgedAt !== opNumber)
      this.violation(`${key} was acknowledged at op ${acknowledgedAt} but delivered at op ${opNumber}`);
  }

  private recordConfiguration(version: number, members: readonly NodeId[]): void {
    const key = membersKey(members);
    const known = this.configurations.get(version);
    if (known === undefined) {
      this.configurations.set(version, key);
      this.configurationMembers.set(version, members);
    } else if (known !== key)
      this.violation(`configuration ${version} is [${known}] at one member and [${key}] at another`);
  }

  private onReconfigured(
    node: NodeId,
    opNumber: number,
    change: { readonly type: 'join' | 'leave'; readonly node: string },
    members: readonly NodeId[],
  ): void {
    const key = changeKey(change.type, change.node);
    // Ordered like an op: agreement on the op number and consecutive delivery per incarnation.
    this.deliveriesTotal++;
    const previous = this.deliveredUpTo.get(node) ?? 0;
    if (opNumber !== previous + 1)
      this.violation(`${node} delivered op ${opNumber} after op ${previous} (a repeat or a gap)`);
    this.deliveredUpTo.set(node, Math.max(previous, opNumber));
    const there = this.order.get(opNumber);
    if (there === undefined) this.order.set(opNumber, key);
    else if (there !== key)
      this.violation(`agreement: ${node} delivered ${key} at op ${opNumber}, others ${there}`);
    if (!this.requestedChanges.has(key))
      this.violation(`integrity: ${node} committed ${key}, which nobody asked for`);
    this.recordConfiguration(opNumber, members);
  }

  private onViewConfiguration(
    node: NodeId,
    epoch: number,
    members: readonly NodeId[],
    version: number,
  ): void {
    if (version === 0 && !this.configurations.has(0)) this.recordConfiguration(0, members);
    const committed = this.configurations.get(version);
    if (committed === undefined)
      this.violation(
        `${node} installed epoch ${epoch} in configuration ${version}, which no committed op produced`,
      );
    else if (committed !== membersKey(members))
      this.violation(
        `${node} installed epoch ${epoch} with members [${membersKey(members)}], but configuration ${version} is [${committed}]`,
      );
    const before = this.installedVersion.get(node) ?? 0;
    if (version < before)
      this.violation(`${node} went back from configuration ${before} to ${version} (epoch ${epoch})`);
    this.installedVersion.set(node, Math.max(before, version));
  }

  private onView(node: NodeId, epoch: number, primary: NodeId): void {
    this.views.push({ atMs: this.now(), node, epoch, primary });
    const known = this.primaries.get(epoch);
    if (known === undefined) this.primaries.set(epoch, primary);
    else if (known !== primary)
      this.violation(`two primaries in epoch ${epoch}: ${known} and ${primary} (seen by ${node})`);
  }

  /** Membership changes committed (configurations after the initial one). */
  changesCommitted(): number {
    return Math.max(0, this.configurations.size - 1);
  }

  /** Epochs installed with a primary (view changes = this minus the initial view). */
  epochsInstalled(): number {
    return this.primaries.size;
  }
}

/** The safety invariants of the group, for `Simulation`'s `invariants`. */
export function groupInvariants(recorder: GroupRecorder): Invariant {
  return () => recorder.takeViolations();
}

/** The liveness checks, for `Simulation`'s `liveness` (run once after the heal phase). */
export function groupLiveness(
  recorder: GroupRecorder,
  group: string,
  options: { readonly clients: boolean; readonly autoMembership?: boolean },
): Invariant {
  return (simulation) => {
    const violations: string[] = [];
    const name = memberActorName(group);
    const epochs = new Set<number>();
    const final = recorder.latestConfiguration();
    const appStates = new Map<number, string>();
    for (const id of simulation.nodeIds) {
      const node = simulation.node(id);
      const state = node?.actorState(name) as MemberState | undefined;
      if (node === undefined || state === undefined) {
        violations.push(`member ${id} is not running after the heal`);
        continue;
      }
      const isMember = final === undefined || final.members.includes(id as NodeId);
      if (options.clients) violations.push(...clientLiveness(node, id));
      if (!isMember && options.autoMembership === true) {
        // Every node is running after the heal, so every node must have asked its way back in.
        violations.push(`${id} is running but not back in configuration ${final?.version} (${state.status})`);
        continue;
      }
      if (!isMember) {
        if (state.status !== 'outside')
          violations.push(`${id} is not in configuration ${final?.version} but is in ${state.status} status`);
        continue;
      }
      if (state.status !== 'normal')
        violations.push(`member ${id} is in ${state.status} status after the heal`);
      else if (final !== undefined && state.configurationVersion !== final.version)
        violations.push(
          `member ${id} is in configuration ${state.configurationVersion}, not ${final.version}`,
        );
      epochs.add(state.epoch);
      const digest = JSON.stringify(state.appState);
      const same = appStates.get(state.commitNumber);
      if (same === undefined) appStates.set(state.commitNumber, digest);
      else if (same !== digest)
        violations.push(`member ${id} holds another application state at op ${state.commitNumber}`);
      if (recorder.deliveredUpToOf(id) < recorder.acknowledgedMax)
        violations.push(
          `member ${id} delivered up to op ${recorder.deliveredUpToOf(id)}, but op ${recorder.acknowledgedMax} was acknowledged`,
        );
    }
    if (epochs.size > 1) violations.push(`members ended in different epochs: ${[...epochs].join(', ')}`);
    return violations;
  };
}

/** Every client's ops, and the operator's changes if it runs on this node, were all answered. */
function clientLiveness(node: Node, id: string): string[] {
  const violations: string[] = [];
  const client = node.actorState(CLIENT_ACTOR_NAME) as ClientState | undefined;
  if (client === undefined) violations.push(`no client on ${id}`);
  else if (client.done < client.opsTotal)
    violations.push(`client ${client.clientId} on ${id} has ${client.done}/${client.opsTotal} ops answered`);
  const operator = node.actorState(OPERATOR_ACTOR_NAME) as OperatorState | undefined;
  if (operator !== undefined && operator.done < operator.input.changesTotal)
    violations.push(
      `the operator on ${id} has ${operator.done}/${operator.input.changesTotal} changes answered`,
    );
  return violations;
}

// -----------------------------------------------------------------------------------------------
// The workload: a client per member node submitting ops one at a time, retrying with the same
// request number (so the member's client table keeps each op to one delivery).

/** The simulated client's actor name; `groupCluster` spawns it on every node unless `clients: false`. */
export const CLIENT_ACTOR_NAME = 'group-client';

export interface ClientInput {
  readonly group: string;
  readonly members: readonly string[];
  readonly opsTotal: number;
  readonly thinkMs: number;
  readonly retryMs: number;
}

export interface ClientState {
  readonly clientId: string;
  readonly opsTotal: number;
  /** Ops answered (committed, or refused as invalid). */
  readonly done: number;
  /** Index into `members` of the member the next attempt goes to. */
  readonly target: number;
  readonly attempts: number;
}

/** A client: its ops are `{ client, n }`; every submission and acknowledgement goes to the recorder. */
export function groupClient(recorder: GroupRecorder): ActorBehavior {
  return defineActor<ClientState & { readonly input: ClientInput }>({
    kind: 'group-client',
    initial(ctx, raw) {
      const input = raw as ClientInput;
      ctx.setTimer('send', input.thinkMs);
      const clientId = `${ctx.node}.${ctx.id().slice(0, 8)}`;
      return { clientId, opsTotal: input.opsTotal, done: 0, target: 0, attempts: 0, input };
    },
    handle(state, input, ctx) {
      const { members, group, retryMs, thinkMs } = state.input;
      const send = (next: typeof state) => {
        if (next.done >= next.opsTotal) return next;
        const requestNumber = next.done + 1;
        const op = { client: next.clientId, n: requestNumber };
        if (next.attempts === 0) recorder.submit(next.clientId, requestNumber, op);
        ctx.request(memberAddress(group, members[next.target]!), {
          type: 'broadcast',
          op,
          clientId: next.clientId,
          requestNumber,
        });
        ctx.setTimer('retry', retryMs);
        return { ...next, attempts: next.attempts + 1 };
      };
      if (input.type === 'timer') {
        if (input.name === 'send') return send(state);
        if (input.name === 'retry') return send({ ...state, target: (state.target + 1) % members.length });
        return state;
      }
      const body = input.envelope.body as BroadcastReply;
      if (body.type === 'invalid-broadcast') {
        recorder.fail();
        ctx.cancelTimer('retry');
        ctx.setTimer('send', thinkMs);
        return { ...state, done: state.done + 1, attempts: 0 };
      }
      if (body.clientId !== state.clientId || body.requestNumber !== state.done + 1) return state;
      switch (body.type) {
        case 'broadcast-committed':
          recorder.acknowledge(body.clientId, body.requestNumber, body.opNumber);
          ctx.cancelTimer('retry');
          ctx.setTimer('send', thinkMs);
          return { ...state, done: state.done + 1, attempts: 0 };
        case 'not-primary': {
          const hinted = body.primary === null ? -1 : members.indexOf(body.primary);
          ctx.setTimer('send', hinted >= 0 ? 1 : retryMs / 4);
          return { ...state, target: hinted >= 0 ? hinted : (state.target + 1) % members.length };
        }
        case 'no-quorum':
        case 'busy':
          ctx.setTimer('send', retryMs / 4);
          return state;
        default:
          return state;
      }
    },
  });
}

// -----------------------------------------------------------------------------------------------
// The operator: asks for joins and leaves, one at a time, keeping between `membersMin` and all
// nodes in the group; retries with the same request until it is answered.

/** The simulated operator's actor name (`groupOperator`), spawned on the first node if it has changes. */
export const OPERATOR_ACTOR_NAME = 'group-operator';

/**
 * The spawn input of `groupOperator`: which group, which nodes it may add or remove, how many changes
 * to ask for (a script, or random ones that keep the group between `membersMin` members and every
 * node), and its pacing in milliseconds of virtual time.
 */
export interface OperatorInput {
  readonly group: string;
  /** Every node of the simulation (members and spares), in the order clients try them. */
  readonly nodes: readonly string[];
  /** The configuration the group was spawned with (the operator's first guess). */
  readonly members: readonly string[];
  /** Changes to ask for in all; the operator stops after this many answers. */
  readonly changesTotal: number;
  /** Changes to ask for in this order (scenario tests); when absent, drawn at random. */
  readonly script?: readonly MembershipChangeRequest[];
  /** Wait between one answered change and the next request. */
  readonly everyMs: number;
  /** An unanswered request is sent again, to the next node, after this long. */
  readonly retryMs: number;
  /** Random changes never take the group below this many members. */
  readonly membersMin: number;
}

/** One change an operator asks for: the `join` or `leave` request body, as a scenario scripts it. */
export interface MembershipChangeRequest {
  readonly type: 'join' | 'leave';
  readonly node: string;
}

/** The state of the simulated operator actor: its input, its progress and the request in flight. */
export interface OperatorState {
  readonly input: OperatorInput;
  /** The configuration as the last answer described it. */
  readonly members: readonly string[];
  /** Changes answered so far (committed, or refused as invalid). */
  readonly done: number;
  /** The change asked for and not yet answered, if any. */
  readonly request: { readonly type: 'join' | 'leave'; readonly node: string } | null;
  /** Index into `input.nodes` of the node the request goes to. */
  readonly target: number;
}

/** The operator; its requests go to the recorder, which checks that only asked-for changes commit. */
export function groupOperator(recorder: GroupRecorder): ActorBehavior {
  return defineActor<OperatorState>({
    kind: 'group-operator',
    initial(ctx, raw) {
      const input = raw as OperatorInput;
      ctx.setTimer('change', input.everyMs);
      return { input, members: input.members, done: 0, request: null, target: 0 };
    },
    handle(state, input, ctx) {
      const { nodes, group, retryMs, everyMs } = state.input;
      const send = (next: OperatorState): OperatorState => {
        if (next.request === null) return next;
        ctx.request(memberAddress(group, nodes[next.target]!), next.request);
        ctx.setTimer('retry', retryMs);
        return next;
      };
      if (input.type === 'timer') {
        if (input.name === 'retry') return send({ ...state, target: (state.target + 1) % nodes.length });
        if (input.name !== 'change' || state.request !== null || state.done >= state.input.changesTotal)
          return state;
        const request = state.input.script?.[state.done] ?? pickChange(state, ctx.random());
        recorder.requestChange(request.type, request.node);
        return send({ ...state, request });
      }
      const body = input.envelope.body as MembershipReply;
      const request = state.request;
      if (request === null) return state;
      if ('node' in body && (body.node !== request.node || body.change !== request.type)) return state;
      switch (body.type) {
        case 'membership-committed':
        case 'invalid-membership': {
          ctx.cancelTimer('retry');
          ctx.setTimer('change', everyMs);
          const members = body.type === 'membership-committed' ? body.members : state.members;
          return { ...state, members, done: state.done + 1, request: null };
        }
        case 'not-primary': {
          const hinted = body.primary === null ? -1 : nodes.indexOf(body.primary);
          ctx.setTimer('retry', hinted >= 0 ? 1 : retryMs / 4);
          return {
            ...state,
            target: hinted >= 0 ? (hinted - 1 + nodes.length) % nodes.length : state.target,
          };
        }
        case 'busy':
        case 'no-quorum':
          ctx.setTimer('retry', retryMs / 4);
          return { ...state, target: (state.target - 1 + nodes.length) % nodes.length };
        default:
          return state;
      }
    },
  });
}

/** A join while the group is small, a leave while it holds every node, else either at random. */
function pickChange(state: OperatorState, random: number): { type: 'join' | 'leave'; node: string } {
  const { nodes, membersMin } = state.input;
  const outside = nodes.filter((node) => !state.members.includes(node));
  const join = outside.length > 0 && (state.members.length <= membersMin || random < 0.5);
  const pool = join ? outside : state.members;
  // The same draw picks the node: scale what is left of it over the pool.
  const fraction = join ? random * 2 - Math.floor(random * 2) : random;
  const node = pool[Math.min(pool.length - 1, Math.floor(fraction * pool.length))]!;
  return { type: join ? 'join' : 'leave', node };
}

/** The application of the simulated group: a count and a rolling digest of the ops delivered. */
export const digestApplication: GroupApplication<{ readonly count: number; readonly digest: number }> = {
  initial: () => ({ count: 0, digest: 0 }),
  apply(state, op, meta) {
    const text = `${JSON.stringify(op)}@${meta.opNumber}`;
    let digest = state.digest;
    for (let index = 0; index < text.length; index++)
      digest = (Math.imul(digest, 31) + text.charCodeAt(index)) >>> 0;
    return { count: state.count + 1, digest };
  },
};

/**
 * Options of `groupCluster`: the group's members and spares, the workload (a client per node, ops
 * per client, pacing in virtual milliseconds), the operator's changes, and the members' settings.
 * Unset values default to group `g`, 40 ops per client, 15 ms think time, 100 ms retries, changes
 * every 200 ms.
 */
export interface GroupClusterOptions {
  readonly group?: string;
  /** The initial configuration. */
  readonly members: readonly string[];
  /** Nodes that run a member outside the group at first (they may be asked to join). */
  readonly spares?: readonly string[];
  /** Membership changes the operator (on the first member's node) asks for; default 0: no operator. */
  readonly membershipChanges?: number;
  /** The changes to ask for, in order (instead of random ones). */
  readonly membershipScript?: readonly MembershipChangeRequest[];
  readonly changeEveryMs?: number;
  /** Passed to every member: the local actor told of each view. */
  readonly notify?: string;
  readonly settings?: Partial<GroupSettings>;
  /** Run a client on every member node (default true). */
  readonly clients?: boolean;
  readonly opsPerClient?: number;
  readonly thinkMs?: number;
  readonly retryMs?: number;
  readonly keepDeliveries?: boolean;
}

/**
 * A simulated group ready for a `Simulation`: the `setup` that spawns the member, a client and
 * maybe the operator on each node, the recorder that watches them, and its invariants and liveness
 * checks. Call `bind` once the simulation exists, so the recorder stamps events with its clock.
 */
export interface GroupCluster {
  readonly group: string;
  readonly recorder: GroupRecorder;
  readonly setup: (node: Node, context: SetupContext) => void;
  readonly invariants: readonly Invariant[];
  readonly liveness: readonly Invariant[];
  /** Binds the recorder's clock to the simulation (call once it exists). */
  bind(simulation: Simulation): void;
}

/** The setup, recorder and checks of a simulated group; `Simulation` takes the rest. */
export function groupCluster(options: GroupClusterOptions): GroupCluster {
  const group = options.group ?? 'g';
  let clockOf: (() => number) | undefined;
  const recorder = new GroupRecorder(() => clockOf?.() ?? 0, {
    keepDeliveries: options.keepDeliveries ?? false,
    members: options.members,
  });
  const member = groupMember({
    group,
    members: options.members,
    application: digestApplication,
    ...(options.settings === undefined ? {} : { settings: options.settings }),
    ...(options.notify === undefined ? {} : { notify: options.notify }),
    observer: recorder.observe,
  });
  const client = groupClient(recorder);
  const operator = groupOperator(recorder);
  const clients = options.clients ?? true;
  const nodes = [...options.members, ...(options.spares ?? [])];
  const operatorInput: OperatorInput = {
    group,
    nodes,
    members: options.members,
    changesTotal: options.membershipScript?.length ?? options.membershipChanges ?? 0,
    ...(options.membershipScript === undefined ? {} : { script: options.membershipScript }),
    everyMs: options.changeEveryMs ?? 200,
    retryMs: options.retryMs ?? 100,
    membersMin: Math.min(3, options.members.length),
  };
  const clientInput: ClientInput = {
    group,
    members: nodes,
    opsTotal: options.opsPerClient ?? 40,
    thinkMs: options.thinkMs ?? 15,
    retryMs: options.retryMs ?? 100,
  };
  const setup = (node: Node, context: SetupContext): void => {
    const name = memberActorName(group);
    node.spawn(name, member, undefined, context.restart ? context.actorDisk.get(name) : undefined);
    if (clients) node.spawn(CLIENT_ACTOR_NAME, client, clientInput);
    if (operatorInput.changesTotal > 0 && node.id === nodes[0])
      node.spawn(OPERATOR_ACTOR_NAME, operator, operatorInput);
  };
  return {
    group,
    recorder,
    setup,
    invariants: [groupInvariants(recorder)],
    liveness: [
      groupLiveness(recorder, group, { clients, autoMembership: options.settings?.autoMembership === true }),
    ],
    bind(simulation) {
      clockOf = () => simulation.now();
    },
  };
}

// -----------------------------------------------------------------------------------------------
// One seed.

/**
 * Options of `runGroupSimulation`, one seed. Unset values: all fault kinds, 3 members, no spares or
 * membership changes, 2 s safety and 2 s liveness phases (virtual time), the default settings.
 */
export interface GroupSimulationOptions {
  readonly seed: number;
  /** Fault kinds for the nemesis. Default: all of them. */
  readonly faults?: readonly FaultKind[];
  /** Member count (named n1..nK) or the member ids. Default 3. */
  readonly members?: number | readonly string[];
  /** Spare nodes (named after the members: n4, n5 ...) that start outside the group. Default 0. */
  readonly spares?: number;
  /** Joins and leaves the operator asks for during the run. Default 0. */
  readonly membershipChanges?: number;
  readonly safetyMs?: number;
  readonly livenessMs?: number;
  readonly opsPerClient?: number;
  readonly settings?: Partial<GroupSettings>;
  readonly schedule?: FaultSchedule;
  readonly nemesis?: NemesisOptions;
  readonly eventsMax?: number;
  /** Record the runtime trace (default false: bulk runs are faster without it). */
  readonly trace?: boolean;
  readonly wallClock?: () => number;
}

/** An invariant or liveness check that failed in one seed, with the command that replays that seed. */
export interface GroupViolation {
  readonly seed: number;
  readonly atMs: number;
  readonly phase: SimulationPhase;
  readonly message: string;
  readonly replayCommand: string;
}

/**
 * The outcome of one seed of `runGroupSimulation`: whether every check passed, the violations, the
 * totals the CLI sums over seeds, the replay command and the simulator's own result.
 */
export interface GroupSimulationResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: readonly GroupViolation[];
  /** Deliveries by all members (every member delivers each op). */
  readonly deliveries: number;
  /** Epochs installed after the first. */
  readonly viewChanges: number;
  /** Membership changes committed. */
  readonly changesCommitted: number;
  readonly events: number;
  readonly simulatedMs: number;
  readonly wallMs?: number;
  readonly replayCommand: string;
  readonly simulation: SimulationResult;
}

/** The command that replays one seed of `steadfast sim group`. */
export function groupReplayCommand(
  seed: number,
  faults: readonly FaultKind[],
  members: number,
  membership: {
    readonly spares: number;
    readonly membershipChanges: number;
    readonly autoMembership?: boolean;
  } = {
    spares: 0,
    membershipChanges: 0,
  },
): string {
  const words = [
    'pnpm',
    'steadfast',
    'sim',
    'group',
    '--seeds',
    '1',
    '--from',
    String(seed),
    '--faults',
    formatFaults(faults),
  ];
  if (members !== 3) words.push('--members', String(members));
  if (membership.membershipChanges > 0)
    words.push('--spares', String(membership.spares), '--changes', String(membership.membershipChanges));
  if (membership.autoMembership === true) words.push('--auto-membership');
  return words.join(' ');
}

/** Runs one seed of the group workload under the nemesis: safety phase, heal, liveness phase. */
export async function runGroupSimulation(options: GroupSimulationOptions): Promise<GroupSimulationResult> {
  const members =
    typeof options.members === 'object'
      ? options.members.map((id) => nodeId(id))
      : defaultNodeIds(options.members ?? 3);
  const spares = defaultNodeIds(members.length + (options.spares ?? 0)).slice(members.length);
  const faults = options.faults ?? ALL_FAULTS;
  const cluster = groupCluster({
    members,
    spares,
    membershipChanges: options.membershipChanges ?? 0,
    ...(options.settings === undefined ? {} : { settings: options.settings }),
    ...(options.opsPerClient === undefined ? {} : { opsPerClient: options.opsPerClient }),
  });
  const simulation = new Simulation({
    seed: options.seed,
    nodes: [...members, ...spares],
    setup: cluster.setup,
    faults,
    safetyMs: options.safetyMs ?? 2_000,
    livenessMs: options.livenessMs ?? 2_000,
    invariants: cluster.invariants,
    liveness: cluster.liveness,
    trace: options.trace ?? false,
    hashStates: false,
    ...(options.schedule === undefined ? {} : { schedule: options.schedule }),
    ...(options.nemesis === undefined ? {} : { nemesis: options.nemesis }),
    ...(options.eventsMax === undefined ? {} : { eventsMax: options.eventsMax }),
    ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
  });
  cluster.bind(simulation);
  const result = await simulation.run();
  const replay = groupReplayCommand(options.seed, faults, members.length, {
    spares: spares.length,
    membershipChanges: options.membershipChanges ?? 0,
    autoMembership: options.settings?.autoMembership === true,
  });
  return {
    seed: options.seed,
    ok: result.ok,
    violations: result.violations.map((violation) => ({
      seed: options.seed,
      atMs: violation.atMs,
      phase: violation.phase,
      message: violation.message,
      replayCommand: replay,
    })),
    deliveries: cluster.recorder.deliveriesTotal,
    viewChanges: Math.max(0, cluster.recorder.epochsInstalled() - 1),
    changesCommitted: cluster.recorder.changesCommitted(),
    events: result.events,
    simulatedMs: result.simulatedMs,
    ...(result.wallMs === undefined ? {} : { wallMs: result.wallMs }),
    replayCommand: replay,
    simulation: result,
  };
}
