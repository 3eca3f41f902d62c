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

export const CLIENT_KIND = 'bank-client';

export interface BankClientInput {
  readonly accounts: readonly Address[];
  readonly coordinators: readonly Address[];
  readonly transfers: number;
  readonly intervalMs?: number;
  readonly retryAfterMs?: number;
  readonly inFlightMax?: number;
  readonly transferCentsMax?: number;
}

export interface ClientTransfer {
  readonly request: TransferRequest;
  readonly coordinator: Address;
  readonly sentAtMs: number;
  /** `messageKey` of the latest request envelope, which the reply's `inReplyTo` names. */
  readonly requestKey: string;
  readonly attempts: number;
}

/** A final outcome: what the transfer did to the balances. */
export interface ClientOutcome {
  readonly type: string;
  readonly from: Address;
  readonly to: Address;
  readonly amountCents: number;
}

export interface BankClientState {
  readonly settings: Required<BankClientInput>;
  readonly issued: number;
  readonly pending: Readonly<Record<string, ClientTransfer>>;
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

export function bankClientFinished(state: BankClientState): boolean {
  return state.issued >= state.settings.transfers && Object.keys(state.pending).length === 0;
}

export const bankClient = defineActor<BankClientState>({
  kind: CLIENT_KIND,
  initial(ctx, input) {
    const given = input as BankClientInput;
    const settings: Required<BankClientInput> = {
      intervalMs: 20,
      retryAfterMs: 300,
      inFlightMax: 8,
      transferCentsMax: 500,
      ...given,
    };
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
