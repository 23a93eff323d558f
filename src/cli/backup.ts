/**
 * `cinder-lvm-backup backup --lv VG/LV | --device DEV --dest DIR [--snapshot-size S]
 * [--exclude GLOB]... [--run-id ID] [--ssh USER@HOST[:PORT] ...]` (consistency flags: see
 * consistency-flags.ts)
 */
import { parseArgs } from 'node:util';
import { backupDevice, backupLv, type BackupResult } from '../engine/backup.js';
import { parseLvSpec } from '../engine/parse/lvm-names.js';
import type { Config } from '../config/settings.js';
import { AppError } from '../errors.js';
import {
  CONSISTENCY_OPTIONS,
  CONSISTENCY_USAGE,
  consistencyFromFlags,
} from './consistency-flags.js';
import { createLogger } from '../log.js';
import { EXIT_OK, printJson, type CommandContext } from './output.js';
import { createProgressBar, formatBytes } from './progress.js';

export const USAGE =
  'usage: backup (--lv VG/LV | --device DEV) --dest DIR [--snapshot-size SIZE|PCT%] [--exclude GLOB]... [--run-id ID] [--json] ' +
  CONSISTENCY_USAGE;

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        lv: { type: 'string' },
        device: { type: 'string' },
        dest: { type: 'string' },
        'snapshot-size': { type: 'string' },
        exclude: { type: 'string', multiple: true },
        'run-id': { type: 'string' },
        ...CONSISTENCY_OPTIONS,
      },
    }).values;
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `${(err as Error).message}\n${USAGE}`, { cause: err });
  }
}

/** Runs the command; returns the exit code. */
export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  const v = parse(argv);
  if ((v.lv === undefined) === (v.device === undefined)) {
    throw new AppError('INVALID_ARGUMENT', `give exactly one of --lv or --device\n${USAGE}`);
  }
  if (v.dest === undefined) throw new AppError('INVALID_ARGUMENT', `--dest is required\n${USAGE}`);
  if (v.device !== undefined && v['snapshot-size'] !== undefined) {
    throw new AppError('INVALID_ARGUMENT', '--snapshot-size applies to --lv only');
  }
  const consistency = consistencyFromFlags(v, config.ssh);
  const logger = createLogger({ level: config.general.logLevel ?? 'warn' });
  const bar = createProgressBar(ctx.interactive && !ctx.json);
  const common = {
    dest: v.dest,
    excludes: v.exclude ?? [],
    signal: ctx.signal,
    logger,
    onProgress: bar.update,
    ...(v['run-id'] !== undefined ? { runId: v['run-id'] } : {}),
    ...(consistency ? { consistency } : {}),
  };
  let result: BackupResult;
  try {
    if (v.lv !== undefined) {
      const { vg, lv } = parseLvSpec(v.lv);
      result = await backupLv({
        ...common,
        vg,
        lv,
        ...(v['snapshot-size'] !== undefined ? { snapshotSize: v['snapshot-size'] } : {}),
      });
    } else {
      result = await backupDevice({ ...common, device: v.device as string });
    }
  } finally {
    bar.finish();
  }
  const m = result.manifest;
  if (ctx.json) {
    printJson({
      status: 'ok',
      manifest: result.manifestPath,
      backupId: m.backupId,
      backupDir: result.backupDir,
      source: m.source,
      consistency: m.consistency,
      consistencyReport: m.consistencyReport ?? null,
      dump: m.dump
        ? {
            file: m.dump.file,
            bytes: m.dump.bytes,
            uncompressedBytes: m.dump.uncompressedBytes,
            durationMs: m.dump.durationMs,
            binlog: m.dump.binlog,
          }
        : null,
      snapshotPeakPercent: m.snapshot?.peakPercent ?? null,
      partitions: m.partitions.map((p) => ({
        number: p.number,
        fsType: p.fsType,
        action: p.action,
        file: p.archive?.file ?? null,
        ...(p.reason ? { reason: p.reason } : {}),
      })),
      totals: m.totals,
      durationMs: m.timings['total'] ?? null,
    });
  } else {
    const secs = (m.timings['total'] ?? 0) / 1000;
    process.stdout.write(
      `backup ${m.backupId} of ${m.source.lv ? `${m.source.vg}/${m.source.lv}` : m.source.device}: ` +
        `${m.partitions.filter((p) => p.action === 'archived').length} filesystem(s), ` +
        `${formatBytes(m.totals.archivedBytes)} read, ${formatBytes(m.totals.storedBytes)} stored, ${secs.toFixed(1)} s\n` +
        m.partitions
          .map(
            (p) =>
              `  p${p.number ?? 0}: ${p.fsType ?? '-'} ${p.action}${p.reason ? ` (${p.reason})` : ''}${p.archive ? ` -> ${p.archive.file}` : ''}\n`,
          )
          .join('') +
        consistencyText(m) +
        `manifest: ${result.manifestPath}\n`,
    );
  }
  return EXIT_OK;
}

/** The consistency lines of the text summary: level, each step, the freeze window. */
function consistencyText(m: BackupResult['manifest']): string {
  const r = m.consistencyReport;
  if (r === undefined) return `consistency: ${m.consistency}\n`;
  const steps = r.steps
    .map((s) => `  ${s.step}: ${s.ok ? 'ok' : `FAILED ${s.code ?? ''}: ${s.reason ?? ''}`}\n`)
    .join('');
  const dump = m.dump
    ? `  dump: ${m.dump.file} ${formatBytes(m.dump.uncompressedBytes)} in ${(m.dump.durationMs / 1000).toFixed(1)} s\n`
    : '';
  const window = r.freezeWindowMs === null ? '' : `  freeze window: ${r.freezeWindowMs} ms\n`;
  return `consistency: ${m.consistency} (demanded ${r.demanded}, via ${r.target})\n${steps}${dump}${window}`;
}
