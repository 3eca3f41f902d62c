/**
 * A child process for the cross-process test: binds a UdpTransport on loopback, prints its endpoint
 * as one JSON line on stdout, and echoes every frame back to its source. It exits when its stdin
 * closes, so a parent that dies takes it down too.
 *
 * Run: node --import tsx packages/net/src/testing/udp-echo-child.ts
 */
import { UdpTransport } from '../udp-transport.js';

const transport = await UdpTransport.bind({ host: '127.0.0.1', port: 0 });
transport.onReceive((frame, source) => transport.send(source, frame));
process.stdout.write(`${JSON.stringify({ endpoint: transport.endpoint })}\n`);

const shutdown = (): void => {
  void transport.close().then(() => process.exit(0));
};
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.resume();
process.on('SIGTERM', shutdown);
