/**
 * Plain node:dgram helpers for the UDP tests: a raw socket plays a peer that is not a UdpTransport
 * (a stranger, a fuzzer), and `waitFor` bounds every wait for a datagram.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';

export function bindRaw(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve(socket));
  });
}

export function sendRaw(socket: Socket, bytes: Uint8Array, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.send(bytes, port, '127.0.0.1', (error) => (error ? reject(error) : resolve()));
  });
}

export function closeRaw(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** The buffer sizes a freshly bound socket gets when nobody asks for more. */
export async function readBufferSizes(): Promise<{ receiveBytes: number; sendBytes: number }> {
  const socket = await bindRaw();
  try {
    return { receiveBytes: socket.getRecvBufferSize(), sendBytes: socket.getSendBufferSize() };
  } finally {
    await closeRaw(socket);
  }
}

/** Polls `condition` every few milliseconds; throws once `timeoutMs` has passed without it. */
export async function waitFor(
  condition: () => boolean,
  timeoutMs = 3_000,
  description = 'condition',
): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadlineMs) throw new Error(`${description} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
