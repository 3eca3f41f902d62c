/**
 * A simulated deployment of one multicast connection between two groups, for the simulation and
 * group-size tests: every node runs the endpoint actor; a scripted membership installs views of
 * each group at its members (removing crashed members, re-adding restarted ones as new
 * incarnations); a workload multicasts from every node; a recorder checks every delivery as it
 * happens (claim 36: per-sender order, no gaps, no duplicates, nothing never sent).
 *
 * The scripted membership stands in for the membership layer being written alongside: it gives
 * each endpoint only its own group's view, so the other group's view is learned from the peers.
 */
import type { Node } from '@steadfast/runtime';
import { address, nodeId, type NodeId } from '@steadfast/wire';
import { multicastActor, type MulticastCommand } from '../actor.js';
import { bufferedMessages, streamKey, type EndpointState } from '../endpoint.js';
import type { ConnectionSettings, GroupView, MulticastKind } from '../types.js';

export const ACTOR = 'mc';
export const CONNECTION = 'A<->B';
const kinds: readonly MulticastKind[] = [
  'sync-request',
  'sync-reply',
  'async-request',
  'async-reply',
  'one-way',
];

/** The simulation surface the harness needs (a structural subset of `Simulation`). */
export interface SimulationLike {
  node(id: string): Node | undefined;
  isCrashed(id: string): boolean;
  incarnationOf(id: string): number;
  now(): number;
  readonly clock: { setTimer(delayMs: number, callback: () => void): unknown };
  readonly safetyMs: number;
  readonly livenessMs: number;
  random(label: string): { nextFloat(): number };
}

export interface HarnessOptions {
  readonly groups: { readonly A: readonly string[]; readonly B: readonly string[] };
  /** Nodes that multicast in the workload; default every node. */
  readonly senders?: readonly string[];
  /** Mean gap between one sender's multicasts (ms). */
  readonly sendGapMs?: number;
  /** Stop multicasting at this virtual time; default the end of the safety phase. */
  readonly sendUntilMs?: number;
  /** How often the scripted membership looks for crashed and restarted members. */
  readonly membershipTickMs?: number;
  readonly settings?: Partial<ConnectionSettings>;
}

/** Tracks one scripted view per group. */
interface ScriptedGroup {
  readonly name: 'A' | 'B';
  readonly all: readonly NodeId[];
  epoch: number;
  /** `node:incarnation` of the members of the current view. */
  signature: string;
  view: GroupView;
}

export class MulticastHarness {
  /** Stream key → sequence → payload, recorded when `multicast` said ok. */
  readonly sent = new Map<string, Map<number, unknown>>();
  /** Replica (`node:incarnation`) → stream key → last sequence delivered. */
  readonly lastDelivered = new Map<string, Map<string, number>>();
  readonly violations: string[] = [];
  deliveries = 0;
  multicasts = 0;
  windowFull = 0;
  viewChanges = 0;
  private readonly groups: Record<'A' | 'B', ScriptedGroup>;
  private readonly windowMax: number;

  constructor(private readonly options: HarnessOptions) {
    const make = (name: 'A' | 'B'): ScriptedGroup => {
      const all = options.groups[name].map((member) => nodeId(member));
      return {
        name,
        all,
        epoch: 1,
        signature: '',
        view: { group: name, epoch: 1, members: all, primary: all[0]! },
      };
    };
    this.groups = { A: make('A'), B: make('B') };
    this.windowMax = options.settings?.windowMax ?? 128;
  }

  get nodes(): string[] {
    return [...this.options.groups.A, ...this.options.groups.B];
  }

  groupOf(node: string): ScriptedGroup {
    return this.groups.A.all.includes(node as NodeId) ? this.groups.A : this.groups.B;
  }

  /** The `setup` of the simulation: spawns the endpoint and gives it its group's current view. */
  setup = (node: Node, context: { readonly incarnation: number }): void => {
    const group = this.groupOf(node.id);
    const other = group.name === 'A' ? this.groups.B : this.groups.A;
    const replica = `${node.id}:${context.incarnation}`;
    node.spawn(
      ACTOR,
      multicastActor({
        actorName: ACTOR,
        onDeliver: (message) => this.onDeliver(replica, context.incarnation, message),
        onMulticast: (result, command) => {
          if (result.ok && command.type === 'mc-multicast') {
            const key = streamKey(result.id);
            let stream = this.sent.get(key);
            if (stream === undefined) this.sent.set(key, (stream = new Map()));
            stream.set(result.id.sequence, command.payload);
            this.multicasts++;
          } else if (!result.ok && result.error.type === 'window-full') this.windowFull++;
        },
      }),
      {
        connection: CONNECTION,
        groups: ['A', 'B'],
        group: group.name,
        self: node.id,
        incarnation: context.incarnation,
        contacts: other.all.slice(0, 1),
        ...this.options.settings,
      },
    );
    node.tell(address(node.id, ACTOR), { type: 'mc-view', view: group.view } satisfies MulticastCommand);
  };

  /** The `workload`: the scripted membership and the multicasting senders. */
  workload = (simulation: SimulationLike): void => {
    const endMs = simulation.safetyMs + simulation.livenessMs;
    const tickMs = this.options.membershipTickMs ?? 100;
    const membership = (): void => {
      for (const group of Object.values(this.groups)) this.updateView(simulation, group);
      if (simulation.now() + tickMs < endMs) simulation.clock.setTimer(tickMs, membership);
    };
    for (const group of Object.values(this.groups)) group.signature = this.signatureOf(simulation, group.all);
    simulation.clock.setTimer(tickMs, membership);
    const sendUntilMs = this.options.sendUntilMs ?? simulation.safetyMs;
    const gapMs = this.options.sendGapMs ?? 60;
    for (const sender of this.options.senders ?? this.nodes) {
      const random = simulation.random(`sender:${sender}`);
      let counter = 0;
      const next = (): void => {
        const node = simulation.node(sender);
        if (node !== undefined) {
          const roll = random.nextFloat();
          const target = address(sender, ACTOR);
          if (roll < 0.15) {
            node.tell(target, { type: 'mc-piggyback', key: 'order', data: { at: simulation.now() } });
          } else {
            const kind = kinds[Math.floor(random.nextFloat() * kinds.length)]!;
            node.tell(target, { type: 'mc-multicast', kind, payload: { from: sender, n: ++counter } });
          }
        }
        const delayMs = Math.round(random.nextFloat() * 2 * gapMs);
        if (simulation.now() + delayMs < sendUntilMs) simulation.clock.setTimer(delayMs, next);
      };
      simulation.clock.setTimer(Math.round(random.nextFloat() * gapMs), next);
    }
  };

  /** Checked after every event: new violations from the recorder, and bounded buffers. */
  invariant = (simulation: SimulationLike): string[] => {
    const found = this.violations.splice(0);
    for (const node of this.nodes) {
      const state = this.endpointOf(simulation, node);
      if (state === undefined) continue;
      if (state.counters.holes > 0) found.push(`${node}: skipped past a stable point mid-stream (a hole)`);
      for (const [key, stream] of Object.entries(state.streams)) {
        const buffered = stream.buffer.length - stream.bufferHead;
        const pending = Object.keys(stream.pending).length;
        // The retransmission buffer holds exactly (stable, delivered]: retransmissions read it by position.
        if (stream.stable <= stream.delivered && buffered !== stream.delivered - stream.stable)
          found.push(
            `${node}: stream ${key} buffers ${buffered} messages for (${stream.stable}, ${stream.delivered}]`,
          );
        if (buffered > this.windowMax || pending > this.windowMax)
          found.push(
            `${node}: stream ${key} holds ${buffered} + ${pending} messages, over the window ${this.windowMax}`,
          );
      }
    }
    return found;
  };

  /**
   * Checked at the end, after the heal: every message of a sender that is still alive reached every
   * live replica; all live replicas agree on how much of each departed sender's stream they have;
   * retransmission and early-arrival buffers are empty (garbage collection).
   */
  liveness = (simulation: SimulationLike): string[] => {
    const found: string[] = [];
    const states = new Map<string, EndpointState>();
    for (const node of this.nodes) {
      const state = this.endpointOf(simulation, node);
      if (state === undefined) found.push(`${node} is not running at the end`);
      else states.set(node, state);
    }
    for (const [node, state] of states) {
      const buffered = bufferedMessages(state);
      if (buffered > 0) found.push(`${node} still buffers ${buffered} messages after the heal`);
    }
    const streamKeys = new Set<string>();
    for (const state of states.values()) {
      for (const key of Object.keys(state.streams)) streamKeys.add(key);
      for (const key of Object.keys(state.retired)) streamKeys.add(key);
    }
    for (const key of streamKeys) {
      const [origin, incarnation] = key.split(':') as [string, string];
      const sender = states.get(origin);
      const alive = sender !== undefined && sender.incarnation === Number(incarnation);
      const reached = new Map<string, number | undefined>();
      for (const [node, state] of states)
        reached.set(node, state.streams[key]?.delivered ?? state.retired[key]);
      if (alive) {
        for (const [node, delivered] of reached)
          if ((delivered ?? 0) !== sender.sequence)
            found.push(
              `${node} reached ${String(delivered)} of live sender ${key}, which sent ${sender.sequence}`,
            );
      } else {
        const values = new Set([...reached.values()].filter((value) => value !== undefined));
        if (values.size > 1)
          found.push(`replicas disagree on departed stream ${key}: ${[...values].join(', ')}`);
      }
    }
    return found;
  };

  private onDeliver(
    replica: string,
    incarnation: number,
    message: {
      id: { origin: NodeId; incarnation: number; sequence: number };
      kind: string;
      payload: unknown;
    },
  ): void {
    this.deliveries++;
    const key = streamKey(message.id);
    let streams = this.lastDelivered.get(replica);
    if (streams === undefined) this.lastDelivered.set(replica, (streams = new Map()));
    const last = streams.get(key);
    const sequence = message.id.sequence;
    if (last === undefined) {
      // Members of the first views (incarnation 1) must see every stream from its first message;
      // later incarnations are new members and start from the stable point.
      if (incarnation === 1 && sequence !== 1)
        this.violations.push(`${replica} first delivered ${key}#${sequence}, not #1`);
    } else if (sequence !== last + 1) {
      this.violations.push(
        `${replica} delivered ${key}#${sequence} after #${last} (gap, duplicate or disorder)`,
      );
    }
    streams.set(key, sequence);
    const sent = this.sent.get(key)?.get(sequence);
    if (message.kind === 'null') {
      if (sent !== undefined) this.violations.push(`${replica} got ${key}#${sequence} as a null message`);
    } else if (sent === undefined || JSON.stringify(sent) !== JSON.stringify(message.payload)) {
      this.violations.push(`${replica} delivered ${key}#${sequence}, which was never sent with that payload`);
    }
  }

  private endpointOf(simulation: SimulationLike, node: string): EndpointState | undefined {
    const running = simulation.node(node);
    if (running === undefined || !running.hasActor(ACTOR)) return undefined;
    return running.actorState(ACTOR) as EndpointState;
  }

  private signatureOf(simulation: SimulationLike, members: readonly NodeId[]): string {
    return members.map((member) => `${member}:${simulation.incarnationOf(member)}`).join(',');
  }

  /** The scripted membership: a view of the running members, installed when it changed. */
  private updateView(simulation: SimulationLike, group: ScriptedGroup): void {
    const running = group.all.filter((member) => !simulation.isCrashed(member));
    // A group with every member down keeps its last view: there is nobody to install one at.
    if (running.length === 0) return;
    const signature = this.signatureOf(simulation, running);
    if (signature === group.signature) return;
    group.signature = signature;
    group.epoch++;
    group.view = { group: group.name, epoch: group.epoch, members: running, primary: running[0]! };
    this.viewChanges++;
    for (const member of running) {
      simulation
        .node(member)
        ?.tell(address(member, ACTOR), { type: 'mc-view', view: group.view } satisfies MulticastCommand);
    }
  }
}
