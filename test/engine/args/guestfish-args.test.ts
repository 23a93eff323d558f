import { describe, expect, it } from 'vitest';
import {
  applianceDevice,
  guestfishArgs,
  guestfishLine,
  guestfishList,
  guestfishWord,
  parseListFilesystems,
  parseStatvfs,
  tarOutLine,
} from '../../../src/engine/args/guestfish-args.js';

describe('guestfish words and lines', () => {
  it('quotes every byte outside the safe set as \\xhh, UTF-8 byte by byte', () => {
    expect(guestfishWord('/run/clb/p1.tar.zst.fifo')).toBe('"/run/clb/p1.tar.zst.fifo"');
    expect(guestfishWord('a b"c\'d;e$f')).toBe('"a\\x20b\\x22c\\x27d\\x3be\\x24f"');
    expect(guestfishWord('é')).toBe('"\\xc3\\xa9"');
    expect(guestfishWord('x\ny')).toBe('"x\\x0ay"');
    expect(() => guestfishWord('a\0b')).toThrow(/NUL/);
  });

  it('builds a list with spaced elements single-quoted, refuses quotes inside', () => {
    expect(guestfishList(['./a', './dir with spaces/deep'])).toBe("./a './dir with spaces/deep'");
    expect(() => guestfishList(["./it's"])).toThrow(/quote/);
    expect(() => guestfishList(['./"x"'])).toThrow(/quote/);
  });

  it('takes only a plain command name', () => {
    expect(guestfishLine('mount-ro', ['/dev/sda1', '/'])).toBe('mount-ro "/dev/sda1" "/"');
    expect(() => guestfishLine('run; !sh')).toThrow(/not a guestfish command/);
  });

  it('tar-out with owners as numbers, xattrs, ACLs, lost+found and the excludes left out', () => {
    const line = tarOutLine('/run/x/p1.tar.zst.fifo', ['./cache', './a b']);
    expect(line).toBe(
      'tar-out "/" "/run/x/p1.tar.zst.fifo" "numericowner\\x3atrue" "xattrs\\x3atrue" "acls\\x3atrue" ' +
        '"excludes\\x3a./lost+found\\x20./cache\\x20\\x27./a\\x20b\\x27"',
    );
  });

  it('adds the device read-only and raw', () => {
    expect(guestfishArgs('/dev/vg/clb-x')).toEqual(['--ro', '--format=raw', '-a', '/dev/vg/clb-x']);
    expect(applianceDevice(null)).toBe('/dev/sda');
    expect(applianceDevice(5)).toBe('/dev/sda5');
  });
});

describe('guestfish output', () => {
  it('reads list-filesystems', () => {
    const m = parseListFilesystems(['/dev/sda1: ext4', '/dev/sda2: unknown', '/dev/sda3: swap']);
    expect([...m]).toEqual([
      ['/dev/sda1', 'ext4'],
      ['/dev/sda2', null],
      ['/dev/sda3', 'swap'],
    ]);
    expect(() => parseListFilesystems(['oops'])).toThrow(/unexpected/);
  });

  it('reads statvfs as the host reads statfs', () => {
    const lines = [
      'bsize: 1024',
      'frsize: 1024',
      'blocks: 86491',
      'bfree: 83541',
      'bavail: 76660',
      'files: 24576',
      'ffree: 24556',
    ];
    expect(parseStatvfs(lines)).toEqual({
      fsSizeBytes: 86491 * 1024,
      usedBytes: (86491 - 83541) * 1024,
      inodesUsed: 20,
    });
    expect(() => parseStatvfs(['bsize: 1'])).toThrow(/no blocks/);
  });
});
