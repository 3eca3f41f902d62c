/**
 * The replica lifecycle machine through xstate's pure `transition()`: each event gives the next
 * state and the actions to carry out, nothing run. Invariants: a replica never becomes primary
 * without a flush unless the group is new (nothing processed anywhere); a joining replica never
 * serves before its state transfer; a diverged replica is never promoted; a replica taken out of
 * the group comes back only through a state transfer (joining), having dropped the order it knew.
 */
import { describe, expect, it } from 'vitest';
import {
  initialLifecycle,
  lifecycleState,
  stepLifecycle,
  type LifecycleEvent,
  type LifecycleSnapshot,
} from './lifecycle.js';

const view = (primary: boolean, fresh = false, member = true, continuous = true): LifecycleEvent => ({
  type: 'view',
  member,
  primary,
  fresh,
  continuous,
});

function run(joining: boolean, events: readonly LifecycleEvent[]): { states: string[]; actions: string[][] } {
  let snapshot: LifecycleSnapshot = initialLifecycle(joining).snapshot;
  const states: string[] = [];
  const actions: string[][] = [];
  for (const event of events) {
    const next = stepLifecycle(snapshot, event);
    snapshot = next.snapshot;
    states.push(lifecycleState(snapshot));
    actions.push(next.actions);
  }
  return { states, actions };
}

describe('replica lifecycle (xstate transition)', () => {
  it('the first primary of a new group starts at once; a backup promoted later flushes first', () => {
    expect(run(false, [view(true, true)])).toEqual({ states: ['primary'], actions: [['becomePrimary']] });
    expect(run(false, [view(false), view(true), { type: 'flushed' }])).toEqual({
      states: ['backup', 'recovering', 'primary'],
      actions: [[], ['startFlush'], ['becomePrimary']],
    });
  });

  it('a flush interrupted by a later view is restarted for the new epoch, or abandoned if another is primary', () => {
    expect(run(false, [view(false), view(true), view(true)]).actions).toEqual([
      [],
      ['startFlush'],
      ['startFlush'],
    ]);
    expect(run(false, [view(false), view(true), view(false)])).toEqual({
      states: ['backup', 'recovering', 'backup'],
      actions: [[], ['startFlush'], ['abandonFlush']],
    });
  });

  it('a joining replica asks for the state, refuses to be primary, and serves as a backup only after the transfer', () => {
    const initial = initialLifecycle(true);
    expect(lifecycleState(initial.snapshot)).toBe('joining');
    expect(initial.actions).toEqual(['requestState']);
    expect(run(true, [view(false), view(true), { type: 'state-transferred' }])).toEqual({
      states: ['joining', 'joining', 'backup'],
      actions: [[], ['refusePromotion'], []],
    });
  });

  it('a diverged replica is never promoted; a primary that leaves the view steps down', () => {
    expect(run(false, [view(false), { type: 'diverged' }, view(true), { type: 'flushed' }]).states).toEqual([
      'backup',
      'diverged',
      'diverged',
      'diverged',
    ]);
    expect(run(false, [view(true, true), view(false, false, false)])).toEqual({
      states: ['primary', 'removed'],
      actions: [['becomePrimary'], ['stepDown']],
    });
  });

  it('a replica taken out while alive (outside) and added back joins by state transfer, forgetting the order it knew', () => {
    expect(
      run(false, [view(false), { type: 'outside' }, view(false), { type: 'state-transferred' }]),
    ).toEqual({
      states: ['backup', 'removed', 'joining', 'backup'],
      actions: [[], [], ['forgetOrder', 'requestState'], []],
    });
    // Added back as the primary of the view: it cannot serve, so it asks membership to move on.
    expect(run(false, [view(true, true), { type: 'outside' }, view(true)])).toEqual({
      states: ['primary', 'removed', 'joining'],
      actions: [['becomePrimary'], ['stepDown'], ['forgetOrder', 'refusePromotion', 'requestState']],
    });
    // A diverged replica that membership took out starts over the same way.
    expect(run(false, [view(false), { type: 'diverged' }, { type: 'outside' }, view(false)]).states).toEqual([
      'backup',
      'diverged',
      'removed',
      'joining',
    ]);
    // Outside while recovering: the flush is abandoned.
    expect(run(false, [view(false), view(true), { type: 'outside' }]).actions).toEqual([
      [],
      ['startFlush'],
      ['abandonFlush'],
    ]);
  });

  it('a primary named again after missing epochs flushes first; one named in the very next epoch goes on', () => {
    expect(run(false, [view(true, true), view(true)])).toEqual({
      states: ['primary', 'primary'],
      actions: [['becomePrimary'], []],
    });
    expect(run(false, [view(true, true), view(true, false, true, false), { type: 'flushed' }])).toEqual({
      states: ['primary', 'recovering', 'primary'],
      actions: [['becomePrimary'], ['stepDown', 'startFlush'], ['becomePrimary']],
    });
  });

  it('a replica whose processed positions a later basis cuts starts over by state transfer, from any serving role', () => {
    expect(run(false, [view(false), { type: 'discarded' }]).actions).toEqual([
      [],
      ['forgetOrder', 'requestState'],
    ]);
    expect(run(false, [view(true, true), { type: 'discarded' }])).toEqual({
      states: ['primary', 'joining'],
      actions: [['becomePrimary'], ['stepDown', 'forgetOrder', 'requestState']],
    });
    expect(run(false, [view(false), view(true), { type: 'discarded' }]).actions).toEqual([
      [],
      ['startFlush'],
      ['abandonFlush', 'forgetOrder', 'requestState'],
    ]);
  });

  it('a backup whose primary no longer keeps the announcement it lacks starts over by state transfer; no other role does', () => {
    expect(run(false, [view(false), { type: 'fell-behind' }])).toEqual({
      states: ['backup', 'joining'],
      actions: [[], ['forgetOrder', 'requestState']],
    });
    // Only a backup asks for the order (`rep-entries-request`): an answer reaching another role is
    // ignored there, and the machine changes nothing either.
    expect(run(false, [view(true, true), { type: 'fell-behind' }]).states).toEqual(['primary', 'primary']);
    expect(run(true, [view(false), { type: 'fell-behind' }]).states).toEqual(['joining', 'joining']);
  });
});
