import { describe, expect, it } from 'vitest';
import { parseDmsetupLs } from '../../../src/engine/parse/dmsetup.js';
import { parseMountinfo } from '../../../src/engine/parse/mountinfo.js';

describe('/proc/self/mountinfo', () => {
  it('parses mount points, sources and types, undoing octal escapes', () => {
    const text = [
      '36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '412 30 254:5 / /run/cinder-lvm-backup/r1/p1 ro,relatime shared:220 - xfs /dev/mapper/vg-clb--r1p1 ro,nouuid',
      '413 30 7:0 / /tmp/with\\040space ro - ext4 /dev/loop0 ro',
    ].join('\n');
    expect(parseMountinfo(text)).toEqual([
      { mountPoint: '/mnt1', source: '/dev/root', fsType: 'ext3', options: 'rw,noatime' },
      {
        mountPoint: '/run/cinder-lvm-backup/r1/p1',
        source: '/dev/mapper/vg-clb--r1p1',
        fsType: 'xfs',
        options: 'ro,relatime',
      },
      { mountPoint: '/tmp/with space', source: '/dev/loop0', fsType: 'ext4', options: 'ro' },
    ]);
  });
});

describe('dmsetup ls', () => {
  it('lists map names and ignores "No devices found"', () => {
    expect(
      parseDmsetupLs(
        'cinder--volumes-clb--r1p1\t(254:7)\ncinder--volumes-clb--r1\t(254:4)\ncinder--volumes-clb--r1-cow\t(254:3)\n',
      ),
    ).toEqual([
      'cinder--volumes-clb--r1p1',
      'cinder--volumes-clb--r1',
      'cinder--volumes-clb--r1-cow',
    ]);
    expect(parseDmsetupLs('No devices found\n')).toEqual([]);
  });
});
