/**
 * Deploying an actor replicated is configuration, not a rewrite: `group(behavior, { replicas,
 * style, policy })` wraps any `ActorBehavior` (a `defineActor` reducer or an xstate machine via
 * `fromMachine`) into a replica actor that a node hosts like any other. The replica actor is the
 * thin host of `ReplicaRole`: it feeds it the connection packets, view commands and timers it
 * receives, and carries out the role's effects through its own context.
 *
 * Every replica of every group is an actor named `REPLICA_ACTOR_NAME` on its node, so the role
 * deals in node ids only (as the multicast layer does).
 */
import {
  actorRegistry,
  type ActorBehavior,
  type ActorContext,
  type ActorInstance,
  type ActorRegistry,
  type Clock,
} from '@steadfast/runtime';
import {
  isGroupView,
  isPacketBody,
  packetFromEnvelope,
  packetToEnvelope,
  type GroupView,
} from '@steadfast/group';
import { address, addressNode, assertNever, describeValue, isAddress, type Address } from '@steadfast/wire';
import { receptionPolicy, type OrderingPolicy } from './policy.js';
import { checkStyleAndPolicy, ReplicaRole, replicationSettings, type PeerGroupConfig } from './replica.js';
import {
  REPLICA_CONTROL_PREFIX,
  type ReplicaControl,
  type ReplicaEffect,
  type ReplicaInput,
  type ReplicationSettings,
  type ReplicationStyle,
} from './types.js';
import { client, front, ledger } from './workload.js';
import { applicationPayloadWireForm } from './wire-form.js';

/** The actor name of every replica, on every node. */
export const REPLICA_ACTOR_NAME = 'replica';

/**
 * Options of `group(behavior, options)`, which checks them and throws a `RangeError` or `TypeError`
 * naming what is wrong. docs/replication.md, "Deploying an actor".
 */
export interface GroupOptions {
  /** How many replicas the deployment is meant for: a positive integer. */
  readonly replicas: number;
  readonly style: ReplicationStyle;
  /** The primary's ordering policy; default reception order. */
  readonly policy?: OrderingPolicy;
  readonly settings?: Partial<ReplicationSettings>;
}

/** A replicated deployment of one actor: what to spawn on each of `replicas` nodes. */
export interface ReplicatedDeployment {
  readonly behavior: ActorBehavior;
  readonly replicas: number;
  readonly style: ReplicationStyle;
  readonly policy: OrderingPolicy;
  readonly settings: Partial<ReplicationSettings>;
  /** Spawn this on each replica node as `REPLICA_ACTOR_NAME`, with a `ReplicaActorInput`. */
  readonly replicaBehavior: ActorBehavior;
}

/** The replica actor's start input: which group it belongs to and whom that group talks to. */
export interface ReplicaActorInput {
  readonly group: string;
  /** This node's incarnation (grows on each start): the multicast streams are per incarnation. */
  readonly incarnation: number;
  readonly peers: readonly PeerGroupConfig[];
  /** The actor's own start input, the same at every replica. */
  readonly input?: unknown;
  /** Where `diverged`, `promoted` and `refused-promotion` notices go (membership, a monitor). */
  readonly reportTo?: Address;
  /**
   * The same, as an actor name on this replica's own node (the membership relay, which turns
   * them into membership requests): a spec shared by every node can name it.
   */
  readonly reportToLocal?: string;
  /**
   * True when this node restarted (a new incarnation of a member of a running group): the replica
   * asks the primary for a state transfer before it serves as a backup.
   */
  readonly joining?: boolean;
  /**
   * Settings over the deployment's (`group(actor, { settings })`), from the host's configuration:
   * one deployment (one actor kind in the registry) can then run with, say, `outputCommit:
   * 'majority'` where a host asks for it. Every replica of a group should get the same; a setting
   * out of range stops the replica at its start with a `RangeError` naming it.
   */
  readonly settings?: Partial<ReplicationSettings>;
}

/**
 * Commands the replica actor takes as message bodies. A host that runs membership elsewhere (a
 * real node process) feeds views with `replicaViewCommand(view)`, sent to
 * `address(node, REPLICA_ACTOR_NAME)` on every member, in epoch order.
 */
export type ReplicaCommand =
  /** A view of this group or a peer group, from membership (or a script until it lands). */
  | { readonly type: 'replica-view'; readonly view: GroupView }
  /** An input from outside every replica group (a plain client); the primary processes it. */
  | { readonly type: 'replica-external'; readonly body: unknown }
  /** Membership took this node out of the group (it joins by state transfer if added back). */
  | { readonly type: 'replica-outside'; readonly group: string }
  /**
   * Whether this node's membership, as the group's primary, hears from a majority of the group
   * (its `group-quorum` notice): a primary that does not stops ordering until it does again.
   */
  | { readonly type: 'replica-quorum'; readonly group: string; readonly heardFromMajority: boolean };

/** The message that installs `view` at a replica actor (membership's view notification). */
export function replicaViewCommand(view: GroupView): ReplicaCommand {
  return { type: 'replica-view', view };
}

/** The message that tells a replica actor membership took its node out of `group`. */
export function replicaOutsideCommand(group: string): ReplicaCommand {
  return { type: 'replica-outside', group };
}

/** The message that tells a replica actor whether its membership hears from a majority of `group`. */
export function replicaQuorumCommand(group: string, heardFromMajority: boolean): ReplicaCommand {
  return { type: 'replica-quorum', group, heardFromMajority };
}

/** The message that gives a replica group's primary an input from outside every group. */
export function replicaExternalCommand(body: unknown): ReplicaCommand {
  return { type: 'replica-external', body };
}

/**
 * A body in the control messages' namespace (`rep-…`): it goes to the role, which checks its shape
 * and counts what it cannot read (`controlMessagesDropped`), a type this version does not know
 * included (a newer peer's), instead of it vanishing here uncounted.
 */
function isReplicaControl(body: unknown): body is ReplicaControl {
  if (typeof body !== 'object' || body === null) return false;
  const type = (body as { type?: unknown }).type;
  return typeof type === 'string' && type.startsWith(REPLICA_CONTROL_PREFIX);
}

/** What the replica actor sends to `reportTo`. */
export type ReplicaNotice = Extract<
  ReplicaEffect,
  { type: 'diverged' } | { type: 'promoted' } | { type: 'refused-promotion' } | { type: 'input-failed' }
>;

/** The `type` of every `ReplicaNotice`, for a `reportTo` receiver that tells notices from other bodies. */
export const REPLICA_NOTICE_TYPES: readonly ReplicaNotice['type'][] = [
  'diverged',
  'promoted',
  'refused-promotion',
  'input-failed',
];

/**
 * Deploys `behavior` replicated. Bad arguments fail here, where the deployment is made, with an
 * error naming what is wrong: a `behavior` that is no `ActorBehavior` (an xstate machine passed
 * without `fromMachine`, say), `options` that are no object, `replicas` not a positive integer, a
 * `style` that is not one, a `policy` that is not an `OrderingPolicy`, a setting out of range or
 * unknown (`replicationSettings`).
 */
export function group(behavior: ActorBehavior, options: GroupOptions): ReplicatedDeployment {
  const behaviorProblem = actorBehaviorProblem(behavior);
  if (behaviorProblem !== undefined) throw new TypeError(behaviorProblem);
  if (typeof options !== 'object' || options === null)
    throw new TypeError(
      `options must be an object { replicas, style, policy?, settings? }, got ${describeValue(options)}`,
    );
  if (!Number.isSafeInteger(options.replicas) || options.replicas < 1)
    throw new RangeError(`replicas must be a positive integer, got ${options.replicas}`);
  const policy = options.policy ?? receptionPolicy;
  const settings = options.settings ?? {};
  checkStyleAndPolicy(options.style, policy);
  replicationSettings(settings);
  return {
    behavior,
    replicas: options.replicas,
    style: options.style,
    policy,
    settings,
    replicaBehavior: replicaActor(behavior, { style: options.style, policy, settings }),
  };
}

/**
 * What is wrong with `behavior` as an actor to replicate, if anything. JavaScript callers and
 * configuration can hand `group` anything; the replica would otherwise fail at its first start,
 * on every node, far from the mistake. An xstate machine is the likely one, so it gets its fix.
 */
function actorBehaviorProblem(behavior: unknown): string | undefined {
  if (typeof behavior !== 'object' || behavior === null)
    return `behavior must be an actor behavior (fromMachine(kind, machine) or defineActor(...)), got ${describeValue(behavior)}`;
  const { kind, start } = behavior as { kind?: unknown; start?: unknown };
  if (typeof kind === 'string' && kind.length > 0 && typeof start === 'function') return undefined;
  if ('getInitialSnapshot' in behavior && 'transition' in behavior)
    return 'behavior is an xstate machine: wrap it as an actor with fromMachine(kind, machine) first';
  return `behavior must be an actor behavior ({ kind, start }, from fromMachine or defineActor), got an object with kind ${describeValue(kind)} and start ${describeValue(start)}`;
}

/**
 * What is wrong with a replica actor's start input, if anything: it comes from a host's spec or
 * configuration, and a field of the wrong shape would otherwise fail deep in the role (or, for
 * `group`, run a replica of a group named `undefined`). `settings` are checked by the role.
 */
export function replicaActorInputProblem(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return `must be an object, got ${String(input)}`;
  const config = input as Record<keyof ReplicaActorInput, unknown>;
  if (typeof config.group !== 'string' || config.group.length === 0)
    return `group must be a non-empty string, got ${describeValue(config.group)}`;
  if (!Number.isSafeInteger(config.incarnation) || (config.incarnation as number) < 1)
    return `incarnation must be a positive integer, got ${describeValue(config.incarnation)}`;
  if (!Array.isArray(config.peers))
    return `peers must be an array of { group, contacts }, got ${describeValue(config.peers)}`;
  for (const [index, peer] of (config.peers as unknown[]).entries()) {
    const { group: name, contacts } = (peer ?? {}) as { group?: unknown; contacts?: unknown };
    if (typeof name !== 'string' || name.length === 0)
      return `peers[${index}].group must be a non-empty string, got ${describeValue(name)}`;
    if (!Array.isArray(contacts) || !contacts.every((contact) => typeof contact === 'string'))
      return `peers[${index}].contacts must be an array of node ids, got ${describeValue(contacts)}`;
  }
  if (config.joining !== undefined && typeof config.joining !== 'boolean')
    return `joining must be a boolean, got ${describeValue(config.joining)}`;
  if (config.reportTo !== undefined && !isAddress(config.reportTo))
    return `reportTo must be an address (node/actor), got ${describeValue(config.reportTo)}`;
  if (
    config.reportToLocal !== undefined &&
    (typeof config.reportToLocal !== 'string' || config.reportToLocal.length === 0)
  )
    return `reportToLocal must be a non-empty actor name, got ${describeValue(config.reportToLocal)}`;
  return undefined;
}

/** The deployment's settings with a host's over them (the connection's field by field). */
function settingsOf(
  deployment: Partial<ReplicationSettings> | undefined,
  host: Partial<ReplicationSettings> | undefined,
): { settings?: Partial<ReplicationSettings> } {
  if (host === undefined) return deployment === undefined ? {} : { settings: deployment };
  return {
    settings: {
      ...deployment,
      ...host,
      connection: { ...deployment?.connection, ...host.connection },
    },
  };
}

/** A clock for the supervisor that only tells time: the role sets no timers through it. */
function clockOf(ctx: ActorContext): Clock {
  return {
    now: () => ctx.now(),
    setTimer: () => {
      throw new Error('the replica supervisor reads the clock only');
    },
    clearTimer: () => {},
  };
}

function isReplicaCommand(body: unknown): body is ReplicaCommand {
  return (
    typeof body === 'object' &&
    body !== null &&
    ((body as { type?: unknown }).type === 'replica-view' ||
      (body as { type?: unknown }).type === 'replica-external' ||
      (body as { type?: unknown }).type === 'replica-outside' ||
      (body as { type?: unknown }).type === 'replica-quorum')
  );
}

/** The replica actor hosting `behavior`: kind `replica:<behavior.kind>`. */
export function replicaActor(
  behavior: ActorBehavior,
  options: {
    readonly style: ReplicationStyle;
    readonly policy: OrderingPolicy;
    readonly settings?: Partial<ReplicationSettings>;
    /** Called with each role this behavior starts (test harnesses inspect the roles). */
    readonly onRole?: (role: ReplicaRole, ctx: ActorContext) => void;
  },
): ActorBehavior {
  return {
    kind: `replica:${options.style}:${behavior.kind}`,
    start(ctx, input): ActorInstance {
      const problem = replicaActorInputProblem(input);
      if (problem !== undefined) throw new TypeError(`replica input: ${problem}`);
      const config = input as ReplicaActorInput;
      const role = new ReplicaRole(
        {
          group: config.group,
          self: ctx.node,
          incarnation: config.incarnation,
          behavior,
          input: config.input,
          style: options.style,
          policy: options.policy,
          peers: config.peers,
          joining: config.joining === true,
          ...settingsOf(options.settings, config.settings),
        },
        // The node's own supervisor takes the real values; the role's supervisor records them.
        { clock: clockOf(ctx), entropy: { random: () => ctx.random(), id: () => ctx.id() } },
      );
      options.onRole?.(role, ctx);
      const apply = (effects: readonly ReplicaEffect[]) => {
        for (const effect of effects) applyEffect(ctx, config, effect);
      };
      // The role reads the node's clock only for its own pacing (digest interval, diagnostics).
      const step = (input: ReplicaInput) => apply(role.step(input, ctx.now()));
      return {
        handle(actorInput) {
          if (actorInput.type === 'timer') {
            step({ type: 'timer', name: actorInput.name });
            return;
          }
          const envelope = actorInput.envelope;
          if (isPacketBody(envelope.body)) {
            const packet = packetFromEnvelope(envelope.body, envelope.header, applicationPayloadWireForm);
            // A packet must come from the node it names: anything else is dropped, and counted.
            if (packet === undefined || addressNode(envelope.source) !== packet.from) {
              role.counters.packetsDropped++;
              return;
            }
            step({ type: 'packet', packet });
            return;
          }
          if (isReplicaControl(envelope.body)) {
            step({ type: 'control', from: addressNode(envelope.source), message: envelope.body });
            return;
          }
          if (!isReplicaCommand(envelope.body)) return;
          const command = envelope.body;
          switch (command.type) {
            case 'replica-view':
              // A view of the wrong shape would throw deep in the role (or install nonsense).
              if (!isGroupView(command.view)) {
                role.counters.commandsDropped++;
                return;
              }
              step({ type: 'view-installed', view: command.view });
              return;
            case 'replica-external':
              step({ type: 'external', body: command.body });
              return;
            case 'replica-outside':
              // Only from this node (the membership relay): a peer must not take a replica out.
              if (addressNode(envelope.source) !== ctx.node || command.group !== config.group) return;
              step({ type: 'outside' });
              return;
            case 'replica-quorum':
              // Only from this node (the membership relay), like `replica-outside`.
              if (addressNode(envelope.source) !== ctx.node || command.group !== config.group) return;
              if (typeof command.heardFromMajority !== 'boolean') return;
              step({ type: 'quorum', heardFromMajority: command.heardFromMajority });
              return;
            default:
              assertNever(command, 'replica command');
          }
        },
        state: () => ({
          role: role.role,
          position: role.position,
          coverage: role.coverage(),
          digest: role.digest(),
          counters: { ...role.counters },
          backlog: role.backlog(),
          connections: role.connectionCounters(),
        }),
        // A replica that restarts joins as a new member: replication, not its disk, keeps the state.
        persisted: () => undefined,
        stop() {},
      };
    },
  };
}

function applyEffect(ctx: ActorContext, config: ReplicaActorInput, effect: ReplicaEffect): void {
  switch (effect.type) {
    case 'send': {
      const { body, header } = packetToEnvelope(effect.packet, applicationPayloadWireForm);
      ctx.send(address(effect.target, REPLICA_ACTOR_NAME), body, { header });
      return;
    }
    case 'control-send':
      ctx.send(address(effect.target, REPLICA_ACTOR_NAME), effect.message);
      return;
    case 'set-timer':
      ctx.setTimer(effect.name, effect.delayMs);
      return;
    case 'cancel-timer':
      ctx.cancelTimer(effect.name);
      return;
    case 'external-send':
      if (isAddress(effect.envelope.target)) ctx.send(effect.envelope.target, effect.envelope.body);
      return;
    case 'diverged':
    case 'promoted':
    case 'refused-promotion':
    case 'input-failed':
      if (config.reportTo !== undefined) ctx.send(config.reportTo, effect satisfies ReplicaNotice);
      if (config.reportToLocal !== undefined)
        ctx.send(address(ctx.node, config.reportToLocal), effect satisfies ReplicaNotice);
      return;
    default:
      assertNever(effect, 'replica effect');
  }
}

/**
 * The replica actors of the example workload (both styles), so a node process can host them by
 * kind: the CLI's demo and benchmark spawn these.
 */
export function replicationRegistry(extra: readonly ActorBehavior[] = []): ActorRegistry {
  const behaviors: ActorBehavior[] = [];
  for (const style of ['semi-active', 'passive'] as const) {
    for (const behavior of [
      ledger,
      client,
      front({ ledgerGroup: 'B', sync: true }),
      front({ ledgerGroup: 'B', sync: false }),
    ])
      behaviors.push(replicaActor(behavior, { style, policy: receptionPolicy }));
  }
  return actorRegistry([...behaviors, ...extra]);
}
