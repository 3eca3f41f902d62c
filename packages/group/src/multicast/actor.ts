/**
 * A thin actor around the connection endpoint, for tests, the simulator and simple hosts: it feeds
 * packets, commands and timers to the pure role and carries out its effects through the actor
 * context. The replication layer embeds the role in its own replica actor instead and does the
 * same four things (send, deliver, set and cancel timers).
 *
 * Every endpoint of a connection is an actor with the same name on its node (`actorName`), so a
 * member's address is `node/actorName`: the role deals in node ids only.
 */
import { defineActor, type ActorBehavior, type ActorContext } from '@steadfast/runtime';
import { address, addressNode, assertNever, isRequest, type Address } from '@steadfast/wire';
import { createEndpoint, step, type EndpointState, type StepResult } from './endpoint.js';
import type {
  ConnectionConfig,
  DeliveredMessage,
  EndpointInput,
  EndpointTimer,
  ForOtherGroups,
  GroupView,
  MulticastKind,
  MulticastResult,
} from './types.js';
import { isPacketBody, packetFromEnvelope, packetToEnvelope } from './wire-format.js';

/** Commands the endpoint actor takes as message bodies (from the host, a test, or membership). */
export type MulticastCommand =
  | { readonly type: 'mc-multicast'; readonly kind: MulticastKind; readonly payload: unknown }
  | {
      readonly type: 'mc-piggyback';
      readonly key: string;
      readonly data: unknown;
      /** What members outside this group get under `key` instead (`attachPiggyback`). */
      readonly forOtherGroups?: ForOtherGroups;
    }
  | { readonly type: 'mc-view'; readonly view: GroupView };

/** What the actor sends to `deliverTo` for each delivered message. */
export interface DeliveredNotice {
  readonly type: 'mc-delivered';
  readonly message: DeliveredMessage;
}

/**
 * Options of `multicastActor`: the actor's name (the same on every node, since peers are addressed by
 * it) and the hooks that receive delivered messages, multicast outcomes and malformed packets. Every
 * hook is optional: with neither `onDeliver` nor `deliverTo`, delivered messages reach no one.
 */
export interface MulticastActorOptions {
  /** The endpoint actor's name, the same on every node of both groups. */
  readonly actorName: string;
  /** The behavior's kind in traces; default `'multicast-endpoint'`. */
  readonly kind?: string;
  /** Forward each delivered message to this actor as a `DeliveredNotice`. */
  readonly deliverTo?: Address;
  /** Called once per delivered message, in each sender's order (a test's recorder, say). */
  readonly onDeliver?: (message: DeliveredMessage, ctx: ActorContext) => void;
  /** Called with the outcome of each `mc-multicast` command. */
  readonly onMulticast?: (result: MulticastResult, command: MulticastCommand, ctx: ActorContext) => void;
  /** Called when a packet is malformed or comes from another node than it claims. */
  readonly onMalformed?: (ctx: ActorContext) => void;
}

const timerPrefix = 'mc:';
const timerNames: ReadonlySet<string> = new Set<EndpointTimer>([
  'flush',
  'sync',
  'null-message',
  'own-group',
]);

/** The actor's input: the connection's configuration. Its state is the endpoint's (plain data). */
export function multicastActor(options: MulticastActorOptions): ActorBehavior {
  return defineActor<EndpointState, unknown>({
    kind: options.kind ?? 'multicast-endpoint',
    initial: (_ctx, input) => createEndpoint(input as ConnectionConfig),
    handle(state, input, ctx) {
      if (input.type === 'timer') {
        const name = input.name.startsWith(timerPrefix) ? input.name.slice(timerPrefix.length) : '';
        if (timerNames.has(name))
          apply(options, ctx, step(state, { type: 'timer', name: name as EndpointTimer }));
        return state;
      }
      const envelope = input.envelope;
      const body = envelope.body;
      if (isPacketBody(body)) {
        const packet = packetFromEnvelope(body, envelope.header);
        if (packet === undefined || addressNode(envelope.source) !== packet.from) {
          options.onMalformed?.(ctx);
          return state;
        }
        apply(options, ctx, step(state, { type: 'packet', packet }));
        return state;
      }
      const command = body as MulticastCommand;
      const endpointInput = multicastCommandInput(command);
      if (endpointInput === undefined) return state;
      const outcome = step(state, endpointInput);
      if (outcome.result !== undefined) {
        options.onMulticast?.(outcome.result, command, ctx);
        if (isRequest(envelope)) ctx.reply({ type: 'mc-multicast-result', result: outcome.result });
      }
      apply(options, ctx, outcome);
      return state;
    },
  });
}

/** The endpoint input a command body becomes; undefined for anything that is not a command. */
export function multicastCommandInput(command: MulticastCommand): EndpointInput | undefined {
  if (typeof command !== 'object' || command === null) return undefined;
  switch (command.type) {
    case 'mc-multicast':
      return { type: 'multicast', kind: command.kind, payload: command.payload };
    case 'mc-piggyback': {
      const { forOtherGroups } = command;
      if (forOtherGroups === undefined)
        return { type: 'attach-piggyback', key: command.key, data: command.data };
      // A body from a message: `forOtherGroups` is `null` or a record holding `data`, or the command is not one.
      if (forOtherGroups !== null && (typeof forOtherGroups !== 'object' || !('data' in forOtherGroups)))
        return undefined;
      return { type: 'attach-piggyback', key: command.key, data: command.data, forOtherGroups };
    }
    case 'mc-view':
      return { type: 'view-installed', view: command.view };
    default:
      return undefined;
  }
}

/** Carries out the role's effects, in order. */
function apply(options: MulticastActorOptions, ctx: ActorContext, outcome: StepResult): void {
  for (const effect of outcome.effects) {
    switch (effect.type) {
      case 'send': {
        const { body, header } = packetToEnvelope(effect.packet);
        ctx.send(address(effect.target, options.actorName), body, { header });
        break;
      }
      case 'deliver':
        options.onDeliver?.(effect.message, ctx);
        if (options.deliverTo !== undefined)
          ctx.send(options.deliverTo, {
            type: 'mc-delivered',
            message: effect.message,
          } satisfies DeliveredNotice);
        break;
      case 'set-timer':
        ctx.setTimer(`${timerPrefix}${effect.name}`, effect.delayMs);
        break;
      case 'cancel-timer':
        ctx.cancelTimer(`${timerPrefix}${effect.name}`);
        break;
      default:
        assertNever(effect, 'endpoint effect');
    }
  }
}
