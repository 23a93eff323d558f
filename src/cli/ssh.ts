/**
 * `cinder-lvm-backup ssh add-host-key HOST[:PORT] --fingerprint SHA256:… [--known-hosts FILE]`
 * adds or rotates an instance's host key in the service's known_hosts, only when the host
 * offers a key with that fingerprint (take it from the instance's console log, where
 * cloud-init prints it, or from `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` inside).
 * `cinder-lvm-backup ssh scan HOST[:PORT]` prints the fingerprints a host offers now and
 * writes nothing, so they can be compared with what the console says.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { addHostKey, scanHostKeys } from '../consistency/add-host-key.js';
import { DEFAULT_KNOWN_HOSTS_FILE } from '../consistency/ssh-target.js';
import { AppError } from '../errors.js';
import type { Config } from '../config/settings.js';
import { EXIT_OK, printJson, type CommandContext } from './output.js';

const USAGE =
  'usage: ssh add-host-key HOST[:PORT] --fingerprint SHA256:... [--known-hosts FILE] | ssh scan HOST[:PORT]';

export async function run(argv: string[], ctx: CommandContext, _config: Config): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { fingerprint: { type: 'string' }, 'known-hosts': { type: 'string' } },
    });
  } catch (err) {
    throw new AppError('INVALID_ARGUMENT', `${(err as Error).message}\n${USAGE}`, { cause: err });
  }
  const [action, hostPort, ...extra] = parsed.positionals;
  if (hostPort === undefined || extra.length > 0) throw new AppError('INVALID_ARGUMENT', USAGE);
  if (action === 'scan') {
    const keys = await scanHostKeys(hostPort);
    if (ctx.json) printJson({ status: 'ok', keys });
    else for (const k of keys) process.stdout.write(`${k.name} ${k.type} ${k.fingerprint}\n`);
    return EXIT_OK;
  }
  if (action !== 'add-host-key') throw new AppError('INVALID_ARGUMENT', USAGE);
  if (parsed.values.fingerprint === undefined) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `--fingerprint is required: a host key is never trusted on first use\n${USAGE}`,
    );
  }
  const knownHostsFile = resolve(parsed.values['known-hosts'] ?? DEFAULT_KNOWN_HOSTS_FILE);
  const r = await addHostKey({ hostPort, fingerprint: parsed.values.fingerprint, knownHostsFile });
  if (ctx.json) {
    printJson({
      status: 'ok',
      host: r.name,
      type: r.added.type,
      fingerprint: r.added.fingerprint,
      replaced: r.replaced,
      knownHostsFile,
    });
  } else {
    process.stdout.write(
      `${r.name}: ${r.added.type} ${r.added.fingerprint} ${r.replaced > 0 ? `replaced ${r.replaced} old line(s)` : 'added'} in ${knownHostsFile}\n`,
    );
  }
  return EXIT_OK;
}
