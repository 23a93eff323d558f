/**
 * `ssh add-host-key` against a real sshd: the key is written only when its fingerprint is
 * the one the operator gave; a rotation replaces the host's old line; ssh then connects.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addHostKey } from '../../src/consistency/add-host-key.js';
import { prepareSsh, runSsh } from '../../src/consistency/ssh-session.js';
import { startSshd, type SshdInstance } from './helpers/sshd-instance.js';

let sshd: SshdInstance;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'clb-hostkey-'));
  sshd = await startSshd();
});

afterAll(async () => {
  await sshd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('add-host-key', () => {
  it('refuses a fingerprint the host does not offer and writes nothing', async () => {
    const file = join(work, 'refused', 'known_hosts');
    await expect(
      addHostKey({
        hostPort: `127.0.0.1:${sshd.port}`,
        fingerprint: 'SHA256:' + 'A'.repeat(43),
        knownHostsFile: file,
      }),
    ).rejects.toMatchObject({ code: 'SSH_HOST_KEY_CHANGED' });
    await expect(readFile(file, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(
      addHostKey({ hostPort: `127.0.0.1:${sshd.port}`, fingerprint: 'yes', knownHostsFile: file }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('adds the key with the given fingerprint, replaces an old one, and ssh then trusts it', async () => {
    const dir = join(work, 'rotate');
    const file = join(dir, 'known_hosts');
    await mkdir(dir, { recursive: true });
    await writeFile(
      file,
      `other.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld\n[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIStale\n`,
    );
    const r = await addHostKey({
      hostPort: `127.0.0.1:${sshd.port}`,
      fingerprint: sshd.hostKeyFingerprint,
      knownHostsFile: file,
    });
    expect(r).toMatchObject({ name: `[127.0.0.1]:${sshd.port}`, replaced: 1 });
    const text = await readFile(file, 'utf8');
    expect(text).toBe(
      `other.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld\n${sshd.knownHostsLine}\n`,
    );
    const ep = await prepareSsh(sshd.target({ knownHostsFile: file }), dir);
    expect((await runSsh(ep, 'echo trusted', { timeoutMs: 30_000 })).stdout).toBe('trusted\n');
  }, 60_000);
});
