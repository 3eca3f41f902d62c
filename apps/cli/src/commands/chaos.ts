/**
 * `steadfast chaos replication`: the replicated bank account on 3 real node processes over real
 * UDP, in a network namespace of its own whose kernel loses and duplicates datagrams at random
 * throughout, and whose processes hold every datagram they send for a random delay (so datagrams
 * come late and out of order), while the run cuts members off (partitions, both ways and one way)
 * and SIGKILLs the primary.
 * It checks what a user of the group is promised: every deposit answered once and applied once.
 *
 * The command runs in two halves: the outer one (what the user starts) creates the namespace,
 * starts the inner one inside it (`ip netns exec`), passes its output through, and deletes the
 * namespace however the inner one ends. The inner one (`--inside NAME`) runs the cluster and the
 * load, and cuts and heals with nftables, which inside the namespace acts on its own rules only.
 */
import { spawn } from 'node:child_process';
import { parseEndpoint } from '@steadfast/net';
import { fileURLToPath } from 'node:url';
import {
  REPLICA_ACTOR_NAME,
  REPLICATION_STYLES as STYLES,
  type ReplicationStyle,
  isReplyTimeout,
} from '@steadfast/replication';
import {
  choiceFlag,
  humanOutput,
  integerFlag,
  printJson,
  stringFlag,
  UsageError,
  within,
  type CommandSpec,
  type ParsedArgs,
} from '../cli-kit.js';
import {
  createNamespace,
  cutPort,
  deleteNamespace,
  type CutDirection,
  faultCounts,
  healCut,
  namespaceUnavailable,
  type FaultCounts,
} from '../host/network-namespace.js';
import { memberActorName } from '@steadfast/group';
import { ACCOUNTS_GROUP, FRONT_GROUP } from '../replication-app.js';
import {
  startChainCluster,
  startReplicationCluster,
  waitFor,
  type ReplicationCluster,
} from '../replication-cluster.js';
import { sumDelays, type DelayCounts } from '../host/process-cluster.js';

const mainScript = fileURLToPath(new URL('../main.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');

/** Deposits in flight at once, as in `demo replication`. */
const IN_FLIGHT = 8;
/** A deposit not answered within this long counts as lost (the run goes on). */
const ANSWER_DEADLINE_MS = 20_000;
/** How long the group may take to be whole again after the cut heals or the killed node restarts. */
const WHOLE_AGAIN_MS = 30_000;
/** Default longest delay of a datagram, ms: under a load of 8 deposits it reorders every run. */
const DELAY_MS_DEFAULT = 5;

/** The options both chaos commands take for the private network's faults. */
const NETWORK_FAULT_OPTIONS = {
  loss: { type: 'string', description: 'datagrams dropped per thousand (default 50)' },
  duplicate: { type: 'string', description: 'datagrams duplicated per thousand (default 30)' },
  'delay-ms': {
    type: 'string',
    description: 'longest delay of a datagram, ms, each uniform from 0 (default 5; 0: none)',
  },
} as const;

/** `NETWORK_FAULT_OPTIONS`, read and checked. */
function networkFaultFlags(args: ParsedArgs): {
  lossPerMille: number;
  duplicatePerMille: number;
  delayMaxMs: number;
} {
  return {
    lossPerMille: integerFlag(args, 'loss', 50, 0, 500),
    duplicatePerMille: integerFlag(args, 'duplicate', 30, 0, 500),
    delayMaxMs: integerFlag(args, 'delay-ms', DELAY_MS_DEFAULT, 0, 1_000),
  };
}

export interface FaultFigures {
  readonly node: string;
  /** The longest time without an answer, from the fault until the group was whole again. */
  readonly longestGapMs: number;
  /** From the fault until every member served again (null: not within 30 s). */
  readonly wholeMs: number | null;
}

export interface ChaosSummary extends DepositTally {
  readonly style: ReplicationStyle;
  /** The primary cut off, and the fault's figures (`FaultFigures`); null if the run failed before. */
  readonly partition: FaultFigures | null;
  /**
   * The primary SIGKILLed afterwards (and restarted), and the same figures; null if the group was
   * not whole after the partition (the crash would be one failure more than it tolerates).
   */
  readonly crash: FaultFigures | null;
  /** A backup cut off after the crash, and the same figures; null if the run ended before. */
  readonly backupCut: FaultFigures | null;
  /**
   * The client cut off last: the longest wait for an answer from the cut on, and how long after
   * the cut healed the first answer came (null: none within 20 s); null if the run ended before.
   */
  readonly clientCut: { readonly longestGapMs: number; readonly resumedMs: number | null } | null;
  /**
   * Then the primary cut off one way: it hears the others but nothing it sends arrives (membership
   * replaces it, and it must not go on acting as primary once it hears of that), and the same
   * figures; null if the run ended before.
   */
  readonly primaryUnheard: FaultFigures | null;
  /** Then the primary cut off the other way: it is heard but hears nothing. */
  readonly primaryDeaf: FaultFigures | null;
  /**
   * Last, a backup that is heard but hears nothing: it must not force the others into view changes
   * (its pre-votes find no majority); the primary evicts it, and it rejoins after.
   */
  readonly backupDeaf: FaultFigures | null;
  /** What the kernel's rules did to the run's datagrams. */
  readonly faults: FaultCounts;
  /**
   * What the delays did. A SIGKILLed process's counts die with it, so these are the processes
   * alive at the end: the client, and the members (the restarted one since its restart).
   */
  readonly delays: DelayCounts;
}

export const chaosReplicationCommand: CommandSpec = {
  name: 'chaos replication',
  summary:
    'The replicated account on 3 processes in a private network that loses, duplicates and delays datagrams; cuts and a SIGKILL.',
  usage:
    'steadfast chaos replication [--style semi-active|passive] [--requests N] [--loss PERMILLE] [--duplicate PERMILLE] [--delay-ms MS] [--cut-ms MS] [--json]',
  details:
    'Runs `demo replication`’s cluster inside a network namespace of its own (Linux, root, iproute2 and\n' +
    'nftables), where the kernel drops --loss and duplicates --duplicate datagrams per thousand\n' +
    '(default 50 and 30) for the whole run, and every process holds each datagram it sends for a random\n' +
    'delay of 0 to --delay-ms (default 5), so datagrams to one peer also arrive out of order; all under\n' +
    'a steady load of 8 deposits in flight. Each time a third of --requests more are answered, it makes\n' +
    'one fault and waits until the group is whole again (every member back in the primary’s view, every\n' +
    'backup able to take over): it cuts the primary off for --cut-ms (default 1000); it SIGKILLs the\n' +
    'primary and restarts it; it cuts a backup off; it cuts the client off and waits for the answers to\n' +
    'resume; it cuts the primary one way (unheard, then deaf) and last makes a backup deaf. The load\n' +
    'stops when the faults are over and at least --requests were issued. It exits 0 when every deposit\n' +
    'was answered once and the balance is their sum, and the group recovered from every fault. The\n' +
    'namespace is deleted at the end (unless this command itself is SIGKILLed).',
  options: groupChaosOptions(600),
  run: (args) => runGroupChaos(args, { requests: 600, requestsMin: 30 }, runInside),
};

/** The options of `chaos replication` and `chaos chain`; `requests` is the default deposit count. */
function groupChaosOptions(requests: number) {
  return {
    style: { type: 'string', description: 'semi-active (default) or passive' },
    requests: { type: 'string', description: `deposits to send (default ${requests})` },
    ...NETWORK_FAULT_OPTIONS,
    'cut-ms': { type: 'string', description: 'how long each cut lasts (default 1000)' },
    inside: { type: 'string', description: '(internal) the namespace this half runs in' },
    json: { type: 'boolean', description: 'print the summary as one JSON object' },
  } as const;
}

/** What the inner half of a replica-group chaos run is given. */
interface GroupChaosRun {
  style: ReplicationStyle;
  requests: number;
  cutMs: number;
  delayMaxMs: number;
  /** `chaos chain --sync-reply-timeout-ms`: the front's `syncReplyTimeoutMs` (0: wait for ever). */
  syncReplyTimeoutMs: number;
  json: boolean;
}

/**
 * Both halves of `chaos replication` and `chaos chain`: outside (no `--inside`), makes the private
 * network and runs this same command in it; inside, runs `inside` with the parsed flags.
 */
async function runGroupChaos(
  args: ParsedArgs,
  requestsFlag: { readonly requests: number; readonly requestsMin: number },
  inside: (run: GroupChaosRun) => Promise<number>,
): Promise<number> {
  const style = choiceFlag(args, 'style', STYLES, 'semi-active');
  const requests = integerFlag(args, 'requests', requestsFlag.requests, requestsFlag.requestsMin, 100_000);
  const cutMs = integerFlag(args, 'cut-ms', 1_000, 0, 60_000);
  // Only `chaos chain` takes it (its options say so); for `chaos replication` it stays 0.
  const syncReplyTimeoutMs = integerFlag(args, 'sync-reply-timeout-ms', 0, 0, 60_000);
  const { lossPerMille, duplicatePerMille, delayMaxMs } = networkFaultFlags(args);
  const json = args.values.json === true;
  if (stringFlag(args, 'inside') !== undefined)
    return inside({ style, requests, cutMs, delayMaxMs, syncReplyTimeoutMs, json });
  const run = await runInPrivateNetwork({ lossPerMille, duplicatePerMille }, (name) => [
    ...process.argv.slice(2),
    '--inside',
    name,
  ]);
  return run.code;
}

/**
 * The bank of `steadfast demo` in the same private network: every datagram between its processes
 * may be lost or duplicated by the kernel. The demo's own checks decide the exit status (every
 * transfer answered, money conserved); this adds what the rules did.
 */
export const chaosDemoCommand: CommandSpec = {
  name: 'chaos demo',
  summary:
    'The example bank of `demo` in a private network that loses, duplicates, delays and reorders datagrams.',
  usage:
    'steadfast chaos demo [--loss PERMILLE] [--duplicate PERMILLE] [--delay-ms MS] [--nodes K] [--requests N] [--concurrency C] [--accounts A] [--json]',
  details:
    'Runs `steadfast demo` (the example bank on real processes) inside a network namespace of its own\n' +
    '(Linux, root, iproute2 and nftables) whose kernel drops --loss and duplicates --duplicate\n' +
    'datagrams per thousand (default 50 and 30), and whose processes hold each datagram they send for\n' +
    'a random 0 to --delay-ms (default 5; the demo’s --delay-ms). Exit status: the demo’s (0 when\n' +
    'every transfer was answered and the money is conserved). The namespace is deleted at the end.',
  options: {
    ...NETWORK_FAULT_OPTIONS,
    nodes: { type: 'string', description: 'node processes (the demo’s --nodes, default 3)' },
    requests: { type: 'string', description: 'transfers (the demo’s --requests, default 400)' },
    concurrency: { type: 'string', description: 'requests in flight (the demo’s --concurrency, default 16)' },
    accounts: { type: 'string', description: 'accounts (the demo’s --accounts, default 12)' },
    json: {
      type: 'boolean',
      description: 'print the demo’s summary with "faults" added, as one JSON object',
    },
  },
  async run(args) {
    const { lossPerMille, duplicatePerMille, delayMaxMs } = networkFaultFlags(args);
    const json = args.values.json === true;
    const passed: string[] = ['--delay-ms', String(delayMaxMs)];
    for (const flag of ['nodes', 'requests', 'concurrency', 'accounts']) {
      const value = stringFlag(args, flag);
      if (value !== undefined) passed.push(`--${flag}`, value);
    }
    const run = await runInPrivateNetwork(
      { lossPerMille, duplicatePerMille },
      () => ['demo', ...passed, '--json'],
      {
        captureStdout: true,
      },
    );
    const lines = run.stdout.trimEnd().split('\n');
    let summary: Record<string, unknown> | undefined;
    try {
      summary = JSON.parse(lines[lines.length - 1] ?? '') as Record<string, unknown>;
    } catch {
      summary = undefined;
    }
    const faults = run.faults;
    const delays = summary?.['delays'] as DelayCounts | undefined;
    const report =
      `the kernel dropped ${faults.dropped} datagrams and duplicated ${faults.duplicated}` +
      (delays === undefined
        ? ''
        : `; the senders delayed ${delays.delayed} (0 – ${delays.maxMs} ms), ${delays.reordered} of them past a later one`);
    if (json) {
      process.stderr.write(`${report}\n`);
      if (summary !== undefined) printJson({ ...summary, faults });
    } else {
      // The demo printed its JSON for us to extend: show the summary as the plain demo would.
      if (summary !== undefined)
        process.stdout.write(
          `transfers ${String(summary['requests'])}, replies ${String(summary['replies'])}, lost ${String(summary['lost'])}; money conserved: ${summary['conserved'] === true ? 'yes' : 'NO'}\n`,
        );
      process.stdout.write(`${report}\n`);
    }
    return summary === undefined ? 1 : run.code;
  },
};

/**
 * Creates a private network with `faults`, runs this command with the arguments `argv(name)` inside
 * it (its stderr passed through; its stdout too, or kept when `captureStdout`), reads what the
 * rules did, and deletes the namespace however the run ends. A signal to this process goes on to
 * the one inside, and this one stays to delete the namespace (a terminal's Ctrl-C reaches both).
 */
async function runInPrivateNetwork(
  faults: { lossPerMille: number; duplicatePerMille: number },
  argv: (name: string) => string[],
  options: { captureStdout?: boolean } = {},
): Promise<{ code: number; stdout: string; faults: FaultCounts }> {
  const unavailable = namespaceUnavailable();
  if (unavailable !== undefined) throw new UsageError(`cannot make a private network here: ${unavailable}`);
  const name = `steadfast-${process.pid}`;
  createNamespace(name, faults);
  let child: ReturnType<typeof spawn> | undefined;
  const forward = (signal: NodeJS.Signals) => child?.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    child = spawn(
      'ip',
      ['netns', 'exec', name, process.execPath, '--import', tsxLoader, mainScript, ...argv(name)],
      {
        stdio: ['ignore', options.captureStdout === true ? 'pipe' : 'inherit', 'inherit'],
      },
    );
    const running = child;
    let stdout = '';
    running.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const code = await new Promise<number>((resolve) => {
      running.on('close', (exitCode, signal) => resolve(exitCode ?? (signal === null ? 1 : 128)));
      running.on('error', () => resolve(1));
    });
    return { code, stdout, faults: faultCounts(name) };
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    deleteNamespace(name);
  }
}

/** `say` with each line indented and led by the seconds since this call: a run's timeline. */
function timedSay(say: (line: string) => void): (line: string) => void {
  const started = performance.now();
  return (line) => say(`  ${((performance.now() - started) / 1000).toFixed(1)} s: ${line}`);
}

async function runInside(options: GroupChaosRun): Promise<number> {
  const { style, requests, cutMs, delayMaxMs, json } = options;
  const say = humanOutput(json);
  const timed = timedSay(say);
  say(
    `a ${style} replica group of the bank account on 3 node processes, in a private network` +
      (delayMaxMs > 0 ? `, each datagram held 0 – ${delayMaxMs} ms by its sender` : ''),
  );
  const replicated = await startReplicationCluster(
    style,
    3,
    delayMaxMs > 0 ? { delay: { minMs: 0, maxMs: delayMaxMs } } : {},
  );
  try {
    const first = await waitFor(() => replicated.primary(), 15_000, 'a primary');
    timed(`primary ${first.node}`);
    let partition: FaultFigures | undefined;
    let crash: FaultFigures | undefined;
    let backupCut: FaultFigures | undefined;
    let primaryUnheard: FaultFigures | undefined;
    let primaryDeaf: FaultFigures | undefined;
    let backupDeaf: FaultFigures | undefined;
    // Assigned in `faultPhases` below (a declared type keeps TypeScript from narrowing it to null).
    let clientCut = null as ChaosSummary['clientCut'];
    // The faults always happen under load, however fast or slow this machine is.
    const load = new DepositLoad(replicated, requests);
    /** Drops the datagrams of `port` in `direction` (default both ways) for `cutMs`, then heals. */
    const cutFor = async (port: number, what: string, direction: CutDirection = 'both') => {
      cutPort(port, direction);
      const how = {
        both: 'cut off',
        outbound: 'unheard (its datagrams dropped)',
        inbound: 'deaf (datagrams to it dropped)',
      }[direction];
      timed(`${load.answered} answered; ${what} is ${how} for ${cutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, cutMs));
      healCut();
      timed(`the cut heals`);
    };
    /** After a fault on `node` at `faultAt`: waits until the group is whole, and says so. */
    const recovery = (node: string, faultAt: number): Promise<FaultFigures> =>
      recovered(replicated, accountsTarget(replicated), node, faultAt, load, timed);
    const primaryNow = async () => (await waitFor(() => replicated.primary(), 15_000, 'a primary')).node;
    const aBackupNow = async () => {
      const primary = await primaryNow();
      return replicated.members.find((node) => node !== primary)!;
    };
    /**
     * One cut of a member under load: once a third of the requests more are answered, cuts the
     * member `pick` names (the primary or a backup, as it is then) in `direction` for cutMs, and
     * waits until the group is whole again.
     */
    const memberCut = async (
      pick: () => Promise<string>,
      role: 'primary' | 'backup',
      direction: CutDirection = 'both',
    ): Promise<FaultFigures> => {
      await load.untilAnswered(load.answered + Math.floor(requests / 3));
      const node = await pick();
      const cutAt = performance.now();
      await cutFor(portOf(replicated, node), `the ${role} ${node}`, direction);
      return recovery(node, cutAt);
    };

    const faultPhases = async () => {
      // The partition: the primary's endpoint loses every datagram, both ways, for cutMs.
      partition = await memberCut(primaryNow, 'primary');
      if (load.stopped) return;

      // The crash: SIGKILL of whoever is primary now, then a restart.
      await load.untilAnswered(load.answered + Math.floor(requests / 3));
      const killNode = await primaryNow();
      const killedAt = performance.now();
      replicated.cluster.kill(killNode);
      timed(`${load.answered} answered; SIGKILL of the primary ${killNode}`);
      await replicated.cluster.restart(killNode);
      timed(`${killNode} restarted`);
      crash = await recovery(killNode, killedAt);
      if (load.stopped) return;

      // A backup cut off: the primary goes on serving, membership evicts the backup, and it
      // rejoins by state transfer once the cut heals.
      backupCut = await memberCut(aBackupNow, 'backup');
      if (load.stopped) return;

      // The client cut off: its requests and the replies to them are lost until the cut heals;
      // the connection's retransmissions must then deliver each request once, and each reply.
      await load.untilAnswered(load.answered + Math.floor(requests / 3));
      const clientCutAt = performance.now();
      await cutFor(portOfEndpoint(replicated.clientEndpoint), 'the client');
      const healedAt = performance.now();
      const resumed = await waitFor(
        () => load.firstAnswerAfter(healedAt),
        ANSWER_DEADLINE_MS,
        'an answer after the cut',
      ).catch(() => undefined);
      clientCut = {
        longestGapMs: load.longestGap(clientCutAt, performance.now()),
        resumedMs: resumed === undefined ? null : Math.round(resumed - healedAt),
      };
      timed(`the client is ${resumed === undefined ? 'NOT answered again' : 'answered again'}`);
      if (resumed === undefined) {
        load.stop();
        return;
      }

      // One-way cuts of the primary. Unheard: it still hears everyone, so it keeps its quorum and
      // could go on ordering while the others replace it; nothing it sends arrives, so no peer
      // acts on that, and once it heals it must follow the new view, not its own.
      primaryUnheard = await memberCut(primaryNow, 'primary', 'outbound');
      if (load.stopped) return;

      // Deaf: the others still hear its heartbeats, but it hears no one, so it stops ordering (no
      // quorum) and the group must get going again once it hears again.
      primaryDeaf = await memberCut(primaryNow, 'primary', 'inbound');
      if (load.stopped) return;

      // A deaf backup: it suspects its primary, but the others still have a working view and do
      // not agree to change it; the primary serves on, evicts the backup, and takes it back after.
      backupDeaf = await memberCut(aBackupNow, 'backup', 'inbound');
    };
    try {
      await faultPhases();
    } catch (error) {
      // A fault phase that gave up (answers stopped coming): the load stops before the cluster
      // closes, so the error says what went wrong, not a worker reading a closed client.
      load.stop();
      throw error;
    } finally {
      load.faultsAreOver();
    }
    const tally = await finalTally(replicated, load);
    const summary: ChaosSummary = {
      style,
      ...tally,
      partition: partition ?? null,
      crash: crash ?? null,
      backupCut: backupCut ?? null,
      clientCut,
      primaryUnheard: primaryUnheard ?? null,
      primaryDeaf: primaryDeaf ?? null,
      backupDeaf: backupDeaf ?? null,
      faults: faultCounts(),
      delays: await delayCounts(replicated, delayMaxMs),
    };
    say(tallyLine(tally));
    say(
      `the kernel dropped ${summary.faults.dropped} datagrams, duplicated ${summary.faults.duplicated}, and the cut dropped ${summary.faults.cut}`,
    );
    if (delayMaxMs > 0)
      say(
        `the senders delayed ${summary.delays.delayed} datagrams (0 – ${delayMaxMs} ms), ${summary.delays.reordered} of them past a later one`,
      );
    if (json) printJson(summary);
    return summary.exactlyOnce &&
      partition?.wholeMs != null &&
      crash?.wholeMs != null &&
      backupCut?.wholeMs != null &&
      clientCut?.resumedMs != null &&
      primaryUnheard?.wholeMs != null &&
      primaryDeaf?.wholeMs != null &&
      backupDeaf?.wholeMs != null
      ? 0
      : 1;
  } finally {
    await replicated.close();
  }
}

/** A replica group of a chaos run: its name, its nodes, and who its primary is now. */
interface GroupTarget {
  readonly group: string;
  readonly members: readonly string[];
  primary(): Promise<{ node: string; epoch: number } | undefined>;
}

function accountsTarget(replicated: ReplicationCluster): GroupTarget {
  return { group: ACCOUNTS_GROUP, members: replicated.members, primary: () => replicated.primary() };
}

/**
 * The steady load of the chaos runs: `IN_FLIGHT` workers, each sending one-dollar deposits through
 * the client group and waiting for each answer (one not answered within `ANSWER_DEADLINE_MS` counts
 * as lost). It runs until the faults are over and at least `requests` deposits were issued, so the
 * faults always happen under load however fast the machine is; or until `stop()`, when a fault
 * left a group unable to serve and the rest of the deposits would only go unanswered.
 */
class DepositLoad {
  issued = 0;
  answered = 0;
  /** Of the answered, those answered with a `ReplyTimeout` (the front gave up on the account). */
  timedOut = 0;
  lost = 0;
  readonly done: Promise<void>;
  readonly #answerTimes: number[] = [];
  #faultsOver = false;
  #stopped = false;

  constructor(
    private readonly cluster: ReplicationCluster,
    private readonly requests: number,
  ) {
    this.done = Promise.all(Array.from({ length: IN_FLIGHT }, () => this.#worker())).then(() => undefined);
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
  }

  /** The faults are over: the load ends once `requests` deposits were issued. */
  faultsAreOver(): void {
    this.#faultsOver = true;
  }

  /** The longest time without an answer between `fromMs` and `toMs`: how long clients waited. */
  longestGap(fromMs: number, toMs: number): number {
    let gap = 0;
    let previous = fromMs;
    for (const time of this.#answerTimes) {
      if (time <= fromMs) continue;
      if (time > toMs) break;
      gap = Math.max(gap, time - previous);
      previous = time;
    }
    return Math.round(Math.max(gap, toMs - previous));
  }

  /** When the first answer after `timeMs` came, if one did. */
  firstAnswerAfter(timeMs: number): number | undefined {
    return this.#answerTimes.find((time) => time > timeMs);
  }

  untilAnswered(count: number): Promise<true> {
    return waitFor(
      () => (this.answered >= count ? true : undefined),
      3 * ANSWER_DEADLINE_MS,
      `${count} answers`,
    );
  }

  async #worker(): Promise<void> {
    while (!this.#stopped && (!this.#faultsOver || this.issued < this.requests)) {
      const operationId = `deposit-${this.issued++}`;
      this.cluster.issue({ type: 'deposit', operationId, amountCents: 100 });
      const result = await within(this.cluster.result(operationId), ANSWER_DEADLINE_MS);
      if (result === undefined) this.lost++;
      else {
        this.answered++;
        if (isReplyTimeout(result.reply)) this.timedOut++;
        this.#answerTimes.push(performance.now());
      }
    }
  }
}

/**
 * After a fault on `node` of `target` at `faultAt`: waits until that group is whole again, says so,
 * and gives the fault's figures. A group not whole could not take one more failure: the load stops.
 */
async function recovered(
  replicated: ReplicationCluster,
  target: GroupTarget,
  node: string,
  faultAt: number,
  load: DepositLoad,
  say: (line: string) => void,
): Promise<FaultFigures> {
  const wholeMs = await wholeGroup(replicated, target, faultAt);
  say(`the group ${target.group} is ${wholeMs === null ? 'NOT whole again' : 'whole again'}`);
  if (wholeMs === null) load.stop();
  return { node, longestGapMs: load.longestGap(faultAt, performance.now()), wholeMs };
}

/** What every chaos run reports of its deposits: the balance asked for once the load is over. */
export interface DepositTally {
  readonly requests: number;
  /** Deposits answered, `timedOut` of them with a `ReplyTimeout`: each still counts in the balance. */
  readonly replies: number;
  readonly timedOut: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly balanceCents: number | null;
  readonly expectedBalanceCents: number;
  readonly exactlyOnce: boolean;
}

async function finalTally(replicated: ReplicationCluster, load: DepositLoad): Promise<DepositTally> {
  await load.done;
  const balanceCents = await finalBalance(replicated);
  const duplicated = Object.values(replicated.results()).filter((result) => result.count > 1).length;
  // A deposit answered with a `ReplyTimeout` was still sent to the account, which applies it once:
  // the front gave up waiting for the reply, not the request.
  const expectedBalanceCents = load.answered * 100;
  return {
    requests: load.issued,
    replies: load.answered,
    timedOut: load.timedOut,
    lost: load.lost,
    duplicated,
    balanceCents,
    expectedBalanceCents,
    exactlyOnce: balanceCents === expectedBalanceCents && duplicated === 0 && load.lost === 0,
  };
}

/**
 * The balance once the load is over, asked again (up to 5 times) while the front answers with a
 * `ReplyTimeout`: a balance read after the deposits includes every one of them, but its own reply
 * may come too late for a short `syncReplyTimeoutMs`. Null when no balance came.
 */
async function finalBalance(replicated: ReplicationCluster): Promise<number | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const operationId = attempt === 0 ? 'final-balance' : `final-balance-${attempt}`;
    replicated.issue({ type: 'balance', operationId });
    const balance = await within(replicated.result(operationId), ANSWER_DEADLINE_MS);
    if (balance !== undefined && isReplyTimeout(balance.reply)) continue;
    return (balance?.reply as { balanceCents?: number } | undefined)?.balanceCents ?? null;
  }
  return null;
}

function tallyLine(tally: DepositTally): string {
  const timedOut = tally.timedOut > 0 ? ` (${tally.timedOut} with the reply timeout)` : '';
  return `requests ${tally.requests}, replies ${tally.replies}${timedOut}, lost ${tally.lost}, duplicated ${tally.duplicated}; balance ${tally.balanceCents} cents, expected ${tally.expectedBalanceCents}: ${tally.exactlyOnce ? 'every deposit applied exactly once' : 'MISMATCH'}`;
}

/** The delays' counters of the client and every live node of `nodes` (the members), summed. */
async function delayCounts(
  replicated: ReplicationCluster,
  maxMs: number,
  nodes: readonly string[] = replicated.members,
): Promise<DelayCounts> {
  const counters: unknown[] = [replicated.client.counters()];
  for (const node of nodes)
    if (replicated.cluster.isAlive(node))
      counters.push(await replicated.cluster.nodeCounters(node).catch(() => undefined));
  return sumDelays(maxMs, counters);
}

function portOf(replicated: ReplicationCluster, node: string): number {
  const endpoint = replicated.cluster.peers[node];
  if (endpoint === undefined) throw new Error(`no endpoint known for ${node}`);
  return portOfEndpoint(endpoint);
}

/** The port of a `host:port` endpoint (`parseEndpoint`, the UDP transport's own parser). */
function portOfEndpoint(endpoint: string): number {
  const parsed = parseEndpoint(endpoint);
  if (parsed === undefined) throw new Error(`no port in endpoint ${endpoint}`);
  return parsed.port;
}

/**
 * Waits until every member is running a replica that serves (the primary, or a backup at the
 * primary's position with its digest): the group tolerates the next failure again. Returns the
 * time since `sinceMs`, or null if that did not happen within `WHOLE_AGAIN_MS`.
 */
async function wholeGroup(
  replicated: ReplicationCluster,
  target: GroupTarget,
  sinceMs: number,
): Promise<number | null> {
  type ReplicaView = { role?: string; position?: number; coverage?: number };
  type MemberView = { status?: string; epoch?: number; configuration?: readonly string[] };
  const { members } = target;
  try {
    await waitFor(
      async () => {
        const primary = await target.primary();
        if (primary === undefined) return undefined;
        const [replicas, memberships] = await Promise.all([
          Promise.all(members.map((node) => inspect<ReplicaView>(replicated, node, REPLICA_ACTOR_NAME))),
          Promise.all(
            members.map((node) => inspect<MemberView>(replicated, node, memberActorName(target.group))),
          ),
        ]);
        // Every member in the primary's view (an isolated node still thinks it is a backup of an old one)…
        const inView = memberships.every(
          (member) =>
            member?.status === 'normal' &&
            member.epoch === primary.epoch &&
            members.every((node) => member.configuration?.includes(node) === true),
        );
        const leader = replicas[members.indexOf(primary.node)];
        if (!inView || leader?.role !== 'primary') return undefined;
        // …and serving: a backup could take over from a position close to the primary's (positions
        // move under load, so one a little behind is following, not lost).
        return replicas.every(
          (replica) =>
            replica?.role === 'primary' ||
            (replica?.role === 'backup' && (leader.position ?? 0) - (replica.coverage ?? 0) <= 64),
        )
          ? true
          : undefined;
      },
      WHOLE_AGAIN_MS,
      `the group ${target.group} to be whole`,
    );
    return Math.round(performance.now() - sinceMs);
  } catch {
    return null;
  }
}

function inspect<T>(replicated: ReplicationCluster, node: string, actor: string): Promise<T | undefined> {
  if (!replicated.cluster.isAlive(node)) return Promise.resolve(undefined);
  return (replicated.cluster.inspect(node, actor) as Promise<T | undefined>).catch(() => undefined);
}

/** What `chaos chain --json` prints. */
export interface ChainChaosSummary extends DepositTally {
  readonly style: ReplicationStyle;
  /** The front's primary SIGKILLed and restarted; null if the run ended before. */
  readonly frontCrash: FaultFigures | null;
  /** Then the accounts group's primary, the same. */
  readonly accountsCrash: FaultFigures | null;
  /** Then the front's primary cut off for `--cut-ms`. */
  readonly frontCut: FaultFigures | null;
  /** Then the accounts group's primary cut off for `--cut-ms`. */
  readonly accountsCut: FaultFigures | null;
  /** Replicas of the front that reported a divergence by the end (the live ones). */
  readonly frontDivergences: number;
  readonly faults: FaultCounts;
  readonly delays: DelayCounts;
}

export const chaosChainCommand: CommandSpec = {
  name: 'chaos chain',
  summary:
    'A replicated front calling the replicated account, 6 processes in a private network that loses, duplicates and delays datagrams; SIGKILLs and cuts in both tiers.',
  usage:
    'steadfast chaos chain [--style semi-active|passive] [--requests N] [--loss PERMILLE] [--duplicate PERMILLE] [--delay-ms MS] [--cut-ms MS] [--sync-reply-timeout-ms MS] [--json]',
  details:
    'Two tiers of replica groups in a network namespace of their own (as `chaos replication`): a front\n' +
    'group of 3 node processes calls the replicated account (3 more) with a synchronous request for\n' +
    'every deposit of the client group of one, and reads the wall clock through ctx.call while it\n' +
    'handles each reply (its backups must replay the primary’s reading). The kernel drops --loss and\n' +
    'duplicates --duplicate datagrams per thousand (default 50 and 30) and every process holds each\n' +
    'datagram it sends for 0 to --delay-ms (default 5), under 8 deposits in flight. Each time a\n' +
    'quarter of --requests more are answered it makes one fault and waits until that group is whole\n' +
    'again: it SIGKILLs the front’s primary and restarts it; the same for the account’s primary; it\n' +
    'cuts the front’s primary off for --cut-ms (default 1000); then the account’s primary. It exits 0\n' +
    'when every deposit was answered once and the balance is their sum, both groups recovered from\n' +
    'every fault, and no replica of the front diverged. With --sync-reply-timeout-ms the front gives up\n' +
    'on a reply of the account that takes longer and answers the deposit with a ReplyTimeout: it still\n' +
    'counts as answered, and in the balance, since the account still applies it once.',
  options: {
    ...groupChaosOptions(400),
    'sync-reply-timeout-ms': {
      type: 'string',
      description: "the front's syncReplyTimeoutMs, 0 (wait for ever, the default) to 60000",
    },
  },
  run: (args) => runGroupChaos(args, { requests: 400, requestsMin: 40 }, runChainInside),
};

async function runChainInside(options: GroupChaosRun): Promise<number> {
  const { style, requests, cutMs, delayMaxMs, syncReplyTimeoutMs, json } = options;
  const say = humanOutput(json);
  const timed = timedSay(say);
  say(
    `a ${style} front group calling a ${style} account group, 3 node processes each, in a private network` +
      (delayMaxMs > 0 ? `, each datagram held 0 – ${delayMaxMs} ms by its sender` : ''),
  );
  if (syncReplyTimeoutMs > 0)
    say(`the front gives up on a reply of the account after ${syncReplyTimeoutMs} ms`);
  const chain = await startChainCluster(style, {
    ...(delayMaxMs > 0 ? { delay: { minMs: 0, maxMs: delayMaxMs } } : {}),
    ...(syncReplyTimeoutMs > 0 ? { frontSettings: { syncReplyTimeoutMs } } : {}),
  });
  try {
    const front: GroupTarget = { group: FRONT_GROUP, members: chain.fronts, primary: () => chain.primary() };
    const accounts: GroupTarget = {
      group: ACCOUNTS_GROUP,
      members: chain.ledgers,
      primary: () => chain.ledgerPrimary(),
    };
    for (const target of [front, accounts]) {
      const primary = await waitFor(() => target.primary(), 20_000, `a primary of ${target.group}`);
      timed(`${target.group}'s primary is ${primary.node}`);
    }
    const load = new DepositLoad(chain, requests);
    /** Waits until a quarter of the deposits more were answered, then names `target`'s primary. */
    const nextPrimary = async (target: GroupTarget) => {
      await load.untilAnswered(load.answered + Math.floor(requests / 4));
      return (await waitFor(() => target.primary(), 15_000, `a primary of ${target.group}`)).node;
    };
    const crashOf = async (target: GroupTarget): Promise<FaultFigures> => {
      const node = await nextPrimary(target);
      const killedAt = performance.now();
      chain.cluster.kill(node);
      timed(`${load.answered} answered; SIGKILL of ${target.group}'s primary ${node}`);
      await chain.cluster.restart(node);
      timed(`${node} restarted`);
      return recovered(chain, target, node, killedAt, load, timed);
    };
    const cutOf = async (target: GroupTarget): Promise<FaultFigures> => {
      const node = await nextPrimary(target);
      const cutAt = performance.now();
      cutPort(portOf(chain, node), 'both');
      timed(`${load.answered} answered; ${target.group}'s primary ${node} is cut off for ${cutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, cutMs));
      healCut();
      timed('the cut heals');
      return recovered(chain, target, node, cutAt, load, timed);
    };
    let frontCrash: FaultFigures | null = null;
    let accountsCrash: FaultFigures | null = null;
    let frontCut: FaultFigures | null = null;
    let accountsCut: FaultFigures | null = null;
    try {
      frontCrash = await crashOf(front);
      if (!load.stopped) accountsCrash = await crashOf(accounts);
      if (!load.stopped) frontCut = await cutOf(front);
      if (!load.stopped) accountsCut = await cutOf(accounts);
    } catch (error) {
      load.stop(); // as in `chaos replication`: the error, not a worker reading a closed client
      throw error;
    } finally {
      load.faultsAreOver();
    }
    const tally = await finalTally(chain, load);
    let frontDivergences = 0;
    for (const node of chain.fronts) {
      const replica = await inspect<{ counters?: { divergences?: number } }>(chain, node, REPLICA_ACTOR_NAME);
      frontDivergences += replica?.counters?.divergences ?? 0;
    }
    const summary: ChainChaosSummary = {
      style,
      ...tally,
      frontCrash,
      accountsCrash,
      frontCut,
      accountsCut,
      frontDivergences,
      faults: faultCounts(),
      delays: await delayCounts(chain, delayMaxMs, [...chain.fronts, ...chain.ledgers]),
    };
    say(`${tallyLine(tally)}; front divergences ${frontDivergences}`);
    say(
      `the kernel dropped ${summary.faults.dropped} datagrams, duplicated ${summary.faults.duplicated}, and the cuts dropped ${summary.faults.cut}`,
    );
    if (json) printJson(summary);
    const allRecovered = [frontCrash, accountsCrash, frontCut, accountsCut].every(
      (fault) => fault?.wholeMs != null,
    );
    return summary.exactlyOnce && allRecovered && frontDivergences === 0 ? 0 : 1;
  } finally {
    await chain.close();
  }
}
