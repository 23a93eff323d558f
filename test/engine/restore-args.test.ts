import { describe, expect, it } from 'vitest';
import {
  partxAddArgs,
  partxDeleteArgs,
  sfdiskWriteArgs,
  tarExtractArgs,
  wipefsArgs,
  dmsetupOpenCountArgs,
} from '../../src/engine/restore-args.js';
import { devNumberOf } from '../../src/engine/restore-target.js';

describe('restore argument builders', () => {
  it('extracts with owners, permissions, every xattr namespace and ACLs', () => {
    expect(tarExtractArgs('/run/x/p1')).toEqual([
      '--extract',
      '--file=-',
      '--format=posix',
      '--xattrs',
      '--xattrs-include=*',
      '--acls',
      '--numeric-owner',
      '--same-permissions',
      '--same-owner',
      '--directory=/run/x/p1',
    ]);
  });

  it('writes a table without asking the kernel to re-read it', () => {
    expect(sfdiskWriteArgs('/dev/loop3')).toEqual([
      '--quiet',
      '--no-reread',
      '--no-tell-kernel',
      '--wipe',
      'always',
      '/dev/loop3',
    ]);
  });

  it('wipes every signature and renews the kernel partitions', () => {
    // --force: restore holds the exclusive claim itself; wipefs must not ask for it.
    expect(wipefsArgs('/dev/loop3')).toEqual(['--all', '--quiet', '--force', '/dev/loop3']);
    expect(dmsetupOpenCountArgs('vg-lv')).toEqual([
      'info',
      '-c',
      '--noheadings',
      '-o',
      'open',
      '--',
      'vg-lv',
    ]);
    expect(partxDeleteArgs('/dev/loop3')).toEqual(['--delete', '/dev/loop3']);
    expect(partxAddArgs('/dev/loop3')).toEqual(['--add', '/dev/loop3']);
  });
});

describe('devNumberOf', () => {
  it('splits small and large dev_t values the way glibc does', () => {
    expect(devNumberOf(0x0701n)).toBe('7:1'); // loop1
    expect(devNumberOf(0xfd05n)).toBe('253:5'); // a dm device
    // major 259, minor 300: minor bits above 8 live at bit 20
    const big = (259n << 8n) | (300n & 0xffn) | ((300n & ~0xffn) << 12n);
    expect(devNumberOf(big)).toBe('259:300');
  });
});
