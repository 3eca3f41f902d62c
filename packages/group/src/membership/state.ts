/**
 * The state of a group member and the small pure helpers over it: the configuration's ranks and
 * quorums, the log window, the client table. Plain data throughout: the runtime hashes it into
 * traces and `ctx.persist()` saves it. The durable part (epoch, status, log, commit point,
 * application state, client table) is what a restart resumes from; the rest is volatile and reset
 * on restore.
 */
import type { Envelope, NodeId } from '@steadfast/wire';
import type {
  ClientRecord,
  Configuration,
  DoViewChange,
  GroupSnapshot,
  LogEntry,
  MembershipChange,
  RecoveryResponse,
} from './messages.js';

/**
 * `outside`: the member is not in the newest configuration it knows (it left, was removed, or is
 * a spare that has not been asked to join yet). It takes part in nothing until a newer
 * configuration that includes it reaches it.
 */
export type MemberStatus = 'normal' | 'view-change' | 'recovering' | 'outside';

/** A view: its epoch, the members in rank order for this epoch, and the primary (rank 0). */
export interface View {
  readonly epoch: number;
  readonly members: readonly NodeId[];
  readonly primary: NodeId;
}

export interface ViewChangeProgress {
  /** Members whose start-view-change (or do-view-change) for this epoch arrived. */
  readonly startViewChangeFrom: readonly NodeId[];
  /** At the new primary: the do-view-change messages received, its own included. */
  readonly doViewChanges: Readonly<Record<string, DoViewChange>>;
  readonly doViewChangeSent: boolean;
}

/**
 * A log being fetched to replace ours, held aside until it is complete so that the log is only
 * ever replaced whole (VR's rule: a member's log is always some primary's log, never a mix). Until
 * then the member's own log stays intact: if the transfer fails, the next view change may need an
 * entry only it holds.
 * - `catch-up`: the new primary fetches committed entries (or a snapshot) from the best log's sender.
 * - `adopt`: a member joining an installed view fetches that view's log from its primary.
 */
export interface Transfer {
  readonly purpose: 'catch-up' | 'adopt';
  readonly from: NodeId;
  readonly epoch: number;
  /** Complete once it holds state up to this op. */
  readonly targetOp: number;
  readonly snapshot: GroupSnapshot | null;
  /** Entries after the snapshot (or after our own commit point), consecutive. */
  readonly entries: readonly LogEntry[];
}

/** The op number up to which a transfer holds state. */
export function transferEnd(state: MemberState, transfer: Transfer): number {
  return Math.max(state.commitNumber, transfer.snapshot?.opNumber ?? 0) + transfer.entries.length;
}

export interface RecoveryProgress {
  readonly nonce: string;
  readonly responses: Readonly<Record<string, RecoveryResponse>>;
}

/** A membership change being committed, at the primary (one at a time), and who waits for it. */
export interface PendingReconfiguration {
  readonly opNumber: number;
  readonly change: MembershipChange;
  readonly waiters: readonly Envelope[];
  readonly ticks: number;
}

/** A client request waiting for its op to commit, at the primary. */
export interface PendingRequest {
  readonly clientId: string;
  readonly requestNumber: number;
  readonly opNumber: number;
  readonly waiters: readonly Envelope[];
  readonly ticks: number;
}

/**
 * What a member counted, kept in its state (`MemberState.counters`) for tests, the simulator and
 * tools. Operating errors are counted here rather than thrown: dropped messages in `fenced`, `stale`
 * and `invalid`, refused requests in `notPrimary`, `noQuorum` and `busy`. The counters are saved with
 * the rest of the state, so a restart goes on counting from what was last persisted.
 */
export interface MemberCounters {
  /** Messages dropped because they came from an older incarnation of their sender than one seen. */
  readonly fenced: number;
  /** Messages dropped as out of date: an older epoch, the wrong status, an answer nobody waits for. */
  readonly stale: number;
  /** Messages dropped as malformed or not allowed (say, a `remove-member` from another node). */
  readonly invalid: number;
  /** `commit` heartbeats the primary sent on a tick with nothing else sent to the backups. */
  readonly heartbeats: number;
  readonly viewChangesStarted: number;
  readonly viewsInstalled: number;
  readonly recoveries: number;
  readonly fetches: number;
  readonly snapshotsSent: number;
  readonly snapshotsInstalled: number;
  /** Snapshots not sent because they exceed `snapshotBytesMax` (no chunked transfer yet). */
  readonly snapshotsTooLarge: number;
  readonly notPrimary: number;
  readonly noQuorum: number;
  readonly busy: number;
  readonly committed: number;
  readonly reconfigurations: number;
  /** `new-configuration` notices sent to nodes that did not know the newest configuration. */
  readonly notices: number;
  /** autoMembership: leaves the primary proposed for silent members. */
  readonly evictions: number;
  /** autoMembership: rounds of join requests sent while outside. */
  readonly rejoinRequests: number;
  /**
   * Times this primary started the view change to the next epoch itself: at a local `step-down`
   * request, or because it heard from no majority for the suspicion timeout (it cannot serve).
   */
  readonly stepDowns: number;
  /** Rounds of pre-votes this member sent (one a tick) before it would start a view change. */
  readonly preVotesSent: number;
  /** Pre-votes from others this member answered yes. */
  readonly preVotesGranted: number;
  /** Pre-votes from others this member did not answer: it still has a working view. */
  readonly preVotesRefused: number;
}

/**
 * The state of the group member actor (what `groupMember` keeps and `ctx.persist()` saves): plain
 * data, updated only by the member's handlers. Exported for tests and tools that inspect a member
 * (`actorState('group.<name>')`); nothing outside the member may change it. Fields marked durable
 * are what a restart resumes from; the volatile ones are reset on restore.
 */
export interface MemberState {
  readonly group: string;
  readonly self: NodeId;
  // Durable.
  /**
   * The configuration of the current epoch (during a view change: the one this member votes in),
   * in rank order; the primary of epoch `e` is `configuration[e mod n]`.
   */
  readonly configuration: readonly NodeId[];
  readonly configurationVersion: number;
  /** The configuration after the committed prefix of the log (what the snapshot carries). */
  readonly logConfiguration: Configuration;
  /**
   * The newest committed configuration this member knows of, from its log or from a message: it
   * only ever grows, and a view change votes in it. When it is newer than the epoch's, the primary
   * moves to the next epoch (the change takes effect there).
   */
  readonly known: Configuration;
  readonly epoch: number;
  readonly status: MemberStatus;
  /** The latest epoch in which this member was in normal status (VR's latest normal view). */
  readonly lastNormalEpoch: number;
  readonly opNumber: number;
  readonly commitNumber: number;
  /** The log holds entries `logStart + 1 .. opNumber`; earlier ones live only in `appState`. */
  readonly logStart: number;
  readonly log: readonly LogEntry[];
  /** The application state after op `commitNumber`: the snapshot state transfer sends. */
  readonly appState: unknown;
  readonly clients: Readonly<Record<string, ClientRecord>>;
  // Volatile.
  /** The highest incarnation seen per member: messages from an older one are fenced off. */
  readonly incarnations: Readonly<Record<string, number>>;
  /** Ticks since the last message from each member (the failure detector). */
  readonly silentTicks: Readonly<Record<string, number>>;
  /**
   * At the primary: ticks since each backup last acknowledged this epoch (a prepare-ok; backups
   * answer every prepare and heartbeat). autoMembership evicts on this, not on silence: a member
   * that cannot hear the primary may still send (pre-votes), yet it follows nothing.
   */
  readonly unackedTicks: Readonly<Record<string, number>>;
  /** The pre-vote this member is collecting before it starts a view change to `epoch`. */
  readonly preVote: { readonly epoch: number; readonly grantedBy: readonly NodeId[] } | null;
  /** At the primary: how far each backup holds this epoch's log (cumulative prepare-oks). */
  readonly acks: Readonly<Record<string, number>>;
  /** At the primary: whether anything went to the backups since the last tick (else: heartbeat). */
  readonly sentSinceTick: boolean;
  /** Ticks since the current status began (view-change and recovery timeouts). */
  readonly statusTicks: number;
  readonly viewChange: ViewChangeProgress | null;
  readonly recovery: RecoveryProgress | null;
  /** An outstanding state-transfer request. */
  readonly fetch: { readonly from: NodeId; readonly ticks: number } | null;
  readonly transfer: Transfer | null;
  readonly pending: Readonly<Record<string, PendingRequest>>;
  readonly reconfiguration: PendingReconfiguration | null;
  /** Nodes a local actor asked to remove (`remove-member`), retried each tick until they are out. */
  readonly removals: readonly NodeId[];
  /** autoMembership, outside: the primary a `not-primary` answer to our join named, asked too. */
  readonly rejoinHint: NodeId | null;
  /** As primary, whether it heard from a majority within a tick less than the suspicion timeout, as last told (`group-quorum`). */
  readonly quorumTold: boolean;
  readonly counters: MemberCounters;
}

/** Every counter at 0: a new member's counters. */
export const zeroCounters: MemberCounters = {
  fenced: 0,
  stale: 0,
  invalid: 0,
  heartbeats: 0,
  viewChangesStarted: 0,
  viewsInstalled: 0,
  recoveries: 0,
  fetches: 0,
  snapshotsSent: 0,
  snapshotsInstalled: 0,
  snapshotsTooLarge: 0,
  notPrimary: 0,
  noQuorum: 0,
  busy: 0,
  committed: 0,
  reconfigurations: 0,
  notices: 0,
  evictions: 0,
  rejoinRequests: 0,
  stepDowns: 0,
  preVotesSent: 0,
  preVotesGranted: 0,
  preVotesRefused: 0,
};

/**
 * The member's tables are keyed by node ids and client ids, which may be `toString` or `__proto__`:
 * read them with `lookup`, write them with spreads of computed keys (`{ ...table, [id]: value }`
 * defines an own entry) or `setEntry`, never `table[id] = value` (records.ts says why).
 */
export { lookup, setEntry } from '../records.js';

export function count(state: MemberState, name: keyof MemberCounters, by = 1): MemberState {
  return { ...state, counters: { ...state.counters, [name]: state.counters[name] + by } };
}

/**
 * The primary of `epoch` in a configuration (members in rank order): `configuration[epoch mod n]`, so
 * each epoch has exactly one primary by construction and a failed primary's successor is the next by
 * rank. The configuration must not be empty.
 */
export function primaryOf(configuration: readonly NodeId[], epoch: number): NodeId {
  return configuration[epoch % configuration.length]!;
}

/** The view of `epoch`: the configuration rotated so that its primary has rank 0. */
export function viewOf(configuration: readonly NodeId[], epoch: number): View {
  const shift = epoch % configuration.length;
  const members = [...configuration.slice(shift), ...configuration.slice(0, shift)];
  return { epoch, members, primary: members[0]! };
}

/** The number of members that make a majority of a configuration (more than half: 2 of 3, 3 of 4). */
export function majorityOf(configuration: readonly NodeId[]): number {
  return Math.floor(configuration.length / 2) + 1;
}

/** The configuration a committed change produces (applied to the one before it, at `opNumber`). */
export function applyChange(
  configuration: Configuration,
  change: MembershipChange,
  opNumber: number,
): Configuration {
  const others = configuration.members.filter((member) => member !== change.node);
  const members = change.type === 'join' ? [...others, change.node] : others;
  return { version: opNumber, members };
}

/** The newer of two configurations (versions grow along the log). */
export function newer(a: Configuration, b: Configuration): Configuration {
  return b.version > a.version ? b : a;
}

/** The configuration of the member's current epoch. */
export function epochConfiguration(state: MemberState): Configuration {
  return { version: state.configurationVersion, members: state.configuration };
}

/** An uncommitted membership change in the log, if any (there is at most one). */
export function uncommittedChange(state: MemberState): LogEntry | undefined {
  return entriesBetween(state, state.commitNumber, state.opNumber).find(
    (entry) => entry.change !== undefined,
  );
}

export function peersOf(state: MemberState): NodeId[] {
  return state.configuration.filter((member) => member !== state.self);
}

export function isPrimary(state: MemberState): boolean {
  return state.status === 'normal' && primaryOf(state.configuration, state.epoch) === state.self;
}

export function entryAt(state: MemberState, opNumber: number): LogEntry | undefined {
  return state.log[opNumber - state.logStart - 1];
}

/** Entries `from + 1 .. to` that the log still holds (none below `logStart`). */
export function entriesBetween(state: MemberState, from: number, to: number): LogEntry[] {
  const start = Math.max(from, state.logStart) - state.logStart;
  const end = Math.min(to, state.opNumber) - state.logStart;
  return end > start ? state.log.slice(start, end) : [];
}

/** The log cut back to its committed prefix (the uncommitted suffix may be from a dead epoch). */
export function truncateToCommit(state: MemberState): MemberState {
  return {
    ...state,
    log: state.log.slice(0, state.commitNumber - state.logStart),
    opNumber: state.commitNumber,
  };
}

/** The fields a restart resumes from: when none changed, a step needs no `persist()`. */
export function durableChanged(before: MemberState, after: MemberState): boolean {
  return (
    before.epoch !== after.epoch ||
    before.status !== after.status ||
    before.lastNormalEpoch !== after.lastNormalEpoch ||
    before.configuration !== after.configuration ||
    before.configurationVersion !== after.configurationVersion ||
    before.known !== after.known ||
    before.logConfiguration !== after.logConfiguration ||
    before.opNumber !== after.opNumber ||
    before.commitNumber !== after.commitNumber ||
    before.log !== after.log ||
    before.appState !== after.appState
  );
}

export function pendingKey(clientId: string, requestNumber: number): string {
  return JSON.stringify([clientId, requestNumber]);
}
