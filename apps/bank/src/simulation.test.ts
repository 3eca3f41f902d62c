// The bank under the simulator (the scenario behind `steadfast sim`). Invariants: no negative
// balance and money conserved after every event, whatever the faults; after the heal every client
// transfer has a final outcome and the balances match the outcomes exactly (exactly once).
import { ALL_FAULTS } from '@steadfast/sim';
import { describe, expect, it } from 'vitest';
import { runBankSimulation } from './simulation.js';

describe('bank simulation', () => {
  it('keeps every invariant under every fault kind, over 20 seeds', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const result = await runBankSimulation({ seed, faults: [...ALL_FAULTS], trace: false });
      expect(result.violations, `seed ${seed}: ${result.replayCommand}`).toEqual([]);
      expect(result.ok).toBe(true);
    }
  });

  it('moves real money: transfers happen, and crashes and partitions were injected', async () => {
    const result = await runBankSimulation({
      seed: 3,
      faults: [...ALL_FAULTS],
      trace: true,
      hashStates: false,
    });
    const replies = result.trace.events.filter(
      (event) =>
        event.type === 'deliver' && event.actor === 'client' && event.envelope.kind === 'async-reply',
    );
    expect(replies.length).toBeGreaterThanOrEqual(3 * 40);
    expect(result.faultsInjected.crash + result.faultsInjected.partition).toBeGreaterThan(0);
  });

  it('reports clients that could not finish when the liveness phase is too short (the check can fail)', async () => {
    const result = await runBankSimulation({
      seed: 1,
      faults: [],
      safetyMs: 50,
      livenessMs: 50,
      trace: false,
    });
    expect(result.ok).toBe(false);
    expect(result.violations.some((violation) => /did not finish/.test(violation.message))).toBe(true);
    expect(result.replayCommand).toContain('--seed 1');
  });
});
