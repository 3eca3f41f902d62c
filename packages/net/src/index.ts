export {
  UdpTransport,
  formatEndpoint,
  parseEndpoint,
  udpDatagramBytesMax,
  udpReceiveBufferBytesDefault,
  udpSendBufferBytesDefault,
} from './udp-transport.js';
export type { UdpTransportOptions } from './udp-transport.js';
