// Seed `replica-supervisors.txt`: the primary's supervisor takes real values and logs them; the
// backup's supervisor never calls the real source and returns the logged values instead.
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from './clock.js';
import { entropyFrom } from './entropy.js';
import { Supervisor, SupervisorReplayError } from './supervisor.js';

describe('Supervisor', () => {
  it('record on the primary, replay on the backup: both see identical values; the backup never calls the source', () => {
    let calls = 0;
    const clock = new SimulatedClock(500);
    const primary = new Supervisor({ clock, entropy: entropyFrom(() => 0.25) }, 'record');
    const taken = [primary.now(), primary.random(), primary.id(), primary.call('disk', () => ++calls)];
    const backup = new Supervisor(
      { clock: new SimulatedClock(9_999), entropy: entropyFrom(() => 0.75) },
      'replay',
    );
    backup.feed(primary.drainRecorded());
    const replayed = [backup.now(), backup.random(), backup.id(), backup.call('disk', () => ++calls)];
    expect(replayed).toEqual(taken);
    expect(calls).toBe(1);
  });

  it('treats a request of another kind, or past the log, as a divergence', () => {
    const backup = new Supervisor({ clock: new SimulatedClock(), entropy: entropyFrom(() => 0) }, 'replay');
    backup.feed([{ kind: 'now', value: 1 }]);
    expect(() => backup.random()).toThrow(SupervisorReplayError);
    const exhausted = new Supervisor(
      { clock: new SimulatedClock(), entropy: entropyFrom(() => 0) },
      'replay',
    );
    expect(() => exhausted.now()).toThrow(/no more values/);
  });

  it('serves queued values first after promotion from replay to record', () => {
    const clock = new SimulatedClock(42);
    const supervisor = new Supervisor({ clock, entropy: entropyFrom(() => 0) }, 'replay');
    supervisor.feed([{ kind: 'now', value: 7 }]);
    supervisor.setMode('record');
    expect(supervisor.now()).toBe(7);
    expect(supervisor.now()).toBe(42);
    expect(supervisor.drainRecorded()).toEqual([{ kind: 'now', value: 42 }]);
  });
});
