/**
 * Group-layer commands: `sim group` (many seeds of the membership + atomic broadcast workload in
 * the simulator), `bench failover` (SIGKILL the primary of a 3-process group under load) and
 * `bench broadcast` (atomic-broadcast throughput and latency over UDP next to a bare UDP ping-pong).
 */
import { runGroupSimulation, runMulticastSimulation } from '@steadfast/group/testing';
import { ALL_FAULTS } from '@steadfast/sim';
import { createSocket } from 'node:dgram';
import {
  UsageError,
  faultsFlag,
  humanOutput,
  integerFlag,
  loadFigures,
  percentile,
  printJson,
  round,
  sweepSeeds,
  waitFor,
  within,
  type CommandSpec,
  type LoadFigures,
} from '../cli-kit.js';
import { GroupClient, type SubmitOutcome } from '../group-app.js';
import {
  GROUP_NAME,
  ledgerOf,
  startGroupProcessCluster,
  type GroupProcessCluster,
} from '../group-cluster.js';

export const simGroupCommand: CommandSpec = {
  name: 'sim group',
  summary: 'Run many seeds of the group workload (views, atomic broadcast, multicast) under the nemesis.',
  usage:
    'steadfast sim group --seeds N [--from S] [--faults LIST] [--members K] [--spares J --changes C] [--auto-membership] [--json]',
  details:
    `Seeds S … S+N−1 (default S = 1). Faults: ${ALL_FAULTS.join(', ')} (default all).\n` +
    'Each seed runs two workloads: a group whose clients broadcast through it, and a multicast\n' +
    'connection between a group of 3 and a group of 2 whose members multicast (claims 36-37).\n' +
    'After every event: agreement on order, no duplicate, no op that was never submitted, every\n' +
    'acknowledged op at its number, at most one primary per epoch. After the heal: every member\n' +
    'delivers every acknowledged op. With --changes, an operator asks for joins and leaves during the\n' +
    'run: configurations change only by committed ops and joiners end with the same state.\n' +
    'Each violation names its seed and the command that replays it.',
  options: {
    seeds: { type: 'string', description: 'how many seeds to run (required)' },
    from: { type: 'string', description: 'first seed (default 1)' },
    faults: { type: 'string', description: 'comma-separated fault kinds (default all)' },
    members: { type: 'string', description: 'group size (default 3)' },
    spares: {
      type: 'string',
      description: 'extra nodes that start outside the group and may join (default 0)',
    },
    changes: {
      type: 'string',
      description: 'joins and leaves an operator asks for during each run (default 0)',
    },
    'auto-membership': {
      type: 'boolean',
      description: 'members evict silent members; restarted nodes rejoin',
    },
    json: { type: 'boolean', description: 'print {"runs","violations","deliveries","viewChanges","wallMs"}' },
  },
  async run(args) {
    const json = args.values.json === true;
    const say = humanOutput(json);
    if (args.values.seeds === undefined) throw new UsageError('--seeds is required');
    const seeds = integerFlag(args, 'seeds', 1, 1, 1_000_000);
    const from = integerFlag(args, 'from', 1, 0, 2 ** 32 - 1);
    const members = integerFlag(args, 'members', 3, 1, 9);
    const spares = integerFlag(args, 'spares', 0, 0, 8);
    const membershipChanges = integerFlag(args, 'changes', 0, 0, 100);
    const autoMembership = args.values['auto-membership'] === true;
    if (membershipChanges > 0 && spares === 0)
      throw new UsageError('--changes needs --spares: joins need nodes to join');
    const faults = faultsFlag(args);
    let deliveries = 0;
    let multicasts = 0;
    let viewChanges = 0;
    const { violations, wallMs } = await sweepSeeds({ from, seeds }, say, async (seed) => {
      // Two workloads per seed: membership + atomic broadcast, and a multicast connection between
      // two groups (claims 36-37) whose members keep multicasting through the same faults.
      const broadcast = await runGroupSimulation({
        seed,
        faults,
        members,
        spares,
        membershipChanges,
        ...(autoMembership ? { settings: { autoMembership: true } } : {}),
      });
      const multicast = await runMulticastSimulation({ seed, faults });
      deliveries += broadcast.deliveries + multicast.deliveries;
      multicasts += multicast.multicasts;
      viewChanges += broadcast.viewChanges + multicast.viewChanges;
      return [
        ...broadcast.violations.map((violation) => ({
          message: violation.message,
          replay: broadcast.replayCommand,
        })),
        ...multicast.violations.map((violation) => ({
          message: violation.message,
          replay: multicast.replayCommand,
        })),
      ];
    });
    say(
      `${seeds} runs, ${violations.length} violations, ${deliveries} deliveries (${multicasts} multicasts), ${viewChanges} view changes, ${wallMs} ms`,
    );
    if (json) printJson({ runs: seeds, violations, deliveries, multicasts, viewChanges, wallMs });
    return violations.length === 0 ? 0 : 1;
  },
};

/** Submitters that keep the group busy; each records what was acknowledged. */
function startLoad(
  group: GroupProcessCluster,
  submitters: number,
  onCommitted: (outcome: SubmitOutcome, clientId: string) => void,
) {
  let running = true;
  const acknowledged = new Map<string, number>();
  const loops = Array.from({ length: submitters }, async (_, index) => {
    const clientId = `load-${index}`;
    const client = new GroupClient(group.client, GROUP_NAME, group.members, clientId);
    let submitted = 0;
    while (running) {
      const outcome = await client.submit({ n: submitted++, from: clientId });
      if (outcome === undefined) continue;
      acknowledged.set(clientId, submitted);
      onCommitted(outcome, clientId);
    }
  });
  return {
    acknowledged,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Every acknowledged op is in every live member's state; returns how many are missing. Backups
 * learn the last commits from the primary's next heartbeat, so first wait (bounded) until every
 * live member is in normal status at the same commit number.
 */
async function lostAcknowledged(
  group: GroupProcessCluster,
  acknowledged: ReadonlyMap<string, number>,
): Promise<number> {
  const deadline = performance.now() + 5_000;
  while (performance.now() < deadline) {
    const states = await Promise.all(group.members.map((nodeId) => group.memberState(nodeId)));
    const live = states.filter((state) => state !== undefined);
    const settled =
      live.length > 0 &&
      live.every((state) => state.status === 'normal' && state.commitNumber === live[0]!.commitNumber);
    if (settled) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  let lost = 0;
  for (const nodeId of group.members) {
    const ledger = ledgerOf(await group.memberState(nodeId));
    if (ledger === undefined) continue;
    for (const [clientId, count] of acknowledged) {
      lost += Math.max(0, count - (ledger.highestRequest[clientId] ?? 0));
    }
  }
  return lost;
}

export const benchFailoverCommand: CommandSpec = {
  name: 'bench failover',
  summary: 'SIGKILL the primary of a 3-process group under load, N times; time until the new primary orders.',
  usage: 'steadfast bench failover [--trials N] [--json]',
  details:
    'Time is measured from the kill to the first op acknowledged by another member (the new primary).\n' +
    'After each trial the killed node restarts (new incarnation, state from its LMDB store) and rejoins.\n' +
    'lostAcknowledged counts ops acknowledged to a client but missing from a member at the end;\n' +
    'falseSuspicions counts view changes beyond one per kill.',
  options: {
    trials: { type: 'string', description: 'kills (default 10)' },
    json: {
      type: 'boolean',
      description: 'print {"trials","p50Ms","p99Ms","maxMs","lostAcknowledged","falseSuspicions"}',
    },
  },
  async run(args) {
    const json = args.values.json === true;
    const say = humanOutput(json);
    const trials = integerFlag(args, 'trials', 10, 1, 1000);
    say('starting a group of 3 node processes on loopback UDP…');
    const group = await startGroupProcessCluster(3);
    const failoverMs: number[] = [];
    try {
      let killedAt: number | undefined;
      let killed: string | undefined;
      let firstAfterKill: ((ms: number) => void) | undefined;
      const load = startLoad(group, 4, (outcome) => {
        if (killedAt !== undefined && outcome.orderedBy !== killed && firstAfterKill !== undefined) {
          const resolve = firstAfterKill;
          firstAfterKill = undefined;
          resolve(performance.now() - killedAt);
        }
      });
      const initial = await waitFor(() => group.primary(), 10_000, 'a primary');
      for (let trial = 1; trial <= trials; trial++) {
        const primary = await waitFor(() => group.primary(), 10_000, 'a primary');
        await new Promise((resolve) => setTimeout(resolve, 200)); // run under load for a moment
        const measured = new Promise<number>((resolve) => {
          firstAfterKill = resolve;
        });
        killed = primary.node;
        killedAt = performance.now();
        group.cluster.kill(primary.node);
        const ms = await within(measured, 10_000);
        if (ms === undefined) throw new Error('no new primary within 10 s');
        failoverMs.push(ms);
        say(
          `  trial ${trial}: killed ${primary.node} (epoch ${primary.epoch}); the new primary ordered after ${round(ms)} ms`,
        );
        killedAt = undefined;
        await group.cluster.restart(primary.node);
        await waitFor(
          async () => ((await group.memberState(primary.node))?.status === 'normal' ? true : undefined),
          10_000,
          `${primary.node} to rejoin`,
        );
      }
      await load.stop();
      const lost = await lostAcknowledged(group, load.acknowledged);
      const final = await waitFor(() => group.primary(), 10_000, 'a primary');
      const falseSuspicions = Math.max(0, final.epoch - initial.epoch - trials);
      const sorted = [...failoverMs].sort((a, b) => a - b);
      const summary = {
        trials,
        p50Ms: round(percentile(sorted, 0.5)),
        p99Ms: round(percentile(sorted, 0.99)),
        maxMs: round(sorted[sorted.length - 1] ?? 0),
        lostAcknowledged: lost,
        falseSuspicions,
      };
      say(
        `failover p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms, max ${summary.maxMs} ms; lost acknowledged ${lost}; false suspicions ${falseSuspicions}`,
      );
      if (json) printJson(summary);
      return lost === 0 ? 0 : 1;
    } finally {
      await group.close();
    }
  },
};

async function pingPong(requests: number): Promise<LoadFigures> {
  const server = createSocket('udp4');
  const client = createSocket('udp4');
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  server.on('message', (message, remote) => server.send(message, remote.port, remote.address));
  const port = server.address().port;
  const samples: number[] = [];
  let waiting: (() => void) | undefined;
  client.on('message', () => waiting?.());
  const started = performance.now();
  for (let index = 0; index < requests; index++) {
    const sent = performance.now();
    await new Promise<void>((resolve) => {
      const resend = setInterval(() => client.send(Buffer.from([index & 0xff]), port, '127.0.0.1'), 200);
      waiting = () => {
        clearInterval(resend);
        resolve();
      };
      client.send(Buffer.from([index & 0xff]), port, '127.0.0.1');
    });
    samples.push((performance.now() - sent) * 1000);
  }
  const elapsedMs = performance.now() - started;
  await Promise.all([
    new Promise((resolve) => server.close(() => resolve(undefined))),
    new Promise((resolve) => client.close(() => resolve(undefined))),
  ]);
  return loadFigures(requests, elapsedMs, samples);
}

export const benchBroadcastCommand: CommandSpec = {
  name: 'bench broadcast',
  summary: 'Atomic-broadcast throughput and latency on 3 processes over UDP, beside a bare UDP ping-pong.',
  usage: 'steadfast bench broadcast [--seconds S] [--concurrency C] [--json]',
  options: {
    seconds: { type: 'string', description: 'how long to load the group (default 5)' },
    concurrency: { type: 'string', description: 'clients with one op outstanding each (default 16)' },
    json: {
      type: 'boolean',
      description: 'print {"broadcast": {"opsPerSec","p50Us","p99Us"}, "pingPong": {...}}',
    },
  },
  async run(args) {
    const json = args.values.json === true;
    const say = humanOutput(json);
    const seconds = integerFlag(args, 'seconds', 5, 1, 600);
    const concurrency = integerFlag(args, 'concurrency', 16, 1, 256);
    say('bare UDP ping-pong…');
    const ping = await pingPong(3_000);
    say(`  ${ping.opsPerSec} round trips/s, p50 ${ping.p50Us} µs, p99 ${ping.p99Us} µs`);
    say(`atomic broadcast: 3 node processes, ${concurrency} clients, ${seconds} s…`);
    const group = await startGroupProcessCluster(3);
    try {
      await waitFor(() => group.primary(), 10_000, 'a primary');
      const latenciesUs: number[] = [];
      let committed = 0;
      const load = startLoad(group, concurrency, (outcome) => {
        committed++;
        latenciesUs.push(outcome.latencyMs * 1000);
      });
      await new Promise((resolve) => setTimeout(resolve, 500)); // warm-up
      const baseline = committed;
      latenciesUs.length = 0;
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const elapsedMs = performance.now() - started;
      const measured = committed - baseline;
      await load.stop();
      const lost = await lostAcknowledged(group, load.acknowledged);
      const broadcast = {
        ...loadFigures(measured, elapsedMs, latenciesUs),
        concurrency,
        lostAcknowledged: lost,
      };
      say(
        `  ${broadcast.opsPerSec} ops/s, p50 ${broadcast.p50Us} µs, p99 ${broadcast.p99Us} µs, lost acknowledged ${lost}`,
      );
      if (json) printJson({ broadcast, pingPong: ping });
      return lost === 0 ? 0 : 1;
    } finally {
      await group.close();
    }
  },
};
