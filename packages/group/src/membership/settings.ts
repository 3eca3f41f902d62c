/**
 * Settings of a group member: the failure detector's timing, the view change's patience and the
 * bounds on everything the member holds or sends. Defaults are tuned for a LAN (loopback or one
 * switch): a heartbeat every 30 ms on an idle link and suspicion after 150 ms of silence, so a
 * crashed primary is replaced in about 150–250 ms. With `autoMembership` (opt-in) a silent member
 * is evicted after twice the suspicion timeout and a node outside asks to join again.
 * `groupSettings` validates and fills defaults; a bad value is a programmer error and throws a
 * `RangeError` naming the setting.
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
  /**
   * Views that exclude crashed members (virtual synchrony): the primary evicts a member it has not
   * heard from for `evictAfterMs`, and a running node outside the group asks to join again. Off
   * by default: then views list the whole configuration, dead members included.
   */
  readonly autoMembership: boolean;
  /**
   * With `autoMembership`: the primary proposes `leave` for a member silent this long (and primary
   * for at least this long). Default: twice `suspicionTimeoutMs`; never below it.
   */
  readonly evictAfterMs: number;
  /** With `autoMembership`: the primary never evicts a member when the group has this many or fewer. */
  readonly membersMin: number;
  /** With `autoMembership`: a node outside the group asks to join again this often. */
  readonly rejoinRetryMs: number;
}

/**
 * The default settings (docs/group-membership.md, Settings), what `groupSettings()` returns with no
 * overrides. Its `evictAfterMs` is twice the default suspicion timeout; `groupSettings` recomputes it
 * from an overridden `suspicionTimeoutMs` unless `evictAfterMs` is given too.
 */
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
  autoMembership: false,
  evictAfterMs: 300,
  membersMin: 1,
  rejoinRetryMs: 150,
};

type NumericSetting = Exclude<keyof GroupSettings, 'autoMembership'>;

function positiveInteger(name: NumericSetting, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`group setting ${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/** Fills defaults and checks every setting; throws a `RangeError` naming the first bad one. */
export function groupSettings(overrides: Partial<GroupSettings> = {}): GroupSettings {
  const merged = { ...GROUP_DEFAULTS, ...overrides };
  // The eviction delay follows the suspicion timeout unless it is given.
  const filled = { ...merged, evictAfterMs: overrides.evictAfterMs ?? 2 * merged.suspicionTimeoutMs };
  if (typeof merged.autoMembership !== 'boolean')
    throw new RangeError(
      `group setting autoMembership must be a boolean, got ${String(merged.autoMembership)}`,
    );
  const numbers = Object.fromEntries(
    (Object.keys(GROUP_DEFAULTS) as (keyof GroupSettings)[])
      .filter((name): name is NumericSetting => name !== 'autoMembership')
      .map((name) => [name, positiveInteger(name, filled[name])]),
  ) as Record<NumericSetting, number>;
  const settings: GroupSettings = { ...numbers, autoMembership: merged.autoMembership };
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
  // Evicting a member before it could even be suspected would remove live members on a blip.
  if (settings.evictAfterMs < settings.suspicionTimeoutMs)
    throw new RangeError(
      `evictAfterMs (${settings.evictAfterMs}) must be at least suspicionTimeoutMs (${settings.suspicionTimeoutMs})`,
    );
  return settings;
}

/** The member's timers are one periodic tick of `heartbeatIntervalMs`; timeouts count ticks. */
export function ticksFor(durationMs: number, settings: GroupSettings): number {
  return Math.max(1, Math.ceil(durationMs / settings.heartbeatIntervalMs));
}
