/**
 * `cinder-lvm-backup prune --volume ID [--time-zone ZONE] [--apply [--wait]]`: shows what
 * the volume's retention keeps and prunes, from the catalog; `--apply` queues the prune job
 * that deletes the archives on the volume's storage node (the agent does the deleting:
 * the archives live there).
 */
import { databaseUrlOf, type Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { listBackupsOfVolume } from '../db/backups.js';
import { getVolume } from '../db/volumes.js';
import { policyInputs } from '../policy/stored-policy.js';
import { AppError } from '../errors.js';
import { selectForPruning } from '../policy/retention.js';
import { orphanBackupsToPrune, orphanState } from '../policy/orphans.js';
import { isValidTimeZone } from '../policy/time-zone.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
import { printJson, type CommandContext } from './output.js';
import { textTable } from '../report/text-table.js';

const OPTIONS = {
  volume: { kind: 'string', arg: 'ID', help: 'the Cinder volume (required)' },
  'time-zone': {
    kind: 'string',
    arg: 'ZONE',
    help: 'zone of the day/week/month buckets (default [DEFAULT] time_zone)',
  },
  apply: { kind: 'boolean', help: 'queue the prune job that deletes on the storage node' },
  wait: { kind: 'boolean', help: 'with --apply: follow the job until it ends' },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'prune',
  usage: ['prune --volume ID [--time-zone ZONE] [--apply [--wait]]'],
  description:
    "Shows what the volume's retention keeps (and why) and prunes, from the catalog.\n" +
    "--apply queues the prune job; the volume's agent deletes the archives, which live on\n" +
    'its storage node.',
  options: OPTIONS,
  examples: [
    'prune --volume 0b1c2d3e-…',
    'prune --volume 0b1c2d3e-… --time-zone Europe/Paris --json',
    'prune --volume 0b1c2d3e-… --apply --wait',
  ],
};

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  const v = parseCommandArgs(spec, argv).values;
  const volumeId = v.volume ?? '';
  const timeZone = v['time-zone'] ?? config.general.timeZone;
  const apply = v.apply === true;
  const wait = v.wait === true;
  if (volumeId === '') throw usageError(spec, 'prune needs --volume ID');
  if (!isValidTimeZone(timeZone)) {
    throw usageError(spec, `--time-zone "${timeZone.slice(0, 40)}" is not a known time zone`);
  }
  if (wait && !apply) throw usageError(spec, '--wait applies to --apply only');
  if (apply) {
    const { run: enqueue } = await import('./enqueue.js');
    return enqueue(['prune', '--volume', volumeId, ...(wait ? ['--wait'] : [])], ctx, config);
  }
  const pool = createPool({
    url: databaseUrlOf(config),
    applicationName: 'cinder-lvm-backup prune',
    max: 1,
  });
  try {
    const volume = await getVolume(pool, volumeId);
    if (volume === null)
      throw new AppError('VOLUME_NOT_FOUND', `volume ${volumeId} is not in the inventory`);
    const { retention } = policyInputs(volume.policy);
    const backups = await listBackupsOfVolume(pool, volumeId);
    const now = new Date();
    const decision = selectForPruning(backups, retention, { now, timeZone });
    // A deleted or switched-off volume: the controller's orphan pass prunes all of it once
    // the grace has passed (src/policy/orphans.ts); retention no longer runs for it.
    const state = orphanState(
      {
        deletedAt: volume.deletedAt,
        policyOffAt: volume.policyOffAt,
        hasPolicy: volume.policy !== null || volume.policyError !== null,
      },
      config.retention.orphanGrace,
      now,
    );
    const orphan =
      state.kind === 'live'
        ? null
        : {
            gone: state.gone,
            since: state.since,
            pruneAt: state.pruneAt,
            due: state.kind === 'due',
            reason: state.reason,
            prune: orphanBackupsToPrune(backups),
          };
    if (ctx.json) {
      printJson({ status: 'ok', volumeId, retention, timeZone, ...decision, orphan });
      return 0;
    }
    const why = new Map(decision.keep.map((k) => [k.id, k.reasons.join(',')]));
    if (orphan !== null) {
      process.stdout.write(
        `${orphan.reason}: all ${orphan.prune.length} backups ${orphan.due ? 'are due for pruning' : 'are kept until'} ` +
          `${orphan.pruneAt.toISOString()} (the controller queues the prune)\n`,
      );
    }
    process.stdout.write(`retention ${JSON.stringify(retention)} in ${timeZone}\n`);
    process.stdout.write(
      textTable(
        ['ID', 'BACKUP', 'STARTED', 'STATUS', 'VERIFIED', 'DECISION'],
        backups.map((b) => [
          b.id,
          b.backupId,
          b.startedAt,
          b.prunedAt === null ? b.status : 'pruned',
          b.verifyOk,
          orphan?.prune.includes(b.id) === true
            ? orphan.due
              ? 'prune (volume gone)'
              : 'keep (grace)'
            : decision.prune.includes(b.id)
              ? 'prune'
              : why.get(b.id)
                ? `keep (${why.get(b.id)})`
                : why.has(b.id)
                  ? 'keep'
                  : '-',
        ]),
      ),
    );
    return 0;
  } finally {
    await pool.end();
  }
}
