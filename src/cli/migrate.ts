/**
 * `cinder-lvm-backup migrate`: brings the database named by DATABASE_URL up to this
 * release's schema (safe to run from several hosts at once).
 */
import { createLogger } from '../log.js';
import { databaseUrlOf, type Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { migrate } from '../db/migrate.js';
import { AppError } from '../errors.js';
import { printJson, type CommandContext } from './output.js';

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  if (argv.length > 0) {
    throw new AppError('INVALID_ARGUMENT', `migrate takes no arguments (got ${argv.join(' ')})`);
  }
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
