/**
 * Where and how to reach an instance over SSH, checked. Values that come from a tenant or
 * from Nova (addresses, names) end up on ssh's command line and in its config file, so each
 * is held to a strict grammar here before anything runs.
 */
import { AppError } from '../errors.js';

/** An instance to reach: the operator's user and key, the address, optional jump host. */
export interface SshTarget {
  user: string;
  host: string;
  port: number;
  /** The operator's private key (absolute path on the storage node). */
  keyFile: string;
  /** The service-owned known_hosts file (absolute path). */
  knownHostsFile: string;
  /** `[user@]host[:port]` of a jump host, when the storage node cannot reach the instance. */
  proxyJump?: string;
  /** Seconds allowed for the TCP connect and the SSH handshake. */
  connectTimeoutSeconds: number;
}

export const DEFAULT_SSH_PORT = 22;
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
/** Where the service keeps the host keys it trusts (`ssh add-host-key` writes it). */
export const DEFAULT_KNOWN_HOSTS_FILE = '/var/lib/cinder-lvm-backup/ssh/known_hosts';
export const DEFAULT_SSH_KEY_FILE = '/var/lib/cinder-lvm-backup/ssh/id_ed25519';

const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
/** Paths we write into ssh's config and argv: absolute, no spaces, quotes or `%`. */
const SAFE_PATH = /^\/[A-Za-z0-9._@+/-]{0,1023}$/;

function invalid(what: string, value: string): AppError {
  return new AppError(
    'INVALID_ARGUMENT',
    `${what} ${JSON.stringify(value.slice(0, 80))} is not acceptable`,
  );
}

/** A host name, an IPv4 address or an IPv6 address (without brackets). */
export function assertHost(host: string): string {
  if (IPV4.test(host)) return host;
  if (host.includes(':')) {
    if (IPV6.test(host) && host.split(':').length >= 3) return host;
    throw invalid('SSH host', host);
  }
  const labels = host.split('.');
  if (
    host.length > 253 ||
    labels.some((l) => !LABEL.test(l)) ||
    /^\d+$/.test(labels.at(-1) ?? '')
  ) {
    throw invalid('SSH host', host);
  }
  return host;
}

export function assertUser(user: string): string {
  if (!USER.test(user)) throw invalid('SSH user', user);
  return user;
}

export function assertPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('SSH port', String(port));
  return port;
}

/** An absolute path of safe characters (key files, known_hosts, ssh config). */
export function assertSafePath(what: string, path: string): string {
  if (!SAFE_PATH.test(path) || path.split('/').includes('..')) throw invalid(what, path);
  return path;
}

/** `HOST[:PORT]` or `[IPV6]:PORT` → host and port. */
export function parseHostPort(
  text: string,
  defaultPort = DEFAULT_SSH_PORT,
): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) {
    return {
      host: assertHost(bracketed[1] as string),
      port: assertPort(bracketed[2] === undefined ? defaultPort : Number(bracketed[2])),
    };
  }
  const colons = text.split(':').length - 1;
  if (colons >= 2) return { host: assertHost(text), port: defaultPort };
  const [host = '', port] = text.split(':');
  if (port !== undefined && !/^\d{1,5}$/.test(port)) throw invalid('SSH port', port);
  return {
    host: assertHost(host),
    port: assertPort(port === undefined ? defaultPort : Number(port)),
  };
}

/** `USER@HOST[:PORT]` → its parts. */
export function parseUserHost(
  text: string,
  defaultPort = DEFAULT_SSH_PORT,
): { user: string; host: string; port: number } {
  const at = text.indexOf('@');
  if (at <= 0) throw invalid('SSH destination (USER@HOST[:PORT])', text);
  return { user: assertUser(text.slice(0, at)), ...parseHostPort(text.slice(at + 1), defaultPort) };
}

/** A ProxyJump value `[user@]host[:port]`, checked part by part and rebuilt. */
export function assertProxyJump(text: string): string {
  const at = text.indexOf('@');
  const user = at >= 0 ? assertUser(text.slice(0, at)) : null;
  const { host, port } = parseHostPort(at >= 0 ? text.slice(at + 1) : text);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return `${user === null ? '' : `${user}@`}${hostPart}:${port}`;
}

/** Checks every field of a target (as built by the CLI, the agent or from a job). */
export function checkTarget(t: SshTarget): SshTarget {
  assertUser(t.user);
  assertHost(t.host);
  assertPort(t.port);
  assertSafePath('SSH key file', t.keyFile);
  assertSafePath('known_hosts file', t.knownHostsFile);
  if (
    !Number.isInteger(t.connectTimeoutSeconds) ||
    t.connectTimeoutSeconds < 1 ||
    t.connectTimeoutSeconds > 300
  ) {
    throw invalid('SSH connect timeout', String(t.connectTimeoutSeconds));
  }
  return t.proxyJump === undefined ? { ...t } : { ...t, proxyJump: assertProxyJump(t.proxyJump) };
}

/** How known_hosts names a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === DEFAULT_SSH_PORT ? host : `[${host}]:${port}`;
}

/** The target as people read it in logs and errors: `user@host:port`. */
export function describeTarget(t: Pick<SshTarget, 'user' | 'host' | 'port'>): string {
  return `${t.user}@${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}
