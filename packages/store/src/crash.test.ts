/**
 * Crash test: no acknowledged write is lost. A child process writes to an LMDB store and
 * acknowledges each write on stdout only after its promise resolved; we SIGKILL it mid-stream,
 * reopen the store and demand every acknowledged record and table entry, intact, in a log that is
 * still contiguous from index 1. Three rounds, each killing at a different point.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openLmdbStore } from './lmdb.js';
import {
  CRASH_LOG,
  CRASH_TABLE,
  crashRecord,
  crashTableKey,
  parseCrashAck,
} from './testing/crash-records.js';

const CHILD_SCRIPT = fileURLToPath(new URL('./testing/crash-child.ts', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/** A child that has not acknowledged enough writes by then is stuck: fail instead of hanging. */
const CHILD_DEADLINE_MS = 15_000;

interface ChildRun {
  readonly acknowledgedAppends: Map<number, number>;
  readonly acknowledgedPuts: Set<number>;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/** Runs the child until it has acknowledged `appendsBeforeKill` appends, then SIGKILLs it. */
function runChildUntilKilled(directory: string, appendsBeforeKill: number): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CHILD_SCRIPT, directory], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acknowledgedAppends = new Map<number, number>();
  const acknowledgedPuts = new Set<number>();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const ack = parseCrashAck(line);
    if (ack?.kind === 'append') acknowledgedAppends.set(ack.index, ack.sequence);
    if (ack?.kind === 'put') acknowledgedPuts.add(ack.sequence);
    if (acknowledgedAppends.size >= appendsBeforeKill) child.kill('SIGKILL');
  });
  const deadline = setTimeout(() => child.kill('SIGKILL'), CHILD_DEADLINE_MS);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(deadline);
      resolve({ acknowledgedAppends, acknowledgedPuts, signal, stderr });
    });
  });
}

describe('LMDB store under SIGKILL', () => {
  for (const [round, appendsBeforeKill] of [200, 320, 450].entries()) {
    it(`keeps every acknowledged append and put, in a contiguous log (round ${round + 1}, kill after ${appendsBeforeKill} acks)`, async () => {
      const directory = await mkdtemp(join(tmpdir(), 'steadfast-crash-'));
      try {
        const run = await runChildUntilKilled(directory, appendsBeforeKill);
        // The child's stderr explains a child that died or stalled before enough acknowledgements.
        expect(run.acknowledgedAppends.size, run.stderr).toBeGreaterThanOrEqual(appendsBeforeKill);
        expect(run.signal, run.stderr).toBe('SIGKILL');

        const store = await openLmdbStore({ path: directory });
        try {
          const log = store.log(CRASH_LOG);
          const acknowledgedLast = Math.max(...run.acknowledgedAppends.keys());
          expect(await log.firstIndex()).toBe(1);
          const lastIndex = await log.lastIndex();
          expect(lastIndex).toBeGreaterThanOrEqual(acknowledgedLast);

          // Every record present, acknowledged or not, sits at its own sequence number, intact.
          const records = await log.read(1, lastIndex);
          expect(records.map((record) => record.index)).toEqual(
            Array.from({ length: lastIndex }, (_, i) => i + 1),
          );
          for (const record of records) expect(record.value).toEqual(crashRecord(record.index));
          for (const [index, sequence] of run.acknowledgedAppends) expect(index).toBe(sequence);

          const table = store.table(CRASH_TABLE);
          for (const sequence of run.acknowledgedPuts) {
            expect(await table.get(crashTableKey(sequence))).toEqual(crashRecord(sequence));
          }
          // The recovered log carries on where the crash left it.
          expect(await log.append([crashRecord(lastIndex + 1)])).toBe(lastIndex + 1);
        } finally {
          await store.close();
        }
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });
  }
});
