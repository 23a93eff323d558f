/**
 * The one way every command reads its arguments: a command declares its options with their
 * kinds (text, flag, whole number, duration) and bounds, its positional words, a description
 * and examples; `parseCommandArgs` runs node:util parseArgs over them, converts and checks
 * the numbers, and refuses anything else with the command's usage in the error;
 * `helpText` is what `cinder-lvm-backup COMMAND --help` prints.
 *
 * `--json` and `--config FILE` are global (src/cli.ts takes them out wherever they stand),
 * so no command declares them.
 */
import { parseArgs } from 'node:util';
import { formatSeconds, parseDurationSeconds } from '../config/setting-types.js';
import { AppError } from '../errors.js';

export const PROGRAM = 'cinder-lvm-backup';

/** `string`: any text; `boolean`: a flag; `integer`: a whole number; `duration`: seconds. */
export type OptionKind = 'string' | 'boolean' | 'integer' | 'duration';

export interface OptionSpec {
  readonly kind: OptionKind;
  /** One line for the help. */
  readonly help: string;
  /** The value's name in the help (`DIR`, `N`); not for flags. */
  readonly arg?: string;
  /** May be given several times; the values come as an array. */
  readonly multiple?: boolean;
  readonly short?: string;
  /** Bounds of an integer or a duration (in seconds). */
  readonly min?: number;
  readonly max?: number;
  /** The default, as the help shows it (the code applies it: settings or a constant). */
  readonly default?: string;
  /** Accepted but left out of the help (kept only to refuse it with a better message). */
  readonly hidden?: boolean;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S['kind'] extends 'boolean'
  ? boolean
  : S['kind'] extends 'string'
    ? string
    : number;

/** The typed values of a command's options; an option not given is absent. */
export type OptionValues<O extends OptionSpecs> = {
  -readonly [K in keyof O]?: O[K]['multiple'] extends true ? ValueOf<O[K]>[] : ValueOf<O[K]>;
};

export interface CommandSpec<O extends OptionSpecs = OptionSpecs> {
  /** The command's words after the program name (`backup`, `policy check`). */
  readonly name: string;
  /** Synopsis lines, each without the program name (a leading space: continues the last). */
  readonly usage: readonly string[];
  /** A few sentences for the help. */
  readonly description: string;
  readonly options: O;
  /** How many positional words it takes (default none). */
  readonly positionals?: { readonly min: number; readonly max: number };
  /** Whole command lines, each without the program name. */
  readonly examples: readonly string[];
}

export interface ParsedArgs<O extends OptionSpecs> {
  values: OptionValues<O>;
  positionals: string[];
}

/** The usage lines, as errors show them; a line starting with a space continues the last. */
export function usageText(spec: CommandSpec): string {
  return spec.usage
    .map((line, i) =>
      line.startsWith(' ')
        ? `${' '.repeat(PROGRAM.length + 8)}${line.slice(1)}`
        : `${i === 0 ? 'usage:' : '      '} ${PROGRAM} ${line}`,
    )
    .join('\n');
}

/** An INVALID_ARGUMENT error that carries the command's usage and where to read more. */
export function usageError(spec: CommandSpec, message: string, cause?: unknown): AppError {
  return new AppError(
    'INVALID_ARGUMENT',
    `${message}\n${usageText(spec)}\n(${PROGRAM} ${spec.name} --help for every option)`,
    cause === undefined ? {} : { cause },
  );
}

function optionLabel(name: string, o: OptionSpec): string {
  const short = o.short === undefined ? '' : `-${o.short}, `;
  const value =
    o.kind === 'boolean'
      ? ''
      : ` ${o.arg ?? (o.kind === 'integer' ? 'N' : o.kind === 'duration' ? 'DURATION' : 'VALUE')}`;
  return `${short}--${name}${value}`;
}

function boundsText(o: OptionSpec): string {
  const parts = o.default === undefined ? [] : [`default ${o.default}`];
  if (o.min !== undefined && o.max !== undefined) {
    if (o.kind === 'integer') parts.push(`${o.min}..${o.max}`);
    if (o.kind === 'duration') parts.push(`${formatSeconds(o.min)}..${formatSeconds(o.max)}`);
  }
  return parts.length === 0 ? '' : ` (${parts.join('; ')})`;
}

/** What `COMMAND --help` prints: usage, description, options, examples. */
export function helpText(spec: CommandSpec): string {
  const shown = Object.entries(spec.options).filter(([, o]) => o.hidden !== true);
  const labels = shown.map(([name, o]) => optionLabel(name, o));
  const width = Math.min(32, Math.max(0, ...labels.map((l) => l.length)) + 2);
  const options = shown.map(([, o], i) => {
    const label = labels[i] ?? '';
    const text = `${o.help}${boundsText(o)}${o.multiple === true ? '; may be repeated' : ''}`;
    return label.length + 2 > width
      ? `  ${label}\n  ${' '.repeat(width)}${text}`
      : `  ${label.padEnd(width)}${text}`;
  });
  return (
    `${usageText(spec)}\n\n${spec.description.trim()}\n\n` +
    (options.length > 0 ? `options:\n${options.join('\n')}\n\n` : '') +
    'global options:\n' +
    '  --json           one JSON object on stdout (errors too)\n' +
    '  --config FILE    the configuration file (default CLB_CONFIG or\n' +
    '                   /etc/cinder-lvm-backup/cinder-lvm-backup.conf)\n' +
    '  -h, --help       this text\n\n' +
    `examples:\n${spec.examples.map((e) => `  ${PROGRAM} ${e}`).join('\n')}\n`
  );
}

/** True when the arguments ask for the help (before `--`, which ends the options). */
export function asksForHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  const options = end === -1 ? argv : argv.slice(0, end);
  return options.includes('--help') || options.includes('-h');
}

/** The part of parseArgs' message in single quotes: the option or argument it is about. */
function quoted(message: string): string {
  return /'([^']*)'/.exec(message)?.[1] ?? '';
}

/** parseArgs' errors in this program's words. */
function parseFailure(spec: CommandSpec, err: unknown): AppError {
  const e = err as Error & { code?: string };
  const what = quoted(e.message);
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return usageError(spec, `unknown ${spec.name} option ${what}`, err);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return usageError(spec, `unexpected argument "${what.slice(0, 80)}"`, err);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      // "Option '--dest <value>' argument missing" / "... is ambiguous" / "does not take an argument"
      const option = what.split(' ')[0] ?? what;
      return usageError(
        spec,
        / does not take an argument/.test(e.message)
          ? `${option} takes no value`
          : `${option} needs a value`,
        err,
      );
    }
    default:
      return usageError(spec, e.message, err);
  }
}

function convert(spec: CommandSpec, name: string, o: OptionSpec, text: string): number {
  const n = o.kind === 'integer' ? (/^\d{1,15}$/.test(text) ? Number(text) : null) : null;
  const value = o.kind === 'duration' ? parseDurationSeconds(text) : n;
  const min = o.min ?? 0;
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  if (value === null || value < min || value > max) {
    const kind =
      o.kind === 'integer'
        ? `a whole number from ${min} to ${max}`
        : `a duration (seconds, or a number with s, m, h or d) from ${formatSeconds(min)} to ${formatSeconds(max)}`;
    throw usageError(spec, `--${name} must be ${kind} (got "${text.slice(0, 40)}")`);
  }
  return value;
}

/** Parses and checks a command's arguments against its spec. */
export function parseCommandArgs<O extends OptionSpecs>(
  spec: CommandSpec<O>,
  argv: readonly string[],
): ParsedArgs<O> {
  const options: Record<
    string,
    { type: 'string' | 'boolean'; multiple?: boolean; short?: string }
  > = {};
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = {
      type: o.kind === 'boolean' ? 'boolean' : 'string',
      ...(o.multiple === true ? { multiple: true } : {}),
      ...(o.short === undefined ? {} : { short: o.short }),
    };
  }
  const max = spec.positionals?.max ?? 0;
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: max > 0 });
  } catch (err) {
    throw parseFailure(spec, err);
  }
  const min = spec.positionals?.min ?? 0;
  if (parsed.positionals.length < min) {
    throw usageError(spec, `${spec.name} needs more arguments`);
  }
  if (parsed.positionals.length > max) {
    throw usageError(spec, `unexpected argument "${(parsed.positionals[max] ?? '').slice(0, 80)}"`);
  }
  const values: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(parsed.values)) {
    const o = spec.options[name];
    if (o === undefined || raw === undefined) continue;
    if (o.kind === 'string' || o.kind === 'boolean') values[name] = raw;
    else if (Array.isArray(raw)) values[name] = raw.map((t) => convert(spec, name, o, String(t)));
    else values[name] = convert(spec, name, o, String(raw));
  }
  return { values: values as OptionValues<O>, positionals: parsed.positionals };
}
