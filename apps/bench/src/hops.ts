/**
 * `pnpm bench hops DIR [--timeline PID:PORT] [--count N] [--json]`: where a request's latency goes,
 * hop by hop, read from the hop trace files a run wrote (`STEADFAST_HOP_TRACE`, see
 * packages/runtime/src/hop-trace.ts and docs/benchmarks.md).
 *
 * For each process and each peer it heard from, it takes the *turnarounds from idle*: a datagram
 * that reached the process after at least `idleUs` with nothing recorded (so it woke the process,
 * as every request does at concurrency 1), followed by a send of the process's before any other
 * datagram arrived. For those it prints the quartiles of: receipt → receive handler returned
 * (decoding and checking), receipt → the first send called (the turnaround), and how long that send
 * call took (the kernel's share, including waking the receiver). At 64 requests in flight a
 * process is rarely idle, so the figures describe the concurrency-1 phase of a benchmark.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HopEvent, hopEventsOf, type HopEventRecord, type HopTraceFile } from '@steadfast/runtime';

export interface Quartiles {
  readonly p25: number;
  readonly p50: number;
  readonly p75: number;
}

export interface HopPeerFigures {
  /** The peer's port, and the process that bound it, when its file is among those read. */
  readonly port: number;
  readonly peer: string;
  readonly turnarounds: number;
  readonly handledUs: Quartiles;
  readonly sendCalledUs: Quartiles;
  readonly sendCallUs: Quartiles;
}

export interface HopProcessReport {
  readonly pid: number;
  readonly label: string;
  readonly sockets: readonly number[];
  readonly truncated: boolean;
  readonly peers: readonly HopPeerFigures[];
}

const IDLE_US_DEFAULT = 30;
const TURNAROUND_US_MAX_DEFAULT = 5_000;
const TURNAROUNDS_MIN_DEFAULT = 100;

export interface HopAnalysisOptions {
  /** Quiet time before a receipt for it to count as waking the process. Default 30 µs. */
  readonly idleUs?: number;
  /** A send later than this after the receipt is not its turnaround. Default 5,000 µs. */
  readonly turnaroundUsMax?: number;
  /** Peers with fewer turnarounds are left out. Default 100. */
  readonly turnaroundsMin?: number;
}

interface Turnaround {
  /** Index of the receipt in the process's events. */
  readonly index: number;
  readonly handledUs: number;
  readonly sendCalledUs: number;
  readonly sendCallUs: number;
}

const eventNames: Record<number, string> = {
  [HopEvent.received]: 'received',
  [HopEvent.sendCalled]: 'send called',
  [HopEvent.handled]: 'handled',
  [HopEvent.timerSet]: 'timer set',
  [HopEvent.timerFired]: 'timer fired',
  [HopEvent.sendReturned]: 'send returned',
  [HopEvent.timerDone]: 'timer done',
  [HopEvent.drained]: 'mailboxes drained',
};

export function readHopFiles(directory: string): HopTraceFile[] {
  const names = readdirSync(directory).filter((name) => name.endsWith('.json'));
  return names.map((name) => {
    const file = JSON.parse(readFileSync(join(directory, name), 'utf8')) as HopTraceFile;
    if (!Array.isArray(file.events) || file.events.length % 4 !== 0 || typeof file.pid !== 'number')
      throw new Error(`${name} is not a hop trace file (see STEADFAST_HOP_TRACE)`);
    return file;
  });
}

function turnaroundsOf(
  events: readonly HopEventRecord[],
  idleUs: number,
  turnaroundUsMax: number,
): Turnaround[] {
  const turnarounds: Turnaround[] = [];
  for (let index = 0; index < events.length; index += 1) {
    const receipt = events[index]!;
    if (receipt.kind !== HopEvent.received) continue;
    // The first event of a trace comes after the process had nothing to record: from idle too.
    if (index > 0 && receipt.timeUs - events[index - 1]!.timeUs < idleUs) continue;
    let handledAt: number | undefined;
    for (let next = index + 1; next < events.length; next += 1) {
      const event = events[next]!;
      if (event.kind === HopEvent.received || event.timeUs - receipt.timeUs > turnaroundUsMax) break;
      if (event.kind === HopEvent.handled && handledAt === undefined) handledAt = event.timeUs;
      if (event.kind !== HopEvent.sendCalled) continue;
      let returned: HopEventRecord | undefined;
      for (let later = next + 1; later < events.length && returned === undefined; later += 1) {
        if (events[later]!.kind === HopEvent.sendReturned) returned = events[later];
      }
      if (handledAt === undefined || returned === undefined) break;
      turnarounds.push({
        index,
        handledUs: handledAt - receipt.timeUs,
        sendCalledUs: event.timeUs - receipt.timeUs,
        sendCallUs: returned.timeUs - event.timeUs,
      });
      break;
    }
  }
  return turnarounds;
}

function quartiles(values: readonly number[]): Quartiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (fraction: number) =>
    round(sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? 0);
  return { p25: at(0.25), p50: at(0.5), p75: at(0.75) };
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function labelOf(file: HopTraceFile): string {
  const command = file.argv.filter((arg) => !arg.startsWith('-')).join(' ');
  return command.length === 0 ? `pid ${file.pid}` : `${command.slice(0, 40)} (pid ${file.pid})`;
}

export function analyzeHops(
  files: readonly HopTraceFile[],
  options: HopAnalysisOptions = {},
): HopProcessReport[] {
  const idleUs = options.idleUs ?? IDLE_US_DEFAULT;
  const turnaroundUsMax = options.turnaroundUsMax ?? TURNAROUND_US_MAX_DEFAULT;
  const turnaroundsMin = options.turnaroundsMin ?? TURNAROUNDS_MIN_DEFAULT;
  const ownerOfPort = new Map<number, string>();
  for (const file of files) for (const port of file.sockets) ownerOfPort.set(port, `pid ${file.pid}`);
  return files.map((file) => {
    const events = hopEventsOf(file);
    const byPeer = new Map<number, Turnaround[]>();
    for (const turnaround of turnaroundsOf(events, idleUs, turnaroundUsMax)) {
      const port = events[turnaround.index]!.port;
      const list = byPeer.get(port) ?? [];
      list.push(turnaround);
      byPeer.set(port, list);
    }
    const peers = [...byPeer]
      .filter(([, list]) => list.length >= turnaroundsMin)
      .sort((a, b) => b[1].length - a[1].length)
      .map(([port, list]) => ({
        port,
        peer: ownerOfPort.get(port) ?? 'not traced',
        turnarounds: list.length,
        handledUs: quartiles(list.map((item) => item.handledUs)),
        sendCalledUs: quartiles(list.map((item) => item.sendCalledUs)),
        sendCallUs: quartiles(list.map((item) => item.sendCallUs)),
      }));
    return { pid: file.pid, label: labelOf(file), sockets: file.sockets, truncated: file.truncated, peers };
  });
}

/**
 * Sample timelines: `count` turnarounds from idle of process `pid` for datagrams from `port`,
 * spread evenly over the run, each event timed from the receipt, up to the next receipt.
 */
export function hopTimelines(
  files: readonly HopTraceFile[],
  pid: number,
  port: number,
  count: number,
  options: HopAnalysisOptions = {},
): string[] {
  const file = files.find((candidate) => candidate.pid === pid);
  if (file === undefined) throw new Error(`no hop trace file of pid ${pid}`);
  const events = hopEventsOf(file);
  const turnarounds = turnaroundsOf(
    events,
    options.idleUs ?? IDLE_US_DEFAULT,
    options.turnaroundUsMax ?? TURNAROUND_US_MAX_DEFAULT,
  ).filter((turnaround) => events[turnaround.index]!.port === port);
  if (turnarounds.length === 0) throw new Error(`pid ${pid} has no turnaround from idle for port ${port}`);
  const step = Math.max(1, Math.floor(turnarounds.length / (count + 1)));
  const timelines: string[] = [];
  for (let sample = 1; sample <= count && sample * step < turnarounds.length; sample += 1) {
    const start = turnarounds[sample * step]!.index;
    const lines: string[] = [];
    for (let index = start; index < events.length && lines.length < 40; index += 1) {
      const event = events[index]!;
      if (index > start && event.kind === HopEvent.received) {
        lines.push(`${(event.timeUs - events[start]!.timeUs).toFixed(1).padStart(9)} µs  next datagram`);
        break;
      }
      const detail =
        event.kind === HopEvent.timerSet ||
        event.kind === HopEvent.timerFired ||
        event.kind === HopEvent.timerDone
          ? ` (delay ${event.value} ms)`
          : event.kind === HopEvent.received || event.kind === HopEvent.sendCalled
            ? ` (port ${event.port}, ${event.value} bytes)`
            : '';
      lines.push(
        `${(event.timeUs - events[start]!.timeUs).toFixed(1).padStart(9)} µs  ${eventNames[event.kind] ?? `kind ${event.kind}`}${detail}`,
      );
    }
    timelines.push(lines.join('\n'));
  }
  return timelines;
}

export function formatHops(reports: readonly HopProcessReport[]): string {
  const lines = [
    'turnarounds from idle (µs, p25 / p50 / p75): receipt → handled, receipt → first send called, the send call',
  ];
  for (const report of reports) {
    lines.push(
      `${report.label}, sockets ${report.sockets.join(', ')}${report.truncated ? ' (trace truncated)' : ''}`,
    );
    if (report.peers.length === 0) lines.push('  no peer with enough turnarounds from idle');
    for (const peer of report.peers) {
      const q = (figures: Quartiles) => `${figures.p25} / ${figures.p50} / ${figures.p75}`;
      lines.push(
        `  from port ${peer.port} (${peer.peer}): ${peer.turnarounds} turnarounds; handled ${q(peer.handledUs)}; send called ${q(peer.sendCalledUs)}; send call ${q(peer.sendCallUs)}`,
      );
    }
  }
  return lines.join('\n');
}

/** The `pnpm bench hops` command: exit code 0, 1 for a failure (said on stderr), 2 for bad usage. */
export function hopsMain(args: readonly string[]): number {
  try {
    return runHops(args);
  } catch (error) {
    process.stderr.write(`bench hops: ${(error as Error).message}\n`);
    return 1;
  }
}

const HOPS_USAGE = 'usage: pnpm bench hops DIR [--timeline PID:PORT] [--count N] [--json]';

function runHops(args: readonly string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: { timeline: { type: 'string' }, count: { type: 'string' }, json: { type: 'boolean' } },
    });
  } catch (error) {
    process.stderr.write(`bench hops: ${(error as Error).message}\n${HOPS_USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const directory = positionals[0];
  if (directory === undefined || positionals.length > 1) {
    process.stderr.write(`${HOPS_USAGE}\n`);
    return 2;
  }
  const files = readHopFiles(directory);
  if (files.length === 0) {
    process.stderr.write(
      `bench hops: no hop trace files in ${directory} (run with STEADFAST_HOP_TRACE=${directory}/run)\n`,
    );
    return 2;
  }
  if (values.timeline !== undefined) {
    const match = /^(\d+):(\d+)$/.exec(values.timeline);
    if (match === null) {
      process.stderr.write('bench hops: --timeline takes PID:PORT\n');
      return 2;
    }
    const count = values.count === undefined ? 3 : Number(values.count);
    if (!Number.isInteger(count) || count < 1 || count > 100) {
      process.stderr.write('bench hops: --count takes an integer in [1, 100]\n');
      return 2;
    }
    process.stdout.write(
      `${hopTimelines(files, Number(match[1]), Number(match[2]), count).join('\n----\n')}\n`,
    );
    return 0;
  }
  const reports = analyzeHops(files);
  process.stdout.write(values.json === true ? `${JSON.stringify(reports)}\n` : `${formatHops(reports)}\n`);
  return 0;
}
