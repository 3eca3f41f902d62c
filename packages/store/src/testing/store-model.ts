/**
 * A model of one AppendLog and one Table so plain it is obviously right (house style rule 13),
 * and fast-check commands that run the same operations on the model and on a real store and
 * demand the same answers. The compliance suite runs these against every implementation.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { StoreError, type StoreErrorCode } from '../errors.js';
import type { Store } from '../types.js';

/**
 * The model the real store is compared with: the log as an array from `firstIndex`, the table as a
 * `Map`. Mutated in place by the commands, as fast-check's model runs expect.
 */
export interface StoreModel {
  /** Index of `records[0]`. */
  firstIndex: number;
  records: unknown[];
  table: Map<string, unknown>;
}

/**
 * The real side of a model run: the store under test, replaced in place by the reopen command.
 */
export interface RealStore {
  store: Store;
  /** Closes `store` and opens it again on the same data, when the implementation can. */
  readonly reopen: (() => Promise<Store>) | undefined;
}

type StoreCommand = fc.AsyncCommand<StoreModel, RealStore>;

export const MODEL_LOG = 'model-log';
export const MODEL_TABLE = 'model-table';

/** The model of a new store: an empty log whose first index is 1 and an empty table. */
export function initialModel(): StoreModel {
  return { firstIndex: 1, records: [], table: new Map() };
}

function lastIndex(model: StoreModel): number {
  return model.firstIndex + model.records.length - 1;
}

/** Asserts (with vitest) that `promise` rejects with a `StoreError` of this `code`. */
export async function expectStoreError(promise: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
}

function utf8Order(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}

class AppendCommand implements StoreCommand {
  constructor(readonly values: readonly unknown[]) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const index = await real.store.log(MODEL_LOG).append(this.values);
    model.records.push(...this.values);
    expect(index).toBe(lastIndex(model));
  }
  toString(): string {
    return `append(${JSON.stringify(this.values)})`;
  }
}

/** Several appends made without awaiting each other still get indexes in call order. */
class ConcurrentAppendsCommand implements StoreCommand {
  constructor(readonly batches: readonly (readonly unknown[])[]) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const log = real.store.log(MODEL_LOG);
    const indexes = await Promise.all(this.batches.map((batch) => log.append(batch)));
    const expected = this.batches.map((batch) => {
      model.records.push(...batch);
      return lastIndex(model);
    });
    expect(indexes).toEqual(expected);
  }
  toString(): string {
    return `concurrentAppends(${JSON.stringify(this.batches)})`;
  }
}

class ReadCommand implements StoreCommand {
  constructor(
    readonly fromIndex: number,
    readonly toIndex: number,
    readonly limit: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const records = await real.store.log(MODEL_LOG).read(this.fromIndex, this.toIndex, this.limit);
    const expected = model.records
      .map((value, offset) => ({ index: model.firstIndex + offset, value }))
      .filter(({ index }) => index >= this.fromIndex && index <= this.toIndex)
      .slice(0, this.limit);
    expect(records).toEqual(expected);
  }
  toString(): string {
    return `read(${this.fromIndex}, ${this.toIndex}, ${this.limit})`;
  }
}

class BoundsCommand implements StoreCommand {
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const log = real.store.log(MODEL_LOG);
    expect(await log.firstIndex()).toBe(model.firstIndex);
    expect(await log.lastIndex()).toBe(lastIndex(model));
  }
  toString(): string {
    return 'bounds()';
  }
}

class TruncatePrefixCommand implements StoreCommand {
  constructor(readonly beforeIndex: number) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const result = real.store.log(MODEL_LOG).truncatePrefix(this.beforeIndex);
    if (this.beforeIndex > lastIndex(model) + 1) return expectStoreError(result, 'invalid_index');
    await result;
    if (this.beforeIndex <= model.firstIndex) return;
    model.records.splice(0, this.beforeIndex - model.firstIndex);
    model.firstIndex = this.beforeIndex;
  }
  toString(): string {
    return `truncatePrefix(${this.beforeIndex})`;
  }
}

class TruncateSuffixCommand implements StoreCommand {
  constructor(readonly afterIndex: number) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const result = real.store.log(MODEL_LOG).truncateSuffix(this.afterIndex);
    if (this.afterIndex < model.firstIndex - 1) return expectStoreError(result, 'invalid_index');
    await result;
    if (this.afterIndex >= lastIndex(model)) return;
    model.records.length = this.afterIndex - model.firstIndex + 1;
  }
  toString(): string {
    return `truncateSuffix(${this.afterIndex})`;
  }
}

class PutCommand implements StoreCommand {
  constructor(
    readonly key: string,
    readonly value: unknown,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    await real.store.table(MODEL_TABLE).put(this.key, this.value);
    model.table.set(this.key, this.value);
  }
  toString(): string {
    return `put(${JSON.stringify(this.key)}, ${JSON.stringify(this.value)})`;
  }
}

class PutManyCommand implements StoreCommand {
  constructor(readonly entries: readonly (readonly [string, unknown])[]) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    await real.store.table(MODEL_TABLE).putMany(this.entries);
    for (const [key, value] of this.entries) model.table.set(key, value);
  }
  toString(): string {
    return `putMany(${JSON.stringify(this.entries)})`;
  }
}

class DeleteCommand implements StoreCommand {
  constructor(readonly key: string) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    await real.store.table(MODEL_TABLE).delete(this.key);
    model.table.delete(this.key);
  }
  toString(): string {
    return `delete(${JSON.stringify(this.key)})`;
  }
}

class GetCommand implements StoreCommand {
  constructor(readonly key: string) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    expect(await real.store.table(MODEL_TABLE).get(this.key)).toEqual(model.table.get(this.key));
  }
  toString(): string {
    return `get(${JSON.stringify(this.key)})`;
  }
}

class ScanCommand implements StoreCommand {
  constructor(
    readonly prefix: string,
    readonly limit: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const entries = await real.store.table(MODEL_TABLE).scan({ prefix: this.prefix, limit: this.limit });
    const expected = [...model.table]
      .filter(([key]) => key.startsWith(this.prefix))
      .sort(([left], [right]) => utf8Order(left, right))
      .slice(0, this.limit)
      .map(([key, value]) => ({ key, value }));
    expect(entries).toEqual(expected);
  }
  toString(): string {
    return `scan(${JSON.stringify(this.prefix)}, ${this.limit})`;
  }
}

/** A clean restart: everything acknowledged before it must still be there after it. */
class ReopenCommand implements StoreCommand {
  check(_model: Readonly<StoreModel>): boolean {
    return true;
  }
  async run(model: StoreModel, real: RealStore): Promise<void> {
    if (real.reopen === undefined) return;
    await real.store.close();
    real.store = await real.reopen();
    await new BoundsCommand().run(model, real);
    await new ReadCommand(0, Number.MAX_SAFE_INTEGER, 10_000).run(model, real);
    await new ScanCommand('', 10_000).run(model, real);
  }
  toString(): string {
    return 'reopen()';
  }
}

const valueArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 6 }),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.record({ a: fc.integer(), b: fc.string({ maxLength: 3 }) }),
  fc.uint8Array({ maxLength: 4 }),
);
// Multi-byte and astral characters make UTF-8 order differ from JS string order.
const keyArbitrary = fc.string({ unit: fc.constantFrom('a', 'b', 'é', '\uffff', '😀'), maxLength: 3 });
const indexArbitrary = fc.integer({ min: 0, max: 14 });
const batchArbitrary = fc.array(valueArbitrary, { maxLength: 4 });

/**
 * fast-check commands over the log `model-log` and the table `model-table`, each checking the
 * real store's answer against the model (up to 40 per run, for `fc.asyncModelRun` starting from
 * `initialModel()`). `withReopen` adds a clean close and reopen after which everything
 * acknowledged must still be there.
 */
export function storeCommands(withReopen: boolean): fc.Arbitrary<Iterable<StoreCommand>> {
  const commands: fc.Arbitrary<StoreCommand>[] = [
    batchArbitrary.map((values) => new AppendCommand(values)),
    fc
      .array(batchArbitrary, { minLength: 2, maxLength: 4 })
      .map((batches) => new ConcurrentAppendsCommand(batches)),
    fc
      .tuple(indexArbitrary, indexArbitrary, fc.integer({ min: 0, max: 6 }))
      .map(([from, to, limit]) => new ReadCommand(from, to, limit)),
    fc.constant(new BoundsCommand()),
    indexArbitrary.map((index) => new TruncatePrefixCommand(index)),
    indexArbitrary.map((index) => new TruncateSuffixCommand(index)),
    fc.tuple(keyArbitrary, valueArbitrary).map(([key, value]) => new PutCommand(key, value)),
    fc
      .array(fc.tuple(keyArbitrary, valueArbitrary), { minLength: 1, maxLength: 4 })
      .map((entries) => new PutManyCommand(entries)),
    keyArbitrary.map((key) => new DeleteCommand(key)),
    keyArbitrary.map((key) => new GetCommand(key)),
    fc
      .tuple(keyArbitrary, fc.integer({ min: 0, max: 5 }))
      .map(([prefix, limit]) => new ScanCommand(prefix, limit)),
  ];
  if (withReopen) commands.push(fc.constant(new ReopenCommand()));
  return fc.commands(commands, { maxCommands: 40, size: 'max' });
}
