/**
 * `steadfast sim`: the example bank in the deterministic simulator, under a seed.
 */
import { createBankSimulation, BANK_SIMULATION_DEFAULTS } from '@steadfast/example-bank';
import { ALL_FAULTS, formatReport, saveTrace } from '@steadfast/sim';
import {
  UsageError,
  faultsFlag,
  humanOutput,
  integerFlag,
  printJson,
  stringFlag,
  type CommandSpec,
} from '../cli-kit.js';

export const simCommand: CommandSpec = {
  name: 'sim',
  summary: 'Run the example bank in the deterministic simulator under a seed, with faults.',
  usage: 'steadfast sim --seed N [--nodes K] [--steps S] [--faults LIST] [--trace FILE] [--json]',
  details:
    `Faults: ${ALL_FAULTS.join(', ')} (default: all; "none" for none).\n` +
    'Invariants after every event: no negative balance, money conserved. After the healed liveness\n' +
    'phase: every transfer answered, and each took effect exactly once. The same seed and flags give\n' +
    'the same run, byte for byte (compare traceHash). Exit code 1 on a violation.',
  options: {
    seed: { type: 'string', description: 'the seed (a non-negative integer); required' },
    nodes: { type: 'string', description: `nodes (default ${BANK_SIMULATION_DEFAULTS.nodes})` },
    steps: { type: 'string', description: 'stop after this many events' },
    faults: { type: 'string', description: 'comma-separated fault kinds (default all)' },
    trace: { type: 'string', description: 'write the run’s trace to FILE' },
    json: {
      type: 'boolean',
      description: 'print {"seed","nodes","steps","events","traceHash","violations","simulatedMs","wallMs"}',
    },
  },
  async run(args) {
    const json = args.values.json === true;
    const say = humanOutput(json);
    if (args.values.seed === undefined) throw new UsageError('--seed is required');
    const seed = integerFlag(args, 'seed', 0, 0, 2 ** 32 - 1);
    const nodes = integerFlag(args, 'nodes', BANK_SIMULATION_DEFAULTS.nodes, 1, 32);
    const stepsRaw = stringFlag(args, 'steps');
    const eventsMax = stepsRaw === undefined ? undefined : integerFlag(args, 'steps', 0, 1);
    const faults = faultsFlag(args);
    const traceFile = stringFlag(args, 'trace');
    say(
      `simulating the bank: seed ${seed}, ${nodes} nodes, faults ${faults.length === 0 ? 'none' : faults.join(',')}…`,
    );
    const simulation = createBankSimulation({
      seed,
      nodes,
      faults,
      ...(eventsMax === undefined ? {} : { eventsMax }),
      wallClock: () => performance.now(),
    });
    const result = await simulation.run();
    if (traceFile !== undefined) {
      const bytes = saveTrace(traceFile, simulation);
      say(`trace written to ${traceFile} (${result.trace.events.length} events, ${bytes} bytes)`);
    }
    for (const line of formatReport(result).split('\n')) say(line);
    const wallMs = Math.round(result.wallMs ?? 0);
    say(
      `${result.events} events, ${result.simulatedMs} ms simulated in ${wallMs} ms (${Math.round(result.simulatedMs / Math.max(1, wallMs))}x real time)`,
    );
    if (json) {
      printJson({
        seed,
        nodes,
        steps: result.events,
        events: result.trace.events.length,
        traceHash: result.traceHash,
        violations: result.violations.map((violation) => ({ ...violation, replay: result.replayCommand })),
        simulatedMs: result.simulatedMs,
        wallMs,
        faultsInjected: result.faultsInjected,
      });
    }
    return result.ok ? 0 : 1;
  },
};
