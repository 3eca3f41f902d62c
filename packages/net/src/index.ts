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
