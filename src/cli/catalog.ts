/**
 * `cinder-lvm-backup catalog rebuild --dest DIR [--host H@B] [--json]`: re-creates the
 * catalog's backup rows from the manifests on a destination (src/catalog/rebuild.ts).
 */
import { rebuildCatalog } from '../catalog/rebuild.js';
import { databaseUrlOf, type Config } from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
import { createLogger } from '../log.js';
import { EXIT_OK, printJson, type CommandContext } from './output.js';

const OPTIONS = {
  dest: { kind: 'string', arg: 'DIR', help: 'the backup destination to read (required)' },
  host: { kind: 'string', arg: 'HOST@BACKEND', help: "only this backend host's backups" },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'catalog',
  usage: ['catalog rebuild --dest DIR [--host HOST@BACKEND]'],
  description:
    "Re-creates the catalog's backup rows (and volumes the inventory lacks) from the\n" +
    'manifests on a destination, after the database was lost. Each manifest is verified\n' +
    'against its directory name, SHA256SUMS and the stored checksums; what does not verify\n' +
    'is skipped with its reason. Running it again changes nothing.',
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  examples: [
    'catalog rebuild --dest /var/backups/cinder',
    'catalog rebuild --dest /var/backups/cinder --host storage1@lvm --json',
  ],
};

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  const { values, positionals } = parseCommandArgs(spec, argv);
  if (positionals[0] !== 'rebuild') {
    throw usageError(spec, `unknown catalog action "${positionals[0]?.slice(0, 40) ?? ''}"`);
  }
  if (values.dest === undefined) throw usageError(spec, '--dest is required');
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
