import { describe, expect, it } from 'vitest';
import { inventoryVolumeOf, parseCinderDate } from '../../src/inventory/volume-from-cinder.js';

const ID = 'cb49b381-9012-40cb-b8ee-80c19a4801b5';
const NAME_ID = '0f5c2b8e-3c4d-4d1e-9a5b-1b2c3d4e5f60';

/** The D.2 example of the wire reference. */
const base = {
  id: ID,
  name: 'db01-data',
  status: 'in-use',
  size: 20,
  bootable: 'false',
  volume_type: 'lvmdriver-1',
  metadata: { backup: 'daily', 'backup.mysql': 'true' },
  attachments: [
    {
      id: ID,
      attachment_id: NAME_ID,
      volume_id: ID,
      server_id: '9e7c1f3a-2b4d-4e6f-8a1b-3c5d7e9f1a2b',
      host_name: 'compute1',
      device: '/dev/vdb',
      attached_at: '2026-05-13T12:52:58.000000',
    },
  ],
  updated_at: '2026-05-13T12:52:58.000000',
  'os-vol-host-attr:host': 'stor1@lvm#LVM',
  'os-vol-tenant-attr:tenant_id': 'a6944d763bf64ee6a275f1263fae0352',
  'os-vol-mig-status-attr:name_id': null,
};

describe('a Cinder volume as an inventory row', () => {
  it('maps the reference example', () => {
    const r = inventoryVolumeOf(base);
    expect(r).toEqual({
      ok: true,
      value: {
        id: ID,
        name: 'db01-data',
        projectId: 'a6944d763bf64ee6a275f1263fae0352',
        status: 'in-use',
        sizeGb: 20,
        host: 'stor1@lvm#LVM',
        backendHost: 'stor1@lvm',
        nameId: null,
        lvName: `volume-${ID}`,
        metadata: { backup: 'daily', 'backup.mysql': 'true' },
        attachments: [
          {
            server_id: '9e7c1f3a-2b4d-4e6f-8a1b-3c5d7e9f1a2b',
            attachment_id: NAME_ID,
            device: '/dev/vdb',
            host_name: 'compute1',
          },
        ],
        bootable: false,
        volumeType: 'lvmdriver-1',
        cinderUpdatedAt: new Date(Date.UTC(2026, 4, 13, 12, 52, 58)),
      },
    });
  });

  const cases: {
    name: string;
    patch: Record<string, unknown>;
    want: Record<string, unknown> | string;
  }[] = [
    {
      name: 'names the LV from name_id',
      patch: { 'os-vol-mig-status-attr:name_id': NAME_ID },
      want: { lvName: `volume-${NAME_ID}` },
    },
    {
      name: 'keeps a host without pool',
      patch: { 'os-vol-host-attr:host': 'stor1@lvm' },
      want: { backendHost: 'stor1@lvm' },
    },
    {
      name: 'keeps an unscheduled volume',
      patch: { 'os-vol-host-attr:host': null, status: 'error' },
      want: { host: null, backendHost: null },
    },
    { name: 'reads bootable "true"', patch: { bootable: 'true' }, want: { bootable: true } },
    {
      name: 'refuses a missing host attribute (non-admin)',
      patch: { 'os-vol-host-attr:host': undefined },
      want: 'lack the admin role',
    },
    {
      name: 'refuses a non-UUID name_id',
      patch: { 'os-vol-mig-status-attr:name_id': '../etc' },
      want: 'name_id is not a UUID',
    },
    {
      name: 'refuses non-string metadata',
      patch: { metadata: { backup: 7 } },
      want: 'is not a string',
    },
    {
      name: 'refuses a metadata list',
      patch: { metadata: [{ key: 'a', value: 'b' }] },
      want: 'metadata is not a dict',
    },
    { name: 'refuses a fractional size', patch: { size: 1.5 }, want: 'size is not a whole number' },
    {
      name: 'refuses an attachment without server id',
      patch: { attachments: [{ attachment_id: 'x' }] },
      want: 'lacks server_id',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v: Record<string, unknown> = { ...base, ...c.patch };
      for (const [k, x] of Object.entries(c.patch)) if (x === undefined) delete v[k];
      const r = inventoryVolumeOf(v);
      if (typeof c.want === 'string') {
        expect(r.ok).toBe(false);
        expect(r.ok ? '' : r.reason).toContain(c.want);
      } else {
        expect(r.ok ? r.value : r.reason).toMatchObject(c.want);
      }
    });
  }

  it('reads Cinder dates as UTC whatever their precision or zone', () => {
    expect(parseCinderDate('2026-05-13T12:50:01.123456')?.toISOString()).toBe(
      '2026-05-13T12:50:01.123Z',
    );
    expect(parseCinderDate('2026-05-13T12:50:01')?.toISOString()).toBe('2026-05-13T12:50:01.000Z');
    expect(parseCinderDate('2026-05-13T12:50:01+02:00')?.toISOString()).toBe(
      '2026-05-13T10:50:01.000Z',
    );
    expect(parseCinderDate('yesterday')).toBeNull();
    expect(parseCinderDate(null)).toBeNull();
  });
});
