/**
 * The public contract of the store: append-only logs, key-value tables and snapshot stores,
 * shared by the durable LMDB implementation and the in-memory one. The compliance suite in
 * `@steadfast/store/testing` checks every statement made here against both.
 *
 * Durability contract: a promise returned by a write (`append`, `truncatePrefix`,
 * `truncateSuffix`, `put`, `delete`, `putMany`, `save`) resolves only once the write is committed
 * and, for a store whose `durable` is true, flushed to stable storage. A write whose promise
 * rejected had no effect, except for `io` failures, after which the engine's state is unknown and
 * the affected log or table refuses further calls until the store is reopened.
 *
 * Ordering contract: calls on one log (or one table, or one snapshot store) take effect in the
 * order they were made, whether or not the caller awaited the previous call, and a read sees
 * every write made before it. Calls on different names are independent.
 */

/** One log record: its index (from 1, contiguous) and the decoded value. */
export interface LogRecord {
  readonly index: number;
  readonly value: unknown;
}

/**
 * A named append-only log of values with contiguous indexes from 1: what a protocol keeps its
 * entries in. The front of the log can be garbage-collected (`truncatePrefix`) and its tail
 * overwritten (`truncateSuffix`); indexes never shift. A failed call rejects with a `StoreError`
 * (docs/store.md, "Log indexes").
 */
export interface AppendLog {
  readonly name: string;
  /**
   * Appends the records in order, atomically, and resolves with the index of the last one once
   * they are durable. An empty array writes nothing and resolves with the current last index.
   */
  append(records: readonly unknown[]): Promise<number>;
  /**
   * Reads the records with `fromIndex <= index <= toIndex` (both inclusive, `toIndex` unbounded
   * when omitted), in index order, at most `limit` of them (default and maximum: the store's
   * `readLimitMax`). Records removed by `truncatePrefix` are simply absent.
   */
  read(fromIndex: number, toIndex?: number, limit?: number): Promise<LogRecord[]>;
  /**
   * Index of the first retained record. It starts at 1 and moves only with `truncatePrefix`, so
   * the log is empty exactly when `lastIndex() < firstIndex()`.
   */
  firstIndex(): Promise<number>;
  /** Index of the last record, `firstIndex() - 1` when the log is empty (so 0 for a new log). */
  lastIndex(): Promise<number>;
  /**
   * Removes the records before `beforeIndex` (garbage collection); later records keep their
   * indexes. `beforeIndex` at or below `firstIndex()` is a no-op; `lastIndex() + 1` empties the
   * log, and the next append still gets `lastIndex() + 1`. Above that is `invalid_index`, since it
   * would leave a gap.
   */
  truncatePrefix(beforeIndex: number): Promise<void>;
  /**
   * Removes the records after `afterIndex` (uncommitted entries a new leader overrides); the next
   * append gets `afterIndex + 1`. At or above `lastIndex()` it is a no-op; below
   * `firstIndex() - 1` it is `invalid_index`, since those records were already collected.
   */
  truncateSuffix(afterIndex: number): Promise<void>;
}

/** One entry of a table, as `Table.scan` returns it. */
export interface TableEntry {
  readonly key: string;
  readonly value: unknown;
}

/**
 * Options of `Table.scan`: which keys and how many. Order is by the keys' UTF-8 bytes, so `after`
 * pages through a table in that order.
 */
export interface ScanOptions {
  /** Only keys starting with this string. */
  readonly prefix?: string;
  /** Only keys ordered strictly after this one: pass the last key of a page to get the next. */
  readonly after?: string;
  /** At most this many entries (default and maximum: the store's `readLimitMax`). */
  readonly limit?: number;
}

/**
 * A named key-value table: string keys of at most `TABLE_KEY_BYTES_MAX` UTF-8 bytes (a bad one is
 * `invalid_key`), values encoded and copied like log records. For the small durable state a
 * protocol looks up by key.
 */
export interface Table {
  readonly name: string;
  /** The value stored under `key`, or `undefined` when there is none. */
  get(key: string): Promise<unknown>;
  /** Stores `value` under `key`, replacing any value there; `unencodable` or `too_large` write nothing. */
  put(key: string, value: unknown): Promise<void>;
  /** Removes `key`; removing an absent key is a no-op. */
  delete(key: string): Promise<void>;
  /** Entries in ascending order of the keys' UTF-8 bytes (the same in every implementation). */
  scan(options?: ScanOptions): Promise<TableEntry[]>;
  /** Writes all entries or none (a bad key or value rejects the whole batch before writing). */
  putMany(entries: readonly (readonly [key: string, value: unknown])[]): Promise<void>;
}

/** A saved snapshot: the state as of log `index`, as `SnapshotStore.latest` returns it. */
export interface Snapshot {
  readonly index: number;
  readonly value: unknown;
}

/**
 * A named store of state snapshots keyed by the log index they were taken at, keeping only the
 * newest `snapshotsKept`, so a log can be truncated up to the latest snapshot.
 */
export interface SnapshotStore {
  readonly name: string;
  /**
   * Saves the snapshot taken at log `index` and drops all but the newest `snapshotsKept`, in one
   * atomic write. An index below the latest one is `invalid_index`; the same index replaces it.
   */
  save(index: number, value: unknown): Promise<void>;
  /** The snapshot with the highest index, or `undefined` when none was saved. */
  latest(): Promise<Snapshot | undefined>;
  /** Indexes of the snapshots kept, ascending. */
  indexes(): Promise<number[]>;
}

/**
 * One node's storage: logs, tables and snapshot stores by name, keeping the durability and ordering
 * contracts of this module (and docs/store.md). Made by `openLmdbStore` (durable) or `createMemoryStore` (tests and the
 * simulator); both pass the compliance suite in `@steadfast/store/testing`.
 */
export interface Store {
  /** True when a resolved write survives a process crash and power loss (LMDB), false for memory. */
  readonly durable: boolean;
  /** The log with this name; the same object for the same name. Throws `invalid_name` or `closed`. */
  log(name: string): AppendLog;
  /** The table with this name; tables and logs have separate namespaces. */
  table(name: string): Table;
  /** The snapshot store with this name. */
  snapshots(name: string): SnapshotStore;
  /**
   * Waits for the calls already made to finish, then releases the engine. Later calls reject with
   * `closed`. Closing twice is harmless.
   */
  close(): Promise<void>;
}

/** Bounds shared by both implementations; every field has a default. */
export interface StoreOptions {
  /** Snapshots kept per snapshot store (default 3). */
  readonly snapshotsKept?: number;
  /** Calls waiting on one log, table or snapshot store before `overloaded` (default 1024). */
  readonly pendingOperationsMax?: number;
  /** Longest encoded value, in bytes (default 16 MiB). */
  readonly valueBytesMax?: number;
  /** Most records or entries returned by one `read` or `scan` (default 10 000). */
  readonly readLimitMax?: number;
  /** Most records in one `append` or entries in one `putMany` (default 10 000). */
  readonly batchEntriesMax?: number;
}

export type ResolvedStoreOptions = Required<StoreOptions>;
