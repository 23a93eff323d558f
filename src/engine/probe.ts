/**
 * Filesystem and partition-table detection with `blkid -p` (probing the device itself:
 * the blkid cache knows nothing of a snapshot made a second ago, and the guest has no udev).
 */
import { runCommand, type RunOptions } from '../exec/run-command.js';
import { blkidProbeArgs } from './args/device-args.js';
import { parseBlkidExport, type BlkidProbe } from './parse/blkid-export.js';

/** Probes `device`; blkid's exit status 2 ("nothing found") yields an empty probe. */
export async function probeDevice(device: string, run: RunOptions = {}): Promise<BlkidProbe> {
  const result = await runCommand('blkid', blkidProbeArgs(device), {
    ...run,
    okExitCodes: [0, 2],
  });
  return parseBlkidExport(result.exitCode === 2 ? '' : result.stdout);
}
