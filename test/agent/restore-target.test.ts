import { describe, expect, it } from 'vitest';
import { restoreTargetOf } from '../../src/agent/restore-job.js';
import { checkTargetVolume } from '../../src/jobs/restore-target-volume.js';

const HOST = 'stor1@lvm';
const ID = '0b8d3e0c-59a1-4c2f-9f8e-1d2c3b4a5f60';
const checked = checkTargetVolume(
  { id: ID, status: 'available', backendHost: HOST, lvName: `volume-${ID}`, attachments: [] },
  HOST,
  new Date('2026-12-01T12:00:00Z'),
);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  return 'no error';
}

describe('restore target of a job', () => {
  it("puts the checked target volume's LV in the VG the agent serves for the host", () => {
    expect(restoreTargetOf({ targetVolume: checked }, 'cinder-volumes', HOST)).toBe(
      `/dev/cinder-volumes/volume-${ID}`,
    );
    // A path that says the same is accepted; any other is not written.
    expect(
      restoreTargetOf(
        { targetVolume: checked, target: `/dev/cinder-volumes/volume-${ID}` },
        'cinder-volumes',
        HOST,
      ),
    ).toBe(`/dev/cinder-volumes/volume-${ID}`);
    expect(
      codeOf(() =>
        restoreTargetOf({ targetVolume: checked, target: '/dev/sda' }, 'cinder-volumes', HOST),
      ),
    ).toBe('TARGET_REFUSED');
  });

  it('refuses a job that names only a device or an LV, without the checked record', () => {
    for (const payload of [
      { target: '/dev/vg0/restore-me' },
      { target: '/dev/../etc/passwd' },
      { targetLvName: `volume-${ID}` },
      {},
    ]) {
      expect(codeOf(() => restoreTargetOf(payload, 'cinder-volumes', HOST))).toBe('TARGET_REFUSED');
    }
  });

  it("refuses a record checked for another host than the job's", () => {
    expect(
      codeOf(() => restoreTargetOf({ targetVolume: checked }, 'cinder-volumes', 'stor2@lvm')),
    ).toBe('TARGET_REFUSED');
  });
});
