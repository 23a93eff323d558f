import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchPaths } from '../../src/config/clouds-yaml.js';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import type { AppError } from '../../src/errors.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clb-clouds-'));
  await writeFile(
    join(dir, 'clouds.yaml'),
    [
      'clouds:',
      '  prod:',
      '    auth:',
      '      auth_url: https://keystone.example:5000/v3/',
      '      username: backupsvc',
      '      user_domain_name: Default',
      '      project_name: admin',
      '      project_domain_id: default',
      '    region_name: RegionTwo',
      '    interface: internal',
      '    identity_api_version: 3',
      '  appcred:',
      '    auth_type: v3applicationcredential',
      '    auth:',
      '      auth_url: http://keystone.example:5000',
      '      application_credential_id: 423f19a4ac1e4f48bbb4180756e6eb6c',
      '      application_credential_secret: rEaqvJka48mpv',
      '  tls:',
      '    cacert: /etc/ssl/private-ca.pem',
      '    verify: false',
      '    auth:',
      '      auth_url: https://k:5000/v3',
      '      user_id: u1',
      '      password: p',
      '  vendor:',
      '    profile: vexxhost',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'secure.yaml'),
    ['clouds:', '  prod:', '    auth:', '      password: fr0m-secure-yaml', ''].join('\n'),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const paths = () => ({
  cloudsYamlPaths: [join(dir, 'missing.yaml'), join(dir, 'clouds.yaml')],
  secureYamlPaths: [join(dir, 'secure.yaml')],
});

describe('OS_* environment variables', () => {
  it('make password credentials with user and project domains', async () => {
    const c = await loadOpenStackCredentials({
      env: {
        OS_AUTH_URL: 'http://k:5000/v3',
        OS_USERNAME: 'u',
        OS_PASSWORD: 'p',
        OS_USER_DOMAIN_NAME: 'Default',
        OS_PROJECT_NAME: 'admin',
        OS_PROJECT_DOMAIN_NAME: 'Default',
        OS_REGION_NAME: 'RegionOne',
      },
    });
    expect(c.auth).toEqual({
      type: 'password',
      username: 'u',
      password: 'p',
      userDomainName: 'Default',
      projectName: 'admin',
      projectDomainName: 'Default',
    });
    expect(c.interface).toBe('public');
    expect(c.regionName).toBe('RegionOne');
    expect(c.source).toBe('environment');
  });

  it('make application-credential credentials when the auth type says so', async () => {
    const c = await loadOpenStackCredentials({
      env: {
        OS_AUTH_TYPE: 'v3applicationcredential',
        OS_AUTH_URL: 'http://k:5000',
        OS_APPLICATION_CREDENTIAL_ID: 'abc',
        OS_APPLICATION_CREDENTIAL_SECRET: 's3',
        OS_INTERFACE: 'internal',
      },
    });
    expect(c.auth).toEqual({
      type: 'application_credential',
      applicationCredentialId: 'abc',
      applicationCredentialSecret: 's3',
    });
    expect(c.interface).toBe('internal');
  });

  it('refuse incomplete settings with a message that names what is missing, not the secret', async () => {
    const err = (await loadOpenStackCredentials({
      env: { OS_AUTH_URL: 'http://k:5000', OS_USERNAME: 'u', OS_PASSWORD: 'hunter2-secret' },
    }).catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('user_domain_name');
    expect(err.message).not.toContain('hunter2-secret');
    const none = (await loadOpenStackCredentials({ env: {} }).catch((e: unknown) => e)) as AppError;
    expect(none.message).toContain('OS_AUTH_URL');
  });
});

describe('clouds.yaml with OS_CLOUD', () => {
  it('reads the named cloud from the first existing file and merges secure.yaml', async () => {
    const c = await loadOpenStackCredentials({ env: { OS_CLOUD: 'prod' }, ...paths() });
    expect(c.authUrl).toBe('https://keystone.example:5000/v3');
    expect(c.auth).toMatchObject({
      type: 'password',
      username: 'backupsvc',
      password: 'fr0m-secure-yaml',
      projectDomainId: 'default',
    });
    expect(c.regionName).toBe('RegionTwo');
    expect(c.interface).toBe('internal');
    expect(c.source).toBe(`clouds.yaml ${join(dir, 'clouds.yaml')} cloud prod`);
  });

  it('lets explicit OS_* variables override the file', async () => {
    const c = await loadOpenStackCredentials({
      env: { OS_CLOUD: 'prod', OS_PASSWORD: 'from-env', OS_REGION_NAME: 'RegionOne' },
      ...paths(),
    });
    expect(c.auth).toMatchObject({ password: 'from-env' });
    expect(c.regionName).toBe('RegionOne');
  });

  it('reads application credentials from a cloud entry', async () => {
    const c = await loadOpenStackCredentials({ env: { OS_CLOUD: 'appcred' }, ...paths() });
    expect(c.auth.type).toBe('application_credential');
  });

  it('reads the TLS settings cacert and verify', async () => {
    const c = await loadOpenStackCredentials({ env: { OS_CLOUD: 'tls' }, ...paths() });
    expect(c.caFile).toBe('/etc/ssl/private-ca.pem');
    expect(c.insecure).toBe(true);
    const e = await loadOpenStackCredentials({
      env: { OS_AUTH_URL: 'https://k', OS_USER_ID: 'u', OS_PASSWORD: 'p', OS_CACERT: '/ca.pem' },
    });
    expect(e.caFile).toBe('/ca.pem');
    expect(e.insecure).toBeUndefined();
  });

  it('says which files it searched when the cloud or the file is missing', async () => {
    const missing = (await loadOpenStackCredentials({
      env: { OS_CLOUD: 'nope' },
      ...paths(),
    }).catch((e: unknown) => e)) as AppError;
    expect(missing.message).toContain('no cloud named "nope"');
    const noFile = (await loadOpenStackCredentials({
      env: { OS_CLOUD: 'prod' },
      cloudsYamlPaths: [join(dir, 'absent.yaml')],
    }).catch((e: unknown) => e)) as AppError;
    expect(noFile.message).toContain(join(dir, 'absent.yaml'));
    const vendor = (await loadOpenStackCredentials({
      env: { OS_CLOUD: 'vendor' },
      ...paths(),
    }).catch((e: unknown) => e)) as AppError;
    expect(vendor.message).toContain('vendor profile');
  });

  it('searches OS_CLIENT_CONFIG_FILE, the working directory, the XDG dir, then /etc', () => {
    const p = searchPaths(
      'clouds.yaml',
      { OS_CLIENT_CONFIG_FILE: '/x/c.yaml', XDG_CONFIG_HOME: '/home/u/.cfg' },
      '/work',
    );
    expect(p).toEqual([
      '/x/c.yaml',
      '/work/clouds.yaml',
      '/home/u/.cfg/openstack/clouds.yaml',
      '/etc/openstack/clouds.yaml',
    ]);
  });
});

describe('the service config cloud block', () => {
  it('is used when OS_CLOUD is not set, with OS_* overriding it', async () => {
    const c = await loadOpenStackCredentials({
      env: { OS_PASSWORD: 'env-pass' },
      serviceCloud: {
        auth: {
          auth_url: 'http://k:5000/v3',
          user_id: 'abc123',
          password: 'config-pass',
          project_id: 'p1',
        },
      },
    });
    expect(c.auth).toMatchObject({ userId: 'abc123', password: 'env-pass', projectId: 'p1' });
    expect(c.source).toBe('service configuration');
  });
});
