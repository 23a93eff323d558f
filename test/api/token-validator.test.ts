import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { ValidatedToken } from '../../src/openstack/keystone.js';
import { TokenValidator } from '../../src/api/token-validator.js';

function setup(expiresInMs: number, answer: 'ok' | 'null' | 'throw' = 'ok') {
  let now = 1_000_000;
  const asked: string[] = [];
  const v = new TokenValidator({
    now: () => now,
    validate: async (t): Promise<ValidatedToken | null> => {
      asked.push(t);
      await new Promise((r) => setTimeout(r, 5));
      if (answer === 'throw') throw new AppError('OPENSTACK_UNAVAILABLE', 'keystone down');
      return answer === 'null'
        ? null
        : {
            userId: 'u',
            projectId: 'p',
            roles: ['member'],
            expiresAt: new Date(now + expiresInMs),
          };
    },
  });
  return { v, asked, advance: (ms: number) => void (now += ms) };
}

describe('token validator', () => {
  it('reuses a validation for at most 60 s', async () => {
    const { v, asked, advance } = setup(3600_000);
    expect(await v.authenticate('tok')).toMatchObject({ projectId: 'p' });
    advance(59_000);
    await v.authenticate('tok');
    expect(asked).toHaveLength(1);
    advance(1_001);
    await v.authenticate('tok');
    expect(asked).toHaveLength(2);
  });

  it('never past the token’s expiry', async () => {
    const { v, asked, advance } = setup(10_000);
    await v.authenticate('tok');
    advance(9_000);
    await v.authenticate('tok');
    expect(asked).toHaveLength(1);
    advance(1_500);
    await v.authenticate('tok');
    expect(asked).toHaveLength(2);
  });

  it('shares one validation among concurrent requests with the same token', async () => {
    const { v, asked } = setup(3600_000);
    await Promise.all([v.authenticate('t1'), v.authenticate('t1'), v.authenticate('t2')]);
    expect(asked.sort()).toEqual(['t1', 't2']);
  });

  it('refuses without asking Keystone: no token, an oversized or non-printable one', async () => {
    const { v, asked } = setup(3600_000);
    expect(await v.authenticate(undefined)).toBeNull();
    expect(await v.authenticate('')).toBeNull();
    expect(await v.authenticate('x'.repeat(9000))).toBeNull();
    expect(await v.authenticate('has space')).toBeNull();
    expect(asked).toHaveLength(0);
  });

  it('does not cache a refusal, and reports Keystone being down as unavailable', async () => {
    const refused = setup(0, 'null');
    expect(await refused.v.authenticate('tok')).toBeNull();
    expect(await refused.v.authenticate('tok')).toBeNull();
    expect(refused.asked).toHaveLength(2);
    const down = setup(0, 'throw');
    await expect(down.v.authenticate('tok')).rejects.toMatchObject({
      code: 'OPENSTACK_UNAVAILABLE',
    });
  });
});
