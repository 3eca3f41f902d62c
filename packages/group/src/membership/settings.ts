/**
 * Settings of a group member: the failure detector's timing, the view change's patience and the
 * bounds on everything the member holds or sends. Defaults are tuned for a LAN (loopback or one
 * switch): a heartbeat every 30 ms on an idle link and suspicion after 150 ms of silence, so a
 * crashed primary is replaced in about 150–250 ms. `groupSettings` validates and fills defaults;
 * a bad value is a programmer error and throws a `RangeError` naming the setting.
 */

export interface GroupSettings {
  /** The primary sends a commit/heartbeat on a link that carried nothing for this long. */
  readonly heartbeatIntervalMs: number;
  /** A backup that hears nothing from its primary for this long suspects it (starts a view change). */
  readonly suspicionTimeoutMs: number;
  /** A view change that has not installed a view after this long moves on to the next epoch. */
  readonly viewChangeTimeoutMs: number;
  /** A recovering member that has not recovered after this long starts a view change. */
  readonly recoveryTimeoutMs: number;
  /** An unanswered state-transfer request is sent again after this long. */
  readonly fetchRetryMs: number;
  /** Ops prepared and not yet committed at once; past it a broadcast gets `busy`. */
  readonly preparesInFlightMax: number;
  /** Client requests waiting for their commit at the primary; past it a broadcast gets `busy`. */
  readonly pendingRequestsMax: number;
  /** Committed log entries kept for lagging members; the log is truncated every this many ops. */
  readonly snapshotEveryOps: number;
  /** Largest op, as JSON characters (an upper bound on its msgpack size). */
  readonly opBytesMax: number;
  /** Entries in one state-transfer message (log suffix chunk). */
  readonly entriesPerMessageMax: number;
  /** Largest application snapshot (app state + client table, as JSON characters) sent in one message. */
  readonly snapshotBytesMax: number;
  /** Clients remembered in the deduplication table; the least recently committed is forgotten first. */
  readonly clientsMax: number;
}

export const GROUP_DEFAULTS: GroupSettings = {
  heartbeatIntervalMs: 30,
  suspicionTimeoutMs: 150,
  viewChangeTimeoutMs: 150,
  recoveryTimeoutMs: 300,
  fetchRetryMs: 60,
  preparesInFlightMax: 16,
  pendingRequestsMax: 256,
  snapshotEveryOps: 64,
  opBytesMax: 512,
  entriesPerMessageMax: 16,
  snapshotBytesMax: 8_192,
  clientsMax: 1_024,
};

function positiveInteger(name: keyof GroupSettings, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`group setting ${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/** Fills defaults and checks every setting; throws a `RangeError` naming the first bad one. */
export function groupSettings(overrides: Partial<GroupSettings> = {}): GroupSettings {
  const merged = { ...GROUP_DEFAULTS, ...overrides };
  const settings = Object.fromEntries(
    (Object.keys(GROUP_DEFAULTS) as (keyof GroupSettings)[]).map((name) => [
      name,
      positiveInteger(name, merged[name]),
    ]),
  ) as unknown as GroupSettings;
  if (settings.suspicionTimeoutMs < 2 * settings.heartbeatIntervalMs)
    throw new RangeError(
      `suspicionTimeoutMs (${settings.suspicionTimeoutMs}) must be at least twice heartbeatIntervalMs (${settings.heartbeatIntervalMs}), or one lost heartbeat is a false suspicion`,
    );
  // A do-view-change or start-view carries the uncommitted suffix in one message.
  if (settings.preparesInFlightMax > settings.entriesPerMessageMax)
    throw new RangeError(
      `preparesInFlightMax (${settings.preparesInFlightMax}) must not exceed entriesPerMessageMax (${settings.entriesPerMessageMax})`,
    );
  // Keep one message within the default codec frame (16 KiB) with room for the envelope.
  if (settings.entriesPerMessageMax * settings.opBytesMax > 12_288 || settings.snapshotBytesMax > 12_288)
    throw new RangeError(
      'entriesPerMessageMax × opBytesMax and snapshotBytesMax must each stay within 12 288 bytes (one frame)',
    );
  return settings;
}

/** The member's timers are one periodic tick of `heartbeatIntervalMs`; timeouts count ticks. */
export function ticksFor(durationMs: number, settings: GroupSettings): number {
  return Math.max(1, Math.ceil(durationMs / settings.heartbeatIntervalMs));
}
