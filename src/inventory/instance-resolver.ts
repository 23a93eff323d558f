/**
 * The instance behind a volume, for the SSH consistency steps: for each tagged volume whose
 * policy asks for a dump or a freeze, the volume's attachment (from the Cinder inventory) →
 * the Nova server (`GET /servers/{id}`) → one address, chosen by `[ssh] address_from`; the
 * answer, or why there is none, is stored on the volume (volumes.instance), where the agent
 * reads it when the backup starts. Nova is asked outside any transaction, and only for the
 * volumes that need it: never resolved, resolved longer ago than the refresh interval, or
 * attached to another server since. A Nova that fails (5xx, timeout, Keystone down) leaves
 * what was stored before: the last good address is better than none, and a wrong one is
 * refused by the strict host-key check on the storage node.
 */
import type pg from 'pg';
import {
  listVolumesToResolve,
  setVolumeInstance,
  type VolumeInstance,
  type VolumeToResolve,
} from '../db/volumes.js';
import { toAppError } from '../errors.js';
import { PeriodicTask } from '../lifecycle/periodic-task.js';
import { silentLogger, type Logger } from '../log.js';
import { chooseInstance, type AddressSource, type NovaServer } from '../openstack/nova.js';

/** What the resolver needs of Nova. */
export interface ServerLookup {
  getServer(id: string, signal?: AbortSignal): Promise<NovaServer | null>;
}

export interface InstanceResolverOptions {
  pool: pg.Pool;
  nova: ServerLookup;
  sources: readonly AddressSource[];
  /** A resolution older than this is looked up again. */
  refreshSeconds: number;
  /** Pass interval. */
  intervalSeconds: number;
  /** Volumes looked up per pass (the rest wait for the next). */
  batch?: number;
  logger?: Logger;
  now?: () => Date;
}

export interface ResolvePassResult {
  looked: number;
  resolved: number;
  unresolved: number;
  /** Lookups that failed (Nova or Keystone); the stored value was kept. */
  failed: number;
}

/** One pass: looks up what is due and stores each answer. */
export async function resolveInstances(
  o: InstanceResolverOptions,
  signal?: AbortSignal,
): Promise<ResolvePassResult> {
  const now = o.now ?? (() => new Date());
  const log = o.logger ?? silentLogger;
  const staleBefore = new Date(now().getTime() - o.refreshSeconds * 1000);
  const due = await listVolumesToResolve(o.pool, staleBefore, o.batch ?? 200);
  const result: ResolvePassResult = { looked: 0, resolved: 0, unresolved: 0, failed: 0 };
  for (const v of due) {
    if (signal?.aborted) break;
    result.looked += 1;
    let instance: VolumeInstance;
    try {
      instance = await resolveOne(o, v, now(), signal);
    } catch (err) {
      result.failed += 1;
      const e = toAppError(err);
      if (e.code === 'ABORTED') break;
      log.warn({ err: e, volumeId: v.id, serverId: v.serverId }, 'instance lookup failed');
      continue;
    }
    await setVolumeInstance(o.pool, v.id, instance);
    if ('error' in instance) {
      result.unresolved += 1;
      log.warn(
        { volumeId: v.id, serverId: instance.serverId, reason: instance.error },
        'no usable instance for the SSH consistency steps',
      );
    } else {
      result.resolved += 1;
    }
  }
  return result;
}

async function resolveOne(
  o: InstanceResolverOptions,
  v: VolumeToResolve,
  at: Date,
  signal?: AbortSignal,
): Promise<VolumeInstance> {
  const server = v.serverId === null ? null : await o.nova.getServer(v.serverId, signal);
  const choice = chooseInstance(
    { id: v.id, projectId: v.projectId, serverId: v.serverId },
    server,
    o.sources,
  );
  const resolvedAt = at.toISOString();
  return choice.ok
    ? {
        serverId: choice.serverId,
        serverName: choice.serverName,
        address: choice.address,
        resolvedAt,
      }
    : { serverId: choice.serverId, error: choice.reason, resolvedAt };
}

/** The resolver as a leader service of the controller (a PeriodicTask is one). */
export function instanceResolverTask(opts: InstanceResolverOptions): PeriodicTask {
  const logger = (opts.logger ?? silentLogger).child({ component: 'instance-resolver' });
  return new PeriodicTask(
    'instance resolver',
    opts.intervalSeconds,
    (signal) => resolveInstances({ ...opts, logger }, signal),
    logger,
  );
}
