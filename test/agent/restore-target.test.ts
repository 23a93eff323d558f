import { describe, expect, it } from 'vitest';
import { restoreTargetOf } from '../../src/agent/run-restore.js';

describe('restore target of a job', () => {
  it('takes a device path from the CLI as it is, once checked', () => {
    expect(restoreTargetOf({ target: '/dev/vg0/restore-me' }, 'cinder-volumes')).toBe(
      '/dev/vg0/restore-me',
    );
    expect(() => restoreTargetOf({ target: '/dev/../etc/passwd' }, 'cinder-volumes')).toThrow(
      /device path under \/dev/,
    );
  });

  it("puts an API job's target LV in the VG the agent serves for the host", () => {
    const lv = 'volume-0b8d3e0c-59a1-4c2f-9f8e-1d2c3b4a5f60';
    expect(restoreTargetOf({ targetLvName: lv }, 'cinder-volumes')).toBe(
      `/dev/cinder-volumes/${lv}`,
    );
  });

  it('refuses an LV name that is not one', () => {
    for (const bad of ['../x', 'a/b', '', 'snapshot-x', '-rf']) {
      expect(() => restoreTargetOf({ targetLvName: bad }, 'cinder-volumes')).toThrow();
    }
  });

  it('refuses a job with neither', () => {
    expect(() => restoreTargetOf({}, 'cinder-volumes')).toThrow(/restore target/);
  });
});
