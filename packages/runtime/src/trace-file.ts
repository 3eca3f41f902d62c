/**
 * The trace file format, version 1 (docs/trace-format.md is the reference).
 *
 *   magic   8 bytes  "STFTRACE"
 *   version u16 BE   1
 *   records, each:   [length u32 BE][crc32 u32 BE][msgpack body of `length` bytes]
 *     first record:  the header  { format: 'steadfast-trace', version: 1, meta }
 *     then:          one record per TraceEvent, in the order recorded
 *     last record:   the footer  { type: 'end', events: <count> }
 *
 * Each record stands alone (msgpack without shared structures) and carries its own CRC, so a
 * reader tells a truncated file (no footer) from a corrupt one (bad CRC or body) and says where.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { TraceEvent, TraceSink } from './trace.js';

/** The 8 ASCII bytes every trace file starts with. */
export const TRACE_MAGIC = 'STFTRACE';
/**
 * The format version this build writes and reads (a u16 after the magic). It changes only when an
 * old reader would misread new files (docs/trace-format.md, "Compatibility").
 */
export const TRACE_FORMAT_VERSION = 1;
/** Bound on one record, so a corrupt length field cannot make the reader allocate gigabytes. */
export const TRACE_RECORD_BYTES_MAX = 16 * 1024 * 1024;

/** The first record of a trace file; `decodeTrace` rejects a file as `corrupt` without one. */
export interface TraceHeader {
  readonly format: 'steadfast-trace';
  readonly version: number;
  /** Free-form description of the run: seed, nodes, app, command line. */
  readonly meta: Readonly<Record<string, unknown>>;
}

/** A decoded trace file: its header and every event, in the order recorded. */
export interface TraceFile {
  readonly header: TraceHeader;
  readonly events: TraceEvent[];
}

/**
 * What is wrong with a trace file: no magic (`not-a-trace`), another format version, ending early
 * (`truncated`: a writer killed before `close()`), a bad CRC, body, length or footer (`corrupt`), or
 * a file that cannot be read at all.
 */
export type TraceFileErrorCode =
  'not-a-trace' | 'unsupported-version' | 'truncated' | 'corrupt' | 'unreadable';

/**
 * Thrown by `decodeTrace` and `readTraceFile` for a file they cannot read; the message says what is
 * wrong and where (record index, byte offset). The CLI prints it and exits with status 2.
 */
export class TraceFileError extends Error {
  override readonly name = 'TraceFileError';
  constructor(
    readonly code: TraceFileErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const packr = new Packr({ useRecords: false, moreTypes: true });

function encodeRecord(value: unknown): Uint8Array {
  const body = packr.pack(value);
  const record = new Uint8Array(8 + body.length);
  const view = new DataView(record.buffer);
  view.setUint32(0, body.length);
  view.setUint32(4, crc32(body));
  record.set(body, 8);
  return record;
}

function preamble(): Uint8Array {
  const bytes = new Uint8Array(10);
  bytes.set(new TextEncoder().encode(TRACE_MAGIC), 0);
  new DataView(bytes.buffer).setUint16(8, TRACE_FORMAT_VERSION);
  return bytes;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** The header record of a trace of this format version, carrying `meta` (seed, nodes, app, ...). */
export function traceHeader(meta: Readonly<Record<string, unknown>>): TraceHeader {
  return { format: 'steadfast-trace', version: TRACE_FORMAT_VERSION, meta };
}

/** Encodes a whole trace. The same events give the same bytes. */
export function encodeTrace(
  meta: Readonly<Record<string, unknown>>,
  events: readonly TraceEvent[],
): Uint8Array {
  const chunks = [preamble(), encodeRecord(traceHeader(meta))];
  for (const event of events) chunks.push(encodeRecord(event));
  chunks.push(encodeRecord({ type: 'end', events: events.length }));
  return concat(chunks);
}

/** sha256 of the encoded trace, hex: the fingerprint the simulator's determinism tests compare. */
export function traceHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Decodes a trace; throws `TraceFileError` saying what is wrong and where. */
export function decodeTrace(bytes: Uint8Array): TraceFile {
  if (bytes.length < 10 || new TextDecoder().decode(bytes.subarray(0, 8)) !== TRACE_MAGIC) {
    throw new TraceFileError(
      'not-a-trace',
      `not a Steadfast trace: the file does not start with "${TRACE_MAGIC}"`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(8);
  if (version !== TRACE_FORMAT_VERSION) {
    throw new TraceFileError(
      'unsupported-version',
      `trace format version ${version} is not supported (this build reads version ${TRACE_FORMAT_VERSION})`,
    );
  }
  let offset = 10;
  let recordIndex = 0;
  const readRecord = (): unknown => {
    if (offset + 8 > bytes.length) {
      throw new TraceFileError(
        'truncated',
        `trace is truncated: it ends inside record ${recordIndex} at byte ${offset} with no end record (was the writer killed?)`,
      );
    }
    const length = view.getUint32(offset);
    const checksum = view.getUint32(offset + 4);
    if (length > TRACE_RECORD_BYTES_MAX) {
      throw new TraceFileError(
        'corrupt',
        `trace is corrupt: record ${recordIndex} at byte ${offset} claims ${length} bytes`,
      );
    }
    if (offset + 8 + length > bytes.length) {
      throw new TraceFileError(
        'truncated',
        `trace is truncated: record ${recordIndex} at byte ${offset} needs ${length} bytes, ${bytes.length - offset - 8} remain`,
      );
    }
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (crc32(body) !== checksum) {
      throw new TraceFileError(
        'corrupt',
        `trace is corrupt: record ${recordIndex} at byte ${offset} fails its CRC check`,
      );
    }
    let value: unknown;
    try {
      value = packr.unpack(body);
    } catch (error) {
      throw new TraceFileError(
        'corrupt',
        `trace is corrupt: record ${recordIndex} at byte ${offset} does not decode (${String(error)})`,
      );
    }
    offset += 8 + length;
    recordIndex++;
    return value;
  };
  const header = readRecord() as Partial<TraceHeader> | undefined;
  if (header?.format !== 'steadfast-trace' || typeof header.meta !== 'object') {
    throw new TraceFileError('corrupt', 'trace is corrupt: the first record is not a trace header');
  }
  const events: TraceEvent[] = [];
  for (;;) {
    const record = readRecord() as { type?: unknown; events?: unknown } | undefined;
    if (typeof record !== 'object' || record === null || typeof record.type !== 'string') {
      throw new TraceFileError('corrupt', `trace is corrupt: record ${recordIndex - 1} is not an event`);
    }
    if (record.type === 'end') {
      if (record.events !== events.length) {
        throw new TraceFileError(
          'corrupt',
          `trace is corrupt: the end record counts ${String(record.events)} events but ${events.length} were read`,
        );
      }
      if (offset !== bytes.length) {
        throw new TraceFileError(
          'corrupt',
          `trace is corrupt: ${bytes.length - offset} bytes follow the end record`,
        );
      }
      return { header: header as TraceHeader, events };
    }
    events.push(record as TraceEvent);
  }
}

/** Reads and decodes a trace file; throws `TraceFileError`, with code `unreadable` if reading fails. */
export function readTraceFile(path: string): TraceFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new TraceFileError('unreadable', `cannot read trace ${path}: ${(error as Error).message}`);
  }
  return decodeTrace(bytes);
}

/**
 * Streams a trace to a file as events happen (a real node's trace). Records are buffered and
 * written in batches; `close()` writes the footer and fsyncs. A node killed before `close()`
 * leaves a file that readers report as truncated, with every complete record before the cut intact.
 */
export class TraceFileWriter implements TraceSink {
  private readonly fd: number;
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;
  private count = 0;
  private closed = false;

  constructor(
    readonly path: string,
    meta: Readonly<Record<string, unknown>>,
    private readonly flushBytes = 64 * 1024,
  ) {
    this.fd = openSync(path, 'w');
    this.write(preamble());
    this.write(encodeRecord(traceHeader(meta)));
    this.flush();
  }

  record(event: TraceEvent): void {
    if (this.closed) return;
    this.count++;
    this.write(encodeRecord(event));
    if (this.bufferedBytes >= this.flushBytes) this.flush();
  }

  flush(): void {
    if (this.buffered.length === 0) return;
    writeSync(this.fd, concat(this.buffered));
    this.buffered = [];
    this.bufferedBytes = 0;
  }

  close(): void {
    if (this.closed) return;
    this.write(encodeRecord({ type: 'end', events: this.count }));
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.closed = true;
  }

  private write(chunk: Uint8Array): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
  }
}
