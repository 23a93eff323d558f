import { describe, expect, it } from 'vitest';
import {
  APPLIANCE_RUN_ENV,
  isApplianceOf,
  libguestfsTempDirs,
} from '../../../src/engine/parse/appliance-leftovers.js';

describe('isApplianceOf', () => {
  it('matches the marker with exactly this run directory', () => {
    const env = ['PATH=/usr/bin', `${APPLIANCE_RUN_ENV}=/run/clb/20261202T000000Z-aa`];
    expect(isApplianceOf(env, '/run/clb/20261202T000000Z-aa')).toBe(true);
    expect(isApplianceOf(env, '/run/clb/20261202T000000Z-a')).toBe(false);
    expect(isApplianceOf(env, '/run/clb')).toBe(false);
    expect(
      isApplianceOf(['OTHER=/run/clb/20261202T000000Z-aa'], '/run/clb/20261202T000000Z-aa'),
    ).toBe(false);
  });
});

describe('libguestfsTempDirs', () => {
  it("reads the overlay's and the sockets' directories from qemu's command line", () => {
    // The shape of the direct backend's qemu arguments (libguestfs 1.48, Debian 12).
    const args = [
      'qemu-system-x86_64',
      '-drive',
      'file=/tmp/libguestfsAmKVfG/overlay1.qcow2,cache=unsafe,id=hd0,if=none,format=qcow2',
      '-chardev',
      'socket,path=/tmp/libguestfsgGcJav/guestfsd.sock,id=channel0',
      '-kernel',
      '/var/tmp/.guestfs-0/appliance.d/kernel',
      '-serial',
      'stdio',
    ];
    expect(libguestfsTempDirs(args)).toEqual(['/tmp/libguestfsAmKVfG', '/tmp/libguestfsgGcJav']);
  });

  it('takes only absolute paths that start a value, never with ..', () => {
    expect(libguestfsTempDirs(['/tmp/libguestfsAbC123'])).toEqual(['/tmp/libguestfsAbC123']);
    expect(libguestfsTempDirs(['x/tmp/libguestfsAbC123/s'])).toEqual([]);
    expect(libguestfsTempDirs(['file=/tmp/../etc/libguestfsAbC123/x'])).toEqual([]);
    expect(libguestfsTempDirs(['file=/tmp/libguestfsAbC12/x'])).toEqual([]);
    expect(libguestfsTempDirs(['file=/tmp/libguestfsAbC1234/x'])).toEqual([]);
    expect(libguestfsTempDirs(['guestfish', '--ro', '-a', '/dev/loop2'])).toEqual([]);
  });
});
