/**
 * `cinder-lvm-backup restore --manifest FILE --target DEV [--json]`: writes a backup onto a
 * block device at least as large as the backed-up volume, then checks the result against
 * the manifest. Everything on the target is overwritten.
 */
import { parseArgs } from 'node:util';
import { AppError } from '../errors.js';
import { createLogger } from '../log.js';
import { restoreBackup, type RestoreProgress } from '../engine/restore.js';
import { EXIT_FAILED, printJson, type CommandContext } from './output.js';

function parse(argv: string[]): { manifest: string; target: string } {
  let values: { manifest?: string | undefined; target?: string | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { manifest: { type: 'string' }, target: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `restore: ${(err as Error).message}`, { cause: err });
  }
  if (values.manifest === undefined || values.target === undefined) {
    throw new AppError('INVALID_ARGUMENT', 'usage: restore --manifest FILE --target DEV [--json]');
  }
  return { manifest: values.manifest, target: values.target };
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit] as string}`;
}

/** A one-line progress bar on stderr, redrawn at most a few times a second. */
function progressBar(started: number): { update: (p: RestoreProgress) => void; end: () => void } {
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      const total = p.bytesTotal ?? 0;
      const fraction = total > 0 ? Math.min(1, p.bytesDone / total) : 0;
      const width = 30;
      const filled = Math.round(fraction * width);
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? p.bytesDone / seconds : 0;
      const left = rate > 0 && total > 0 ? Math.max(0, (total - p.bytesDone) / rate) : null;
      process.stderr.write(
        `\r${p.phase.padEnd(6)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` +
          `${formatBytes(p.bytesDone)}/${formatBytes(total)} ${formatBytes(rate)}/s` +
          (left !== null ? ` ${Math.ceil(left)} s left` : '') +
          '   ',
      );
      drawn = true;
    },
    end() {
      if (drawn) process.stderr.write('\n');
    },
  };
}

export async function run(argv: string[], ctx: CommandContext): Promise<number> {
  const args = parse(argv);
  const started = Date.now();
  const bar = ctx.interactive && !ctx.json ? progressBar(started) : null;
  let result;
  try {
    result = await restoreBackup({
      manifestPath: args.manifest,
      target: args.target,
      signal: ctx.signal,
      logger: createLogger({ name: 'restore', level: process.env['CLB_LOG_LEVEL'] ?? 'warn' }),
      ...(bar ? { onProgress: bar.update } : {}),
    });
  } finally {
    bar?.end();
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
      process.stdout.write(`restored to ${args.target} in ${(durationMs / 1000).toFixed(1)} s\n`);
    } else {
      process.stderr.write(
        `error: RESTORE_MISMATCH: ${failed.map((c) => `${c.name}: ${c.detail ?? 'failed'}`).join('; ')}\n`,
      );
    }
  }
  return result.ok ? 0 : EXIT_FAILED;
}
