import { describe, expect, it } from 'vitest';
import { NO_DEVICE, snarDeviceFor, withSnarDevice } from '../../../src/engine/parse/snar-device.js';

/**
 * A snapshot file GNU tar 1.34 wrote (an ext4 image through /dev/loop1, device 1793):
 * five directory records, one with an empty dumpdir (lost+found).
 */
const SNAR = Buffer.from(
  'GNU tar-1.34-2\n1796190870\x00913250477\x00' +
    '0\x001796190870\x00476487651\x001793\x0012\x00./big\x00Yf1\x00Yf2\x00Yf3\x00Yf4\x00Dsub\x00\x00\x00' +
    '0\x001796190870\x00592487651\x001793\x002049\x00./other\x00Yx\x00\x00\x00' +
    '0\x001796190870\x00564487651\x001793\x0013\x00./big/sub\x00Yg1\x00Yg2\x00\x00\x00' +
    '0\x001796190870\x00340487651\x001793\x002\x00.\x00Dbig\x00Dlost+found\x00Dother\x00\x00\x00' +
    '0\x001796190870\x000\x001793\x0011\x00./lost+found\x00\x00\x00',
  'latin1',
);

/** Each record's device and inode fields, read independently (split on NUL). */
function devicesAndInodes(data: Buffer): string[] {
  const parts = data.toString('latin1').split('\0');
  // A name starts with '.'; dumpdir entries start with their control letter (Y, N, D).
  return parts.flatMap((p, i) =>
    p.startsWith('.') && parts[i - 5] === '0' ? [`${parts[i - 2]}:${parts[i - 1]}`] : [],
  );
}

describe('device numbers in a tar snapshot file', () => {
  it('sets every record to the given device, inodes and all else unchanged', () => {
    const out = withSnarDevice(SNAR, '1794');
    expect(devicesAndInodes(SNAR)).toEqual([
      '1793:12',
      '1793:2049',
      '1793:13',
      '1793:2',
      '1793:11',
    ]);
    expect(devicesAndInodes(out)).toEqual(['1794:12', '1794:2049', '1794:13', '1794:2', '1794:11']);
    expect(out.toString('latin1')).toBe(
      SNAR.toString('latin1').replaceAll('\x001793\x00', '\x001794\x00'),
    );
  });

  it('handles device numbers of another length, and leaves a file alone given its own', () => {
    const wide = withSnarDevice(SNAR, '264241153');
    expect(wide.length).toBe(SNAR.length + 5 * 5);
    expect(withSnarDevice(wide, '1793').equals(SNAR)).toBe(true);
    expect(withSnarDevice(SNAR, '1793').equals(SNAR)).toBe(true);
  });

  it('accepts a file with no directory records', () => {
    const empty = Buffer.from('GNU tar-1.34-2\n1796190870\x00913250477\x00', 'latin1');
    expect(withSnarDevice(empty, '5').equals(empty)).toBe(true);
  });

  it('refuses a malformed file or device number', () => {
    expect(() => withSnarDevice(SNAR.subarray(0, SNAR.length - 1), '5')).toThrow(/terminator/);
    expect(() => withSnarDevice(SNAR.subarray(0, 70), '5')).toThrow(/cut short/);
    const text = SNAR.toString('latin1').replace('\x001793\x0012\x00', '\x00x793\x0012\x00');
    expect(() => withSnarDevice(Buffer.from(text, 'latin1'), '5')).toThrow(
      /device is not a number/,
    );
    expect(() => withSnarDevice(SNAR, '-1')).toThrow(/device number/);
    expect(() => withSnarDevice(Buffer.from('GNU tar-1.34-1\n1\x002\x00'), '5')).toThrow(
      /format-2/,
    );
  });

  it('uses the mount device only where inode numbers are kept on disk', () => {
    for (const t of ['ext2', 'ext3', 'ext4', 'xfs', 'btrfs'])
      expect(snarDeviceFor(t, '2049')).toBe('2049');
    expect(snarDeviceFor('vfat', '2049')).toBe(NO_DEVICE);
    expect(snarDeviceFor(null, '2049')).toBe(NO_DEVICE);
  });
});
