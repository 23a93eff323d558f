/**
 * `cinder-lvm-backup catalog rebuild --dest DIR [--host H@B] [--json]`: re-creates the
 * catalog's backup rows from the manifests on a destination (src/catalog/rebuild.ts).
 */
import { parseArgs } from 'node:util';
import { rebuildCatalog } from '../catalog/rebuild.js';
import { databaseUrlOf, type Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { AppError } from '../errors.js';
import { createLogger } from '../log.js';
import { EXIT_OK, printJson, type CommandContext } from './output.js';

export const USAGE = 'usage: catalog rebuild --dest DIR [--host HOST@BACKEND] [--json]';

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { dest: { type: 'string' }, host: { type: 'string' } },
    });
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `${(err as Error).message}\n${USAGE}`, { cause: err });
  }
}

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  const { values, positionals } = parse(argv);
  if (positionals.length !== 1 || positionals[0] !== 'rebuild') {
    throw new AppError('INVALID_ARGUMENT', USAGE);
  }
  if (values.dest === undefined)
    throw new AppError('INVALID_ARGUMENT', `--dest is required\n${USAGE}`);
  const logger = createLogger({ level: config.general.logLevel ?? 'warn' });
  const pool = createPool({
    url: databaseUrlOf(config),
    applicationName: 'cinder-lvm-backup catalog rebuild',
    max: 1,
  });
  try {
    const report = await rebuildCatalog(pool, {
      dest: values.dest,
      host: values.host ?? null,
      signal: ctx.signal,
      logger,
    });
    if (ctx.json) {
      printJson({ status: 'ok', ...report });
      return EXIT_OK;
    }
    process.stdout.write(
      `catalog rebuild of ${report.dest}: ${report.found} backups found, ` +
        `${report.rebuilt.length} rows rebuilt, ${report.present} already present, ` +
        `${report.volumesAdded} volumes added, ${report.skipped.length} skipped` +
        (values.host === undefined ? '' : `, ${report.otherHost} of other hosts`) +
        `, ${(report.durationMs / 1000).toFixed(1)} s\n`,
    );
    for (const r of report.rebuilt) {
      process.stdout.write(`  rebuilt ${r.backupId} (volume ${r.volumeId})\n`);
    }
    for (const s of report.skipped) process.stdout.write(`  skipped ${s.dir}: ${s.reason}\n`);
    return EXIT_OK;
  } finally {
    await pool.end();
  }
}
