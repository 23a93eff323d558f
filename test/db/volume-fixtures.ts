/**
 * Volumes for tests: rows of the inventory written the way the controller writes them
 * (the poller's upsert of a Cinder view, src/db/volumes.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../src/db/queryable.js';
import {
  backendHostOf,
  getVolume,
  recordPolicy,
  upsertPolledVolumes,
  type Volume,
} from '../../src/db/volumes.js';
import { DEFAULT_POLICY_LIMITS, parsePolicy } from '../../src/policy/policy.js';

export interface TestVolume {
  id: string;
  name?: string | null;
  projectId: string;
  status: string;
  sizeGb: number;
  /** `host@backend#pool`; backend_host is derived from it (pool stripped). */
  host: string | null;
  lvName: string;
  metadata?: Record<string, string>;
}

/** Inserts or refreshes a volume as a poll that saw it now would. */
export async function putVolume(q: Queryable, v: TestVolume): Promise<Volume> {
  await upsertPolledVolumes(q, [
    {
      seenAt: new Date(),
      volume: {
        id: v.id,
        name: v.name ?? null,
        projectId: v.projectId,
        status: v.status,
        sizeGb: v.sizeGb,
        host: v.host,
        backendHost: backendHostOf(v.host),
        nameId: null,
        lvName: v.lvName,
        metadata: v.metadata ?? {},
        attachments: [],
        bootable: false,
        volumeType: null,
        cinderUpdatedAt: null,
      },
    },
  ]);
  const row = await getVolume(q, v.id);
  if (row === null) throw new Error(`volume ${v.id} was not written`);
  return row;
}

/** Inserts a volume served by `backendHost` (pool `#pool` added to host). */
export async function addVolume(
  q: Queryable,
  backendHost: string,
  extra: {
    name?: string;
    metadata?: Record<string, string>;
    lvName?: string;
    projectId?: string;
  } = {},
): Promise<Volume> {
  const id = randomUUID();
  return putVolume(q, {
    id,
    name: extra.name ?? `vol-${id.slice(0, 8)}`,
    projectId: extra.projectId ?? 'project-a',
    status: 'available',
    sizeGb: 1,
    host: `${backendHost}#pool`,
    lvName: extra.lvName ?? `volume-${id}`,
    metadata: extra.metadata ?? {},
  });
}

/**
 * A volume of `projectId` on stor1@lvm, tagged daily and on detach, holding one succeeded
 * backup of `bytes` finished two days ago (so it is due): what the quota tests race on.
 * `withPolicy` also records the parsed policy, as the controller's poll would.
 */
export async function volumeWithStoredBackup(
  q: Queryable,
  projectId: string,
  bytes: number,
  withPolicy: boolean,
): Promise<string> {
  const id = randomUUID();
  const metadata = { backup: 'daily', 'backup:on': 'detach' };
  await putVolume(q, {
    id,
    projectId,
    status: 'available',
    sizeGb: 1,
    host: 'stor1@lvm#LVM',
    lvName: `volume-${id}`,
    metadata,
  });
  if (withPolicy) await recordPolicy(q, id, parsePolicy(metadata, DEFAULT_POLICY_LIMITS));
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
  await q.query(
    `INSERT INTO backups (volume_id, status, reason, started_at, finished_at, bytes_written,
                          manifest_path)
     VALUES ($1, 'succeeded', 'schedule', $2, $2, $3, '/b/manifest.json')`,
    [id, twoDaysAgo, bytes],
  );
  return id;
}
