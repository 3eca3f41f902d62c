/**
 * Small command-line kit shared by the subcommands: flag parsing with clear errors, `--help`,
 * and the `--json` contract (exactly one JSON object on the last line of stdout).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A flag: what `node:util` parseArgs takes, plus the line `--help` prints. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly description: string;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: Readonly<Record<string, FlagSpec>>;
  readonly details?: string;
  run(args: ParsedArgs): Promise<number>;
}

export interface ParsedArgs {
  readonly values: Record<string, string | boolean | undefined>;
  readonly positionals: string[];
}

export function helpText(spec: CommandSpec): string {
  const lines = [`usage: ${spec.usage}`, '', spec.summary];
  if (spec.details !== undefined) lines.push('', spec.details);
  const options = Object.entries(spec.options);
  if (options.length > 0) {
    lines.push('', 'options:');
    for (const [name, option] of options) {
      const described = option.description;
      const flag = option.type === 'string' ? `--${name} VALUE` : `--${name}`;
      lines.push(`  ${flag.padEnd(22)} ${described}`);
    }
  }
  lines.push(`  ${'--help'.padEnd(22)} show this help`);
  return lines.join('\n');
}

export function parseCommandArgs(spec: CommandSpec, argv: string[]): ParsedArgs | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const options: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
    Object.entries(spec.options).map(([name, option]) => [name, { type: option.type }]),
  );
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${helpText(spec)}`);
  }
}

export function integerFlag(
  args: ParsedArgs,
  name: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = args.values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const raw = args.values[name];
  return typeof raw === 'string' ? raw : undefined;
}

/** Prints the one JSON object of `--json` mode on its own last line. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Progress and human output: to stderr in `--json` mode so stdout stays machine-readable. */
export function humanOutput(json: boolean): (line: string) => void {
  return json ? (line) => process.stderr.write(`${line}\n`) : (line) => process.stdout.write(`${line}\n`);
}
