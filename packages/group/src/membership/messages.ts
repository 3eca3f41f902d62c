/**
 * The messages of a group member (Viewstamped Replication Revisited, Liskov & Cowling 2012, adapted)
 * and of its clients. Members talk in one-way messages; a client's `broadcast` is a request whose
 * reply is a `BroadcastReply`. Every message also carries its sender's incarnation, in the
 * envelope's `MessageId.incarnation`, which is how a restarted member's old messages are fenced off.
 *
 * Messages arrive from the network, so `parseMemberMessage` checks their shape and returns
 * `undefined` for anything else: a malformed message is counted and dropped, never thrown on.
 */
import type { NodeId } from '@steadfast/wire';

/** One ordered op: its position, the client that submitted it and the client's request number. */
export interface LogEntry {
  readonly opNumber: number;
  readonly clientId: string;
  readonly requestNumber: number;
  readonly op: unknown;
}

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
}

export interface Prepare {
  readonly type: 'prepare';
  readonly epoch: number;
  readonly entry: LogEntry;
  readonly commitNumber: number;
}
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
export interface StartViewChange {
  readonly type: 'start-view-change';
  readonly epoch: number;
}
export interface DoViewChange {
  readonly type: 'do-view-change';
  readonly epoch: number;
  readonly lastNormalEpoch: number;
  readonly opNumber: number;
  readonly commitNumber: number;
  /** The sender's entries after `commitNumber` (its uncommitted suffix). */
  readonly entries: readonly LogEntry[];
}
export interface StartView {
  readonly type: 'start-view';
  readonly epoch: number;
  readonly opNumber: number;
  readonly commitNumber: number;
  /** The new primary's entries after `commitNumber`. */
  readonly entries: readonly LogEntry[];
}
export interface Recovery {
  readonly type: 'recovery';
  readonly nonce: string;
}
export interface RecoveryResponse {
  readonly type: 'recovery-response';
  readonly nonce: string;
  readonly epoch: number;
  readonly opNumber: number;
  readonly commitNumber: number;
  readonly primary: boolean;
}
/** State transfer: "send me what follows op `fromOp`". */
export interface GetState {
  readonly type: 'get-state';
  readonly epoch: number;
  readonly fromOp: number;
}
export interface NewState {
  readonly type: 'new-state';
  readonly epoch: number;
  /** True when the sender is the primary of `epoch` in normal status: its uncommitted entries count too. */
  readonly fromPrimary: boolean;
  readonly opNumber: number;
  readonly commitNumber: number;
  /** Present when `fromOp` was already truncated from the sender's log. */
  readonly snapshot?: GroupSnapshot;
  /** Consecutive entries after `fromOp` (or after the snapshot). */
  readonly entries: readonly LogEntry[];
}

/** What members send each other. */
export type PeerMessage =
  | Prepare
  | PrepareOk
  | Commit
  | StartViewChange
  | DoViewChange
  | StartView
  | Recovery
  | RecoveryResponse
  | GetState
  | NewState;

/** A client's request to order `op`. `clientId` + `requestNumber` identify it across retries. */
export interface Broadcast {
  readonly type: 'broadcast';
  readonly op: unknown;
  readonly clientId: string;
  readonly requestNumber: number;
}

export type MemberMessage = PeerMessage | Broadcast;

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

export type BroadcastError = Exclude<BroadcastReply, { type: 'broadcast-committed' }>;

type Shape = Record<string, 'number' | 'string' | 'boolean' | 'entries' | 'entry' | 'snapshot?' | 'any'>;

const shapes: Readonly<Record<MemberMessage['type'], Shape>> = {
  prepare: { epoch: 'number', entry: 'entry', commitNumber: 'number' },
  'prepare-ok': { epoch: 'number', opNumber: 'number' },
  commit: { epoch: 'number', commitNumber: 'number', opNumber: 'number' },
  'start-view-change': { epoch: 'number' },
  'do-view-change': {
    epoch: 'number',
    lastNormalEpoch: 'number',
    opNumber: 'number',
    commitNumber: 'number',
    entries: 'entries',
  },
  'start-view': { epoch: 'number', opNumber: 'number', commitNumber: 'number', entries: 'entries' },
  recovery: { nonce: 'string' },
  'recovery-response': {
    nonce: 'string',
    epoch: 'number',
    opNumber: 'number',
    commitNumber: 'number',
    primary: 'boolean',
  },
  'get-state': { epoch: 'number', fromOp: 'number' },
  'new-state': {
    epoch: 'number',
    fromPrimary: 'boolean',
    opNumber: 'number',
    commitNumber: 'number',
    snapshot: 'snapshot?',
    entries: 'entries',
  },
  broadcast: { op: 'any', clientId: 'string', requestNumber: 'number' },
};

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isLogEntry(value: unknown): value is LogEntry {
  return (
    isRecord(value) &&
    isCount(value.opNumber) &&
    value.opNumber > 0 &&
    typeof value.clientId === 'string' &&
    isCount(value.requestNumber) &&
    'op' in value
  );
}

/** Entries must be consecutive: state transfer and view changes append them in order. */
function isEntries(value: unknown): value is LogEntry[] {
  if (!Array.isArray(value) || !value.every(isLogEntry)) return false;
  return value.every((entry, index) => index === 0 || entry.opNumber === value[index - 1]!.opNumber + 1);
}

function isSnapshot(value: unknown): value is GroupSnapshot {
  if (!isRecord(value) || !isCount(value.opNumber) || !isRecord(value.clients) || !('appState' in value))
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
