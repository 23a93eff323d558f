/**
 * A real OpenSSH server (Debian's openssh-server) on a loopback port, with its own config,
 * host key, authorized key and pid file in a private temporary directory: the "instance"
 * the consistency steps SSH into. Also the operator's client key and a known_hosts file
 * holding the server's key, as `ssh add-host-key` would write it.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../../src/exec/run-command.js';
import { fingerprintOf } from '../../../src/consistency/known-hosts.js';
import type { SshTarget } from '../../../src/consistency/ssh-target.js';

export const SSHD = '/usr/sbin/sshd';

export interface SshdInstance {
  dir: string;
  port: number;
  hostKeyFingerprint: string;
  /** `[127.0.0.1]:port ssh-ed25519 AAAA…` */
  knownHostsLine: string;
  clientKey: string;
  knownHosts: string;
  /** A target for this server as root with the client key. */
  target(overrides?: Partial<SshTarget>): SshTarget;
  /** Log lines sshd wrote so far. */
  log(): string;
  stop(): Promise<void>;
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitForBanner(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('data', (d) => {
        c.destroy();
        resolve(d.toString().startsWith('SSH-'));
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`sshd did not come up on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function keygen(path: string): Promise<string> {
  await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'clb-test', '-f', path]);
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

/** Starts sshd; `extraConfig` lines go at the end of its config (before any Match). */
export async function startSshd(opts: { extraConfig?: string[] } = {}): Promise<SshdInstance> {
  if (!existsSync(SSHD)) {
    throw new Error(`${SSHD} is missing: install openssh-server (scripts/install-system-deps.sh)`);
  }
  if (process.getuid?.() !== 0) throw new Error('the sshd tests run sshd as root');
  // sshd's privilege separation directory; Debian's service unit makes it at boot.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(tmpdir(), 'clb-sshd-'));
  await chmod(dir, 0o700);
  const hostPub = await keygen(join(dir, 'host_ed25519'));
  const clientPub = await keygen(join(dir, 'client_ed25519'));
  await writeFile(join(dir, 'authorized_keys'), clientPub + '\n', { mode: 0o600 });
  const port = await freePort();
  const hostKeyBlob = hostPub.split(' ')[1] as string;
  const knownHostsLine = `[127.0.0.1]:${port} ssh-ed25519 ${hostKeyBlob}`;
  await writeFile(join(dir, 'known_hosts'), knownHostsLine + '\n', { mode: 0o600 });
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_ed25519')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // The temporary directory is below the world-writable /tmp.
    'StrictModes no',
    'LogLevel VERBOSE',
    ...(opts.extraConfig ?? []),
  ];
  await writeFile(join(dir, 'sshd_config'), config.join('\n') + '\n', { mode: 0o600 });
  const child: ResultPromise = execa(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], {
    reject: false,
    stdin: 'ignore',
    buffer: false,
  });
  let logText = '';
  child.stderr?.on('data', (d: Buffer) => (logText += d.toString()));
  child.stdout?.resume();
  try {
    await waitForBanner(port, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}: ${logText}`, { cause: err });
  }
  return {
    dir,
    port,
    hostKeyFingerprint: fingerprintOf(hostKeyBlob),
    knownHostsLine,
    clientKey: join(dir, 'client_ed25519'),
    knownHosts: join(dir, 'known_hosts'),
    target: (o = {}) => ({
      user: 'root',
      host: '127.0.0.1',
      port,
      keyFile: join(dir, 'client_ed25519'),
      knownHostsFile: join(dir, 'known_hosts'),
      // Bounds the whole session start (connect to the remote shell's first line, see
      // spawnSsh), not only the TCP connect: on this shared 2-core machine at load 18 that
      // took 8.3 s for a loopback sshd.
      connectTimeoutSeconds: 30,
      ...o,
    }),
    log: () => logText,
    stop: async () => {
      child.kill('SIGTERM');
      await child;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
