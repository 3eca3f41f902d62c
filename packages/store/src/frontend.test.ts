/**
 * Front-end behaviour that the compliance suite cannot provoke through a healthy engine: what
 * happens when the engine itself fails, and that a burst of appends becomes one engine write.
 */
import { describe, expect, it } from 'vitest';
import type { LogBackend, LogBounds, StoreBackend, StoredRecord } from './backend.js';
import { FrontendStore } from './frontend.js';
import { expectStoreError } from './testing/index.js';
import { DEFAULT_STORE_OPTIONS } from './validate.js';

/** A log engine that records its writes and fails the ones it is told to. */
class ScriptedLog implements LogBackend {
  readonly appendSizes: number[] = [];
  failNextAppend = false;
  private lastIndex = 0;

  async loadBounds(): Promise<LogBounds> {
    return { firstIndex: 1, lastIndex: this.lastIndex };
  }
  async append(firstIndex: number, records: readonly Uint8Array[]): Promise<void> {
    if (this.failNextAppend) throw new Error('disk on fire');
    expect(firstIndex).toBe(this.lastIndex + 1);
    this.appendSizes.push(records.length);
    this.lastIndex += records.length;
  }
  async read(): Promise<StoredRecord[]> {
    return [];
  }
  async truncatePrefix(): Promise<void> {}
  async truncateSuffix(): Promise<void> {}
}

function storeOver(log: ScriptedLog): FrontendStore {
  const unused = (): never => {
    throw new Error('not used in this test');
  };
  const backend: StoreBackend = {
    durable: false,
    log: () => log,
    table: unused,
    snapshots: unused,
    close: async () => {},
  };
  return new FrontendStore(backend, DEFAULT_STORE_OPTIONS);
}

describe('store front end', () => {
  it('turns an engine failure into io and refuses the log afterwards, since its state is unknown', async () => {
    const engine = new ScriptedLog();
    const log = storeOver(engine).log('fragile');
    expect(await log.append(['a'])).toBe(1);
    engine.failNextAppend = true;
    await expectStoreError(log.append(['b']), 'io');
    engine.failNextAppend = false;
    await expectStoreError(log.append(['c']), 'io');
    await expectStoreError(log.lastIndex(), 'io');
    expect(engine.appendSizes).toEqual([1]);
  });

  it('merges appends queued behind a running write into one engine write (group commit)', async () => {
    const engine = new ScriptedLog();
    const log = storeOver(engine).log('burst');
    const indexes = await Promise.all([log.append(['a']), log.append(['b', 'c']), log.append(['d'])]);
    expect(indexes).toEqual([1, 3, 4]);
    // The first call opens a batch; the two made before it runs join it.
    expect(engine.appendSizes).toEqual([4]);
    const [first, afterRead] = await Promise.all([
      log.append(['e']),
      log.read(1).then(() => log.append(['f'])),
    ]);
    expect([first, afterRead]).toEqual([5, 6]);
    expect(engine.appendSizes).toEqual([4, 1, 1]);
  });
});
