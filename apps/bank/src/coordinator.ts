/**
 * The `transfer-coordinator` actor: moves money between two accounts that may live on different
 * nodes, as a small saga: withdraw from `from`, then deposit to `to`; if `to` refuses the deposit,
 * put the money back into `from` (a refund). Insufficient funds end the transfer before anything moves.
 *
 * Why a reducer (`defineActor`) and not an xstate machine: the coordinator's state is a table of
 * independent transfers, each with its own phase, keyed by transfer id, and account replies are
 * matched to transfers by the envelope's `inReplyTo` (the `MessageId` that `ctx.request` returned).
 * A reducer sees the whole `ActorInput` (envelope metadata and timers) and keeps the table as plain
 * data; one xstate machine would hold the same table in its context with nothing for its statechart
 * to do, and one spawned child machine per transfer would have effects outside the runtime's view.
 * Each transfer's phases (withdrawing → depositing → done, or → refunding → done) are still an
 * explicit finite machine: the `phase` field and the `onAccountReply` switch.
 *
 * Safety comes from idempotence, not from exactly-once delivery: every step has an operation id
 * derived from the transfer id (`${transferId}:withdraw`, `:deposit`, `:refund`), so the coordinator
 * can resend a step as often as it likes and the account applies it once. Resends run on a runtime
 * timer (`ctx.setTimer`), up to `attemptsMax` per step; after that the transfer is in doubt: the
 * client is told so, and sending the same transfer again resumes it. Everything is bounded:
 * transfers in flight (`busy` past the bound), remembered outcomes, waiting clients, resends.
 */
import { defineActor, type ActorContext, type ActorInput } from '@steadfast/runtime';
import { describeValue, messageKey, type Address, type Envelope, type Reply } from '@steadfast/wire';
import {
  checkTransfer,
  type AccountFailure,
  type AccountReply,
  type TransferOutcome,
  type TransferPhase,
  type TransferReply,
  type TransferRequest,
} from './messages.js';

/** The kind of the `transferCoordinator` behavior, as recorded in traces and looked up in `bankRegistry`. */
export const COORDINATOR_KIND = 'transfer-coordinator';

/**
 * What a coordinator is spawned with: its bounds and retry pacing, each optional (`COORDINATOR_DEFAULTS`
 * fills the rest). `initialCoordinator` throws a `RangeError` for a number that is not a positive integer.
 */
export interface CoordinatorInput {
  /** Wait for an account's reply this long before resending the step; default 100 ms. */
  readonly retryAfterMs?: number;
  /** Sends of one step, the first included, before the transfer is in doubt; default 5. */
  readonly attemptsMax?: number;
  /** Unfinished transfers (in doubt included) held at once; past it requests get `busy`. Default 1000. */
  readonly transfersInFlightMax?: number;
  /** Finished transfers whose outcome is remembered for duplicate requests; default 10 000. */
  readonly outcomesMax?: number;
  /** Distinct client requests waiting on one transfer; default 8. */
  readonly waitingClientsMax?: number;
  /**
   * Persist the state after each change (`ctx.persist()`), so transfers survive a crash of the
   * coordinator's node and resume on restart. Needs a node with an `actorStore`.
   */
  readonly durable?: boolean;
}

/** A coordinator's settings with every default filled in and checked, as kept in its state. */
export type CoordinatorSettings = Required<CoordinatorInput>;

/** The settings of a coordinator spawned without input (see `CoordinatorInput` for what each bounds). */
export const COORDINATOR_DEFAULTS: CoordinatorSettings = {
  retryAfterMs: 100,
  attemptsMax: 5,
  transfersInFlightMax: 1000,
  outcomesMax: 10_000,
  waitingClientsMax: 8,
  durable: false,
};

/** What identifies a transfer's content: a duplicate must match it, else it is a conflict. */
export interface TransferTerms {
  readonly from: Address;
  readonly to: Address;
  readonly amountCents: number;
}

/**
 * A transfer the coordinator has not finished: in flight (a step sent, its retry timer armed) or
 * in doubt (retries used up, waiting for a late reply or for a client to resend it). Its `phase`
 * is the transfer's finite machine; the step it sends is derived from it, with the same operation
 * id on every attempt.
 */
export interface ActiveTransfer extends TransferTerms {
  readonly transferId: string;
  readonly phase: TransferPhase;
  /** Sends of the current step so far. */
  readonly attempt: number;
  /** Retries used up: waiting for a late reply or for a client to resume it. */
  readonly inDoubt: boolean;
  /** Why the deposit was refused, while refunding. */
  readonly refundReason?: AccountFailure['type'];
  /** `messageKey`s of the requests sent for the current step: any of their replies will do. */
  readonly requestKeys: readonly string[];
  /** Client requests to answer when the transfer finishes. */
  readonly waiting: readonly Envelope[];
  /** The client request's `messageKey` when the coordinator drew the transfer id itself. */
  readonly clientKey?: string;
}

/**
 * What the coordinator remembers of a finished transfer, to answer a duplicate request with the
 * same `outcome` (or a `transfer-conflict` if its terms differ). At most `outcomesMax` are kept.
 */
export interface FinishedTransfer extends TransferTerms {
  readonly outcome: TransferOutcome;
  /** As in `ActiveTransfer`: the `clientRequests` entry to forget along with this outcome. */
  readonly clientKey?: string;
}

/**
 * What a coordinator has done, counted in its state so that tests and inspectors can see it. Counts
 * only grow; refusals and dropped inputs are counted here rather than thrown.
 */
export interface CoordinatorCounters {
  /** Transfers started (a new transfer id entered the table). */
  readonly started: number;
  /** Transfers finished with `transferred`. */
  readonly transferred: number;
  /** Transfers finished with any other outcome: insufficient funds, withdrawal refused, refunded. */
  readonly failed: number;
  /** Times a transfer was declared in doubt (again after each resume that runs out of retries). */
  readonly inDoubt: number;
  /** Steps resent because their retry timer fired unanswered. */
  readonly resends: number;
  /** Client requests for a transfer already known with the same terms. */
  readonly duplicates: number;
  /** Requests refused with `busy`. */
  readonly busy: number;
  /**
   * Inputs refused or dropped: invalid requests, `transfer-conflict`s, one-way messages, and
   * replies from the wrong account, not shaped like an account reply, or of a kind the step
   * cannot get (a `balance` reply to a withdrawal, say).
   */
  readonly invalid: number;
  /** Replies to requests no longer awaited (an earlier attempt answered late): harmless. */
  readonly lateReplies: number;
}

/**
 * A coordinator's whole state: plain data, so it can be persisted, hashed, replayed and read with
 * `node.actorState(name)` (as `bankInvariants` does). Every table is bounded by a setting.
 */
export interface CoordinatorState {
  readonly settings: CoordinatorSettings;
  /** Unfinished transfers (in flight or in doubt) by transfer id; at most `transfersInFlightMax`. */
  readonly active: Readonly<Record<string, ActiveTransfer>>;
  /** Request `messageKey` → the transfer and phase it belongs to. */
  readonly awaiting: Readonly<Record<string, { readonly transferId: string; readonly phase: TransferPhase }>>;
  /** Remembered outcomes by transfer id; at most `outcomesMax`, the oldest forgotten first. */
  readonly finished: Readonly<Record<string, FinishedTransfer>>;
  /** Keys of `finished`, oldest first. */
  readonly finishedOrder: readonly string[];
  /** Client request `messageKey` → the transfer id drawn for it, so a retransmission finds its transfer. */
  readonly clientRequests: Readonly<Record<string, string>>;
  readonly counters: CoordinatorCounters;
}

/** The payload of a coordinator's retry timer. */
interface RetryPayload {
  readonly transferId: string;
  readonly phase: TransferPhase;
  readonly attempt: number;
}

function lookup<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function without<T>(record: Readonly<Record<string, T>>, keys: readonly string[]): Record<string, T> {
  const copy = { ...record };
  for (const key of keys) delete copy[key];
  return copy;
}

function count(state: CoordinatorState, name: keyof CoordinatorCounters): CoordinatorState {
  return { ...state, counters: { ...state.counters, [name]: state.counters[name] + 1 } };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/**
 * An idle coordinator with `input` merged over `COORDINATOR_DEFAULTS`. Throws a `RangeError` for a
 * setting that is not a positive safe integer: coordinators are spawned from code or configuration,
 * so that is a programmer error.
 */
export function initialCoordinator(input: CoordinatorInput = {}): CoordinatorState {
  const merged = { ...COORDINATOR_DEFAULTS, ...input };
  const settings: CoordinatorSettings = {
    retryAfterMs: positiveInteger('retryAfterMs', merged.retryAfterMs),
    attemptsMax: positiveInteger('attemptsMax', merged.attemptsMax),
    transfersInFlightMax: positiveInteger('transfersInFlightMax', merged.transfersInFlightMax),
    outcomesMax: positiveInteger('outcomesMax', merged.outcomesMax),
    waitingClientsMax: positiveInteger('waitingClientsMax', merged.waitingClientsMax),
    durable: merged.durable === true,
  };
  return {
    settings,
    active: {},
    awaiting: {},
    finished: {},
    finishedOrder: [],
    clientRequests: {},
    counters: {
      started: 0,
      transferred: 0,
      failed: 0,
      inDoubt: 0,
      resends: 0,
      duplicates: 0,
      busy: 0,
      invalid: 0,
      lateReplies: 0,
    },
  };
}

/** Money a coordinator has withdrawn and not yet deposited anywhere (depositing or refunding). */
export function inTransitCents(state: CoordinatorState): number {
  let total = 0;
  for (const transfer of Object.values(state.active))
    if (transfer.phase !== 'withdrawing') total += transfer.amountCents;
  return total;
}

/**
 * The coordinator's reducer: one input (a client request, an account's reply, a retry timer) to
 * the next state, with every effect (replies, requests to accounts, timers, drawn ids) through
 * `ctx`. It does not persist: `transferCoordinator` does that after a change when durable. Bad
 * input is answered or counted, never thrown; only a timer with a payload the coordinator did not
 * set throws (a programmer error).
 */
export function handleCoordinatorInput(
  state: CoordinatorState,
  input: ActorInput,
  ctx: ActorContext,
): CoordinatorState {
  if (input.type === 'timer') return onRetryTimer(state, input.payload, ctx);
  const envelope = input.envelope;
  switch (envelope.kind) {
    case 'async-reply':
    case 'sync-reply':
      return onAccountReply(state, envelope, ctx);
    case 'async-request':
    case 'sync-request':
      return onClientRequest(state, envelope, ctx);
    case 'one-way':
      // Nobody to tell: count it so a misdirected sender shows up in the state.
      return count(state, 'invalid');
  }
}

function onClientRequest(state: CoordinatorState, envelope: Envelope, ctx: ActorContext): CoordinatorState {
  const type =
    typeof envelope.body === 'object' && envelope.body !== null
      ? (envelope.body as { type?: unknown }).type
      : undefined;
  const checked = type === 'transfer' ? checkTransfer(envelope.body) : undefined;
  if (checked === undefined || !checked.ok) {
    const detail = checked?.detail ?? `not a transfer request: ${describeValue(envelope.body)}`;
    ctx.reply({ ok: false, type: 'invalid-request', detail } satisfies TransferReply);
    return count(state, 'invalid');
  }
  const request = checked.value;
  const clientKey = messageKey(envelope.id);
  // A client that leaves the id to us and retransmits the same envelope must find the same transfer.
  const knownId = request.transferId ?? lookup(state.clientRequests, clientKey);
  if (knownId !== undefined) {
    const finished = lookup(state.finished, knownId);
    if (finished !== undefined) return onDuplicateOfFinished(state, finished, request, knownId, ctx);
    const active = lookup(state.active, knownId);
    if (active !== undefined) return onDuplicateOfActive(state, active, request, envelope, ctx);
  }
  if (Object.keys(state.active).length >= state.settings.transfersInFlightMax) {
    ctx.reply({
      ok: false,
      type: 'busy',
      transfersInFlightMax: state.settings.transfersInFlightMax,
    } satisfies TransferReply);
    return count(state, 'busy');
  }
  const transferId = knownId ?? ctx.id();
  const transfer: ActiveTransfer = {
    transferId,
    from: request.from,
    to: request.to,
    amountCents: request.amountCents,
    phase: 'withdrawing',
    attempt: 0,
    inDoubt: false,
    requestKeys: [],
    waiting: [envelope],
    ...(request.transferId === undefined ? { clientKey } : {}),
  };
  const clientRequests =
    request.transferId === undefined
      ? { ...state.clientRequests, [clientKey]: transferId }
      : state.clientRequests;
  return sendStep(count({ ...state, clientRequests }, 'started'), transfer, ctx);
}

function sameTerms(a: TransferTerms, b: TransferTerms): boolean {
  return a.from === b.from && a.to === b.to && a.amountCents === b.amountCents;
}

function onDuplicateOfFinished(
  state: CoordinatorState,
  finished: FinishedTransfer,
  request: TransferRequest,
  transferId: string,
  ctx: ActorContext,
): CoordinatorState {
  if (!sameTerms(finished, request)) {
    ctx.reply({ ok: false, type: 'transfer-conflict', transferId } satisfies TransferReply);
    return count(state, 'invalid');
  }
  ctx.reply(finished.outcome);
  return count(state, 'duplicates');
}

function onDuplicateOfActive(
  state: CoordinatorState,
  active: ActiveTransfer,
  request: TransferRequest,
  envelope: Envelope,
  ctx: ActorContext,
): CoordinatorState {
  if (!sameTerms(active, request)) {
    ctx.reply({
      ok: false,
      type: 'transfer-conflict',
      transferId: active.transferId,
    } satisfies TransferReply);
    return count(state, 'invalid');
  }
  const key = messageKey(envelope.id);
  const alreadyWaiting = active.waiting.some((waiting) => messageKey(waiting.id) === key);
  // Past the bound a duplicate is not queued; its client will retransmit and find the outcome later.
  const roomToWait = active.waiting.length < state.settings.waitingClientsMax;
  const waiting = alreadyWaiting || !roomToWait ? active.waiting : [...active.waiting, envelope];
  const next = count(state, 'duplicates');
  if (!active.inDoubt)
    return { ...next, active: { ...next.active, [active.transferId]: { ...active, waiting } } };
  // Resume a transfer in doubt: start the step's retries afresh. Replies to the old attempts are
  // forgotten, which keeps the table bounded; the new attempts get the same answers.
  const resumed: ActiveTransfer = { ...active, waiting, inDoubt: false, attempt: 0, requestKeys: [] };
  return sendStep({ ...next, awaiting: without(next.awaiting, active.requestKeys) }, resumed, ctx);
}

/** The request for a transfer's current step: the same operation id on every attempt. */
function stepRequest(transfer: ActiveTransfer): { target: Address; body: AccountRequestBody } {
  const { transferId, amountCents } = transfer;
  switch (transfer.phase) {
    case 'withdrawing':
      return {
        target: transfer.from,
        body: { type: 'withdraw', operationId: `${transferId}:withdraw`, amountCents },
      };
    case 'depositing':
      return {
        target: transfer.to,
        body: { type: 'deposit', operationId: `${transferId}:deposit`, amountCents },
      };
    case 'refunding':
      return {
        target: transfer.from,
        body: { type: 'deposit', operationId: `${transferId}:refund`, amountCents },
      };
  }
}

type AccountRequestBody = { type: 'withdraw' | 'deposit'; operationId: string; amountCents: number };

function retryTimerName(transferId: string): string {
  return `retry:${transferId}`;
}

/** Sends (or resends) the current step and arms its retry timer. */
function sendStep(state: CoordinatorState, transfer: ActiveTransfer, ctx: ActorContext): CoordinatorState {
  const { target, body } = stepRequest(transfer);
  const key = messageKey(ctx.request(target, body));
  const attempt = transfer.attempt + 1;
  const payload: RetryPayload = { transferId: transfer.transferId, phase: transfer.phase, attempt };
  ctx.setTimer(retryTimerName(transfer.transferId), state.settings.retryAfterMs, payload);
  const sent: ActiveTransfer = { ...transfer, attempt, requestKeys: [...transfer.requestKeys, key] };
  return {
    ...state,
    active: { ...state.active, [transfer.transferId]: sent },
    awaiting: { ...state.awaiting, [key]: { transferId: transfer.transferId, phase: transfer.phase } },
  };
}

function isRetryPayload(value: unknown): value is RetryPayload {
  if (typeof value !== 'object' || value === null) return false;
  const payload = value as Partial<RetryPayload>;
  return (
    typeof payload.transferId === 'string' &&
    typeof payload.attempt === 'number' &&
    typeof payload.phase === 'string'
  );
}

function onRetryTimer(state: CoordinatorState, payload: unknown, ctx: ActorContext): CoordinatorState {
  if (!isRetryPayload(payload))
    throw new Error(`coordinator timer with a foreign payload: ${describeValue(payload)}`);
  const transfer = lookup(state.active, payload.transferId);
  // A timer of a step that has moved on was cancelled; this guards against one that fired anyway.
  if (
    transfer === undefined ||
    transfer.inDoubt ||
    transfer.phase !== payload.phase ||
    transfer.attempt !== payload.attempt
  ) {
    return state;
  }
  if (transfer.attempt >= state.settings.attemptsMax) return markInDoubt(state, transfer, ctx);
  return sendStep(count(state, 'resends'), transfer, ctx);
}

function markInDoubt(state: CoordinatorState, transfer: ActiveTransfer, ctx: ActorContext): CoordinatorState {
  const reply: TransferReply = {
    ok: false,
    type: 'in-doubt',
    transferId: transfer.transferId,
    phase: transfer.phase,
  };
  for (const client of transfer.waiting) ctx.reply(reply, { to: client });
  // Keep the request keys: a late reply to any attempt still completes the step.
  const parked: ActiveTransfer = { ...transfer, inDoubt: true, waiting: [] };
  return count({ ...state, active: { ...state.active, [transfer.transferId]: parked } }, 'inDoubt');
}

function isAccountReply(body: unknown): body is AccountReply {
  if (typeof body !== 'object' || body === null) return false;
  const reply = body as { ok?: unknown; type?: unknown };
  return typeof reply.ok === 'boolean' && typeof reply.type === 'string';
}

function onAccountReply(state: CoordinatorState, envelope: Reply, ctx: ActorContext): CoordinatorState {
  const key = messageKey(envelope.inReplyTo);
  const awaited = lookup(state.awaiting, key);
  const transfer = awaited === undefined ? undefined : lookup(state.active, awaited.transferId);
  if (awaited === undefined || transfer === undefined || transfer.phase !== awaited.phase)
    return count(state, 'lateReplies');
  const expectedSource = stepRequest(transfer).target;
  if (envelope.source !== expectedSource || !isAccountReply(envelope.body)) return count(state, 'invalid');
  const reply = envelope.body;
  switch (transfer.phase) {
    case 'withdrawing':
      return onWithdrawReply(state, transfer, reply, ctx);
    case 'depositing':
      return onDepositReply(state, transfer, reply, ctx);
    case 'refunding':
      return onRefundReply(state, transfer, reply, ctx);
  }
}

function onWithdrawReply(
  state: CoordinatorState,
  transfer: ActiveTransfer,
  reply: AccountReply,
  ctx: ActorContext,
): CoordinatorState {
  const { transferId } = transfer;
  if (reply.type === 'withdrawn') return advance(state, transfer, { phase: 'depositing' }, ctx);
  if (reply.type === 'insufficient-funds') {
    return finish(
      state,
      transfer,
      { ok: false, type: 'insufficient-funds', transferId, balanceCents: reply.balanceCents },
      ctx,
    );
  }
  if (!reply.ok)
    return finish(
      state,
      transfer,
      { ok: false, type: 'withdraw-refused', transferId, reason: reply.type },
      ctx,
    );
  return count(state, 'invalid');
}

function onDepositReply(
  state: CoordinatorState,
  transfer: ActiveTransfer,
  reply: AccountReply,
  ctx: ActorContext,
): CoordinatorState {
  const { transferId, amountCents } = transfer;
  if (reply.type === 'deposited')
    return finish(state, transfer, { ok: true, type: 'transferred', transferId, amountCents }, ctx);
  // The money has left `from` and `to` will not take it: give it back rather than lose it.
  if (!reply.ok) return advance(state, transfer, { phase: 'refunding', refundReason: reply.type }, ctx);
  return count(state, 'invalid');
}

function onRefundReply(
  state: CoordinatorState,
  transfer: ActiveTransfer,
  reply: AccountReply,
  ctx: ActorContext,
): CoordinatorState {
  if (reply.type === 'deposited') {
    const reason = transfer.refundReason ?? 'invalid-request';
    return finish(
      state,
      transfer,
      { ok: false, type: 'refunded', transferId: transfer.transferId, reason },
      ctx,
    );
  }
  // `from` refused its own money back (only a balance at the safe-integer limit can do that): the
  // money stays with the coordinator, in doubt, for an operator; resuming retries the refund.
  if (!reply.ok) {
    const cleared = clearStep(state, transfer, ctx);
    return markInDoubt(cleared.state, cleared.transfer, ctx);
  }
  return count(state, 'invalid');
}

/** Forgets the current step's requests and timer. */
function clearStep(
  state: CoordinatorState,
  transfer: ActiveTransfer,
  ctx: ActorContext,
): { state: CoordinatorState; transfer: ActiveTransfer } {
  ctx.cancelTimer(retryTimerName(transfer.transferId));
  return {
    state: { ...state, awaiting: without(state.awaiting, transfer.requestKeys) },
    transfer: { ...transfer, requestKeys: [] },
  };
}

function advance(
  state: CoordinatorState,
  transfer: ActiveTransfer,
  change: Pick<ActiveTransfer, 'phase'> & Partial<Pick<ActiveTransfer, 'refundReason'>>,
  ctx: ActorContext,
): CoordinatorState {
  const cleared = clearStep(state, transfer, ctx);
  return sendStep(cleared.state, { ...cleared.transfer, ...change, attempt: 0, inDoubt: false }, ctx);
}

function finish(
  state: CoordinatorState,
  transfer: ActiveTransfer,
  outcome: TransferOutcome,
  ctx: ActorContext,
): CoordinatorState {
  for (const client of transfer.waiting) ctx.reply(outcome, { to: client });
  const cleared = clearStep(state, transfer, ctx).state;
  const { transferId, from, to, amountCents, clientKey } = transfer;
  const record: FinishedTransfer = {
    from,
    to,
    amountCents,
    outcome,
    ...(clientKey === undefined ? {} : { clientKey }),
  };
  const finished: Record<string, FinishedTransfer> = { ...cleared.finished, [transferId]: record };
  let finishedOrder = [...cleared.finishedOrder, transferId];
  let clientRequests = cleared.clientRequests;
  // Forget the oldest outcomes past the bound. A duplicate of a forgotten transfer would start it
  // again, and the accounts, which remember its operation ids, would answer without applying it twice.
  while (finishedOrder.length > state.settings.outcomesMax) {
    const oldest = finishedOrder[0]!;
    const forgotten = finished[oldest];
    if (forgotten?.clientKey !== undefined) clientRequests = without(clientRequests, [forgotten.clientKey]);
    delete finished[oldest];
    finishedOrder = finishedOrder.slice(1);
  }
  const active = without(cleared.active, [transferId]);
  const next = { ...cleared, active, finished, finishedOrder, clientRequests };
  return count(next, outcome.ok ? 'transferred' : 'failed');
}

/**
 * After a restart from a persisted state the retry timers are gone (timers live in the node, not in
 * the state), so re-arm one for every transfer still in flight: when it fires, the step is resent.
 */
export function restoreCoordinator(persisted: unknown, ctx: ActorContext): CoordinatorState {
  const state = persisted as CoordinatorState;
  for (const transfer of Object.values(state.active)) {
    if (transfer.inDoubt) continue;
    const payload: RetryPayload = {
      transferId: transfer.transferId,
      phase: transfer.phase,
      attempt: transfer.attempt,
    };
    ctx.setTimer(retryTimerName(transfer.transferId), state.settings.retryAfterMs, payload);
  }
  return state;
}

/** The `transfer-coordinator` behavior: spawn it with a `CoordinatorInput` (or nothing, for the defaults). */
export const transferCoordinator = defineActor<CoordinatorState>({
  kind: COORDINATOR_KIND,
  initial: (_ctx, input) => initialCoordinator((input ?? {}) as CoordinatorInput),
  handle(state, input, ctx) {
    const next = handleCoordinatorInput(state, input, ctx);
    // Persist, then send: the runtime holds this step's requests and replies until the state is durable.
    if (next !== state && next.settings.durable) ctx.persist();
    return next;
  },
  restore: restoreCoordinator,
});
