/**
 * What an engine must provide underneath the shared front end (`frontend.ts`). The front end
 * validates arguments, encodes values, serialises calls per name and tracks log bounds; an engine
 * only stores bytes under already-checked indexes and keys. Keeping engines this small is what
 * lets the memory store and the LMDB store behave identically.
 */

export interface LogBounds {
  readonly firstIndex: number;
  readonly lastIndex: number;
}

export interface StoredRecord {
  readonly index: number;
  readonly bytes: Uint8Array;
}

export interface LogBackend {
  /** Reads the bounds from storage; called once per log handle, before any other call. */
  loadBounds(): Promise<LogBounds>;
  /** Writes `records` at `firstIndex`, `firstIndex + 1`, ...; resolves once durable. */
  append(firstIndex: number, records: readonly Uint8Array[]): Promise<void>;
  /** Records in `[fromIndex, toIndex]`, ascending, at most `limit`; the range lies within bounds. */
  read(fromIndex: number, toIndex: number, limit: number): Promise<StoredRecord[]>;
  /** Removes `[bounds.firstIndex, beforeIndex)` and remembers `beforeIndex` as the first index. */
  truncatePrefix(bounds: LogBounds, beforeIndex: number): Promise<void>;
  /** Removes `(afterIndex, bounds.lastIndex]`. */
  truncateSuffix(bounds: LogBounds, afterIndex: number): Promise<void>;
}

export interface StoredEntry {
  readonly key: string;
  readonly bytes: Uint8Array;
}

/** One change in an atomic table write: `bytes` undefined deletes the key. */
export interface TableWrite {
  readonly key: string;
  readonly keyBytes: Uint8Array;
  readonly bytes: Uint8Array | undefined;
}

export interface TableBackend {
  get(keyBytes: Uint8Array): Promise<Uint8Array | undefined>;
  /** Applies all writes in order, atomically; resolves once durable. */
  write(writes: readonly TableWrite[]): Promise<void>;
  /** Entries whose key bytes start with `prefix` and sort after `after`, ascending, at most `limit`. */
  scan(prefix: Uint8Array, after: Uint8Array | undefined, limit: number): Promise<StoredEntry[]>;
}

export interface SnapshotBackend {
  /** Indexes of the stored snapshots, ascending. */
  list(): Promise<number[]>;
  get(index: number): Promise<Uint8Array | undefined>;
  /** Stores the snapshot and removes `dropIndexes`, atomically; resolves once durable. */
  save(index: number, bytes: Uint8Array, dropIndexes: readonly number[]): Promise<void>;
}

export interface StoreBackend {
  readonly durable: boolean;
  log(name: string): LogBackend;
  table(name: string): TableBackend;
  snapshots(name: string): SnapshotBackend;
  /** Called once, after every accepted call has finished. */
  close(): Promise<void>;
}
