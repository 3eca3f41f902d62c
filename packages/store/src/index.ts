/**
 * @steadfast/store: durable state for the protocols. Append-only logs, key-value tables and
 * snapshot stores, on LMDB (durable, the default) or in memory (tests and the simulator). The
 * contract both implementations keep is written in `types.ts` and docs/store.md, and checked by
 * the compliance suite in `@steadfast/store/testing`.
 */
export type {
  AppendLog,
  LogRecord,
  ScanOptions,
  Snapshot,
  SnapshotStore,
  Store,
  StoreOptions,
  Table,
  TableEntry,
} from './types.js';
export { StoreError, isStoreError, type StoreErrorCode } from './errors.js';
export { DEFAULT_STORE_OPTIONS, NAME_LENGTH_MAX, TABLE_KEY_BYTES_MAX } from './validate.js';
export { VALUE_DEPTH_MAX } from './codec.js';
export { createMemoryStore, type MemoryStore } from './memory.js';
export { openLmdbStore, type LmdbStoreOptions } from './lmdb.js';
