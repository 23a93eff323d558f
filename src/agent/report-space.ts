/**
 * The agent measures its destination's size and free space (statfs) at start and after
 * each backup and prune, and records them for the daily mail report. A measurement that
 * fails is logged and skipped: it must never fail a job.
 */
import { statfs } from 'node:fs/promises';
import { hostname } from 'node:os';
import { recordDestinationSpace } from '../db/destination-space.js';
import type { Queryable } from '../db/queryable.js';
import type { Logger } from '../log.js';

export async function reportDestinationSpace(
  q: Queryable,
  dest: string,
  logger: Logger,
): Promise<void> {
  try {
    const s = await statfs(dest);
    await recordDestinationSpace(q, {
      node: hostname(),
      dest,
      sizeBytes: s.blocks * s.bsize,
      // bavail, not bfree: what an unprivileged writer can still use.
      freeBytes: s.bavail * s.bsize,
    });
  } catch (err) {
    logger.warn({ err, dest }, 'cannot record the destination free space');
  }
}
