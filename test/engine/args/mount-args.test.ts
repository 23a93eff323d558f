import { describe, expect, it } from 'vitest';
import { mountArgs, umountArgs } from '../../../src/engine/args/mount-args.js';

describe('mount argument builders', () => {
  it('mounts with a type and options, unmounts (lazily only when asked)', () => {
    expect(mountArgs('xfs', ['ro', 'nouuid'], '/dev/mapper/a1', '/run/x/p1')).toEqual([
      '-t',
      'xfs',
      '-o',
      'ro,nouuid',
      '--',
      '/dev/mapper/a1',
      '/run/x/p1',
    ]);
    expect(umountArgs('/run/x/p1')).toEqual(['--', '/run/x/p1']);
    expect(umountArgs('/run/x/p1', true)).toEqual(['--lazy', '--', '/run/x/p1']);
  });
});
