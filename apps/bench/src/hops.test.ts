// Invariant: `bench hops` reports, per process and peer, only turnarounds from idle (a receipt after
// quiet time, answered by a send before any other receipt), with the quartiles of their handler,
// turnaround and send-call times; the timelines show one such turnaround's events in order.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HopEvent, type HopTraceFile } from '@steadfast/runtime';
import { describe, expect, it, vi } from 'vitest';
import { analyzeHops, formatHops, hopsMain, hopTimelines } from './hops.js';

const clientPort = 4001;
const serverPort = 5001;

/** A server that answers `count` requests from the client, each from idle, with growing times. */
function serverFile(count: number): HopTraceFile {
  const events: number[] = [];
  for (let index = 0; index < count; index += 1) {
    const receivedAt = 1_000 + index * 1_000;
    // handled after 10 + (index % 3) µs, the send called at 50 + index % 5, taking 8 µs.
    events.push(receivedAt, HopEvent.received, clientPort, 400);
    events.push(receivedAt + 10 + (index % 3), HopEvent.handled, clientPort, 0);
    events.push(receivedAt + 20, HopEvent.timerSet, 0, 0);
    events.push(receivedAt + 50 + (index % 5), HopEvent.sendCalled, clientPort, 440);
    events.push(receivedAt + 58 + (index % 5), HopEvent.sendReturned, clientPort, 0);
    events.push(receivedAt + 60 + (index % 5), HopEvent.drained, 0, 0);
  }
  // Not from idle: 5 µs after the last event. Not answered: another receipt comes first.
  const last = events[events.length - 4]!;
  events.push(last + 5, HopEvent.received, clientPort, 400, last + 9, HopEvent.handled, clientPort, 0);
  events.push(last + 500, HopEvent.received, clientPort, 400, last + 510, HopEvent.handled, clientPort, 0);
  events.push(last + 900, HopEvent.received, 7777, 100, last + 910, HopEvent.handled, 7777, 0);
  return { pid: 20, argv: ['node'], sockets: [serverPort], truncated: false, events };
}

const clientFile: HopTraceFile = {
  pid: 10,
  argv: ['bench', 'replication'],
  sockets: [clientPort],
  truncated: false,
  events: [],
};

describe('bench hops', () => {
  it('counts only turnarounds from idle and reports their quartiles per peer', () => {
    const [client, server] = analyzeHops([clientFile, serverFile(200)]);
    expect(client!.peers).toEqual([]);
    expect(server!.label).toBe('node (pid 20)');
    expect(server!.peers).toEqual([
      {
        port: clientPort,
        peer: 'pid 10',
        turnarounds: 200,
        handledUs: { p25: 10, p50: 11, p75: 12 },
        sendCalledUs: { p25: 51, p50: 52, p75: 53 },
        sendCallUs: { p25: 8, p50: 8, p75: 8 },
      },
    ]);
    expect(formatHops([server!])).toContain(
      'from port 4001 (pid 10): 200 turnarounds; handled 10 / 11 / 12; send called 51 / 52 / 53',
    );
  });

  it('leaves out peers with fewer turnarounds than asked, and honours the idle time', () => {
    expect(analyzeHops([serverFile(50)])[0]!.peers).toEqual([]);
    expect(analyzeHops([serverFile(50)], { turnaroundsMin: 1 })[0]!.peers[0]!.turnarounds).toBe(50);
    // With 2,000 µs of quiet asked for, no receipt 1,000 µs after the last one counts.
    expect(analyzeHops([serverFile(200)], { idleUs: 2_000 })[0]!.peers).toEqual([]);
  });

  it('prints a turnaround as a timeline from its receipt to the next datagram', () => {
    const [timeline] = hopTimelines([serverFile(10)], 20, clientPort, 1);
    expect(timeline!.split('\n').map((line) => line.trim())).toEqual([
      '0.0 µs  received (port 4001, 400 bytes)',
      '12.0 µs  handled',
      '20.0 µs  timer set (delay 0 ms)',
      '50.0 µs  send called (port 4001, 440 bytes)',
      '58.0 µs  send returned',
      '60.0 µs  mailboxes drained',
      '1000.0 µs  next datagram',
    ]);
    expect(() => hopTimelines([serverFile(10)], 99, clientPort, 1)).toThrow('no hop trace file of pid 99');
  });

  it('answers bad input with one line on stderr and exit 1, bad usage with exit 2', () => {
    const directory = mkdtempSync(join(tmpdir(), 'steadfast-hops-test-'));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(hopsMain([])).toBe(2);
      expect(hopsMain([join(directory, 'missing')])).toBe(1);
      expect(hopsMain([directory])).toBe(2);
      writeFileSync(join(directory, 'other.json'), '{"events": [1, 2]}');
      expect(hopsMain([directory])).toBe(1);
      writeFileSync(join(directory, 'other.json'), JSON.stringify(serverFile(10)));
      expect(hopsMain([directory, '--timeline', '99:4001'])).toBe(1);
      expect(hopsMain([directory, '--timeline', 'x'])).toBe(2);
      expect(hopsMain([directory, '--timeline', '20:4001', '--count', '0'])).toBe(2);
      const messages = stderr.mock.calls.map(([text]) => String(text));
      expect(messages).toEqual([
        expect.stringContaining('usage: pnpm bench hops DIR'),
        expect.stringContaining('bench hops: ENOENT'),
        expect.stringContaining('no hop trace files in'),
        'bench hops: other.json is not a hop trace file (see STEADFAST_HOP_TRACE)\n',
        'bench hops: no hop trace file of pid 99\n',
        'bench hops: --timeline takes PID:PORT\n',
        'bench hops: --count takes an integer in [1, 100]\n',
      ]);
      expect(hopsMain([directory, '--timeline', '20:4001', '--count', '1'])).toBe(0);
      expect(String(stdout.mock.calls.at(-1)?.[0])).toContain('send called (port 4001, 440 bytes)');
    } finally {
      stderr.mockRestore();
      stdout.mockRestore();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
