/**
 * The records the crash test's child process writes, derived from their sequence number alone so
 * the parent can tell an intact record from a torn or misplaced one after a SIGKILL.
 */

export const CRASH_LOG = 'crash-log';
export const CRASH_TABLE = 'crash-table';

export interface CrashRecord {
  readonly sequence: number;
  readonly text: string;
  readonly payload: Uint8Array;
}

export function crashRecord(sequence: number): CrashRecord {
  // Payload sizes vary from 0 to 2 KiB so that records straddle LMDB page boundaries.
  const payload = new Uint8Array((sequence * 37) % 2048).fill(sequence % 251);
  return { sequence, text: `record-${sequence}`, payload };
}

export function crashTableKey(sequence: number): string {
  return `entry/${sequence.toString().padStart(8, '0')}`;
}

/** Lines the child prints: `append <index> <sequence>` and `put <sequence>`, each after durability. */
export type CrashAck =
  | { readonly kind: 'append'; readonly index: number; readonly sequence: number }
  | {
      readonly kind: 'put';
      readonly sequence: number;
    };

export function parseCrashAck(line: string): CrashAck | undefined {
  const [kind, first, second] = line.trim().split(' ');
  if (kind === 'append' && first !== undefined && second !== undefined) {
    return { kind, index: Number(first), sequence: Number(second) };
  }
  if (kind === 'put' && first !== undefined) return { kind, sequence: Number(first) };
  return undefined;
}
