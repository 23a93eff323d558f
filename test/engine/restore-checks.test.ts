import { describe, expect, it } from 'vitest';
import type { ManifestPartition } from '../../src/engine/manifest.js';
import { parseBlkidExport } from '../../src/engine/parse/blkid-export.js';
import { checkFileCount, checkIdentity, checkTable } from '../../src/engine/restore-checks.js';

const SAVED = `label: gpt
label-id: 5B0C1D2E-3F40-4A5B-8C6D-7E8F90A1B2C3
device: /dev/mapper/src
unit: sectors
first-lba: 2048
last-lba: 1105886

/dev/mapper/src1 : start=2048, size=409600, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-4333-8444-555555555501, name="data"
/dev/mapper/src3 : start=411648, size=16384, type=21686148-6449-6E6F-744E-656564454649, uuid=11111111-2222-4333-8444-555555555503, name="bios boot"
`;

const p1: ManifestPartition = {
  number: 1,
  startSector: 2048,
  sizeBytes: 209715200,
  fsType: 'ext4',
  uuid: 'c0ffee00-1234-4567-89ab-0123456789ab',
  label: 'my data',
  partUuid: null,
  partType: null,
  action: 'archived',
  fileCount: 120,
};

describe('checkTable', () => {
  it('accepts the same table on a larger disk under other device names', () => {
    const target = SAVED.replaceAll('/dev/mapper/src', '/dev/loop4p').replace(
      'last-lba: 1105886',
      'last-lba: 2000000',
    );
    expect(checkTable(SAVED, target)).toEqual({
      name: 'partition table',
      ok: true,
      detail: '2 partitions',
    });
  });

  it('names each difference: a moved partition, a lost UUID, a missing partition, another disk id', () => {
    const target = SAVED.replace('start=411648', 'start=411650')
      .replace(
        'uuid=11111111-2222-4333-8444-555555555501',
        'uuid=99999999-2222-4333-8444-555555555501',
      )
      .replace('5B0C1D2E', '00000000');
    const check = checkTable(SAVED, target);
    expect(check.ok).toBe(false);
    expect(check.detail).toContain('label-id');
    expect(check.detail).toContain('partition 3 start 411650 instead of 411648');
    expect(check.detail).toContain('partition 1 uuid');
    const fewer = checkTable(
      SAVED,
      SAVED.split('\n')
        .filter((l) => !l.includes('src3'))
        .join('\n'),
    );
    expect(fewer.detail).toContain('partition 3 is missing');
  });
});

describe('checkIdentity', () => {
  it('passes when type, UUID (any case) and label match', () => {
    const probe = parseBlkidExport(
      'TYPE=ext4\nUUID=C0FFEE00-1234-4567-89AB-0123456789AB\nLABEL=my\\ data\n',
    );
    expect(checkIdentity(p1, probe).ok).toBe(true);
  });

  it('fails on another UUID, type or label', () => {
    const probe = parseBlkidExport('TYPE=xfs\nUUID=00000000-1234-4567-89ab-0123456789ab\n');
    const check = checkIdentity(p1, probe);
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/type xfs instead of ext4/);
    expect(check.detail).toMatch(/UUID 0000/);
    expect(check.detail).toMatch(/label null instead of "my data"/);
  });
});

describe('checkFileCount', () => {
  it('wants the same number of inodes, or no more when the backup had excludes', () => {
    expect(checkFileCount(p1, 120).ok).toBe(true);
    expect(checkFileCount(p1, 119).ok).toBe(false);
    expect(checkFileCount(p1, 100, true).ok).toBe(true);
    expect(checkFileCount(p1, 121, true).ok).toBe(false);
  });
});
