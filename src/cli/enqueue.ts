/**
 * `cinder-lvm-backup enqueue backup|verify|prune|restore --volume ID [--wait]`: puts a job
 * on the queue by hand and prints it; `--wait` follows its events until it ends (exit 0
 * only when it succeeded). A volume that already has an open job of that kind gets no
 * second one: the open job is printed (and followed) instead.
 *
 * Options: `--reason TEXT` (default `manual`), `--backup ROW_ID` (verify/restore: which
 * backup; default the newest good one), `--target-volume ID` (restore: the Cinder volume to
 * overwrite; asked of Cinder with the OS_* credentials, it must be available, detached and
 * on the backup's host, and is held in Cinder's `maintenance` status until the job ends
 * unless `[restore] set_maintenance = false`: jobs/enqueue-restore.ts), `--poll-ms N`.
 *
 * Output: text streams one line per job event while waiting. `--json` prints exactly one
 * object when the command ends: without `--wait` `{status, created, job}` at once; with
 * `--wait` `{status, created, job, events}` once the job has ended (`events` as the text
 * lines showed them), so a script parses stdout whole.
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
import { enqueueRestore } from '../jobs/enqueue-restore.js';
import { AppError } from '../errors.js';
import { FINAL_STATES, JOB_KINDS, type Job, type JobKind } from '../jobs/job.js';
import { enqueueJob, findOpenJob, getJob } from '../jobs/queue.js';
import { printJson, type CommandContext } from './output.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
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

const OPTIONS = {
  volume: { kind: 'string', arg: 'ID', help: 'the Cinder volume (required)' },
  reason: { kind: 'string', arg: 'TEXT', help: "why, kept with the job (default 'manual')" },
  backup: {
    kind: 'integer',
    arg: 'ROW_ID',
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    help: 'verify/restore: which backup row (default the newest good one)',
  },
  'target-volume': {
    kind: 'string',
    arg: 'ID',
    help: 'restore: the Cinder volume to overwrite (available, detached, same host)',
  },
  wait: { kind: 'boolean', help: 'follow the job until it ends; exit 0 only if it succeeded' },
  'poll-ms': {
    kind: 'integer',
    arg: 'MS',
    min: 50,
    max: 60_000,
    help: 'with --wait: how often the job is read (default 1000)',
  },
  // Kept to answer a likely mistake with the right option rather than "unknown option".
  target: { kind: 'string', help: 'refused: a restore names --target-volume', hidden: true },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'enqueue',
  usage: [
    'enqueue backup|verify|prune --volume ID [--reason TEXT] [--backup ROW_ID] [--wait [--poll-ms MS]]',
    'enqueue restore --volume ID --target-volume ID [--backup ROW_ID] [--wait [--poll-ms MS]]',
  ],
  description:
    "Puts a job on the queue by hand; the volume's agent runs it. A volume that already has an\n" +
    'open job of that kind gets no second one: the open job is shown (and followed) instead.\n' +
    'A restore asks Cinder (OpenStack credentials) whether the target may be overwritten,\n' +
    "and puts it in Cinder's maintenance status until the job ends ([restore] set_maintenance).\n" +
    'With --wait, text output streams one line per job event; --json prints one object when\n' +
    'the command ends ({status, created, job}, plus events with --wait).',
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  examples: [
    'enqueue backup --volume 0b1c2d3e-… --wait',
    'enqueue verify --volume 0b1c2d3e-… --backup 42 --wait --json',
    'enqueue restore --volume 0b1c2d3e-… --target-volume 77aa… --backup 42',
  ],
};

/** Parses the arguments (pure). */
export function parseEnqueueArgs(argv: readonly string[]): EnqueueArgs {
  const { values: v, positionals } = parseCommandArgs(spec, argv);
  const kind = positionals[0] ?? '';
  if (!(JOB_KINDS as readonly string[]).includes(kind)) {
    throw usageError(
      spec,
      `enqueue needs a kind: ${JOB_KINDS.join('|')} (got "${kind.slice(0, 40)}")`,
    );
  }
  if (v.target !== undefined) {
    throw usageError(
      spec,
      'a restore names the Cinder volume to overwrite (--target-volume ID), not a device',
    );
  }
  const out: EnqueueArgs = {
    kind: kind as JobKind,
    volumeId: v.volume ?? '',
    reason: v.reason ?? 'manual',
    payload: v.backup === undefined ? {} : { backupRowId: v.backup },
    targetVolumeId: v['target-volume'] ?? null,
    wait: v.wait === true,
    pollMs: v['poll-ms'] ?? 1000,
  };
  if (!UUID.test(out.volumeId)) {
    throw usageError(spec, 'enqueue needs --volume <Cinder volume id>');
  }
  if (out.kind === 'restore' && (out.targetVolumeId === null || !UUID.test(out.targetVolumeId))) {
    throw usageError(spec, 'a restore needs --target-volume <Cinder volume id>');
  }
  if (out.kind !== 'restore' && out.targetVolumeId !== null) {
    throw usageError(spec, '--target-volume is for restores only');
  }
  if (!out.wait && v['poll-ms'] !== undefined)
    throw usageError(spec, '--poll-ms applies to --wait');
  return out;
}

function describeJob(j: Job): string {
  const error = j.lastErrorCode === null ? '' : ` ${j.lastErrorCode}: ${j.lastErrorMessage ?? ''}`;
  return `job ${j.id} ${j.kind} volume ${j.volumeId} on ${j.backendHost}: ${j.state} (attempt ${j.attempts}/${j.maxAttempts})${error}`;
}

interface FollowedEvent {
  at: string;
  kind: string;
  message: string | null;
}

/** Follows a job until it ends, printing its events (text); returns the final job and them. */
async function follow(
  q: Queryable,
  job: Job,
  args: EnqueueArgs,
  ctx: CommandContext,
): Promise<{ job: Job; events: FollowedEvent[] }> {
  let lastEvent = 0;
  let current = job;
  const events: FollowedEvent[] = [];
  for (;;) {
    for (const e of await listJobEvents(q, job.id, lastEvent)) {
      lastEvent = e.id;
      events.push({ at: e.at.toISOString(), kind: e.kind, message: e.message });
      if (!ctx.json) {
        process.stdout.write(
          `${e.at.toISOString()} ${e.kind}${e.message === null ? '' : ` ${e.message}`}\n`,
        );
      }
    }
    if (FINAL_STATES.includes(current.state)) return { job: current, events };
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
    openstack: parseEnqueueArgs(argv).kind === 'restore',
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
    const request = {
      volumeId: volume.id,
      backendHost: volume.backendHost,
      lvName: volume.lvName,
      reason: args.reason,
      payload: args.payload,
    };
    let created: Job | null;
    if (args.targetVolumeId !== null) {
      // What the agent will overwrite is decided here, from Cinder, not from the inventory.
      if (config.openstackCredentials === null) {
        throw new AppError(
          'CONFIG_INVALID',
          'enqueue restore asks Cinder about the target volume: OpenStack credentials are needed',
        );
      }
      const logger = createLogger({ name: 'enqueue', level: config.general.logLevel ?? 'warn' });
      const { cinder } = createOpenStackClients({
        credentials: config.openstackCredentials,
        logger,
      });
      const lookup = cinderVolumeLookup(cinder);
      const target = await lookUpTargetVolume(lookup, args.targetVolumeId, volume.backendHost);
      created = await enqueueRestore(
        pool,
        { lookup, resetStatus: (id, status) => cinder.resetStatus(id, status) },
        { job: request, target, setMaintenance: config.restore.setMaintenance },
        logger,
      );
    } else {
      created = await enqueueJob(pool, { ...request, kind: args.kind });
    }
    const job = created ?? (await findOpenJob(pool, volume.id, args.kind, request.backendHost));
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
    const { job: final, events } = await follow(pool, job, args, ctx);
    if (ctx.json) {
      printJson({
        status: final.state === 'succeeded' ? 'ok' : 'failed',
        created: created !== null,
        job: final,
        events,
      });
    } else process.stdout.write(`${describeJob(final)}\n`);
    return final.state === 'succeeded' ? 0 : 1;
  } finally {
    await pool.end();
  }
}
