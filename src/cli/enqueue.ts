/**
 * `cinder-lvm-backup enqueue backup|verify|prune|restore --volume ID [--wait]`: puts a job
 * on the queue by hand and prints it; `--wait` follows its events until it ends (exit 0
 * only when it succeeded). A volume that already has an open job of that kind gets no
 * second one: the open job is printed (and followed) instead.
 *
 * Options: `--reason TEXT` (default `manual`), `--backup ROW_ID` (verify/restore: which
 * backup; default the newest good one), `--target-volume ID` (restore: the Cinder volume to
 * overwrite; asked of Cinder with the OS_* credentials, it must be available, detached and
 * on the backup's host), `--poll-ms N`.
 */
import {
  databaseUrlOf,
  loadSettings,
  type Config,
  type LoadSettingsOptions,
} from '../config/settings.js';
import { createPool } from '../db/pool.js';
import { listJobEvents } from '../db/events.js';
import type { Queryable } from '../db/queryable.js';
import { getVolume } from '../db/volumes.js';
import { cinderVolumeLookup } from '../inventory/cinder-volume-lookup.js';
import { createOpenStackClients } from '../openstack/clients.js';
import { createLogger } from '../log.js';
import { lookUpTargetVolume } from '../jobs/restore-target-volume.js';
import { AppError } from '../errors.js';
import { FINAL_STATES, JOB_KINDS, type Job, type JobKind } from '../jobs/job.js';
import { enqueueJob, findOpenJob, getJob } from '../jobs/queue.js';
import { printJson, type CommandContext } from './output.js';
import { sleep } from '../lifecycle/sleep.js';

interface EnqueueArgs {
  kind: JobKind;
  volumeId: string;
  reason: string;
  payload: Record<string, unknown>;
  /** Restore: the Cinder volume to overwrite, checked before the job is queued. */
  targetVolumeId: string | null;
  wait: boolean;
  pollMs: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses the arguments (pure). */
export function parseEnqueueArgs(argv: readonly string[]): EnqueueArgs {
  const [kind, ...rest] = argv;
  if (kind === undefined || !(JOB_KINDS as readonly string[]).includes(kind)) {
    throw new AppError('INVALID_ARGUMENT', `enqueue needs a kind: ${JOB_KINDS.join('|')}`);
  }
  const out: EnqueueArgs = {
    kind: kind as JobKind,
    volumeId: '',
    reason: 'manual',
    payload: {},
    targetVolumeId: null,
    wait: false,
    pollMs: 1000,
  };
  for (let i = 0; i < rest.length; i += 1) {
    const flag = rest[i];
    if (flag === '--wait') {
      out.wait = true;
      continue;
    }
    const value = rest[i + 1];
    if (value === undefined) throw new AppError('INVALID_ARGUMENT', `${flag ?? ''} needs a value`);
    i += 1;
    if (flag === '--volume') out.volumeId = value;
    else if (flag === '--reason') out.reason = value;
    else if (flag === '--target-volume') out.targetVolumeId = value;
    else if (flag === '--target') {
      throw new AppError(
        'INVALID_ARGUMENT',
        'a restore names the Cinder volume to overwrite (--target-volume ID), not a device',
      );
    } else if (flag === '--backup') {
      if (!/^\d+$/.test(value))
        throw new AppError('INVALID_ARGUMENT', '--backup takes a backup row id');
      out.payload['backupRowId'] = Number(value);
    } else if (flag === '--poll-ms') out.pollMs = Math.max(50, Number(value) || 1000);
    else throw new AppError('INVALID_ARGUMENT', `unknown enqueue option ${flag ?? ''}`);
  }
  if (!UUID.test(out.volumeId)) {
    throw new AppError('INVALID_ARGUMENT', 'enqueue needs --volume <Cinder volume id>');
  }
  if (out.kind === 'restore' && (out.targetVolumeId === null || !UUID.test(out.targetVolumeId))) {
    throw new AppError('INVALID_ARGUMENT', 'a restore needs --target-volume <Cinder volume id>');
  }
  if (out.kind !== 'restore' && out.targetVolumeId !== null) {
    throw new AppError('INVALID_ARGUMENT', '--target-volume is for restores only');
  }
  return out;
}

function describeJob(j: Job): string {
  const error = j.lastErrorCode === null ? '' : ` ${j.lastErrorCode}: ${j.lastErrorMessage ?? ''}`;
  return `job ${j.id} ${j.kind} volume ${j.volumeId} on ${j.backendHost}: ${j.state} (attempt ${j.attempts}/${j.maxAttempts})${error}`;
}

/** Follows a job until it ends, printing its events; returns the final job. */
async function follow(
  q: Queryable,
  job: Job,
  args: EnqueueArgs,
  ctx: CommandContext,
): Promise<Job> {
  let lastEvent = 0;
  let current = job;
  for (;;) {
    for (const e of await listJobEvents(q, job.id, lastEvent)) {
      lastEvent = e.id;
      if (!ctx.json) {
        process.stdout.write(
          `${e.at.toISOString()} ${e.kind}${e.message === null ? '' : ` ${e.message}`}\n`,
        );
      }
    }
    if (FINAL_STATES.includes(current.state)) return current;
    if (ctx.signal.aborted) throw new AppError('ABORTED', `stopped waiting; job ${job.id} goes on`);
    await sleep(args.pollMs, ctx.signal);
    current = (await getJob(q, job.id)) ?? current;
  }
}

/**
 * The entry point: loads the settings itself because only a restore needs OpenStack
 * credentials (to ask Cinder about the target volume); the other kinds need just the database.
 */
export async function runConfigured(
  argv: string[],
  ctx: CommandContext,
  input: Pick<LoadSettingsOptions, 'env' | 'configFile'>,
): Promise<number> {
  const config = await loadSettings({
    ...input,
    require: ['database.connection'],
    openstack: argv[0] === 'restore',
  });
  return run(argv, ctx, config);
}

export async function run(argv: string[], ctx: CommandContext, config: Config): Promise<number> {
  const args = parseEnqueueArgs(argv);
  const pool = createPool({
    url: databaseUrlOf(config),
    applicationName: 'cinder-lvm-backup enqueue',
    max: 1,
  });
  try {
    const volume = await getVolume(pool, args.volumeId);
    if (volume === null) {
      throw new AppError('VOLUME_NOT_FOUND', `volume ${args.volumeId} is not in the inventory`);
    }
    if (volume.backendHost === null) {
      throw new AppError('INVALID_ARGUMENT', `volume ${args.volumeId} has no host yet`);
    }
    if (args.targetVolumeId !== null) {
      // What the agent will overwrite is decided here, from Cinder, not from the inventory.
      if (config.openstackCredentials === null) {
        throw new AppError(
          'CONFIG_INVALID',
          'enqueue restore asks Cinder about the target volume: OpenStack credentials are needed',
        );
      }
      const clients = createOpenStackClients({
        credentials: config.openstackCredentials,
        logger: createLogger({ name: 'enqueue', level: config.general.logLevel ?? 'warn' }),
      });
      args.payload['targetVolume'] = await lookUpTargetVolume(
        cinderVolumeLookup(clients.cinder),
        args.targetVolumeId,
        volume.backendHost,
      );
    }
    const created = await enqueueJob(pool, {
      kind: args.kind,
      volumeId: volume.id,
      backendHost: volume.backendHost,
      lvName: volume.lvName,
      reason: args.reason,
      payload: args.payload,
    });
    const job = created ?? (await findOpenJob(pool, volume.id, args.kind));
    if (job === null) throw new AppError('INTERNAL', 'enqueue refused but no open job found');
    if (!ctx.json) {
      process.stdout.write(
        `${created === null ? 'already open: ' : 'queued: '}${describeJob(job)}\n`,
      );
    }
    if (!args.wait) {
      if (ctx.json) printJson({ status: 'ok', created: created !== null, job });
      return 0;
    }
    const final = await follow(pool, job, args, ctx);
    if (ctx.json) printJson({ status: final.state === 'succeeded' ? 'ok' : 'failed', job: final });
    else process.stdout.write(`${describeJob(final)}\n`);
    return final.state === 'succeeded' ? 0 : 1;
  } finally {
    await pool.end();
  }
}
