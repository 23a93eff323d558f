import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  credentialsFromCloud,
  loadOpenStackCredentials,
} from '../../src/config/openstack-credentials.js';
import { AppError } from '../../src/errors.js';
import { OpenStackApiError } from '../../src/openstack/api-error.js';
import { CinderClient } from '../../src/openstack/cinder.js';
import { clientsFromEnv } from './clients-from-env.js';
import { KeystoneSession } from '../../src/openstack/keystone.js';
import { NovaClient, serverAddresses } from '../../src/openstack/nova.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';
import { captureLogger } from './capture-logger.js';

const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 2_000 };

let emu: OpenStackEmulator;

beforeAll(async () => {
  emu = await startOpenStackEmulator({ notifier: false });
});
afterAll(async () => {
  await emu?.close();
});

async function session(
  kind: 'password' | 'application_credential' = 'password',
  extra: Partial<ConstructorParameters<typeof KeystoneSession>[0]> = {},
): Promise<KeystoneSession> {
  const credentials = await loadOpenStackCredentials({ env: emu.env(kind) });
  return new KeystoneSession({ credentials, retry: FAST, ...extra });
}

function lastAuthBody(): Record<string, unknown> {
  const auths = emu.control.requests('keystone').filter((r) => r.path === '/v3/auth/tokens');
  return (auths[auths.length - 1]?.body ?? {}) as Record<string, unknown>;
}

describe('password authentication', () => {
  it('scopes to the project by name and domain and finds block-storage without project id', async () => {
    const s = await session();
    const token = await s.token();
    expect(token.projectId).toBe(emu.credentials.projectId);
    expect(token.roles).toContain('admin');
    const auth = lastAuthBody()['auth'] as Record<string, unknown>;
    expect(auth['scope']).toEqual({
      project: { name: emu.credentials.projectName, domain: { name: 'Default' } },
    });
    expect(await s.endpoint('block-storage')).toBe(emu.cinderUrl);
    expect(await s.endpoint('compute')).toBe(emu.novaUrl);
  });

  it('reuses the cached token until shortly before it expires', async () => {
    let now = Date.now();
    const s = await session('password', { now: () => now });
    const cinder = new CinderClient(s);
    await cinder.listVolumesPage();
    await cinder.listVolumesPage();
    expect(s.authentications).toBe(1);
    const t = await s.token();
    now = t.expiresAt.getTime() - 60_000; // inside the 120 s renewal window
    await cinder.listVolumesPage();
    expect(s.authentications).toBe(2);
  });

  it('re-authenticates once when the service answers 401, and fails clearly on a second 401', async () => {
    const s = await session();
    const cinder = new CinderClient(s);
    await cinder.listVolumesPage();
    emu.control.expireAllTokens();
    await cinder.listVolumesPage();
    expect(s.authentications).toBe(2);

    emu.control.fail('cinder', { status: 401, times: Infinity, body: { error: { code: 401 } } });
    try {
      const err = await cinder.listVolumesPage().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenStackApiError);
      expect((err as AppError).code).toBe('OPENSTACK_AUTH_FAILED');
      expect(s.authentications).toBe(3);
    } finally {
      emu.control.clearFailures();
    }
  });

  it('reports refused credentials without retrying and without the password', async () => {
    const env = { ...emu.env(), OS_PASSWORD: 'wrong-Pa55word' };
    const s = new KeystoneSession({
      credentials: await loadOpenStackCredentials({ env }),
      retry: FAST,
    });
    const before = emu.control.requests('keystone').length;
    const err = (await s.token().catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe('OPENSTACK_AUTH_FAILED');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('user backupsvc');
    expect(JSON.stringify(err.toJSON()) + err.message + String(err.cause)).not.toContain(
      'wrong-Pa55word',
    );
    expect(emu.control.requests('keystone').length - before).toBe(1);
  });
});

describe('application credential authentication', () => {
  it('sends no scope and gets the credential project token', async () => {
    const s = await session('application_credential');
    const token = await s.token();
    const body = lastAuthBody();
    expect(body).toEqual({
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: {
            id: emu.credentials.applicationCredentialId,
            secret: emu.credentials.applicationCredentialSecret,
          },
        },
      },
    });
    expect(token.projectId).toBe(emu.credentials.projectId);
    const page = await new CinderClient(s).listVolumesPage();
    expect(Array.isArray(page.volumes)).toBe(true);
  });

  it('can name the credential with its user instead of its id', async () => {
    const credentials = credentialsFromCloud(
      {
        auth_type: 'v3applicationcredential',
        auth: {
          auth_url: emu.keystoneUrl.replace(/\/v3$/, ''),
          application_credential_name: emu.credentials.applicationCredentialName,
          application_credential_secret: emu.credentials.applicationCredentialSecret,
          username: emu.credentials.username,
          user_domain_name: 'Default',
        },
      },
      'test',
    );
    const s = new KeystoneSession({ credentials, retry: FAST });
    expect((await s.token()).projectId).toBe(emu.credentials.projectId);
    const auth = lastAuthBody()['auth'] as Record<string, unknown>;
    expect(auth['scope']).toBeUndefined();
  });
});

describe('endpoint selection', () => {
  it('uses volumev3 with the project id in the URL when block-storage is absent', async () => {
    const other = await startOpenStackEmulator({
      notifier: false,
      catalog: (u) => [
        {
          type: 'volumev3',
          name: 'cinderv3',
          endpoints: [
            {
              interface: 'public',
              region: 'RegionOne',
              url: 'http://127.0.0.1:9/v3/%(project_id)s',
            },
            { interface: 'internal', region: 'RegionOne', url: `${u.cinder}/v3/$(project_id)s` },
          ],
        },
      ],
    });
    try {
      const credentials = await loadOpenStackCredentials({ env: other.env() });
      const s = new KeystoneSession({ credentials, retry: FAST });
      expect(await s.endpoint('block-storage')).toBe(
        `${other.cinderUrl}/${other.credentials.projectId}`,
      );
      const v = await other.control.createVolume({ name: 'with-project-id' });
      const got = await new CinderClient(s).getVolume(v.id);
      expect(got?.name).toBe('with-project-id');
      const err = (await s.endpoint('compute').catch((e: unknown) => e)) as AppError;
      expect(err.code).toBe('CONFIG_INVALID');
      expect(err.message).toContain('no internal endpoint of type compute');
    } finally {
      await other.close();
    }
  });

  it('picks the configured region and interface', async () => {
    const other = await startOpenStackEmulator({
      notifier: false,
      catalog: (u) => [
        {
          type: 'block-storage',
          name: 'cinder',
          endpoints: [
            { interface: 'internal', region: 'RegionOne', url: 'http://127.0.0.1:9/v3' },
            { interface: 'public', region: 'RegionTwo', url: 'http://127.0.0.1:10/v3' },
            { interface: 'internal', region: 'RegionTwo', url: `${u.cinder}/v3/` },
          ],
        },
      ],
    });
    try {
      const env = { ...other.env(), OS_REGION_NAME: 'RegionTwo', OS_INTERFACE: 'internalURL' };
      const s = new KeystoneSession({
        credentials: await loadOpenStackCredentials({ env }),
        retry: FAST,
      });
      expect(await s.endpoint('block-storage')).toBe(other.cinderUrl);
    } finally {
      await other.close();
    }
  });
});

describe('failures', () => {
  it('retries while Keystone is down and then gives a clear OPENSTACK_UNAVAILABLE error', async () => {
    const s = await session();
    await emu.control.down('keystone');
    try {
      const err = (await s.token().catch((e: unknown) => e)) as AppError;
      expect(err.code).toBe('OPENSTACK_UNAVAILABLE');
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(
        /keystone at POST http:\/\/127\.0\.0\.1:\d+\/v3\/auth\/tokens did not answer \(ECONNREFUSED\) \(gave up after 3 attempts\)/,
      );
    } finally {
      await emu.control.up('keystone');
    }
    expect((await s.token()).value.length).toBeGreaterThan(0);
  });

  it('retries 503 and 429 (with Retry-After) on Cinder and succeeds', async () => {
    const s = await session();
    const cinder = new CinderClient(s);
    await s.token();
    const before = emu.control.requests('cinder').length;
    emu.control.fail('cinder', { status: 503, times: 1 });
    emu.control.fail('cinder', { status: 429, times: 1, headers: { 'Retry-After': '0' } });
    const page = await cinder.listVolumesPage();
    expect(Array.isArray(page.volumes)).toBe(true);
    expect(emu.control.requests('cinder').length - before).toBe(3);
  });

  it('does not retry a 404 and returns null for a missing volume', async () => {
    const s = await session();
    const before = emu.control.requests('cinder').length;
    expect(await new CinderClient(s).getVolume('00000000-0000-4000-8000-000000000000')).toBeNull();
    expect(emu.control.requests('cinder').length - before).toBe(1);
  });
});

describe('createOpenStackClients (from OS_* through the settings)', () => {
  it('builds Cinder and Nova clients that share one Keystone session', async () => {
    const c = await clientsFromEnv(emu.env('application_credential'), FAST);
    await c.cinder.listVolumesPage();
    await c.nova.getServer('00000000-0000-4000-8000-000000000002');
    expect(c.session.authentications).toBe(1);
    expect(c.credentials.auth.type).toBe('application_credential');
  });
});

describe('nova', () => {
  it('reads a server and its addresses', async () => {
    const srv = emu.control.createServer({ name: 'db01' });
    const nova = new NovaClient(await session());
    const got = await nova.getServer(srv.id);
    expect(got?.name).toBe('db01');
    expect(serverAddresses(got!, 'fixed')).toEqual(['192.168.1.30']);
    expect(await nova.getServer('00000000-0000-4000-8000-000000000001')).toBeNull();
  });
});

describe('secrets', () => {
  it('keeps the token value out of JSON', async () => {
    const t = await (await session()).token();
    expect(t.value.length).toBeGreaterThan(20);
    expect(JSON.stringify(t)).not.toContain(t.value);
  });

  it('turns a cancelled request into ABORTED, not the axios error that holds the token', async () => {
    const s = await session();
    const token = (await s.token()).value;
    emu.control.fail('cinder', { kind: 'timeout', times: 1 });
    const ac = new AbortController();
    const pending = new CinderClient(s)
      .listVolumesPage({ signal: ac.signal })
      .catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 50);
    const err = (await pending) as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('ABORTED');
    expect(JSON.stringify(err) + String(err.cause) + err.stack).not.toContain(token);
  });

  it('never logs the password, the app-credential secret or a token', async () => {
    const cap = captureLogger();
    const tokens: string[] = [];
    const run = async (kind: 'password' | 'application_credential') => {
      const credentials = await loadOpenStackCredentials({ env: emu.env(kind) });
      const s = new KeystoneSession({ credentials, retry: FAST, logger: cap.logger });
      const cinder = new CinderClient(s);
      await cinder.listVolumesPage();
      tokens.push((await s.token()).value);
      emu.control.expireAllTokens();
      await cinder.listVolumesPage(); // 401 → re-auth (logged)
      tokens.push((await s.token()).value);
      emu.control.fail('cinder', { status: 503, times: 1 });
      await cinder.listVolumesPage(); // retry (logged)
      await emu.control.down('keystone');
      emu.control.expireAllTokens();
      const err = await cinder.listVolumesPage().catch((e: unknown) => e);
      await emu.control.up('keystone');
      cap.logger.error({ err }, 'poll failed'); // what a caller does with the error
      const bad = new KeystoneSession({
        credentials: {
          ...credentials,
          auth: {
            ...credentials.auth,
            ...(kind === 'password'
              ? { password: 'Wr0ng-secret' }
              : { applicationCredentialSecret: 'Wr0ng-secret' }),
          },
        },
        retry: FAST,
        logger: cap.logger,
      });
      cap.logger.error({ err: await bad.token().catch((e: unknown) => e) }, 'auth failed');
    };
    await run('password');
    await run('application_credential');
    const text = cap.text();
    expect(cap.lines().length).toBeGreaterThan(8);
    expect(text).toContain('re-authenticating');
    expect(text).toContain('ECONNREFUSED');
    for (const secret of [
      emu.credentials.password,
      emu.credentials.applicationCredentialSecret,
      'Wr0ng-secret',
      ...tokens,
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});
