/**
 * Making the partitions of a restore target appear as block devices once its table is
 * written: kpartx maps for a device-mapper target (an LV), the kernel's own partitions
 * (`partx --update`, /dev/loopNpM) for anything else. Partitions are matched to the
 * table by start sector, never by guessing kpartx's name suffix.
 */
import { AppError } from '../errors.js';
import { runCommand } from '../exec/run-command.js';
import type { CleanupStack } from '../lifecycle/cleanup-stack.js';
import type { Logger } from '../log.js';
import {
  kpartxAddArgs,
  kpartxDeleteArgs,
  kpartxListArgs,
  partxAddArgs,
  partxDeleteArgs,
} from './args/device-args.js';
import { parseKpartxList } from './parse/kpartx.js';
import { kernelPartitions, waitForDevice, type TargetDevice } from './restore-target.js';

export interface MappedPartition {
  number: number;
  device: string;
  startSector: number;
  sizeBytes: number;
}

export interface MapOptions {
  stack: CleanupStack;
  logger: Logger;
  signal?: AbortSignal;
}

const KPARTX_DELETE_TRIES = 5;

/** Maps (or asks the kernel for) the target's partitions; returns them by table number. */
export async function mapTargetPartitions(
  target: TargetDevice,
  table: readonly { number: number; startSector: number }[],
  opts: MapOptions,
): Promise<Map<number, MappedPartition>> {
  const run = { logger: opts.logger, ...(opts.signal ? { signal: opts.signal } : {}) };
  const found: MappedPartition[] = [];
  if (target.dmName !== null) {
    const predicted = parseKpartxList(
      (await runCommand('kpartx', kpartxListArgs(target.realPath), run)).stdout,
    );
    opts.stack.push(`kpartx -d ${target.realPath}`, async () => {
      // A map can stay busy for a moment after its filesystem is unmounted.
      for (let attempt = 1; ; attempt++) {
        try {
          await runCommand('kpartx', kpartxDeleteArgs(target.realPath), { logger: opts.logger });
          return;
        } catch (err) {
          if (attempt >= KPARTX_DELETE_TRIES) throw err;
          await new Promise((done) => setTimeout(done, 400 * attempt));
        }
      }
    });
    await runCommand('kpartx', kpartxAddArgs(target.realPath), run);
    for (const m of predicted) {
      const entry = table.find((p) => p.startSector === m.startSector);
      if (entry === undefined) continue;
      found.push({
        number: entry.number,
        device: `/dev/mapper/${m.name}`,
        startSector: m.startSector,
        sizeBytes: m.sizeSectors * 512,
      });
    }
  } else {
    // --delete fails (exit 1) when there is nothing to delete.
    await runCommand('partx', partxDeleteArgs(target.realPath), { ...run, okExitCodes: [0, 1] });
    await runCommand('partx', partxAddArgs(target.realPath), run);
    for (const k of await kernelPartitions(target)) {
      const entry = table.find((p) => p.startSector === k.startSector);
      if (entry === undefined) continue;
      found.push({ ...k, number: entry.number });
    }
  }
  const byNumber = new Map(found.map((p) => [p.number, p]));
  for (const want of table) {
    const got = byNumber.get(want.number);
    if (got === undefined) {
      throw new AppError(
        'PARTITION_FAILED',
        `partition ${want.number} (start ${want.startSector}) of ${target.path} did not appear`,
      );
    }
    await waitForDevice(got.device);
  }
  return byNumber;
}
