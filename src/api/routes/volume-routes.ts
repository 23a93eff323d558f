/**
 * `/v1/volumes`: tagged volumes with where their backups stand, one volume, its backups,
 * and "back up now".
 */
import type { FastifyInstance } from 'fastify';
import { listBackupsOfVolumePage } from '../../db/backups.js';
import { countVolumeStatus, getVolumeStatus, listVolumeStatus } from '../../db/volumes.js';
import { AppError } from '../../errors.js';
import { projectScope, requireActionRole } from '../caller.js';
import {
  adminOf,
  callerOf,
  visibleVolume,
  volumeNotFound,
  type ApiContext,
} from '../api-context.js';
import { requestBackup } from '../job-requests.js';
import { backupJson, jobJson, volumeJson } from '../representations.js';
import {
  bodylessAsEmpty,
  errorResponses,
  noBody,
  pageQuery,
  UUID_PATTERN,
  volumeIdParams,
} from '../schemas.js';

interface ListQuery {
  limit: number;
  marker?: string;
  project_id?: string;
  status?: string;
  overdue?: boolean;
  with_count?: boolean;
}

/** `?limit=..&marker=..` plus the other filters, for the `next` link. */
function nextHref(
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  marker: string | number,
): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && k !== 'marker' && k !== 'with_count') params.set(k, String(v));
  }
  params.set('marker', String(marker));
  return `${path}?${params.toString()}`;
}

export function volumeRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Querystring: ListQuery }>(
    '/volumes',
    {
      schema: {
        summary: 'Tagged volumes with their backup status',
        description:
          'Volumes that carry backup metadata (a policy or a policy error), in id order. ' +
          'A project-scoped token sees its own project; an admin sees all and may filter by ' +
          'project_id. Pagination as in OpenStack: `limit`, and `marker` = the last id seen; ' +
          'a full page carries a `next` link.',
        tags: ['volumes'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...pageQuery,
            marker: { type: 'string', pattern: UUID_PATTERN },
            project_id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
            status: {
              type: 'string',
              enum: ['running', 'succeeded', 'failed', 'cancelled', 'never'],
            },
            overdue: { type: 'boolean' },
            with_count: { type: 'boolean' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['volumes', 'volumes_links'],
            properties: {
              volumes: { type: 'array', items: { $ref: 'Volume#' } },
              volumes_links: { $ref: 'Links#' },
              count: { type: 'integer' },
            },
          },
          ...errorResponses(400, 401, 403, 503),
        },
      },
    },
    async (req) => {
      const caller = callerOf(req);
      const q = req.query;
      let projectId = projectScope(caller, ctx.roles);
      if (q.project_id !== undefined) {
        if (projectId !== null && q.project_id !== projectId) {
          throw new AppError('FORBIDDEN', 'only an admin may filter by another project_id');
        }
        projectId = q.project_id;
      }
      const filter = {
        projectId,
        overdueGraceSeconds: ctx.overdueGraceSeconds,
        ...(q.status === undefined ? {} : { lastStatus: q.status }),
        ...(q.overdue === undefined ? {} : { overdue: q.overdue }),
      };
      const rows = await listVolumeStatus(ctx.db, filter, {
        limit: q.limit,
        marker: q.marker ?? null,
      });
      const admin = adminOf(ctx, req);
      const last = rows.at(-1);
      return {
        volumes: rows.map((v) => volumeJson(v, admin)),
        volumes_links:
          rows.length === q.limit && last !== undefined
            ? [{ rel: 'next', href: nextHref('/v1/volumes', { ...q }, last.id) }]
            : [],
        ...(q.with_count === true ? { count: await countVolumeStatus(ctx.db, filter) } : {}),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/volumes/:id',
    {
      schema: {
        summary: 'One tagged volume with its backup status',
        tags: ['volumes'],
        params: volumeIdParams,
        response: {
          200: {
            type: 'object',
            required: ['volume'],
            properties: { volume: { $ref: 'Volume#' } },
          },
          ...errorResponses(400, 401, 404, 503),
        },
      },
    },
    async (req) => {
      const id = req.params.id.toLowerCase();
      await visibleVolume(ctx, req, id);
      const v = await getVolumeStatus(ctx.db, id, ctx.overdueGraceSeconds);
      if (v === null) throw volumeNotFound(id);
      return { volume: volumeJson(v, adminOf(ctx, req)) };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit: number; marker?: string } }>(
    '/volumes/:id/backups',
    {
      schema: {
        summary: "A volume's backups, newest first",
        description: 'Every backup attempt (also failed ones); `marker` = the last backup id seen.',
        tags: ['backups'],
        params: volumeIdParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...pageQuery, marker: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } },
        },
        response: {
          200: {
            type: 'object',
            required: ['backups', 'backups_links'],
            properties: {
              backups: { type: 'array', items: { $ref: 'Backup#' } },
              backups_links: { $ref: 'Links#' },
            },
          },
          ...errorResponses(400, 401, 404, 503),
        },
      },
    },
    async (req) => {
      const volume = await visibleVolume(ctx, req, req.params.id.toLowerCase());
      const q = req.query;
      const rows = await listBackupsOfVolumePage(ctx.db, volume.id, {
        limit: q.limit,
        marker: q.marker === undefined ? null : Number(q.marker),
      });
      const admin = adminOf(ctx, req);
      const last = rows.at(-1);
      return {
        backups: rows.map((b) => backupJson(b, admin)),
        backups_links:
          rows.length === q.limit && last !== undefined
            ? [
                {
                  rel: 'next',
                  href: nextHref(`/v1/volumes/${volume.id}/backups`, { ...q }, last.id),
                },
              ]
            : [],
      };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/volumes/:id/backups',
    {
      preValidation: bodylessAsEmpty,
      schema: {
        summary: 'Back up now',
        description:
          'Queues a backup of the volume (202 with the job). While a backup job of the ' +
          'volume is open, answers that same job. Needs the action role. Without the admin ' +
          "role, a new job waits the minimum interval after the volume's last backup: 429 " +
          "RATE_LIMITED with Retry-After (seconds) until then. While the volume's project is " +
          'at or over its byte quota (quota_error), or would be with what its open backup jobs ' +
          'are expected to store, 409 QUOTA_EXCEEDED without the admin role.',
        tags: ['backups'],
        params: volumeIdParams,
        body: noBody,
        response: {
          202: {
            type: 'object',
            required: ['job', 'created'],
            properties: { job: { $ref: 'Job#' }, created: { type: 'boolean' } },
          },
          ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
        },
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      const volume = await visibleVolume(ctx, req, req.params.id.toLowerCase());
      requireActionRole(caller, ctx.roles);
      const r = await requestBackup(ctx.db, volume, caller.userId, {
        minIntervalSeconds: adminOf(ctx, req) ? null : ctx.manualMinIntervalSeconds,
        quota: ctx.quota,
      });
      return reply.code(202).send({ job: jobJson(r.job, adminOf(ctx, req)), created: r.created });
    },
  );
}
