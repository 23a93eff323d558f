import { describe, expect, it } from 'vitest';
import { parseSfdiskDump, parseSfdiskJson } from '../../../src/engine/parse/sfdisk.js';

// Printed by sfdisk 2.38 for a GPT image (Linux data, BIOS boot, swap).
const GPT_JSON = `{
   "partitiontable": {
      "label": "gpt",
      "id": "CCD4DFF2-6EC4-1E42-B3B8-06A4064E2030",
      "device": "t.img",
      "unit": "sectors",
      "firstlba": 2048,
      "lastlba": 131038,
      "sectorsize": 512,
      "partitions": [
         {"node": "t.img1", "start": 2048, "size": 40960, "type": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "uuid": "934BCC33-2498-4345-8E67-FA504C6C1199", "name": "data one"},
         {"node": "t.img2", "start": 43008, "size": 16384, "type": "21686148-6449-6E6F-744E-656564454649", "uuid": "3CCB14D7-CDAB-2F4D-B819-E7EDAB1687ED"},
         {"node": "t.img3", "start": 59392, "size": 16384, "type": "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "uuid": "518F1A54-1284-424B-B736-F108A030C5AC"}
      ]
   }
}`;

const DOS_JSON = `{"partitiontable": {"label": "dos", "id": "0x9e5d4d28", "device": "/dev/mapper/vg-lv1", "unit": "sectors", "sectorsize": 512,
  "partitions": [
    {"node": "/dev/mapper/vg-lv1p5", "start": 22528, "size": 108544, "type": "82"},
    {"node": "/dev/mapper/vg-lv1p1", "start": 2048, "size": 20480, "type": "83", "bootable": true}
  ]}}`;

const GPT_DUMP = `label: gpt
label-id: CCD4DFF2-6EC4-1E42-B3B8-06A4064E2030
device: t.img
unit: sectors
first-lba: 2048
last-lba: 131038
sector-size: 512

t.img1 : start=        2048, size=       40960, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=934BCC33-2498-4345-8E67-FA504C6C1199, name="data, one"
t.img2 : start=       43008, size=       16384, type=21686148-6449-6E6F-744E-656564454649, uuid=3CCB14D7-CDAB-2F4D-B819-E7EDAB1687ED
`;

describe('sfdisk --json', () => {
  it('parses a GPT table with numbers, sectors, types, uuids and names', () => {
    const t = parseSfdiskJson(GPT_JSON);
    expect(t.label).toBe('gpt');
    expect(t.sectorSize).toBe(512);
    expect(t.partitions.map((p) => [p.number, p.startSector, p.sizeSectors])).toEqual([
      [1, 2048, 40960],
      [2, 43008, 16384],
      [3, 59392, 16384],
    ]);
    expect(t.partitions[0]).toMatchObject({
      name: 'data one',
      uuid: '934BCC33-2498-4345-8E67-FA504C6C1199',
    });
    expect(t.partitions[2]?.type).toBe('0657FD6D-A4AB-43C4-84E5-0933C84B4F4F');
  });

  it('parses a DOS table, sorts by number and keeps the boot flag', () => {
    const t = parseSfdiskJson(DOS_JSON);
    expect(t.label).toBe('dos');
    expect(t.partitions.map((p) => p.number)).toEqual([1, 5]);
    expect(t.partitions[0]).toMatchObject({ bootable: true, type: '83', uuid: null });
  });

  it('converts 4096-byte sectors to 512-byte sectors', () => {
    const t = parseSfdiskJson(
      '{"partitiontable":{"label":"gpt","sectorsize":4096,"partitions":[{"node":"/dev/x1","start":256,"size":1000}]}}',
    );
    expect(t.partitions[0]).toMatchObject({ startSector: 2048, sizeSectors: 8000 });
  });

  it('refuses unknown labels and garbage', () => {
    expect(() => parseSfdiskJson('{"partitiontable":{"label":"sun"}}')).toThrow(/unsupported/);
    expect(() => parseSfdiskJson('nope')).toThrow(/unparseable/);
  });
});

describe('sfdisk --dump', () => {
  it('parses the header and partition lines, quoted names included', () => {
    const d = parseSfdiskDump(GPT_DUMP);
    expect(d.header['label']).toBe('gpt');
    expect(d.header['last-lba']).toBe('131038');
    expect(d.partitions).toHaveLength(2);
    expect(d.partitions[0]).toMatchObject({ node: 't.img1', number: 1, start: 2048, size: 40960 });
    expect(d.partitions[0]?.fields['name']).toBe('data, one');
    expect(d.partitions[1]?.fields['type']).toBe('21686148-6449-6E6F-744E-656564454649');
  });
});
