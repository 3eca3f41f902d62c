/**
 * Small command-line kit shared by the subcommands: flag parsing with clear errors, `--help`,
 * and the `--json` contract (exactly one JSON object on the last line of stdout).
 */
import { parseFaults, UnknownFaultError, type FaultKind } from '@steadfast/sim';
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

/**
 * A flag that takes one of `choices`: the value, `fallback` when absent, or a usage error naming
 * the choices. With `fallback` undefined an absent flag is undefined.
 */
export function choiceFlag<Choice extends string, Fallback extends Choice | undefined>(
  args: ParsedArgs,
  name: string,
  choices: readonly Choice[],
  fallback: Fallback,
): Choice | Fallback {
  const raw = stringFlag(args, name);
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw))
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as Choice;
}

/** Prints the one JSON object of `--json` mode on its own last line. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Progress and human output: to stderr in `--json` mode so stdout stays machine-readable. */
export function humanOutput(json: boolean): (line: string) => void {
  return json ? (line) => process.stderr.write(`${line}\n`) : (line) => process.stdout.write(`${line}\n`);
}

/** The value below which `fraction` of the sorted samples fall (0 for no samples). */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export interface LoadFigures {
  readonly opsPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

/** Throughput of `operations` over `elapsedMs`, and the median and 99th percentile of `samplesUs`. */
export function loadFigures(
  operations: number,
  elapsedMs: number,
  samplesUs: readonly number[],
): LoadFigures {
  const sorted = [...samplesUs].sort((a, b) => a - b);
  return {
    opsPerSec: Math.round((operations / elapsedMs) * 1000),
    p50Us: round(percentile(sorted, 0.5)),
    p99Us: round(percentile(sorted, 0.99)),
  };
}

/** `--faults LIST` (default all), with an unknown fault kind as a usage error. */
export function faultsFlag(args: ParsedArgs): FaultKind[] {
  try {
    return parseFaults(stringFlag(args, 'faults') ?? 'all');
  } catch (error) {
    if (error instanceof UnknownFaultError) throw new UsageError(error.message);
    throw error;
  }
}

/** Polls `probe` every 10 ms until it returns a value; throws after `timeoutMs` saying what it waited for. */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * `promise`'s value, or undefined if it has not settled within `timeoutMs`. The timer is cleared
 * as soon as the promise settles: a load of thousands of requests leaves no timers behind to hold
 * the process open for the rest of their deadline.
 */
export async function within<T>(promise: Promise<T>, timeoutMs: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface SeedViolation {
  readonly seed: number;
  readonly message: string;
  readonly replay: string;
}

/**
 * Runs seeds `from` … `from + seeds - 1` one after another: each violation a seed reports is
 * printed with its replay command as it is found, and a progress line (`progress()` adds the
 * command's own counts) at most once a second. Returns every violation and the wall time.
 */
export async function sweepSeeds(
  range: { readonly from: number; readonly seeds: number },
  say: (line: string) => void,
  runSeed: (seed: number) => Promise<readonly { readonly message: string; readonly replay: string }[]>,
  progress: () => string = () => '',
): Promise<{ violations: SeedViolation[]; wallMs: number }> {
  const started = performance.now();
  const violations: SeedViolation[] = [];
  let lastProgress = started;
  for (let seed = range.from; seed < range.from + range.seeds; seed++) {
    for (const violation of await runSeed(seed)) {
      violations.push({ seed, ...violation });
      say(`seed ${seed}: VIOLATION ${violation.message}\n  replay: ${violation.replay}`);
    }
    if (performance.now() - lastProgress > 1_000) {
      lastProgress = performance.now();
      const counts = progress();
      say(
        `  ${seed - range.from + 1}/${range.seeds} seeds, ${counts === '' ? '' : `${counts}, `}${violations.length} violations`,
      );
    }
  }
  return { violations, wallMs: Math.round(performance.now() - started) };
}
