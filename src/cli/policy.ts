/**
 * `cinder-lvm-backup policy check KEY=VALUE... [--next N] [--from TIME] [--time-zone ZONE]`:
 * the policy a set of volume metadata gives under this configuration's limits (or every
 * problem with it), and when such a volume would next be backed up, so a tag can be tried
 * before it is set on a volume.
 */
import { policyLimitsOf } from '../controller/controller-config.js';
import type { Config } from '../config/settings.js';
import { parsePolicy, type BackupPolicy } from '../policy/policy.js';
import { upcomingDueTimes } from '../policy/schedule.js';
import { isValidTimeZone } from '../policy/time-zone.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
import { EXIT_FAILED, EXIT_OK, printJson, type CommandContext } from './output.js';

const OPTIONS = {
  next: {
    kind: 'integer',
    min: 0,
    max: 100,
    default: '5',
    help: 'how many due times to show',
  },
  from: {
    kind: 'string',
    arg: 'TIME',
    default: 'now',
    help: 'count due times from this instant (ISO 8601, e.g. 2026-03-28T12:00:00Z)',
  },
  'time-zone': {
    kind: 'string',
    arg: 'ZONE',
    default: '[DEFAULT] time_zone',
    help: 'the zone cron expressions are read in and times are shown in',
  },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'policy',
  usage: ['policy check KEY=VALUE... [--next N] [--from TIME] [--time-zone ZONE]'],
  description:
    'Shows the policy that volume metadata gives under the configured limits ([policy],\n' +
    '[retention]), or every problem with it, and the next due times of a new volume with\n' +
    "it in the operator's zone: a tag tried before it is set. Keys are those of\n" +
    '`openstack volume set --property`. Exit 1 when the metadata has a problem.',
  options: OPTIONS,
  positionals: { min: 2, max: 20 },
  examples: [
    "policy check backup=daily 'backup:retention=last=10'",
    "policy check 'backup=30 2 * * *' --next 3 --time-zone Europe/Paris",
    "policy check backup=hourly backup:full=daily 'backup:exclude=/var/cache/*' --json",
  ],
};

/** `KEY=VALUE` words → metadata. */
function metadataOf(words: readonly string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw usageError(spec, `"${word.slice(0, 60)}" is not KEY=VALUE`);
    const key = word.slice(0, eq);
    if (key in metadata) throw usageError(spec, `${key} is given twice`);
    metadata[key] = word.slice(eq + 1);
  }
  return metadata;
}

/** An instant on the zone's wall clock with its offset: `2026-03-29 03:00 +02:00`. */
function localText(d: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'longOffset',
  }).formatToParts(d);
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')} ${offsetText(get('timeZoneName'))}`;
}

/** `GMT+02:00` → `+02:00`; `GMT` (UTC itself) → `+00:00`. */
function offsetText(name: string): string {
  const offset = name.replace(/^GMT/, '');
  return offset === '' ? '+00:00' : offset;
}

function policyLines(p: BackupPolicy): string[] {
  const list = (xs: readonly string[]): string => (xs.length === 0 ? '-' : xs.join(','));
  return [
    `schedule:    ${p.scheduleText} (${p.schedule.kind === 'cron' ? 'cron' : `every ${p.schedule.everySeconds} s`})`,
    `retention:   ${JSON.stringify(p.retention)}`,
    `on events:   ${list(p.onEvents)}`,
    `exclude:     ${list(p.excludes)}`,
    `mysqldump:   ${p.mysqldump === null ? '-' : JSON.stringify(p.mysqldump)}`,
    `freeze:      ${p.freeze === null ? '-' : JSON.stringify(p.freeze)}`,
    `consistency: ${p.consistency ?? '- (what the steps give)'}`,
  ];
}

export function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  return Promise.resolve(check(argv, ctx, config));
}

function check(argv: string[], ctx: CommandContext, config: Config): number {
  const { values, positionals } = parseCommandArgs(spec, argv);
  const [action, ...words] = positionals;
  if (action !== 'check') {
    throw usageError(spec, `unknown policy action "${action?.slice(0, 40) ?? ''}"`);
  }
  const metadata = metadataOf(words);
  const timeZone = values['time-zone'] ?? config.general.timeZone;
  if (!isValidTimeZone(timeZone)) {
    throw usageError(spec, `--time-zone "${timeZone.slice(0, 40)}" is not a known time zone`);
  }
  const from = values.from === undefined ? new Date() : new Date(values.from);
  if (Number.isNaN(from.getTime())) {
    throw usageError(spec, `--from "${values.from?.slice(0, 40) ?? ''}" is not an ISO 8601 time`);
  }
  const count = values.next ?? 5;
  const result = parsePolicy(metadata, policyLimitsOf(config));
  const next =
    result.kind === 'policy' ? upcomingDueTimes(result.policy.schedule, from, count, timeZone) : [];
  if (ctx.json) {
    printJson({
      status: result.kind === 'error' ? 'failed' : 'ok',
      result: result.kind,
      timeZone,
      ...(result.kind === 'policy' ? { policy: result.policy } : {}),
      ...(result.kind === 'error'
        ? {
            problems: result.problems,
            error: { code: 'POLICY_INVALID', message: result.message },
          }
        : {}),
      next: next.map((d) => ({ at: d.toISOString(), local: localText(d, timeZone) })),
    });
    return result.kind === 'error' ? EXIT_FAILED : EXIT_OK;
  }
  switch (result.kind) {
    case 'untagged':
      process.stdout.write('no backup key: the volume is not backed up\n');
      return EXIT_OK;
    case 'off':
      process.stdout.write('backup=off: the volume is not backed up\n');
      return EXIT_OK;
    case 'error':
      for (const p of result.problems) process.stderr.write(`problem: ${p.key}: ${p.reason}\n`);
      process.stderr.write(
        `error: POLICY_INVALID: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}; no backup runs until fixed\n`,
      );
      return EXIT_FAILED;
    case 'policy':
      process.stdout.write(`${policyLines(result.policy).join('\n')}\n`);
      if (count > 0) {
        process.stdout.write(`next ${count} due times in ${timeZone}:\n`);
        for (const d of next) {
          process.stdout.write(`  ${localText(d, timeZone)}  (${d.toISOString()})\n`);
        }
      }
      return EXIT_OK;
  }
}
