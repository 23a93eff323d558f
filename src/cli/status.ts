/**
 * `cinder-lvm-backup status [--project ID] [--json]`: the `backup_status` view, one line
 * per tagged volume.
 */
import { databaseUrlOf, type Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { listBackupStatus } from '../db/views.js';
import { AppError } from '../errors.js';
import { printJson, type CommandContext } from './output.js';
import { humanBytes, textTable } from '../report/text-table.js';

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  let projectId: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--project' && argv[i + 1] !== undefined) {
      projectId = argv[i + 1];
      i += 1;
    } else throw new AppError('INVALID_ARGUMENT', `unknown status option ${argv[i] ?? ''}`);
  }
  const pool = createPool({
    url: databaseUrlOf(config),
    applicationName: 'cinder-lvm-backup status',
    max: 1,
  });
  try {
    const rows = await listBackupStatus(pool, projectId === undefined ? {} : { projectId });
    if (ctx.json) {
      printJson({ status: 'ok', volumes: rows });
      return 0;
    }
    process.stdout.write(
      textTable(
        [
          'VOLUME',
          'NAME',
          'PROJECT',
          'HOST',
          'POLICY',
          'LAST SUCCESS',
          'LAST',
          'NEXT DUE',
          'KEPT',
          'SIZE',
          'PROBLEM',
        ],
        rows.map((r) => [
          r.volume_id,
          r.volume_name,
          r.project_id,
          r.host,
          r.policy,
          r.last_success_at,
          r.last_status,
          r.next_due_at,
          r.backups_kept,
          humanBytes(r.bytes_kept),
          r.policy_error ?? r.last_error ?? r.skip_reason,
        ]),
      ),
    );
    return 0;
  } finally {
    await pool.end();
  }
}
