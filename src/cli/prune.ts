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
import { printJson, type CommandContext } from './output.js';
import { textTable } from '../report/text-table.js';

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  let volumeId = '';
  let timeZone = config.general.timeZone;
  let apply = false;
  let wait = false;
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    if (flag === '--apply') apply = true;
    else if (flag === '--wait') wait = true;
    else if ((flag === '--volume' || flag === '--time-zone') && argv[i + 1] !== undefined) {
      if (flag === '--volume') volumeId = argv[i + 1] ?? '';
      else timeZone = argv[i + 1] ?? timeZone;
      i += 1;
    } else throw new AppError('INVALID_ARGUMENT', `unknown prune option ${flag ?? ''}`);
  }
  if (volumeId === '') throw new AppError('INVALID_ARGUMENT', 'prune needs --volume ID');
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
    const decision = selectForPruning(backups, retention, { now: new Date(), timeZone });
    if (ctx.json) {
      printJson({ status: 'ok', volumeId, retention, timeZone, ...decision });
      return 0;
    }
    const why = new Map(decision.keep.map((k) => [k.id, k.reasons.join(',')]));
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
          decision.prune.includes(b.id)
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
