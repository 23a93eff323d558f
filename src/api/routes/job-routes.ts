/**
 * `/v1/jobs/{id}`: a job's state, and cancelling it.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';
import { cancelJob } from '../../jobs/queue.js';
import { requireActionRole } from '../caller.js';
import { adminOf, callerOf, visibleJob, type ApiContext } from '../api-context.js';
import { jobJson } from '../representations.js';
import { errorResponses, rowIdParams } from '../schemas.js';

const jobBody = {
  type: 'object',
  required: ['job'],
  properties: { job: { $ref: 'Job#' } },
} as const;

export function jobRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get<{ Params: { id: string } }>(
    '/jobs/:id',
    {
      schema: {
        summary: 'A job and its state',
        tags: ['jobs'],
        params: rowIdParams,
        response: { 200: jobBody, ...errorResponses(400, 401, 404, 503) },
      },
    },
    async (req) => {
      const job = await visibleJob(ctx, req, Number(req.params.id));
      return { job: jobJson(job, adminOf(ctx, req)) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/jobs/:id',
    {
      schema: {
        summary: 'Cancel a job',
        description:
          'A queued job is cancelled at once (200); a running one is asked to stop and its ' +
          'agent stops it within seconds (202, `cancel_requested_at` set). A job that has ' +
          'already ended is answered as it is (200). Needs the action role.',
        tags: ['jobs'],
        params: rowIdParams,
        response: { 200: jobBody, 202: jobBody, ...errorResponses(400, 401, 403, 404, 503) },
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      const job = await visibleJob(ctx, req, Number(req.params.id));
      requireActionRole(caller, ctx.roles);
      const after = await cancelJob(ctx.db, job.id);
      if (after === null) throw new AppError('JOB_NOT_FOUND', `no job ${job.id}`);
      return reply
        .code(after.state === 'running' ? 202 : 200)
        .send({ job: jobJson(after, adminOf(ctx, req)) });
    },
  );
}
