/**
 * `/v1/backups/{id}`: one backup with a summary of its manifest, verify it, restore it.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';
import { countOpenJobs } from '../../jobs/queue.js';
import { checkTargetVolume } from '../../jobs/restore-target-volume.js';
import { requireActionRole, requireAdminRole } from '../caller.js';
import { adminOf, callerOf, visibleBackup, type ApiContext } from '../api-context.js';
import { openSameRestore, requestRestore, requestVerify } from '../job-requests.js';
import { backupDetailJson, jobJson, manifestSummary } from '../representations.js';
import { restoreTargetProblem } from '../restore-target.js';
import type { BackupDetail } from '../../db/backups.js';
import { bodylessAsEmpty, errorResponses, noBody, rowIdParams, UUID_PATTERN } from '../schemas.js';

const jobAccepted = {
  type: 'object',
  required: ['job', 'created'],
  properties: { job: { $ref: 'Job#' }, created: { type: 'boolean' } },
} as const;

/** Verify and restore need a backup that succeeded and still has its archives. */
function usable(b: BackupDetail): void {
  if (b.status !== 'succeeded' || b.manifestPath === null) {
    throw new AppError(
      'BACKUP_NOT_USABLE',
      `backup ${b.id} is ${b.status}; only a good one can be used`,
    );
  }
  if (b.prunedAt !== null) {
    throw new AppError('BACKUP_NOT_USABLE', `backup ${b.id} was pruned; its archives are gone`);
  }
}

export function backupRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: { id: string } }>(
    '/backups/:id',
    {
      schema: {
        summary: 'One backup with a summary of its manifest',
        description:
          'Partitions, filesystems, sizes, archive checksums and consistency level, from ' +
          'the catalog row of the backup.',
        tags: ['backups'],
        params: rowIdParams,
        response: {
          200: {
            type: 'object',
            required: ['backup'],
            properties: { backup: { $ref: 'BackupDetail#' } },
          },
          ...errorResponses(400, 401, 404, 503),
        },
      },
    },
    async (req) => {
      const { backup } = await visibleBackup(ctx, req, Number(req.params.id));
      return { backup: backupDetailJson(backup, adminOf(ctx, req)) };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/backups/:id/verify',
    {
      preValidation: bodylessAsEmpty,
      schema: {
        summary: 'Verify a backup',
        description:
          "Queues a verify job (checksums and readability of the backup's archives). Needs " +
          'the action role. While a verify job of this backup is open, answers that job.',
        tags: ['backups'],
        params: rowIdParams,
        body: noBody,
        response: { 202: jobAccepted, ...errorResponses(400, 401, 403, 404, 409, 413, 503) },
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      const { backup, volume } = await visibleBackup(ctx, req, Number(req.params.id));
      requireActionRole(caller, ctx.roles);
      usable(backup);
      const r = await requestVerify(ctx.db, volume, backup.id, caller.userId);
      return reply.code(202).send({ job: jobJson(r.job, adminOf(ctx, req)), created: r.created });
    },
  );

  app.post<{ Params: { id: string }; Body: { target_volume_id: string } }>(
    '/backups/:id/restore',
    {
      schema: {
        summary: 'Restore a backup to another volume (admins only)',
        description:
          'Queues a restore of the backup onto `target_volume_id`: a volume that Cinder ' +
          'reports available and detached, on the same storage host, at least as large as ' +
          'the backed-up volume. Unless `[restore] set_maintenance = false`, the target is ' +
          "put in Cinder's `maintenance` status (so it cannot be attached) until the restore " +
          'job ends; when Cinder will not, the restore is refused (502 ' +
          'TARGET_MAINTENANCE_FAILED).',
        tags: ['backups'],
        params: rowIdParams,
        body: {
          type: 'object',
          required: ['target_volume_id'],
          additionalProperties: false,
          properties: { target_volume_id: { type: 'string', pattern: UUID_PATTERN } },
        },
        response: {
          202: jobAccepted,
          ...errorResponses(400, 401, 403, 404, 409, 413, 502, 503),
        },
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      const { backup, volume } = await visibleBackup(ctx, req, Number(req.params.id));
      requireAdminRole(caller, ctx.roles);
      usable(backup);
      const targetId = req.body.target_volume_id.toLowerCase();
      if (ctx.cinderLookup === null) {
        throw new AppError(
          'OPENSTACK_UNAVAILABLE',
          'restores need Cinder to check the target volume, and no OpenStack is configured',
        );
      }
      const repeated = await openSameRestore(ctx.db, volume, backup.id, targetId);
      if (repeated !== null) {
        return reply.code(202).send({ job: jobJson(repeated, true), created: false });
      }
      const source = volume.backendHost ?? '';
      // As the CLI: Cinder, not the inventory, says whether the target may be overwritten.
      const seen = await ctx.cinderLookup(targetId);
      if (seen === null) throw new AppError('VOLUME_NOT_FOUND', `Cinder has no volume ${targetId}`);
      const target = checkTargetVolume(seen, source, new Date());
      const problem = restoreTargetProblem({
        sourceVolumeId: volume.id,
        target: { id: seen.id, sizeGb: seen.sizeGb },
        backupSourceBytes: manifestSummary(backup.manifest)?.['source_size_bytes'] as number | null,
        targetOpenJobs: await countOpenJobs(ctx.db, target.id),
      });
      if (problem !== null) throw problem;
      const lookup = ctx.cinderLookup;
      const reset = ctx.cinderResetStatus;
      const r = await requestRestore(ctx.db, volume, backup.id, target, caller.userId, {
        cinder: reset === null ? null : { lookup, resetStatus: reset },
        setMaintenance: ctx.restoreSetsMaintenance,
        logger: ctx.logger,
      });
      return reply.code(202).send({ job: jobJson(r.job, true), created: r.created });
    },
  );
}
