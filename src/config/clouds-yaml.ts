/**
 * clouds.yaml and secure.yaml as openstacksdk reads them: the first existing file of the
 * search path (OS_CLIENT_CONFIG_FILE, ~/.config/openstack/, /etc/openstack/; ./ only when
 * asked), one named
 * cloud from it, with the same cloud of secure.yaml (where operators keep the secrets)
 * merged over it.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../errors.js';

/** One cloud entry: the keys this service uses (others are ignored). */
export interface CloudConfig {
  auth?: Record<string, string>;
  auth_type?: string;
  region_name?: string;
  interface?: string;
  identity_api_version?: string;
  /** CA bundle to trust (OS_CACERT). */
  cacert?: string;
  /** `false` turns TLS verification off (OS_INSECURE=true). */
  verify?: string;
}

type Env = Record<string, string | undefined>;

/**
 * The openstacksdk search path for a file name (`clouds.yaml` or `secure.yaml`). The
 * working directory is searched only when `cwd` is given: a daemon never reads a
 * clouds.yaml that happens to lie where it was started.
 */
export function searchPaths(file: 'clouds.yaml' | 'secure.yaml', env: Env, cwd?: string): string[] {
  const override = env[file === 'clouds.yaml' ? 'OS_CLIENT_CONFIG_FILE' : 'OS_CLIENT_SECURE_FILE'];
  const xdg = env['XDG_CONFIG_HOME'] ?? join(env['HOME'] ?? homedir(), '.config');
  return [
    ...(override === undefined || override === '' ? [] : [override]),
    ...(cwd === undefined ? [] : [join(cwd, file)]),
    join(xdg, 'openstack', file),
    join('/etc/openstack', file),
  ];
}

async function readFirst(paths: string[]): Promise<{ path: string; text: string } | null> {
  for (const path of paths) {
    try {
      return { path, text: await readFile(path, 'utf8') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new AppError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The YAML parser, loaded when a clouds.yaml is read (every command loads this module). */
type ParseYaml = (text: string) => unknown;

/** Parses a clouds.yaml text and returns the named cloud, or null when it is not there. */
export function parseCloud(
  parse: ParseYaml,
  text: string,
  name: string,
  path: string,
): CloudConfig | null {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    // The YAML error message may quote a line holding a password: keep only its position.
    const pos = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new AppError(
      'CONFIG_INVALID',
      `${path} is not valid YAML${pos === undefined ? '' : ` (line ${pos})`}`,
    );
  }
  const clouds = isObject(doc) ? doc['clouds'] : undefined;
  if (!isObject(clouds)) return null;
  const c = clouds[name];
  if (!isObject(c)) return null;
  if (c['profile'] !== undefined) {
    throw new AppError(
      'CONFIG_INVALID',
      `${path}: cloud ${name} uses a vendor profile, which is not supported; spell out auth_url`,
    );
  }
  const out: CloudConfig = {};
  if (isObject(c['auth'])) {
    out.auth = Object.fromEntries(
      Object.entries(c['auth'])
        .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
        .map(([k, v]) => [k, String(v)]),
    );
  }
  for (const key of [
    'auth_type',
    'region_name',
    'interface',
    'identity_api_version',
    'cacert',
    'verify',
  ] as const) {
    const v = c[key];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      out[key] = String(v);
    }
  }
  return out;
}

/** Loads cloud `name` from the first clouds.yaml, with secure.yaml merged over it. */
export async function loadCloudFromFiles(
  name: string,
  options: { env: Env; paths?: string[]; securePaths?: string[] },
): Promise<{ path: string; cloud: CloudConfig }> {
  const paths = options.paths ?? searchPaths('clouds.yaml', options.env);
  const file = await readFirst(paths);
  if (file === null) {
    throw new AppError(
      'CONFIG_INVALID',
      `OS_CLOUD=${name} but no clouds.yaml found (looked in ${paths.join(', ')})`,
    );
  }
  const { parse } = await import('yaml');
  const cloud = parseCloud(parse, file.text, name, file.path);
  if (cloud === null) {
    throw new AppError('CONFIG_INVALID', `${file.path} has no cloud named ${JSON.stringify(name)}`);
  }
  const secure = await readFirst(
    options.securePaths ??
      (options.paths === undefined ? searchPaths('secure.yaml', options.env) : []),
  );
  const extra = secure === null ? null : parseCloud(parse, secure.text, name, secure.path);
  if (extra === null) return { path: file.path, cloud };
  return {
    path: file.path,
    cloud: { ...cloud, ...extra, auth: { ...(cloud.auth ?? {}), ...(extra.auth ?? {}) } },
  };
}
