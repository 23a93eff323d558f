/**
 * What a restore job may overwrite: the target volume as Cinder reports it (the OpenStack
 * emulator's Cinder API, through the same lookup the enqueue command uses), and the record
 * the agent reads back from the job, which it re-validates rather than trusts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cinderVolumeLookup } from '../../src/inventory/cinder-volume-lookup.js';
import {
  checkTargetVolume,
  heldTargetProblem,
  lookUpTargetVolume,
  statusToPutBack,
  targetDevicePath,
  targetVolumeOfPayload,
} from '../../src/jobs/restore-target-volume.js';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import { createOpenStackClients } from '../../src/openstack/clients.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';

/** The stable code a call throws with, or 'no error'. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  return 'no error';
}

const HOST = 'stor1@lvm';
let emu: OpenStackEmulator;
let lookup: ReturnType<typeof cinderVolumeLookup>;

beforeAll(async () => {
  emu = await startOpenStackEmulator({ notifier: false });
  const credentials = await loadOpenStackCredentials({ env: emu.env('password') });
  const clients = createOpenStackClients({ credentials });
  lookup = cinderVolumeLookup(clients.cinder);
});
afterAll(async () => {
  await emu?.close();
});

describe('the restore target as Cinder reports it', () => {
  it('accepts an available, detached volume of the same host and names its LV', async () => {
    const v = await emu.control.createVolume({ size: 1 });
    const checked = await lookUpTargetVolume(lookup, v.id, HOST);
    expect(checked).toMatchObject({
      id: v.id,
      lvName: `volume-${v.id}`,
      backendHost: HOST,
      status: 'available',
      attachments: 0,
    });
    expect(targetDevicePath('cinder-volumes', checked)).toBe(`/dev/cinder-volumes/volume-${v.id}`);
  });

  it('refuses an attached volume, one in use or in another state, and one on another host', async () => {
    const attached = await emu.control.createVolume({ size: 1 });
    await emu.control.attachVolume(attached.id, crypto.randomUUID());
    const maintenance = await emu.control.createVolume({ size: 1, status: 'maintenance' });
    const elsewhere = await emu.control.createVolume({ size: 1, host: 'stor2@lvm#LVM' });
    for (const [v, why] of [
      [attached, /in-use|attached/],
      [maintenance, /maintenance/],
      [elsewhere, /stor2@lvm/],
    ] as const) {
      await expect(lookUpTargetVolume(lookup, v.id, HOST)).rejects.toMatchObject({
        code: 'TARGET_REFUSED',
        message: expect.stringMatching(why) as string,
      });
    }
    await expect(lookUpTargetVolume(lookup, crypto.randomUUID(), HOST)).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
    });
  });
});

describe('the target record in a job, as the agent reads it', () => {
  const id = '6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b';
  const good = checkTargetVolume(
    { id, status: 'available', backendHost: HOST, lvName: `volume-${id}`, attachments: [] },
    HOST,
    new Date('2026-12-01T12:00:00Z'),
  );

  it('reads back what the enqueuer checked', () => {
    expect(targetVolumeOfPayload({ targetVolume: good }, HOST)).toEqual(good);
  });

  it('refuses a job without the record, or with one that was tampered with', () => {
    const forged: Record<string, unknown>[] = [
      {},
      { target: '/dev/sda' },
      { targetVolume: { ...good, status: 'in-use' } },
      { targetVolume: { ...good, attachments: 1 } },
      { targetVolume: { ...good, lvName: '../../sda' } },
      { targetVolume: { ...good, lvName: 'volume-x/../../sda' } },
      { targetVolume: { ...good, backendHost: 'stor2@lvm' } },
      { targetVolume: { ...good, checkedAt: 'yesterday' } },
      { targetVolume: 'volume-x' },
    ];
    for (const payload of forged) {
      expect(
        codeOf(() => targetVolumeOfPayload(payload, HOST)),
        JSON.stringify(payload),
      ).toBe('TARGET_REFUSED');
    }
  });
});

describe('the target held in maintenance', () => {
  const id = '7a2b3c4d-5e6f-4a70-8b9c-0d1e2f3a4b5c';
  const t = checkTargetVolume(
    { id, status: 'available', backendHost: HOST, lvName: `volume-${id}`, attachments: [] },
    HOST,
    new Date('2026-12-01T12:00:00Z'),
  );
  const seen = (status: string, attachments: unknown[] = [], backendHost = HOST) => ({
    id,
    status,
    backendHost,
    lvName: `volume-${id}`,
    attachments,
  });

  it('is held only when Cinder reads back maintenance, detached, where it was', () => {
    expect(heldTargetProblem(seen('maintenance'), t)).toBeNull();
    expect(heldTargetProblem(seen('in-use', [{}]), t)).toMatch(/not maintenance/);
    expect(heldTargetProblem(seen('maintenance', [{}]), t)).toMatch(/attached/);
    expect(heldTargetProblem(seen('maintenance', [], 'stor2@lvm'), t)).toMatch(/moved/);
    expect(heldTargetProblem(null, t)).toMatch(/no longer/);
  });

  it('goes back to its status only from maintenance, to in-use when attached', () => {
    expect(statusToPutBack(seen('maintenance'), 'available').status).toBe('available');
    expect(statusToPutBack(seen('maintenance', [{}]), 'available').status).toBe('in-use');
    for (const other of ['available', 'in-use', 'error', 'deleting']) {
      expect(statusToPutBack(seen(other), 'available').status, other).toBeNull();
    }
    expect(statusToPutBack(null, 'available').status).toBeNull();
  });
});
