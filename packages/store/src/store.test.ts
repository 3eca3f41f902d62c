/**
 * Runs the one compliance suite against both implementations: memory (with reopen on the same
 * data, as the simulator does after a crash) and LMDB in a fresh temporary directory per test
 * (with reopen from disk).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMemoryStore, openLmdbStore, StoreError } from './index.js';
import { storeComplianceSuite } from './testing/index.js';

storeComplianceSuite('memory', async (options) => {
  let store = createMemoryStore(options);
  return {
    store,
    reopen: async () => (store = await store.reopen()),
    cleanup: async () => {},
  };
});

storeComplianceSuite('lmdb', async (options) => {
  const path = await mkdtemp(join(tmpdir(), 'steadfast-store-'));
  return {
    store: await openLmdbStore({ ...options, path }),
    reopen: () => openLmdbStore({ ...options, path }),
    cleanup: () => rm(path, { recursive: true, force: true }),
  };
});

describe('store construction', () => {
  it('reports which implementation is durable', async () => {
    const memory = createMemoryStore();
    expect(memory.durable).toBe(false);
    await memory.close();
    const path = await mkdtemp(join(tmpdir(), 'steadfast-store-'));
    try {
      const lmdb = await openLmdbStore({ path });
      expect(lmdb.durable).toBe(true);
      await lmdb.close();
    } finally {
      await rm(path, { recursive: true, force: true });
    }
  });

  it('rejects bad options with invalid_argument instead of running unbounded', async () => {
    expect(() => createMemoryStore({ snapshotsKept: 0 })).toThrow(StoreError);
    expect(() => createMemoryStore({ pendingOperationsMax: 1.5 })).toThrow(StoreError);
    await expect(openLmdbStore({ path: '' })).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('refuses a second open of one LMDB directory in a process, whose cached bounds would diverge', async () => {
    const path = await mkdtemp(join(tmpdir(), 'steadfast-store-'));
    try {
      const first = await openLmdbStore({ path });
      await expect(openLmdbStore({ path: join(path, '.') })).rejects.toMatchObject({
        code: 'invalid_argument',
      });
      await first.close();
      const second = await openLmdbStore({ path });
      await second.close();
    } finally {
      await rm(path, { recursive: true, force: true });
    }
  });
});
