import { fileURLToPath } from 'node:url';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  envelopeV2,
  osloTimestamp,
  payloadTime,
  pythonJsonDumps,
  type Json,
} from './oslo-format.js';
import { pythonReprDict } from './cinder-payloads.js';

// The real notifications, copied into the repository (test/fixtures/cinder-notifications).
const FIXTURES = fileURLToPath(new URL('../fixtures/cinder-notifications', import.meta.url));

describe('the emulator writes notifications byte for byte like oslo.messaging', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));

  it('re-serialises every real fixture to exactly the bytes that arrived', () => {
    expect(files.length).toBe(37);
    for (const f of files) {
      const text = readFileSync(`${FIXTURES}/${f}`, 'utf8').replace(/\n$/, '');
      const env = JSON.parse(text) as Record<string, string>;
      const inner = JSON.parse(env['oslo.message'] ?? '') as Record<string, Json>;
      expect(envelopeV2(inner), f).toBe(text);
    }
  });

  it('escapes non-ASCII as Python ensure_ascii does', () => {
    expect(pythonJsonDumps({ name: 'café ☃ 𝄞', n: [1, 2.5, null, true] })).toBe(
      '{"name": "caf\\u00e9 \\u2603 \\ud834\\udd1e", "n": [1, 2.5, null, true]}',
    );
  });

  it('formats timestamps as str(datetime) and isoformat with offset', () => {
    const d = new Date(Date.UTC(2026, 10, 26, 14, 13, 39, 623));
    expect(osloTimestamp(d, 335)).toBe('2026-11-26 14:13:39.623335');
    expect(osloTimestamp(new Date(Date.UTC(2026, 10, 26, 14, 13, 39)))).toBe('2026-11-26 14:13:39');
    expect(payloadTime(d, 290)).toBe('2026-11-26T14:13:39.623290+00:00');
    expect(payloadTime(new Date(Date.UTC(2026, 10, 26, 14, 12, 47)))).toBe(
      '2026-11-26T14:12:47+00:00',
    );
  });

  it("writes snapshot metadata as a Python repr, '' when empty", () => {
    expect(pythonReprDict({})).toBe('');
    expect(pythonReprDict({ k: "it's", a: 'x"y', b: 'both\'"' })).toBe(
      `{'k': "it's", 'a': 'x"y', 'b': 'both\\'"'}`,
    );
  });
});
