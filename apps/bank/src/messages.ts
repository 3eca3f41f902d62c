/**
 * The bank's messages: what clients send to accounts and to the transfer coordinator, and what
 * they get back. Every request is a discriminated union member with a `type` literal; every reply
 * carries `ok` and a `type`, so a client can switch on it exhaustively. Refusals (bad input, short
 * funds, a full coordinator) are replies, never crashes: the actors validate each body they receive,
 * because a body arrived over the network and its TypeScript type is only a promise.
 */
import { describeValue, isAddress, type Address } from '@steadfast/wire';

/** Longest operation or transfer id accepted, so a client cannot make an actor's tables grow without bound. */
export const OPERATION_ID_CHARS_MAX = 128;

// ---------------------------------------------------------------------------------------------
// Account

/**
 * Adds `amountCents` to an account. Answered with `deposited`, or refused with `balance-limit`,
 * `operation-conflict` or `invalid-request`; a retry with the same `operationId` gets the first answer.
 */
export interface DepositRequest {
  readonly type: 'deposit';
  /** Chosen by the client; applying the same id twice applies it once (see `account.ts`). */
  readonly operationId: string;
  readonly amountCents: number;
}

/**
 * Takes `amountCents` out of an account. Answered with `withdrawn`, or refused with
 * `insufficient-funds` (nothing taken), `operation-conflict` or `invalid-request`; a retry with the
 * same `operationId` gets the first answer, even if the balance has changed since.
 */
export interface WithdrawRequest {
  readonly type: 'withdraw';
  readonly operationId: string;
  readonly amountCents: number;
}

/** Asks an account for its owner and balance; answered with a `BalanceReply`. Reads only, so needs no id. */
export interface BalanceRequest {
  readonly type: 'balance';
}

/** Every request an `account` actor answers: switch on `type`. */
export type AccountRequest = DepositRequest | WithdrawRequest | BalanceRequest;

/** A deposit was applied: `balanceCents` is the balance just after it. */
export interface DepositedReply {
  readonly ok: true;
  readonly type: 'deposited';
  readonly operationId: string;
  readonly amountCents: number;
  readonly balanceCents: number;
  /** When the account applied it: the supervised clock, so a replica or a replay stamps the same time. */
  readonly atMs: number;
}

/** A withdrawal was applied: `balanceCents` is the balance just after it; `atMs` as in `DepositedReply`. */
export interface WithdrawnReply {
  readonly ok: true;
  readonly type: 'withdrawn';
  readonly operationId: string;
  readonly amountCents: number;
  readonly balanceCents: number;
  readonly atMs: number;
}

/** The answer to a `BalanceRequest`: the account's owner and current balance. */
export interface BalanceReply {
  readonly ok: true;
  readonly type: 'balance';
  readonly owner: string;
  readonly balanceCents: number;
}

/**
 * A withdrawal larger than the balance (`balanceCents`, at that moment): nothing was taken. The
 * account remembers this refusal like any outcome, so a retry of the same operation gets it again
 * even after a deposit, and every client sees one outcome per operation.
 */
export interface InsufficientFundsReply {
  readonly ok: false;
  readonly type: 'insufficient-funds';
  readonly operationId: string;
  readonly amountCents: number;
  readonly balanceCents: number;
  readonly atMs: number;
}

/** A deposit that would take the balance past `Number.MAX_SAFE_INTEGER` cents. */
export interface BalanceLimitReply {
  readonly ok: false;
  readonly type: 'balance-limit';
  readonly operationId: string;
  readonly amountCents: number;
  readonly balanceCents: number;
  readonly atMs: number;
}

/** The operation id was already used for a different operation (another kind or amount). */
export interface OperationConflictReply {
  readonly ok: false;
  readonly type: 'operation-conflict';
  readonly operationId: string;
}

/**
 * The body was not a valid request (wrong or missing field, unknown `type`, not an object);
 * `detail` says why. Nothing changed, and the actor goes on running. Accounts and the coordinator
 * both answer it.
 */
export interface InvalidRequestReply {
  readonly ok: false;
  readonly type: 'invalid-request';
  readonly detail: string;
}

/** Every refusal an account can answer; the coordinator passes its `type` on as a transfer's `reason`. */
export type AccountFailure =
  InsufficientFundsReply | BalanceLimitReply | OperationConflictReply | InvalidRequestReply;
/** Every reply of an `account` actor: switch on `type` (or first on `ok`). */
export type AccountReply = DepositedReply | WithdrawnReply | BalanceReply | AccountFailure;

// ---------------------------------------------------------------------------------------------
// Transfer coordinator

/**
 * Asks a transfer coordinator to move `amountCents` from the account at `from` to the account at
 * `to` (addresses `node/actor`, distinct). Answered with a `TransferReply`: an outcome once the
 * transfer has one, or at once a refusal of the request. Resending the same request (same
 * `transferId`, or the same envelope when the coordinator drew the id) is safe: it waits for,
 * resumes or re-answers the same transfer.
 */
export interface TransferRequest {
  readonly type: 'transfer';
  /** Optional: the coordinator draws one with `ctx.id()` when absent. Must be unique per transfer. */
  readonly transferId?: string;
  readonly from: Address;
  readonly to: Address;
  readonly amountCents: number;
}

/**
 * The step an unfinished transfer is at: withdrawing from `from`, depositing to `to`, or refunding
 * `from` after `to` refused (see the phase diagram in docs/example-bank.md).
 */
export type TransferPhase = 'withdrawing' | 'depositing' | 'refunding';

/** The transfer is done: `amountCents` left `from` and reached `to`, each exactly once. */
export interface TransferredReply {
  readonly ok: true;
  readonly type: 'transferred';
  readonly transferId: string;
  readonly amountCents: number;
}

/** `from` held less than the amount: nothing moved. */
export interface TransferInsufficientFundsReply {
  readonly ok: false;
  readonly type: 'insufficient-funds';
  readonly transferId: string;
  readonly balanceCents: number;
}

/** `from` refused the withdrawal for another reason: nothing moved. */
export interface WithdrawRefusedReply {
  readonly ok: false;
  readonly type: 'withdraw-refused';
  readonly transferId: string;
  readonly reason: AccountFailure['type'];
}

/** `to` refused the deposit, so the coordinator put the money back into `from`. */
export interface RefundedReply {
  readonly ok: false;
  readonly type: 'refunded';
  readonly transferId: string;
  readonly reason: AccountFailure['type'];
}

/**
 * An account stopped answering and the coordinator used up its retries: the step may or may not
 * have been applied. The transfer stays in the coordinator's table; sending the same transfer
 * (same `transferId`) again resumes it, which is safe because every step is idempotent.
 */
export interface InDoubtReply {
  readonly ok: false;
  readonly type: 'in-doubt';
  readonly transferId: string;
  readonly phase: TransferPhase;
}

/** The coordinator already holds `transfersInFlightMax` unfinished transfers. */
export interface BusyReply {
  readonly ok: false;
  readonly type: 'busy';
  readonly transfersInFlightMax: number;
}

/** The transfer id is known with other parameters (another source, target or amount). */
export interface TransferConflictReply {
  readonly ok: false;
  readonly type: 'transfer-conflict';
  readonly transferId: string;
}

/**
 * What a transfer came to, as the coordinator tells every client waiting on it. All but `in-doubt`
 * are final and remembered for duplicates; an `in-doubt` transfer stays unfinished until resumed.
 */
export type TransferOutcome =
  TransferredReply | TransferInsufficientFundsReply | WithdrawRefusedReply | RefundedReply | InDoubtReply;

/** Every reply of a transfer coordinator: an outcome, or a refusal of the request itself. */
export type TransferReply = TransferOutcome | BusyReply | TransferConflictReply | InvalidRequestReply;

// ---------------------------------------------------------------------------------------------
// Validation: each returns the typed request, or a reason it is not one.

/** The result of a validation: the typed value, or a `detail` fit for an `invalid-request` reply. */
export type Checked<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly detail: string };

function fail(detail: string): { ok: false; detail: string } {
  return { ok: false, detail };
}

/** Amounts are whole, positive, safe-integer cents: no floats, so sums are exact. */
export function checkAmountCents(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    return `amountCents must be a safe integer, got ${describeValue(value)}`;
  }
  if (value <= 0) return `amountCents must be positive, got ${value}`;
  return undefined;
}

/**
 * Why `value` is not a valid operation or transfer id (a string of 1 to `OPERATION_ID_CHARS_MAX`
 * characters), or undefined if it is. `field` names it in the message.
 */
export function checkOperationId(value: unknown, field = 'operationId'): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > OPERATION_ID_CHARS_MAX) {
    return `${field} must be a string of 1 to ${OPERATION_ID_CHARS_MAX} characters, got ${describeValue(value)}`;
  }
  return undefined;
}

/** What makes a deposit or withdrawal invalid, or undefined if it is valid (`checkOperation` without the checked copy). */
export function operationProblem(body: {
  readonly type: 'deposit' | 'withdraw';
  readonly operationId?: unknown;
  readonly amountCents?: unknown;
}): string | undefined {
  const problem = checkOperationId(body.operationId) ?? checkAmountCents(body.amountCents);
  return problem === undefined ? undefined : `${body.type}: ${problem}`;
}

/**
 * Validates a deposit or withdrawal body whose `type` the caller has already read: a valid
 * operation id and amount give a copy holding just the request's fields; anything else a `detail`.
 */
export function checkOperation(body: {
  readonly type: 'deposit' | 'withdraw';
  readonly operationId?: unknown;
  readonly amountCents?: unknown;
}): Checked<DepositRequest | WithdrawRequest> {
  const problem = operationProblem(body);
  if (problem !== undefined) return fail(problem);
  return {
    ok: true,
    value: {
      type: body.type,
      operationId: body.operationId as string,
      amountCents: body.amountCents as number,
    },
  };
}

/**
 * Validates a transfer body as received from the network: an object with an optional valid
 * `transferId`, two distinct addresses and a valid amount. Gives a copy holding just the request's
 * fields, or a `detail` for the `invalid-request` reply. It does not read `type`: the caller has.
 */
export function checkTransfer(body: unknown): Checked<TransferRequest> {
  if (typeof body !== 'object' || body === null)
    return fail(`transfer: body must be an object, got ${describeValue(body)}`);
  const { transferId, from, to, amountCents } = body as Record<string, unknown>;
  if (transferId !== undefined) {
    const problem = checkOperationId(transferId, 'transferId');
    if (problem !== undefined) return fail(`transfer: ${problem}`);
  }
  if (!isAddress(from))
    return fail(`transfer: from must be an address (node/actor), got ${describeValue(from)}`);
  if (!isAddress(to)) return fail(`transfer: to must be an address (node/actor), got ${describeValue(to)}`);
  if (from === to) return fail(`transfer: from and to are the same account ${from}`);
  const problem = checkAmountCents(amountCents);
  if (problem !== undefined) return fail(`transfer: ${problem}`);
  const request: TransferRequest = { type: 'transfer', from, to, amountCents: amountCents as number };
  return {
    ok: true,
    value: transferId === undefined ? request : { ...request, transferId: transferId as string },
  };
}
