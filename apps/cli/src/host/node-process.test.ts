// A node process takes a new incarnation on every start, so message ids never repeat across
// restarts (the foundation issue's MessageId invariant), and it survives a reopen of its store.
import { createMemoryStore, openLmdbStore } from '@steadfast/store';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codecFromHex, nextIncarnation } from './node-process.js';

describe('node process host', () => {
  it('takes a strictly higher incarnation on every start, kept across reopening the store', async () => {
    const path = mkdtempSync(join(tmpdir(), 'steadfast-incarnation-'));
    try {
      const seen: number[] = [];
      for (let start = 0; start < 3; start++) {
        const store = await openLmdbStore({ path });
        seen.push(await nextIncarnation(store, 1));
        await store.close();
      }
      expect(seen).toEqual([1, 2, 3]);
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });

  it('never goes below the floor it is given', async () => {
    const store = createMemoryStore();
    expect(await nextIncarnation(store, 40)).toBe(40);
    expect(await nextIncarnation(store, 1)).toBe(41);
  });

  it('rejects a cluster key that is not 16 to 64 bytes of hex with a clear error', () => {
    expect(() => codecFromHex('abc')).toThrow(/16 to 64 bytes of hex/);
    expect(() => codecFromHex('zz'.repeat(16))).toThrow(/hex/);
    expect(codecFromHex('ab'.repeat(16)).maxFrameBytes).toBeGreaterThan(0);
  });
});
