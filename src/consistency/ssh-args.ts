/**
 * The OpenSSH client's config file and argument array for one target. Pure, so tests read
 * exactly what will run. The options live in a config file passed with `-F` because ssh
 * hands only `-F` on to the ssh it starts for a ProxyJump host: the jump connection gets
 * the same known_hosts, strict host key checking, key and timeouts as the instance.
 */
import { knownHostsName, type SshTarget } from './ssh-target.js';

/** Seconds between keepalives, and how many may go unanswered, before ssh gives up. */
export const SERVER_ALIVE_INTERVAL_SECONDS = 5;
export const SERVER_ALIVE_COUNT_MAX = 3;

/**
 * ssh_config text for a checked target. `Host *` applies to the jump host too, which is the
 * point; ProxyJump itself is on the command line, or the jump would jump through itself.
 */
export function sshConfigText(t: SshTarget): string {
  const lines = [
    'Host *',
    'BatchMode yes',
    'StrictHostKeyChecking yes',
    `UserKnownHostsFile ${t.knownHostsFile}`,
    'GlobalKnownHostsFile none',
    'CheckHostIP no',
    'UpdateHostKeys no',
    'HashKnownHosts no',
    `IdentityFile ${t.keyFile}`,
    'IdentitiesOnly yes',
    'IdentityAgent none',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PreferredAuthentications publickey',
    `ConnectTimeout ${t.connectTimeoutSeconds}`,
    `ServerAliveInterval ${SERVER_ALIVE_INTERVAL_SECONDS}`,
    `ServerAliveCountMax ${SERVER_ALIVE_COUNT_MAX}`,
    'ConnectionAttempts 1',
    'ControlMaster no',
    'ControlPath none',
    'ForwardAgent no',
    'ForwardX11 no',
    'ClearAllForwardings yes',
    'PermitLocalCommand no',
    'RequestTTY no',
    'LogLevel ERROR',
  ];
  return lines.map((l, i) => (i === 0 ? l : `  ${l}`)).join('\n') + '\n';
}

/** ssh's argv: config, user, port, optional jump, then `--`, the host and the command. */
export function sshArgs(t: SshTarget, configFile: string, remoteCommand: string): string[] {
  return [
    '-F',
    configFile,
    '-T',
    '-l',
    t.user,
    '-p',
    String(t.port),
    ...(t.proxyJump === undefined ? [] : ['-J', t.proxyJump]),
    '--',
    t.host,
    remoteCommand,
  ];
}

/** ssh-keyscan's argv for one host (the key types OpenSSH offers today). */
export function sshKeyscanArgs(host: string, port: number, timeoutSeconds: number): string[] {
  return ['-T', String(timeoutSeconds), '-p', String(port), '-t', 'ed25519,ecdsa,rsa', '--', host];
}

export { knownHostsName };
