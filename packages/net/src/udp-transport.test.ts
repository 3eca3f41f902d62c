// Tests for UdpTransport on loopback: the shared transport compliance suite, plus endpoint parsing,
// option checks and the peer filter.
import { describe, expect, it } from 'vitest';
import { transportComplianceSuite } from '@steadfast/runtime/testing';
import { bindRaw, closeRaw, readBufferSizes, sendRaw, waitFor } from './testing/raw-udp.js';
import { UdpTransport, parseEndpoint, udpDatagramBytesMax } from './udp-transport.js';

transportComplianceSuite(
  'UdpTransport',
  async () => {
    const a = await UdpTransport.bind();
    const b = await UdpTransport.bind();
    return { a, b, cleanup: async () => void (await Promise.all([a.close(), b.close()])) };
  },
  // No port: the transport cannot even parse it, and must say so with a counter, not an exception.
  { lossless: false, unreachableEndpoint: 'no-such-endpoint' },
);

describe('parseEndpoint', () => {
  it('parses host:port for IPv4 addresses and host names', () => {
    expect(parseEndpoint('127.0.0.1:4000')).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(parseEndpoint('localhost:65535')).toEqual({ host: 'localhost', port: 65_535 });
  });

  it('rejects anything that is not host:port with a port in 1..65535', () => {
    for (const endpoint of [
      '',
      '127.0.0.1',
      ':4000',
      '127.0.0.1:',
      '127.0.0.1:0',
      '127.0.0.1:65536',
      'a:b',
      '::1:4000',
      'a b:1',
      'h:123456',
      'h:-1',
    ]) {
      expect(parseEndpoint(endpoint), endpoint).toBeUndefined();
    }
  });
});

describe('UdpTransport', () => {
  it('announces the bound address as its endpoint, and asks the OS for larger buffers than its default', async () => {
    const transport = await UdpTransport.bind();
    try {
      const address = parseEndpoint(transport.endpoint);
      expect(address?.host).toBe('127.0.0.1');
      expect(address?.port).toBeGreaterThan(0);
      expect(transport.maxDatagramBytes).toBe(udpDatagramBytesMax);
      // The OS may cap the request (net.core.rmem_max), so the default is compared with what an
      // untouched socket gets, not with the 4 MiB asked for.
      const untouched = await readBufferSizes();
      expect(transport.receiveBufferBytes).toBeGreaterThanOrEqual(untouched.receiveBytes);
      expect(transport.sendBufferBytes).toBeGreaterThanOrEqual(untouched.sendBytes);
    } finally {
      await transport.close();
    }
  });

  it('applies an explicit buffer size request (the OS may round it, Linux doubles it)', async () => {
    const requestBytes = 64 * 1024;
    const transport = await UdpTransport.bind({
      receiveBufferBytes: requestBytes,
      sendBufferBytes: requestBytes,
    });
    try {
      for (const granted of [transport.receiveBufferBytes, transport.sendBufferBytes]) {
        expect(granted).toBeGreaterThanOrEqual(requestBytes);
        expect(granted).toBeLessThanOrEqual(2 * requestBytes);
      }
    } finally {
      await transport.close();
    }
  });

  it('rejects invalid options as programmer errors, before opening a socket', async () => {
    await expect(UdpTransport.bind({ port: 70_000 })).rejects.toThrow(RangeError);
    await expect(UdpTransport.bind({ maxDatagramBytes: udpDatagramBytesMax + 1 })).rejects.toThrow(
      RangeError,
    );
  });

  it('rejects bind on a port already in use, as an operating error the caller sees', async () => {
    const first = await UdpTransport.bind();
    try {
      const port = parseEndpoint(first.endpoint)?.port;
      await expect(UdpTransport.bind({ port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });

  it('drops a datagram whose source allowPeer rejects, counting it unknown-peer, and delivers the rest', async () => {
    const stranger = await bindRaw();
    const friend = await bindRaw();
    const strangerEndpoint = `127.0.0.1:${stranger.address().port}`;
    const transport = await UdpTransport.bind({ allowPeer: (endpoint) => endpoint !== strangerEndpoint });
    const sources: string[] = [];
    transport.onReceive((_frame, source) => sources.push(source));
    try {
      const port = parseEndpoint(transport.endpoint)?.port ?? 0;
      await sendRaw(stranger, Uint8Array.of(1), port);
      await sendRaw(friend, Uint8Array.of(2), port);
      await waitFor(() => transport.counters().received + transport.counters().dropped['unknown-peer'] === 2);
      expect(transport.counters().dropped['unknown-peer']).toBe(1);
      expect(sources).toEqual([`127.0.0.1:${friend.address().port}`]);
    } finally {
      await transport.close();
      await Promise.all([closeRaw(stranger), closeRaw(friend)]);
    }
  });

  it('sends to an IP literal and to a host name (the name through DNS), and counts both sent', async () => {
    const receiver = await bindRaw();
    const received: number[] = [];
    receiver.on('message', (message) => received.push(message[0]!));
    const transport = await UdpTransport.bind();
    try {
      const port = receiver.address().port;
      // A literal is answered without DNS, so the datagram is handed to the OS within the call; a
      // name takes the DNS path. Both must arrive and both must be counted once.
      transport.send(`127.0.0.1:${port}`, Uint8Array.of(1));
      transport.send(`localhost:${port}`, Uint8Array.of(2));
      await waitFor(() => received.length === 2 && transport.counters().sent === 2);
      expect(received.sort()).toEqual([1, 2]);
      expect(transport.counters().dropped['send-failed']).toBe(0);
    } finally {
      await transport.close();
      await closeRaw(receiver);
    }
  });
});
