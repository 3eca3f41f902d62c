/**
 * The lifecycle of one replica as an xstate v5 machine: which role it plays (starting, joining,
 * backup, recovering, primary, diverged, removed) and which transitions the views, the state
 * transfer, the failover flush and divergence cause. The machine holds no tables: `ReplicaRole`
 * keeps its heavy state (order, inputs, endpoints) in plain fields and consults this machine, through
 * xstate's pure `transition()`, whenever an event could change the role. The actions the machine
 * returns are data (their names): the role carries them out. docs/replication.md says why the
 * tables stay outside the machine.
 */
import { initialTransition, setup, transition, type SnapshotFrom } from 'xstate';

/**
 * What a view says about this replica; `fresh` when nothing was processed or announced yet;
 * `continuous` when its epoch directly follows the last view this replica installed (no epoch in
 * between that another primary could have ordered in).
 */
export type LifecycleEvent =
  | {
      readonly type: 'view';
      readonly member: boolean;
      readonly primary: boolean;
      readonly fresh: boolean;
      readonly continuous?: boolean;
    }
  /** A joining replica applied the primary's state transfer. */
  | { readonly type: 'state-transferred' }
  /** The failover flush concluded: the order up to the cut is decided. */
  | { readonly type: 'flushed' }
  | { readonly type: 'diverged' }
  /**
   * Membership says this replica is outside its group's newest configuration (it was removed while
   * alive: silent for too long, or diverged). A later view that includes it again adds it back.
   */
  | { readonly type: 'outside' }
  /**
   * A basis this replica learnt cuts before a position it processed in an older epoch: that
   * position was never decided, so its state is not the group's; it starts over by state transfer.
   */
  | { readonly type: 'discarded' }
  /**
   * A backup lacks the announcement of its next position, or the input it names, and its primary
   * no longer keeps it: nobody will give it again, so the backup starts over by state transfer (its
   * state is the group's, only behind).
   */
  | { readonly type: 'fell-behind' };

/** Effects the role carries out, by name, in the order the transition lists them. */
export type LifecycleAction =
  | 'becomePrimary'
  | 'startFlush'
  | 'abandonFlush'
  | 'stepDown'
  | 'requestState'
  | 'refusePromotion'
  | 'forgetOrder';

/**
 * Every `LifecycleAction`: `initialLifecycle` and `stepLifecycle` pass on only the actions of a
 * transition whose names are in this list, so the role gets its own actions and nothing else.
 */
export const LIFECYCLE_ACTIONS: readonly LifecycleAction[] = [
  'becomePrimary',
  'startFlush',
  'abandonFlush',
  'stepDown',
  'requestState',
  'refusePromotion',
  'forgetOrder',
];

const noop = () => {};

/**
 * The xstate v5 machine of a replica's role: `starting`, `joining`, `backup`, `recovering`,
 * `primary`, `diverged`, `removed`, moved by `LifecycleEvent`s. It has no context, and its actions
 * do nothing when run: they are names (`LifecycleAction`) that `ReplicaRole` carries out. The role
 * never runs it as an actor; it steps it through the pure `initialLifecycle` and `stepLifecycle`.
 * docs/replication.md, "The lifecycle, an xstate machine".
 */
export const replicaLifecycle = setup({
  types: {
    context: {} as Record<string, never>,
    events: {} as LifecycleEvent,
    input: {} as { readonly joining: boolean },
  },
  guards: {
    notMember: ({ event }) => event.type === 'view' && !event.member,
    member: ({ event }) => event.type === 'view' && event.member,
    freshPrimary: ({ event }) => event.type === 'view' && event.primary && event.fresh,
    primary: ({ event }) => event.type === 'view' && event.primary,
    primaryContinuous: ({ event }) => event.type === 'view' && event.primary && event.continuous !== false,
  },
  // Actions are carried out by the role: the machine only names them.
  actions: {
    becomePrimary: noop,
    startFlush: noop,
    abandonFlush: noop,
    stepDown: noop,
    requestState: noop,
    refusePromotion: noop,
    forgetOrder: noop,
  },
}).createMachine({
  id: 'replica',
  context: {},
  initial: 'starting',
  states: {
    /** Spawned, no view yet. A restarted node's replica goes to `joining` on its first view. */
    starting: {
      on: {
        view: [
          { guard: 'notMember', target: 'removed' },
          { guard: 'freshPrimary', target: 'primary', actions: 'becomePrimary' },
          { guard: 'primary', target: 'recovering', actions: 'startFlush' },
          { target: 'backup' },
        ],
      },
    },
    /** A new incarnation: it waits for the primary's state transfer before it serves as a backup. */
    joining: {
      entry: 'requestState',
      on: {
        view: [
          { guard: 'notMember', target: 'removed' },
          // A replica without the state cannot order anything: it asks membership to move on
          // to the next epoch, whose primary is the next member by rank.
          { guard: 'primary', actions: 'refusePromotion' },
        ],
        'state-transferred': { target: 'backup' },
        diverged: { target: 'diverged' },
        outside: { target: 'removed' },
      },
    },
    backup: {
      on: {
        view: [
          { guard: 'notMember', target: 'removed' },
          { guard: 'primary', target: 'recovering', actions: 'startFlush' },
        ],
        diverged: { target: 'diverged' },
        outside: { target: 'removed' },
        discarded: { target: 'joining', actions: 'forgetOrder' },
        'fell-behind': { target: 'joining', actions: 'forgetOrder' },
      },
    },
    /** The new primary of a view: it flushes the old primary's epoch before it orders anything. */
    recovering: {
      on: {
        view: [
          { guard: 'notMember', target: 'removed', actions: 'abandonFlush' },
          // A later view with this replica still primary: flush again, for the new epoch.
          { guard: 'primary', target: 'recovering', reenter: true, actions: 'startFlush' },
          { target: 'backup', actions: 'abandonFlush' },
        ],
        flushed: { target: 'primary', actions: 'becomePrimary' },
        diverged: { target: 'diverged' },
        outside: { target: 'removed', actions: 'abandonFlush' },
        discarded: { target: 'joining', actions: ['abandonFlush', 'forgetOrder'] },
      },
    },
    primary: {
      on: {
        view: [
          { guard: 'notMember', target: 'removed', actions: 'stepDown' },
          // Primary again in the next epoch: nobody else ordered in between.
          { guard: 'primaryContinuous' },
          // Primary of a later epoch after missing some (membership installed them without this
          // node, cut off): another primary may have ordered meanwhile, so flush like a new one.
          { guard: 'primary', target: 'recovering', actions: ['stepDown', 'startFlush'] },
          { target: 'backup', actions: 'stepDown' },
        ],
        outside: { target: 'removed', actions: 'stepDown' },
        discarded: { target: 'joining', actions: ['stepDown', 'forgetOrder'] },
      },
    },
    /**
     * Reported to membership with its position; never promoted. Membership takes it out of the
     * group (`outside`); if it is added back, it starts over from a state transfer.
     */
    diverged: {
      on: {
        outside: { target: 'removed' },
      },
    },
    /**
     * Out of the group: it takes part in nothing. A view that includes it again means it was added
     * back after missing whatever the group did meanwhile: it drops the order it knew and joins
     * like a new incarnation, by state transfer.
     */
    removed: {
      on: {
        view: [
          { guard: 'primary', target: 'joining', actions: ['forgetOrder', 'refusePromotion'] },
          { guard: 'member', target: 'joining', actions: 'forgetOrder' },
        ],
      },
    },
  },
});

/** A snapshot of `replicaLifecycle`: what `ReplicaRole` holds as its role and steps with `stepLifecycle`. */
export type LifecycleSnapshot = SnapshotFrom<typeof replicaLifecycle>;
/** The states of `replicaLifecycle`, by the same names as `ReplicaRoleName`. */
export type LifecycleState =
  'starting' | 'joining' | 'backup' | 'recovering' | 'primary' | 'diverged' | 'removed';

/** The first snapshot: `starting`, or `joining` for a restarted (new) incarnation. */
export function initialLifecycle(joining: boolean): {
  snapshot: LifecycleSnapshot;
  actions: LifecycleAction[];
} {
  const [snapshot, actions] = initialTransition(replicaLifecycle, { joining });
  if (!joining) return { snapshot, actions: actionNames(actions) };
  // A joining replica starts in `joining`: resolve that state directly (no event needed).
  const joiningSnapshot = replicaLifecycle.resolveState({ value: 'joining', context: {} });
  return { snapshot: joiningSnapshot, actions: ['requestState'] };
}

/** The pure step: the next snapshot and the actions to carry out, nothing run. */
export function stepLifecycle(
  snapshot: LifecycleSnapshot,
  event: LifecycleEvent,
): { snapshot: LifecycleSnapshot; actions: LifecycleAction[] } {
  const [next, actions] = transition(replicaLifecycle, snapshot, event);
  return { snapshot: next, actions: actionNames(actions) };
}

/** The state `snapshot` is in, typed: the machine has no nested states, so its value is one name. */
export function lifecycleState(snapshot: LifecycleSnapshot): LifecycleState {
  return snapshot.value as LifecycleState;
}

function actionNames(actions: readonly { readonly type: string }[]): LifecycleAction[] {
  return actions
    .map((action) => action.type)
    .filter((name): name is LifecycleAction => (LIFECYCLE_ACTIONS as readonly string[]).includes(name));
}
