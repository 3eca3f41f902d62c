/**
 * One group member driven as a pure function, for the membership unit tests: feed one input, look
 * at the effects it asked for (sends, replies, timers, persist) and at the next state.
 */
import type { ActorContext, ActorInput } from '@steadfast/runtime';
import { address, nodeId, type Address, type Envelope } from '@steadfast/wire';
import { groupMemberCore, type MemberEvent } from './member.js';
import type { BroadcastReply, PeerMessage } from './messages.js';
import type { MemberState } from './state.js';

/** The members of the harness's group unless a test names others. */
export const members = ['n1', 'n2', 'n3'];

/** What one step asked for. */
export interface Effects {
  sends: { target: Address; body: unknown }[];
  replies: { to: Envelope; body: BroadcastReply }[];
  timers: string[];
  persisted: number;
}

/** The bodies of the messages a step sent, in order. */
export const bodies = (effects: Effects) => effects.sends.map((send) => send.body as PeerMessage);

/** Member `self` of group `g` (of `members` unless `options.members` names others). */
export function harness(
  self: string,
  settings = {},
  options: { readonly notify?: string; readonly members?: readonly string[] } = {},
) {
  const events: MemberEvent[] = [];
  const core = groupMemberCore({
    group: 'g',
    members,
    application: { initial: () => [] as unknown[], apply: (state, op) => [...state, op] },
    settings,
    observer: (event) => events.push(event),
    ...options,
  });
  let effects: Effects = { sends: [], replies: [], timers: [], persisted: 0 };
  let sequence = 0;
  const ctx: ActorContext = {
    self: address(self, 'group.g'),
    actor: 'group.g' as ActorContext['actor'],
    node: nodeId(self),
    current: undefined,
    now: () => 0,
    random: () => 0.5,
    id: () => `nonce-${++sequence}`,
    call: (_name, fn) => fn(),
    send(target, body) {
      effects.sends.push({ target, body });
      return { origin: nodeId(self), incarnation: 1, sequence: ++sequence };
    },
    request(target, body) {
      effects.sends.push({ target, body });
      return { origin: nodeId(self), incarnation: 1, sequence: ++sequence };
    },
    reply(body, options) {
      effects.replies.push({ to: options!.to!, body: body as BroadcastReply });
      return { origin: nodeId(self), incarnation: 1, sequence: ++sequence };
    },
    setTimer: (name) => void effects.timers.push(name),
    cancelTimer: () => undefined,
    persist: () => void effects.persisted++,
  };
  let state = core.initial(ctx);
  const take = () => {
    const taken = effects;
    effects = { sends: [], replies: [], timers: [], persisted: 0 };
    return taken;
  };
  take();
  const step = (input: ActorInput) => {
    state = core.handle(state, input, ctx);
    return take();
  };
  return {
    events,
    get state(): MemberState {
      return state;
    },
    set state(next: MemberState) {
      state = next;
    },
    /** A message from member `from` (incarnation 1 unless said otherwise). */
    peer(from: string, body: PeerMessage, incarnation = 1) {
      return step({ type: 'message', envelope: envelope('one-way', from, 'group.g', incarnation, body) });
    },
    client(body: unknown) {
      const request = envelope('async-request', 'c1', 'client', 1, body);
      return { request, effects: step({ type: 'message', envelope: request }) };
    },
    /** A one-way message from a local actor on this member's node. */
    local(body: unknown) {
      return step({ type: 'message', envelope: envelope('one-way', self, 'replica', 1, body) });
    },
    /** A one-way message from another node's actor that is not a member. */
    remote(from: string, body: unknown) {
      return step({ type: 'message', envelope: envelope('one-way', from, 'replica', 1, body) });
    },
    /** A reply from member `from`'s group actor (to a request this member made). */
    reply(from: string, body: unknown) {
      return step({ type: 'message', envelope: envelope('async-reply', from, 'group.g', 1, body) });
    },
    tick() {
      return step({ type: 'timer', name: 'tick', payload: undefined });
    },
  };

  function envelope(
    kind: 'one-way' | 'async-request' | 'async-reply',
    from: string,
    actor: string,
    incarnation: number,
    body: unknown,
  ): Envelope {
    return {
      kind,
      id: { origin: nodeId(from), incarnation, sequence: ++sequence },
      source: address(from, actor),
      target: address(self, 'group.g'),
      body,
    } as Envelope;
  }
}
