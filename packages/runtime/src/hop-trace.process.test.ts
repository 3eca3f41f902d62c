// Invariant: with STEADFAST_HOP_TRACE set, a process's hop trace holds each RealClock timer's set,
// fire and return, in that order and with its delay, and a `drained` event at the end of every
// mailbox drain of a node: the events `bench hops --timeline` reads between a datagram and a send.
// The trace is enabled when its module loads, so the traced code runs in a child process
// (testing/hop-trace-child.ts); the UDP events are tested in @steadfast/net's process test.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HopEvent, hopEventsOf, type HopEventRecord, type HopTraceFile } from './hop-trace.js';

const childScript = fileURLToPath(new URL('./testing/hop-trace-child.ts', import.meta.url));
// The repository root, so that `--import tsx` resolves from its node_modules.
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));
const childTimeoutMs = 30_000;
/** The actor timer's delay the child is given: not 0, so it is told apart from the clock's own. */
const ACTOR_TIMER_DELAY_MS = 7;

describe('the hop trace: timers and drains', () => {
  it('records each timer set, fired and done with its delay, and the end of every drain', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'steadfast-hops-'));
    try {
      const { code, pid, stderr } = await runChild(join(directory, 'run'));
      expect(code, stderr).toBe(0);
      const file = JSON.parse(readFileSync(join(directory, `run.${pid}.json`), 'utf8')) as HopTraceFile;
      expect(file.truncated).toBe(false);
      expect(file.sockets).toEqual([]);
      const events = hopEventsOf(file);
      expect(events.every((event, index) => index === 0 || event.timeUs >= events[index - 1]!.timeUs)).toBe(
        true,
      );

      // Each timer: set, then fired, then done (its callback returned), and nothing else of it.
      const timerKinds: readonly number[] = [HopEvent.timerSet, HopEvent.timerFired, HopEvent.timerDone];
      const timerEvents = (delayMs: number) =>
        events.filter((event) => timerKinds.includes(event.kind) && event.value === delayMs);
      for (const delayMs of [0, ACTOR_TIMER_DELAY_MS]) {
        expect(
          timerEvents(delayMs).map((event) => event.kind),
          `timer of ${delayMs} ms`,
        ).toEqual(timerKinds);
      }
      const [actorTimerSet, actorTimerFired, actorTimerDone] = timerEvents(ACTOR_TIMER_DELAY_MS) as [
        HopEventRecord,
        HopEventRecord,
        HopEventRecord,
      ];

      // Drains: one per message before the one that set the actor's timer, that message's own
      // drain ending after the set, and the drain that handed the actor its timer input.
      const drainedBetween = (fromUs: number, toUs: number) =>
        events.filter(
          (event) => event.kind === HopEvent.drained && event.timeUs >= fromUs && event.timeUs < toUs,
        ).length;
      expect(drainedBetween(0, actorTimerSet.timeUs)).toBeGreaterThanOrEqual(2);
      expect(drainedBetween(actorTimerSet.timeUs, actorTimerFired.timeUs)).toBeGreaterThanOrEqual(1);
      expect(drainedBetween(actorTimerDone.timeUs, Number.POSITIVE_INFINITY)).toBeGreaterThanOrEqual(1);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

/** Runs the child with the trace on; resolves with its exit code, pid and stderr. */
function runChild(tracePrefix: string): Promise<{ code: number | null; pid: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, String(ACTOR_TIMER_DELAY_MS)], {
      cwd: repositoryRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, STEADFAST_HOP_TRACE: tracePrefix },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), childTimeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, pid: child.pid!, stderr });
    });
  });
}
