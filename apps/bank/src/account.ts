/**
 * The `account` actor: one bank account as an xstate v5 machine.
 *
 * It holds a balance in whole cents and answers `deposit`, `withdraw` and `balance` requests. Each
 * deposit or withdrawal names an `operationId`; the account remembers the reply it gave for at
 * least the last `appliedOperationsMax` operation ids (10 000 by default), so a retransmitted or
 * retried operation gets the first reply again and changes nothing. That is what lets the transfer
 * coordinator, and any client, retry freely. An id reused for a different operation (other kind
 * or amount) is refused as `operation-conflict` rather than silently answered with another
 * operation's reply. Ids older than the bound are forgotten (a generation at a time, see
 * `AccountContext`): a retry arriving after 10 000 later operations on the same account may be
 * applied again, so clients must retry well within that.
 *
 * All effects go through the runtime: replies through `actorContext().reply`, the time stamp of
 * each applied operation through `actorContext().now()` (the supervised clock, so a backup replica
 * or `trace replay` stamps the same time). The decision itself is the pure `applyOperation`.
 */
import { actorContext, fromMachine, type ActorBehavior, type ActorInput } from '@steadfast/runtime';
import { describeValue, isRequest } from '@steadfast/wire';
import { assign, setup } from 'xstate';
import {
  operationProblem,
  type AccountReply,
  type BalanceLimitReply,
  type DepositedReply,
  type DepositRequest,
  type InsufficientFundsReply,
  type OperationConflictReply,
  type WithdrawnReply,
  type WithdrawRequest,
} from './messages.js';

/** The kind of the `account` behavior, as recorded in traces and looked up in `bankRegistry`. */
export const ACCOUNT_KIND = 'account';
/** How many operation ids an account remembers when `AccountInput.appliedOperationsMax` is not given. */
export const APPLIED_OPERATIONS_MAX_DEFAULT = 10_000;
/** Ids per sealed generation of the idempotence table (fewer when the bound itself is smaller). */
export const APPLIED_GENERATION_SIZE_MAX = 64;

/**
 * What an account is opened with: the `input` of `node.spawn(name, account, input)`, checked by
 * `initialAccount` (which throws on a bad one).
 */
export interface AccountInput {
  readonly owner: string;
  /** Opening balance; default 0. */
  readonly balanceCents?: number;
  /** How many operation ids to remember for idempotence; default 10 000. */
  readonly appliedOperationsMax?: number;
  /**
   * Persist the state after each change (`ctx.persist()`), so the account survives a crash of its
   * node: replies leave only once the new balance is durable. Needs a node with an `actorStore`.
   */
  readonly durable?: boolean;
}

/** The reply an operation got, kept so that the same operation id gets the same reply again. */
export type OperationReply = DepositedReply | WithdrawnReply | InsufficientFundsReply | BalanceLimitReply;

/**
 * What an account remembers of an operation it decided: its kind and amount, to tell a retry from a
 * reused id (`operation-conflict`), and the reply, to give a retry the same answer.
 */
export interface AppliedOperation {
  readonly type: 'deposit' | 'withdraw';
  readonly amountCents: number;
  readonly reply: OperationReply;
}

/** Operation id → what was done and answered. Own properties only: look up with `Object.hasOwn`. */
export type AppliedTable = Readonly<Record<string, AppliedOperation>>;

/** One remembered operation of the open generation: its id and what was done. */
export type AppliedPair = readonly [operationId: string, applied: AppliedOperation];

/**
 * The idempotence table is kept in generations so that an operation copies a small table, not the
 * whole bound: new ids go to `appliedRecent`; once it holds `appliedGenerationSize` ids it is sealed
 * (frozen) and appended to `appliedGenerations`, and the oldest generation is dropped as soon as the
 * others still hold `appliedOperationsMax` ids. So at least the last `appliedOperationsMax` ids are
 * remembered, and at most two generations more. (One table copied whole on every operation cost
 * ~50 µs per operation at 256 ids and was the largest single cost of the replicated benchmark.)
 */
export interface AccountContext {
  readonly owner: string;
  readonly balanceCents: number;
  /**
   * The generation taking new ids, oldest first: an array of pairs, because adding to a copy of an
   * array costs a tenth of adding to a copy of a record of the same ids (~0.2 µs against ~2 µs at
   * 64 ids), and every replica of a replicated account does it for every operation.
   */
  readonly appliedRecent: readonly AppliedPair[];
  /** Sealed generations, oldest first, each of `appliedGenerationSize` ids. */
  readonly appliedGenerations: readonly AppliedTable[];
  readonly appliedGenerationSize: number;
  readonly appliedOperationsMax: number;
  readonly durable: boolean;
  /** Deposits and withdrawals ever decided (refusals for short funds included), beyond the bound too. */
  readonly historyLength: number;
}

/** What the machine receives: the requests, plus `invalid` for any body that is not one. */
export type AccountEvent = DepositRequest | WithdrawRequest | { readonly type: 'balance' } | InvalidEvent;

/** What `accountEvent` makes of a body that is not an account request; answered with `invalid-request`. */
export interface InvalidEvent {
  readonly type: 'invalid';
  readonly detail: string;
}

/**
 * A freshly opened account: the machine's initial context, also handy for testing `applyOperation`
 * directly. Throws (`TypeError`, `RangeError`) on an empty owner, a negative or non-integer opening
 * balance, or a non-positive `appliedOperationsMax`: accounts are opened from code or configuration,
 * so a bad input is a programmer error, not a message to refuse.
 */
export function initialAccount(input: AccountInput): AccountContext {
  const balanceCents = input.balanceCents ?? 0;
  const appliedOperationsMax = input.appliedOperationsMax ?? APPLIED_OPERATIONS_MAX_DEFAULT;
  // Opening an account comes from code or configuration, so a bad input is a programmer error.
  if (typeof input.owner !== 'string' || input.owner.length === 0) {
    throw new TypeError(`account owner must be a non-empty string, got ${describeValue(input.owner)}`);
  }
  if (!Number.isSafeInteger(balanceCents) || balanceCents < 0) {
    throw new RangeError(`opening balanceCents must be a non-negative safe integer, got ${balanceCents}`);
  }
  if (!Number.isSafeInteger(appliedOperationsMax) || appliedOperationsMax < 1) {
    throw new RangeError(`appliedOperationsMax must be a positive integer, got ${appliedOperationsMax}`);
  }
  return {
    owner: input.owner,
    balanceCents,
    appliedRecent: [],
    appliedGenerations: [],
    appliedGenerationSize: Math.min(APPLIED_GENERATION_SIZE_MAX, appliedOperationsMax),
    appliedOperationsMax,
    durable: input.durable === true,
    historyLength: 0,
  };
}

/**
 * What `applyOperation` decided: the account after the operation (the same object when nothing
 * changed) and the reply to send.
 */
export interface OperationResult {
  readonly account: AccountContext;
  readonly reply: AccountReply;
}

/**
 * Decides a deposit or withdrawal. Pure: `now` is called only when the operation is new, so a
 * duplicate neither reads the clock nor changes anything (the returned account is the same object).
 */
export function applyOperation(
  account: AccountContext,
  request: DepositRequest | WithdrawRequest,
  now: () => number,
): OperationResult {
  const again = replyAgain(account, request);
  if (again !== undefined) return { account, reply: again };
  return applyNewOperation(account, request, now);
}

/** `applyOperation` for an operation id the account does not remember (the caller looked). */
function applyNewOperation(
  account: AccountContext,
  request: DepositRequest | WithdrawRequest,
  now: () => number,
): OperationResult {
  const atMs = now();
  const reply = decide(account.balanceCents, request, atMs);
  const balanceCents = reply.ok ? reply.balanceCents : account.balanceCents;
  return {
    account: remember(account, balanceCents, { type: request.type, amountCents: request.amountCents, reply }),
    reply,
  };
}

/**
 * The reply to a request whose id the account remembers: the first reply again, or a conflict if
 * the id was used for another operation. Undefined for a new id.
 */
function replyAgain(
  account: AccountContext,
  request: DepositRequest | WithdrawRequest,
): AccountReply | undefined {
  const { operationId } = request;
  const applied = appliedOperation(account, operationId);
  if (applied === undefined) return undefined;
  if (applied.type !== request.type || applied.amountCents !== request.amountCents) {
    const conflict: OperationConflictReply = { ok: false, type: 'operation-conflict', operationId };
    return conflict;
  }
  return applied.reply;
}

function decide(
  balanceCents: number,
  request: DepositRequest | WithdrawRequest,
  atMs: number,
): OperationReply {
  const { operationId, amountCents } = request;
  if (request.type === 'withdraw') {
    if (amountCents > balanceCents) {
      return { ok: false, type: 'insufficient-funds', operationId, amountCents, balanceCents, atMs };
    }
    return {
      ok: true,
      type: 'withdrawn',
      operationId,
      amountCents,
      balanceCents: balanceCents - amountCents,
      atMs,
    };
  }
  if (amountCents > Number.MAX_SAFE_INTEGER - balanceCents) {
    return { ok: false, type: 'balance-limit', operationId, amountCents, balanceCents, atMs };
  }
  return {
    ok: true,
    type: 'deposited',
    operationId,
    amountCents,
    balanceCents: balanceCents + amountCents,
    atMs,
  };
}

/** What the account did for `operationId`, if it still remembers it. */
export function appliedOperation(account: AccountContext, operationId: string): AppliedOperation | undefined {
  for (const [id, applied] of account.appliedRecent) if (id === operationId) return applied;
  for (let index = account.appliedGenerations.length - 1; index >= 0; index--) {
    const generation = account.appliedGenerations[index]!;
    if (Object.hasOwn(generation, operationId)) return generation[operationId];
  }
  return undefined;
}

/** Every operation id the account remembers, oldest first. */
export function rememberedOperationIds(account: AccountContext): string[] {
  return [
    ...account.appliedGenerations.flatMap((table) => Object.keys(table)),
    ...account.appliedRecent.map(([id]) => id),
  ];
}

/**
 * A copy of `pairs` with `pair` after them, allocated at its final length: `[...pairs, pair]` grew
 * its copy step by step (~1 KB of discarded backing stores per operation at 32 pairs, at every
 * replica).
 */
function withPair(pairs: readonly AppliedPair[], pair: AppliedPair): AppliedPair[] {
  const length = pairs.length;
  const copy = new Array<AppliedPair>(length + 1);
  for (let index = 0; index < length; index++) copy[index] = pairs[index]!;
  copy[length] = pair;
  return copy;
}

/** Records an operation's outcome, forgetting the oldest past the bound (copy on write: states are values). */
function remember(account: AccountContext, balanceCents: number, applied: AppliedOperation): AccountContext {
  const operationId = applied.reply.operationId;
  let appliedRecent: readonly AppliedPair[] = withPair(account.appliedRecent, [operationId, applied]);
  let appliedGenerations = account.appliedGenerations;
  if (appliedRecent.length >= account.appliedGenerationSize) {
    // Sealed as a record (looked up by key from then on), never copied again, and frozen through
    // and through so that the state hash can keep its bytes (stableHash keeps those of deeply
    // frozen values).
    // A null-prototype object starts as a hash table (V8's dictionary mode). A `{}` would take a new
    // hidden class for each of its ids, never shared since ids never repeat: sealing cost ~0.3–0.6
    // µs per id against ~0.06, on every replica, and left that many classes for the old-generation
    // collector. Encoders, the state hash and the size walk treat it as a plain object.
    const sealed = Object.create(null) as Record<string, AppliedOperation>;
    for (const [id, operation] of appliedRecent) {
      Object.freeze(Object.freeze(operation).reply);
      sealed[id] = operation;
    }
    appliedGenerations = [...appliedGenerations, Object.freeze(sealed)];
    appliedRecent = [];
    const size = account.appliedGenerationSize;
    let drop = 0;
    while ((appliedGenerations.length - drop - 1) * size >= account.appliedOperationsMax) drop++;
    if (drop > 0) appliedGenerations = appliedGenerations.slice(drop);
  }
  // Every field by name rather than `...account`: the spread cost more than the rest of the
  // operation (~0.5 µs of ~1.3), and the literal gives every context one hidden class.
  return {
    owner: account.owner,
    balanceCents,
    appliedRecent,
    appliedGenerations,
    appliedGenerationSize: account.appliedGenerationSize,
    appliedOperationsMax: account.appliedOperationsMax,
    durable: account.durable,
    historyLength: account.historyLength + 1,
  };
}

/** The `balance` reply for an account as it stands: a query takes no operation id and changes nothing. */
export function balanceOf(account: AccountContext): AccountReply {
  return { ok: true, type: 'balance', owner: account.owner, balanceCents: account.balanceCents };
}

/** Replies when the input is a request; a one-way message expects no answer, so gets none. */
function replyToCurrentRequest(body: AccountReply): void {
  const ctx = actorContext();
  const current = ctx.current;
  if (current !== undefined && isRequest(current)) ctx.reply(body);
}

/**
 * The reply to a deposit or withdrawal, from the account as it stands after the operation was
 * applied (or found already applied): the account remembers every reply it gave, so asking again
 * returns it without a decision and without reading the clock. An invalid body is refused, a
 * reused id answered with the conflict.
 */
function operationReply(account: AccountContext, event: DepositRequest | WithdrawRequest): AccountReply {
  const problem = operationProblem(event);
  if (problem !== undefined) return { ok: false, type: 'invalid-request', detail: problem };
  const reply = replyAgain(account, event);
  if (reply === undefined)
    throw new Error(`operation ${event.operationId} was to be applied before its reply`);
  return reply;
}

function isOperation(event: AccountEvent): event is DepositRequest | WithdrawRequest {
  return event.type === 'deposit' || event.type === 'withdraw';
}

/** A valid deposit or withdrawal whose id the account does not remember: applying it changes the account. */
function isNewOperation(account: AccountContext, event: DepositRequest | WithdrawRequest): boolean {
  return operationProblem(event) === undefined && appliedOperation(account, event.operationId) === undefined;
}

/**
 * Deposits and withdrawals take one of two transitions, chosen by a guard: a new operation is
 * applied (`assign`), persisted if the account is durable (before the reply: the runtime holds
 * this step's sends until the state is durable), then answered; anything else (a retry, a reused
 * id, an invalid body) is answered alone and leaves the context as it was. Named actions and a
 * guard rather than `enqueueActions`, which builds its `enqueue` helpers and an action object for
 * every event: the account's transition is the largest single allocation of a replicated request
 * (every replica of a semi-active group runs it).
 */
const operationTransitions = [
  {
    guard: 'isNewOperation',
    actions: ['applyOperation', 'persistIfDurable', { type: 'reply', params: operationReplyParams }],
  },
  { actions: { type: 'reply', params: operationReplyParams } },
] as const;

/** The reply action's body, resolved after the `assign` of the same transition. */
function operationReplyParams({ context, event }: { context: AccountContext; event: AccountEvent }): {
  body: AccountReply;
} {
  if (!isOperation(event)) throw new Error(`not an operation: ${event.type}`);
  return { body: operationReply(context, event) };
}

/**
 * The account as an xstate v5 machine, context `AccountContext`, input `AccountInput`. It reaches
 * the runtime only through `actorContext()`, and its reply is an action with the body as params, so
 * `transition()` (inside `withActorContext`) steps it as a pure function and returns the reply as
 * data. Run it on a node through the `account` behavior, which filters its events with `accountEvent`.
 */
export const accountMachine = setup({
  types: {
    context: {} as AccountContext,
    events: {} as AccountEvent,
    input: {} as AccountInput,
  },
  guards: {
    isNewOperation: ({ context, event }) => isOperation(event) && isNewOperation(context, event),
  },
  actions: {
    reply: (_, params: { body: AccountReply }) => replyToCurrentRequest(params.body),
    applyOperation: assign(({ context, event }) =>
      // The guard found the id new: no second look-up.
      isOperation(event) ? applyNewOperation(context, event, () => actorContext().now()).account : context,
    ),
    persistIfDurable: ({ context }) => {
      if (context.durable) actorContext().persist();
    },
  },
}).createMachine({
  id: 'account',
  context: ({ input }) => initialAccount(input),
  on: {
    deposit: operationTransitions,
    withdraw: operationTransitions,
    balance: {
      actions: { type: 'reply', params: ({ context }) => ({ body: balanceOf(context) }) },
    },
    invalid: {
      actions: {
        type: 'reply',
        params: ({ event }) => ({ body: { ok: false, type: 'invalid-request', detail: event.detail } }),
      },
    },
  },
});

const ACCOUNT_REQUEST_TYPES: ReadonlySet<string> = new Set(['deposit', 'withdraw', 'balance']);

/**
 * Turns an input into an account event. Only the three request types reach the machine: anything
 * else becomes `invalid` and gets an `invalid-request` reply. Without this filter a malformed body
 * would stop the actor (the runtime's default refuses bodies without a `type`), and a body typed
 * `xstate.stop` would reach xstate's own stop handling.
 */
export function accountEvent(input: ActorInput): AccountEvent {
  if (input.type === 'timer')
    return { type: 'invalid', detail: `account sets no timers, got '${input.name}'` };
  const body = input.envelope.body;
  const type = typeof body === 'object' && body !== null ? (body as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !ACCOUNT_REQUEST_TYPES.has(type)) {
    return {
      type: 'invalid',
      detail: `not an account request (deposit, withdraw, balance): ${describeValue(body)}`,
    };
  }
  return body as AccountEvent;
}

/** The `account` behavior: spawn it with an `AccountInput`. */
export const account: ActorBehavior = fromMachine(ACCOUNT_KIND, accountMachine, { toEvent: accountEvent });
