/**
 * The simulator's only file I/O: saving a run's trace (the CLI's `--trace FILE`). Kept apart so
 * that everything else in the package stays free of node built-ins.
 */
import { writeFileSync } from 'node:fs';
import type { Simulation } from './simulation.js';

/** Writes the run's trace file (readable with `readTraceFile` / `steadfast trace`); returns its size in bytes. */
export function saveTrace(path: string, simulation: Simulation): number {
  const bytes = simulation.encodeTrace();
  writeFileSync(path, bytes);
  return bytes.byteLength;
}
