/**
 * The in-memory store, for tests and the simulator. It keeps encoded bytes, not the caller's
 * objects, so it copies values exactly as LMDB does and shares the front end's checks; it only
 * forgets everything when the process ends (`durable` is false).
 *
 * In the simulator a crashed node keeps its `MemoryStore` while its volatile state is lost:
 * `reopen()` waits for the calls already made, then hands the restarted node a fresh handle on
 * the same data, just as reopening an LMDB directory would.
 */
import type {
  LogBackend,
  LogBounds,
  SnapshotBackend,
  StoreBackend,
  StoredEntry,
  StoredRecord,
  TableBackend,
  TableWrite,
} from './backend.js';
import { FrontendStore } from './frontend.js';
import type { ResolvedStoreOptions, Store, StoreOptions } from './types.js';
import { compareKeyBytes, resolveOptions } from './validate.js';

/**
 * A store in memory (`durable` is false) that can be reopened on the same data, as the simulator
 * does for a node that restarts after a crash.
 */
export interface MemoryStore extends Store {
  /** Closes this handle (after its pending calls) and returns a new one on the same data. */
  reopen(): Promise<MemoryStore>;
}

interface MemoryLogData {
  firstIndex: number;
  /** `records[i]` holds index `firstIndex + i`. */
  records: Uint8Array[];
}

interface MemoryData {
  readonly logs: Map<string, MemoryLogData>;
  readonly tables: Map<string, Map<string, { readonly keyBytes: Uint8Array; readonly bytes: Uint8Array }>>;
  readonly snapshots: Map<string, Map<number, Uint8Array>>;
}

/**
 * A new, empty memory store with the given bounds (defaults: `DEFAULT_STORE_OPTIONS`). It keeps the
 * same contract as the LMDB store, checks included. Throws `StoreError` `invalid_argument` for a
 * bound that is not a positive integer.
 */
export function createMemoryStore(options: StoreOptions = {}): MemoryStore {
  const data: MemoryData = { logs: new Map(), tables: new Map(), snapshots: new Map() };
  return openMemoryHandle(data, resolveOptions(options));
}

function openMemoryHandle(data: MemoryData, options: ResolvedStoreOptions): MemoryStore {
  const store = new FrontendStore(new MemoryBackend(data), options);
  return Object.assign(store, {
    async reopen(): Promise<MemoryStore> {
      await store.close();
      return openMemoryHandle(data, options);
    },
  });
}

class MemoryBackend implements StoreBackend {
  readonly durable = false;

  constructor(private readonly data: MemoryData) {}

  log(name: string): LogBackend {
    return new MemoryLog(getOrCreate(this.data.logs, name, () => ({ firstIndex: 1, records: [] })));
  }

  table(name: string): TableBackend {
    return new MemoryTable(getOrCreate(this.data.tables, name, () => new Map()));
  }

  snapshots(name: string): SnapshotBackend {
    return new MemorySnapshots(getOrCreate(this.data.snapshots, name, () => new Map()));
  }

  async close(): Promise<void> {}
}

class MemoryLog implements LogBackend {
  constructor(private readonly log: MemoryLogData) {}

  async loadBounds(): Promise<LogBounds> {
    return { firstIndex: this.log.firstIndex, lastIndex: this.log.firstIndex + this.log.records.length - 1 };
  }

  async append(firstIndex: number, records: readonly Uint8Array[]): Promise<void> {
    // The front end computed `firstIndex` from the bounds; disagreeing would be a front-end bug.
    if (firstIndex !== this.log.firstIndex + this.log.records.length) {
      throw new Error(`memory log append at ${firstIndex} does not follow its last record`);
    }
    this.log.records.push(...records);
  }

  async read(fromIndex: number, toIndex: number, limit: number): Promise<StoredRecord[]> {
    const start = fromIndex - this.log.firstIndex;
    const end = Math.min(toIndex - this.log.firstIndex + 1, start + limit);
    return this.log.records.slice(start, end).map((bytes, offset) => ({ index: fromIndex + offset, bytes }));
  }

  async truncatePrefix(bounds: LogBounds, beforeIndex: number): Promise<void> {
    this.log.records.splice(0, beforeIndex - bounds.firstIndex);
    this.log.firstIndex = beforeIndex;
  }

  async truncateSuffix(bounds: LogBounds, afterIndex: number): Promise<void> {
    this.log.records.length = afterIndex - bounds.firstIndex + 1;
  }
}

class MemoryTable implements TableBackend {
  constructor(
    private readonly entries: Map<string, { readonly keyBytes: Uint8Array; readonly bytes: Uint8Array }>,
  ) {}

  async get(keyBytes: Uint8Array): Promise<Uint8Array | undefined> {
    return this.entries.get(Buffer.from(keyBytes).toString('utf8'))?.bytes;
  }

  async write(writes: readonly TableWrite[]): Promise<void> {
    for (const { key, keyBytes, bytes } of writes) {
      if (bytes === undefined) this.entries.delete(key);
      else this.entries.set(key, { keyBytes, bytes });
    }
  }

  async scan(prefix: Uint8Array, after: Uint8Array | undefined, limit: number): Promise<StoredEntry[]> {
    const prefixBuffer = Buffer.from(prefix);
    const matching = [...this.entries]
      .filter(([, entry]) => Buffer.from(entry.keyBytes).subarray(0, prefix.length).equals(prefixBuffer))
      .filter(([, entry]) => after === undefined || compareKeyBytes(entry.keyBytes, after) > 0)
      .sort(([, left], [, right]) => compareKeyBytes(left.keyBytes, right.keyBytes));
    return matching.slice(0, limit).map(([key, entry]) => ({ key, bytes: entry.bytes }));
  }
}

class MemorySnapshots implements SnapshotBackend {
  constructor(private readonly snapshots: Map<number, Uint8Array>) {}

  async list(): Promise<number[]> {
    return [...this.snapshots.keys()].sort((left, right) => left - right);
  }

  async get(index: number): Promise<Uint8Array | undefined> {
    return this.snapshots.get(index);
  }

  async save(index: number, bytes: Uint8Array, dropIndexes: readonly number[]): Promise<void> {
    this.snapshots.set(index, bytes);
    for (const dropped of dropIndexes) this.snapshots.delete(dropped);
  }
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  const existing = map.get(key);
  if (existing !== undefined) return existing;
  const created = create();
  map.set(key, created);
  return created;
}
