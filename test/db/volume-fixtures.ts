/**
 * Volumes for tests: rows of the inventory as the controller would write them.
 */
import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../src/db/queryable.js';
import { upsertVolume, type Volume } from '../../src/db/volumes.js';

/** Inserts a volume served by `backendHost` (pool `#pool` added to host). */
export async function addVolume(
  q: Queryable,
  backendHost: string,
  extra: { name?: string; metadata?: Record<string, string>; lvName?: string } = {},
): Promise<Volume> {
  const id = randomUUID();
  return upsertVolume(q, {
    id,
    name: extra.name ?? `vol-${id.slice(0, 8)}`,
    projectId: 'project-a',
    status: 'available',
    sizeGb: 1,
    host: `${backendHost}#pool`,
    lvName: extra.lvName ?? `volume-${id}`,
    metadata: extra.metadata ?? {},
  });
}
