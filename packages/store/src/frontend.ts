/**
 * The part of the store every engine shares: argument checks, value encoding, one FIFO lane per
 * log, table and snapshot store, and the log's bounds. Because all of this lives here, the memory
 * and LMDB stores accept the same inputs, fail with the same error codes and order calls the same
 * way; the engines underneath (`backend.ts`) only move bytes.
 *
 * Appends that queue up behind a running write are merged into one engine write (group commit),
 * so a burst of appends to one log costs one durable commit, not one per call, while each caller
 * still gets its own index and a promise that resolves only once its records are durable.
 */
import type {
  LogBackend,
  LogBounds,
  SnapshotBackend,
  StoreBackend,
  TableBackend,
  TableWrite,
} from './backend.js';
import { decodeValue, encodeValue } from './codec.js';
import { StoreError, toStoreError } from './errors.js';
import type {
  AppendLog,
  LogRecord,
  ResolvedStoreOptions,
  ScanOptions,
  Snapshot,
  SnapshotStore,
  Store,
  Table,
  TableEntry,
} from './types.js';
import { checkCount, checkIndex, checkKey, checkName } from './validate.js';

/**
 * Runs one resource's calls one at a time, in call order, and bounds how many may wait. After an
 * engine write fails the lane refuses everything: the engine's state is then unknown, and
 * guessing (for example reusing log indexes that may already be on disk) could lose data.
 */
class Lane {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private failure: StoreError | undefined;

  constructor(
    private readonly owner: FrontendStore,
    private readonly pendingMax: number,
  ) {}

  /** Admits one call; throws `closed`, `io` (after a failure) or `overloaded`. */
  enter(): void {
    this.owner.checkOpen();
    if (this.failure !== undefined) throw this.failure;
    if (this.pending >= this.pendingMax) {
      throw new StoreError(
        'overloaded',
        `more than ${this.pendingMax} calls are waiting on one store resource`,
      );
    }
    this.pending += 1;
  }

  /** Releases an admitted call once `settled` settles. */
  leaveWhen<T>(settled: Promise<T>): Promise<T> {
    const leave = (): void => {
      this.pending -= 1;
    };
    settled.then(leave, leave);
    return settled;
  }

  /** Queues `operation` behind every earlier one. */
  run<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(operation);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Admits, queues and releases one call. */
  call<T>(operation: () => Promise<T>): Promise<T> {
    this.enter();
    return this.leaveWhen(this.run(operation));
  }

  /** Runs an engine write; a failure poisons the lane (see the class comment). */
  async write<T>(what: string, engineWrite: () => Promise<T>): Promise<T> {
    try {
      return await engineWrite();
    } catch (error) {
      this.failure = toStoreError(error, 'io', `${what} failed; reopen the store`);
      throw this.failure;
    }
  }

  /** Resolves once every queued call has settled. */
  idle(): Promise<unknown> {
    return this.tail;
  }
}

/** Appends waiting to be written together, with one waiter per `append` call. */
interface AppendBatch {
  readonly records: Uint8Array[];
  readonly waiters: {
    readonly recordsEnd: number;
    readonly resolve: (lastIndex: number) => void;
    readonly reject: (error: unknown) => void;
  }[];
}

class FrontendLog implements AppendLog {
  private bounds: LogBounds | undefined;
  private openBatch: AppendBatch | undefined;

  constructor(
    readonly name: string,
    private readonly backend: LogBackend,
    private readonly lane: Lane,
    private readonly options: ResolvedStoreOptions,
  ) {}

  async append(records: readonly unknown[]): Promise<number> {
    if (!Array.isArray(records)) throw new StoreError('invalid_argument', 'append takes an array of records');
    checkCount('records per append', records.length, this.options.batchEntriesMax);
    // Encode before taking an index, so a bad value rejects the call and consumes nothing.
    const encoded = records.map((record) => encodeValue(record, this.options.valueBytesMax));
    this.lane.enter();
    return this.lane.leaveWhen(this.enqueueAppend(encoded));
  }

  private enqueueAppend(encoded: Uint8Array[]): Promise<number> {
    if (encoded.length === 0) return this.run(async () => (await this.currentBounds()).lastIndex);
    const batch = this.openBatch;
    const fits = batch !== undefined && batch.records.length + encoded.length <= this.options.batchEntriesMax;
    return this.join(fits ? batch : this.startBatch(), encoded);
  }

  private join(batch: AppendBatch, encoded: Uint8Array[]): Promise<number> {
    batch.records.push(...encoded);
    const recordsEnd = batch.records.length;
    return new Promise<number>((resolve, reject) => batch.waiters.push({ recordsEnd, resolve, reject }));
  }

  /**
   * Queues a write for a new, still empty batch. Appends made before anything else is queued on
   * this log join it; any other call closes it (see `run`), which keeps calls in call order.
   */
  private startBatch(): AppendBatch {
    const batch: AppendBatch = { records: [], waiters: [] };
    const write = async (): Promise<void> => {
      if (this.openBatch === batch) this.openBatch = undefined;
      const bounds = await this.currentBounds();
      const firstIndex = bounds.lastIndex + 1;
      await this.lane.write(`append to log ${this.name}`, () =>
        this.backend.append(firstIndex, batch.records),
      );
      this.bounds = { firstIndex: bounds.firstIndex, lastIndex: bounds.lastIndex + batch.records.length };
      for (const waiter of batch.waiters) waiter.resolve(firstIndex + waiter.recordsEnd - 1);
    };
    this.run(write).catch((error: unknown) => {
      for (const waiter of batch.waiters) waiter.reject(error);
    });
    this.openBatch = batch;
    return batch;
  }

  /** Queues a call on this log's lane; whatever comes later must not join an earlier batch. */
  private run<T>(operation: () => Promise<T>): Promise<T> {
    this.openBatch = undefined;
    return this.lane.run(operation);
  }

  private call<T>(operation: () => Promise<T>): Promise<T> {
    this.lane.enter();
    return this.lane.leaveWhen(this.run(operation));
  }

  async read(
    fromIndex: number,
    toIndex: number = Number.MAX_SAFE_INTEGER,
    limit?: number,
  ): Promise<LogRecord[]> {
    checkIndex('fromIndex', fromIndex);
    checkIndex('toIndex', toIndex);
    const count = checkCount('read limit', limit ?? this.options.readLimitMax, this.options.readLimitMax);
    return this.call(async () => {
      const bounds = await this.currentBounds();
      const from = Math.max(fromIndex, bounds.firstIndex);
      const to = Math.min(toIndex, bounds.lastIndex);
      if (from > to || count === 0) return [];
      const stored = await this.backend.read(from, to, count);
      return stored.map((record, offset) => {
        if (record.index !== from + offset) {
          throw new StoreError(
            'corrupt',
            `log ${this.name} has record ${record.index} where ${from + offset} belongs`,
          );
        }
        return {
          index: record.index,
          value: decodeValue(record.bytes, `log ${this.name} record ${record.index}`),
        };
      });
    });
  }

  async firstIndex(): Promise<number> {
    return this.call(async () => (await this.currentBounds()).firstIndex);
  }

  async lastIndex(): Promise<number> {
    return this.call(async () => (await this.currentBounds()).lastIndex);
  }

  async truncatePrefix(beforeIndex: number): Promise<void> {
    checkIndex('beforeIndex', beforeIndex);
    return this.call(async () => {
      const bounds = await this.currentBounds();
      if (beforeIndex <= bounds.firstIndex) return;
      if (beforeIndex > bounds.lastIndex + 1) {
        throw new StoreError(
          'invalid_index',
          `truncatePrefix(${beforeIndex}) on log ${this.name} would leave a gap after its last index ${bounds.lastIndex}`,
        );
      }
      await this.lane.write(`truncatePrefix on log ${this.name}`, () =>
        this.backend.truncatePrefix(bounds, beforeIndex),
      );
      this.bounds = { firstIndex: beforeIndex, lastIndex: bounds.lastIndex };
    });
  }

  async truncateSuffix(afterIndex: number): Promise<void> {
    checkIndex('afterIndex', afterIndex);
    return this.call(async () => {
      const bounds = await this.currentBounds();
      if (afterIndex >= bounds.lastIndex) return;
      if (afterIndex < bounds.firstIndex - 1) {
        throw new StoreError(
          'invalid_index',
          `truncateSuffix(${afterIndex}) on log ${this.name} reaches below its first index ${bounds.firstIndex}`,
        );
      }
      await this.lane.write(`truncateSuffix on log ${this.name}`, () =>
        this.backend.truncateSuffix(bounds, afterIndex),
      );
      this.bounds = { firstIndex: bounds.firstIndex, lastIndex: afterIndex };
    });
  }

  /** Only called from inside the lane, so the cache cannot race with a write. */
  private async currentBounds(): Promise<LogBounds> {
    this.bounds ??= await this.backend.loadBounds();
    return this.bounds;
  }
}

class FrontendTable implements Table {
  constructor(
    readonly name: string,
    private readonly backend: TableBackend,
    private readonly lane: Lane,
    private readonly options: ResolvedStoreOptions,
  ) {}

  async get(key: string): Promise<unknown> {
    const keyBytes = checkKey(key);
    return this.lane.call(async () => {
      const bytes = await this.backend.get(keyBytes);
      return bytes === undefined
        ? undefined
        : decodeValue(bytes, `table ${this.name} key ${JSON.stringify(key)}`);
    });
  }

  async put(key: string, value: unknown): Promise<void> {
    return this.writeAll([this.prepare(key, value)]);
  }

  async delete(key: string): Promise<void> {
    return this.writeAll([{ key, keyBytes: checkKey(key), bytes: undefined }]);
  }

  async putMany(entries: readonly (readonly [key: string, value: unknown])[]): Promise<void> {
    if (!Array.isArray(entries))
      throw new StoreError('invalid_argument', 'putMany takes an array of [key, value]');
    checkCount('entries per putMany', entries.length, this.options.batchEntriesMax);
    const writes = entries.map((entry: unknown) => {
      if (!Array.isArray(entry))
        throw new StoreError('invalid_argument', 'putMany entries are [key, value] pairs');
      return this.prepare(entry[0] as string, entry[1]);
    });
    if (writes.length === 0) return;
    return this.writeAll(writes);
  }

  async scan(options: ScanOptions = {}): Promise<TableEntry[]> {
    const prefix = checkKey(options.prefix ?? '');
    const after = options.after === undefined ? undefined : checkKey(options.after);
    const limit = checkCount(
      'scan limit',
      options.limit ?? this.options.readLimitMax,
      this.options.readLimitMax,
    );
    return this.lane.call(async () => {
      if (limit === 0) return [];
      const stored = await this.backend.scan(prefix, after, limit);
      return stored.map(({ key, bytes }) => ({
        key,
        value: decodeValue(bytes, `table ${this.name} key ${JSON.stringify(key)}`),
      }));
    });
  }

  private prepare(key: string, value: unknown): TableWrite {
    const keyBytes = checkKey(key);
    return { key, keyBytes, bytes: encodeValue(value, this.options.valueBytesMax) };
  }

  private writeAll(writes: readonly TableWrite[]): Promise<void> {
    return this.lane.call(() =>
      this.lane.write(`write to table ${this.name}`, () => this.backend.write(writes)),
    );
  }
}

class FrontendSnapshots implements SnapshotStore {
  constructor(
    readonly name: string,
    private readonly backend: SnapshotBackend,
    private readonly lane: Lane,
    private readonly options: ResolvedStoreOptions,
  ) {}

  async save(index: number, value: unknown): Promise<void> {
    checkIndex('snapshot index', index);
    const bytes = encodeValue(value, this.options.valueBytesMax);
    return this.lane.call(async () => {
      const kept = await this.backend.list();
      const latest = kept.at(-1);
      if (latest !== undefined && index < latest) {
        throw new StoreError(
          'invalid_index',
          `snapshot ${index} of ${this.name} is older than the latest, ${latest}`,
        );
      }
      const others = kept.filter((existing) => existing !== index);
      const dropCount = Math.max(0, others.length + 1 - this.options.snapshotsKept);
      const dropIndexes = others.slice(0, dropCount);
      await this.lane.write(`save snapshot ${this.name}`, () => this.backend.save(index, bytes, dropIndexes));
    });
  }

  async latest(): Promise<Snapshot | undefined> {
    return this.lane.call(async () => {
      const index = (await this.backend.list()).at(-1);
      if (index === undefined) return undefined;
      const bytes = await this.backend.get(index);
      if (bytes === undefined) throw new StoreError('corrupt', `snapshot ${index} of ${this.name} vanished`);
      return { index, value: decodeValue(bytes, `snapshot ${index} of ${this.name}`) };
    });
  }

  async indexes(): Promise<number[]> {
    return this.lane.call(() => this.backend.list());
  }
}

export class FrontendStore implements Store {
  readonly durable: boolean;
  private readonly lanes: Lane[] = [];
  private readonly logs = new Map<string, FrontendLog>();
  private readonly tables = new Map<string, FrontendTable>();
  private readonly snapshotStores = new Map<string, FrontendSnapshots>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly backend: StoreBackend,
    private readonly options: ResolvedStoreOptions,
  ) {
    this.durable = backend.durable;
  }

  log(name: string): AppendLog {
    return this.resource(
      this.logs,
      'log',
      name,
      (lane) => new FrontendLog(name, this.backend.log(name), lane, this.options),
    );
  }

  table(name: string): Table {
    return this.resource(this.tables, 'table', name, (lane) => {
      return new FrontendTable(name, this.backend.table(name), lane, this.options);
    });
  }

  snapshots(name: string): SnapshotStore {
    return this.resource(this.snapshotStores, 'snapshot store', name, (lane) => {
      return new FrontendSnapshots(name, this.backend.snapshots(name), lane, this.options);
    });
  }

  close(): Promise<void> {
    this.closing ??= this.drainAndClose();
    return this.closing;
  }

  /** Throws `closed` once `close()` was called. */
  checkOpen(): void {
    if (this.closing !== undefined) throw new StoreError('closed', 'the store is closed');
  }

  private async drainAndClose(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.idle()));
    try {
      await this.backend.close();
    } catch (error) {
      throw toStoreError(error, 'io', 'closing the store failed');
    }
  }

  private resource<T>(cache: Map<string, T>, kind: string, name: string, create: (lane: Lane) => T): T {
    checkName(kind, name);
    this.checkOpen();
    const existing = cache.get(name);
    if (existing !== undefined) return existing;
    const lane = new Lane(this, this.options.pendingOperationsMax);
    this.lanes.push(lane);
    const created = create(lane);
    cache.set(name, created);
    return created;
  }
}
