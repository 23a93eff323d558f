/**
 * The consistency steps the agent asks of an instance for one backup, from three sources:
 * the volume's policy (what to dump, what to freeze, the level demanded), the instance the
 * controller resolved through Nova (volumes.instance: the address, or why there is none)
 * and this node's `[ssh]` settings (user and key, or the volume's project's own login from
 * `project_logins`; known_hosts, port, timeouts, jump host).
 * Pure. When the policy asks for a step but the instance cannot be reached, the request
 * still carries the steps with the reason, so the backup fails (the policy demands the
 * level) or goes on and records the lower level reached and why.
 */
import type { ConsistencyRequest, SshUnavailable } from '../consistency/consistency-steps.js';
import { assertRemotePath } from '../consistency/remote-command.js';
import { checkTarget, DEFAULT_SSH_KEY_FILE } from '../consistency/ssh-target.js';
import type { Settings } from '../config/settings-schema.js';
import type { VolumeInstance } from '../db/volumes.js';
import { toAppError } from '../errors.js';
import type { ConsistencyInputs } from '../policy/stored-policy.js';

/** The `[ssh]` settings the agent reads. */
export type AgentSshSettings = Pick<
  Settings['ssh'],
  | 'user'
  | 'projectLogins'
  | 'keyFile'
  | 'knownHosts'
  | 'port'
  | 'connectTimeout'
  | 'commandTimeout'
  | 'proxyJump'
  | 'freezeBound'
  | 'mysqldumpDefaults'
  | 'binlogPosition'
>;

function unavailable(code: SshUnavailable['unavailable']['code'], message: string): SshUnavailable {
  return { unavailable: { code, message } };
}

/** The login for instances of `projectId`: its `[ssh] project_logins` entry, else the
 * node's user and key; undefined when neither names a user. */
function loginFor(
  ssh: AgentSshSettings | undefined,
  projectId: string,
): { user: string; keyFile: string } | undefined {
  const own = ssh?.projectLogins?.find(([p]) => p === projectId)?.[1];
  const user = own?.user ?? ssh?.user;
  if (user === undefined) return undefined;
  return { user, keyFile: own?.keyFile ?? ssh?.keyFile ?? DEFAULT_SSH_KEY_FILE };
}

/** Null when the policy asks for no step (a crash-consistent backup, as before). */
export function consistencyRequestFor(
  inputs: ConsistencyInputs,
  instance: VolumeInstance | null,
  ssh: AgentSshSettings | undefined,
  projectId: string,
): ConsistencyRequest | null {
  if (inputs.mysqldump === null && inputs.freeze === null) return null;
  let target: ConsistencyRequest['ssh'];
  const login = loginFor(ssh, projectId);
  if (ssh === undefined || login === undefined) {
    target = unavailable(
      'CONFIG_INVALID',
      `neither [ssh] user nor a project_logins entry for project ${projectId} is set on this storage node, so no instance can be reached`,
    );
  } else if (instance === null) {
    target = unavailable(
      'INSTANCE_NOT_FOUND',
      'the controller has not resolved the instance of this volume yet (Nova)',
    );
  } else if ('error' in instance) {
    target = unavailable('INSTANCE_NOT_FOUND', instance.error);
  } else {
    try {
      target = checkTarget({
        user: login.user,
        host: instance.address,
        port: ssh.port,
        keyFile: login.keyFile,
        knownHostsFile: ssh.knownHosts,
        connectTimeoutSeconds: Math.round(ssh.connectTimeout),
        ...(ssh.proxyJump === undefined ? {} : { proxyJump: ssh.proxyJump }),
      });
    } catch (err) {
      const e = toAppError(err);
      target = unavailable(e.code, e.message);
    }
  }
  return {
    ssh: target,
    mysqldump:
      inputs.mysqldump === null
        ? null
        : {
            databases: inputs.mysqldump.databases,
            optionFile: assertRemotePath(ssh?.mysqldumpDefaults ?? '.my.cnf'),
            binlogPosition: ssh?.binlogPosition ?? false,
            program: 'mysqldump',
          },
    freeze:
      inputs.freeze === null
        ? null
        : {
            mountpoints: inputs.freeze.mountpoints,
            ...(ssh === undefined ? {} : { boundSeconds: Math.round(ssh.freezeBound) }),
          },
    level: inputs.level,
    ...(ssh === undefined ? {} : { dumpTimeoutMs: Math.round(ssh.commandTimeout * 1000) }),
  };
}
