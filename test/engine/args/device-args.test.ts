import { describe, expect, it } from 'vitest';
import {
  blkidProbeArgs,
  dmsetupOpenCountArgs,
  kpartxAddArgs,
  kpartxDeleteArgs,
  kpartxListArgs,
  partxAddArgs,
  partxDeleteArgs,
  sfdiskDumpArgs,
  sfdiskJsonArgs,
  sfdiskWriteArgs,
  wipefsArgs,
} from '../../../src/engine/args/device-args.js';

describe('block-device argument builders', () => {
  it('reads a table as JSON and as a dump, probes with blkid -p', () => {
    expect(sfdiskJsonArgs('/dev/loop3')).toEqual(['--json', '--', '/dev/loop3']);
    expect(sfdiskDumpArgs('/dev/loop3')).toEqual(['--dump', '--', '/dev/loop3']);
    expect(blkidProbeArgs('/dev/loop0p1')).toEqual(['-p', '-o', 'export', '--', '/dev/loop0p1']);
  });

  it('maps and unmaps partitions with kpartx', () => {
    expect(kpartxListArgs('/dev/vg/s')).toEqual(['-l', '/dev/vg/s']);
    expect(kpartxAddArgs('/dev/vg/s')).toEqual(['-a', '-v', '-s', '/dev/vg/s']);
    expect(kpartxDeleteArgs('/dev/vg/s')).toEqual(['-d', '-v', '/dev/vg/s']);
  });

  it('writes a table without asking the kernel to re-read it', () => {
    expect(sfdiskWriteArgs('/dev/loop3')).toEqual([
      '--quiet',
      '--no-reread',
      '--no-tell-kernel',
      '--wipe',
      'always',
      '/dev/loop3',
    ]);
  });

  it('wipes every signature and renews the kernel partitions', () => {
    // --force: restore holds the exclusive claim itself; wipefs must not ask for it.
    expect(wipefsArgs('/dev/loop3')).toEqual(['--all', '--quiet', '--force', '/dev/loop3']);
    expect(dmsetupOpenCountArgs('vg-lv')).toEqual([
      'info',
      '-c',
      '--noheadings',
      '-o',
      'open',
      '--',
      'vg-lv',
    ]);
    expect(partxDeleteArgs('/dev/loop3')).toEqual(['--delete', '/dev/loop3']);
    expect(partxAddArgs('/dev/loop3')).toEqual(['--add', '/dev/loop3']);
  });
});
