/**
 * Adds or rotates an instance's host key in the service's known_hosts, never on trust: the
 * operator gives the fingerprint (from the instance's console or its cloud-init output),
 * `ssh-keyscan` fetches the keys, and only a key with that fingerprint is written. A host
 * that offers no such key is refused and the file is left as it was.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { runCommand } from '../exec/run-command.js';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { fsyncDir } from '../engine/durable-file.js';
import { sshKeyscanArgs } from './ssh-args.js';
import {
  normalizeFingerprint,
  parseKeyscan,
  replaceHostKeys,
  type HostKey,
} from './known-hosts.js';
import { assertSafePath, knownHostsName, parseHostPort } from './ssh-target.js';

export interface AddHostKeyRequest {
  /** `HOST[:PORT]` or `[IPV6]:PORT`. */
  hostPort: string;
  fingerprint: string;
  knownHostsFile: string;
  timeoutSeconds?: number;
  logger?: Logger;
}

export interface AddHostKeyResult {
  name: string;
  added: HostKey;
  /** Lines for this host that were there before (rotation) and are now replaced. */
  replaced: number;
}

/** The keys a host offers now, as `ssh-keyscan` sees them. */
export async function scanHostKeys(hostPort: string, timeoutSeconds = 5): Promise<HostKey[]> {
  const { host, port } = parseHostPort(hostPort);
  const name = knownHostsName(host, port);
  const r = await runCommand('ssh-keyscan', sshKeyscanArgs(host, port, timeoutSeconds), {
    timeoutMs: (timeoutSeconds + 5) * 1000,
    okExitCodes: [0, 1],
  });
  const keys = parseKeyscan(r.stdout, name);
  if (keys.length === 0) {
    throw new AppError(
      'SSH_UNREACHABLE',
      `ssh-keyscan got no host key from ${name}${r.stderr.trim() ? `: ${r.stderr.trim().slice(-300)}` : ''}`,
    );
  }
  return keys;
}

export async function addHostKey(req: AddHostKeyRequest): Promise<AddHostKeyResult> {
  const file = assertSafePath('known_hosts file', req.knownHostsFile);
  const wanted = normalizeFingerprint(req.fingerprint);
  if (wanted === null) {
    throw new AppError(
      'INVALID_ARGUMENT',
      '--fingerprint must be SHA256:<43 base64 characters>, as `ssh-keygen -lf` prints it',
    );
  }
  const keys = await scanHostKeys(req.hostPort, req.timeoutSeconds);
  const match = keys.find((k) => k.fingerprint === wanted);
  const name = keys[0]?.name ?? req.hostPort;
  if (match === undefined) {
    throw new AppError(
      'SSH_HOST_KEY_CHANGED',
      `${name} offers no host key with fingerprint ${wanted} (it offers ${keys
        .map((k) => `${k.type} ${k.fingerprint}`)
        .join(', ')}); nothing was written`,
    );
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const before = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const replaced = before
    .split('\n')
    .filter(
      (l) => !l.startsWith('#') && (l.trim().split(/\s+/)[0] ?? '').split(',').includes(name),
    ).length;
  const tmp = `${file}.partial`;
  await writeFile(tmp, replaceHostKeys(before, name, [match]), { mode: 0o600 });
  await rename(tmp, file);
  await fsyncDir(dirname(file));
  req.logger?.info(
    { host: name, type: match.type, fingerprint: match.fingerprint, replaced },
    'host key added',
  );
  return { name, added: match, replaced };
}
