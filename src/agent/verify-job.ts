/**
 * The verify job: checks a backup's archives against its manifest (checksums, readability)
 * and records the outcome on the backup row. A backup that fails verification fails the
 * job (CHECKSUM_MISMATCH, not retried): an operator must look at it.
 */
import { recordVerifyResult } from '../db/backups.js';
import { AppError } from '../errors.js';
import { backupForJob } from './backup-to-use.js';
import type { JobHandler } from './job-context.js';

export const runVerify: JobHandler = async (ctx) => {
  const backup = await backupForJob(ctx.pool, ctx.job);
  await ctx.record('verify.started', backup.backupId ?? String(backup.id), {
    backupRowId: backup.id,
  });
  const result = await ctx.engine.verify({
    manifestPath: backup.manifestPath ?? '',
    signal: ctx.signal,
  });
  const bad = result.archives.filter((a) => !a.ok);
  const error = bad.map((a) => `${a.file}: ${a.error ?? 'failed'}`).join('; ');
  await recordVerifyResult(ctx.pool, backup.id, { ok: result.ok, error: result.ok ? null : error });
  await ctx.record(result.ok ? 'verify.ok' : 'verify.failed', result.ok ? undefined : error, {
    backupRowId: backup.id,
    archives: result.archives,
  });
  if (!result.ok) {
    throw new AppError('CHECKSUM_MISMATCH', `backup ${backup.backupId ?? backup.id}: ${error}`, {
      retryable: false,
    });
  }
  return { backupRowId: backup.id, ok: true, archives: result.archives.length };
};
