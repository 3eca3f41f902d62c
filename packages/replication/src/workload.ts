/**
 * The actors the replication simulation (and the CLI's demo and benchmark) replicate: ordinary
 * user actors that know nothing of replication. `ledger` is an xstate machine, `front` and `client`
 * are reducers, so both ways of writing an actor run replicated. Each one takes supervised values
 * (`ctx.now()`, `ctx.random()`), which backups must replay exactly, and keeps enough in its state
 * for the invariants to see a request applied twice or a reply lost.
 */
import {
  RejectedInputError,
  actorContext,
  defaultToEvent,
  defineActor,
  fromMachine,
  type ActorBehavior,
  type ActorContext,
  type ActorInput,
} from '@steadfast/runtime';
import { messageKey, type Envelope } from '@steadfast/wire';
import { assign, setup } from 'xstate';
import { groupAddress } from './replica.js';
import { isRefusedReply, isReplyTimeout } from './types.js';

/**
 * The request the workload's clients send to the ledger (through the front in the chain topology):
 * add `amount` to the total under the request's unique `key`, which the ledger counts so the checks
 * see a request applied twice. `priority` and `deadlineMs` are there for those ordering policies.
 */
export interface AddRequest {
  readonly type: 'add';
  readonly key: string;
  readonly amount: number;
  readonly priority?: number;
  readonly deadlineMs?: number;
  /** A request the ledger must not handle: the simulations' failing inputs (`FailingRequest`). */
  readonly fail?: FailingRequest;
}

/**
 * How the ledger turns down a failing request: `throw`, an action that throws once the machine has
 * applied the request and answered it (a failure: every replica must undo both); `reject`, refused
 * with `RejectedInputError` before the machine sees it. Either way the group answers the caller
 * with a `RefusedReply` instead (docs/replication.md, "A failed input").
 */
export type FailingRequest = 'throw' | 'reject';

function isFailingRequest(value: unknown): value is FailingRequest {
  return value === 'throw' || value === 'reject';
}

/**
 * The answer to an `AddRequest`, from the ledger and from the front to its caller: the request's
 * `key` and the ledger's running `total` after it. Clients record every reply by key: exactly one
 * per request is an invariant of the simulations.
 */
export interface AddedReply {
  readonly type: 'added';
  readonly key: string;
  readonly total: number;
}

interface LedgerContext {
  total: number;
  /** How many times each request key was applied: exactly once is the invariant. */
  applied: Record<string, number>;
  lastAtMs: number;
  nonce: number;
}

const ledgerMachine = setup({
  types: { context: {} as LedgerContext, events: {} as AddRequest },
  actions: {
    apply: assign(({ context, event }) => {
      const ctx = actorContext();
      return {
        total: context.total + event.amount,
        applied: { ...context.applied, [event.key]: (context.applied[event.key] ?? 0) + 1 },
        lastAtMs: ctx.now(),
        nonce: ctx.random(),
      };
    }),
    answer: ({ context, event }) => {
      actorContext().reply({ type: 'added', key: event.key, total: context.total } satisfies AddedReply);
    },
    fail: ({ event }) => {
      throw new Error(`the ledger fails on request ${event.key}, as asked`);
    },
  },
  guards: {
    failing: ({ event }) => event.fail === 'throw',
  },
}).createMachine({
  id: 'ledger',
  context: { total: 0, applied: {}, lastAtMs: 0, nonce: 0 },
  on: { add: [{ guard: 'failing', actions: ['apply', 'answer', 'fail'] }, { actions: ['apply', 'answer'] }] },
});

/** A request marked `fail: 'reject'` is refused before the machine sees it. */
function ledgerEvent(input: ActorInput): ReturnType<typeof defaultToEvent> {
  const event = defaultToEvent(input);
  const { fail, key } = event as { readonly fail?: unknown; readonly key?: unknown };
  if (fail === 'reject') throw new RejectedInputError(`the ledger rejects request ${String(key)}, as asked`);
  return event;
}

/**
 * The service at the end of every chain: adds and answers with the running total. A request marked
 * `fail` it turns down (`FailingRequest`), for the simulations' failing inputs.
 */
export const ledger: ActorBehavior = fromMachine('replication-ledger', ledgerMachine, {
  toEvent: ledgerEvent,
});

interface FrontState {
  /** Request to the ledger (message key) → the request being served. */
  pending: Record<string, { readonly request: Envelope; readonly key: string }>;
  forwarded: number;
  lastAtMs: number;
  /** With `callOnReply`: what the last `ctx.call` on a ledger reply returned. */
  lastStamp?: string;
  /**
   * Replies handed to the front for no request it waits on: a late synchronous reply that reached
   * the actor, which the replica must drop first (`lateRepliesDropped`). Absent while there is none,
   * so the state (and its digest) is what it always was; the simulations' end checks want none.
   */
  strayReplies?: number;
}

/**
 * Real calls taken by each running front made with `callOnReply` (by its context: one per replica
 * incarnation). A call returns the replica's node and its count, so a replica that made its own
 * call instead of replaying its primary's holds another state than its primary, which the digests
 * and the simulations' end checks catch; and a run stays a function of its seed.
 */
const replyStampsTaken = new WeakMap<ActorContext, number>();

function takeReplyStamp(ctx: ActorContext): string {
  const count = (replyStampsTaken.get(ctx) ?? 0) + 1;
  replyStampsTaken.set(ctx, count);
  return `${String(ctx.node)}#${count}`;
}

/** Options of `front`. */
export interface FrontOptions {
  /** The replicated group it forwards each `add` to. */
  readonly ledgerGroup: string;
  /** Call the ledger synchronously (claim 48): the front's replicas wait for each reply. */
  readonly sync: boolean;
  /**
   * Handle each ledger reply with a nondeterministic `ctx.call` whose result lands in the state: a
   * workload for the supervisor's guarantee that backups replay what the primary took, also in the
   * handling of a synchronous reply (claim 48). `sim replication --front-calls`.
   */
  readonly callOnReply?: boolean;
}

/**
 * The middle tier: forwards each `add` to the ledger group and answers its caller with the ledger's
 * reply. With `sync: true` it calls synchronously, so its replicas wait for the reply (claim 48).
 */
export function front(options: FrontOptions): ActorBehavior {
  const callOnReply = options.callOnReply === true;
  return defineActor<FrontState>({
    kind: `replication-front${options.sync ? '-sync' : ''}${callOnReply ? '-calling' : ''}`,
    initial: () => ({ pending: {}, forwarded: 0, lastAtMs: 0 }),
    handle(state, input, ctx: ActorContext) {
      if (input.type !== 'message') return state;
      const envelope = input.envelope;
      const body = envelope.body as LooseBody;
      if (envelope.kind === 'async-request' || envelope.kind === 'sync-request') {
        if (body.type !== 'add' || typeof body.key !== 'string') return state;
        const request: AddRequest = {
          type: 'add',
          key: body.key,
          amount: body.amount ?? 1,
          ...(isFailingRequest(body.fail) ? { fail: body.fail } : {}),
        };
        const id = ctx.request(groupAddress(options.ledgerGroup), request, { sync: options.sync });
        return {
          pending: { ...state.pending, [messageKey(id)]: { request: envelope, key: body.key } },
          forwarded: state.forwarded + 1,
          lastAtMs: ctx.now(),
        };
      }
      if (envelope.kind === 'async-reply' || envelope.kind === 'sync-reply') {
        const waiting = state.pending[messageKey(envelope.inReplyTo)];
        if (waiting === undefined) return { ...state, strayReplies: (state.strayReplies ?? 0) + 1 };
        // A request the ledger refused is refused to the caller too, with the ledger's reason; one
        // given up on (`syncReplyTimeoutMs`) is answered with the timeout, its fate unknown.
        const answer =
          isRefusedReply(envelope.body) || isReplyTimeout(envelope.body)
            ? envelope.body
            : ({ type: 'added', key: waiting.key, total: body.total ?? -1 } satisfies AddedReply);
        ctx.reply(answer, { to: waiting.request });
        const pending = { ...state.pending };
        delete pending[messageKey(envelope.inReplyTo)];
        if (!callOnReply) return { ...state, pending };
        return { ...state, pending, lastStamp: ctx.call('reply-stamp', () => takeReplyStamp(ctx)) };
      }
      return state;
    },
  });
}

/** A body as it arrives: any of the above, checked field by field. */
interface LooseBody {
  readonly type?: string;
  readonly key?: string;
  readonly amount?: number;
  readonly total?: number;
  readonly target?: string;
  readonly priority?: number;
  readonly deadlineMs?: number;
  readonly fail?: unknown;
}

/**
 * The external command (`replicaExternalCommand`) that makes a workload `client` send an
 * `AddRequest` for `key` to group `target`, with this `priority` and `deadlineMs`. A command for a
 * key already issued does nothing, so a host may offer it again until a primary takes it.
 */
export interface IssueCommand {
  readonly type: 'issue';
  readonly key: string;
  readonly target: string;
  readonly priority: number;
  readonly deadlineMs: number;
  /** Ask the ledger to turn the request down (`FailingRequest`). */
  readonly fail?: FailingRequest;
}

interface ClientState {
  issued: string[];
  /** Request key → the totals received for it: exactly one each is the invariant. */
  replies: Record<string, number[]>;
  /** Request (message key) → its request key: a `RefusedReply` names only the request it answers. */
  asked: Record<string, string>;
  /** Request key → the `RefusedReply`s received for it (a failing request's one reply). */
  refused: Record<string, number>;
  /** Request key → the `ReplyTimeout`s received for it (a front that gave up on the ledger). */
  timedOut?: Record<string, number>;
}

/** A client: issues `add` requests on external `issue` commands and records every reply. */
export const client: ActorBehavior = defineActor<ClientState>({
  kind: 'replication-client',
  initial: () => ({ issued: [], replies: {}, asked: {}, refused: {} }),
  handle(state, input, ctx) {
    if (input.type !== 'message') return state;
    const envelope = input.envelope;
    const body = envelope.body as LooseBody;
    if (body.type === 'issue' && typeof body.key === 'string' && typeof body.target === 'string') {
      // The host may repeat an issue command it is not sure arrived (a client primary crashed).
      if (state.issued.includes(body.key)) return state;
      const id = ctx.request(groupAddress(body.target), {
        type: 'add',
        key: body.key,
        amount: 1,
        priority: body.priority ?? 0,
        deadlineMs: body.deadlineMs ?? 0,
        ...(isFailingRequest(body.fail) ? { fail: body.fail } : {}),
      } satisfies AddRequest);
      return {
        ...state,
        issued: [...state.issued, body.key],
        asked: { ...state.asked, [messageKey(id)]: body.key },
      };
    }
    if (
      (envelope.kind === 'async-reply' || envelope.kind === 'sync-reply') &&
      isRefusedReply(envelope.body)
    ) {
      const key = state.asked[messageKey(envelope.inReplyTo)];
      if (key === undefined) return state;
      return { ...state, refused: { ...state.refused, [key]: (state.refused[key] ?? 0) + 1 } };
    }
    if (
      (envelope.kind === 'async-reply' || envelope.kind === 'sync-reply') &&
      isReplyTimeout(envelope.body)
    ) {
      const key = state.asked[messageKey(envelope.inReplyTo)];
      if (key === undefined) return state;
      const timedOut = state.timedOut ?? {};
      return { ...state, timedOut: { ...timedOut, [key]: (timedOut[key] ?? 0) + 1 } };
    }
    if (body.type === 'added' && typeof body.key === 'string') {
      return {
        ...state,
        replies: { ...state.replies, [body.key]: [...(state.replies[body.key] ?? []), body.total ?? -1] },
      };
    }
    return state;
  },
});
