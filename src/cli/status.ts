/**
 * `cinder-lvm-backup status [--project ID] [--json]`: the `backup_status` view, one line
 * per tagged volume.
 */
import { databaseUrlOf, type Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { listBackupStatus } from '../db/views.js';
import { parseCommandArgs, type CommandSpec } from './args.js';
import { printJson, type CommandContext } from './output.js';
import { humanBytes, textTable } from '../report/text-table.js';

const OPTIONS = {
  project: { kind: 'string', arg: 'ID', help: "only this Keystone project's volumes" },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'status',
  usage: ['status [--project ID]'],
  description:
    'Shows the backup_status view: one line per tagged volume with its policy, last success,\n' +
    'last run, next due time, backups kept and their size, and any problem (a policy error,\n' +
    'the last error or why it is skipped).',
  options: OPTIONS,
  examples: ['status', 'status --project 6f1e… --json'],
};

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  const projectId = parseCommandArgs(spec, argv).values.project;
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
          r.policy_error ?? r.quota_error ?? r.last_error ?? r.skip_reason,
        ]),
      ),
    );
    return 0;
  } finally {
    await pool.end();
  }
}
