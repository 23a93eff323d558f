/**
 * `cinder-lvm-backup backup --lv VG/LV | --device DEV --dest DIR [--snapshot-size S]
 * [--exclude GLOB]... [--run-id ID] [--ssh USER@HOST[:PORT] ...]` (consistency flags: see
 * consistency-flags.ts)
 */
import { backupDevice, backupLv, type BackupResult } from '../engine/backup.js';
import { parseLvSpec } from '../engine/parse/lvm-names.js';
import { SNAPSHOT_LIFETIME } from '../engine/timings.js';
import type { Config } from '../config/settings.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
import {
  CONSISTENCY_EXAMPLES,
  CONSISTENCY_OPTIONS,
  CONSISTENCY_USAGE,
  consistencyFromFlags,
} from './consistency-flags.js';
import { createLogger } from '../log.js';
import { archiveBoundsOf } from '../agent/agent-options.js';
import { EXIT_OK, printJson, type CommandContext } from './output.js';
import { createProgressBar, formatBytes } from './progress.js';

const OPTIONS = {
  lv: { kind: 'string', arg: 'VG/LV', help: 'the logical volume to snapshot and back up' },
  device: {
    kind: 'string',
    arg: 'DEV',
    help: 'a block device to back up as it is (frozen or unused: no snapshot)',
  },
  dest: { kind: 'string', arg: 'DIR', help: 'where the backup directory is made (required)' },
  'snapshot-size': {
    kind: 'string',
    arg: 'SIZE|PCT%',
    help: 'size of the thick snapshot (e.g. 2G or 20%); --lv only',
  },
  exclude: { kind: 'string', arg: 'GLOB', multiple: true, help: 'a path glob not to archive' },
  'run-id': { kind: 'string', arg: 'ID', help: 'name of the run (snapshot clb-ID); default new' },
  incremental: {
    kind: 'boolean',
    help: 'only what changed since the newest good backup of this source under DIR (full if none)',
  },
  full: { kind: 'boolean', help: 'a full backup that starts a new chain (the default)' },
  isolation: {
    kind: 'string',
    arg: 'host|appliance',
    help: 'where filesystems are read: host (default: [agent] isolation) or appliance (a libguestfs VM; this kernel parses no tenant filesystem; full only)',
  },
  ...CONSISTENCY_OPTIONS,
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'backup',
  usage: [
    'backup (--lv VG/LV | --device DEV) --dest DIR [--incremental | --full] [--isolation host|appliance] [--snapshot-size SIZE|PCT%] [--exclude GLOB]... [--run-id ID]',
    ...CONSISTENCY_USAGE,
  ],
  description:
    'Backs up one volume by hand on a storage node: snapshots the LV (or reads a device as it\n' +
    'is), archives only what each filesystem uses, writes a manifest and SHA256SUMS under\n' +
    'DIR/<lv>/<backupId>/. With --ssh it first makes the instance consistent (a database\n' +
    'dump, frozen filesystems). --incremental archives only what changed since the newest\n' +
    'good backup of the same source under DIR (GNU tar listed-incremental); a full one when\n' +
    'there is none or the filesystems changed, with the reason. A progress bar goes to a\n' +
    'terminal; --json prints one object (with the level and parent).',
  options: OPTIONS,
  examples: [
    'backup --lv cinder-volumes/volume-0b1c… --dest /var/backups/cinder',
    'backup --lv cinder-volumes/volume-0b1c… --dest /var/backups/cinder --snapshot-size 20% --exclude "/var/cache/*"',
    'backup --device /dev/loop3 --dest /tmp/out --json',
    'backup --lv cinder-volumes/volume-0b1c… --dest /var/backups/cinder --incremental',
    'backup --device /dev/loop3 --dest /tmp/out --isolation appliance',
    ...CONSISTENCY_EXAMPLES,
  ],
};

/** Runs the command; returns the exit code. */
export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  const v = parseCommandArgs(spec, argv).values;
  if ((v.lv === undefined) === (v.device === undefined)) {
    throw usageError(spec, 'give exactly one of --lv or --device');
  }
  if (v.dest === undefined) throw usageError(spec, '--dest is required');
  if (v.device !== undefined && v['snapshot-size'] !== undefined) {
    throw usageError(spec, '--snapshot-size applies to --lv only');
  }
  if (v.incremental === true && v.full === true) {
    throw usageError(spec, 'give at most one of --incremental or --full');
  }
  const isolation = v.isolation ?? config.agent.isolation;
  if (isolation !== 'host' && isolation !== 'appliance') {
    throw usageError(spec, '--isolation is host or appliance');
  }
  if (isolation === 'appliance' && v.incremental === true) {
    throw usageError(
      spec,
      '--incremental is not available with isolation appliance (no listed-incremental inside the appliance): make a full backup, or use --isolation host',
    );
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
    archiveBounds: archiveBoundsOf(config.agent),
    ...(isolation === 'appliance' ? { isolation: 'appliance' as const } : {}),
    level:
      v.incremental === true
        ? ({ kind: 'newest' } as const)
        : ({
            kind: 'full',
            reason: v.full === true ? 'full backup forced (--full)' : 'full backup asked',
          } as const),
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
      result = await backupDevice({ ...common, device: v.device ?? '' });
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
      snapshotLifetimeMs: m.timings[SNAPSHOT_LIFETIME] ?? null,
      isolation: m.isolation ?? 'host',
      level: m.chain?.level ?? 0,
      parentId: m.chain?.parentId ?? null,
      chainRootId: m.chain?.rootId ?? m.backupId,
      fullReason: m.chain?.fullReason ?? null,
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
    const lifetime = m.timings[SNAPSHOT_LIFETIME];
    process.stdout.write(
      `backup ${m.backupId} of ${m.source.lv ? `${m.source.vg}/${m.source.lv}` : m.source.device}: ` +
        `${m.partitions.filter((p) => p.action === 'archived').length} filesystem(s), ` +
        `${formatBytes(m.totals.archivedBytes)} read, ${formatBytes(m.totals.storedBytes)} stored, ${secs.toFixed(1)} s` +
        (lifetime === undefined ? '' : ` (snapshot held ${(lifetime / 1000).toFixed(1)} s)`) +
        '\n' +
        m.partitions
          .map(
            (p) =>
              `  p${p.number ?? 0}: ${p.fsType ?? '-'} ${p.action}${p.reason ? ` (${p.reason})` : ''}${p.archive ? ` -> ${p.archive.file}` : ''}\n`,
          )
          .join('') +
        consistencyText(m) +
        levelText(m) +
        `manifest: ${result.manifestPath}\n`,
    );
  }
  return EXIT_OK;
}

/** The chain line of the text summary: level and parent, or why the backup is full. */
function levelText(m: BackupResult['manifest']): string {
  const c = m.chain;
  if (c === undefined) return '';
  return c.level > 0
    ? `level ${c.level}: incremental on ${String(c.parentId)} (chain of ${c.rootId})\n`
    : `level 0: full (${c.fullReason ?? 'full backup asked'})\n`;
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
