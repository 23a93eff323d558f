import { describe, expect, it } from 'vitest';
import { cinderVolumeLookup } from '../../src/inventory/cinder-volume-lookup.js';
import type { CinderClient } from '../../src/openstack/cinder.js';

const ID = 'cb49b381-9012-40cb-b8ee-80c19a4801b5';
const NAME_ID = '0f5c2b8e-3c4d-4d1e-9a5b-1b2c3d4e5f60';

const retyped = {
  id: ID,
  name: 'db01-data',
  status: 'available',
  size: 20,
  bootable: 'true',
  volume_type: 'lvm-fast',
  metadata: { backup: 'daily' },
  attachments: [],
  updated_at: '2026-05-13T12:52:58.000000',
  'os-vol-host-attr:host': 'stor2@lvm#LVM',
  'os-vol-tenant-attr:tenant_id': 'a6944d763bf64ee6a275f1263fae0352',
  'os-vol-mig-status-attr:name_id': NAME_ID,
};

/** Only getVolume is used by the lookup; the rest of the client is not needed here. */
function fakeCinder(answer: unknown): CinderClient {
  const fake = { getVolume: () => Promise.resolve(answer) };
  return fake as unknown as CinderClient;
}

describe('the Cinder-backed volume lookup', () => {
  it('answers the inventory mapping: LV from the name_id, host without its pool', async () => {
    const v = await cinderVolumeLookup(fakeCinder(retyped))(ID);
    expect(v).toEqual({
      id: ID,
      name: 'db01-data',
      projectId: 'a6944d763bf64ee6a275f1263fae0352',
      status: 'available',
      sizeGb: 20,
      host: 'stor2@lvm#LVM',
      backendHost: 'stor2@lvm',
      nameId: NAME_ID,
      lvName: `volume-${NAME_ID}`,
      metadata: { backup: 'daily' },
      attachments: [],
      bootable: true,
      volumeType: 'lvm-fast',
      cinderUpdatedAt: new Date('2026-05-13T12:52:58.000Z'),
    });
  });

  it('answers null when Cinder does not know the volume', async () => {
    expect(await cinderVolumeLookup(fakeCinder(null))(ID)).toBeNull();
  });

  it('refuses a volume the inventory cannot use, naming why', async () => {
    const bad = { ...retyped, size: 'twenty' };
    await expect(cinderVolumeLookup(fakeCinder(bad))(ID)).rejects.toThrow(
      /cannot be used: size is not a whole number/,
    );
  });
});
