import { describe, expect, it } from 'vitest';
import {
  dumpPartitionNumbers,
  rewriteDumpForTarget,
  targetPartitionName,
} from '../../src/engine/restore-table.js';

const GPT_DUMP = `label: gpt
label-id: 5B0C1D2E-3F40-4A5B-8C6D-7E8F90A1B2C3
device: /dev/mapper/cinder--volumes-clb--20261126T101010Z--0a1b2c3d
unit: sectors
first-lba: 2048
last-lba: 1105886
sector-size: 512

/dev/mapper/cinder--volumes-clb--20261126T101010Z--0a1b2c3dp1 : start=        2048, size=      409600, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-4333-8444-555555555501, name="data"
/dev/mapper/cinder--volumes-clb--20261126T101010Z--0a1b2c3dp3 : start=      411648, size=       16384, type=21686148-6449-6E6F-744E-656564454649, uuid=11111111-2222-4333-8444-555555555503, name="bios, boot", attrs="LegacyBIOSBootable"
`;

describe('rewriteDumpForTarget', () => {
  it('drops device and last-lba and renames partitions after the target, keeping their numbers', () => {
    const out = rewriteDumpForTarget(GPT_DUMP, '/dev/mapper/cinder--volumes-volume--abc');
    expect(out).toBe(`label: gpt
label-id: 5B0C1D2E-3F40-4A5B-8C6D-7E8F90A1B2C3
unit: sectors
first-lba: 2048
sector-size: 512

/dev/mapper/cinder--volumes-volume--abcp1 : start=        2048, size=      409600, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-4333-8444-555555555501, name="data"
/dev/mapper/cinder--volumes-volume--abcp3 : start=      411648, size=       16384, type=21686148-6449-6E6F-744E-656564454649, uuid=11111111-2222-4333-8444-555555555503, name="bios, boot", attrs="LegacyBIOSBootable"
`);
  });

  it('keeps partition numbers whose names end in a digit the target name also ends in', () => {
    const out = rewriteDumpForTarget(
      'label: dos\nlabel-id: 0x1234abcd\ndevice: /dev/loop0\nunit: sectors\n\n/dev/loop0p1 : start=2048, size=4096, type=83\n/dev/loop0p5 : start=8192, size=4096, type=83\n',
      '/dev/loop7',
    );
    expect(dumpPartitionNumbers(out)).toEqual([1, 5]);
    expect(out).toContain('/dev/loop7p5 : start=8192, size=4096, type=83');
  });

  it('refuses a dump without a label or without partitions', () => {
    expect(() =>
      rewriteDumpForTarget('unit: sectors\n/dev/x1 : start=1, size=2\n', '/dev/y'),
    ).toThrow(/no gpt or dos label/);
    expect(() => rewriteDumpForTarget('label: gpt\nunit: sectors\n', '/dev/y')).toThrow(
      /no partitions/,
    );
  });

  it('refuses a partition line whose name has no number', () => {
    expect(() =>
      rewriteDumpForTarget('label: gpt\n/dev/sda : start=1, size=2\n', '/dev/y'),
    ).toThrow(/without a number/);
  });
});

describe('targetPartitionName', () => {
  it('always ends in the partition number, whatever the target name ends in', () => {
    expect(targetPartitionName('/dev/loop0', 2)).toBe('/dev/loop0p2');
    expect(targetPartitionName('/dev/mapper/vg-lva', 12)).toBe('/dev/mapper/vg-lvap12');
  });
});
