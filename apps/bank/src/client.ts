/**
 * The `bank-client` actor: a workload generator that lives inside the cluster, so the simulator
 * can crash it like anything else. It issues `transfers` transfers between random accounts, one
 * every `intervalMs`, at most `inFlightMax` at once, each with a transfer id of its own
 * (`<client address>#<n>`), and resends each one (same transfer id, so the bank applies it once)
 * until it has a final outcome: `in-doubt` and `busy` replies are not final.
 *
 * Its state persists after each change, so after a crash it resumes its transfers. The outcomes it
 * records are what the exactly-once check compares the balances with.
 */
import { defineActor, type ActorContext, type ActorInput } from '@steadfast/runtime';
import { messageKey, type Address } from '@steadfast/wire';
import type { TransferReply, TransferRequest } from './messages.js';

/** The kind of the `bankClient` behavior, as recorded in traces and looked up in `bankRegistry`. */
export const CLIENT_KIND = 'bank-client';

/**
 * What a `bankClient` is spawned with (`bankActorSpecs` fills in the addresses). It needs at least
 * two accounts and one coordinator; `bankClientSettings` checks it.
 */
export interface BankClientInput {
  /** Accounts to move money between: each transfer picks two distinct ones at random. */
  readonly accounts: readonly Address[];
  /** Coordinators to send transfers to: each transfer picks one at random, and keeps it for resends. */
  readonly coordinators: readonly Address[];
  /** Transfers to issue in all; the client is finished once each has a final outcome. */
  readonly transfers: number;
  /** Pause between two issued transfers; default 20 ms. */
  readonly intervalMs?: number;
  /** Resend a transfer with no final outcome after this long; default 300 ms. */
  readonly retryAfterMs?: number;
  /** Transfers without a final outcome at once; issuing pauses while that many are pending. Default 8. */
  readonly inFlightMax?: number;
  /** Largest transfer; amounts are drawn in [1, transferCentsMax]. Default 500. */
  readonly transferCentsMax?: number;
}

/** A transfer the client has issued and has no final outcome for yet. */
export interface ClientTransfer {
  /** The request, resent unchanged (same `transferId`). */
  readonly request: TransferRequest;
  readonly coordinator: Address;
  /** When it was last sent, on the supervised clock. */
  readonly sentAtMs: number;
  /** `messageKey` of the latest request envelope, which the reply's `inReplyTo` names. */
  readonly requestKey: string;
  /** Sends so far, the first included. */
  readonly attempts: number;
}

/** A final outcome: what the transfer did to the balances. */
export interface ClientOutcome {
  readonly type: string;
  readonly from: Address;
  readonly to: Address;
  readonly amountCents: number;
}

/**
 * A client's whole state, persisted after each change. Its `outcomes` are what the simulation's
 * exactly-once check adds up against the balances.
 */
export interface BankClientState {
  /** The input with its defaults filled in. */
  readonly settings: Required<BankClientInput>;
  /** Transfers issued so far, at most `settings.transfers`; the next one's transfer id ends in `#issued`. */
  readonly issued: number;
  /** Issued transfers without a final outcome, by transfer id. */
  readonly pending: Readonly<Record<string, ClientTransfer>>;
  /** Final outcomes by transfer id. */
  readonly outcomes: Readonly<Record<string, ClientOutcome>>;
}

const FINAL_TYPES = new Set([
  'transferred',
  'insufficient-funds',
  'withdraw-refused',
  'refunded',
  'invalid-request',
  'transfer-conflict',
]);

function pick<T>(items: readonly T[], ctx: ActorContext): T {
  return items[Math.min(items.length - 1, Math.floor(ctx.random() * items.length))]!;
}

function send(
  state: BankClientState,
  transferId: string,
  request: TransferRequest,
  coordinator: Address,
  attempts: number,
  ctx: ActorContext,
): BankClientState {
  const id = ctx.request(coordinator, request);
  const transfer: ClientTransfer = {
    request,
    coordinator,
    sentAtMs: ctx.now(),
    requestKey: messageKey(id),
    attempts,
  };
  return { ...state, pending: { ...state.pending, [transferId]: transfer } };
}

function issue(state: BankClientState, ctx: ActorContext): BankClientState {
  const { settings } = state;
  if (state.issued >= settings.transfers || Object.keys(state.pending).length >= settings.inFlightMax)
    return state;
  const from = pick(settings.accounts, ctx);
  const to = pick(
    settings.accounts.filter((candidate) => candidate !== from),
    ctx,
  );
  const transferId = `${ctx.self}#${state.issued}`;
  const amountCents = 1 + Math.floor(ctx.random() * settings.transferCentsMax);
  const request: TransferRequest = { type: 'transfer', transferId, from, to, amountCents };
  return send(
    { ...state, issued: state.issued + 1 },
    transferId,
    request,
    pick(settings.coordinators, ctx),
    1,
    ctx,
  );
}

function resendOverdue(state: BankClientState, ctx: ActorContext): BankClientState {
  const now = ctx.now();
  let next = state;
  for (const [transferId, transfer] of Object.entries(state.pending)) {
    if (now - transfer.sentAtMs < state.settings.retryAfterMs) continue;
    next = send(next, transferId, transfer.request, transfer.coordinator, transfer.attempts + 1, ctx);
  }
  return next;
}

function onReply(state: BankClientState, inReplyTo: string, body: unknown): BankClientState {
  const entry = Object.entries(state.pending).find(([, transfer]) => transfer.requestKey === inReplyTo);
  if (entry === undefined) return state; // a reply to an earlier attempt, already superseded
  const [transferId, transfer] = entry;
  const reply = body as Partial<TransferReply>;
  if (typeof reply.type !== 'string' || !FINAL_TYPES.has(reply.type)) return state; // in doubt or busy: resend later
  const { [transferId]: _done, ...pending } = state.pending;
  const outcome: ClientOutcome = {
    type: reply.type,
    from: transfer.request.from,
    to: transfer.request.to,
    amountCents: transfer.request.amountCents,
  };
  return { ...state, pending, outcomes: { ...state.outcomes, [transferId]: outcome } };
}

function handle(state: BankClientState, input: ActorInput, ctx: ActorContext): BankClientState {
  let next = state;
  if (input.type === 'timer') {
    next = input.name === 'issue' ? issue(state, ctx) : resendOverdue(state, ctx);
    ctx.setTimer(
      input.name,
      input.name === 'issue' ? state.settings.intervalMs : state.settings.retryAfterMs,
    );
  } else if (input.envelope.kind === 'async-reply') {
    next = onReply(state, messageKey(input.envelope.inReplyTo), input.envelope.body);
  }
  if (next !== state) ctx.persist();
  return next;
}

/** Whether the client has issued all its transfers and has a final outcome for each. */
export function bankClientFinished(state: BankClientState): boolean {
  return state.issued >= state.settings.transfers && Object.keys(state.pending).length === 0;
}

/**
 * `input` with its defaults filled in, checked. Throws a `RangeError` naming the setting when there
 * are fewer than two accounts or no coordinator (a transfer could not pick its parties), when
 * `transfers` is not a whole number of zero or more, or when a pacing or size setting is not a
 * positive safe integer: clients are spawned from code or configuration, so that is a programmer
 * error, reported before the client sends anything.
 */
export function bankClientSettings(input: BankClientInput): Required<BankClientInput> {
  const settings: Required<BankClientInput> = {
    intervalMs: 20,
    retryAfterMs: 300,
    inFlightMax: 8,
    transferCentsMax: 500,
    ...input,
  };
  if (!Array.isArray(settings.accounts) || settings.accounts.length < 2) {
    throw new RangeError(
      `accounts must list at least two accounts, got ${String(settings.accounts?.length)}`,
    );
  }
  if (!Array.isArray(settings.coordinators) || settings.coordinators.length < 1) {
    throw new RangeError(
      `coordinators must list at least one coordinator, got ${String(settings.coordinators?.length)}`,
    );
  }
  if (!Number.isSafeInteger(settings.transfers) || settings.transfers < 0) {
    throw new RangeError(`transfers must be a whole number of zero or more, got ${settings.transfers}`);
  }
  for (const name of ['intervalMs', 'retryAfterMs', 'inFlightMax', 'transferCentsMax'] as const) {
    const value = settings[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }
  return settings;
}

/**
 * The `bank-client` behavior: spawn it with a `BankClientInput`. It persists after every change
 * (`ctx.persist()`), so give its node an `actorStore`; restored, it re-arms its timers and goes on.
 */
export const bankClient = defineActor<BankClientState>({
  kind: CLIENT_KIND,
  initial(ctx, input) {
    const settings = bankClientSettings(input as BankClientInput);
    ctx.setTimer('issue', settings.intervalMs);
    ctx.setTimer('resend', settings.retryAfterMs);
    return { settings, issued: 0, pending: {}, outcomes: {} };
  },
  restore(persisted, ctx) {
    // Timers are volatile: a restarted client re-arms them.
    const state = persisted as BankClientState;
    ctx.setTimer('issue', state.settings.intervalMs);
    ctx.setTimer('resend', state.settings.retryAfterMs);
    return state;
  },
  handle,
});
