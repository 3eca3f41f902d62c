/**
 * The compliance suite every store implementation must pass (after js-libp2p's
 * interface-compliance-tests): the memory store and the LMDB store run exactly these tests, so the
 * simulator's memory store cannot drift from what production gets. Each test names the part of
 * the contract in `types.ts` it checks.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError, type StoreErrorCode } from '../errors.js';
import type { Store, StoreOptions } from '../types.js';
import { TABLE_KEY_BYTES_MAX } from '../validate.js';
import { expectStoreError, initialModel, storeCommands, type RealStore } from './store-model.js';

/** What an `OpenStore` gives the suite: a fresh, empty store and how to reopen it and clean up. */
export interface OpenedStore {
  readonly store: Store;
  /** Opens the same data again; called only after the previous store was closed. */
  readonly reopen?: () => Promise<Store>;
  /** Releases whatever `open` created (temporary directories); stores are closed by then. */
  cleanup(): Promise<void>;
}

/**
 * How the suite opens the implementation under test: a new, empty store on each call, with the
 * given bounds (some tests pass small ones to reach them quickly, so they must be honoured).
 */
export type OpenStore = (options?: StoreOptions) => Promise<OpenedStore>;

/**
 * Registers the vitest tests of the whole store contract (`types.ts`, docs/store.md) for one
 * implementation, under `name`; call it at the top level of a test file. The persistence checks
 * run, and the model-based test mixes in reopens, only when `open` gives a `reopen`.
 */
export function storeComplianceSuite(name: string, open: OpenStore): void {
  describe(`${name} store compliance`, () => {
    let opened: OpenedStore;
    let store: Store;

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });

    afterEach(async () => {
      await store.close();
      await opened.cleanup();
    });

    /** Closes the current store and opens the same data again; undefined without `reopen`. */
    async function reopened(): Promise<Store | undefined> {
      if (opened.reopen === undefined) return undefined;
      await store.close();
      store = await opened.reopen();
      return store;
    }

    /** Runs `body` on a store opened with `options`, closing and cleaning up after. */
    async function withOptions(options: StoreOptions, body: (own: Store) => Promise<void>): Promise<void> {
      const own = await open(options);
      try {
        await body(own.store);
      } finally {
        await own.store.close();
        await own.cleanup();
      }
    }

    describe('names', () => {
      it('rejects names outside [A-Za-z0-9._-]{1,100} with invalid_name, for logs, tables and snapshots', () => {
        const bad = ['', 'a/b', 'a b', 'é', 'a\u0000', 'x'.repeat(101), '../up'];
        for (const badName of bad) {
          expect(thrownCode(() => store.log(badName))).toBe('invalid_name');
          expect(thrownCode(() => store.table(badName))).toBe('invalid_name');
          expect(thrownCode(() => store.snapshots(badName))).toBe('invalid_name');
        }
        expect(store.log('x'.repeat(100)).name).toBe('x'.repeat(100));
        expect(store.table('A-z_0.9').name).toBe('A-z_0.9');
      });

      it('hands out one object per name, so every caller shares its order', () => {
        expect(store.log('same')).toBe(store.log('same'));
        expect(store.table('same')).toBe(store.table('same'));
        expect(store.snapshots('same')).toBe(store.snapshots('same'));
      });
    });

    describe('append-only log', () => {
      it('is empty when new: firstIndex 1, lastIndex 0, nothing to read', async () => {
        const log = store.log('fresh');
        expect(await log.firstIndex()).toBe(1);
        expect(await log.lastIndex()).toBe(0);
        expect(await log.read(0)).toEqual([]);
      });

      it('numbers records from 1, contiguously, and append resolves with the last index', async () => {
        const log = store.log('numbers');
        expect(await log.append(['a'])).toBe(1);
        expect(await log.append(['b', 'c', 'd'])).toBe(4);
        expect(await log.append([])).toBe(4);
        expect(await log.lastIndex()).toBe(4);
        expect(await log.read(1)).toEqual([
          { index: 1, value: 'a' },
          { index: 2, value: 'b' },
          { index: 3, value: 'c' },
          { index: 4, value: 'd' },
        ]);
      });

      it('returns every supported kind of value as it was appended', async () => {
        const values: unknown[] = [
          { nested: { list: [1, 'two', [3]], flag: true }, empty: {} },
          new Uint8Array([0, 1, 254, 255]),
          new Map<unknown, unknown>([
            [1, 'number key'],
            ['k', { a: 1 }],
          ]),
          new Set(['x', 'y']),
          'text with ünïcode 😀',
          -12.5,
          Number.MAX_SAFE_INTEGER,
          NaN,
          null,
          undefined,
          12345678901234567n,
          -(2n ** 200n),
          new Date(1_700_000_000_000),
          [],
        ];
        const log = store.log('kinds');
        await log.append(values);
        const records = await log.read(1);
        expect(records.map((record) => record.value)).toEqual(values);
        expect(records[1]?.value).toBeInstanceOf(Uint8Array);
        expect(records[2]?.value).toBeInstanceOf(Map);
      });

      it('stores copies: mutating a value after append, or a value read back, changes nothing stored', async () => {
        const log = store.log('copies');
        const value = { list: [1, 2] };
        const appended = log.append([value]);
        value.list.push(3);
        await appended;
        const [first] = await log.read(1);
        (first?.value as { list: number[] }).list.push(4);
        expect((await log.read(1))[0]?.value).toEqual({ list: [1, 2] });
      });

      it('gives concurrent appends distinct contiguous indexes in call order', async () => {
        const log = store.log('concurrent');
        const sizes = [1, 3, 1, 2, 1, 1, 4, 1, 2, 1];
        let next = 0;
        const batches = sizes.map((size) => Array.from({ length: size }, () => (next += 1)));
        const indexes = await Promise.all(batches.map((batch) => log.append(batch)));
        let expectedLast = 0;
        expect(indexes).toEqual(sizes.map((size) => (expectedLast += size)));
        const records = await log.read(1);
        expect(records.map((record) => record.index)).toEqual(batches.flat());
        expect(records.map((record) => record.value)).toEqual(batches.flat());
      });

      it('orders calls as made: a read queued between appends sees the first and not the second', async () => {
        const log = store.log('ordered');
        const first = log.append(['one']);
        const between = log.read(1);
        const second = log.append(['two']);
        const truncated = log.truncateSuffix(1);
        const third = log.append(['three']);
        expect(await Promise.all([first, second, third])).toEqual([1, 2, 2]);
        expect(await between).toEqual([{ index: 1, value: 'one' }]);
        await truncated;
        expect(await log.read(1)).toEqual([
          { index: 1, value: 'one' },
          { index: 2, value: 'three' },
        ]);
      });

      it('reads [fromIndex, toIndex] inclusive, at most limit records', async () => {
        const log = store.log('ranges');
        await log.append([1, 2, 3, 4, 5, 6]);
        const indexes = async (from: number, to?: number, limit?: number): Promise<number[]> =>
          (await log.read(from, to, limit)).map((record) => record.index);
        expect(await indexes(2, 4)).toEqual([2, 3, 4]);
        expect(await indexes(2, 4, 2)).toEqual([2, 3]);
        expect(await indexes(5)).toEqual([5, 6]);
        expect(await indexes(4, 3)).toEqual([]);
        expect(await indexes(7)).toEqual([]);
        expect(await indexes(1, 100, 0)).toEqual([]);
      });

      it('truncatePrefix drops earlier records, keeps later indexes and refuses to leave a gap', async () => {
        const log = store.log('prefix');
        await log.append(['a', 'b', 'c', 'd', 'e']);
        await log.truncatePrefix(3);
        expect(await log.firstIndex()).toBe(3);
        expect(await log.lastIndex()).toBe(5);
        expect(await log.read(1)).toEqual([
          { index: 3, value: 'c' },
          { index: 4, value: 'd' },
          { index: 5, value: 'e' },
        ]);
        await log.truncatePrefix(2); // at or below the first index: nothing to do
        expect(await log.firstIndex()).toBe(3);
        await expectStoreError(log.truncatePrefix(7), 'invalid_index');
        expect(await log.append(['f'])).toBe(6);
      });

      it('truncatePrefix(lastIndex + 1) empties the log and the numbering carries on', async () => {
        const log = store.log('emptied');
        await log.append(['a', 'b', 'c']);
        await log.truncatePrefix(4);
        expect(await log.firstIndex()).toBe(4);
        expect(await log.lastIndex()).toBe(3);
        expect(await log.read(0)).toEqual([]);
        expect(await log.append(['d'])).toBe(4);
        expect(await log.read(0)).toEqual([{ index: 4, value: 'd' }]);
      });

      it('truncateSuffix drops later records, the next append reuses their indexes', async () => {
        const log = store.log('suffix');
        await log.append(['a', 'b', 'c', 'd']);
        await log.truncateSuffix(2);
        expect(await log.lastIndex()).toBe(2);
        await log.truncateSuffix(9); // at or above the last index: nothing to do
        expect(await log.append(['x'])).toBe(3);
        expect((await log.read(1)).map((record) => record.value)).toEqual(['a', 'b', 'x']);
        await log.truncatePrefix(3);
        await expectStoreError(log.truncateSuffix(1), 'invalid_index');
        await log.truncateSuffix(2); // down to firstIndex - 1 empties the log
        expect(await log.firstIndex()).toBe(3);
        expect(await log.lastIndex()).toBe(2);
        expect(await log.append(['y'])).toBe(3);
      });

      it('rejects values msgpack cannot store faithfully with unencodable and consumes no index', async () => {
        const log = store.log('unencodable');
        const cyclic: Record<string, unknown> = {};
        cyclic['self'] = cyclic;
        const bad: unknown[] = [
          () => 1,
          Symbol('s'),
          { nested: { fn: () => 1 } },
          { [Symbol('key')]: 1 },
          cyclic,
          new Map([[1, () => 1]]),
          new (class Point {
            x = 1;
          })(),
          new WeakMap(),
          Promise.resolve(1),
        ];
        for (const value of bad) await expectStoreError(log.append(['fine', value]), 'unencodable');
        expect(await log.lastIndex()).toBe(0);
        expect(await log.append(['fine'])).toBe(1);
      });

      it('rejects malformed indexes with invalid_index and out-of-range counts with invalid_argument', async () => {
        const log = store.log('arguments');
        await expectStoreError(log.read(-1), 'invalid_index');
        await expectStoreError(log.read(1.5), 'invalid_index');
        await expectStoreError(log.read(1, NaN), 'invalid_index');
        await expectStoreError(log.truncatePrefix(-3), 'invalid_index');
        await expectStoreError(log.truncateSuffix(Infinity), 'invalid_index');
        await expectStoreError(log.read(1, 5, -1), 'invalid_argument');
        await expectStoreError(log.append('not an array' as unknown as unknown[]), 'invalid_argument');
      });

      it('bounds reads, batches and value sizes with typed errors', async () => {
        await withOptions({ readLimitMax: 5, batchEntriesMax: 3, valueBytesMax: 64 }, async (own) => {
          const log = own.log('bounded');
          await expectStoreError(log.append([1, 2, 3, 4]), 'invalid_argument');
          await expectStoreError(log.append(['x'.repeat(100)]), 'too_large');
          for (let round = 0; round < 3; round += 1) await log.append([1, 2, 3]);
          expect((await log.read(1)).map((record) => record.index)).toEqual([1, 2, 3, 4, 5]);
          await expectStoreError(log.read(1, 9, 6), 'invalid_argument');
        });
      });

      it('refuses calls beyond pendingOperationsMax with overloaded; the accepted ones still complete', async () => {
        await withOptions({ pendingOperationsMax: 3 }, async (own) => {
          const log = own.log('busy');
          const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((value) => log.append([value])));
          expect(results.slice(0, 3)).toEqual([1, 2, 3].map((value) => ({ status: 'fulfilled', value })));
          for (const result of results.slice(3)) {
            expect(result.status).toBe('rejected');
            expect(result.status === 'rejected' && (result.reason as StoreError).code).toBe('overloaded');
          }
          expect(await log.append([7])).toBe(4);
        });
      });

      it('keeps logs with different names apart, even when one name prefixes another', async () => {
        const names = ['a', 'a.b', 'a0', 'ab', 'b'];
        for (const [position, logName] of names.entries()) {
          await store.log(logName).append(Array.from({ length: position + 1 }, () => logName));
        }
        for (const [position, logName] of names.entries()) {
          const records = await store.log(logName).read(0);
          expect(records.map((record) => record.value)).toEqual(
            Array.from({ length: position + 1 }, () => logName),
          );
        }
        await store.log('a').truncatePrefix(2);
        expect(await store.log('a.b').firstIndex()).toBe(1);
      });
    });

    describe('table', () => {
      it('gets what was put, overwrites on put, and forgets on delete', async () => {
        const table = store.table('basic');
        expect(await table.get('missing')).toBeUndefined();
        await table.put('k', { v: 1 });
        expect(await table.get('k')).toEqual({ v: 1 });
        await table.put('k', [2]);
        expect(await table.get('k')).toEqual([2]);
        await table.delete('k');
        expect(await table.get('k')).toBeUndefined();
        await table.delete('never-there');
        await table.put('', 'the empty key is a key');
        expect(await table.get('')).toBe('the empty key is a key');
      });

      it('scans in ascending order of the keys UTF-8 bytes', async () => {
        const table = store.table('order');
        const keys = ['b', 'a', '', 'ab', 'é', '😀', '\uffff', 'A', 'a\u0000b', 'a\u0000'];
        for (const key of keys) await table.put(key, key.length);
        const byBytes = [...keys].sort((left, right) =>
          Buffer.compare(Buffer.from(left), Buffer.from(right)),
        );
        // '\uffff' sorts before '😀' in UTF-8 but after it in JS string order: the test can tell.
        expect(byBytes.indexOf('\uffff')).toBeLessThan(byBytes.indexOf('😀'));
        const scanned = await table.scan();
        expect(scanned.map((entry) => entry.key)).toEqual(byBytes);
        expect(scanned.map((entry) => entry.value)).toEqual(byBytes.map((key) => key.length));
      });

      it('scans only keys with the prefix, strictly after `after`, at most `limit`', async () => {
        const table = store.table('pages');
        for (const key of ['user/1', 'user/2', 'user/3', 'user/4', 'users', 'user', 'other'])
          await table.put(key, key);
        const keys = async (options: Parameters<typeof table.scan>[0]): Promise<string[]> =>
          (await table.scan(options)).map((entry) => entry.key);
        expect(await keys({ prefix: 'user/' })).toEqual(['user/1', 'user/2', 'user/3', 'user/4']);
        expect(await keys({ prefix: 'user/', limit: 2 })).toEqual(['user/1', 'user/2']);
        expect(await keys({ prefix: 'user/', after: 'user/2', limit: 2 })).toEqual(['user/3', 'user/4']);
        expect(await keys({ prefix: 'user/', after: 'a' })).toEqual(['user/1', 'user/2', 'user/3', 'user/4']);
        expect(await keys({ prefix: 'user/', after: 'user/4' })).toEqual([]);
        expect(await keys({ after: 'user/3' })).toEqual(['user/4', 'users']);
        expect(await keys({ prefix: 'nothing' })).toEqual([]);
      });

      it('putMany writes every entry (the last of duplicate keys wins) or, on a bad entry, none', async () => {
        const table = store.table('batch');
        await table.putMany([
          ['a', 1],
          ['b', 2],
          ['a', 3],
        ]);
        expect(await table.scan()).toEqual([
          { key: 'a', value: 3 },
          { key: 'b', value: 2 },
        ]);
        await expectStoreError(
          table.putMany([
            ['c', 1],
            ['d', () => 1],
          ]),
          'unencodable',
        );
        await expectStoreError(
          table.putMany([
            ['c', 1],
            ['\ud800', 1],
          ]),
          'invalid_key',
        );
        expect(await table.get('c')).toBeUndefined();
        await table.putMany([]);
      });

      it('rejects keys that are not well-formed strings of at most TABLE_KEY_BYTES_MAX bytes', async () => {
        const table = store.table('keys');
        await expectStoreError(table.put(42 as unknown as string, 1), 'invalid_key');
        await expectStoreError(table.put('lone \ud800 surrogate', 1), 'invalid_key');
        await expectStoreError(table.put('x'.repeat(TABLE_KEY_BYTES_MAX + 1), 1), 'invalid_key');
        await expectStoreError(table.get('é'.repeat(TABLE_KEY_BYTES_MAX / 2 + 1)), 'invalid_key');
        await table.put('x'.repeat(TABLE_KEY_BYTES_MAX), 'longest');
        expect(await table.get('x'.repeat(TABLE_KEY_BYTES_MAX))).toBe('longest');
        await expectStoreError(table.put('k', Symbol('v')), 'unencodable');
      });

      it('keeps tables apart from each other and from logs of the same name', async () => {
        await store.table('t').put('k', 't');
        await store.table('t.x').put('k', 't.x');
        await store.table('t0').put('k', 't0');
        await store.log('t').append(['log']);
        expect(await store.table('t').scan()).toEqual([{ key: 'k', value: 't' }]);
        expect(await store.table('t.x').get('k')).toBe('t.x');
        expect(await store.table('t0').scan()).toEqual([{ key: 'k', value: 't0' }]);
      });
    });

    describe('snapshots', () => {
      it('has no latest snapshot at first, then the one with the highest index', async () => {
        const snapshots = store.snapshots('state');
        expect(await snapshots.latest()).toBeUndefined();
        await snapshots.save(10, { at: 10 });
        await snapshots.save(20, new Map([['at', 20]]));
        expect(await snapshots.latest()).toEqual({ index: 20, value: new Map([['at', 20]]) });
      });

      it('keeps only the newest snapshotsKept (3 by default)', async () => {
        const snapshots = store.snapshots('kept');
        for (const index of [1, 2, 3, 4, 5]) await snapshots.save(index, index);
        expect(await snapshots.indexes()).toEqual([3, 4, 5]);
        await withOptions({ snapshotsKept: 1 }, async (own) => {
          const single = own.snapshots('single');
          await single.save(1, 'one');
          await single.save(2, 'two');
          expect(await single.indexes()).toEqual([2]);
          expect(await single.latest()).toEqual({ index: 2, value: 'two' });
        });
      });

      it('refuses an index older than the latest with invalid_index and replaces an equal one', async () => {
        const snapshots = store.snapshots('monotonic');
        await snapshots.save(5, 'first');
        await expectStoreError(snapshots.save(4, 'older'), 'invalid_index');
        await snapshots.save(5, 'replaced');
        expect(await snapshots.latest()).toEqual({ index: 5, value: 'replaced' });
        expect(await snapshots.indexes()).toEqual([5]);
      });
    });

    describe('closing', () => {
      it('finishes calls already made, then rejects every call with closed', async () => {
        const log = store.log('closing');
        const table = store.table('closing');
        const snapshots = store.snapshots('closing');
        const appended = log.append(['made before close']);
        const closed = store.close();
        expect(await appended).toBe(1);
        await closed;
        await store.close(); // closing twice is harmless
        await expectStoreError(log.append(['late']), 'closed');
        await expectStoreError(log.read(1), 'closed');
        await expectStoreError(table.put('k', 1), 'closed');
        await expectStoreError(snapshots.latest(), 'closed');
        expect(thrownCode(() => store.log('other'))).toBe('closed');
        const again = await reopened();
        if (again !== undefined)
          expect(await again.log('closing').read(1)).toEqual([{ index: 1, value: 'made before close' }]);
      });
    });

    describe('persistence', () => {
      it('keeps records, log bounds, tables and snapshots across a reopen', async (context) => {
        if (opened.reopen === undefined) context.skip();
        await store.log('kept').append(['a', 'b', 'c', 'd']);
        await store.log('kept').truncatePrefix(2);
        await store.log('kept').truncateSuffix(3);
        await store.log('emptied').append(['x', 'y']);
        await store.log('emptied').truncatePrefix(3);
        await store.table('kept').putMany([
          ['one', 1],
          ['two', new Uint8Array([2])],
        ]);
        await store.table('kept').delete('one');
        for (const index of [1, 2, 3, 4]) await store.snapshots('kept').save(index, { index });

        const again = await reopened();
        if (again === undefined) return;
        expect(await again.log('kept').firstIndex()).toBe(2);
        expect(await again.log('kept').read(0)).toEqual([
          { index: 2, value: 'b' },
          { index: 3, value: 'c' },
        ]);
        expect(await again.log('kept').append(['e'])).toBe(4);
        expect(await again.log('emptied').firstIndex()).toBe(3);
        expect(await again.log('emptied').lastIndex()).toBe(2);
        expect(await again.log('emptied').append(['z'])).toBe(3);
        expect(await again.table('kept').scan()).toEqual([{ key: 'two', value: new Uint8Array([2]) }]);
        expect(await again.snapshots('kept').indexes()).toEqual([2, 3, 4]);
        expect(await again.snapshots('kept').latest()).toEqual({ index: 4, value: { index: 4 } });
      });
    });

    describe('model', () => {
      // Invariant: under any sequence of log and table calls (and clean reopens, where the
      // implementation has them) the store answers exactly like the plain model in store-model.ts.
      it('behaves like the obvious model of one log and one table', async () => {
        await fc.assert(
          fc.asyncProperty(storeCommands(opened.reopen !== undefined), async (commands) => {
            const own = await open();
            const real: RealStore = { store: own.store, reopen: own.reopen };
            try {
              await fc.asyncModelRun(() => ({ model: initialModel(), real }), commands);
            } finally {
              await real.store.close();
              await own.cleanup();
            }
          }),
          { numRuns: 100 },
        );
      });
    });
  });
}

/** The code of the StoreError `action` throws, or a description of what it did instead. */
function thrownCode(action: () => unknown): StoreErrorCode | string {
  try {
    action();
    return 'did not throw';
  } catch (error) {
    return error instanceof StoreError ? error.code : `threw ${String(error)}`;
  }
}
