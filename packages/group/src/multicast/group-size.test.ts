// Claim 37: a sender addresses the group, never its members, and needs no knowledge of how many
// replicas the other side has. The same sender code (the harness workload, which only names the
// connection) runs unchanged while the other group has 1, 2 or 4 replicas; each endpoint is given
// only its own group's view and one contact, and learns the other group's view from its peers.
import { formatReport, Simulation } from '@steadfast/sim';
import { describe, expect, it } from 'vitest';
import type { EndpointState } from './endpoint.js';
import { ACTOR, MulticastHarness } from './testing/harness.js';

describe('the sender does not know the other group (claim 37)', () => {
  for (const size of [1, 2, 4]) {
    it(`reaches every replica of a group of ${size} with the same sender code`, async () => {
      const B = Array.from({ length: size }, (_, index) => `b${index + 1}`);
      const harness = new MulticastHarness({ groups: { A: ['a1', 'a2'], B }, senders: ['a1'] });
      const simulation = new Simulation({
        seed: 37 + size,
        nodes: harness.nodes,
        setup: harness.setup,
        workload: harness.workload,
        faults: ['loss', 'duplicate', 'reorder'],
        safetyMs: 1_000,
        livenessMs: 2_000,
        trace: false,
        invariants: [harness.invariant],
        liveness: [harness.liveness],
      });
      const result = await simulation.run();
      expect(result.ok, formatReport(result)).toBe(true);
      const sender = simulation.node('a1')!.actorState(ACTOR) as EndpointState;
      expect(sender.sequence).toBeGreaterThan(5);
      // The sender learned the other group's size from its peers: nobody configured it.
      expect(sender.views['B']?.members).toHaveLength(size);
      for (const member of B) {
        const state = simulation.node(member)!.actorState(ACTOR) as EndpointState;
        expect(state.streams['a1:1']?.delivered, member).toBe(sender.sequence);
      }
    });
  }
});
