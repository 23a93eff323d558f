import { describe, expect, it } from 'vitest';
import { makeStorable, storableText } from '../src/storable-text.js';

describe('storable text', () => {
  it('replaces NUL with SUBSTITUTE and lone surrogates with U+FFFD, nothing else', () => {
    expect(storableText('daily')).toBe('daily');
    expect(storableText('a\u0000b')).toBe('a\u001ab');
    expect(storableText('\ud800x\udc00')).toBe('\ufffdx\ufffd');
    // A surrogate pair is a character (here an emoji), kept as it is.
    expect(storableText('\ud83d\udcbe')).toBe('\ud83d\udcbe');
    expect(storableText('\udc00\ud800')).toBe('\ufffd\ufffd');
  });

  it('fixes keys and values at any depth, in place, and keeps __proto__ a plain key', () => {
    const deep: unknown[] = [];
    let at = deep;
    for (let i = 0; i < 100_000; i += 1) {
      const next: unknown[] = [];
      at.push(next);
      at = next;
    }
    at.push('x\u0000');
    const v = JSON.parse(
      '{"a\\u0000":"b\\u0000","__proto__":{"p":"\\ud800"},"list":["\\u0000",{"k":"v"}]}',
    ) as Record<string, unknown>;
    v['deep'] = deep;
    expect(makeStorable(v)).toBe(v);
    expect(Object.keys(v)).toEqual(['__proto__', 'list', 'deep', 'a\u001a']);
    expect(v['a\u001a']).toBe('b\u001a');
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(v['__proto__']).toEqual({ p: '\ufffd' });
    expect(v['list']).toEqual(['\u001a', { k: 'v' }]);
    expect(at).toEqual(['x\u001a']);
  });
});
