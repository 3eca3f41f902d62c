/**
 * The one error type the store hands back. Every promise the store returns either resolves or
 * rejects with a `StoreError`, never with a raw exception from LMDB or msgpackr, so callers can
 * switch on `code` without guessing where a failure came from. Synchronous calls that take only a
 * name (`store.log(name)`) throw it instead, because a bad name is a programmer error.
 */

export type StoreErrorCode =
  /** A log, table or snapshot name outside [A-Za-z0-9._-]{1,100}. */
  | 'invalid_name'
  /** A table key that is not a well-formed string of at most `TABLE_KEY_BYTES_MAX` UTF-8 bytes. */
  | 'invalid_key'
  /** An index that is not a safe integer, or a truncation that would leave a gap in the log. */
  | 'invalid_index'
  /** Any other argument out of range: a limit above the bound, a batch too long, bad options. */
  | 'invalid_argument'
  /** A value msgpackr cannot encode faithfully (functions, symbols, cycles, huge bigints). */
  | 'unencodable'
  /** An encoded value longer than the store's `valueBytesMax`. */
  | 'too_large'
  /** The store was closed before the call. */
  | 'closed'
  /** More than `pendingOperationsMax` calls are waiting on one log, table or snapshot store. */
  | 'overloaded'
  /** Stored bytes that do not decode, or a log whose records and metadata disagree. */
  | 'corrupt'
  /** The storage engine failed; the log or table refuses further calls until the store is reopened. */
  | 'io';

/**
 * The error of every failed store call: a tagged class (`_tag === 'StoreError'`) whose `code` says
 * what went wrong and whether anything was written (docs/store.md, "Errors").
 */
export class StoreError extends Error {
  readonly _tag = 'StoreError' as const;
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}

/** Whether `value` is a `StoreError`, for narrowing a caught `unknown` before reading its `code`. */
export function isStoreError(value: unknown): value is StoreError {
  return value instanceof StoreError;
}

/** Wraps an unexpected engine failure so that callers only ever see `StoreError`. */
export function toStoreError(error: unknown, code: StoreErrorCode, context: string): StoreError {
  if (error instanceof StoreError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreError(code, `${context}: ${detail}`, { cause: error });
}
