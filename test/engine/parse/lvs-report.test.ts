import { describe, expect, it } from 'vitest';
import {
  lvActive,
  lvKind,
  parseLvsJson,
  parseVgsJson,
  snapshotInvalid,
} from '../../../src/engine/parse/lvs-report.js';

// Shape as printed by lvm2 2.03 (`lvs --reportformat json --units b --nosuffix -o …`).
const LVS = `  {
      "report": [
          {
              "lv": [
                  {"vg_name":"cinder-volumes", "lv_name":"volume-1", "lv_attr":"owi-aos---", "lv_size":"536870912", "origin":"", "pool_lv":"", "snap_percent":"", "data_percent":"", "metadata_percent":"", "lv_tags":"", "lv_path":"/dev/cinder-volumes/volume-1"},
                  {"vg_name":"cinder-volumes", "lv_name":"clb-x", "lv_attr":"swi-a-s---", "lv_size":"134217728", "origin":"volume-1", "pool_lv":"", "snap_percent":"3.96", "data_percent":"3.96", "metadata_percent":"", "lv_tags":"cinder_lvm_backup,clb_run_x", "lv_path":"/dev/cinder-volumes/clb-x"},
                  {"vg_name":"cinder-volumes", "lv_name":"pool", "lv_attr":"twi-aotz--", "lv_size":"1073741824", "origin":"", "pool_lv":"", "snap_percent":"", "data_percent":"12.50", "metadata_percent":"10.94", "lv_tags":"", "lv_path":""},
                  {"vg_name":"cinder-volumes", "lv_name":"thin1", "lv_attr":"Vwi-a-tz--", "lv_size":"2147483648", "origin":"", "pool_lv":"pool", "snap_percent":"", "data_percent":"6.25", "metadata_percent":"", "lv_tags":"", "lv_path":"/dev/cinder-volumes/thin1"}
              ]
          }
      ]
      ,
      "log": [
      ]
  }
`;

describe('lvs JSON report', () => {
  it('parses sizes, percents, tags and optional fields', () => {
    const lvs = parseLvsJson(LVS);
    expect(lvs).toHaveLength(4);
    expect(lvs[0]).toMatchObject({
      vg: 'cinder-volumes',
      name: 'volume-1',
      sizeBytes: 536870912,
      origin: null,
      snapPercent: null,
      tags: [],
      path: '/dev/cinder-volumes/volume-1',
    });
    expect(lvs[1]).toMatchObject({
      origin: 'volume-1',
      snapPercent: 3.96,
      tags: ['cinder_lvm_backup', 'clb_run_x'],
    });
    expect(lvs[2]).toMatchObject({ dataPercent: 12.5, metadataPercent: 10.94, path: null });
    expect(lvs[3]).toMatchObject({ pool: 'pool', dataPercent: 6.25 });
  });

  it('classifies LVs by the first attr character', () => {
    expect(lvs().map((lv) => lvKind(lv.attr))).toEqual(['thick', 'snapshot', 'thin-pool', 'thin']);
    expect(lvKind('-wi-a-----')).toBe('thick');
    expect(lvKind('rwi-a-r---')).toBe('other');
  });

  it.each([
    ['swi-a-s---', 3.96, false],
    ['swi-Ios---', 100, true],
    ['swi-I-s---', null, true],
    ['swi-a-s---', 100, true],
    ['Vwi-a-tz-k', null, false],
  ])('treats attr %s / snap%% %s as invalid=%s', (attr, snapPercent, invalid) => {
    expect(snapshotInvalid({ attr, snapPercent })).toBe(invalid);
  });

  it('reads the active flag', () => {
    expect(lvActive('swi-a-s---')).toBe(true);
    expect(lvActive('Vwi---tz-k')).toBe(false);
  });

  it('rejects malformed output with a clear error', () => {
    expect(() => parseLvsJson('not json')).toThrow(/unparseable/);
    expect(() => parseLvsJson('{"x":1}')).toThrow(/report/);
    expect(() =>
      parseLvsJson(
        '{"report":[{"lv":[{"vg_name":"v","lv_name":"l","lv_attr":"-wi-a-----","lv_size":"1.5G"}]}]}',
      ),
    ).toThrow(/byte count/);
  });

  it('parses vgs free space', () => {
    const vgs = parseVgsJson(
      '{"report":[{"vg":[{"vg_name":"cinder-volumes","vg_size":"4290772992","vg_free":"67108864","vg_extent_size":"4194304"}]}]}',
    );
    expect(vgs).toEqual([
      { name: 'cinder-volumes', sizeBytes: 4290772992, freeBytes: 67108864, extentBytes: 4194304 },
    ]);
  });
});

function lvs() {
  return parseLvsJson(LVS);
}
