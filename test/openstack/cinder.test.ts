import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError } from '../../src/errors.js';
import { OpenStackApiError } from '../../src/openstack/api-error.js';
import type { OpenStackClients } from '../../src/openstack/clients.js';
import { clientsFromEnv } from './clients-from-env.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';

const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 2_000 };

let emu: OpenStackEmulator;
let os: OpenStackClients;

beforeAll(async () => {
  emu = await startOpenStackEmulator({
    notifier: false,
    createDelayMs: 30,
    volumeQuotaPerProject: 3,
  });
  os = await clientsFromEnv(emu.env(), FAST);
});
afterAll(async () => {
  await emu?.close();
});

describe('Cinder writes (restore targets)', () => {
  it('creates a volume that is creating at first and available after a while', async () => {
    const v = await os.cinder.createVolume({
      size: 2,
      name: 'db01-restore',
      volumeType: 'lvmdriver-1',
      metadata: { 'restored-from': 'backup-1' },
    });
    expect(v.status).toBe('creating');
    const post = emu.control.requests('cinder').find((r) => r.method === 'POST');
    // Not on a kept-alive socket: uwsgi may have closed it (wire reference G).
    expect(post?.headers['connection']).toBe('close');
    expect(post?.headers['openstack-api-version']).toBe('volume 3.59');
    let status = v.status;
    for (let i = 0; i < 100 && status !== 'available'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      status = (await os.cinder.getVolume(v.id))?.status ?? 'gone';
    }
    expect(status).toBe('available');
    const got = await os.cinder.getVolume(v.id);
    expect(got?.['os-vol-host-attr:host']).toBe('stor1@lvm#LVM');
    expect(await os.cinder.mergeMetadata(v.id, { backup: 'off' })).toEqual({
      'restored-from': 'backup-1',
      backup: 'off',
    });
  });

  it('reports an unknown volume type as a 404 API error, without retrying', async () => {
    const before = emu.control.requests('cinder').length;
    const err = (await os.cinder
      .createVolume({ size: 1, volumeType: 'no-such-type' })
      .catch((e: unknown) => e)) as OpenStackApiError;
    expect(err).toBeInstanceOf(OpenStackApiError);
    expect(err.code).toBe('OPENSTACK_API_ERROR');
    expect(err.status).toBe(404);
    expect(err.message).toContain('Volume type with name no-such-type could not be found.');
    expect(emu.control.requests('cinder').length - before).toBe(1);
  });

  it('reports the volume quota (413) as a permanent API error', async () => {
    await os.cinder.createVolume({ size: 1 });
    await os.cinder.createVolume({ size: 1 });
    const err = (await os.cinder.createVolume({ size: 1 }).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe('OPENSTACK_API_ERROR');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('VolumeLimitExceeded');
  });
});
