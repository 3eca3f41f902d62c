/**
 * A node: one process (or one simulated process) hosting actors.
 *
 * The node owns every effect its actors ask for. Host contract, in this order for each input:
 * the router hands the input to the actor; the actor's sends are routed (local ones straight into
 * a mailbox, remote ones encoded, signed and handed to the transport); its timers go to the clock;
 * its supervised values go to its supervisor; then its new state hash goes to the trace.
 *
 * Frames that arrive are decoded and checked here (version, key, MAC, shape, addressed to this
 * node); each bad one is dropped with a counted reason, never thrown, never crashing the node.
 */
import {
  actorId as toActorId,
  addressActor,
  addressNode,
  address as makeAddress,
  encodeMemo,
  messageKey,
  nodeId as toNodeId,
  stableHash,
  type ActorId,
  type Address,
  type Codec,
  type EncodeMemo,
  type Envelope,
  type MessageId,
  type NodeId,
} from '@steadfast/wire';
import {
  RejectedInputError,
  errorText,
  type ActorBehavior,
  type ActorInput,
  type ActorInstance,
} from './actor.js';
import type { Clock, TimerHandle } from './clock.js';
import { createActorContext, type OutgoingEnvelope } from './context.js';
import { realEntropy, type Entropy } from './entropy.js';
import { HopEvent, hopTrace } from './hop-trace.js';
import { Router, type RouterCounters } from './router.js';
import { Supervisor, type SupervisorMode } from './supervisor.js';
import type { TraceSink } from './trace.js';
import type { Endpoint, Transport, TransportCounters } from './transport.js';

/**
 * Why a node dropped an envelope or frame, counted in `NodeCounters.dropped` and traced as a `drop`
 * event. Decoding a frame gives `malformed`, `bad-version`, `unknown-key`, `bad-mac`, `oversize` and
 * `unknown-tag` (the codec's reasons); `unknown-peer` is a frame from an endpoint not in `peers`
 * under `strictPeers`; `wrong-node` an envelope for another node; `no-route` a send to a node with
 * no known endpoint; `encode-failed` (or `oversize`) a send the codec refused; `mailbox-full` and
 * `unknown-actor` come from the router (or a non-reply sent to the node's client); `late-reply` is
 * a second reply to a client request already answered; `persist-failed` a step whose save failed
 * (its sends are withheld and the actor stops); `rejected-input` an input the actor refused with
 * `RejectedInputError`.
 */
export type NodeDropReason =
  | 'malformed'
  | 'bad-version'
  | 'unknown-key'
  | 'bad-mac'
  | 'oversize'
  | 'unknown-tag'
  | 'unknown-peer'
  | 'wrong-node'
  | 'no-route'
  | 'encode-failed'
  | 'mailbox-full'
  | 'unknown-actor'
  | 'late-reply'
  | 'persist-failed'
  | 'rejected-input';

/** A snapshot of a node's counters, with its router's and transport's (`node.counters()`). */
export interface NodeCounters {
  /** Envelopes sent to other nodes (frames handed to the transport). */
  readonly sentRemote: number;
  /** Envelopes delivered to a mailbox on this node without touching the network. */
  readonly sentLocal: number;
  /** Frames received from the transport that decoded and were accepted. */
  readonly receivedRemote: number;
  readonly dropped: Readonly<Record<NodeDropReason, number>>;
  readonly router: RouterCounters;
  readonly transport: TransportCounters | undefined;
}

/**
 * Inputs handled in one scheduled drain at most; the rest go to the next drain. Above what a busy
 * node queues at once (a batch of 64 requests in flight is a few hundred inputs): it bounds a
 * storm of local sends, so no single drain runs for ever.
 */
export const DRAIN_BATCH_MAX = 1_000;

/**
 * Options of `new Node`. `id`, `incarnation` and `clock` are required; a `transport` needs a `codec`
 * (the constructor throws otherwise). Omitted: real entropy, no transport (local actors only),
 * peers learned from authenticated frames, mailboxes of `DEFAULT_MAILBOX_CAPACITY`, no trace,
 * drains on a microtask, supervisors in `live` mode and no `actorStore`.
 */
export interface NodeOptions {
  readonly id: NodeId | string;
  /** Grows on every start of the same node id, so message ids stay unique across restarts. */
  readonly incarnation: number;
  readonly clock: Clock;
  readonly entropy?: Entropy;
  /** Without a transport the node can only talk to its own actors. */
  readonly transport?: Transport;
  /** Required with a transport: frames are signed and checked with it. */
  readonly codec?: Codec;
  /** Where other nodes are: node id → transport endpoint. */
  readonly peers?: ReadonlyMap<string, Endpoint> | Readonly<Record<string, Endpoint>>;
  /**
   * Learn the endpoint of a node from its authenticated frames (default true), so clients need no
   * static configuration. With `strictPeers`, frames from endpoints not in `peers` are dropped.
   */
  readonly learnPeers?: boolean;
  readonly strictPeers?: boolean;
  readonly mailboxCapacity?: number;
  readonly trace?: TraceSink;
  /** Hash each actor's state after each step into the trace (default: on when tracing). */
  readonly hashStates?: boolean;
  /** How to schedule a drain of the mailboxes when work arrives. Default: a microtask. */
  readonly scheduleDrain?: (drain: () => void) => void;
  /** Supervisor mode of new actors: `live` (default) or `record` (replication drains the log). */
  readonly supervisorMode?: SupervisorMode;
  /** Where `ctx.persist()` saves actor state. Without one, `persist()` is a configuration error. */
  readonly actorStore?: ActorStateStore;
}

/**
 * Durable actor state. `save` returns once the state is durable: synchronously (the simulator's
 * disk) or with a promise (LMDB). The node sends nothing the step produced before that.
 */
export interface ActorStateStore {
  save(actor: ActorId, state: unknown): void | Promise<void>;
}

interface HostedActor {
  readonly id: ActorId;
  readonly address: Address;
  readonly behavior: ActorBehavior;
  readonly supervisor: Supervisor;
  readonly timers: Map<string, TimerHandle>;
  instance: ActorInstance | undefined;
  current: Envelope | undefined;
}

/** `node.request` got no reply after `attemptsMax` sends, `retryAfterMs` apart. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
}

interface PendingRequest {
  readonly envelope: Envelope;
  readonly resolve: (reply: Envelope) => void;
  readonly reject: (error: Error) => void;
  timer: TimerHandle | undefined;
  attemptsLeft: number;
}

/** Options of `node.request`, the built-in client's request with retries. */
export interface ClientRequestOptions {
  /** Time to wait for the reply before resending the same envelope (same id): > 0. Default 200 ms. */
  readonly retryAfterMs?: number;
  /** Total attempts, the first included: a positive integer. Default 10. */
  readonly attemptsMax?: number;
  readonly sync?: boolean;
}

/** The address of a node's built-in client, which `request()` uses to receive replies. */
export const CLIENT_ACTOR = '@client';

function emptyDrops(): Record<NodeDropReason, number> {
  return {
    malformed: 0,
    'bad-version': 0,
    'unknown-key': 0,
    'bad-mac': 0,
    oversize: 0,
    'unknown-tag': 0,
    'unknown-peer': 0,
    'wrong-node': 0,
    'no-route': 0,
    'encode-failed': 0,
    'mailbox-full': 0,
    'unknown-actor': 0,
    'late-reply': 0,
    'persist-failed': 0,
    'rejected-input': 0,
  };
}

/**
 * A node: hosts actors (`spawn`, `stopActor`), routes their envelopes (local ones to a mailbox,
 * remote ones encoded and signed onto the transport), runs their timers on its clock, and checks
 * every frame it receives, dropping bad ones with a counted `NodeDropReason` rather than throwing.
 * Host contract for each step: persist, then send; the step's sends leave only once the state it
 * asked to `persist()` is durable. Outside actors, `tell` and `request` send from the node's
 * built-in client. Mailboxes drain when `scheduleDrain` runs its callback (the simulator makes each
 * drain an event on its clock), at most `DRAIN_BATCH_MAX` inputs at a time. docs/actors.md shows how
 * to run actors on a node.
 */
export class Node {
  readonly id: NodeId;
  readonly incarnation: number;
  readonly clock: Clock;
  private readonly entropy: Entropy;
  private readonly transport: Transport | undefined;
  private readonly codec: Codec | undefined;
  private readonly peers = new Map<NodeId, Endpoint>();
  private readonly knownEndpoints = new Set<Endpoint>();
  private readonly router: Router;
  private readonly actors = new Map<ActorId, HostedActor>();
  private readonly pendingRequests = new Map<string, PendingRequest>();
  private readonly trace: TraceSink | undefined;
  private readonly hashStates: boolean;
  private readonly clientAddress: Address;
  private nextSequence = 1;
  /** Sends of the step being handled, held until the step ends (and its state is durable). */
  private stepOutbox: Envelope[] | undefined;
  private inStep = false;
  private persistRequested = false;
  /** Sends waiting behind an asynchronous save, in order; undefined when nothing waits. */
  private outboxTail: Promise<void> | undefined;
  private outboxWaiting = 0;
  private drainScheduled = false;
  private closed = false;
  private counts = { sentRemote: 0, sentLocal: 0, receivedRemote: 0 };
  private readonly drops = emptyDrops();

  constructor(private readonly options: NodeOptions) {
    this.id = toNodeId(options.id);
    if (!Number.isSafeInteger(options.incarnation) || options.incarnation < 0) {
      throw new RangeError(`incarnation must be a non-negative safe integer, got ${options.incarnation}`);
    }
    if (options.transport !== undefined && options.codec === undefined) {
      throw new TypeError(`node ${this.id}: a transport needs a codec to sign and check frames`);
    }
    this.incarnation = options.incarnation;
    this.clock = options.clock;
    this.entropy = options.entropy ?? realEntropy;
    this.transport = options.transport;
    this.codec = options.codec;
    this.trace = options.trace;
    this.hashStates = options.hashStates ?? options.trace !== undefined;
    this.clientAddress = makeAddress(this.id, CLIENT_ACTOR);
    const peers = options.peers instanceof Map ? options.peers : new Map(Object.entries(options.peers ?? {}));
    for (const [peer, endpoint] of peers) this.setPeer(peer, endpoint);
    this.router = new Router({
      ...(options.mailboxCapacity === undefined ? {} : { mailboxCapacity: options.mailboxCapacity }),
      onReady: () => this.scheduleDrain(),
      onHandlerError: (actor, error) => this.onActorFailed(actor, error),
    });
    this.transport?.onReceive((frame, source) => this.receiveFrame(frame, source));
  }

  get address(): Address {
    return this.clientAddress;
  }

  setPeer(peer: string, endpoint: Endpoint): void {
    this.peers.set(toNodeId(peer), endpoint);
    this.knownEndpoints.add(endpoint);
  }

  /**
   * Starts an actor on this node; returns its address. `restored` is the state the actor last
   * persisted (the host loads it from its store before a restart).
   */
  spawn(name: string, behavior: ActorBehavior, input?: unknown, restored?: unknown): Address {
    this.assertOpen();
    const id = toActorId(name);
    if (id === CLIENT_ACTOR || this.actors.has(id))
      throw new Error(`actor ${name} already exists on node ${this.id}`);
    const address = makeAddress(this.id, id);
    const supervisor = new Supervisor(
      { clock: this.clock, entropy: this.entropy },
      this.options.supervisorMode ?? 'live',
      this.trace === undefined
        ? undefined
        : (value) =>
            this.trace?.record({
              type: 'supervised',
              at: this.clock.now(),
              node: this.id,
              actor: id,
              ...value,
            }),
    );
    const hosted: HostedActor = {
      id,
      address,
      behavior,
      supervisor,
      timers: new Map(),
      instance: undefined,
      current: undefined,
    };
    this.actors.set(id, hosted);
    this.router.register(id, (actorInput) => this.step(hosted, actorInput));
    this.trace?.record({
      type: 'spawn',
      at: this.clock.now(),
      node: this.id,
      actor: id,
      kind: behavior.kind,
      input,
      ...(restored === undefined ? {} : { restored }),
    });
    const context = createActorContext({
      self: address,
      actor: id,
      node: this.id,
      supervisor,
      current: () => hosted.current,
      emit: (envelope) => this.emit(envelope, id),
      setTimer: (timerName, delayMs, payload) => this.setActorTimer(hosted, timerName, delayMs, payload),
      cancelTimer: (timerName) => this.cancelActorTimer(hosted, timerName),
      persist: () => this.requestPersist(hosted),
    });
    try {
      this.runStep(hosted, () => {
        hosted.instance = behavior.start(context, input, restored);
      });
    } catch (error) {
      this.onActorFailed(id, error);
      throw error;
    }
    return address;
  }

  /** Stops an actor: its timers are cancelled and inputs still queued for it are dropped (counted). */
  stopActor(name: string, reason = 'stopped'): void {
    const hosted = this.actors.get(name as ActorId);
    if (hosted === undefined) return;
    for (const timer of hosted.timers.values()) this.clock.clearTimer(timer);
    hosted.timers.clear();
    this.actors.delete(hosted.id);
    this.router.unregister(hosted.id);
    hosted.instance?.stop();
    this.trace?.record({ type: 'stop', at: this.clock.now(), node: this.id, actor: hosted.id, reason });
  }

  hasActor(name: string): boolean {
    return this.actors.has(name as ActorId);
  }

  actorIds(): ActorId[] {
    return [...this.actors.keys()];
  }

  /** The actor's state (plain data), for tests, invariants and the inspector. */
  actorState(name: string): unknown {
    return this.actors.get(name as ActorId)?.instance?.state();
  }

  supervisorOf(name: string): Supervisor | undefined {
    return this.actors.get(name as ActorId)?.supervisor;
  }

  nextMessageId(): MessageId {
    return { origin: this.id, incarnation: this.incarnation, sequence: this.nextSequence++ };
  }

  /** Sends a one-way message from outside any actor (a client, a test, the CLI). */
  tell(target: Address, body: unknown): MessageId {
    return this.emit({ kind: 'one-way', source: this.clientAddress, target, body }, undefined);
  }

  /**
   * Sends a request from the node's built-in client and resolves with the reply. On no reply
   * within `retryAfterMs` it resends the same envelope (same id, so a deduplicating receiver
   * applies it once) up to `attemptsMax` times, then rejects with `RequestTimeoutError`. Throws
   * `RangeError`, sending nothing, on a `retryAfterMs` or `attemptsMax` out of range.
   */
  request(target: Address, body: unknown, options: ClientRequestOptions = {}): Promise<Envelope> {
    this.assertOpen();
    const retryAfterMs = options.retryAfterMs ?? 200;
    const attemptsMax = options.attemptsMax ?? 10;
    // Checked before anything is sent: a NaN count never reached zero (the request was resent
    // forever), and a bad delay threw from the clock after the first send, leaving it pending.
    if (!(retryAfterMs > 0) || !Number.isFinite(retryAfterMs)) {
      throw new RangeError(`request retryAfterMs must be a finite number > 0, got ${retryAfterMs}`);
    }
    if (!Number.isSafeInteger(attemptsMax) || attemptsMax < 1) {
      throw new RangeError(`request attemptsMax must be a positive integer, got ${attemptsMax}`);
    }
    const envelope: Envelope = {
      kind: options.sync === true ? 'sync-request' : 'async-request',
      id: this.nextMessageId(),
      source: this.clientAddress,
      target,
      body,
    };
    return new Promise<Envelope>((resolve, reject) => {
      const pending: PendingRequest = {
        envelope,
        resolve,
        reject,
        timer: undefined,
        attemptsLeft: attemptsMax,
      };
      this.pendingRequests.set(messageKey(envelope.id), pending);
      const attempt = () => {
        if (pending.attemptsLeft <= 0) {
          this.pendingRequests.delete(messageKey(envelope.id));
          reject(new RequestTimeoutError(`no reply from ${target} after ${attemptsMax} attempts`));
          return;
        }
        pending.attemptsLeft--;
        this.route(envelope, undefined);
        pending.timer = this.clock.setTimer(retryAfterMs, attempt);
      };
      attempt();
    });
  }

  /** Requests still waiting for their reply. */
  pendingRequestCount(): number {
    return this.pendingRequests.size;
  }

  /**
   * Handles up to `limit` queued inputs; returns how many. The node drains itself whenever the
   * callback it hands to `scheduleDrain` runs; a test calls this to drain at a point of its choosing.
   */
  drain(limit?: number): number {
    this.drainScheduled = false;
    return this.router.drain(limit);
  }

  hasWork(): boolean {
    return this.router.hasWork();
  }

  /** The transport's receive handler: decode, check, route. Never throws. */
  receiveFrame(frame: Uint8Array, source: Endpoint): void {
    if (this.closed || this.codec === undefined) return;
    if (this.options.strictPeers === true && !this.knownEndpoints.has(source)) {
      this.drop('unknown-peer', `frame from ${source}`);
      return;
    }
    const decoded = this.codec.decode(frame);
    if (!decoded.ok) {
      this.drop(decoded.error.reason, `frame from ${source}: ${decoded.error.detail}`);
      return;
    }
    const envelope = decoded.envelope;
    if (addressNode(envelope.target) !== this.id) {
      this.drop('wrong-node', `envelope for ${envelope.target} from ${source}`);
      return;
    }
    this.counts.receivedRemote++;
    if (
      this.options.learnPeers !== false &&
      envelope.id.origin !== this.id &&
      !this.peers.has(envelope.id.origin)
    ) {
      this.setPeer(envelope.id.origin, source);
    }
    this.deliverLocal(envelope);
  }

  counters(): NodeCounters {
    return {
      ...this.counts,
      dropped: { ...this.drops },
      router: this.router.counters(),
      transport: this.transport?.counters(),
    };
  }

  /** Stops every actor and timer and closes the transport. Pending requests are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const name of [...this.actors.keys()]) this.stopActor(name, 'node closed');
    for (const pending of this.pendingRequests.values()) {
      if (pending.timer !== undefined) this.clock.clearTimer(pending.timer);
      pending.reject(new Error(`node ${this.id} closed`));
    }
    this.pendingRequests.clear();
    this.closed = true;
    await this.transport?.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`node ${this.id} is closed`);
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || this.closed) return;
    this.drainScheduled = true;
    const schedule = this.options.scheduleDrain ?? queueMicrotask;
    schedule(() => {
      if (this.closed) return;
      this.drain(DRAIN_BATCH_MAX);
      // Actors that keep sending to each other on this node get the next batch in a drain of its
      // own: one drain never runs without end (in the simulator each drain is an event, so a
      // storm of local messages shows as events at one instant, which it reports as a livelock).
      if (this.hasWork()) this.scheduleDrain();
      if (hopTrace.enabled) hopTrace.record(HopEvent.drained, 0, 0);
    });
  }

  private emit(outgoing: OutgoingEnvelope, sender: ActorId | undefined): MessageId {
    const id = this.nextMessageId();
    this.route({ ...outgoing, id } as Envelope, sender);
    return id;
  }

  private route(envelope: Envelope, sender: ActorId | undefined): void {
    if (this.closed) return;
    if (this.trace !== undefined) {
      const event = { type: 'send', at: this.clock.now(), node: this.id, envelope } as const;
      this.trace.record(sender === undefined ? event : { ...event, actor: sender });
    }
    if (sender !== undefined && this.inStep) {
      (this.stepOutbox ??= []).push(envelope);
      return;
    }
    this.transmit(envelope);
  }

  /** Sends an actor step's envelopes; a body multicast to several nodes is packed once. */
  private transmitAll(envelopes: readonly Envelope[]): void {
    if (envelopes.length === 1) {
      this.transmit(envelopes[0]!);
      return;
    }
    const memo = encodeMemo();
    for (const envelope of envelopes) this.transmit(envelope, memo);
  }

  private transmit(envelope: Envelope, memo?: EncodeMemo): void {
    if (this.closed) return;
    const targetNode = addressNode(envelope.target);
    if (targetNode === this.id) {
      this.counts.sentLocal++;
      this.deliverLocal(envelope);
      return;
    }
    const endpoint = this.peers.get(targetNode);
    if (this.transport === undefined || this.codec === undefined || endpoint === undefined) {
      this.drop('no-route', `no endpoint for node ${targetNode}`);
      return;
    }
    const encoded = this.codec.encode(envelope, memo);
    if (!encoded.ok) {
      this.drop(encoded.error.reason === 'oversize' ? 'oversize' : 'encode-failed', encoded.error.detail);
      return;
    }
    this.counts.sentRemote++;
    this.transport.send(endpoint, encoded.frame);
  }

  private deliverLocal(envelope: Envelope): void {
    const actor = addressActor(envelope.target);
    if (actor === CLIENT_ACTOR) {
      this.onClientReply(envelope);
      return;
    }
    const result = this.router.enqueue(actor, { type: 'message', envelope });
    if (!result.ok)
      this.drop(result.error.reason, `envelope ${messageKey(envelope.id)} for ${envelope.target}`, actor);
  }

  private onClientReply(envelope: Envelope): void {
    if (envelope.kind !== 'sync-reply' && envelope.kind !== 'async-reply') {
      this.drop('unknown-actor', `non-reply ${envelope.kind} sent to the node client`);
      return;
    }
    const key = messageKey(envelope.inReplyTo);
    const pending = this.pendingRequests.get(key);
    if (pending === undefined) {
      // A reply to a request already answered (a retransmission was answered twice): harmless.
      this.drop('late-reply', `reply to ${key}`);
      return;
    }
    this.pendingRequests.delete(key);
    if (pending.timer !== undefined) this.clock.clearTimer(pending.timer);
    pending.resolve(envelope);
  }

  private step(hosted: HostedActor, actorInput: ActorInput): void {
    const instance = hosted.instance;
    if (instance === undefined) return;
    // Read the clock only when tracing: it is a system call on a real node.
    const at = this.trace === undefined ? 0 : this.clock.now();
    if (actorInput.type === 'message') {
      this.trace?.record({
        type: 'deliver',
        at,
        node: this.id,
        actor: hosted.id,
        envelope: actorInput.envelope,
      });
      hosted.current = actorInput.envelope;
    } else {
      hosted.timers.delete(actorInput.name);
      this.trace?.record({
        type: 'timer',
        at,
        node: this.id,
        actor: hosted.id,
        name: actorInput.name,
        payload: actorInput.payload,
      });
      hosted.current = undefined;
    }
    try {
      this.runStep(hosted, () => instance.handle(actorInput));
    } catch (error) {
      if (!(error instanceof RejectedInputError)) throw error;
      this.drop('rejected-input', `${hosted.address}: ${error.message}`, hosted.id);
    } finally {
      hosted.current = undefined;
    }
  }

  /** Runs one actor step with its sends held, then persists (if asked) and releases the sends. */
  private runStep(hosted: HostedActor, body: () => void): void {
    // The outbox array is created only by a step that sends.
    this.stepOutbox = undefined;
    this.inStep = true;
    this.persistRequested = false;
    let sends: Envelope[] | undefined;
    try {
      body();
    } finally {
      sends = this.stepOutbox as Envelope[] | undefined; // set by route() during body()
      this.stepOutbox = undefined;
      this.inStep = false;
    }
    this.recordState(hosted);
    let saved: Promise<void> | undefined;
    if (this.persistRequested && hosted.instance !== undefined) {
      this.persistRequested = false;
      const store = this.options.actorStore;
      if (store === undefined)
        throw new Error(`actor ${hosted.address} called persist() but node ${this.id} has no actorStore`);
      // A store that saves synchronously (the simulator's disk) returns nothing: durable already.
      saved = store.save(hosted.id, hosted.instance.persisted()) ?? undefined;
    }
    if (saved === undefined && this.outboxTail === undefined) {
      if (sends !== undefined) this.transmitAll(sends);
      return;
    }
    this.holdSends(hosted, saved, sends ?? []);
  }

  private holdSends(hosted: HostedActor, saved: Promise<void> | undefined, sends: Envelope[]): void {
    this.outboxWaiting++;
    const previous = this.outboxTail ?? Promise.resolve();
    const tail = previous
      .then(() => saved)
      .then(
        () => this.transmitAll(sends),
        (error: unknown) => {
          // The state did not become durable: its effects must not leave, and the in-memory
          // state is ahead of the disk, so the actor stops; a restart resumes from the disk.
          this.drop(
            'persist-failed',
            `${hosted.address}: ${String(error)}; ${sends.length} sends withheld`,
            hosted.id,
          );
          if (this.actors.get(hosted.id) === hosted) this.stopActor(hosted.id, 'persist failed');
        },
      )
      .finally(() => {
        this.outboxWaiting--;
        if (this.outboxTail === tail && this.outboxWaiting === 0) this.outboxTail = undefined;
      });
    this.outboxTail = tail;
  }

  private requestPersist(hosted: HostedActor): void {
    if (!this.inStep) throw new Error(`actor ${hosted.address} called persist() outside a step`);
    this.persistRequested = true;
  }

  /** Resolves once every send held behind a save has left (tests and clean shutdown use it). */
  async flushed(): Promise<void> {
    while (this.outboxTail !== undefined) await this.outboxTail;
  }

  private recordState(hosted: HostedActor): void {
    if (this.trace === undefined || !this.hashStates || hosted.instance === undefined) return;
    this.trace.record({
      type: 'state',
      at: this.clock.now(),
      node: this.id,
      actor: hosted.id,
      hash: stableHash(hosted.instance.state()),
    });
  }

  private setActorTimer(hosted: HostedActor, name: string, delayMs: number, payload: unknown): void {
    this.cancelActorTimer(hosted, name);
    const handle = this.clock.setTimer(delayMs, () => {
      if (hosted.timers.get(name) !== handle) return;
      const result = this.router.enqueue(hosted.id, { type: 'timer', name, payload });
      if (!result.ok) this.drop(result.error.reason, `timer ${name} of ${hosted.address}`, hosted.id);
    });
    hosted.timers.set(name, handle);
  }

  private cancelActorTimer(hosted: HostedActor, name: string): void {
    const handle = hosted.timers.get(name);
    if (handle === undefined) return;
    this.clock.clearTimer(handle);
    hosted.timers.delete(name);
  }

  private onActorFailed(actor: ActorId, error: unknown): void {
    const message = errorText(error);
    this.trace?.record({
      type: 'note',
      at: this.clock.now(),
      node: this.id,
      text: `actor ${actor} failed: ${message}`,
    });
    this.stopActor(actor, `failed: ${message}`);
  }

  private drop(reason: NodeDropReason, detail: string, actor?: ActorId): void {
    this.drops[reason]++;
    const event = { type: 'drop', at: this.clock.now(), node: this.id, reason, detail } as const;
    this.trace?.record(actor === undefined ? event : { ...event, actor });
  }
}
