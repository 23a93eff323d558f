import { describe, expect, it } from 'vitest';
import { parseBlkidExport } from '../../../src/engine/parse/blkid-export.js';

describe('blkid -p -o export', () => {
  it('parses a filesystem with an escaped label', () => {
    const probe = parseBlkidExport(
      [
        'DEVNAME=/dev/loop0p1',
        'UUID=3e6be9de-8139-4f1b-9a8f-6d1e2f3a4b5c',
        'VERSION=1.0',
        'BLOCK_SIZE=4096',
        'LABEL=my\\ data\\=x',
        'TYPE=ext4',
        'USAGE=filesystem',
        'PART_ENTRY_SCHEME=gpt',
        'PART_ENTRY_NUMBER=1',
        'PART_ENTRY_OFFSET=2048',
        '',
      ].join('\n'),
    );
    expect(probe).toMatchObject({
      type: 'ext4',
      uuid: '3e6be9de-8139-4f1b-9a8f-6d1e2f3a4b5c',
      label: 'my data=x',
      ptType: null,
    });
    expect(probe.raw['PART_ENTRY_OFFSET']).toBe('2048');
  });

  it('reports a partition table on a whole device', () => {
    const probe = parseBlkidExport('DEVNAME=/dev/loop0\nPTUUID=abc\nPTTYPE=gpt\n');
    expect(probe).toMatchObject({ type: null, ptType: 'gpt', uuid: null });
  });

  it('returns nothing found for empty output', () => {
    expect(parseBlkidExport('')).toMatchObject({
      type: null,
      uuid: null,
      label: null,
      ptType: null,
    });
  });

  it('parses swap and xfs', () => {
    expect(parseBlkidExport('UUID=1-2\nTYPE=swap\n').type).toBe('swap');
    expect(parseBlkidExport('LABEL=x\nUUID=u\nTYPE=xfs\n')).toMatchObject({
      type: 'xfs',
      label: 'x',
    });
  });
});
