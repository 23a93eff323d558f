import { describe, expect, it } from 'vitest';
import { snarTime, withSnarTime } from '../../../src/engine/parse/snar-header.js';

/** The start of a snapshot file GNU tar 1.34 wrote (seen with xxd), then one record. */
const SNAR = Buffer.concat([
  Buffer.from('GNU tar-1.34-2\n1796151389\x00363167636\x00', 'latin1'),
  Buffer.from('0\x001796151389\x00361484620\x0065024\x002146625\x00.\x00Da\x00\x00\x00', 'latin1'),
]);

describe('tar snapshot file header', () => {
  it('reads the dump time', () => {
    expect(snarTime(SNAR)).toBe(1796151389363);
  });

  it('moves the dump time back to when the copy was frozen, records untouched', () => {
    const out = withSnarTime(SNAR, 1796151000250);
    expect(snarTime(out)).toBe(1796151000250);
    expect(out.toString('latin1')).toBe(
      SNAR.toString('latin1').replace('1796151389\x00363167636\x00', '1796151000\x00250000000\x00'),
    );
  });

  it('never moves the dump time forward', () => {
    expect(snarTime(withSnarTime(SNAR, 1796151999000))).toBe(1796151389363);
  });

  it('refuses what is not a format-2 snapshot file', () => {
    expect(() => snarTime(Buffer.from('GNU tar-1.34-1\n1\x002\x00'))).toThrow(/format-2/);
    expect(() => snarTime(Buffer.from('GNU tar-1.34-2\nabc\x00'))).toThrow(/no dump time/);
  });
});
