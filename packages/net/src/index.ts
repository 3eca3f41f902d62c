/**
 * `@steadfast/net`: transports over real networks. `UdpTransport` is one IPv4 datagram socket, one
 * frame per datagram, endpoints written `host:port`; `DelayingTransport` wraps any transport and holds
 * each outgoing frame for a random delay, for tests of real processes on kernels that cannot delay
 * packets. Both keep the guarantees of `Transport` in `@steadfast/runtime` and pass its compliance
 * suite. docs/transport.md describes them ("The UDP transport", "A delaying wrapper").
 */
export {
  UdpTransport,
  formatEndpoint,
  parseEndpoint,
  udpDatagramBytesMax,
  udpReceiveBufferBytesDefault,
  udpSendBufferBytesDefault,
} from './udp-transport.js';
export type { UdpTransportOptions } from './udp-transport.js';
export { DELAY_MS_MAX, DelayingTransport } from './delaying-transport.js';
export type { DelayingTransportCounters, DelayingTransportOptions } from './delaying-transport.js';
