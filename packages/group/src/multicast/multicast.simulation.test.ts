// Simulation of one multicast connection between a group of 3 and a group of 2 under every fault
// class (seed 001, claim 36), with scripted views that remove crashed members and re-add them as
// new incarnations. After every event: each replica delivered each sender's stream in order, with
// no gap, no duplicate and nothing that was never sent; buffers stay within the window. After the
// heal: every message of a sender that is still alive reached every live replica, replicas agree
// on what they have of departed senders, and every retransmission buffer drained.
import { ALL_FAULTS, formatReport, Simulation, type FaultKind } from '@steadfast/sim';
import { describe, expect, it } from 'vitest';
import { MulticastHarness } from './testing/harness.js';

const groups = { A: ['a1', 'a2', 'a3'], B: ['b1', 'b2'] };

function simulate(seed: number, faults: readonly FaultKind[] = ALL_FAULTS) {
  const harness = new MulticastHarness({ groups, settings: { windowMax: 32 } });
  const simulation = new Simulation({
    seed,
    nodes: harness.nodes,
    setup: harness.setup,
    workload: harness.workload,
    faults,
    safetyMs: 2_000,
    livenessMs: 3_000,
    trace: false,
    invariants: [harness.invariant],
    liveness: [harness.liveness],
  });
  return { harness, simulation };
}

const SEEDS = Number(process.env['MULTICAST_SEEDS'] ?? 200);

describe('multicast connection under the nemesis (claim 36)', () => {
  it(`keeps sender order, exactly-once delivery and bounded buffers, then delivers everything and drains, over ${SEEDS} seeds`, async () => {
    let multicasts = 0;
    let deliveries = 0;
    let crashes = 0;
    let viewChanges = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { harness, simulation } = simulate(seed);
      const result = await simulation.run();
      expect(result.ok, `seed ${seed}\n${formatReport(result)}`).toBe(true);
      multicasts += harness.multicasts;
      deliveries += harness.deliveries;
      crashes += result.faultsInjected.crash;
      viewChanges += harness.viewChanges;
    }
    // The runs did real work: messages, crashes and view changes happened.
    expect(multicasts).toBeGreaterThan(SEEDS * 50);
    expect(deliveries).toBeGreaterThan(multicasts * 3);
    expect(crashes).toBeGreaterThan(SEEDS / 2);
    expect(viewChanges).toBeGreaterThan(SEEDS / 2);
  }, 600_000);

  it('reports a duplicate delivery fed to its recorder (the safety check can fail)', async () => {
    // The checker must be able to fail: feed it a duplicate delivery by hand.
    const { harness, simulation } = simulate(1, []);
    await simulation.runUntil(500);
    const before = harness.deliveries;
    expect(before).toBeGreaterThan(0);
    const [replica, streams] = [...harness.lastDelivered.entries()][0]!;
    const [stream, last] = [...streams.entries()][0]!;
    const [origin, incarnation] = stream.split(':') as [string, string];
    (harness as unknown as { onDeliver: (...args: unknown[]) => void }).onDeliver(replica, 1, {
      id: { origin, incarnation: Number(incarnation), sequence: last },
      kind: 'one-way',
      payload: null,
    });
    expect(harness.invariant(simulation).join('\n')).toMatch(/gap, duplicate or disorder/);
  });
});
