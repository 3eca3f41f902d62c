/**
 * Child process for the crash test (src/crash.test.ts), run as
 * `node --import tsx crash-child.ts <directory>`. It appends records and writes table entries to
 * an LMDB store as fast as it can, several calls in flight at once, and prints an acknowledgement
 * line only after the call's promise resolved, that is after the store said the write is durable.
 * The parent SIGKILLs it mid-stream and checks that every acknowledged write survived.
 */
import { openLmdbStore } from '../lmdb.js';
import { CRASH_LOG, CRASH_TABLE, crashRecord, crashTableKey } from './crash-records.js';

/** Calls in flight at once, so group commit and concurrent index assignment are exercised. */
const WRITERS = 4;
/** A bound so an orphaned child stops by itself if the parent never kills it. */
const SEQUENCE_MAX = 200_000;

const directory = process.argv[2];
if (directory === undefined) {
  console.error('usage: crash-child.ts <directory>');
  process.exit(2);
}

const store = await openLmdbStore({ path: directory });
const log = store.log(CRASH_LOG);
const table = store.table(CRASH_TABLE);
let sequence = await log.lastIndex();

async function writer(): Promise<void> {
  while (sequence < SEQUENCE_MAX) {
    sequence += 1;
    const mine = sequence;
    // Appends are made in sequence order, so the log must give record `mine` index `mine`.
    const index = await log.append([crashRecord(mine)]);
    process.stdout.write(`append ${index} ${mine}\n`);
    await table.put(crashTableKey(mine), crashRecord(mine));
    process.stdout.write(`put ${mine}\n`);
  }
}

await Promise.all(Array.from({ length: WRITERS }, () => writer()));
await store.close();
