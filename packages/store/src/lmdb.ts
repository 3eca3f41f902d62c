/**
 * The durable store on LMDB (lmdb-js 3): one environment per directory, four named
 * sub-databases, and every write an asynchronous LMDB transaction whose promise resolves only
 * after the commit has been synced to disk.
 *
 * Settings, and why (docs/store.md has the full contract):
 * - `overlappingSync: false`: lmdb-js enables overlapping sync by default on Linux, where a write
 *   promise resolves when the transaction is committed but before it is flushed. We want "the
 *   promise resolved" to mean "it survives power loss", so the commit itself syncs. We still
 *   await `flushed` afterwards, which costs nothing here and keeps the guarantee if the default
 *   is ever changed back.
 * - `noSync` and `noMetaSync` stay off and `useWritemap` stays off: a stray write through the
 *   map cannot corrupt the file, and every commit is synced.
 * - Values are stored as raw bytes (`encoding: 'binary'`) encoded by `codec.ts`, so LMDB's own
 *   bundled msgpackr and its shared structures play no part in what is on disk.
 * - Keys are raw bytes too (`keyEncoding: 'binary'`): `name 0x00 suffix`, where the suffix is an
 *   8-byte big-endian index for logs and snapshots, and the key's UTF-8 bytes for tables. Names
 *   never contain 0x00, so each name owns a contiguous key range, indexes sort numerically, and
 *   tables sort by UTF-8 bytes exactly like the memory store. Sharing four sub-databases among
 *   all names avoids LMDB's fixed `maxDbs` limit on how many names a store can hold.
 *
 * One handle owns a store directory at a time, because the front end caches each log's bounds:
 * opening a directory twice in one process is refused, and two processes must not share one.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
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
import { StoreError, toStoreError } from './errors.js';
import { FrontendStore } from './frontend.js';
import type { Store, StoreOptions } from './types.js';
import { resolveOptions } from './validate.js';

/** Options of `openLmdbStore`: the store's directory and its bounds (`StoreOptions`). */
export interface LmdbStoreOptions extends StoreOptions {
  /** Directory holding `data.mdb` and `lock.mdb`; created when missing. */
  readonly path: string;
}

type BytesDatabase = Database<Buffer, Buffer>;

const SUB_DATABASES = ['log', 'log-first', 'table', 'snapshot'] as const;

/** Directories with an open store in this process (see `openLmdbStore`). */
const openPaths = new Set<string>();

/**
 * Opens (or creates) the durable store in `options.path`: a resolved write has been synced to disk.
 * Rejects with `StoreError` `invalid_argument` for a missing path, bad bounds or a directory already
 * open in this process, and `io` when LMDB cannot open it. Close it before opening it again.
 */
export async function openLmdbStore(options: LmdbStoreOptions): Promise<Store> {
  if (typeof options?.path !== 'string' || options.path.length === 0) {
    throw new StoreError('invalid_argument', 'openLmdbStore needs a directory path');
  }
  const { path: givenPath, ...bounds } = options;
  const resolved = resolveOptions(bounds);
  const path = resolve(givenPath);
  if (openPaths.has(path)) {
    // A second handle would keep its own cached log bounds and hand out indexes already taken.
    throw new StoreError('invalid_argument', `the LMDB store at ${path} is already open in this process`);
  }
  let root: RootDatabase<Buffer, Buffer>;
  try {
    mkdirSync(path, { recursive: true });
    root = open<Buffer, Buffer>({
      path,
      maxDbs: SUB_DATABASES.length,
      encoding: 'binary',
      keyEncoding: 'binary',
      overlappingSync: false,
      noSync: false,
      noMetaSync: false,
      useWritemap: false,
      compression: false,
      cache: false,
    });
  } catch (error) {
    throw toStoreError(error, 'io', `cannot open LMDB store at ${path}`);
  }
  openPaths.add(path);
  return new FrontendStore(new LmdbBackend(root, path), resolved);
}

class LmdbBackend implements StoreBackend {
  readonly durable = true;
  private readonly logs: BytesDatabase;
  private readonly logFirsts: BytesDatabase;
  private readonly tables: BytesDatabase;
  private readonly snapshotDb: BytesDatabase;

  constructor(
    private readonly root: RootDatabase<Buffer, Buffer>,
    private readonly path: string,
  ) {
    const sub = (name: (typeof SUB_DATABASES)[number]): BytesDatabase =>
      root.openDB<Buffer, Buffer>({ name, encoding: 'binary', keyEncoding: 'binary' });
    this.logs = sub('log');
    this.logFirsts = sub('log-first');
    this.tables = sub('table');
    this.snapshotDb = sub('snapshot');
  }

  log(name: string): LogBackend {
    return new LmdbLog(this, this.logs, this.logFirsts, new KeySpace(name));
  }

  table(name: string): TableBackend {
    return new LmdbTable(this, this.tables, new KeySpace(name));
  }

  snapshots(name: string): SnapshotBackend {
    return new LmdbSnapshots(this, this.snapshotDb, new KeySpace(name));
  }

  /**
   * Runs `writes` atomically and resolves once they are on disk. lmdb-js runs every queued
   * asynchronous transaction callback inside one shared LMDB transaction, and a plain
   * `transaction` callback that throws halfway leaves its first writes to be committed with the
   * others; a child transaction is aborted on its own instead, so each call stays all or nothing
   * while calls from different logs and tables still share one commit and one sync.
   */
  async commit(writes: () => void): Promise<void> {
    await this.root.childTransaction(writes);
    await this.root.flushed;
  }

  async close(): Promise<void> {
    try {
      await this.root.close();
    } finally {
      openPaths.delete(this.path);
    }
  }
}

/** The key range one name owns inside a shared sub-database: `name 0x00 suffix`. */
class KeySpace {
  readonly start: Buffer;
  /** Just past every key of the range: `name 0x01`. */
  readonly end: Buffer;

  constructor(name: string) {
    this.start = Buffer.from(`${name}\u0000`, 'latin1');
    this.end = Buffer.from(`${name}\u0001`, 'latin1');
  }

  indexKey(index: number): Buffer {
    return Buffer.concat([this.start, encodeIndex(index)]);
  }

  indexOf(key: Buffer): number {
    return decodeIndex(key, this.start.length);
  }

  bytesKey(suffix: Uint8Array): Buffer {
    return Buffer.concat([this.start, suffix]);
  }

  suffixOf(key: Buffer): Buffer {
    return key.subarray(this.start.length);
  }
}

class LmdbLog implements LogBackend {
  constructor(
    private readonly backend: LmdbBackend,
    private readonly records: BytesDatabase,
    private readonly firsts: BytesDatabase,
    private readonly keys: KeySpace,
  ) {}

  async loadBounds(): Promise<LogBounds> {
    const storedFirst = this.firsts.get(this.keys.start);
    const firstIndex = storedFirst === undefined ? 1 : decodeIndex(storedFirst, 0);
    const lowest = this.edgeIndex(false);
    const highest = this.edgeIndex(true);
    if (lowest === undefined || highest === undefined) return { firstIndex, lastIndex: firstIndex - 1 };
    if (lowest !== firstIndex) {
      throw new StoreError('corrupt', `log starts at record ${lowest} but its first index is ${firstIndex}`);
    }
    return { firstIndex, lastIndex: highest };
  }

  async append(firstIndex: number, records: readonly Uint8Array[]): Promise<void> {
    await this.backend.commit(() => {
      records.forEach((bytes, offset) =>
        this.records.putSync(this.keys.indexKey(firstIndex + offset), asBuffer(bytes)),
      );
    });
  }

  async read(fromIndex: number, toIndex: number, limit: number): Promise<StoredRecord[]> {
    const start = this.keys.indexKey(fromIndex);
    const end = this.keys.indexKey(toIndex + 1);
    const found: StoredRecord[] = [];
    // Copy each value: the decode happens later, after LMDB may have reused its buffers.
    for (const { key, value } of this.records.getRange({ start, end, limit })) {
      found.push({ index: this.keys.indexOf(key), bytes: new Uint8Array(value) });
    }
    return found;
  }

  async truncatePrefix(bounds: LogBounds, beforeIndex: number): Promise<void> {
    await this.backend.commit(() => {
      // Indexes are contiguous, so delete by computed key instead of walking a cursor we mutate.
      const lastRemoved = Math.min(beforeIndex - 1, bounds.lastIndex);
      for (let index = bounds.firstIndex; index <= lastRemoved; index += 1) {
        this.records.removeSync(this.keys.indexKey(index));
      }
      this.firsts.putSync(this.keys.start, encodeIndex(beforeIndex));
    });
  }

  async truncateSuffix(bounds: LogBounds, afterIndex: number): Promise<void> {
    await this.backend.commit(() => {
      for (let index = afterIndex + 1; index <= bounds.lastIndex; index += 1) {
        this.records.removeSync(this.keys.indexKey(index));
      }
    });
  }

  private edgeIndex(highest: boolean): number | undefined {
    const range = highest
      ? this.records.getKeys({ start: this.keys.end, end: this.keys.start, reverse: true, limit: 1 })
      : this.records.getKeys({ start: this.keys.start, end: this.keys.end, limit: 1 });
    for (const key of range) return this.keys.indexOf(key);
    return undefined;
  }
}

class LmdbTable implements TableBackend {
  constructor(
    private readonly backend: LmdbBackend,
    private readonly entries: BytesDatabase,
    private readonly keys: KeySpace,
  ) {}

  async get(keyBytes: Uint8Array): Promise<Uint8Array | undefined> {
    const value = this.entries.get(this.keys.bytesKey(keyBytes));
    return value === undefined ? undefined : new Uint8Array(value);
  }

  async write(writes: readonly TableWrite[]): Promise<void> {
    await this.backend.commit(() => {
      for (const { keyBytes, bytes } of writes) {
        const key = this.keys.bytesKey(keyBytes);
        if (bytes === undefined) this.entries.removeSync(key);
        else this.entries.putSync(key, asBuffer(bytes));
      }
    });
  }

  async scan(prefix: Uint8Array, after: Uint8Array | undefined, limit: number): Promise<StoredEntry[]> {
    const prefixKey = this.keys.bytesKey(prefix);
    const afterKey = after === undefined ? undefined : this.keys.bytesKey(after);
    const start = afterKey !== undefined && Buffer.compare(afterKey, prefixKey) > 0 ? afterKey : prefixKey;
    const found: StoredEntry[] = [];
    for (const { key, value } of this.entries.getRange({ start, end: this.keys.end })) {
      if (!key.subarray(0, prefixKey.length).equals(prefixKey)) break;
      if (afterKey !== undefined && key.equals(afterKey)) continue;
      found.push({ key: this.keys.suffixOf(key).toString('utf8'), bytes: new Uint8Array(value) });
      if (found.length >= limit) break;
    }
    return found;
  }
}

class LmdbSnapshots implements SnapshotBackend {
  constructor(
    private readonly backend: LmdbBackend,
    private readonly snapshots: BytesDatabase,
    private readonly keys: KeySpace,
  ) {}

  async list(): Promise<number[]> {
    const indexes: number[] = [];
    for (const key of this.snapshots.getKeys({ start: this.keys.start, end: this.keys.end })) {
      indexes.push(this.keys.indexOf(key));
    }
    return indexes;
  }

  async get(index: number): Promise<Uint8Array | undefined> {
    const value = this.snapshots.get(this.keys.indexKey(index));
    return value === undefined ? undefined : new Uint8Array(value);
  }

  async save(index: number, bytes: Uint8Array, dropIndexes: readonly number[]): Promise<void> {
    await this.backend.commit(() => {
      this.snapshots.putSync(this.keys.indexKey(index), asBuffer(bytes));
      for (const dropped of dropIndexes) this.snapshots.removeSync(this.keys.indexKey(dropped));
    });
  }
}

/** An index as 8 big-endian bytes, so byte order is numeric order. */
function encodeIndex(index: number): Buffer {
  const bytes = Buffer.alloc(8);
  // Two 32-bit halves: safe integers exceed writeUInt32, and BigInt would cost more.
  bytes.writeUInt32BE(Math.floor(index / 2 ** 32), 0);
  bytes.writeUInt32BE(index >>> 0, 4);
  return bytes;
}

function decodeIndex(bytes: Buffer, offset: number): number {
  return bytes.readUInt32BE(offset) * 2 ** 32 + bytes.readUInt32BE(offset + 4);
}

/** A Buffer view of the same memory, which is what lmdb-js's binary encoding expects. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
