import { describe, expect, it } from 'vitest';
import { THIN_POOL_ABORT_PERCENT, thinPoolAlarm } from '../../src/engine/backup-lv.js';
import type { LvInfo } from '../../src/engine/parse/lvs-report.js';

const pool = (over: Partial<LvInfo>): LvInfo => ({
  vg: 'cinder-volumes',
  name: 'pool',
  attr: 'twi-aotz--',
  sizeBytes: 64 << 20,
  origin: null,
  pool: null,
  snapPercent: null,
  dataPercent: 40,
  metadataPercent: 10,
  tags: [],
  path: null,
  ...over,
});

describe('the thin pool watch while a snapshot exists', () => {
  it('lets a pool below the limit be', () => {
    expect(thinPoolAlarm(pool({ dataPercent: THIN_POOL_ABORT_PERCENT - 0.01 }))).toBeNull();
  });

  it.each([
    ['data at the limit', { dataPercent: THIN_POOL_ABORT_PERCENT }, /data 95%/],
    ['metadata at the limit', { metadataPercent: 97.5 }, /metadata 97.5%/],
    ['a full pool', { dataPercent: 100 }, /reached 100%/],
    // lv_attr's 9th character: F failed, D out of data space, M read-only metadata.
    ['a pool out of data space', { attr: 'twi-aotzD-' }, /thin pool pool/],
    ['a failed pool', { attr: 'twi-aotzF-' }, /thin pool pool/],
  ])('stops the backup for %s', (_, over, reason) => {
    expect(thinPoolAlarm(pool(over))).toMatch(reason);
  });
});
