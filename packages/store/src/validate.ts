/**
 * Argument checks shared by every implementation, so both reject the same inputs with the same
 * error codes. Names and keys end up inside LMDB keys, which is where their bounds come from.
 */
import { StoreError } from './errors.js';
import type { ResolvedStoreOptions, StoreOptions } from './types.js';

/**
 * Longest log, table or snapshot store name, in characters of `[A-Za-z0-9._-]`; a longer one is
 * `invalid_name`. Names are the prefix of every LMDB key, so they are kept short.
 */
export const NAME_LENGTH_MAX = 100;
/** LMDB keys hold at most 1978 bytes; a table key shares them with its table's name. */
export const TABLE_KEY_BYTES_MAX = 1024;

const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/** The bounds of a store whose `StoreOptions` leave a field out (docs/store.md, "Bounds"). */
export const DEFAULT_STORE_OPTIONS: ResolvedStoreOptions = {
  snapshotsKept: 3,
  pendingOperationsMax: 1024,
  valueBytesMax: 16 * 1024 * 1024,
  readLimitMax: 10_000,
  batchEntriesMax: 10_000,
};

export function checkName(kind: string, name: unknown): string {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > NAME_LENGTH_MAX ||
    !NAME_PATTERN.test(name)
  ) {
    throw new StoreError(
      'invalid_name',
      `${kind} name ${JSON.stringify(name)} must be 1 to ${NAME_LENGTH_MAX} characters of [A-Za-z0-9._-]`,
    );
  }
  return name;
}

/** Checks a table key and returns its UTF-8 bytes. */
export function checkKey(key: unknown): Uint8Array {
  if (typeof key !== 'string')
    throw new StoreError('invalid_key', `table key must be a string, not ${typeof key}`);
  const bytes = Buffer.from(key, 'utf8');
  // A lone surrogate would come back as U+FFFD: refuse it rather than store a different key.
  if (bytes.toString('utf8') !== key)
    throw new StoreError('invalid_key', 'table key is not well-formed UTF-16');
  if (bytes.length > TABLE_KEY_BYTES_MAX) {
    throw new StoreError('invalid_key', `table key of ${bytes.length} bytes exceeds ${TABLE_KEY_BYTES_MAX}`);
  }
  return bytes;
}

export function checkIndex(what: string, index: unknown): number {
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
    throw new StoreError(
      'invalid_index',
      `${what} must be a non-negative safe integer, not ${String(index)}`,
    );
  }
  return index;
}

export function checkCount(what: string, count: unknown, countMax: number): number {
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0 || count > countMax) {
    throw new StoreError(
      'invalid_argument',
      `${what} must be an integer in [0, ${countMax}], not ${String(count)}`,
    );
  }
  return count;
}

export function resolveOptions(options: StoreOptions = {}): ResolvedStoreOptions {
  const given = Object.entries(options).filter(([, value]) => value !== undefined);
  const resolved: ResolvedStoreOptions = { ...DEFAULT_STORE_OPTIONS, ...Object.fromEntries(given) };
  for (const [field, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new StoreError(
        'invalid_argument',
        `store option ${field} must be a positive integer, not ${value}`,
      );
    }
  }
  return resolved;
}

/** Orders keys by their UTF-8 bytes, which is LMDB's order; JS string order differs above U+FFFF. */
export function compareKeyBytes(left: Uint8Array, right: Uint8Array): number {
  return Buffer.compare(left, right);
}
