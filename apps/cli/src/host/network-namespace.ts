/**
 * A private network for one run: a Linux network namespace with only its own loopback, and
 * nftables rules on it that lose and duplicate UDP datagrams at random and can cut one endpoint
 * off. Everything a run inside sends stays inside, and the faults happen in the kernel, on real
 * datagrams between real processes, not in our code.
 *
 * Why nftables and not `tc netem`: the kernels of these machines are built without `sch_netem`
 * (`tc qdisc add dev lo root netem …` answers "Specified qdisc kind is unknown"), while nf_tables
 * with random numbers (`numgen`) and `dup` is built in. So loss, duplication and partitions are
 * injected here; delay and reordering are covered by the simulator (docs/simulator.md). docs/cli.md, `steadfast chaos replication`.
 *
 * Needs root and Debian's iproute2 and nftables (`.ci/run` installs them).
 */
import { execFileSync, spawnSync } from 'node:child_process';

/** The nftables table the rules live in. */
export const FAULTS_TABLE = 'steadfast_faults';

export interface NamespaceFaults {
  /** Datagrams dropped on arrival, per thousand. */
  readonly lossPerMille: number;
  /** Datagrams sent twice, per thousand. */
  readonly duplicatePerMille: number;
}

/** What the rules did so far, read from their counters. */
export interface FaultCounts {
  readonly dropped: number;
  readonly duplicated: number;
  /** Datagrams the cut (a partition) dropped. */
  readonly cut: number;
}

/** Undefined when this machine can run a namespace with faults; otherwise why not. */
export function namespaceUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const tool of ['ip', 'nft']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (found.status !== 0)
      return `\`${tool}\` is not installed (Debian: apt-get install -y iproute2 nftables)`;
  }
  return undefined;
}

/** The rules: loss on arrival (a drop on the way out would fail the sender's `send` instead). */
function faultRules({ lossPerMille, duplicatePerMille }: NamespaceFaults): string {
  return [
    `table ip ${FAULTS_TABLE} {`,
    '  chain duplicate {',
    '    type filter hook output priority 0; policy accept;',
    `    meta l4proto udp numgen random mod 1000 < ${duplicatePerMille} counter dup to 127.0.0.1;`,
    '  }',
    '  chain lose {',
    '    type filter hook input priority 0; policy accept;',
    `    meta l4proto udp numgen random mod 1000 < ${lossPerMille} counter drop;`,
    '  }',
    '  chain cut {',
    '    type filter hook input priority 1; policy accept;',
    '  }',
    '}',
  ].join('\n');
}

/**
 * Creates the namespace `name` with its loopback up and the fault rules in place. Throws, naming
 * the command that failed, if the machine refuses (see `namespaceUnavailable`).
 */
export function createNamespace(name: string, faults: NamespaceFaults): void {
  run('ip', ['netns', 'add', name]);
  try {
    run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    run('ip', ['netns', 'exec', name, 'nft', '-f', '-'], faultRules(faults));
  } catch (error) {
    deleteNamespace(name);
    throw error;
  }
}

/** Deletes the namespace; a missing one is not an error (cleanup runs after failures too). */
export function deleteNamespace(name: string): void {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
}

// The functions below run inside the namespace (`nft` then acts on its own tables).

/**
 * Which datagrams of a port a cut drops: all of them (a partition), only those it sends (it hears
 * but is not heard), or only those sent to it (it is heard but hears nothing).
 */
export type CutDirection = 'both' | 'outbound' | 'inbound';

/** Cuts `port` off in `direction` (default both): those datagrams are dropped until `healCut`. */
export function cutPort(port: number, direction: CutDirection = 'both'): void {
  if (direction !== 'outbound')
    run('nft', ['add', 'rule', 'ip', FAULTS_TABLE, 'cut', 'udp', 'dport', String(port), 'counter', 'drop']);
  if (direction !== 'inbound')
    run('nft', ['add', 'rule', 'ip', FAULTS_TABLE, 'cut', 'udp', 'sport', String(port), 'counter', 'drop']);
}

/** Ends the cut, keeping what it dropped in the count (`faultCounts().cut`). */
export function healCut(): void {
  cutSoFar += countsOf('cut');
  run('nft', ['flush', 'chain', 'ip', FAULTS_TABLE, 'cut']);
}

let cutSoFar = 0;

/**
 * What the rules did so far. Inside the namespace, without `namespace`; from outside, naming it
 * (the cut's count is kept by the process that cut, so it is 0 there).
 */
export function faultCounts(namespace?: string): FaultCounts {
  return {
    dropped: countsOf('lose', namespace),
    duplicated: countsOf('duplicate', namespace),
    cut: namespace === undefined ? cutSoFar + countsOf('cut') : 0,
  };
}

/** The packets counted by the rules of one chain, summed. */
function countsOf(chain: string, namespace?: string): number {
  const list = ['-j', 'list', 'chain', 'ip', FAULTS_TABLE, chain];
  const listing =
    namespace === undefined
      ? execFileSync('nft', list, { encoding: 'utf8' })
      : execFileSync('ip', ['netns', 'exec', namespace, 'nft', ...list], { encoding: 'utf8' });
  let packets = 0;
  for (const item of (JSON.parse(listing) as { nftables: { rule?: { expr: unknown[] } }[] }).nftables)
    for (const expression of item.rule?.expr ?? [])
      packets += (expression as { counter?: { packets?: number } }).counter?.packets ?? 0;
  return packets;
}

function run(command: string, args: readonly string[], input?: string): void {
  const result = spawnSync(command, args, { input, encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(
      `\`${command} ${args.join(' ')}\` failed: ${(result.stderr || result.error?.message || `exit ${result.status}`).trim()}`,
    );
}
