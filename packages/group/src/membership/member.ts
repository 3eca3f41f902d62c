/**
 * The group member: one actor per node per group (named `group.<name>`), which runs the failure
 * detector, installs views and orders broadcasts — Viewstamped Replication Revisited (Liskov and
 * Cowling 2012) adapted to the Steadfast runtime.
 *
 * - Normal status: the primary (the sequencer) gives each client op the next op number, persists
 *   it and sends `prepare` to the backups; a backup appends in order, persists, and answers a
 *   cumulative `prepare-ok`; the primary commits an op once a majority (itself included) holds it,
 *   applies it to the application and answers the client. Backups learn the commit point from the
 *   next prepare or, on an idle link, from the primary's `commit` heartbeat.
 * - Failure detector: any message from a member is evidence that it lives; a backup that hears
 *   nothing from its primary for `suspicionTimeoutMs` starts a view change.
 * - View change: start-view-change to all; with a majority agreeing, do-view-change (carrying the
 *   uncommitted log suffix) to the primary of the new epoch, which takes the best log, fetches the
 *   committed entries it lacks, and sends start-view. The primary of epoch `e` is
 *   `configuration[e mod n]`: after a primary fails, the next member by rank takes over.
 * - Recovery: a restarted member (a new incarnation) resumes from its persisted state but takes no
 *   part until a majority, the current primary included, has told it the current epoch (VR's
 *   recovery with a nonce). Messages of its old incarnation are fenced off by every peer.
 * - State transfer: a member that misses entries asks for the suffix (`get-state`); when the log
 *   was truncated past that point it gets the application snapshot instead.
 * - Reconfiguration: an operator's `join`/`leave` becomes a log entry; once committed it yields the
 *   next configuration (one member changed at a time, so old and new majorities intersect), which
 *   takes effect at the next epoch: the primary starts a view change in it. A view change votes in
 *   the newest committed configuration a member knows, and each member sends one do-view-change
 *   per epoch, so two configurations can never both install the same epoch. A node that joins
 *   starts `outside` with an empty log, enters when it hears of a configuration that includes it,
 *   and adopts the view's log by state transfer; a member that leaves goes `outside`.
 * - autoMembership (opt-in): views that exclude crashed members, as virtual synchrony has them.
 *   The primary proposes `leave` for a member silent for `evictAfterMs`, and a node outside the
 *   group asks to join again, both through the reconfiguration path above.
 *
 * Host contract: every step that changes the durable part of the state calls `ctx.persist()`, so
 * the runtime saves it before the step's messages leave (persist, then send): a prepare-ok or a
 * do-view-change never promises more than the disk holds.
 *
 * Why a reducer and not an xstate machine: the three statuses are the `status` field and each
 * handler switches on it, but most of the state (the log, the acks, the votes) is data that every
 * status shares, and messages must be matched against it (epoch, op number, nonce) before any
 * transition; a statechart would hold all of it in its context and guard every transition with
 * the same comparisons, with little left for the chart itself to say.
 */
import { defineActor, type ActorBehavior, type ActorContext, type ActorInput } from '@steadfast/runtime';
import { address, assertNever, nodeId, type Address, type Envelope, type NodeId } from '@steadfast/wire';
import {
  isNodeId,
  joinHintOf,
  jsonSize,
  MEMBERSHIP_CLIENT_ID,
  parseMemberMessage,
  type Broadcast,
  type BroadcastReply,
  type ClientRecord,
  type Commit,
  type Configuration,
  type GroupViewNotice,
  type MembershipChange,
  type MembershipReply,
  type MembershipRequest,
  type RemoveMember,
  type StepDown,
  type PreViewChange,
  type PreViewChangeOk,
  type GroupOutsideNotice,
  type GroupQuorumNotice,
  type DoViewChange,
  type GetState,
  type GroupSnapshot,
  type LogEntry,
  type NewState,
  type PeerMessage,
  type Prepare,
  type PrepareOk,
  type Recovery,
  type RecoveryResponse,
  type StartView,
  type StartViewChange,
} from './messages.js';
import { groupSettings, ticksFor, type GroupSettings } from './settings.js';
import {
  applyChange,
  count,
  durableChanged,
  epochConfiguration,
  newer,
  uncommittedChange,
  entriesBetween,
  entryAt,
  isPrimary,
  lookup,
  majorityOf,
  peersOf,
  pendingKey,
  primaryOf,
  setEntry,
  truncateToCommit,
  transferEnd,
  viewOf,
  zeroCounters,
  type Transfer,
  type MemberState,
  type PendingRequest,
} from './state.js';

/** The application the group orders ops for: a reducer over committed ops. State must be plain data. */
export interface GroupApplication<AppState = unknown> {
  initial(): AppState;
  apply(state: AppState, op: unknown, meta: DeliveryMeta): AppState;
}

/**
 * Where a committed op sits in the group's order, passed to `GroupApplication.apply` with the op and
 * reported in the observer's `deliver` event: its op number (the same at every member; membership
 * changes take op numbers too, so the application may see gaps) and the client request it came from.
 */
export interface DeliveryMeta {
  readonly opNumber: number;
  readonly clientId: string;
  readonly requestNumber: number;
}

/**
 * What a member reports to an observer (tests, the simulator's invariants, tools). The observer
 * only watches: it is called synchronously inside the step and must not feed anything back.
 */
export type MemberEvent =
  | ({ readonly type: 'deliver'; readonly node: NodeId; readonly op: unknown } & DeliveryMeta)
  | { readonly type: 'snapshot-installed'; readonly node: NodeId; readonly opNumber: number }
  | {
      readonly type: 'view-installed';
      readonly node: NodeId;
      readonly epoch: number;
      readonly primary: NodeId;
      readonly members: readonly NodeId[];
      /** The version of the view's configuration (the op number of the change behind it). */
      readonly configurationVersion: number;
    }
  | {
      /** A committed membership change, delivered in log order like an op. */
      readonly type: 'reconfigured';
      readonly node: NodeId;
      readonly opNumber: number;
      readonly change: MembershipChange;
      readonly members: readonly NodeId[];
    }
  | { readonly type: 'left'; readonly node: NodeId; readonly version: number }
  /** A local `step-down` request made the primary start the view change to the next epoch. */
  | { readonly type: 'stepped-down'; readonly node: NodeId; readonly epoch: number; readonly reason: string }
  | {
      /**
       * autoMembership: the member itself asks for a change — the primary evicting a silent member
       * (`leave`), or a node outside asking to join again (one event per round of requests).
       */
      readonly type: 'membership-asked';
      readonly node: NodeId;
      readonly change: MembershipChange;
    }
  | { readonly type: 'restored'; readonly node: NodeId; readonly commitNumber: number };

/**
 * Options of `groupMember` (and `groupMemberCore`): the same on every node of the group, spares
 * included. Building the behavior throws on a programmer error: a `RangeError` for bad settings or an
 * empty or repeating `members` list, an `InvalidIdError` for a malformed node id.
 */
export interface GroupMemberOptions<AppState = unknown> {
  /** The group's name; the member actor is spawned as `group.<group>` on each member node. */
  readonly group: string;
  /**
   * The initial configuration, member node ids in rank order: the same list on every node. A node
   * not in it starts `outside` (a spare) and takes part once a committed `join` adds it.
   */
  readonly members: readonly string[];
  /** The reducer every member applies committed ops to, in op-number order. */
  readonly application: GroupApplication<AppState>;
  /** Overrides of `GROUP_DEFAULTS`, validated by `groupSettings`. */
  readonly settings?: Partial<GroupSettings>;
  /** Watches what the member does (see `MemberEvent`); nothing by default. */
  readonly observer?: (event: MemberEvent) => void;
  /**
   * A local actor name: each time the member installs a view it sends that actor, on its own node,
   * `{ type: 'group-view', group, view: { epoch, members, primary } }` (a `GroupViewNotice`), and
   * when it finds itself outside the newest configuration, `{ type: 'group-outside', group,
   * version }` (a `GroupOutsideNotice`); as primary, it also says when it stops and starts again
   * hearing from a majority (a `GroupQuorumNotice`).
   */
  readonly notify?: string;
}

/** The `kind` of the group member behavior, recorded in traces so `trace replay` can rebuild it. */
export const GROUP_MEMBER_KIND = 'group-member';

/** The actor name of a group's member on every node. */
export function memberActorName(group: string): string {
  return `group.${group}`;
}

/** The address of a group's member on `node`: clients send it broadcasts, operators joins and leaves. */
export function memberAddress(group: string, node: string): Address {
  return address(node, memberActorName(group));
}

const TICK = 'tick';
const waitersPerRequestMax = 4;
const clientIdLengthMax = 128;

interface Env {
  readonly settings: GroupSettings;
  readonly application: GroupApplication;
  readonly observer: (event: MemberEvent) => void;
  readonly actorName: string;
  readonly suspicionTicks: number;
  readonly viewChangeTicks: number;
  readonly recoveryTicks: number;
  readonly fetchTicks: number;
  readonly evictTicks: number;
  readonly rejoinTicks: number;
}

/** Builds the member behavior and the pure functions behind it (exported for unit tests). */
export function groupMemberCore<AppState>(options: GroupMemberOptions<AppState>) {
  const settings = groupSettings(options.settings);
  const configuration = options.members.map((member) => nodeId(member));
  if (configuration.length === 0) throw new RangeError('a group needs at least one member');
  if (new Set(configuration).size !== configuration.length)
    throw new RangeError(`group members repeat: ${options.members.join(', ')}`);
  const env: Env = {
    settings,
    application: options.application as GroupApplication,
    observer: options.observer ?? (() => undefined),
    actorName: memberActorName(options.group),
    suspicionTicks: ticksFor(settings.suspicionTimeoutMs, settings),
    viewChangeTicks: ticksFor(settings.viewChangeTimeoutMs, settings),
    recoveryTicks: ticksFor(settings.recoveryTimeoutMs, settings),
    fetchTicks: ticksFor(settings.fetchRetryMs, settings),
    evictTicks: ticksFor(settings.evictAfterMs, settings),
    rejoinTicks: ticksFor(settings.rejoinRetryMs, settings),
  };

  function initial(ctx: ActorContext): MemberState {
    const self = ctx.node;
    ctx.setTimer(TICK, settings.heartbeatIntervalMs);
    const initialConfiguration: Configuration = { version: 0, members: configuration };
    const state: MemberState = {
      group: options.group,
      self,
      configuration,
      configurationVersion: 0,
      logConfiguration: initialConfiguration,
      known: initialConfiguration,
      epoch: 0,
      status: configuration.includes(self) ? 'normal' : 'outside',
      lastNormalEpoch: 0,
      opNumber: 0,
      commitNumber: 0,
      logStart: 0,
      log: [],
      appState: env.application.initial(),
      clients: {},
      ...volatileState(),
      counters: zeroCounters,
    };
    if (state.status === 'normal') reportView(state, ctx);
    return state;
  }

  /** The volatile part of a member's state: empty at a first start and again after a restart. */
  function volatileState() {
    return {
      incarnations: {},
      silentTicks: {},
      unackedTicks: {},
      preVote: null,
      acks: {},
      sentSinceTick: false,
      statusTicks: 0,
      viewChange: null,
      recovery: null,
      fetch: null,
      transfer: null,
      pending: {},
      reconfiguration: null,
      removals: [],
      rejoinHint: null,
      quorumTold: true,
    } as const satisfies Partial<MemberState>;
  }

  /** Tells the observer and the local `notify` actor about the view the member just installed. */
  function reportView(state: MemberState, ctx: ActorContext): void {
    const view = viewOf(state.configuration, state.epoch);
    env.observer({
      type: 'view-installed',
      node: state.self,
      epoch: state.epoch,
      primary: view.primary,
      members: view.members,
      configurationVersion: state.configurationVersion,
    });
    if (options.notify === undefined) return;
    const notice: GroupViewNotice = { type: 'group-view', group: options.group, view };
    ctx.send(address(state.self, options.notify), notice);
  }

  /** A restart: resume from the disk, then recover (learn the current view) before taking part. */
  function restore(persisted: unknown, ctx: ActorContext): MemberState {
    const saved = persisted as MemberState;
    ctx.setTimer(TICK, settings.heartbeatIntervalMs);
    const state: MemberState = {
      ...saved,
      ...volatileState(),
    };
    env.observer({ type: 'restored', node: state.self, commitNumber: state.commitNumber });
    if (state.status === 'outside') return state;
    if (state.configuration.length === 1)
      return installNormal(state, state.epoch, epochConfiguration(state), ctx);
    const nonce = ctx.id();
    broadcastToAllKnown(state, { type: 'recovery', nonce } satisfies Recovery, ctx);
    return count({ ...state, status: 'recovering', recovery: { nonce, responses: {} } }, 'recoveries');
  }

  function handle(state: MemberState, input: ActorInput, ctx: ActorContext): MemberState {
    const stepped =
      input.type === 'timer' ? onTimer(state, input.name, ctx) : onMessage(state, input.envelope, ctx);
    const next = followConfiguration(stepped, ctx);
    // Persist, then send: the runtime holds this step's messages until the state is durable.
    if (durableChanged(state, next)) ctx.persist();
    return next;
  }

  function onTimer(state: MemberState, name: string, ctx: ActorContext): MemberState {
    if (name !== TICK) return state;
    return onTick(state, ctx);
  }

  function onMessage(state: MemberState, envelope: Envelope, ctx: ActorContext): MemberState {
    // The only requests a member sends are autoMembership's joins: their answers come back here.
    if (settings.autoMembership && (envelope.kind === 'async-reply' || envelope.kind === 'sync-reply'))
      return onJoinReply(state, envelope, ctx);
    const message = parseMemberMessage(envelope.body);
    if (message === undefined) {
      if (envelope.kind === 'async-request' || envelope.kind === 'sync-request')
        reply(envelope, { type: 'invalid-broadcast', detail: 'not a group message' }, ctx);
      return count(state, 'invalid');
    }
    switch (message.type) {
      case 'broadcast':
        return onBroadcast(state, message, envelope, ctx);
      case 'join':
      case 'leave':
        return onMembershipRequest(state, message, envelope, ctx);
      case 'remove-member':
        return onRemoveMember(state, message, envelope, ctx);
      case 'step-down':
        return onStepDown(state, message, envelope, ctx);
      default:
        break;
    }
    const from = envelope.id.origin;
    if (from === state.self) return count(state, 'invalid');
    const known = lookup(state.incarnations, from) ?? 0;
    if (envelope.id.incarnation < known) return count(state, 'fenced');
    // Configurations travel on view-change and state-transfer messages: learn a newer one first.
    let next = 'configuration' in message ? learnConfiguration(state, message.configuration) : state;
    if (message.type === 'new-configuration') {
      // A notice from a node behind us (say, a spare answering our heartbeat): tell it what we know.
      if (message.configuration.version >= next.known.version) return next;
      sendTo(next, from, { type: 'new-configuration', configuration: next.known }, ctx);
      return count(next, 'notices');
    }
    if (next.status === 'outside' || !isAccepted(next, message, from)) {
      // The sender may not know that it (or we) left: tell it what we know, once per message.
      sendTo(next, from, { type: 'new-configuration', configuration: next.known }, ctx);
      return count(next, 'notices');
    }
    if (envelope.id.incarnation > known) next = onNewIncarnation(next, from, envelope.id.incarnation);
    next = { ...next, silentTicks: { ...next.silentTicks, [from]: 0 } };
    return onPeerMessage(next, message, from, ctx);
  }

  /**
   * Members of the epoch's or of the newest known configuration are heard. So is the primary of a
   * newer view we do not know the configuration of (its prepare or heartbeat): the state transfer
   * that follows only takes that view's log from a sender that says it is its primary.
   */
  function isAccepted(state: MemberState, message: PeerMessage, from: NodeId): boolean {
    if (state.configuration.includes(from) || state.known.members.includes(from)) return true;
    if (message.type !== 'prepare' && message.type !== 'commit') return false;
    return message.epoch > state.epoch || (message.epoch === state.epoch && state.status !== 'normal');
  }

  /**
   * Records a configuration newer than any we knew (every configuration that travels was committed
   * somewhere). A member outside that finds itself in it comes in, in view-change status, and
   * takes part from the next view-change or view message on.
   */
  function learnConfiguration(state: MemberState, configuration: Configuration): MemberState {
    if (configuration.version <= state.known.version) return state;
    const learned: MemberState = { ...state, known: configuration };
    if (state.status !== 'outside' || !configuration.members.includes(state.self)) return learned;
    return {
      ...learned,
      status: 'view-change',
      configuration: configuration.members,
      configurationVersion: configuration.version,
      statusTicks: 0,
      viewChange: { startViewChangeFrom: [], doViewChanges: {}, doViewChangeSent: false },
    };
  }

  /**
   * After every step: a configuration newer than the epoch's takes effect at the next epoch (the
   * primary starts that view change); a member not in the newest one goes outside (a primary that
   * leaves first hands over by starting the view change in the new configuration).
   */
  function followConfiguration(state: MemberState, ctx: ActorContext): MemberState {
    if (state.status === 'outside') return state;
    if (state.known.members.includes(state.self)) {
      if (isPrimary(state) && state.known.version > state.configurationVersion)
        return startViewChange(state, state.epoch + 1, ctx);
      return state;
    }
    const handedOver = isPrimary(state) ? startViewChange(state, state.epoch + 1, ctx) : state;
    env.observer({ type: 'left', node: state.self, version: state.known.version });
    if (options.notify !== undefined) {
      // The local layer above must learn it is out: if it is added back later, what it holds is
      // stale (it missed everything in between) and it has to catch up by state transfer.
      const notice: GroupOutsideNotice = {
        type: 'group-outside',
        group: options.group,
        version: state.known.version,
      };
      ctx.send(address(state.self, options.notify), notice);
    }
    return {
      ...handedOver,
      status: 'outside',
      // autoMembership asks to join again from the next tick on.
      statusTicks: 0,
      rejoinHint: null,
      viewChange: null,
      recovery: null,
      fetch: null,
      transfer: null,
      pending: {},
      reconfiguration: null,
      removals: [],
      acks: {},
      unackedTicks: {},
      preVote: null,
    };
  }

  function onPeerMessage(
    state: MemberState,
    message: PeerMessage,
    from: NodeId,
    ctx: ActorContext,
  ): MemberState {
    switch (message.type) {
      case 'prepare':
        return onPrepare(state, message, from, ctx);
      case 'prepare-ok':
        return onPrepareOk(state, message, from, ctx);
      case 'commit':
        return onCommit(state, message, from, ctx);
      case 'pre-view-change':
        return onPreViewChange(state, message, from, ctx);
      case 'pre-view-change-ok':
        return onPreViewChangeOk(state, message, from, ctx);
      case 'start-view-change':
        return onStartViewChange(state, message, from, ctx);
      case 'do-view-change':
        return onDoViewChange(state, message, from, ctx);
      case 'start-view':
        return onStartView(state, message, from, ctx);
      case 'recovery':
        return onRecovery(state, message, from, ctx);
      case 'recovery-response':
        return onRecoveryResponse(state, message, from, ctx);
      case 'get-state':
        return onGetState(state, message, from, ctx);
      case 'new-state':
        return onNewState(state, message, from, ctx);
      case 'new-configuration':
        return state;
      default:
        return assertNever(message, 'group message');
    }
  }

  /**
   * A member restarted: what its old incarnation acknowledged no longer counts (its log may have
   * been cut back to the committed prefix during recovery), so the primary forgets its acks.
   */
  function onNewIncarnation(state: MemberState, member: NodeId, incarnation: number): MemberState {
    const acks = { ...state.acks };
    delete acks[member];
    return { ...state, incarnations: { ...state.incarnations, [member]: incarnation }, acks };
  }

  // ---------------------------------------------------------------------------------------------
  // Sends.

  function sendTo(state: MemberState, target: NodeId, body: PeerMessage, ctx: ActorContext): void {
    ctx.send(address(target, env.actorName), body);
  }

  function broadcastToPeers(state: MemberState, body: PeerMessage, ctx: ActorContext): void {
    for (const peer of peersOf(state)) sendTo(state, peer, body, ctx);
  }

  /**
   * Every other member of the epoch's configuration and of the newest one known. A member that is
   * recovering or asking for a pre-vote may hold an old epoch whose configuration lacks members the
   * group has added since (among them, maybe, the current primary, whose answer recovery needs).
   */
  function broadcastToAllKnown(state: MemberState, body: PeerMessage, ctx: ActorContext): void {
    for (const peer of new Set([...state.configuration, ...state.known.members]))
      if (peer !== state.self) sendTo(state, peer, body, ctx);
  }

  function reply(envelope: Envelope, body: BroadcastReply | MembershipReply, ctx: ActorContext): void {
    ctx.reply(body, { to: envelope });
  }

  // ---------------------------------------------------------------------------------------------
  // The tick: heartbeats, suspicion, timeouts and retries, all counted in ticks of one timer.

  function onTick(state: MemberState, ctx: ActorContext): MemberState {
    ctx.setTimer(TICK, settings.heartbeatIntervalMs);
    const silentTicks: Record<string, number> = {};
    for (const peer of peersOf(state))
      setEntry(silentTicks, peer, (lookup(state.silentTicks, peer) ?? 0) + 1);
    let next: MemberState = { ...state, silentTicks, statusTicks: state.statusTicks + 1 };
    next = tellQuorum(next, ctx);
    next = retryFetch(next, ctx);
    next = submitRemovals(next, ctx);
    switch (next.status) {
      case 'normal':
        return isPrimary(next) ? tickPrimary(next, ctx) : tickBackup(next, ctx);
      case 'view-change':
        return tickViewChange(next, ctx);
      case 'recovering':
        return tickRecovering(next, ctx);
      case 'outside':
        return tickOutside(next, ctx);
      default:
        return assertNever(next.status, 'member status');
    }
  }

  function tickPrimary(state: MemberState, ctx: ActorContext): MemberState {
    // Heard from no majority for the whole suspicion timeout: this primary cannot commit, and the
    // others may still hear its heartbeats (a one-way cut: it is deaf, not silent), so they would
    // never replace it. It hands over: the view change it starts is one they join, since it comes
    // from their primary. (The layer above stopped ordering a tick earlier: `group-quorum`.)
    if (state.configuration.length > 1 && !heardFromMajority(state)) {
      const reason = 'heard from no majority for the suspicion timeout';
      env.observer({ type: 'stepped-down', node: state.self, epoch: state.epoch, reason });
      return count(startViewChange(state, state.epoch + 1, ctx), 'stepDowns');
    }
    const unackedTicks: Record<string, number> = {};
    for (const peer of peersOf(state))
      setEntry(unackedTicks, peer, (lookup(state.unackedTicks, peer) ?? 0) + 1);
    let next: MemberState = { ...state, unackedTicks };
    if (!state.sentSinceTick && state.configuration.length > 1) {
      broadcastToPeers(state, commitMessage(state), ctx);
      next = count(next, 'heartbeats');
    }
    next = { ...next, sentSinceTick: false };
    // A request not committed within the suspicion timeout: the primary has lost its majority (or
    // the network is very lossy). Tell the client; a retry with the same request number is safe.
    const pending: Record<string, PendingRequest> = {};
    let noQuorum = 0;
    for (const [key, request] of Object.entries(next.pending)) {
      if (request.ticks + 1 < env.suspicionTicks) {
        setEntry(pending, key, { ...request, ticks: request.ticks + 1 });
        continue;
      }
      noQuorum++;
      for (const waiter of request.waiters) reply(waiter, noQuorumReply(next, request), ctx);
    }
    next = count({ ...next, pending, reconfiguration: tickReconfiguration(next, ctx) }, 'noQuorum', noQuorum);
    return evictSilent(next, ctx);
  }

  /** The operators waiting for a change are told `no-quorum` after as long as a client would be. */
  function tickReconfiguration(state: MemberState, ctx: ActorContext): MemberState['reconfiguration'] {
    const waiting = state.reconfiguration;
    if (waiting === null || waiting.waiters.length === 0) return waiting;
    if (waiting.ticks + 1 < env.suspicionTicks) return { ...waiting, ticks: waiting.ticks + 1 };
    const { type: change, node } = waiting.change;
    for (const waiter of waiting.waiters)
      reply(waiter, { type: 'no-quorum', change, node, epoch: state.epoch }, ctx);
    return { ...waiting, waiters: [], ticks: 0 };
  }

  function tickBackup(state: MemberState, ctx: ActorContext): MemberState {
    const primary = primaryOf(state.configuration, state.epoch);
    if ((lookup(state.silentTicks, primary) ?? 0) < env.suspicionTicks)
      return state.preVote === null ? state : { ...state, preVote: null };
    return preVoteRound(state, state.epoch + 1, ctx);
  }

  function tickViewChange(state: MemberState, ctx: ActorContext): MemberState {
    // The candidate did not start the view in time (it is down, or cut off): try the next by rank,
    // once a majority agrees (a member cut off alone would otherwise move the epoch on forever).
    if (state.statusTicks >= env.viewChangeTicks) {
      const next = preVoteRound(state, state.epoch + 1, ctx);
      if (next.status !== 'view-change' || next.epoch !== state.epoch) return next;
      state = next;
    }
    // Messages may be lost: say it again, once per tick.
    if (state.transfer?.purpose === 'adopt') return state;
    broadcastToPeers(state, startViewChangeMessage(state, state.epoch), ctx);
    const progress = state.viewChange;
    const primary = primaryOf(state.configuration, state.epoch);
    if (progress?.doViewChangeSent === true && primary !== state.self)
      sendTo(state, primary, doViewChangeMessage(state), ctx);
    return state;
  }

  function tickRecovering(state: MemberState, ctx: ActorContext): MemberState {
    // Nobody answered in time (a majority is down or recovering too): the persisted log is safe to
    // vote with, so start a view change, once a majority agrees, instead of waiting forever.
    if (state.statusTicks >= env.recoveryTicks) {
      const next = preVoteRound(state, state.epoch + 1, ctx);
      if (next.status !== 'recovering') return next;
      state = next;
    }
    if (state.recovery !== null)
      broadcastToAllKnown(state, { type: 'recovery', nonce: state.recovery.nonce }, ctx);
    return state;
  }

  // ---------------------------------------------------------------------------------------------
  // Pre-votes (after Raft's PreVote): a view change started on a timeout needs a majority's yes.

  /**
   * Asks the peers (again, once per tick) whether they would join a view change to `epoch`, and
   * starts it once a majority, this member included, said yes. Only view changes started on a
   * timeout go through here; a primary handing over and a committed configuration start theirs at
   * once, and a real start-view-change is always joined.
   */
  function preVoteRound(state: MemberState, epoch: number, ctx: ActorContext): MemberState {
    const preVote = state.preVote?.epoch === epoch ? state.preVote : { epoch, grantedBy: [] };
    const next: MemberState = { ...state, preVote };
    if (preVoteAgreed(next, preVote.grantedBy)) return startViewChange(next, epoch, ctx);
    broadcastToAllKnown(next, { type: 'pre-view-change', epoch } satisfies PreViewChange, ctx);
    return count(next, 'preVotesSent');
  }

  /**
   * Whether this member would join a view change to `epoch`, asked by `from`, now: it has no
   * working view itself. A backup still hearing its primary, or a primary still hearing a majority,
   * says no: the member asking is the one cut off. The thresholds are a tick short of the suspicion
   * timeout, so members whose timers run a tick apart agree when the primary really is gone.
   *
   * A backup says yes to its own primary, though it hears from it: a member asks only when it has
   * no working view, so this backup's view does not work either (it may be stale: a member that
   * restarted from an empty disk is back in the first epoch, whose primary has long moved on).
   * Before, such a backup heard its "primary" in the very pre-votes it refused, and when its yes
   * was the one a majority needed, the group never changed view again (seed 3935 of the
   * replication sweep: a group of three, one member left by reconfiguration, one restarted
   * empty).
   */
  function wouldJoinViewChange(state: MemberState, epoch: number, from: NodeId): boolean {
    const nearlySuspicion = Math.max(1, env.suspicionTicks - 1);
    switch (state.status) {
      case 'outside':
        return false;
      case 'view-change':
      case 'recovering':
        return epoch >= state.epoch;
      case 'normal': {
        if (epoch <= state.epoch) return false;
        if (isPrimary(state)) return !heardFromMajority(state, nearlySuspicion);
        const primary = primaryOf(state.configuration, state.epoch);
        if (from === primary) return true;
        return (lookup(state.silentTicks, primary) ?? 0) >= nearlySuspicion;
      }
      default:
        return assertNever(state.status, 'member status');
    }
  }

  /**
   * A majority, this member included, of the configuration the view change would vote in (the
   * newest known: `enterViewChange`) said yes.
   */
  function preVoteAgreed(state: MemberState, grantedBy: readonly NodeId[]): boolean {
    const voters = state.known.members;
    if (!voters.includes(state.self)) return false;
    const yes = grantedBy.filter((member) => voters.includes(member)).length + 1;
    return yes >= majorityOf(voters);
  }

  /** Whether the member still has the reason it started its pre-vote for: no working view. */
  function stillWantsViewChange(state: MemberState): boolean {
    if (state.status !== 'normal') return state.status !== 'outside';
    if (isPrimary(state)) return false;
    return (
      (lookup(state.silentTicks, primaryOf(state.configuration, state.epoch)) ?? 0) >= env.suspicionTicks
    );
  }

  function onPreViewChange(
    state: MemberState,
    message: PreViewChange,
    from: NodeId,
    ctx: ActorContext,
  ): MemberState {
    if (!wouldJoinViewChange(state, message.epoch, from)) return count(state, 'preVotesRefused');
    sendTo(state, from, { type: 'pre-view-change-ok', epoch: message.epoch } satisfies PreViewChangeOk, ctx);
    return count(state, 'preVotesGranted');
  }

  function onPreViewChangeOk(
    state: MemberState,
    message: PreViewChangeOk,
    from: NodeId,
    ctx: ActorContext,
  ): MemberState {
    const preVote = state.preVote;
    if (preVote === null || message.epoch !== preVote.epoch || message.epoch <= state.epoch)
      return count(state, 'stale');
    if (!stillWantsViewChange(state)) return { ...state, preVote: null };
    if (preVote.grantedBy.includes(from)) return state;
    const grantedBy = [...preVote.grantedBy, from];
    const next: MemberState = { ...state, preVote: { epoch: preVote.epoch, grantedBy } };
    return preVoteAgreed(next, grantedBy) ? startViewChange(next, preVote.epoch, ctx) : next;
  }

  function retryFetch(state: MemberState, ctx: ActorContext): MemberState {
    if (state.fetch === null) return state;
    if (state.fetch.ticks + 1 < env.fetchTicks)
      return { ...state, fetch: { ...state.fetch, ticks: state.fetch.ticks + 1 } };
    if (state.transfer !== null) return fetchTransfer(state, ctx);
    return requestState(state, state.fetch.from, ctx, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Normal status: broadcast, prepare, prepare-ok, commit.

  function onBroadcast(
    state: MemberState,
    message: Broadcast,
    envelope: Envelope,
    ctx: ActorContext,
  ): MemberState {
    if (envelope.kind !== 'async-request' && envelope.kind !== 'sync-request') return count(state, 'invalid');
    const { clientId, requestNumber } = message;
    // `__proto__` too: the client table travels in msgpack (a state transfer, the store), whose
    // decoder renames that key, so such a client's retries would miss its entry and be ordered twice.
    if (clientId === MEMBERSHIP_CLIENT_ID || clientId === '__proto__') {
      reply(envelope, { type: 'invalid-broadcast', detail: `client id ${clientId} is reserved` }, ctx);
      return count(state, 'invalid');
    }
    if (!isPrimary(state)) {
      const primary = state.status === 'normal' ? primaryOf(state.configuration, state.epoch) : null;
      reply(envelope, { type: 'not-primary', clientId, requestNumber, epoch: state.epoch, primary }, ctx);
      return count(state, 'notPrimary');
    }
    const size = jsonSize(message.op);
    if (
      size === undefined ||
      size > settings.opBytesMax ||
      clientId.length > clientIdLengthMax ||
      requestNumber < 1
    ) {
      const detail =
        size === undefined || size > settings.opBytesMax
          ? `op has no JSON form or is over opBytesMax (${settings.opBytesMax})`
          : `clientId over ${clientIdLengthMax} characters or requestNumber below 1`;
      reply(envelope, { type: 'invalid-broadcast', detail }, ctx);
      return count(state, 'invalid');
    }
    const known = lookup(state.clients, clientId);
    if (known !== undefined && requestNumber < known.requestNumber) {
      reply(
        envelope,
        {
          type: 'invalid-broadcast',
          detail: `request ${requestNumber} is older than ${known.requestNumber}`,
        },
        ctx,
      );
      return count(state, 'stale');
    }
    if (known !== undefined && requestNumber === known.requestNumber) {
      reply(
        envelope,
        { type: 'broadcast-committed', clientId, requestNumber, opNumber: known.opNumber },
        ctx,
      );
      return state;
    }
    const key = pendingKey(clientId, requestNumber);
    const waiting = lookup(state.pending, key);
    const prepared = entriesBetween(state, state.commitNumber, state.opNumber).find(
      (entry) => entry.clientId === clientId && entry.requestNumber === requestNumber,
    );
    if (prepared !== undefined) return addWaiter(state, key, waiting, prepared.opNumber, message, envelope);
    if (heardFromMajority(state) === false) {
      reply(envelope, { type: 'no-quorum', clientId, requestNumber, epoch: state.epoch }, ctx);
      return count(state, 'noQuorum');
    }
    if (state.opNumber - state.commitNumber >= settings.preparesInFlightMax) {
      reply(envelope, { type: 'busy', clientId, requestNumber, reason: 'prepares-in-flight' }, ctx);
      return count(state, 'busy');
    }
    if (Object.keys(state.pending).length >= settings.pendingRequestsMax) {
      reply(envelope, { type: 'busy', clientId, requestNumber, reason: 'pending-requests' }, ctx);
      return count(state, 'busy');
    }
    const entry: LogEntry = { opNumber: state.opNumber + 1, clientId, requestNumber, op: message.op };
    const appended: MemberState = {
      ...state,
      log: [...state.log, entry],
      opNumber: entry.opNumber,
      sentSinceTick: true,
      pending: {
        ...state.pending,
        [key]: { clientId, requestNumber, opNumber: entry.opNumber, waiters: [envelope], ticks: 0 },
      },
    };
    broadcastToPeers(
      appended,
      { type: 'prepare', epoch: state.epoch, entry, commitNumber: state.commitNumber },
      ctx,
    );
    return commitAsPrimary(appended, ctx);
  }

  function addWaiter(
    state: MemberState,
    key: string,
    waiting: PendingRequest | undefined,
    opNumber: number,
    message: Broadcast,
    envelope: Envelope,
  ): MemberState {
    if (waiting !== undefined && waiting.waiters.length >= waitersPerRequestMax) return state;
    if (waiting === undefined && Object.keys(state.pending).length >= settings.pendingRequestsMax)
      return state;
    const request: PendingRequest =
      waiting === undefined
        ? {
            clientId: message.clientId,
            requestNumber: message.requestNumber,
            opNumber,
            waiters: [envelope],
            ticks: 0,
          }
        : { ...waiting, waiters: [...waiting.waiters, envelope] };
    return { ...state, pending: { ...state.pending, [key]: request } };
  }

  function heardFromMajority(state: MemberState, withinTicks = env.suspicionTicks): boolean {
    const heard = peersOf(state).filter((peer) => (lookup(state.silentTicks, peer) ?? 0) < withinTicks);
    return heard.length + 1 >= majorityOf(state.configuration);
  }

  /**
   * Tells the local layer above (`notify`) when this member, as primary, stops or starts again
   * hearing from a majority within one tick less than the suspicion timeout: before the others,
   * not hearing from it for the whole timeout, start the view change that replaces it (a tick more
   * would make it stop too late; half, tried first, made a new primary in a scenario test stop and
   * resume right after its view change). A replication primary stops ordering while it does not:
   * cut off from its group, it would otherwise go on until its view changes, and a peer it can still
   * reach would act on positions its group's next primary orders otherwise.
   */
  function tellQuorum(state: MemberState, ctx: ActorContext): MemberState {
    if (options.notify === undefined) return state;
    // Only a primary's quorum matters (the layer above orders only there). A backup, a member
    // outside and one recovering (its layer above starts afresh) report `true`. A view change
    // keeps what was last told: a primary that stepped down because it heard no majority must not
    // order again before it is in a view again, and the view it installs is told at once
    // (`installNormal`).
    const heard =
      state.status === 'normal'
        ? !isPrimary(state) || heardFromMajority(state, Math.max(1, env.suspicionTicks - 1))
        : state.status === 'view-change'
          ? state.quorumTold
          : true;
    if (heard === state.quorumTold) return state;
    const notice: GroupQuorumNotice = {
      type: 'group-quorum',
      group: options.group,
      heardFromMajority: heard,
    };
    ctx.send(address(state.self, options.notify), notice);
    return { ...state, quorumTold: heard };
  }

  function onPrepare(state: MemberState, message: Prepare, from: NodeId, ctx: ActorContext): MemberState {
    if (!(state.status === 'normal' && message.epoch === state.epoch))
      return joinInstalledView(state, message.epoch, from, message.entry.opNumber, ctx);
    let next = state;
    const { entry } = message;
    if (entry.opNumber === next.opNumber + 1) {
      next = { ...next, log: [...next.log, entry], opNumber: entry.opNumber };
      sendTo(next, from, { type: 'prepare-ok', epoch: next.epoch, opNumber: next.opNumber }, ctx);
    } else if (entry.opNumber <= next.opNumber) {
      // A duplicate: our prepare-ok may have been lost, so say it again.
      sendTo(next, from, { type: 'prepare-ok', epoch: next.epoch, opNumber: next.opNumber }, ctx);
    } else {
      next = requestState(next, from, ctx, false);
    }
    return commitTo(next, Math.min(message.commitNumber, next.opNumber), ctx);
  }

  function onCommit(state: MemberState, message: Commit, from: NodeId, ctx: ActorContext): MemberState {
    if (!(state.status === 'normal' && message.epoch === state.epoch))
      return joinInstalledView(state, message.epoch, from, message.opNumber, ctx);
    let next = state;
    if (message.opNumber > next.opNumber) next = requestState(next, from, ctx, false);
    // Answer every heartbeat with a cumulative prepare-ok: it re-sends an ack that may have been
    // lost, and on an idle link it is how the primary knows a majority still hears it.
    sendTo(next, from, { type: 'prepare-ok', epoch: next.epoch, opNumber: next.opNumber }, ctx);
    return commitTo(next, Math.min(message.commitNumber, next.opNumber), ctx);
  }

  /**
   * A prepare or commit for an epoch we are not normal in. From the primary of a newer epoch (or of
   * the epoch we are changing to), it means the view was installed without our hearing the
   * start-view: adopt that view's log from its primary. Anything else is stale.
   */
  function joinInstalledView(
    state: MemberState,
    epoch: number,
    from: NodeId,
    targetOp: number,
    ctx: ActorContext,
  ): MemberState {
    if (state.status === 'recovering' || epoch < state.epoch) return count(state, 'stale');
    // Only the primary of an installed view sends prepares and heartbeats, but in a configuration
    // we may not know yet: the transfer that follows checks that the sender is that view's primary.
    return adopt(state, epoch, from, targetOp, ctx);
  }

  /**
   * At the primary: `from` follows this epoch, or is catching up with it (a recovery or a state
   * transfer takes longer than a tick): not a member to evict (`unackedTicks`).
   */
  function following(state: MemberState, from: NodeId): MemberState {
    if (!isPrimary(state) || (lookup(state.unackedTicks, from) ?? 0) === 0) return state;
    return { ...state, unackedTicks: { ...state.unackedTicks, [from]: 0 } };
  }

  function onPrepareOk(state: MemberState, message: PrepareOk, from: NodeId, ctx: ActorContext): MemberState {
    if (!isPrimary(state) || message.epoch !== state.epoch) return count(state, 'stale');
    const followed = following(state, from);
    const held = Math.min(message.opNumber, state.opNumber);
    if (held <= (lookup(followed.acks, from) ?? 0)) return followed;
    return commitAsPrimary({ ...followed, acks: { ...followed.acks, [from]: held } }, ctx);
  }

  /** Commits up to the highest op a majority (the primary included) holds. */
  function commitAsPrimary(state: MemberState, ctx: ActorContext): MemberState {
    const held = [state.opNumber, ...peersOf(state).map((peer) => lookup(state.acks, peer) ?? 0)].sort(
      (a, b) => b - a,
    );
    const quorumHolds = held[majorityOf(state.configuration) - 1] ?? 0;
    return quorumHolds > state.commitNumber ? commitTo(state, quorumHolds, ctx) : state;
  }

  /** Applies entries `commitNumber + 1 .. target` in order, answers their clients, trims the log. */
  function commitTo(state: MemberState, target: number, ctx: ActorContext): MemberState {
    if (target <= state.commitNumber) return state;
    let { appState, clients } = state;
    let pending = state.pending;
    let commitNumber = state.commitNumber;
    let reconfigured = state;
    for (let opNumber = state.commitNumber + 1; opNumber <= target; opNumber++) {
      const entry = entryAt(state, opNumber);
      if (entry === undefined) break;
      if (entry.change !== undefined) {
        reconfigured = commitChange(reconfigured, entry.change, opNumber, ctx);
        commitNumber = opNumber;
        continue;
      }
      const meta: DeliveryMeta = { opNumber, clientId: entry.clientId, requestNumber: entry.requestNumber };
      appState = env.application.apply(appState, entry.op, meta);
      clients = remember(clients, entry);
      commitNumber = opNumber;
      env.observer({ type: 'deliver', node: state.self, op: entry.op, ...meta });
      const key = pendingKey(entry.clientId, entry.requestNumber);
      const request = lookup(pending, key);
      if (request !== undefined) {
        for (const waiter of request.waiters)
          reply(
            waiter,
            {
              type: 'broadcast-committed',
              clientId: entry.clientId,
              requestNumber: entry.requestNumber,
              opNumber,
            },
            ctx,
          );
        const rest = { ...pending };
        delete rest[key];
        pending = rest;
      }
    }
    const committed = count(
      { ...reconfigured, appState, clients, commitNumber, pending },
      'committed',
      commitNumber - state.commitNumber,
    );
    return trimLog(committed);
  }

  /** A membership change commits: the next configuration (it takes effect at the next epoch). */
  function commitChange(
    state: MemberState,
    change: MembershipChange,
    opNumber: number,
    ctx: ActorContext,
  ): MemberState {
    const logConfiguration = applyChange(state.logConfiguration, change, opNumber);
    env.observer({
      type: 'reconfigured',
      node: state.self,
      opNumber,
      change,
      members: logConfiguration.members,
    });
    const waiting = state.reconfiguration;
    let reconfiguration = waiting;
    if (waiting !== null && waiting.opNumber === opNumber) {
      const answer: MembershipReply = {
        type: 'membership-committed',
        change: change.type,
        node: change.node,
        opNumber,
        members: logConfiguration.members,
      };
      for (const waiter of waiting.waiters) reply(waiter, answer, ctx);
      reconfiguration = null;
    }
    return count(
      { ...state, logConfiguration, known: newer(state.known, logConfiguration), reconfiguration },
      'reconfigurations',
    );
  }

  /** Records a committed request in the client table, forgetting the least recent client past the bound. */
  function remember(
    clients: Readonly<Record<string, ClientRecord>>,
    entry: LogEntry,
  ): Record<string, ClientRecord> {
    const known = lookup(clients, entry.clientId);
    const next: Record<string, ClientRecord> = { ...clients };
    if (known === undefined || entry.requestNumber > known.requestNumber)
      setEntry(next, entry.clientId, { requestNumber: entry.requestNumber, opNumber: entry.opNumber });
    const ids = Object.keys(next);
    if (ids.length <= settings.clientsMax) return next;
    let oldest = ids[0]!;
    for (const id of ids) if (next[id]!.opNumber < next[oldest]!.opNumber) oldest = id;
    delete next[oldest];
    return next;
  }

  /** Keeps between `snapshotEveryOps` and twice as many committed entries for lagging members. */
  function trimLog(state: MemberState): MemberState {
    if (state.commitNumber - state.logStart < 2 * settings.snapshotEveryOps) return state;
    const logStart = state.commitNumber - settings.snapshotEveryOps;
    return { ...state, log: state.log.slice(logStart - state.logStart), logStart };
  }

  function commitMessage(state: MemberState): Commit {
    return { type: 'commit', epoch: state.epoch, commitNumber: state.commitNumber, opNumber: state.opNumber };
  }

  // ---------------------------------------------------------------------------------------------
  // Reconfiguration: joins and leaves through the log, one at a time.

  function onMembershipRequest(
    state: MemberState,
    message: MembershipRequest,
    envelope: Envelope,
    ctx: ActorContext,
  ): MemberState {
    const isRequest = envelope.kind === 'async-request' || envelope.kind === 'sync-request';
    const answer = (body: MembershipReply) => {
      if (isRequest) reply(envelope, body, ctx);
    };
    if (!isNodeId(message.node)) {
      answer({ type: 'invalid-membership', detail: `invalid node id ${JSON.stringify(message.node)}` });
      return count(state, 'invalid');
    }
    const change: MembershipChange = { type: message.type, node: nodeId(message.node) };
    const { type, node } = change;
    if (!isPrimary(state)) {
      const primary = state.status === 'normal' ? primaryOf(state.configuration, state.epoch) : null;
      answer({ type: 'not-primary', change: type, node, epoch: state.epoch, primary });
      return count(state, 'notPrimary');
    }
    const refusal = proposeRefusal(state, change);
    if (refusal !== undefined) {
      answer(refusal);
      return refusal.type === 'busy' ? count(state, 'busy') : state;
    }
    const waiting = state.reconfiguration;
    if (waiting !== null && sameChange(waiting.change, change)) {
      if (!isRequest || waiting.waiters.length >= waitersPerRequestMax) return state;
      return { ...state, reconfiguration: { ...waiting, waiters: [...waiting.waiters, envelope] } };
    }
    const pendingChange = uncommittedChange(state);
    if (pendingChange !== undefined) {
      // A change from an earlier view, still uncommitted: once it commits, ask again.
      answer({ type: 'busy', change: type, node, reason: 'reconfiguration-in-progress' });
      return count(state, 'busy');
    }
    if (!heardFromMajority(state)) {
      answer({ type: 'no-quorum', change: type, node, epoch: state.epoch });
      return count(state, 'noQuorum');
    }
    return appendChange(state, change, isRequest ? [envelope] : [], ctx);
  }

  /**
   * Why a change cannot be proposed now, as the reply to give (undefined: it can). A change that
   * is already in effect is answered as committed, so an operator's retry is harmless.
   */
  function proposeRefusal(state: MemberState, change: MembershipChange): MembershipReply | undefined {
    const { type, node } = change;
    const waiting = state.reconfiguration;
    if (waiting !== null && !sameChange(waiting.change, change))
      return { type: 'busy', change: type, node, reason: 'reconfiguration-in-progress' };
    if (waiting !== null || uncommittedChange(state) !== undefined) return undefined;
    const committed = state.logConfiguration;
    const isMember = committed.members.includes(node);
    if ((type === 'join') === isMember)
      return {
        type: 'membership-committed',
        change: type,
        node,
        opNumber: committed.version,
        members: committed.members,
      };
    if (type === 'leave' && committed.members.length === 1)
      return { type: 'invalid-membership', detail: `cannot remove ${node}, the last member` };
    // One change at a time: the previous one must have taken effect (its epoch installed) first,
    // so that every configuration differs from the one it is proposed in by one member.
    if (
      state.known.version !== state.configurationVersion ||
      committed.version !== state.configurationVersion
    )
      return { type: 'busy', change: type, node, reason: 'reconfiguration-in-progress' };
    if (state.opNumber - state.commitNumber >= settings.preparesInFlightMax)
      return { type: 'busy', change: type, node, reason: 'prepares-in-flight' };
    return undefined;
  }

  function sameChange(a: MembershipChange, b: MembershipChange): boolean {
    return a.type === b.type && a.node === b.node;
  }

  /** Orders a change like any op: next op number, persist, prepare to the backups. */
  function appendChange(
    state: MemberState,
    change: MembershipChange,
    waiters: readonly Envelope[],
    ctx: ActorContext,
  ): MemberState {
    const entry: LogEntry = {
      opNumber: state.opNumber + 1,
      clientId: MEMBERSHIP_CLIENT_ID,
      requestNumber: 0,
      op: null,
      change,
    };
    const appended: MemberState = {
      ...state,
      log: [...state.log, entry],
      opNumber: entry.opNumber,
      sentSinceTick: true,
      reconfiguration: { opNumber: entry.opNumber, change, waiters, ticks: 0 },
    };
    broadcastToPeers(
      appended,
      { type: 'prepare', epoch: state.epoch, entry, commitNumber: state.commitNumber },
      ctx,
    );
    return commitAsPrimary(appended, ctx);
  }

  /**
   * A local actor (the replication layer) reports a diverged replica: remember it, and submit a
   * `leave` for it now and on every tick until it is out of the configuration.
   */
  function onRemoveMember(
    state: MemberState,
    message: RemoveMember,
    envelope: Envelope,
    ctx: ActorContext,
  ): MemberState {
    if (envelope.id.origin !== state.self || !isNodeId(message.node)) return count(state, 'invalid');
    const node = nodeId(message.node);
    if (!state.known.members.includes(node) || state.removals.includes(node)) return state;
    // Bounded: only members can be queued, each once.
    return submitRemovals({ ...state, removals: [...state.removals, node] }, ctx);
  }

  /**
   * A local actor (the replication layer) says this node cannot serve as primary of `epoch` (its
   * replica has no state yet): the primary hands over by starting the view change to the next
   * epoch, as it does when it leaves. Anything else (not primary, another epoch, a view change under
   * way) is a late or repeated request and changes nothing.
   */
  function onStepDown(
    state: MemberState,
    message: StepDown,
    envelope: Envelope,
    ctx: ActorContext,
  ): MemberState {
    if (envelope.id.origin !== state.self) return count(state, 'invalid');
    if (!isPrimary(state) || message.epoch !== state.epoch) return count(state, 'stale');
    // Alone in its configuration, the next epoch's primary is itself again: handing over would
    // only install the same view, whose layer above would ask again, in a loop with no end.
    if (state.configuration.length === 1) return count(state, 'stale');
    env.observer({ type: 'stepped-down', node: state.self, epoch: state.epoch, reason: message.reason });
    return count(startViewChange(state, state.epoch + 1, ctx), 'stepDowns');
  }

  /** The primary proposes the first queued removal; a backup forwards them to the primary. */
  function submitRemovals(state: MemberState, ctx: ActorContext): MemberState {
    const removals = state.removals.filter((node) => state.known.members.includes(node));
    const next = removals.length === state.removals.length ? state : { ...state, removals };
    const first = removals[0];
    if (first === undefined || next.status !== 'normal') return next;
    const change: MembershipChange = { type: 'leave', node: first };
    if (!isPrimary(next)) {
      for (const node of removals)
        ctx.send(address(primaryOf(next.configuration, next.epoch), env.actorName), {
          type: 'leave',
          node,
        } satisfies MembershipRequest);
      return next;
    }
    if (next.reconfiguration !== null || proposeRefusal(next, change) !== undefined) return next;
    if (uncommittedChange(next) !== undefined || !heardFromMajority(next)) return next;
    return appendChange(next, change, [], ctx);
  }

  // ---------------------------------------------------------------------------------------------
  // autoMembership: views that exclude crashed members. Both halves use the reconfiguration path
  // above (one change at a time, through the log), so they keep its safety argument unchanged.

  /**
   * The primary proposes `leave` for the first member (by rank) it has not heard from for
   * `evictAfterMs`. It must itself have been primary that long, because a new primary's silence
   * counts are what it saw as a backup, when it heard from nobody but its primary. Never below
   * `membersMin`, never itself, one change at a time, and only with a majority to commit it.
   */
  function evictSilent(state: MemberState, ctx: ActorContext): MemberState {
    if (!settings.autoMembership || state.statusTicks < env.evictTicks) return state;
    if (state.configuration.length <= settings.membersMin) return state;
    // Not following, rather than silent: a member that cannot hear the primary acknowledges
    // nothing, though it may still send (pre-votes), and the layers above would wait for it.
    const silent = peersOf(state).find((peer) => (lookup(state.unackedTicks, peer) ?? 0) >= env.evictTicks);
    if (silent === undefined) return state;
    const change: MembershipChange = { type: 'leave', node: silent };
    if (state.reconfiguration !== null || proposeRefusal(state, change) !== undefined) return state;
    if (uncommittedChange(state) !== undefined || !heardFromMajority(state)) return state;
    env.observer({ type: 'membership-asked', node: state.self, change });
    return count(appendChange(state, change, [], ctx), 'evictions');
  }

  /**
   * A node outside the group asks to join, every `rejoinRetryMs` from the first tick out, until a
   * configuration that includes it reaches it (then the existing join path takes over: view
   * change, state transfer, view notice).
   */
  function tickOutside(state: MemberState, ctx: ActorContext): MemberState {
    if (!settings.autoMembership || (state.statusTicks - 1) % env.rejoinTicks !== 0) return state;
    for (const target of rejoinTargets(state)) requestJoin(state, target, ctx);
    env.observer({ type: 'membership-asked', node: state.self, change: { type: 'join', node: state.self } });
    return count(state, 'rejoinRequests');
  }

  /**
   * Everyone it knows of: the newest configuration, its last epoch's, the spawn list and the last
   * primary hint. Bounded by those lists; only the primary acts on a join, the rest say who it is.
   */
  function rejoinTargets(state: MemberState): NodeId[] {
    const hint = state.rejoinHint === null ? [] : [state.rejoinHint];
    const all = [...state.known.members, ...state.configuration, ...configuration, ...hint];
    return [...new Set(all)].filter((node) => node !== state.self);
  }

  function requestJoin(state: MemberState, target: NodeId, ctx: ActorContext): void {
    const request: MembershipRequest = { type: 'join', node: state.self };
    ctx.request(address(target, env.actorName), request);
  }

  /** A `not-primary` answer naming a primary we did not ask yet: ask it now, and on every retry. */
  function onJoinReply(state: MemberState, envelope: Envelope, ctx: ActorContext): MemberState {
    if (state.status !== 'outside') return state;
    const hint = joinHintOf(envelope.body, state.self);
    if (hint === undefined || hint === state.self || hint === state.rejoinHint) return state;
    if (!rejoinTargets(state).includes(hint)) requestJoin(state, hint, ctx);
    return { ...state, rejoinHint: hint };
  }

  function noQuorumReply(state: MemberState, request: PendingRequest): BroadcastReply {
    return {
      type: 'no-quorum',
      clientId: request.clientId,
      requestNumber: request.requestNumber,
      epoch: state.epoch,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // View change.

  /**
   * Leaves the current status for a view change to `epoch`, voting in the newest configuration it
   * knows: clients (and operators) waiting here are told to go elsewhere.
   */
  function enterViewChange(state: MemberState, epoch: number, ctx: ActorContext): MemberState {
    for (const request of Object.values(state.pending))
      for (const waiter of request.waiters) {
        const { clientId, requestNumber } = request;
        reply(waiter, { type: 'not-primary', clientId, requestNumber, epoch, primary: null }, ctx);
      }
    const { type: change, node } = state.reconfiguration?.change ?? { type: 'join', node: state.self };
    for (const waiter of state.reconfiguration?.waiters ?? [])
      reply(waiter, { type: 'not-primary', change, node, epoch, primary: null }, ctx);
    return {
      ...state,
      status: 'view-change',
      epoch,
      configuration: state.known.members,
      configurationVersion: state.known.version,
      reconfiguration: null,
      statusTicks: 0,
      viewChange: { startViewChangeFrom: [], doViewChanges: {}, doViewChangeSent: false },
      recovery: null,
      fetch: null,
      transfer: null,
      pending: {},
      acks: {},
      unackedTicks: {},
      preVote: null,
    };
  }

  function startViewChange(state: MemberState, epoch: number, ctx: ActorContext): MemberState {
    const next = count(enterViewChange(state, epoch, ctx), 'viewChangesStarted');
    broadcastToPeers(next, startViewChangeMessage(next, epoch), ctx);
    return sendDoViewChangeIfAgreed(next, ctx);
  }

  function startViewChangeMessage(state: MemberState, epoch: number): StartViewChange {
    return { type: 'start-view-change', epoch, configuration: epochConfiguration(state) };
  }

  /**
   * A start-view-change (or do-view-change) for `epoch` in `configuration` from `from`: join, then
   * count the vote if it is for the same configuration as ours. Before our own do-view-change went
   * out we may still switch to a newer configuration (learned from this very message). Undefined:
   * the message changes nothing here. A state without a view change in progress: joining completed
   * the view change at once (this member alone is a majority of its configuration), and the caller
   * must keep that state, since the new view was reported and its ops delivered.
   */
  function joinViewChange(
    state: MemberState,
    epoch: number,
    configuration: Configuration,
    from: NodeId,
    ctx: ActorContext,
  ): MemberState | undefined {
    let next = state;
    if (epoch > state.epoch || (epoch === state.epoch && state.status === 'recovering'))
      next = startViewChange(state, epoch, ctx);
    else if (
      epoch === state.epoch &&
      state.status === 'view-change' &&
      state.viewChange?.doViewChangeSent === false &&
      state.known.version > state.configurationVersion
    )
      next = startViewChange(state, epoch, ctx);
    // `startViewChange` told the peers and may have installed the new view already: what it
    // returns is kept whatever follows. Returning undefined here once made the caller keep the
    // state from before, so a member alone in its new configuration reported a view it was not in,
    // installed it again later and delivered its ops twice (the group sweep, seed 116103).
    if (next !== state && (next.status !== 'view-change' || epoch !== next.epoch || next.viewChange === null))
      return next;
    if (next.status !== 'view-change' || epoch !== next.epoch || next.viewChange === null) return undefined;
    if (configuration.version !== next.configurationVersion || !next.configuration.includes(from)) {
      if (configuration.version < next.known.version) {
        sendTo(next, from, { type: 'new-configuration', configuration: next.known }, ctx);
        return count(next, 'notices');
      }
      return next;
    }
    const voters = next.viewChange.startViewChangeFrom;
    if (voters.includes(from)) return next;
    return { ...next, viewChange: { ...next.viewChange, startViewChangeFrom: [...voters, from] } };
  }

  function onStartViewChange(
    state: MemberState,
    message: StartViewChange,
    from: NodeId,
    ctx: ActorContext,
  ): MemberState {
    const joined = joinViewChange(state, message.epoch, message.configuration, from, ctx);
    return joined === undefined ? count(state, 'stale') : sendDoViewChangeIfAgreed(joined, ctx);
  }

  function doViewChangeMessage(state: MemberState): DoViewChange {
    return {
      type: 'do-view-change',
      epoch: state.epoch,
      lastNormalEpoch: state.lastNormalEpoch,
      opNumber: state.opNumber,
      commitNumber: state.commitNumber,
      configuration: epochConfiguration(state),
      entries: entriesBetween(state, state.commitNumber, state.opNumber),
    };
  }

  /** With a majority (itself included) agreeing to change, a member sends its log to the new primary. */
  function sendDoViewChangeIfAgreed(state: MemberState, ctx: ActorContext): MemberState {
    const progress = state.viewChange;
    if (progress === null || progress.doViewChangeSent) return state;
    // A primary that is leaving starts the view change in the new configuration but has no vote.
    if (!state.configuration.includes(state.self)) return state;
    if (progress.startViewChangeFrom.length + 1 < majorityOf(state.configuration)) return state;
    const message = doViewChangeMessage(state);
    const primary = primaryOf(state.configuration, state.epoch);
    const sent = { ...progress, doViewChangeSent: true };
    if (primary !== state.self) {
      sendTo(state, primary, message, ctx);
      return { ...state, viewChange: sent };
    }
    const own = { ...sent, doViewChanges: { ...sent.doViewChanges, [state.self]: message } };
    return startViewIfReady({ ...state, viewChange: own }, ctx);
  }

  function onDoViewChange(
    state: MemberState,
    message: DoViewChange,
    from: NodeId,
    ctx: ActorContext,
  ): MemberState {
    const joined = joinViewChange(state, message.epoch, message.configuration, from, ctx);
    if (joined === undefined) return count(state, 'stale');
    // Joining completed the view change (this member alone is a majority): the message is late.
    if (joined.viewChange === null) return count(joined, 'stale');
    const voted = sendDoViewChangeIfAgreed(joined, ctx);
    if (voted.viewChange === null || primaryOf(voted.configuration, voted.epoch) !== voted.self) return voted;
    // Only votes for our configuration count toward the majority.
    if (message.configuration.version !== voted.configurationVersion || !voted.configuration.includes(from))
      return voted;
    const progress = {
      ...voted.viewChange,
      doViewChanges: { ...voted.viewChange.doViewChanges, [from]: message },
    };
    return startViewIfReady({ ...voted, viewChange: progress }, ctx);
  }

  /** The do-view-change with the most up-to-date log: latest normal epoch, then longest log. */
  function bestLog(progress: NonNullable<MemberState['viewChange']>): [NodeId, DoViewChange] | undefined {
    let best: [NodeId, DoViewChange] | undefined;
    for (const [member, candidate] of Object.entries(progress.doViewChanges).sort(([a], [b]) =>
      a < b ? -1 : 1,
    )) {
      if (
        best === undefined ||
        candidate.lastNormalEpoch > best[1].lastNormalEpoch ||
        (candidate.lastNormalEpoch === best[1].lastNormalEpoch && candidate.opNumber > best[1].opNumber)
      )
        best = [member as NodeId, candidate];
    }
    return best;
  }

  /**
   * The new primary, with do-view-changes from a majority (its own included), adopts the best log.
   * The messages carry only uncommitted suffixes, so when the best log's committed prefix reaches
   * past ours, we first fetch those committed entries (or a snapshot) from its sender.
   */
  function startViewIfReady(state: MemberState, ctx: ActorContext): MemberState {
    const progress = state.viewChange;
    if (progress === null) return state;
    if (lookup(progress.doViewChanges, state.self) === undefined) return state;
    if (Object.keys(progress.doViewChanges).length < majorityOf(state.configuration)) return state;
    const best = bestLog(progress);
    if (best === undefined) return state;
    const [bestMember, bestMessage] = best;
    const transfer = state.transfer?.purpose === 'catch-up' ? state.transfer : null;
    const committedUpTo = transfer === null ? state.commitNumber : transferEnd(state, transfer);
    if (bestMessage.commitNumber > committedUpTo) {
      if (transfer !== null && transfer.from === bestMember) return state;
      const target = {
        purpose: 'catch-up',
        from: bestMember,
        epoch: state.epoch,
        targetOp: bestMessage.commitNumber,
      } as const;
      return beginTransfer(state, target, ctx);
    }
    // The view is ours: now, and only now, the uncommitted suffix of our own log may go.
    let base = transfer === null ? truncateToCommit(state) : applyTransfer(state, transfer);
    base = commitTo(base, base.opNumber, ctx);
    const commitNumber = Math.max(
      ...Object.values(progress.doViewChanges).map((message) => message.commitNumber),
    );
    const suffix = bestMessage.entries.filter((entry) => entry.opNumber > base.commitNumber);
    const adopted: MemberState = {
      ...base,
      log: [...base.log, ...suffix],
      opNumber: base.opNumber + suffix.length,
    };
    const installed = commitTo(
      installNormal(adopted, state.epoch, epochConfiguration(state), ctx),
      commitNumber,
      ctx,
    );
    broadcastToPeers(
      installed,
      {
        type: 'start-view',
        epoch: installed.epoch,
        opNumber: installed.opNumber,
        commitNumber: installed.commitNumber,
        configuration: epochConfiguration(installed),
        entries: entriesBetween(installed, installed.commitNumber, installed.opNumber),
      },
      ctx,
    );
    return commitAsPrimary({ ...installed, sentSinceTick: true }, ctx);
  }

  /** Enters normal status in `epoch` of `configuration` (as primary or backup) and reports the view. */
  function installNormal(
    state: MemberState,
    epoch: number,
    configuration: Configuration,
    ctx: ActorContext,
  ): MemberState {
    const view = viewOf(configuration.members, epoch);
    const installed = count(
      {
        ...state,
        status: 'normal',
        epoch,
        configuration: configuration.members,
        configurationVersion: configuration.version,
        known: newer(state.known, configuration),
        lastNormalEpoch: epoch,
        statusTicks: 0,
        viewChange: null,
        recovery: null,
        fetch: null,
        transfer: null,
        acks: {},
        unackedTicks: {},
        preVote: null,
        silentTicks: { ...state.silentTicks, [view.primary]: 0 },
      },
      'viewsInstalled',
    );
    reportView(installed, ctx);
    return tellQuorum(installed, ctx);
  }

  function onStartView(state: MemberState, message: StartView, from: NodeId, ctx: ActorContext): MemberState {
    if (message.epoch < state.epoch || (message.epoch === state.epoch && state.status === 'normal'))
      return count(state, 'stale');
    const { configuration } = message;
    if (
      from !== primaryOf(configuration.members, message.epoch) ||
      !configuration.members.includes(state.self)
    )
      return count(state, 'invalid');
    // Our committed prefix agrees with every log, and the message carries the new log past the new
    // primary's commit point. If ours is behind that point, this message cannot complete our log:
    // fetch the view's log whole (keeping ours intact meanwhile).
    const lastGiven = message.entries.at(-1)?.opNumber ?? message.commitNumber;
    if (message.commitNumber > state.commitNumber || lastGiven < message.opNumber)
      return adopt(state, message.epoch, from, message.opNumber, ctx);
    const base = truncateToCommit(state);
    const suffix = message.entries.filter((entry) => entry.opNumber > state.commitNumber);
    const adopted: MemberState = {
      ...base,
      log: [...base.log, ...suffix],
      opNumber: base.opNumber + suffix.length,
    };
    const installed = installNormal(adopted, message.epoch, configuration, ctx);
    const next = commitTo(installed, Math.min(message.commitNumber, adopted.opNumber), ctx);
    sendTo(next, from, { type: 'prepare-ok', epoch: next.epoch, opNumber: next.opNumber }, ctx);
    return next;
  }

  // ---------------------------------------------------------------------------------------------
  // Recovery.

  function onRecovery(state: MemberState, message: Recovery, from: NodeId, ctx: ActorContext): MemberState {
    if (state.status !== 'normal') return state;
    state = following(state, from);
    const response: RecoveryResponse = {
      type: 'recovery-response',
      nonce: message.nonce,
      epoch: state.epoch,
      opNumber: state.opNumber,
      commitNumber: state.commitNumber,
      primary: isPrimary(state),
      configuration: epochConfiguration(state),
    };
    sendTo(state, from, response, ctx);
    return state;
  }

  function onRecoveryResponse(
    state: MemberState,
    message: RecoveryResponse,
    from: NodeId,
    ctx: ActorContext,
  ): MemberState {
    if (state.status !== 'recovering' || state.recovery === null || message.nonce !== state.recovery.nonce)
      return count(state, 'stale');
    const recovery = { ...state.recovery, responses: { ...state.recovery.responses, [from]: message } };
    const next: MemberState = { ...state, recovery };
    const responses = Object.values(recovery.responses);
    const latest = Math.max(...responses.map((response) => response.epoch));
    // The latest epoch's configuration decides the majority and the primary (it may be newer than ours).
    const latestConfiguration = responses.find((response) => response.epoch === latest)!.configuration;
    const members = latestConfiguration.members;
    const heard = Object.keys(recovery.responses).filter((member) => members.includes(member as NodeId));
    if (heard.length + 1 < majorityOf(members) || !members.includes(state.self)) return next;
    const primary = primaryOf(members, latest);
    // We were the primary of the latest view and lost our volatile state: hand over at once.
    if (primary === state.self || latest < state.epoch)
      return startViewChange(next, Math.max(latest, state.epoch) + 1, ctx);
    const answer = lookup(recovery.responses, primary);
    if (answer === undefined || !answer.primary || answer.epoch !== latest) return next;
    // In the same epoch our log is a prefix of the primary's. After a view change we missed, it may
    // not be: adopt the current view's log whole.
    if (!(latest === state.epoch && state.lastNormalEpoch === state.epoch))
      return adopt(next, latest, primary, answer.opNumber, ctx);
    let recovered = installNormal(next, latest, latestConfiguration, ctx);
    recovered = commitTo(recovered, Math.min(answer.commitNumber, recovered.opNumber), ctx);
    sendTo(recovered, primary, { type: 'prepare-ok', epoch: latest, opNumber: recovered.opNumber }, ctx);
    if (answer.opNumber > recovered.opNumber) recovered = requestState(recovered, primary, ctx, false);
    return recovered;
  }

  // ---------------------------------------------------------------------------------------------
  // State transfer.

  /** Asks `from` for what follows our log; `force` resends even when a request is outstanding. */
  function requestState(state: MemberState, from: NodeId, ctx: ActorContext, force: boolean): MemberState {
    if (!force && state.fetch !== null && state.fetch.from === from) return state;
    sendTo(
      state,
      from,
      { type: 'get-state', epoch: state.epoch, fromOp: state.opNumber } satisfies GetState,
      ctx,
    );
    return count({ ...state, fetch: { from, ticks: 0 } }, 'fetches');
  }

  function onGetState(state: MemberState, message: GetState, from: NodeId, ctx: ActorContext): MemberState {
    if (state.status === 'recovering') return state;
    state = following(state, from);
    // Only the primary of the asker's epoch vouches for uncommitted entries; anyone for committed ones.
    const fromPrimary = isPrimary(state) && message.epoch === state.epoch;
    const limit = fromPrimary ? state.opNumber : state.commitNumber;
    let snapshot: GroupSnapshot | undefined;
    let after = message.fromOp;
    let next = state;
    if (message.fromOp < state.logStart) {
      snapshot = {
        opNumber: state.commitNumber,
        appState: state.appState,
        clients: state.clients,
        configuration: state.logConfiguration,
      };
      const size = jsonSize(snapshot);
      if (size === undefined || size > settings.snapshotBytesMax) return count(state, 'snapshotsTooLarge');
      after = state.commitNumber;
      next = count(next, 'snapshotsSent');
    }
    const entries = entriesBetween(state, after, Math.min(limit, after + settings.entriesPerMessageMax));
    const response: NewState = {
      type: 'new-state',
      epoch: state.epoch,
      fromPrimary,
      opNumber: state.opNumber,
      commitNumber: state.commitNumber,
      configuration: epochConfiguration(state),
      ...(snapshot === undefined ? {} : { snapshot }),
      entries,
    };
    sendTo(state, from, response, ctx);
    return next;
  }

  function onNewState(state: MemberState, message: NewState, from: NodeId, ctx: ActorContext): MemberState {
    if (state.fetch === null || state.fetch.from !== from) return count(state, 'stale');
    if (state.transfer !== null && state.transfer.from === from) return onTransferState(state, message, ctx);
    if (state.status === 'normal' && message.fromPrimary && message.epoch === state.epoch)
      return catchUpAsBackup(state, message, from, ctx);
    return count(state, 'stale');
  }

  /** Starts fetching a log to replace ours (see `Transfer`). */
  function beginTransfer(
    state: MemberState,
    target: Pick<Transfer, 'purpose' | 'from' | 'epoch' | 'targetOp'>,
    ctx: ActorContext,
  ): MemberState {
    return fetchTransfer({ ...state, transfer: { ...target, snapshot: null, entries: [] } }, ctx);
  }

  function fetchTransfer(state: MemberState, ctx: ActorContext): MemberState {
    const transfer = state.transfer;
    if (transfer === null) return state;
    const fromOp = transferEnd(state, transfer);
    sendTo(state, transfer.from, { type: 'get-state', epoch: transfer.epoch, fromOp }, ctx);
    return count({ ...state, fetch: { from: transfer.from, ticks: 0 } }, 'fetches');
  }

  function onTransferState(state: MemberState, message: NewState, ctx: ActorContext): MemberState {
    const transfer = state.transfer;
    if (transfer === null) return state;
    // Adopting a view takes the log of that view's primary only; a catch-up takes committed entries only.
    if (transfer.purpose === 'adopt' && !(message.fromPrimary && message.epoch === transfer.epoch))
      return count(state, 'stale');
    let held: Transfer = transfer;
    if (message.snapshot !== undefined && message.snapshot.opNumber > transferEnd(state, held))
      held = { ...held, snapshot: message.snapshot, entries: [] };
    const end = transferEnd(state, held);
    const limit = transfer.purpose === 'catch-up' ? message.commitNumber : message.opNumber;
    const fresh = message.entries.filter((entry) => entry.opNumber > end && entry.opNumber <= limit);
    if (fresh.length > 0 && fresh[0]!.opNumber === end + 1)
      held = { ...held, entries: [...held.entries, ...fresh] };
    // Progress restarts the view-change timeout: a long transfer is not a stuck view change.
    const progressed = transferEnd(state, held) > transferEnd(state, transfer);
    const next: MemberState = {
      ...state,
      fetch: null,
      transfer: held,
      statusTicks: progressed ? 0 : state.statusTicks,
    };
    if (transferEnd(next, held) < held.targetOp) return fetchTransfer(next, ctx);
    if (held.purpose === 'catch-up') return startViewIfReady(next, ctx);
    const adopted = applyTransfer(next, held);
    let installed = installNormal(adopted, held.epoch, message.configuration, ctx);
    installed = commitTo(installed, Math.min(message.commitNumber, installed.opNumber), ctx);
    sendTo(
      installed,
      held.from,
      { type: 'prepare-ok', epoch: installed.epoch, opNumber: installed.opNumber },
      ctx,
    );
    return installed;
  }

  /** Replaces everything past our commit point with a complete transfer. */
  function applyTransfer(state: MemberState, transfer: Transfer): MemberState {
    let base = truncateToCommit({ ...state, transfer: null, fetch: null });
    if (transfer.snapshot !== null) base = installSnapshot(base, transfer.snapshot);
    return appendConsecutive(base, transfer.entries, Number.MAX_SAFE_INTEGER);
  }

  /**
   * Joins the installed view `epoch` of primary `from`: fetches its log up to `targetOp` and swaps
   * it in whole. Until then the member is in view-change status for `epoch` with its old log.
   */
  function adopt(
    state: MemberState,
    epoch: number,
    from: NodeId,
    targetOp: number,
    ctx: ActorContext,
  ): MemberState {
    if (state.transfer?.purpose === 'adopt' && state.transfer.epoch === epoch) return state;
    const entered = enterViewChange(state, epoch, ctx);
    return beginTransfer(entered, { purpose: 'adopt', from, epoch, targetOp }, ctx);
  }

  function installSnapshot(state: MemberState, snapshot: GroupSnapshot): MemberState {
    if (snapshot.opNumber <= state.commitNumber) return state;
    // Entries past the snapshot are a prefix of the sender's log: keep them.
    const kept = state.log.filter((entry) => entry.opNumber > snapshot.opNumber);
    env.observer({ type: 'snapshot-installed', node: state.self, opNumber: snapshot.opNumber });
    return count(
      {
        ...state,
        appState: snapshot.appState,
        clients: snapshot.clients,
        logConfiguration: snapshot.configuration,
        known: newer(state.known, snapshot.configuration),
        commitNumber: snapshot.opNumber,
        logStart: snapshot.opNumber,
        log: kept,
        opNumber: Math.max(state.opNumber, snapshot.opNumber),
      },
      'snapshotsInstalled',
    );
  }

  function appendConsecutive(state: MemberState, entries: readonly LogEntry[], upTo: number): MemberState {
    const fresh = entries.filter((entry) => entry.opNumber > state.opNumber && entry.opNumber <= upTo);
    if (fresh.length === 0 || fresh[0]!.opNumber !== state.opNumber + 1) return state;
    return { ...state, log: [...state.log, ...fresh], opNumber: fresh[fresh.length - 1]!.opNumber };
  }

  function catchUpAsBackup(
    state: MemberState,
    message: NewState,
    from: NodeId,
    ctx: ActorContext,
  ): MemberState {
    let next = message.snapshot === undefined ? state : installSnapshot(state, message.snapshot);
    next = appendConsecutive(next, message.entries, message.opNumber);
    next = commitTo({ ...next, fetch: null }, Math.min(message.commitNumber, next.opNumber), ctx);
    sendTo(next, from, { type: 'prepare-ok', epoch: next.epoch, opNumber: next.opNumber }, ctx);
    return next.opNumber < message.opNumber ? requestState(next, from, ctx, true) : next;
  }

  return { initial, restore, handle, settings, configuration };
}

/**
 * The group member behavior. Spawn it on every member node as `memberActorName(group)`, with no
 * input; after a restart pass the state it last persisted as `restored`.
 */
export function groupMember<AppState>(options: GroupMemberOptions<AppState>): ActorBehavior {
  const core = groupMemberCore(options);
  return defineActor<MemberState>({
    kind: GROUP_MEMBER_KIND,
    initial: (ctx) => core.initial(ctx),
    handle: (state, input, ctx) => core.handle(state, input, ctx),
    restore: (persisted, ctx) => core.restore(persisted, ctx),
  });
}
