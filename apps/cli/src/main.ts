#!/usr/bin/env node
/**
 * The `steadfast` command. Run from the repository root as `pnpm steadfast <command>`.
 * Every subcommand has `--help`; with `--json`, the last line of stdout is exactly one JSON object.
 */
import { helpText, parseCommandArgs, UsageError, type CommandSpec } from './cli-kit.js';
import { chaosChainCommand, chaosDemoCommand, chaosReplicationCommand } from './commands/chaos.js';
import { demoCommand } from './commands/demo.js';
import { benchBroadcastCommand, benchFailoverCommand, simGroupCommand } from './commands/group.js';
import {
  benchReplicationCommand,
  benchReplicationStackCommand,
  demoReplicationCommand,
  simReplicationCommand,
} from './commands/replication.js';
import { simCommand } from './commands/sim.js';
import { traceReplayCommand, traceShowCommand } from './commands/trace.js';
import { runNodeProcess } from './host/node-process.js';

const nodeCommand: CommandSpec = {
  name: 'node',
  summary:
    'Host one node of a cluster (started by a parent over IPC: the demo, benchmarks and tests do this).',
  usage: 'steadfast node',
  options: {},
  run: () => runNodeProcess(),
};

const commands: readonly CommandSpec[] = [
  demoCommand,
  demoReplicationCommand,
  simCommand,
  simGroupCommand,
  simReplicationCommand,
  chaosReplicationCommand,
  chaosChainCommand,
  chaosDemoCommand,
  traceShowCommand,
  traceReplayCommand,
  benchFailoverCommand,
  benchBroadcastCommand,
  benchReplicationCommand,
  benchReplicationStackCommand,
  nodeCommand,
];

function topHelp(): string {
  const lines = [
    'usage: steadfast <command> [options]',
    '',
    'Steadfast: a runtime for fault-tolerant actors.',
    '',
    'commands:',
  ];
  for (const command of commands) lines.push(`  ${command.name.padEnd(14)} ${command.summary}`);
  lines.push('', 'Run `steadfast <command> --help` for the options of each command. Docs: docs/cli.md');
  return lines.join('\n');
}

function findCommand(argv: string[]): { command: CommandSpec; rest: string[] } | undefined {
  // Longest names first, so `sim group` wins over `sim`.
  const byLength = [...commands].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length);
  for (const command of byLength) {
    const words = command.name.split(' ');
    if (words.every((word, index) => argv[index] === word))
      return { command, rest: argv.slice(words.length) };
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${topHelp()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  const found = findCommand(argv);
  if (found === undefined) {
    const group = commands.filter((command) => command.name.startsWith(`${argv[0]} `));
    if (group.length > 0) {
      process.stderr.write(
        `steadfast ${argv[0]}: expected one of: ${group.map((command) => command.name).join(', ')}\n`,
      );
    } else {
      process.stderr.write(`steadfast: unknown command '${argv[0]}'\n\n${topHelp()}\n`);
    }
    return 2;
  }
  try {
    const parsed = parseCommandArgs(found.command, found.rest);
    if (parsed === 'help') {
      process.stdout.write(`${helpText(found.command)}\n`);
      return 0;
    }
    return await found.command.run(parsed);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`steadfast ${found.command.name}: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`steadfast ${found.command.name}: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Nothing should keep the process alive after a command finishes; exit promptly if it does.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (error: unknown) => {
    process.stderr.write(`steadfast: ${String(error)}\n`);
    process.exit(1);
  },
);
