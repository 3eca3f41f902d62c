/**
 * The messages of a group member (Viewstamped Replication Revisited, Liskov & Cowling 2012, adapted)
 * and of its clients. Members talk in one-way messages; a client's `broadcast` is a request whose
 * reply is a `BroadcastReply`. Every message also carries its sender's incarnation, in the
 * envelope's `MessageId.incarnation`, which is how a restarted member's old messages are fenced off.
 *
 * Reconfiguration (joins and leaves) goes through the same log: a `join`/`leave` request from an
 * operator becomes a log entry carrying a `change`; once committed it yields a new `Configuration`,
 * which every view-change message carries so that members vote for one (epoch, configuration)
 * pair only.
 *
 * Messages arrive from the network, so `parseMemberMessage` checks their shape and returns
 * `undefined` for anything else: a malformed message is counted and dropped, never thrown on.
 */
import { isNodeId, type NodeId } from '@steadfast/wire';

/** A node id as the wire spells it (checked so a bad one is a dropped message, not a throw). */
export { isNodeId };

/** One membership change: a node joins the group or leaves it. */
export interface MembershipChange {
  readonly type: 'join' | 'leave';
  readonly node: NodeId;
}

/**
 * A configuration: the member nodes in rank order, and its version, the op number of the committed
 * change that produced it (0 for the configuration the group was spawned with). Versions only grow
 * along the log, so the higher version is always the newer configuration.
 */
export interface Configuration {
  readonly version: number;
  readonly members: readonly NodeId[];
}

/**
 * One ordered op: its position, the client that submitted it and the client's request number. A
 * membership change is an entry with `change` set (client id `MEMBERSHIP_CLIENT_ID`, request 0,
 * op null): it changes the configuration instead of reaching the application.
 */
export interface LogEntry {
  readonly opNumber: number;
  readonly clientId: string;
  readonly requestNumber: number;
  readonly op: unknown;
  readonly change?: MembershipChange;
}

/** The client id of membership-change entries (client requests may not use it). */
export const MEMBERSHIP_CLIENT_ID = '#membership';

/** What a client last had committed, for deduplication (VR's client table). */
export interface ClientRecord {
  readonly requestNumber: number;
  readonly opNumber: number;
}

/** The application state after op `opNumber`, with the client table at that point. */
export interface GroupSnapshot {
  readonly opNumber: number;
  readonly appState: unknown;
  readonly clients: Readonly<Record<string, ClientRecord>>;
  /** The configuration committed as of `opNumber`. */
  readonly configuration: Configuration;
}

/**
 * Primary to backups: append `entry` (the next op number) to this epoch's log. It also carries the
 * commit point. A backup answers with a cumulative `PrepareOk`, or asks for the gap with `GetState`.
 */
export interface Prepare {
  readonly type: 'prepare';
  readonly epoch: number;
  readonly entry: LogEntry;
  readonly commitNumber: number;
}
/**
 * Backup to primary, after persisting: it holds this epoch's log up to `opNumber`. Sent for every
 * prepare, duplicate and heartbeat, so a lost one is repaired by the next.
 */
export interface PrepareOk {
  readonly type: 'prepare-ok';
  readonly epoch: number;
  /** Cumulative: the sender holds this epoch's log up to here. */
  readonly opNumber: number;
}
/** The primary's heartbeat on an idle link: it also tells backups how far the log is committed. */
export interface Commit {
  readonly type: 'commit';
  readonly epoch: number;
  readonly commitNumber: number;
  readonly opNumber: number;
}
/**
 * Step 1 of a view change, to all members: the sender moved to `epoch` and votes in
 * `configuration`. With these from a majority, a member sends its `DoViewChange`.
 */
export interface StartViewChange {
  readonly type: 'start-view-change';
  readonly epoch: number;
  /** The configuration the sender votes in for `epoch`: its newest known committed one. */
  readonly configuration: Configuration;
}
/**
 * A pre-vote (after Raft's PreVote, Ongaro 2014, §9.6): before a member that suspects its view
 * starts a real view change to `epoch`, it asks whether the others would join one. Only with a
 * majority's yes does it start it, so a member that cannot hear the group (a one-way cut, a
 * partition) never moves the epoch on and never forces a working group into a view change.
 */
export interface PreViewChange {
  readonly type: 'pre-view-change';
  readonly epoch: number;
}
/** Yes to a `PreViewChange`: the sender would join a view change to `epoch` (no answer is no). */
export interface PreViewChangeOk {
  readonly type: 'pre-view-change-ok';
  readonly epoch: number;
}
/**
 * Step 2 of a view change, to the new primary of `epoch`: the sender's log state (latest normal
 * epoch, op and commit numbers, uncommitted suffix) so the primary can pick the best log. A member
 * votes once per epoch (resending the same vote); only votes in the primary's configuration count.
 */
export interface DoViewChange {
  readonly type: 'do-view-change';
  readonly epoch: number;
  readonly lastNormalEpoch: number;
  readonly opNumber: number;
  readonly commitNumber: number;
  readonly configuration: Configuration;
  /** The sender's entries after `commitNumber` (its uncommitted suffix). */
  readonly entries: readonly LogEntry[];
}
/**
 * Step 3 of a view change, from the new primary to all members once a majority's do-view-changes
 * arrived: the view of `epoch` is installed, with this log past the commit point. A backup that this
 * message cannot bring up to date (its commit point is behind) fetches the view's log by state
 * transfer instead.
 */
export interface StartView {
  readonly type: 'start-view';
  readonly epoch: number;
  readonly opNumber: number;
  readonly commitNumber: number;
  /** The configuration of the new view. */
  readonly configuration: Configuration;
  /** The new primary's entries after `commitNumber`. */
  readonly entries: readonly LogEntry[];
}
/**
 * A restarted member asks the others for the current epoch; `nonce` (fresh from `ctx.id()`) matches
 * the answers to this recovery, so no answer to an older one is counted.
 */
export interface Recovery {
  readonly type: 'recovery';
  readonly nonce: string;
}
/**
 * A member in normal status answers a `Recovery`: its epoch, log position, whether it is that
 * epoch's primary, and the epoch's configuration (which decides the majority the recovering member
 * waits for).
 */
export interface RecoveryResponse {
  readonly type: 'recovery-response';
  readonly nonce: string;
  readonly epoch: number;
  readonly opNumber: number;
  readonly commitNumber: number;
  readonly primary: boolean;
  /** The configuration of the responder's epoch. */
  readonly configuration: Configuration;
}
/** State transfer: "send me what follows op `fromOp`". */
export interface GetState {
  readonly type: 'get-state';
  readonly epoch: number;
  readonly fromOp: number;
}
/**
 * State transfer: the answer to `GetState`, at most `entriesPerMessageMax` consecutive entries after
 * `fromOp`, preceded by a snapshot when the sender's log no longer reaches back that far. The asker
 * sends another `GetState` for the next chunk.
 */
export interface NewState {
  readonly type: 'new-state';
  readonly epoch: number;
  /** True when the sender is the primary of `epoch` in normal status: its uncommitted entries count too. */
  readonly fromPrimary: boolean;
  readonly opNumber: number;
  readonly commitNumber: number;
  /** The configuration of the sender's epoch (a member adopting the view takes it). */
  readonly configuration: Configuration;
  /** Present when `fromOp` was already truncated from the sender's log. */
  readonly snapshot?: GroupSnapshot;
  /** Consecutive entries after `fromOp` (or after the snapshot). */
  readonly entries: readonly LogEntry[];
}

/**
 * "You are behind": the answer to a message from a node outside the receiver's configuration, or
 * voting in an older one. A removed member learns this way that it left.
 */
export interface NewConfiguration {
  readonly type: 'new-configuration';
  readonly configuration: Configuration;
}

/** What members send each other. */
export type PeerMessage =
  | Prepare
  | PrepareOk
  | Commit
  | PreViewChange
  | PreViewChangeOk
  | StartViewChange
  | DoViewChange
  | StartView
  | Recovery
  | RecoveryResponse
  | GetState
  | NewState
  | NewConfiguration;

/** A client's request to order `op`. `clientId` + `requestNumber` identify it across retries. */
export interface Broadcast {
  readonly type: 'broadcast';
  readonly op: unknown;
  readonly clientId: string;
  readonly requestNumber: number;
}

/**
 * An operator's request to change the configuration, sent to any member (as a request, answered
 * with a `MembershipReply`; a one-way one, which members use to forward a removal to the primary,
 * gets no answer).
 */
export interface MembershipRequest {
  readonly type: 'join' | 'leave';
  readonly node: string;
}

/** From a local actor only (the replication layer): this node diverged, take it out (a `leave`). */
export interface RemoveMember {
  readonly type: 'remove-member';
  readonly node: string;
  readonly reason: string;
}

/**
 * From a local actor only (the replication layer): this node, primary of `epoch`, cannot serve as
 * primary (its replica is still waiting for a state transfer), so the member starts the view change
 * to the next epoch, whose primary is the next member by rank. Ignored unless this member is the
 * primary of exactly that epoch, so a late or repeated request changes nothing.
 */
export interface StepDown {
  readonly type: 'step-down';
  readonly epoch: number;
  readonly reason: string;
}

/** Every body a member accepts (from peers, clients, local actors): what `parseMemberMessage` returns. */
export type MemberMessage = PeerMessage | Broadcast | MembershipRequest | RemoveMember | StepDown;

/**
 * The answer to a `join` or `leave` request. Only `membership-committed` means the change is
 * committed (or already was in effect); the others are operating errors to retry: `not-primary` (ask
 * the hinted primary, or wait when the hint is null), `busy`, `no-quorum`. `invalid-membership` (a
 * bad node id, removing the last member) will fail again.
 */
export type MembershipReply =
  | {
      /** Committed at `opNumber` (or already in effect: then the version of the configuration that shows it). */
      readonly type: 'membership-committed';
      readonly change: 'join' | 'leave';
      readonly node: string;
      readonly opNumber: number;
      /** The committed configuration after the change (it takes effect at the next epoch). */
      readonly members: readonly NodeId[];
    }
  | {
      readonly type: 'not-primary';
      readonly change: 'join' | 'leave';
      readonly node: string;
      readonly epoch: number;
      readonly primary: NodeId | null;
    }
  | {
      readonly type: 'busy';
      readonly change: 'join' | 'leave';
      readonly node: string;
      /** Another change is uncommitted or not yet in effect, or the log is full of prepares. */
      readonly reason: 'reconfiguration-in-progress' | 'prepares-in-flight';
    }
  | {
      readonly type: 'no-quorum';
      readonly change: 'join' | 'leave';
      readonly node: string;
      readonly epoch: number;
    }
  | { readonly type: 'invalid-membership'; readonly detail: string };

/** What a member tells its local `notify` actor each time it installs a view. */
export interface GroupViewNotice {
  readonly type: 'group-view';
  readonly group: string;
  readonly view: { readonly epoch: number; readonly members: readonly NodeId[]; readonly primary: NodeId };
}

/**
 * What a member tells its local `notify` actor when it finds itself outside the newest
 * configuration (it left, or was removed while silent). Whatever it held for the group is stale
 * from here on: a view that includes it again means it was added back, and must catch up by state
 * transfer. `version` is the configuration that excludes it.
 */
export interface GroupOutsideNotice {
  readonly type: 'group-outside';
  readonly group: string;
  readonly version: number;
}

/**
 * Sent to the `notify` actor when the member, as primary, stops hearing from a majority of its
 * configuration (itself counted) for one heartbeat tick less than `suspicionTimeoutMs`, and again
 * when it hears from one (or is no longer primary): whether it heard from a majority within that
 * time. A tick less, so that a primary cut off from its group learns it before the others, after
 * `suspicionTimeoutMs`, start the view change that replaces it.
 */
export interface GroupQuorumNotice {
  readonly type: 'group-quorum';
  readonly group: string;
  readonly heardFromMajority: boolean;
}

/**
 * The answer to a client's `Broadcast`. `broadcast-committed` gives the op's place in the order (also
 * for a retry of a request already committed); every other reply is a `BroadcastError`.
 */
export type BroadcastReply =
  | {
      readonly type: 'broadcast-committed';
      readonly clientId: string;
      readonly requestNumber: number;
      readonly opNumber: number;
    }
  | {
      readonly type: 'not-primary';
      readonly clientId: string;
      readonly requestNumber: number;
      readonly epoch: number;
      /** The primary this member believes in, or null during a view change or recovery. */
      readonly primary: NodeId | null;
    }
  | {
      readonly type: 'no-quorum';
      readonly clientId: string;
      readonly requestNumber: number;
      readonly epoch: number;
    }
  | {
      readonly type: 'busy';
      readonly clientId: string;
      readonly requestNumber: number;
      readonly reason: 'prepares-in-flight' | 'pending-requests';
    }
  | { readonly type: 'invalid-broadcast'; readonly detail: string };

/**
 * A broadcast the member did not order: `not-primary`, `no-quorum` and `busy` are worth a retry
 * with the same `clientId` and `requestNumber` (the client table answers a retry of a request that
 * did commit with its op number instead of ordering it again); `invalid-broadcast` (bad shape, op
 * over `opBytesMax`, a request number older than the last committed) is not.
 */
export type BroadcastError = Exclude<BroadcastReply, { type: 'broadcast-committed' }>;

type Shape = Record<
  string,
  'number' | 'string' | 'boolean' | 'entries' | 'entry' | 'snapshot?' | 'configuration' | 'any'
>;

const shapes: Readonly<Record<MemberMessage['type'], Shape>> = {
  prepare: { epoch: 'number', entry: 'entry', commitNumber: 'number' },
  'prepare-ok': { epoch: 'number', opNumber: 'number' },
  commit: { epoch: 'number', commitNumber: 'number', opNumber: 'number' },
  'pre-view-change': { epoch: 'number' },
  'pre-view-change-ok': { epoch: 'number' },
  'start-view-change': { epoch: 'number', configuration: 'configuration' },
  'do-view-change': {
    epoch: 'number',
    lastNormalEpoch: 'number',
    opNumber: 'number',
    commitNumber: 'number',
    configuration: 'configuration',
    entries: 'entries',
  },
  'start-view': {
    epoch: 'number',
    opNumber: 'number',
    commitNumber: 'number',
    configuration: 'configuration',
    entries: 'entries',
  },
  recovery: { nonce: 'string' },
  'recovery-response': {
    nonce: 'string',
    epoch: 'number',
    opNumber: 'number',
    commitNumber: 'number',
    primary: 'boolean',
    configuration: 'configuration',
  },
  'get-state': { epoch: 'number', fromOp: 'number' },
  'new-state': {
    epoch: 'number',
    fromPrimary: 'boolean',
    opNumber: 'number',
    commitNumber: 'number',
    configuration: 'configuration',
    snapshot: 'snapshot?',
    entries: 'entries',
  },
  'new-configuration': { configuration: 'configuration' },
  broadcast: { op: 'any', clientId: 'string', requestNumber: 'number' },
  join: { node: 'string' },
  leave: { node: 'string' },
  'remove-member': { node: 'string', reason: 'string' },
  'step-down': { epoch: 'number', reason: 'string' },
};

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isChange(value: unknown): value is MembershipChange {
  return isRecord(value) && (value.type === 'join' || value.type === 'leave') && isNodeId(value.node);
}

/** Members must be distinct node ids; a configuration is never empty. */
export function isConfiguration(value: unknown): value is Configuration {
  if (!isRecord(value) || !isCount(value.version) || !Array.isArray(value.members)) return false;
  const members: unknown[] = value.members;
  return members.length > 0 && members.every(isNodeId) && new Set(members).size === members.length;
}

/**
 * Whether a value from the network has the shape of a `LogEntry` (op number from 1, a client id, a
 * request number, an op, a well-formed change if any); `parseMemberMessage` uses it.
 */
export function isLogEntry(value: unknown): value is LogEntry {
  return (
    isRecord(value) &&
    isCount(value.opNumber) &&
    value.opNumber > 0 &&
    typeof value.clientId === 'string' &&
    isCount(value.requestNumber) &&
    'op' in value &&
    (value.change === undefined || isChange(value.change))
  );
}

/** Entries must be consecutive: state transfer and view changes append them in order. */
function isEntries(value: unknown): value is LogEntry[] {
  if (!Array.isArray(value) || !value.every(isLogEntry)) return false;
  return value.every((entry, index) => index === 0 || entry.opNumber === value[index - 1]!.opNumber + 1);
}

function isSnapshot(value: unknown): value is GroupSnapshot {
  if (
    !isRecord(value) ||
    !isCount(value.opNumber) ||
    !isRecord(value.clients) ||
    !('appState' in value) ||
    !isConfiguration(value.configuration)
  )
    return false;
  return Object.values(value.clients).every(
    (record) => isRecord(record) && isCount(record.requestNumber) && isCount(record.opNumber),
  );
}

function fits(kind: Shape[string], value: unknown): boolean {
  switch (kind) {
    case 'number':
      return isCount(value);
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'entries':
      return isEntries(value);
    case 'entry':
      return isLogEntry(value);
    case 'snapshot?':
      return value === undefined || isSnapshot(value);
    case 'configuration':
      return isConfiguration(value);
    case 'any':
      return true;
  }
}

/** The message, when `body` has the shape of one; undefined otherwise. */
export function parseMemberMessage(body: unknown): MemberMessage | undefined {
  if (!isRecord(body) || typeof body.type !== 'string' || !Object.hasOwn(shapes, body.type)) return undefined;
  const shape = shapes[body.type as MemberMessage['type']];
  for (const [field, kind] of Object.entries(shape)) if (!fits(kind, body[field])) return undefined;
  return body as unknown as MemberMessage;
}

/** An upper bound on the encoded size of a value: its JSON length, or undefined if it has no JSON form. */
export function jsonSize(value: unknown): number | undefined {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : text.length;
  } catch {
    return undefined;
  }
}

/**
 * The primary named by a `not-primary` answer to `node`'s own join request (autoMembership's
 * rejoin follows it), or undefined for any other reply. Replies come from the network: checked.
 */
export function joinHintOf(body: unknown, node: NodeId): NodeId | undefined {
  if (!isRecord(body) || body.type !== 'not-primary' || body.change !== 'join' || body.node !== node)
    return undefined;
  return isNodeId(body.primary) ? body.primary : undefined;
}
