/**
 * `cinder-lvm-backup restore --manifest FILE --target DEV [--force] [--json]`: writes a
 * backup onto a block device at least as large as the backed-up volume, then checks the
 * result against the manifest. Everything on the target is overwritten. The target must be
 * a Cinder volume LV (`/dev/<vg>/volume-<uuid>`) that nothing has open; any other device
 * needs `--force`.
 * `restore --manifest FILE --dump-to FILE|-`: streams the backup's database dump out
 * instead, checksum-verified (`… --dump-to - | mysql`).
 */
import type { Config } from '../config/settings.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
import { createLogger } from '../log.js';
import { restoreBackup } from '../engine/restore.js';
import { streamDumpOut } from '../consistency/dump-restore.js';
import { EXIT_FAILED, printJson, type CommandContext } from './output.js';
import { createProgressBar } from './progress.js';

const OPTIONS = {
  manifest: { kind: 'string', arg: 'FILE', help: "the backup's manifest.json (required)" },
  target: {
    kind: 'string',
    arg: 'DEV',
    help: 'the block device to overwrite: /dev/<vg>/volume-<uuid>, nothing may have it open',
  },
  force: { kind: 'boolean', help: 'allow a target that is not a Cinder volume LV' },
  'dump-to': {
    kind: 'string',
    arg: 'FILE|-',
    help: "stream the backup's database dump out instead (- for stdout)",
  },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'restore',
  usage: ['restore --manifest FILE (--target DEV [--force] | --dump-to FILE|-)'],
  description:
    'Writes a backup onto a block device at least as large as the backed-up volume (the\n' +
    'partition table, each filesystem with its UUID and label, raw partitions), then checks\n' +
    'the result against the manifest. An incremental backup is restored with its whole\n' +
    'chain (the full backup, then each level). Everything on the target is overwritten. With\n' +
    "--dump-to it streams the backup's database dump out instead, checksum-verified.",
  options: OPTIONS,
  examples: [
    'restore --manifest /var/backups/cinder/volume-0b1c…/20261201T020000Z-4f2a/manifest.json --target /dev/cinder-volumes/volume-77aa…',
    'restore --manifest …/manifest.json --target /dev/loop4 --force --json',
    'restore --manifest …/manifest.json --dump-to - | mysql shop',
  ],
};

function parse(
  argv: string[],
): { manifest: string; target: string; force: boolean } | { manifest: string; dumpTo: string } {
  const { values } = parseCommandArgs(spec, argv);
  if (values.manifest === undefined) throw usageError(spec, '--manifest is required');
  if ((values.target === undefined) === (values['dump-to'] === undefined)) {
    throw usageError(spec, 'give exactly one of --target or --dump-to');
  }
  if (values.force === true && values.target === undefined) {
    throw usageError(spec, '--force applies to --target only');
  }
  return values.target !== undefined
    ? { manifest: values.manifest, target: values.target, force: values.force === true }
    : { manifest: values.manifest, dumpTo: values['dump-to'] ?? '-' };
}

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  const parsed = parse(argv);
  if ('dumpTo' in parsed) {
    const r = await streamDumpOut({
      manifestPath: parsed.manifest,
      out: parsed.dumpTo,
      signal: ctx.signal,
    });
    // With `-` the dump itself is on stdout: the summary goes to stderr.
    const summary = { status: 'ok', manifest: parsed.manifest, dumpTo: parsed.dumpTo, ...r };
    if (parsed.dumpTo === '-') {
      process.stderr.write(
        ctx.json
          ? `${JSON.stringify(summary)}\n`
          : `dump ${r.file}: ${r.sqlBytes} bytes of SQL, sha256 ok\n`,
      );
    } else if (ctx.json) printJson(summary);
    else
      process.stdout.write(
        `dump ${r.file} (${r.sqlBytes} bytes of SQL, sha256 ok) -> ${parsed.dumpTo}\n`,
      );
    return 0;
  }
  const args = parsed;
  const started = Date.now();
  const bar = createProgressBar(ctx.interactive && !ctx.json);
  let result;
  try {
    result = await restoreBackup({
      manifestPath: args.manifest,
      target: args.target,
      force: args.force,
      signal: ctx.signal,
      logger: createLogger({ name: 'restore', level: config.general.logLevel ?? 'warn' }),
      onProgress: bar.update,
    });
  } finally {
    bar.finish();
  }
  const durationMs = Date.now() - started;
  const failed = result.checks.filter((c) => !c.ok);
  if (ctx.json) {
    printJson({
      status: result.ok ? 'ok' : 'failed',
      target: args.target,
      manifest: args.manifest,
      durationMs,
      checks: result.checks,
      timings: result.timings,
      chain: result.chain,
      ...(result.ok
        ? {}
        : {
            error: {
              code: 'RESTORE_MISMATCH',
              message: failed.map((c) => `${c.name}: ${c.detail ?? 'failed'}`).join('; '),
            },
          }),
    });
  } else {
    for (const c of result.checks) {
      process.stdout.write(
        `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? `: ${c.detail}` : ''}\n`,
      );
    }
    if (result.ok) {
      const levels = result.chain.length > 1 ? ` (chain of ${result.chain.length} backups)` : '';
      process.stdout.write(
        `restored to ${args.target}${levels} in ${(durationMs / 1000).toFixed(1)} s\n`,
      );
    } else {
      process.stderr.write(
        `error: RESTORE_MISMATCH: ${failed.map((c) => `${c.name}: ${c.detail ?? 'failed'}`).join('; ')}\n`,
      );
    }
  }
  return result.ok ? 0 : EXIT_FAILED;
}
