/**
 * The simulated network: datagrams between endpoints on one `SimulatedClock`, with the faults a
 * real network has. Every datagram becomes one clock timer whose delay is drawn from its link's
 * configuration, so delivery order is a pure function of the seed.
 *
 * What a link can do to a datagram, in this order: drop it when a partition or a one-way block
 * separates the two endpoints; lose it (`loss`); deliver it after a latency drawn uniformly from
 * `latencyMs`, plus a random extra delay with probability `reorder` (which is what lets a later
 * datagram overtake it); and deliver a second copy with its own latency (`duplicate`). Frames are
 * copied on send. A frame that arrives at a detached endpoint (a crashed node) is silently lost,
 * as a datagram sent to a dead process is.
 *
 * Each `attach` returns a `Transport` that keeps every promise of the runtime's transport
 * contract (its compliance suite runs against it), so nodes cannot tell it from UDP.
 */
import {
  emptyTransportCounters,
  type Clock,
  type Endpoint,
  type ReceiveHandler,
  type Transport,
  type TransportCounters,
  type TransportDropReason,
} from '@steadfast/runtime';
import type { Prng } from './prng.js';

/** How one directed link treats datagrams. Probabilities are in [0, 1]; delays in ms, [min, max]. */
export interface LinkConfig {
  readonly latencyMs: readonly [min: number, max: number];
  readonly loss: number;
  readonly duplicate: number;
  readonly reorder: number;
  /** Extra delay added to a datagram picked for reordering. */
  readonly reorderDelayMs: readonly [min: number, max: number];
}

/**
 * What every link does unless told otherwise: 1-10 ms of latency and no loss, duplication or
 * reordering (the reorder delay, 10-50 ms, applies only to datagrams picked for reordering).
 */
export const defaultLinkConfig: LinkConfig = {
  latencyMs: [1, 10],
  loss: 0,
  duplicate: 0,
  reorder: 0,
  reorderDelayMs: [10, 50],
};

/**
 * A temporary degradation of some links (the nemesis's loss, duplicate, reorder and delay faults).
 * Faults stack with the link's configuration: probabilities take the larger value, delays add.
 */
export interface LinkFault {
  readonly loss?: number;
  readonly duplicate?: number;
  readonly reorder?: number;
  readonly extraLatencyMs?: number;
}

/**
 * Options of `SimNetwork`. The clock and the PRNG are the simulation's own (a fork of its seed), so
 * delivery order is a function of the seed; bad link values throw `RangeError`.
 */
export interface SimNetworkOptions {
  readonly clock: Clock;
  readonly prng: Prng;
  /** Defaults for every link; `setLink` overrides single links. */
  readonly link?: Partial<LinkConfig>;
  /** Frames longer than this are dropped on send and counted `oversize`. Default 65 507 (UDP). */
  readonly maxDatagramBytes?: number;
}

/** Network-wide counters, one per fate a datagram can meet. */
export interface SimNetworkCounters {
  /** Frames accepted by `send` (each duplicate counts once more in `duplicated`, not here). */
  readonly sent: number;
  /** Copies handed to a receiver. */
  readonly delivered: number;
  /** Frames lost to the `loss` probability. */
  readonly lost: number;
  /** Extra copies sent. */
  readonly duplicated: number;
  /** Copies given an extra reordering delay. */
  readonly reordered: number;
  /** Copies sent over a link that carried a `delay` fault (extra latency). */
  readonly delayed: number;
  /** Frames dropped because a symmetric partition separated the endpoints. */
  readonly partitioned: number;
  /** Frames dropped by a one-way block. */
  readonly blockedOneWay: number;
  /** Copies that arrived at an endpoint that was detached (crashed) or closed. */
  readonly toDetached: number;
  /** Frames over `maxDatagramBytes`. */
  readonly oversize: number;
  /** Frames sent to an endpoint never attached. */
  readonly unknownPeer: number;
}

type MutableCounters = { -readonly [K in keyof SimNetworkCounters]: number };

function zeroCounters(): MutableCounters {
  return {
    sent: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    partitioned: 0,
    blockedOneWay: 0,
    toDetached: 0,
    oversize: 0,
    unknownPeer: 0,
  };
}

const notBlocked = 0;
const blockedByPartition = 1;
const blockedOneWay = 2;

/** A link's configuration with faults folded in, precomputed so `send` does no merging. */
interface EffectiveLink {
  readonly blocked: number;
  readonly latencyMinMs: number;
  readonly latencySpanMs: number;
  readonly extraLatencyMs: number;
  readonly loss: number;
  readonly duplicate: number;
  readonly reorder: number;
  readonly reorderMinMs: number;
  readonly reorderSpanMs: number;
}

interface ActiveLinkFault {
  readonly links: ReadonlySet<string>;
  readonly fault: LinkFault;
}

function linkKey(source: Endpoint, target: Endpoint): string {
  return `${source}\u0000${target}`;
}

function checkProbability(name: string, value: number | undefined): void {
  if (value !== undefined && !(value >= 0 && value <= 1)) {
    throw new RangeError(`${name} must be a probability in [0, 1], got ${value}`);
  }
}

function checkRange(name: string, range: readonly [number, number] | undefined): void {
  if (range === undefined) return;
  const [min, max] = range;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) {
    throw new RangeError(`${name} must be integers [min, max] with 0 <= min <= max, got [${min}, ${max}]`);
  }
}

function checkLinkConfig(config: Partial<LinkConfig>): void {
  checkRange('latencyMs', config.latencyMs);
  checkRange('reorderDelayMs', config.reorderDelayMs);
  checkProbability('loss', config.loss);
  checkProbability('duplicate', config.duplicate);
  checkProbability('reorder', config.reorder);
}

/**
 * A simulated datagram network for one simulation: endpoints `attach` to get a `Transport`, every
 * datagram becomes a timer on the shared clock, and the fault methods (`partition`, `blockOneWay`,
 * `addLinkFault`, `detach` for a crash, `heal`) are what the nemesis drives. Dropped and lost frames
 * are counted in `counters()`, never thrown; invalid configuration is a programmer error and throws.
 */
export class SimNetwork {
  readonly maxDatagramBytes: number;
  private readonly clock: Clock;
  private readonly prng: Prng;
  private defaults: LinkConfig;
  private readonly overrides = new Map<string, Partial<LinkConfig>>();
  private readonly attached = new Map<Endpoint, SimTransport>();
  private readonly known = new Set<Endpoint>();
  /** Endpoint → side of the current symmetric partition; empty when there is none. */
  private readonly sides = new Map<Endpoint, number>();
  /** Directed link key → number of one-way blocks on it (blocks may overlap). */
  private readonly oneWayBlocks = new Map<string, number>();
  private readonly linkFaults = new Map<number, ActiveLinkFault>();
  private nextLinkFaultId = 1;
  /** source → target → effective link; cleared whenever configuration or faults change. */
  private readonly cache = new Map<Endpoint, Map<Endpoint, EffectiveLink>>();
  private readonly count = zeroCounters();

  constructor(options: SimNetworkOptions) {
    this.clock = options.clock;
    this.prng = options.prng;
    this.maxDatagramBytes = options.maxDatagramBytes ?? 65_507;
    if (!Number.isSafeInteger(this.maxDatagramBytes) || this.maxDatagramBytes < 0) {
      throw new RangeError(`maxDatagramBytes must be a non-negative integer, got ${this.maxDatagramBytes}`);
    }
    checkLinkConfig(options.link ?? {});
    this.defaults = { ...defaultLinkConfig, ...options.link };
  }

  /**
   * Attaches a transport receiving on `endpoint`. Attaching an endpoint that is attached is a
   * programmer error; after `detach` (a crash) the endpoint may be attached again (a restart), and
   * frames still in flight to it then reach the new transport, as they would reach a new process
   * bound to the same UDP port.
   */
  attach(endpoint: Endpoint): Transport {
    if (endpoint.length === 0) throw new RangeError('SimNetwork.attach: endpoint must not be empty');
    if (this.attached.has(endpoint)) {
      throw new Error(`SimNetwork.attach: endpoint ${JSON.stringify(endpoint)} is already attached`);
    }
    const transport = new SimTransport(this, endpoint, this.maxDatagramBytes);
    this.attached.set(endpoint, transport);
    this.known.add(endpoint);
    return transport;
  }

  /** Detaches (crashes) the endpoint: its transport is closed and frames to it are lost. */
  detach(endpoint: Endpoint): void {
    const transport = this.attached.get(endpoint);
    if (transport !== undefined) this.detachTransport(transport);
  }

  /** Called by a transport's `close()` (and by `detach`). */
  detachTransport(transport: SimTransport): void {
    transport.markClosed();
    if (this.attached.get(transport.endpoint) === transport) this.attached.delete(transport.endpoint);
  }

  isAttached(endpoint: Endpoint): boolean {
    return this.attached.has(endpoint);
  }

  /** Changes the defaults of every link (fields not given keep their value). */
  setDefaults(config: Partial<LinkConfig>): void {
    checkLinkConfig(config);
    this.defaults = { ...this.defaults, ...config };
    this.cache.clear();
  }

  get linkDefaults(): LinkConfig {
    return this.defaults;
  }

  /** Overrides fields of the directed link source→target; `undefined` removes the override. */
  setLink(source: Endpoint, target: Endpoint, config: Partial<LinkConfig> | undefined): void {
    if (config === undefined) this.overrides.delete(linkKey(source, target));
    else {
      checkLinkConfig(config);
      this.overrides.set(linkKey(source, target), config);
    }
    this.cache.clear();
  }

  /**
   * Splits the endpoints into sides that cannot reach one another, both ways. Endpoints named in
   * no group form one more side together. Replaces any earlier partition.
   */
  partition(groups: readonly (readonly Endpoint[])[]): void {
    this.sides.clear();
    groups.forEach((group, index) => {
      for (const endpoint of group) this.sides.set(endpoint, index + 1);
    });
    this.cache.clear();
  }

  /** Removes the symmetric partition (one-way blocks and link faults stay). */
  healPartition(): void {
    this.sides.clear();
    this.cache.clear();
  }

  hasPartition(): boolean {
    return this.sides.size > 0;
  }

  /** Blocks frames from `source` to `target`; the reverse direction is untouched. Blocks stack. */
  blockOneWay(source: Endpoint, target: Endpoint): void {
    const key = linkKey(source, target);
    this.oneWayBlocks.set(key, (this.oneWayBlocks.get(key) ?? 0) + 1);
    this.cache.clear();
  }

  /** Removes one block placed by `blockOneWay`. */
  unblockOneWay(source: Endpoint, target: Endpoint): void {
    const key = linkKey(source, target);
    const blocks = this.oneWayBlocks.get(key) ?? 0;
    if (blocks <= 1) this.oneWayBlocks.delete(key);
    else this.oneWayBlocks.set(key, blocks - 1);
    this.cache.clear();
  }

  /** Degrades the given directed links until `removeLinkFault` or `heal`; returns the fault's id. */
  addLinkFault(links: Iterable<readonly [source: Endpoint, target: Endpoint]>, fault: LinkFault): number {
    checkProbability('loss', fault.loss);
    checkProbability('duplicate', fault.duplicate);
    checkProbability('reorder', fault.reorder);
    if (
      fault.extraLatencyMs !== undefined &&
      !(Number.isInteger(fault.extraLatencyMs) && fault.extraLatencyMs >= 0)
    ) {
      throw new RangeError(`extraLatencyMs must be a non-negative integer, got ${fault.extraLatencyMs}`);
    }
    const keys = new Set<string>();
    for (const [source, target] of links) keys.add(linkKey(source, target));
    const id = this.nextLinkFaultId++;
    this.linkFaults.set(id, { links: keys, fault });
    this.cache.clear();
    return id;
  }

  removeLinkFault(id: number): void {
    if (this.linkFaults.delete(id)) this.cache.clear();
  }

  /** Removes every partition, one-way block and link fault. Per-link configuration (`setLink`) stays. */
  heal(): void {
    this.sides.clear();
    this.oneWayBlocks.clear();
    this.linkFaults.clear();
    this.cache.clear();
  }

  counters(): SimNetworkCounters {
    return { ...this.count };
  }

  /** Called by a transport's `send`. */
  send(from: SimTransport, target: Endpoint, frame: Uint8Array): void {
    if (frame.byteLength > this.maxDatagramBytes) {
      this.count.oversize++;
      from.drop('oversize');
      return;
    }
    if (!this.known.has(target)) {
      this.count.unknownPeer++;
      from.drop('unknown-peer');
      return;
    }
    from.countSent();
    this.count.sent++;
    const source = from.endpoint;
    const link = this.link(source, target);
    if (link.blocked !== notBlocked) {
      if (link.blocked === blockedByPartition) this.count.partitioned++;
      else this.count.blockedOneWay++;
      return;
    }
    if (this.prng.chance(link.loss)) {
      this.count.lost++;
      return;
    }
    // Copy now: the sender may reuse its buffer as soon as `send` returns, as it may with a socket.
    const bytes = frame.slice();
    this.schedule(source, target, bytes, link);
    if (this.prng.chance(link.duplicate)) {
      this.count.duplicated++;
      this.schedule(source, target, bytes.slice(), link);
    }
  }

  private schedule(source: Endpoint, target: Endpoint, bytes: Uint8Array, link: EffectiveLink): void {
    let delayMs = link.latencyMinMs + link.extraLatencyMs;
    if (link.latencySpanMs > 0) delayMs += this.prng.nextInt(link.latencySpanMs + 1);
    if (link.extraLatencyMs > 0) this.count.delayed++;
    if (this.prng.chance(link.reorder)) {
      this.count.reordered++;
      delayMs += link.reorderMinMs + (link.reorderSpanMs > 0 ? this.prng.nextInt(link.reorderSpanMs + 1) : 0);
    }
    this.clock.setTimer(delayMs, () => this.deliver(source, target, bytes));
  }

  private deliver(source: Endpoint, target: Endpoint, bytes: Uint8Array): void {
    const receiver = this.attached.get(target);
    if (receiver === undefined) {
      this.count.toDetached++;
      return;
    }
    this.count.delivered++;
    receiver.receive(bytes, source);
  }

  private link(source: Endpoint, target: Endpoint): EffectiveLink {
    let targets = this.cache.get(source);
    if (targets === undefined) {
      targets = new Map();
      this.cache.set(source, targets);
    }
    let link = targets.get(target);
    if (link === undefined) {
      link = this.computeLink(source, target);
      targets.set(target, link);
    }
    return link;
  }

  private computeLink(source: Endpoint, target: Endpoint): EffectiveLink {
    const key = linkKey(source, target);
    const config: LinkConfig = { ...this.defaults, ...this.overrides.get(key) };
    let { loss, duplicate, reorder } = config;
    let extraLatencyMs = 0;
    for (const { links, fault } of this.linkFaults.values()) {
      if (!links.has(key)) continue;
      loss = Math.max(loss, fault.loss ?? 0);
      duplicate = Math.max(duplicate, fault.duplicate ?? 0);
      reorder = Math.max(reorder, fault.reorder ?? 0);
      extraLatencyMs += fault.extraLatencyMs ?? 0;
    }
    return {
      blocked: this.blockOf(source, target, key),
      latencyMinMs: config.latencyMs[0],
      latencySpanMs: config.latencyMs[1] - config.latencyMs[0],
      extraLatencyMs,
      loss,
      duplicate,
      reorder,
      reorderMinMs: config.reorderDelayMs[0],
      reorderSpanMs: config.reorderDelayMs[1] - config.reorderDelayMs[0],
    };
  }

  private blockOf(source: Endpoint, target: Endpoint, key: string): number {
    if (this.sides.size > 0 && (this.sides.get(source) ?? 0) !== (this.sides.get(target) ?? 0))
      return blockedByPartition;
    if (this.oneWayBlocks.has(key)) return blockedOneWay;
    return notBlocked;
  }
}

/** One endpoint's view of the network; made by `SimNetwork.attach`. */
export class SimTransport implements Transport {
  private handler: ReceiveHandler | undefined;
  private closed = false;
  private readonly count = emptyTransportCounters();

  constructor(
    private readonly network: SimNetwork,
    readonly endpoint: Endpoint,
    readonly maxDatagramBytes: number,
  ) {}

  send(target: Endpoint, frame: Uint8Array): void {
    if (this.closed) {
      this.count.dropped.closed++;
      return;
    }
    this.network.send(this, target, frame);
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler;
  }

  counters(): TransportCounters {
    return { sent: this.count.sent, received: this.count.received, dropped: { ...this.count.dropped } };
  }

  close(): Promise<void> {
    this.network.detachTransport(this);
    return Promise.resolve();
  }

  /** The network has detached this transport (a crash or `close`): it never receives again. */
  markClosed(): void {
    this.closed = true;
    this.handler = undefined;
  }

  isClosed(): boolean {
    return this.closed;
  }

  countSent(): void {
    this.count.sent++;
  }

  drop(reason: TransportDropReason): void {
    this.count.dropped[reason]++;
  }

  receive(bytes: Uint8Array, source: Endpoint): void {
    this.count.received++;
    this.handler?.(bytes, source);
  }
}
