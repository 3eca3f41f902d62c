/**
 * The shape checks of what replicas send each other directly (control messages) and of the
 * checkpoints and other piggybacked data a primary sends: every field a handler reads, down to the
 * entries, input copies, kept outputs and bases inside them.
 *
 * Why here and all at once: frames are signed, so only a key holder can send these, but a key
 * holder may run another version (a rolling upgrade) or have a bug. The replica's handlers read
 * deep into these messages (a state transfer restores the whole bookkeeping from one), and a field
 * of the wrong type there threw out of the role's step and stopped the replica actor. A message
 * that fails these checks is dropped whole and counted (`controlMessagesDropped`,
 * `checkpointsDropped`); one that passes cannot make a handler throw.
 */
import { isAddress, isMessageId, tagOfKind } from '@steadfast/wire';
import type {
  ApplicationPayload,
  Checkpoint,
  EpochBasis,
  InputCopy,
  KeptOutput,
  OrderEntry,
  ReplicationPiggyback,
} from './types.js';

/** A plain record (not null, not an array): the shape checks of this package share these. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

export function isCount(value: unknown): value is number {
  return isInteger(value) && value >= 0;
}

function isKind(value: unknown): boolean {
  return typeof value === 'string' && Object.hasOwn(tagOfKind, value);
}

/** What the replica reads of an application payload (the wire form checked its id already). */
export function isApplicationPayload(value: unknown): value is ApplicationPayload {
  return (
    isRecord(value) &&
    value.type === 'rep-app' &&
    typeof value.source === 'string' &&
    typeof value.target === 'string' &&
    isInteger(value.channel) &&
    value.channel >= 1 &&
    typeof value.epoch === 'number' &&
    typeof value.position === 'number' &&
    isRecord(value.id)
  );
}

function isInputCopy(value: unknown): value is InputCopy {
  return isRecord(value) && isKind(value.kind) && isApplicationPayload(value.payload);
}

function isKeptOutput(value: unknown): value is KeptOutput {
  return (
    isRecord(value) &&
    typeof value.connection === 'string' &&
    isKind(value.kind) &&
    isApplicationPayload(value.payload)
  );
}

function isBasis(value: unknown): value is EpochBasis {
  return isRecord(value) && isCount(value.epoch) && isCount(value.cut);
}

function isSupervisedValue(value: unknown): boolean {
  return (
    isRecord(value) &&
    typeof value.kind === 'string' &&
    (value.name === undefined || typeof value.name === 'string')
  );
}

/**
 * An ordered input as an entry or a control message carries it. Exported for the entries' wire form
 * (wire-form.ts), whose other inputs travel as these objects: an input of a type this version does
 * not know (a newer replica's) makes its entry malformed, dropped and counted, rather than reach a
 * handler that cannot process it.
 */
export function isOrderedInput(value: unknown): boolean {
  if (!isRecord(value)) return false;
  switch (value.type) {
    case 'start':
    case 'external':
      return true;
    case 'timer':
      return typeof value.name === 'string';
    case 'reply-timeout':
      // Any delay the setting takes: a finite number of milliseconds, fractions too.
      return (
        isMessageId(value.request) &&
        isAddress(value.target) &&
        typeof value.afterMs === 'number' &&
        Number.isFinite(value.afterMs) &&
        value.afterMs >= 0
      );
    case 'message':
      return (
        typeof value.source === 'string' &&
        isInteger(value.channel) &&
        value.channel >= 1 &&
        // Both or neither: an entry of an older version names the channel only.
        (value.sentEpoch === undefined) === (value.sentAt === undefined) &&
        (value.sentEpoch === undefined || typeof value.sentEpoch === 'number') &&
        (value.sentAt === undefined || typeof value.sentAt === 'number')
      );
    default:
      return false;
  }
}

/** A message input that names its copy whole, as a named `rep-input-request` must. */
function isNamedMessageInput(value: unknown): boolean {
  return (
    isOrderedInput(value) &&
    isRecord(value) &&
    value.type === 'message' &&
    typeof value.sentEpoch === 'number' &&
    typeof value.sentAt === 'number'
  );
}

/** An order entry as the replica keeps it (not its piggyback wire form, which wire-form.ts checks). */
function isOrderEntry(value: unknown): value is OrderEntry {
  return (
    isRecord(value) &&
    isInteger(value.position) &&
    value.position >= 1 &&
    (value.epoch === undefined || typeof value.epoch === 'number') &&
    isOrderedInput(value.input) &&
    Array.isArray(value.values) &&
    value.values.every(isSupervisedValue) &&
    (value.digest === undefined || typeof value.digest === 'string') &&
    (value.implied === undefined || typeof value.implied === 'boolean')
  );
}

function isArrayOf(value: unknown, check: (item: unknown) => boolean): boolean {
  return Array.isArray(value) && value.every(check);
}

function isRecordOf(value: unknown, check: (item: unknown) => boolean): boolean {
  return isRecord(value) && Object.values(value).every(check);
}

function isSequenceSetData(value: unknown): boolean {
  return isRecord(value) && isCount(value.floor) && isArrayOf(value.above, isCount);
}

/** A checkpoint whole: its position, the replica's bookkeeping and its kept outputs. */
export function isCheckpoint(value: unknown): value is Checkpoint {
  if (!isRecord(value) || !isCount(value.position) || !isArrayOf(value.outputs, isKeptOutput)) return false;
  if (value.epoch !== undefined && !isCount(value.epoch)) return false;
  const book = value.bookkeeping;
  return (
    isRecord(book) &&
    isCount(book.outputSequence) &&
    isRecordOf(book.channels, isCount) &&
    isRecordOf(book.processed, isSequenceSetData) &&
    isRecordOf(book.timers, (timer) => isRecord(timer) && typeof timer.delayMs === 'number') &&
    (book.syncWait === null || typeof book.syncWait === 'string') &&
    (book.syncWaitAt === undefined || isCount(book.syncWaitAt)) &&
    (book.syncWaitRequest === undefined ||
      book.syncWaitRequest === null ||
      (isRecord(book.syncWaitRequest) &&
        isMessageId(book.syncWaitRequest.id) &&
        isAddress(book.syncWaitRequest.target)))
  );
}

/**
 * Undefined when `message` is a control message every handler can read; else what is wrong with
 * it. The group is not checked here: a message for another group is not malformed, only not ours.
 */
export function controlMessageProblem(message: unknown): string | undefined {
  if (!isRecord(message)) return 'not a record';
  if (typeof message.group !== 'string') return 'no group';
  const fields = (...names: string[]) => names.find((name) => !isInteger(message[name]));
  const integers = (...names: string[]) => {
    const wrong = fields(...names);
    return wrong === undefined ? undefined : `${String(message.type)}: ${wrong} is not an integer`;
  };
  const type = message.type;
  switch (type) {
    case 'rep-part':
      // Its bounds depend on the receiver's settings: `onControlPart` checks them.
      return integers('incarnation', 'transfer', 'count', 'index');
    case 'rep-flush-request':
      return integers('epoch', 'from');
    case 'rep-flush-reply':
      return (
        integers('epoch', 'position') ??
        (isArrayOf(message.entries, isOrderEntry) ? undefined : `${type}: a malformed entry`) ??
        (isArrayOf(message.inputs, isInputCopy) ? undefined : `${type}: a malformed input`) ??
        (message.bases === undefined || isArrayOf(message.bases, isBasis)
          ? undefined
          : `${type}: a malformed basis`)
      );
    case 'rep-peer-order-request':
      return typeof message.about === 'string' ? integers('epoch', 'after') : `${type}: about is not a group`;
    case 'rep-peer-order-reply':
      return typeof message.from === 'string'
        ? (integers('epoch') ??
            (isArrayOf(message.entries, isOrderEntry) ? undefined : `${type}: a malformed entry`) ??
            (isArrayOf(message.inputs, isInputCopy) ? undefined : `${type}: a malformed input`))
        : `${type}: from is not a group`;
    case 'rep-input-request':
      return (
        integers('position') ??
        (message.input === undefined || isNamedMessageInput(message.input)
          ? undefined
          : `${type}: the input is not a message named with its epoch and position`)
      );
    case 'rep-input-reply':
      return integers('position') ?? (isInputCopy(message.input) ? undefined : `${type}: a malformed input`);
    case 'rep-entries-request':
      return integers('epoch', 'after');
    case 'rep-entries':
      return (
        integers('epoch', 'after') ??
        (typeof message.kept === 'boolean' ? undefined : `${type}: kept is not a boolean`) ??
        (isArrayOf(message.entries, isOrderEntry) ? undefined : `${type}: a malformed entry`)
      );
    case 'rep-held':
      return integers('epoch', 'position');
    case 'rep-held-request':
      return integers('epoch');
    case 'rep-state-request':
      return integers('incarnation') ?? optionalCount(message, 'joining');
    case 'rep-state':
      return (
        integers('epoch', 'incarnation') ??
        optionalCount(message, 'joining') ??
        (isCheckpoint(message.checkpoint) ? undefined : `${type}: a malformed checkpoint`) ??
        (isArrayOf(message.inputs, isInputCopy) ? undefined : `${type}: a malformed input`) ??
        (message.held === undefined || isArrayOf(message.held, isInputCopy)
          ? undefined
          : `${type}: a malformed held input`) ??
        (isArrayOf(message.outputs, isKeptOutput) ? undefined : `${type}: a malformed output`) ??
        (isArrayOf(message.bases, isBasis) ? undefined : `${type}: a malformed basis`) ??
        (isRecordOf(message.peerEpochs, isCount) ? undefined : `${type}: malformed peer epochs`) ??
        (isRecordOf(message.peerBases, (bases) => isArrayOf(bases, isBasis))
          ? undefined
          : `${type}: malformed peer bases`)
      );
    default:
      return `unknown control message type ${typeof type === 'string' ? type : typeof type}`;
  }
}

/** Undefined when `message[name]` is absent or a count; else what is wrong with it. */
function optionalCount(message: Record<string, unknown>, name: string): string | undefined {
  const value = message[name];
  return value === undefined || isCount(value)
    ? undefined
    : `${String(message.type)}: ${name} is not a count`;
}

/**
 * The fields of a delivered message's replication piggyback (`rep`) that can be read, each left
 * out, and counted in `counters.piggybackFieldsDropped`, when it is of the wrong type. The wire
 * form (wire-form.ts) already checked the entries of `order` and `relay`; these checks are of the
 * fields around them, and cheap, since every delivered message with a piggyback passes here. The
 * checkpoint is checked apart (`isCheckpoint`), only where a passive backup applies it.
 */
export function readablePiggyback(
  piggyback: ReplicationPiggyback,
  counters: { piggybackFieldsDropped: number },
): ReplicationPiggyback {
  const { order, relay, bases, checkpointPart } = piggyback as Record<string, unknown>;
  const orderOk = fieldReadable(order, isOrderField);
  const relayOk = fieldReadable(relay, isRelayField);
  const basesOk = fieldReadable(bases, isBasesField);
  const partOk = fieldReadable(checkpointPart, isCheckpointPart);
  // The usual case, every field readable: the piggyback itself, no copy (every delivered message
  // with a piggyback passes here).
  if (orderOk && relayOk && basesOk && partOk) return piggyback;
  counters.piggybackFieldsDropped += [orderOk, relayOk, basesOk, partOk].filter((ok) => !ok).length;
  return {
    ...(orderOk ? { order: piggyback.order } : {}),
    ...(relayOk ? { relay: piggyback.relay } : {}),
    ...(basesOk ? { bases: piggyback.bases } : {}),
    ...(piggyback.checkpoint === undefined ? {} : { checkpoint: piggyback.checkpoint }),
    ...(partOk ? { checkpointPart: piggyback.checkpointPart } : {}),
  };
}

/** Absent, or a record that passes `check`. */
function fieldReadable(value: unknown, check: (value: Record<string, unknown>) => boolean): boolean {
  return value === undefined || (isRecord(value) && check(value));
}

function isOrderField(order: Record<string, unknown>): boolean {
  return typeof order.group === 'string' && isCount(order.epoch) && Array.isArray(order.entries);
}

function isRelayField(relay: Record<string, unknown>): boolean {
  return (
    typeof relay.group === 'string' &&
    (relay.epoch === undefined || isCount(relay.epoch)) &&
    Array.isArray(relay.entries)
  );
}

function isBasesField(bases: Record<string, unknown>): boolean {
  return typeof bases.group === 'string' && Array.isArray(bases.bases);
}

function isCheckpointPart(value: Record<string, unknown>): boolean {
  return (
    isCount(value.position) &&
    isCount(value.index) &&
    isInteger(value.count) &&
    typeof value.text === 'string' &&
    value.index < value.count &&
    (value.textHash === undefined || typeof value.textHash === 'string')
  );
}
