// How an order entry names the message its primary processed (`MessageInput`): by channel, and by
// the epoch and position of the copy. Invariant: a backup takes a copy for an entry only if it is
// that very message: the same epoch and position; or, across epochs, the same position where the
// older copy is in its source group's decided order (a later primary resent that output). A copy
// of another position, or a later primary's copy of a channel whose older message its group never
// decided, is another message; until the source group's bases tell which, the backup waits.
import { nodeId } from '@steadfast/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isHeldCopyNamed, isNamedCopy } from './replica.js';
import { applicationPayload, type EpochBasis, type MessageInput } from './types.js';

function copy(epoch: number, position: number) {
  const id = { origin: nodeId('C'), incarnation: 0, sequence: 5 };
  return applicationPayload(
    id,
    'C',
    'A',
    5,
    { key: `sent in ${epoch}` },
    epoch,
    position,
    undefined,
    undefined,
  );
}

function named(sentEpoch: number, sentAt: number): MessageInput {
  return { type: 'message', source: 'C', channel: 5, sentEpoch, sentAt };
}

/** The source group's epoch 12 decided its order up to position 9 (seed 1399's basis). */
const bases: EpochBasis[] = [
  { epoch: 1, cut: 0 },
  { epoch: 12, cut: 9 },
];

describe('an entry names the very message its primary processed', () => {
  it('the same epoch and position: the same message', () => {
    expect(isNamedCopy(named(1, 10), copy(1, 10), bases)).toBe(true);
  });

  it('another position on the same channel: another message, whatever the epochs', () => {
    expect(isNamedCopy(named(1, 10), copy(1, 11), bases)).toBe(false);
    expect(isNamedCopy(named(1, 8), copy(12, 9), bases)).toBe(false);
  });

  it('a later primary resending a decided output: the same message, in either direction', () => {
    expect(isNamedCopy(named(1, 9), copy(12, 9), bases)).toBe(true);
    expect(isNamedCopy(named(12, 9), copy(1, 9), bases)).toBe(true);
  });

  it('seed 1399: the older copy was never decided, so the later primary’s copy is another message', () => {
    // The primary processed the cut-off sender's copy (epoch 1, position 10); the backup holds the
    // next primary's message on the same channel (epoch 12, position 10).
    expect(isNamedCopy(named(1, 10), copy(12, 10), bases)).toBe(false);
    expect(isNamedCopy(named(12, 10), copy(1, 10), bases)).toBe(false);
  });

  it('undecided until a basis of a later epoch is known: the backup waits', () => {
    expect(isNamedCopy(named(1, 10), copy(12, 10), [{ epoch: 1, cut: 0 }])).toBeUndefined();
    expect(isNamedCopy(named(1, 10), copy(12, 10), [])).toBeUndefined();
  });

  it('an unstamped copy (a peer backup’s kept output) goes by its position', () => {
    expect(isNamedCopy(named(0, 10), copy(1, 10), bases)).toBe(true);
    expect(isNamedCopy(named(1, 10), copy(0, 10), bases)).toBe(true);
    expect(isNamedCopy(named(0, 10), copy(1, 11), bases)).toBe(false);
  });

  it('an entry from a version that named the channel only takes the copy held', () => {
    expect(isNamedCopy({ type: 'message', source: 'C', channel: 5 }, copy(12, 10), bases)).toBe(true);
  });

  it('over any bases: symmetric in the two copies, and a copy always names itself', () => {
    const basesArbitrary = fc.uniqueArray(
      fc.record({ epoch: fc.integer({ min: 1, max: 6 }), cut: fc.nat(12) }),
      {
        selector: (basis) => basis.epoch,
        maxLength: 4,
      },
    );
    fc.assert(
      fc.property(
        basesArbitrary,
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 6 }),
        fc.nat(12),
        fc.nat(12),
        (sourceBases, epochA, epochB, positionA, positionB) => {
          expect(isNamedCopy(named(epochA, positionA), copy(epochA, positionA), sourceBases)).toBe(true);
          expect(isNamedCopy(named(epochA, positionA), copy(epochB, positionB), sourceBases)).toBe(
            isNamedCopy(named(epochB, positionB), copy(epochA, positionA), sourceBases),
          );
          if (positionA !== positionB)
            expect(isNamedCopy(named(epochA, positionA), copy(epochB, positionB), sourceBases)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a held copy is taken only for the very message: the same epoch and position, or its position where an epoch is 0', () => {
    // A backup holds a copy until its source group's next basis judges it; it takes it for an entry
    // of its primary without that basis, so no base may vouch for another epoch's copy here.
    expect(isHeldCopyNamed(named(1, 10), copy(1, 10))).toBe(true);
    expect(isHeldCopyNamed(named(1, 9), copy(12, 9))).toBe(false);
    expect(isHeldCopyNamed(named(1, 10), copy(1, 11))).toBe(false);
    // Seed 7619: the primary got the reply from the peer group's flush answer, unstamped.
    expect(isHeldCopyNamed(named(0, 11), copy(1, 11))).toBe(true);
    expect(isHeldCopyNamed(named(1, 11), copy(0, 11))).toBe(true);
    expect(isHeldCopyNamed(named(0, 11), copy(1, 12))).toBe(false);
    expect(
      isHeldCopyNamed({ type: 'message', source: 'D', channel: 5, sentEpoch: 1, sentAt: 10 }, copy(1, 10)),
    ).toBe(false);
  });

  it('a held copy an entry names is one the entry names whatever the bases say', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 6 }),
        fc.nat(12),
        fc.nat(12),
        (epochA, epochB, positionA, positionB) => {
          if (!isHeldCopyNamed(named(epochA, positionA), copy(epochB, positionB))) return;
          expect(isNamedCopy(named(epochA, positionA), copy(epochB, positionB), bases)).toBe(true);
          expect(isNamedCopy(named(epochA, positionA), copy(epochB, positionB), [])).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
