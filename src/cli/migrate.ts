/**
 * `cinder-lvm-backup migrate`: brings the database named by DATABASE_URL up to this
 * release's schema (safe to run from several hosts at once).
 */
import { createLogger } from '../log.js';
import { databaseUrlOf, type Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { migrate } from '../db/migrate.js';
import { parseCommandArgs, type CommandSpec } from './args.js';
import { printJson, type CommandContext } from './output.js';

export const spec: CommandSpec = {
  name: 'migrate',
  usage: ['migrate'],
  description:
    "Brings the database ([database] connection, DATABASE_URL) up to this release's schema:\n" +
    'numbered migrations in order under an advisory lock, so several hosts may run it at\n' +
    'once. Refuses a schema newer than the code. Run it as the database owner.',
  options: {},
  examples: ['migrate', '--config /etc/cinder-lvm-backup/cinder-lvm-backup.conf migrate --json'],
};

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  parseCommandArgs(spec, argv);
  const pool = createPool({
    url: databaseUrlOf(config),
    applicationName: 'cinder-lvm-backup migrate',
    max: 1,
  });
  try {
    const result = await migrate(pool, {
      logger: createLogger({ name: 'migrate', level: config.general.logLevel ?? 'info' }),
    });
    if (ctx.json) printJson({ status: 'ok', ...result });
    else {
      if (result.changed.length > 0) {
        process.stderr.write(
          `warning: applied migrations edited since: ${result.changed.join(', ')}\n`,
        );
      }
      process.stdout.write(
        result.applied.length === 0
          ? `schema is current (migration ${result.current})\n`
          : `applied ${result.applied.join(', ')}; schema at migration ${result.current}\n`,
      );
    }
    return 0;
  } finally {
    await pool.end();
  }
}
