/**
 * The UDP transport: one IPv4 datagram socket, one frame per datagram, endpoints written `host:port`.
 *
 * It moves bytes and knows no protocol, and keeps the guarantees of `Transport` in
 * `@steadfast/runtime`: `send` never throws for a network failure and never hands the caller a
 * promise; every outcome is a counter. Frames are decoded, and malformed ones counted, by the node.
 */
import DgramAsPromised from 'dgram-as-promised';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import type { RemoteInfo, SocketAsPromised } from 'dgram-as-promised';
import { emptyTransportCounters, HopEvent, hopTrace } from '@steadfast/runtime';
import type {
  Endpoint,
  ReceiveHandler,
  Transport,
  TransportCounters,
  TransportDropReason,
} from '@steadfast/runtime';

/** The largest UDP payload over IPv4: 65535 less the 20-byte IP header and the 8-byte UDP header. */
export const udpDatagramBytesMax = 65_507;

/**
 * Default socket buffers. Linux gives a UDP socket about 208 KiB, which loopback traffic from a
 * busy peer overflows in a few milliseconds; the kernel then drops datagrams silently. The OS caps
 * what we ask for (`net.core.rmem_max`, `net.core.wmem_max`), so these are requests, not promises.
 */
export const udpReceiveBufferBytesDefault = 4 * 1024 * 1024;
/** The send buffer `bind` requests unless told otherwise (see `udpReceiveBufferBytesDefault`). */
export const udpSendBufferBytesDefault = 1024 * 1024;

/**
 * Options of `UdpTransport.bind`, all optional. A `port` or `maxDatagramBytes` that is not an integer
 * in range makes `bind` throw a `RangeError` (a programmer error); buffer sizes are requests the OS
 * may cap or refuse, which leaves a working socket either way.
 */
export interface UdpTransportOptions {
  /** The address to bind and to announce in `endpoint`. Default `127.0.0.1`. */
  readonly host?: string;
  /** The port to bind; 0 lets the OS choose. Default 0. */
  readonly port?: number;
  /** Frames longer than this are dropped as `oversize`, sent or received. Default 65507. */
  readonly maxDatagramBytes?: number;
  /** Socket receive buffer to request. Default 4 MiB. */
  readonly receiveBufferBytes?: number;
  /** Socket send buffer to request. Default 1 MiB. */
  readonly sendBufferBytes?: number;
  /** Datagrams from an endpoint this rejects are dropped and counted `unknown-peer`. Default: accept all. */
  readonly allowPeer?: (endpoint: Endpoint) => boolean;
}

/** Splits `host:port` into its parts, or returns undefined if it is not one (IPv4 and names only). */
export function parseEndpoint(endpoint: Endpoint): { host: string; port: number } | undefined {
  const match = /^([^:\s]+):(\d{1,5})$/.exec(endpoint);
  if (match === null) return undefined;
  const host = match[1];
  const port = Number(match[2]);
  if (host === undefined || port < 1 || port > 65_535) return undefined;
  return { host, port };
}

/**
 * The socket's address lookup: an IP literal (what nodes announce) is answered at once, anything
 * else goes to `dns.lookup`. dgram's own lookup answers even a literal on the next tick, so every
 * datagram waited there: a multicast to 3 members encoded all 3 frames before the first one left,
 * and each send paid a tick of its own (measured: the first datagram of a hop left ~15-30 µs later).
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions | number,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) {
    callback(null, hostname, family);
    return;
  }
  dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}

/** Parsed endpoints a transport keeps (see `UdpTransport.#addressOf`). */
const ADDRESSES_CACHED_MAX = 1_024;

/**
 * Writes `host` and `port` as an endpoint, `host:port`: the form `parseEndpoint` reads and the UDP
 * transport announces as its own. It checks nothing; a port out of range gives an endpoint that
 * `parseEndpoint` refuses, so a send to it is counted `send-failed`.
 */
export function formatEndpoint(host: string, port: number): Endpoint {
  return `${host}:${port}`;
}

/**
 * A `Transport` over one IPv4 UDP socket: each `send` is one datagram, each datagram received is one
 * frame handed to the receive handler with its sender's `host:port`. Made by `UdpTransport.bind`,
 * which also requests larger socket buffers (`receiveBufferBytes` and `sendBufferBytes` are what the
 * OS granted). Best effort, as every transport: `send` never throws for a network failure and
 * returns no promise; oversize frames, unparsable targets, refused peers (`allowPeer`), failed sends
 * and sends cut short by `close` are counted once each in `counters()`. The frame is copied, so the
 * caller may reuse its buffer at once. `close` stops handler calls at once and resolves when the
 * socket has closed. docs/transport.md, "The UDP transport".
 */
export class UdpTransport implements Transport {
  readonly #socket: SocketAsPromised;
  readonly #allowPeer: ((endpoint: Endpoint) => boolean) | undefined;
  readonly #counters = emptyTransportCounters();
  #handler: ReceiveHandler | undefined;
  /**
   * Sends the OS has not answered yet. Node drops a send silently, settling nothing, when the
   * socket closes before the send reached it; `close` counts those as `closed`, so that every
   * `send` is counted exactly once. An entry lives from `send` until the OS answers, a tick or two.
   */
  readonly #sendsPending = new Set<object>();
  readonly #addresses = new Map<Endpoint, { host: string; port: number } | null>();
  #closing: Promise<void> | undefined;

  private constructor(
    socket: SocketAsPromised,
    readonly endpoint: Endpoint,
    readonly maxDatagramBytes: number,
    /** The buffer sizes the OS granted, as it reports them (Linux reports double what it uses). */
    readonly receiveBufferBytes: number | undefined,
    readonly sendBufferBytes: number | undefined,
    allowPeer: ((endpoint: Endpoint) => boolean) | undefined,
  ) {
    this.#socket = socket;
    this.#allowPeer = allowPeer;
    if (hopTrace.enabled) hopTrace.socketBound(parseEndpoint(endpoint)?.port ?? 0);
    // The raw 'message' event, not the wrapper's `recv()` or async iteration: those attach a
    // listener per datagram, and a datagram that arrives while none is attached would be lost.
    socket.socket.on('message', this.#onMessage);
  }

  /**
   * Binds a socket and returns the transport on it. Rejects if the address cannot be bound (an
   * operating error the caller handles); throws for invalid options (a programmer error).
   */
  static async bind(options: UdpTransportOptions = {}): Promise<UdpTransport> {
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 0;
    const maxDatagramBytes = options.maxDatagramBytes ?? udpDatagramBytesMax;
    assertInteger('port', port, 0, 65_535);
    assertInteger('maxDatagramBytes', maxDatagramBytes, 0, udpDatagramBytesMax);

    const socket = DgramAsPromised.createSocket({ type: 'udp4', lookup: literalLookup });
    try {
      const address = await socket.bind(port, host);
      const receiveBufferBytes = requestBufferSize(
        () => socket.setRecvBufferSize(options.receiveBufferBytes ?? udpReceiveBufferBytesDefault),
        () => socket.getRecvBufferSize(),
      );
      const sendBufferBytes = requestBufferSize(
        () => socket.setSendBufferSize(options.sendBufferBytes ?? udpSendBufferBytesDefault),
        // The wrapper's getSendBufferSize calls itself forever (dgram-as-promised 6.0.0), so ask the socket.
        () => socket.socket.getSendBufferSize(),
      );
      return new UdpTransport(
        socket,
        formatEndpoint(address.address, address.port),
        maxDatagramBytes,
        receiveBufferBytes,
        sendBufferBytes,
        options.allowPeer,
      );
    } catch (error) {
      await socket.close().catch(() => undefined);
      throw error;
    }
  }

  send(target: Endpoint, frame: Uint8Array): void {
    if (this.#closing !== undefined) return this.#drop('closed');
    if (frame.byteLength > this.maxDatagramBytes) return this.#drop('oversize');
    const address = this.#addressOf(target);
    if (address === undefined) return this.#drop('send-failed');
    // Copy: the OS may queue the datagram (its buffer full) and read the bytes only later, and the
    // caller may reuse its buffer as soon as `send` returns.
    const copy = Buffer.from(frame);
    // The socket's own callback, not the wrapper's promise: a send is on the hot path (several per
    // request), and a promise, its `then` and their closures per datagram showed in the profiles.
    // The callback is its own token in `#sendsPending`.
    const sent = (error: Error | null): void => this.#settle(sent, error === null ? 'sent' : 'send-failed');
    this.#sendsPending.add(sent);
    if (hopTrace.enabled) hopTrace.record(HopEvent.sendCalled, address.port, frame.byteLength);
    try {
      this.#socket.socket.send(copy, address.port, address.host, sent);
      if (hopTrace.enabled) hopTrace.record(HopEvent.sendReturned, address.port, 0);
    } catch {
      // The socket refused at once (closed under us, say): counted like a failed send.
      this.#settle(sent, 'send-failed');
    }
  }

  /**
   * `host:port` parsed once per endpoint, not per datagram (the peers of a node are few). Bounded:
   * a caller naming ever new endpoints only empties the cache now and then.
   */
  #addressOf(target: Endpoint): { host: string; port: number } | undefined {
    let address = this.#addresses.get(target);
    if (address === undefined) {
      address = parseEndpoint(target) ?? null;
      if (this.#addresses.size >= ADDRESSES_CACHED_MAX) this.#addresses.clear();
      this.#addresses.set(target, address);
    }
    return address ?? undefined;
  }

  onReceive(handler: ReceiveHandler): void {
    this.#handler = handler;
  }

  counters(): TransportCounters {
    return { ...this.#counters, dropped: { ...this.#counters.dropped } };
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      // Mark closed before the socket has closed, so no handler runs once `close` has been called.
      this.#handler = undefined;
      this.#socket.socket.off('message', this.#onMessage);
      this.#closing = this.#socket
        .close()
        .catch(() => undefined)
        .then(() => {
          for (const pending of this.#sendsPending) this.#settle(pending, 'closed');
        });
    }
    return this.#closing;
  }

  readonly #onMessage = (message: Buffer, remote: RemoteInfo): void => {
    if (this.#closing !== undefined) return;
    const source = formatEndpoint(remote.address, remote.port);
    if (this.#allowPeer !== undefined && !this.#allowPeer(source)) return this.#drop('unknown-peer');
    if (message.byteLength > this.maxDatagramBytes) return this.#drop('oversize');
    this.#counters.received += 1;
    if (hopTrace.enabled) hopTrace.record(HopEvent.received, remote.port, message.byteLength);
    // Hand out a plain Uint8Array over the same memory, so every transport delivers the same type.
    this.#handler?.(new Uint8Array(message.buffer, message.byteOffset, message.byteLength), source);
    if (hopTrace.enabled) hopTrace.record(HopEvent.handled, remote.port, 0);
  };

  /** Counts a send's outcome once; a later answer for an already counted send is ignored. */
  #settle(pending: object, outcome: 'sent' | TransportDropReason): void {
    if (!this.#sendsPending.delete(pending)) return;
    if (outcome === 'sent') this.#counters.sent += 1;
    else this.#drop(outcome);
  }

  #drop(reason: TransportDropReason): void {
    this.#counters.dropped[reason] += 1;
  }
}

/** Asks for a buffer size; the OS may refuse or cap it, which leaves a working socket either way. */
function requestBufferSize(set: () => void, get: () => number): number | undefined {
  try {
    set();
  } catch {
    // Refused (for example over a hard limit): the default buffer still works, only smaller.
  }
  try {
    return get();
  } catch {
    return undefined;
  }
}

function assertInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`UdpTransport.bind: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}
