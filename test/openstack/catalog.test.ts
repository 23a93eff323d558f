import { describe, expect, it } from 'vitest';
import {
  joinEndpoint,
  normalizeInterface,
  selectBlockStorage,
  type CatalogService,
} from '../../src/openstack/catalog.js';
import { backoffDelay, DEFAULT_RETRY } from '../../src/openstack/http-retry.js';
import { authRequestBody, tokensUrl } from '../../src/openstack/keystone.js';

const ep = (iface: string, region: string, url: string) => ({
  interface: iface,
  region,
  region_id: region,
  url,
});

describe('block storage endpoint selection', () => {
  const cases: {
    name: string;
    catalog: CatalogService[];
    region?: string;
    want: string | RegExp;
  }[] = [
    {
      name: 'prefers block-storage over volumev3',
      catalog: [
        { type: 'volumev3', endpoints: [ep('internal', 'R1', 'http://c/v3/p1')] },
        { type: 'block-storage', endpoints: [ep('internal', 'R1', 'http://c/v3/')] },
      ],
      want: 'http://c/v3',
    },
    {
      name: 'falls back to volumev3 with the project id kept',
      catalog: [{ type: 'volumev3', endpoints: [ep('internal', 'R1', 'http://c/v3/p1')] }],
      want: 'http://c/v3/p1',
    },
    {
      name: 'accepts a legacy volumev2 type only with a v3 URL',
      catalog: [
        { type: 'volumev2', endpoints: [ep('internal', 'R1', 'http://c/v2/p1')] },
        { type: 'volume', endpoints: [ep('internal', 'R1', 'http://c/v3/p1')] },
      ],
      want: 'http://c/v3/p1',
    },
    {
      name: 'honours the region',
      catalog: [
        {
          type: 'block-storage',
          endpoints: [ep('internal', 'R1', 'http://one/v3'), ep('internal', 'R2', 'http://two/v3')],
        },
      ],
      region: 'R2',
      want: 'http://two/v3',
    },
    {
      name: 'explains a miss with what the catalog has',
      catalog: [{ type: 'block-storage', endpoints: [ep('public', 'R1', 'http://c/v3')] }],
      want: /no internal endpoint of type block-storage or volumev3.*found block-storage: public\/R1/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = selectBlockStorage(c.catalog, 'internal', c.region);
      if (typeof c.want === 'string') expect(got).toMatchObject({ url: c.want });
      else expect('reason' in got ? got.reason : '').toMatch(c.want);
    });
  }

  it('joins paths without doubling /v3 or slashes', () => {
    expect(joinEndpoint('http://c/v3/', 'volumes/detail')).toBe('http://c/v3/volumes/detail');
    expect(joinEndpoint('http://c/v3/p1', '/volumes')).toBe('http://c/v3/p1/volumes');
    expect(normalizeInterface('internalURL')).toBe('internal');
    expect(normalizeInterface('private')).toBeNull();
  });
});

describe('Keystone request bodies', () => {
  it('scopes a password login by project name and domain', () => {
    expect(
      authRequestBody({
        type: 'password',
        username: 'u',
        userDomainName: 'Default',
        password: 'p',
        projectName: 'admin',
        projectDomainId: 'default',
      }),
    ).toEqual({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'u', domain: { name: 'Default' }, password: 'p' } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    });
  });

  it('sends no scope for an application credential', () => {
    const body = authRequestBody({
      type: 'application_credential',
      applicationCredentialName: 'ac',
      applicationCredentialSecret: 's',
      userId: 'u1',
    }) as { auth: Record<string, unknown> };
    expect(Object.keys(body.auth)).toEqual(['identity']);
    expect(body.auth['identity']).toEqual({
      methods: ['application_credential'],
      application_credential: { secret: 's', name: 'ac', user: { id: 'u1' } },
    });
  });

  it('finds the tokens URL with or without /v3', () => {
    expect(tokensUrl('http://k:5000')).toBe('http://k:5000/v3/auth/tokens');
    expect(tokensUrl('http://k:5000/identity/v3/')).toBe('http://k:5000/identity/v3/auth/tokens');
  });
});

describe('backoff', () => {
  it('doubles up to the cap with jitter in the upper half, and caps Retry-After', () => {
    const p = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(p, 1, null, () => 0)).toBe(50);
    expect(backoffDelay(p, 1, null, () => 1)).toBe(100);
    expect(backoffDelay(p, 3, null, () => 1)).toBe(400);
    expect(backoffDelay(p, 10, null, () => 1)).toBe(1000);
    expect(backoffDelay(p, 1, 30, () => 1)).toBe(1000);
    expect(backoffDelay(p, 1, 0, () => 1)).toBe(0);
  });
});
