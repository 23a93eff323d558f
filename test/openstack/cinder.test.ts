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

describe('os-reset_status (holding a restore target)', () => {
  it('sets a volume to maintenance and back as admin, with the action body Cinder expects', async () => {
    const v = await emu.control.createVolume({ size: 1 });
    await os.cinder.resetStatus(v.id, 'maintenance');
    expect((await os.cinder.getVolume(v.id))?.status).toBe('maintenance');
    const post = emu.control
      .requests('cinder')
      .filter((r) => r.method === 'POST' && r.path.endsWith(`/volumes/${v.id}/action`))
      .at(-1);
    expect(post?.body).toEqual({ 'os-reset_status': { status: 'maintenance' } });
    expect(post?.headers['openstack-api-version']).toBe('volume 3.59');
    // While in maintenance Cinder refuses an attachment (the emulator's reserve step).
    await expect(emu.control.attachVolume(v.id, crypto.randomUUID())).rejects.toMatchObject({
      status: 400,
    });
    await os.cinder.resetStatus(v.id, 'available');
    expect((await os.cinder.getVolume(v.id))?.status).toBe('available');
  });

  it('is refused (403) for a token without the admin role, 404 for an unknown volume, 400 for a bad status', async () => {
    const d = emu.credentials.demo;
    const member = await clientsFromEnv(
      {
        ...emu.env(),
        OS_USERNAME: d.username,
        OS_PASSWORD: d.password,
        OS_PROJECT_NAME: d.projectName,
      },
      FAST,
    );
    const v = await emu.control.createVolume({ size: 1, projectId: d.projectId });
    const codes: [string, () => Promise<unknown>, number][] = [
      ['member', () => member.cinder.resetStatus(v.id, 'maintenance'), 403],
      ['unknown', () => os.cinder.resetStatus(crypto.randomUUID(), 'maintenance'), 404],
      ['bad status', () => os.cinder.resetStatus(v.id, 'restoring'), 400],
    ];
    for (const [what, call, status] of codes) {
      const err = (await call().catch((e: unknown) => e)) as OpenStackApiError;
      expect(err, what).toBeInstanceOf(OpenStackApiError);
      expect(err.status, what).toBe(status);
      expect(err.retryable, what).toBe(false);
    }
    expect(emu.control.volume(v.id)?.status).toBe('available');
  });
});
