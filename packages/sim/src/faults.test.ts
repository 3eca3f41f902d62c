/**
 * Fault schedules read from untrusted JSON (`faultScheduleFrom`): what the fast-check property
 * prints as a counterexample, and `sim replication --schedule` takes, must come back as the same
 * schedule; anything else is refused with a message naming the entry and the field, never a throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { faultScheduleArbitrary } from './arbitraries.js';
import { FAULT_SCHEDULE_ENTRIES_MAX, faultScheduleFrom } from './faults.js';

describe('faultScheduleFrom', () => {
  it('reads back every generated schedule through JSON unchanged (model: the schedule itself)', () => {
    fc.assert(
      fc.property(
        faultScheduleArbitrary({ nodes: ['a', 'b', 'c', 'd'], safetyMs: 3_000, entriesMax: 20 }),
        (schedule) => {
          const read = faultScheduleFrom(JSON.parse(JSON.stringify(schedule)));
          expect(read).toEqual({ ok: true, schedule });
        },
      ),
    );
  });

  it('sorts the entries by time, as the simulator applies them', () => {
    const read = faultScheduleFrom([
      { atMs: 900, fault: 'crash', nodes: ['b1'] },
      { atMs: 100, fault: 'partition', nodes: ['a1', 'b1'], durationMs: 50 },
    ]);
    expect(read.ok && read.schedule.map((entry) => entry.atMs)).toEqual([100, 900]);
  });

  it('refuses what is not a schedule, naming the entry and the field, and never throws', () => {
    const problem = (value: unknown) => {
      const read = faultScheduleFrom(value);
      return read.ok ? 'accepted' : read.error;
    };
    const crash = { atMs: 10, fault: 'crash', nodes: ['b1'] };
    expect(problem({ atMs: 1 })).toBe('a fault schedule must be an array of entries');
    expect(problem([crash, null])).toBe('fault schedule entry 1: not an object');
    expect(problem([{ ...crash, atMs: -1 }])).toBe(
      'fault schedule entry 0: atMs must be a non-negative integer',
    );
    expect(problem([{ ...crash, atMs: 1.5 }])).toBe(
      'fault schedule entry 0: atMs must be a non-negative integer',
    );
    expect(problem([{ ...crash, fault: 'meteor' }])).toMatch(
      /^fault schedule entry 0: fault must be one of crash, /,
    );
    expect(problem([{ ...crash, nodes: [] }])).toBe(
      'fault schedule entry 0: nodes must be a non-empty array of node ids',
    );
    expect(problem([{ ...crash, nodes: [1] }])).toBe(
      'fault schedule entry 0: nodes must be a non-empty array of node ids',
    );
    expect(problem([{ ...crash, durationMs: 0 }])).toBe(
      'fault schedule entry 0: durationMs must be a positive integer',
    );
    expect(problem([{ ...crash, fault: 'loss', intensity: 1.5 }])).toBe(
      'fault schedule entry 0: intensity of loss is a probability, at most 1',
    );
    expect(problem([{ ...crash, fault: 'delay', intensity: 250 }])).toBe('accepted');
    expect(problem([{ ...crash, fault: 'delay', intensity: Number.NaN }])).toBe(
      'fault schedule entry 0: intensity must be a finite non-negative number',
    );
    expect(problem([{ ...crash, atms: 5 }])).toBe('fault schedule entry 0: unknown field "atms"');
    expect(problem(Array.from({ length: FAULT_SCHEDULE_ENTRIES_MAX + 1 }, () => crash))).toBe(
      `a fault schedule has at most ${FAULT_SCHEDULE_ENTRIES_MAX} entries, got ${FAULT_SCHEDULE_ENTRIES_MAX + 1}`,
    );
    fc.assert(
      fc.property(fc.anything(), (value) => {
        expect(() => faultScheduleFrom(value)).not.toThrow();
      }),
    );
  });
});
