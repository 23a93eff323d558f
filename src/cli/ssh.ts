/**
 * `cinder-lvm-backup ssh add-host-key HOST[:PORT] --fingerprint SHA256:… [--known-hosts FILE]`
 * adds or rotates an instance's host key in the service's known_hosts, only when the host
 * offers a key with that fingerprint (take it from the instance's console log, where
 * cloud-init prints it, or from `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` inside).
 * `cinder-lvm-backup ssh scan HOST[:PORT]` prints the fingerprints a host offers now and
 * writes nothing, so they can be compared with what the console says.
 */
import { resolve } from 'node:path';
import { addHostKey, scanHostKeys } from '../consistency/add-host-key.js';
import { DEFAULT_KNOWN_HOSTS_FILE } from '../consistency/ssh-target.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
import type { Config } from '../config/settings.js';
import { EXIT_OK, printJson, type CommandContext } from './output.js';

const OPTIONS = {
  fingerprint: {
    kind: 'string',
    arg: 'SHA256:...',
    help: 'the key fingerprint the console or the instance shows (required to add)',
  },
  'known-hosts': {
    kind: 'string',
    arg: 'FILE',
    help: `the service's known_hosts (default ${DEFAULT_KNOWN_HOSTS_FILE})`,
  },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'ssh',
  usage: [
    'ssh add-host-key HOST[:PORT] --fingerprint SHA256:... [--known-hosts FILE]',
    'ssh scan HOST[:PORT]',
  ],
  description:
    "add-host-key adds or rotates an instance's host key in the service's known_hosts, only\n" +
    'when the host offers a key with that fingerprint (take it from the console log, where\n' +
    'cloud-init prints it). scan prints the fingerprints a host offers now, writing nothing.',
  options: OPTIONS,
  positionals: { min: 2, max: 2 },
  examples: [
    'ssh scan 10.0.0.5',
    'ssh add-host-key 10.0.0.5 --fingerprint SHA256:2cG5k1Yf…',
    'ssh add-host-key 10.0.0.5:2222 --fingerprint SHA256:2cG5k1Yf… --known-hosts /tmp/kh',
  ],
};

export async function run(argv: string[], ctx: CommandContext, _config: Config): Promise<number> {
  const parsed = parseCommandArgs(spec, argv);
  const [action, hostPort = ''] = parsed.positionals;
  if (action === 'scan') {
    const keys = await scanHostKeys(hostPort);
    if (ctx.json) printJson({ status: 'ok', keys });
    else for (const k of keys) process.stdout.write(`${k.name} ${k.type} ${k.fingerprint}\n`);
    return EXIT_OK;
  }
  if (action !== 'add-host-key') {
    throw usageError(spec, `unknown ssh action "${action?.slice(0, 40) ?? ''}"`);
  }
  if (parsed.values.fingerprint === undefined) {
    throw usageError(spec, '--fingerprint is required: a host key is never trusted on first use');
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
