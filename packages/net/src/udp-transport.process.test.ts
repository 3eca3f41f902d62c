// Invariant: frames cross an OS process boundary whole, and loss is repaired by retransmission.
// The parent sends frames to a child process (testing/udp-echo-child.ts) that echoes each one back,
// resending a frame on timeout as a protocol above UDP would, and checks every echo byte for byte.
// Second invariant: with STEADFAST_HOP_TRACE set, the child's hop trace holds every datagram it
// received and every send it made, in time order, each receipt followed by its handler's return.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HopEvent, hopEventsOf, type HopTraceFile } from '@steadfast/runtime';
import { describe, expect, it } from 'vitest';
import { parseEndpoint, UdpTransport } from './udp-transport.js';

const framesCount = 50;
const attemptsMax = 10;
const retransmitIntervalMs = 300;
const childStartTimeoutMs = 30_000;
const childExitTimeoutMs = 5_000;

const childScript = fileURLToPath(new URL('./testing/udp-echo-child.ts', import.meta.url));
// The repository root, so that `--import tsx` resolves from its node_modules.
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

describe('UdpTransport across processes', () => {
  it(`echoes ${framesCount} frames intact through a child process, resending on timeout`, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript], {
      cwd: repositoryRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const transport = await UdpTransport.bind();
    try {
      const childEndpoint = await readEndpoint(child);
      const echoes: Buffer[] = [];
      transport.onReceive((frame, source) => {
        if (source === childEndpoint) echoes.push(Buffer.from(frame));
      });

      let sendsCount = 0;
      for (let index = 0; index < framesCount; index += 1) {
        const frame = Buffer.concat([Buffer.of(index), randomBytes(1 + ((index * 97) % 1_400))]);
        let echoed = false;
        for (let attempt = 1; attempt <= attemptsMax && !echoed; attempt += 1) {
          transport.send(childEndpoint, frame);
          sendsCount += 1;
          echoed = await waitUntil(() => echoes.some((echo) => echo.equals(frame)), retransmitIntervalMs);
        }
        expect(echoed, `frame ${index} echoed within ${attemptsMax} attempts`).toBe(true);
      }
      // Every echo is a frame we sent, whole: none cut, merged or altered on the way.
      expect(echoes.length).toBeGreaterThanOrEqual(framesCount);
      expect(echoes.length).toBeLessThanOrEqual(sendsCount);
      expect(transport.counters().dropped['send-failed']).toBe(0);
    } finally {
      await transport.close();
      await stopChild(child);
    }
  });
});

const portOf = (endpoint: string): number | undefined => parseEndpoint(endpoint)?.port;

describe('the hop trace (STEADFAST_HOP_TRACE)', () => {
  it('records every receipt, handler return, send call and return of a child, in time order', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'steadfast-hops-'));
    const child = spawn(process.execPath, ['--import', 'tsx', childScript], {
      cwd: repositoryRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
      // A directory that does not exist yet: the trace makes it.
      env: { ...process.env, STEADFAST_HOP_TRACE: join(directory, 'hops', 'run') },
    });
    const transport = await UdpTransport.bind();
    try {
      const childEndpoint = await readEndpoint(child);
      let echoes = 0;
      transport.onReceive(() => (echoes += 1));
      const framesSent = 10;
      for (let index = 0; index < framesSent; index += 1) {
        transport.send(childEndpoint, Buffer.of(index, 1, 2, 3));
        // Loopback may drop a datagram; the trace must hold what the child saw, whatever it was.
        await waitUntil(() => echoes > index, retransmitIntervalMs);
      }
      await stopChild(child);
      const file = JSON.parse(
        readFileSync(join(directory, 'hops', `run.${child.pid}.json`), 'utf8'),
      ) as HopTraceFile;
      expect(file.sockets).toEqual([portOf(childEndpoint)]);
      expect(file.truncated).toBe(false);
      const events = hopEventsOf(file);
      const ofKind = (kind: number) => events.filter((event) => event.kind === kind);
      const received = ofKind(HopEvent.received).length;
      // Every echo the parent got was a receipt of the child's; loopback may have lost a few either way.
      expect(received).toBeGreaterThanOrEqual(echoes);
      expect(received).toBeLessThanOrEqual(framesSent);
      expect(
        ofKind(HopEvent.received).every(
          (event) => event.port === portOf(transport.endpoint) && event.value === 4,
        ),
      ).toBe(true);
      // The child echoes inside its handler: receipt, send called, send returned, handler returned.
      expect(ofKind(HopEvent.sendCalled).every((event) => event.port === portOf(transport.endpoint))).toBe(
        true,
      );
      const sequence = events
        .filter(
          (event) =>
            event.kind <= HopEvent.sendReturned &&
            event.kind !== HopEvent.timerSet &&
            event.kind !== HopEvent.timerFired,
        )
        .map((event) => event.kind);
      const perEcho = [HopEvent.received, HopEvent.sendCalled, HopEvent.sendReturned, HopEvent.handled];
      expect(sequence).toEqual(Array.from({ length: received }, () => perEcho).flat());
      expect(events.every((event, index) => index === 0 || event.timeUs >= events[index - 1]!.timeUs)).toBe(
        true,
      );
      expect(echoes).toBeGreaterThanOrEqual(framesSent / 2);
    } finally {
      await transport.close();
      await stopChild(child);
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

/** Reads the child's first stdout line, `{"endpoint": "host:port"}`, within a bound. */
function readEndpoint(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(
      () => fail(`child did not start within ${childStartTimeoutMs} ms`),
      childStartTimeoutMs,
    );
    const fail = (reason: string): void => {
      clearTimeout(timer);
      reject(new Error(`${reason}; stderr: ${stderr.slice(0, 2_000)}`));
    };
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const newline = stdout.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      const parsed = JSON.parse(stdout.slice(0, newline)) as { endpoint?: unknown };
      if (typeof parsed.endpoint === 'string') resolve(parsed.endpoint);
      else reject(new Error(`child printed no endpoint: ${stdout}`));
    });
    child.once('error', (error) => fail(`child failed to spawn: ${error.message}`));
    child.once('exit', (code, signal) => fail(`child exited early (code ${code}, signal ${signal})`));
  });
}

/** Asks the child to stop by closing its stdin, then kills it if it has not exited within a bound. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), childExitTimeoutMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadlineMs = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadlineMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return true;
}
