/**
 * Hop trace: an opt-in record, per process, of when each datagram arrived and was handled, when
 * each send was called and returned, when each timer was set, fired and finished, and when the
 * node's mailboxes were drained. Times are µs on `process.hrtime`, the monotonic clock every process
 * of a host shares, so the files of a client and its servers line up on one time axis.
 *
 * What it is for: seeing where a request's latency goes, hop by hop (`pnpm bench hops DIR` reads
 * the files; docs/benchmarks.md). It sits below the runtime's trace stream on purpose: that stream
 * records protocol events in a node's own time, this one the host loop's I/O and timers at µs
 * resolution, for benchmarks only. It is off unless the environment names a file prefix:
 *
 *     STEADFAST_HOP_TRACE=/tmp/hops/run pnpm steadfast bench replication
 *
 * Each process then writes `<prefix>.<pid>.json` (making the directory if need be) when it exits
 * normally; a SIGKILLed process writes nothing. Off, each call site costs one property read. On, a
 * process keeps at most `hopEventsMax` events and notes in the file that it stopped there.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Event kinds in a hop trace file. Numbers, append-only: the analysis reads files by them. */
export const HopEvent = {
  /** A datagram arrived (value: its bytes; port: the sender's). */
  received: 0,
  /** A send was called (value: the datagram's bytes; port: the target's). */
  sendCalled: 1,
  /** The transport's receive handler returned for the datagram before it. */
  handled: 2,
  /** A timer was set (value: its delay in ms). */
  timerSet: 3,
  /** A timer fired (value: its delay in ms). */
  timerFired: 4,
  /** A send call returned (port: the target's). */
  sendReturned: 5,
  /** A timer's callback returned (value: its delay in ms). */
  timerDone: 6,
  /** A node finished draining its mailboxes. */
  drained: 7,
} as const;
/** One of the `HopEvent` numbers. */
export type HopEventKind = (typeof HopEvent)[keyof typeof HopEvent];

/** Events a process keeps, at most (4 numbers each: 32 MB of numbers). */
export const hopEventsMax = 1_000_000;

/** What a hop trace file holds. `events` is flat: time µs, kind, port, value, time µs, kind, … */
export interface HopTraceFile {
  readonly pid: number;
  readonly argv: readonly string[];
  /** The ports of the UDP sockets this process bound, in the order bound. */
  readonly sockets: readonly number[];
  readonly truncated: boolean;
  readonly events: readonly number[];
}

/** One event of a hop trace file, unpacked. */
export interface HopEventRecord {
  /** µs of `process.hrtime`, shared by the processes of a host. */
  readonly timeUs: number;
  /** A `HopEvent` (a number read from a file: a kind this version does not know stays as it is). */
  readonly kind: number;
  /** The peer's port for datagram events, 0 otherwise. */
  readonly port: number;
  /** Bytes for datagram events, the delay in ms for timer events, 0 otherwise. */
  readonly value: number;
}

/** The events of a hop trace file, in the order recorded (its flat quadruples unpacked). */
export function hopEventsOf(file: HopTraceFile): HopEventRecord[] {
  const events: HopEventRecord[] = [];
  for (let index = 0; index + 3 < file.events.length; index += 4) {
    events.push({
      timeUs: file.events[index]!,
      kind: file.events[index + 1]!,
      port: file.events[index + 2]!,
      value: file.events[index + 3]!,
    });
  }
  return events;
}

class HopTrace {
  readonly enabled: boolean;
  readonly #events: number[] = [];
  readonly #sockets: number[] = [];
  #truncated = false;

  constructor(readonly filePrefix: string | undefined) {
    this.enabled = filePrefix !== undefined && filePrefix.length > 0;
    if (this.enabled) process.on('exit', () => this.#write());
  }

  /** Records one event. Callers test `enabled` first, so a disabled trace costs no call. */
  record(kind: HopEventKind, port: number, value: number): void {
    if (this.#events.length >= hopEventsMax * 4) {
      this.#truncated = true;
      return;
    }
    this.#events.push(Number(process.hrtime.bigint()) / 1_000, kind, port, value);
  }

  /** Names a socket this process bound, so the analysis can tell whose port a peer's is. */
  socketBound(port: number): void {
    this.#sockets.push(port);
  }

  #write(): void {
    const file: HopTraceFile = {
      pid: process.pid,
      argv: process.argv.slice(2),
      sockets: this.#sockets,
      truncated: this.#truncated,
      events: this.#events,
    };
    try {
      // The directory of the prefix is made if missing, so one command line sets a run up.
      mkdirSync(dirname(`${this.filePrefix}`), { recursive: true });
      writeFileSync(`${this.filePrefix}.${process.pid}.json`, JSON.stringify(file));
    } catch (error) {
      // At exit there is nobody to hand the error to; say so rather than lose the trace silently.
      process.stderr.write(
        `hop trace: could not write ${this.filePrefix}.${process.pid}.json: ${(error as Error).message}\n`,
      );
    }
  }
}

/** The process's hop trace, enabled by `STEADFAST_HOP_TRACE` when the module loads. */
export const hopTrace = new HopTrace(process.env['STEADFAST_HOP_TRACE']);
