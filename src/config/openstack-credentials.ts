/**
 * OpenStack credentials from where the `openstack` CLI reads them: the `OS_*` environment
 * variables, or `clouds.yaml` (+ `secure.yaml`) with `OS_CLOUD`, or the
 * `[service_credentials]` section of the service's own config file (settings-schema.ts).
 * Explicit values override the cloud file, as the CLI does. Errors name what is missing but
 * never echo a secret.
 */
import { AppError } from '../errors.js';
import { normalizeInterface, type EndpointInterface } from './endpoint-interface.js';
import { loadCloudFromFiles, type CloudConfig } from './clouds-yaml.js';
import type { Settings } from './settings-schema.js';

/** Password authentication (user and project by name or id, with domains). */
export interface PasswordAuth {
  type: 'password';
  username?: string;
  userId?: string;
  userDomainName?: string;
  userDomainId?: string;
  password: string;
  projectName?: string;
  projectId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
}

/** Application-credential authentication: the scope comes from the credential. */
export interface ApplicationCredentialAuth {
  type: 'application_credential';
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret: string;
  /** Needed with a credential name: whose credential it is. */
  username?: string;
  userId?: string;
  userDomainName?: string;
  userDomainId?: string;
}

export interface OpenStackCredentials {
  /** Keystone URL, with or without `/v3`. */
  authUrl: string;
  auth: PasswordAuth | ApplicationCredentialAuth;
  regionName?: string;
  interface: EndpointInterface;
  /** Where they came from, for messages (`environment`, `clouds.yaml <path> cloud <name>`). */
  source: string;
  /** TLS: a CA bundle to trust in addition to the system's, or no verification at all. */
  caFile?: string;
  insecure?: boolean;
}

type Env = Record<string, string | undefined>;

function nonEmpty(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Maps OS_* variables onto clouds.yaml keys, so both go through one builder. */
function cloudFromEnv(env: Env): CloudConfig {
  const auth: Record<string, string | undefined> = {
    auth_url: nonEmpty(env['OS_AUTH_URL']),
    username: nonEmpty(env['OS_USERNAME']),
    user_id: nonEmpty(env['OS_USER_ID']),
    password: nonEmpty(env['OS_PASSWORD']),
    user_domain_name: nonEmpty(env['OS_USER_DOMAIN_NAME']),
    user_domain_id: nonEmpty(env['OS_USER_DOMAIN_ID']),
    project_name: nonEmpty(env['OS_PROJECT_NAME']) ?? nonEmpty(env['OS_TENANT_NAME']),
    project_id: nonEmpty(env['OS_PROJECT_ID']) ?? nonEmpty(env['OS_TENANT_ID']),
    project_domain_name: nonEmpty(env['OS_PROJECT_DOMAIN_NAME']),
    project_domain_id: nonEmpty(env['OS_PROJECT_DOMAIN_ID']),
    default_domain: nonEmpty(env['OS_DEFAULT_DOMAIN']),
    application_credential_id: nonEmpty(env['OS_APPLICATION_CREDENTIAL_ID']),
    application_credential_name: nonEmpty(env['OS_APPLICATION_CREDENTIAL_NAME']),
    application_credential_secret: nonEmpty(env['OS_APPLICATION_CREDENTIAL_SECRET']),
  };
  const cloud: CloudConfig = {
    auth: Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >,
  };
  const authType = nonEmpty(env['OS_AUTH_TYPE']);
  if (authType !== undefined) cloud.auth_type = authType;
  const cacert = nonEmpty(env['OS_CACERT']);
  if (cacert !== undefined) cloud.cacert = cacert;
  const insecure = nonEmpty(env['OS_INSECURE']);
  if (insecure !== undefined && ['1', 'true', 'yes'].includes(insecure.toLowerCase())) {
    cloud.verify = 'false';
  }
  const region = nonEmpty(env['OS_REGION_NAME']);
  if (region !== undefined) cloud.region_name = region;
  const iface = nonEmpty(env['OS_INTERFACE']) ?? nonEmpty(env['OS_ENDPOINT_TYPE']);
  if (iface !== undefined) cloud.interface = iface;
  return cloud;
}

/** clouds.yaml values, overridden key by key by what the environment sets. */
function merge(base: CloudConfig, over: CloudConfig): CloudConfig {
  return {
    ...base,
    ...Object.fromEntries(Object.entries(over).filter(([k]) => k !== 'auth')),
    auth: { ...(base.auth ?? {}), ...(over.auth ?? {}) },
  };
}

function invalid(source: string, message: string): AppError {
  return new AppError('CONFIG_INVALID', `OpenStack credentials (${source}): ${message}`);
}

/** Builds credentials from one clouds.yaml-style cloud block. */
export function credentialsFromCloud(cloud: CloudConfig, source: string): OpenStackCredentials {
  const a = cloud.auth ?? {};
  const get = (k: string) => nonEmpty(a[k]);
  const authUrl = get('auth_url');
  if (authUrl === undefined) throw invalid(source, 'auth_url (OS_AUTH_URL) is not set');
  if (!/^https?:\/\//.test(authUrl)) {
    throw invalid(source, `auth_url must be an http(s) URL, got ${JSON.stringify(authUrl)}`);
  }
  const iface = normalizeInterface(cloud.interface ?? 'public');
  if (iface === null) {
    throw invalid(
      source,
      `interface must be public, internal or admin, got ${JSON.stringify(cloud.interface)}`,
    );
  }
  const identityVersion = nonEmpty(cloud.identity_api_version);
  if (identityVersion !== undefined && identityVersion !== '3') {
    throw invalid(source, `only the identity API v3 is supported, not ${identityVersion}`);
  }
  const defaultDomain = get('default_domain');
  const authType = (cloud.auth_type ?? '').toLowerCase();
  const looksAppCred =
    get('application_credential_secret') !== undefined &&
    (get('application_credential_id') !== undefined ||
      get('application_credential_name') !== undefined);
  const isAppCred =
    ['v3applicationcredential', 'applicationcredential', 'application_credential'].includes(
      authType,
    ) ||
    (authType === '' && looksAppCred);

  const user = {
    ...(get('username') === undefined ? {} : { username: get('username') }),
    ...(get('user_id') === undefined ? {} : { userId: get('user_id') }),
    ...(get('user_domain_name') === undefined ? {} : { userDomainName: get('user_domain_name') }),
    ...((get('user_domain_id') ?? defaultDomain) === undefined
      ? {}
      : { userDomainId: get('user_domain_id') ?? defaultDomain }),
  };

  let auth: PasswordAuth | ApplicationCredentialAuth;
  if (isAppCred) {
    const secret = get('application_credential_secret');
    if (secret === undefined) {
      throw invalid(
        source,
        'application_credential_secret (OS_APPLICATION_CREDENTIAL_SECRET) is not set',
      );
    }
    const id = get('application_credential_id');
    const name = get('application_credential_name');
    if (id === undefined && name === undefined) {
      throw invalid(source, 'application_credential_id or application_credential_name is required');
    }
    if (id === undefined && user.userId === undefined && user.username === undefined) {
      throw invalid(source, 'an application credential given by name needs username or user_id');
    }
    auth = {
      type: 'application_credential',
      applicationCredentialSecret: secret,
      ...(id === undefined ? {} : { applicationCredentialId: id }),
      ...(name === undefined ? {} : { applicationCredentialName: name }),
      ...user,
    };
  } else if (authType === '' || authType === 'password' || authType === 'v3password') {
    const password = get('password');
    if (password === undefined) throw invalid(source, 'password (OS_PASSWORD) is not set');
    if (user.username === undefined && user.userId === undefined) {
      throw invalid(source, 'username (OS_USERNAME) or user_id (OS_USER_ID) is required');
    }
    if (
      user.username !== undefined &&
      user.userId === undefined &&
      user.userDomainName === undefined &&
      user.userDomainId === undefined
    ) {
      throw invalid(
        source,
        'a user given by name needs user_domain_name or user_domain_id (OS_USER_DOMAIN_NAME)',
      );
    }
    const projectName = get('project_name');
    const projectId = get('project_id');
    const projectDomainName = get('project_domain_name');
    const projectDomainId = get('project_domain_id') ?? defaultDomain;
    if (
      projectName !== undefined &&
      projectId === undefined &&
      projectDomainName === undefined &&
      projectDomainId === undefined
    ) {
      throw invalid(
        source,
        'a project given by name needs project_domain_name or project_domain_id (OS_PROJECT_DOMAIN_NAME)',
      );
    }
    auth = {
      type: 'password',
      password,
      ...user,
      ...(projectName === undefined ? {} : { projectName }),
      ...(projectId === undefined ? {} : { projectId }),
      ...(projectDomainName === undefined ? {} : { projectDomainName }),
      ...(projectDomainId === undefined ? {} : { projectDomainId }),
    };
  } else {
    throw invalid(
      source,
      `auth_type ${JSON.stringify(cloud.auth_type)} is not supported (password, v3applicationcredential)`,
    );
  }
  return {
    authUrl: authUrl.replace(/\/+$/, ''),
    auth,
    ...(cloud.region_name === undefined ? {} : { regionName: cloud.region_name }),
    interface: iface,
    source,
    ...(cloud.cacert === undefined ? {} : { caFile: cloud.cacert }),
    ...(cloud.verify?.toLowerCase() === 'false' ? { insecure: true } : {}),
  };
}

/** Options of loadOpenStackCredentials (tests pass their own env and paths). */
export interface LoadCredentialsOptions {
  /** OS_* and OS_CLOUD, plus HOME / XDG_CONFIG_HOME for the clouds.yaml search path. */
  env: Env;
  /** clouds.yaml search path override (default: the openstacksdk search path). */
  cloudsYamlPaths?: string[];
  /** secure.yaml search path override (default: the openstacksdk search path). */
  secureYamlPaths?: string[];
  /** A cloud block from the service's config file; used when OS_CLOUD is not set. */
  serviceCloud?: CloudConfig;
}

/**
 * The credentials of `cloudName` in clouds.yaml (with secure.yaml merged) overridden by
 * `explicit`, or `explicit` alone when no cloud is named.
 */
async function resolveCredentials(o: {
  cloudName: string | undefined;
  explicit: CloudConfig;
  explicitSource: string;
  env: Env;
  cloudsYamlPaths?: string[] | undefined;
  secureYamlPaths?: string[] | undefined;
}): Promise<OpenStackCredentials> {
  if (o.cloudName === undefined) return credentialsFromCloud(o.explicit, o.explicitSource);
  const found = await loadCloudFromFiles(o.cloudName, {
    env: o.env,
    ...(o.cloudsYamlPaths === undefined ? {} : { paths: o.cloudsYamlPaths }),
    ...(o.secureYamlPaths === undefined ? {} : { securePaths: o.secureYamlPaths }),
  });
  return credentialsFromCloud(
    merge(found.cloud, o.explicit),
    `clouds.yaml ${found.path} cloud ${o.cloudName}`,
  );
}

/**
 * Finds the credentials from the environment: OS_CLOUD → that cloud of clouds.yaml (with
 * secure.yaml merged) overridden by explicit OS_* variables; else the service config's
 * cloud block overridden by OS_*; else the OS_* variables alone.
 */
export async function loadOpenStackCredentials(
  options: LoadCredentialsOptions,
): Promise<OpenStackCredentials> {
  const env = options.env;
  const fromEnv = cloudFromEnv(env);
  const cloudName = nonEmpty(env['OS_CLOUD']);
  return resolveCredentials({
    cloudName,
    explicit:
      cloudName === undefined && options.serviceCloud !== undefined
        ? merge(options.serviceCloud, fromEnv)
        : fromEnv,
    explicitSource: options.serviceCloud === undefined ? 'environment' : 'service configuration',
    env,
    cloudsYamlPaths: options.cloudsYamlPaths,
    secureYamlPaths: options.secureYamlPaths,
  });
}

/** The `[service_credentials]` settings (file and OS_* already merged) as a cloud block. */
export function cloudFromSettings(s: Settings['openstack']): CloudConfig {
  const auth: Record<string, string | undefined> = {
    auth_url: s.authUrl,
    username: s.username,
    user_id: s.userId,
    password: s.password,
    user_domain_name: s.userDomainName,
    user_domain_id: s.userDomainId,
    project_name: s.projectName,
    project_id: s.projectId,
    project_domain_name: s.projectDomainName,
    project_domain_id: s.projectDomainId,
    default_domain: s.defaultDomain,
    application_credential_id: s.applicationCredentialId,
    application_credential_name: s.applicationCredentialName,
    application_credential_secret: s.applicationCredentialSecret,
  };
  return {
    auth: Object.fromEntries(Object.entries(auth).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >,
    ...(s.authType === undefined ? {} : { auth_type: s.authType }),
    ...(s.regionName === undefined ? {} : { region_name: s.regionName }),
    ...(s.interface === undefined ? {} : { interface: s.interface }),
    ...(s.cafile === undefined ? {} : { cacert: s.cafile }),
    ...(s.insecure === true ? { verify: 'false' } : {}),
  };
}

/** True when the settings name a cloud or a Keystone URL: OpenStack is meant to be used. */
export function openstackConfigured(s: Settings['openstack']): boolean {
  return s.cloud !== undefined || s.authUrl !== undefined;
}

/**
 * The credentials the settings describe: `cloud` of clouds.yaml overridden by the other
 * options, or the options alone. `env` gives HOME and XDG_CONFIG_HOME for the search path
 * (never the working directory).
 */
export async function credentialsFromSettings(
  s: Settings['openstack'],
  env: Env,
): Promise<OpenStackCredentials> {
  return resolveCredentials({
    cloudName: s.cloud,
    explicit: cloudFromSettings(s),
    explicitSource: 'service configuration',
    env,
    cloudsYamlPaths: s.cloudsFile === undefined ? undefined : [s.cloudsFile],
    secureYamlPaths: s.secureFile === undefined ? undefined : [s.secureFile],
  });
}
