/**
 * An "instance" for the storage-node guest's consistency case: the real sshd of
 * test/consistency/helpers on a loopback port, reached from the guest as 10.0.2.100:22
 * through the restricted forward; the real MariaDB behind it (mysqldump runs on this host,
 * as it would inside the instance, with its credentials in an option file only); and an
 * ext4 filesystem on a loop device of its own, mounted under a temporary directory, as the
 * mount point the backup freezes (never one of the host's own filesystems).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/exec/run-command.js';
import { createTestDatabase, type TestDatabase } from '../consistency/helpers/mariadb.js';
import { startSshd, type SshdInstance } from '../consistency/helpers/sshd-instance.js';
import type { GuestForward } from './guest.js';

/** Where the guest reaches the instance (run-guest.sh's forward address). */
export const GUEST_INSTANCE_ADDRESS = '10.0.2.100';

export interface GuestInstance {
  sshd: SshdInstance;
  db: TestDatabase;
  /** The frozen mount point, as the instance (this host) names it. */
  freezeMount: string;
  forward: GuestForward;
  /** The environment roundtrip.sh's consistency case reads. */
  env: Record<string, string>;
  /**
   * Whether the frozen filesystem was still frozen (then it thaws it): `fsfreeze -u` of a
   * filesystem that is not frozen fails with EINVAL, which is the answer "thawed".
   */
  wasFrozen(): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startGuestInstance(rows = 3000): Promise<GuestInstance> {
  if (process.getuid?.() !== 0) throw new Error('the guest instance needs root (sshd, mount)');
  const dir = await mkdtemp(join(tmpdir(), 'clb-guest-instance-'));
  let loop: string | null = null;
  let sshd: SshdInstance | null = null;
  let db: TestDatabase | null = null;
  const freezeMount = join(dir, 'srv');
  const stop = async (): Promise<void> => {
    await runCommand('fsfreeze', ['-u', freezeMount], { okExitCodes: [0, 1] }).catch(
      () => undefined,
    );
    if (loop !== null) {
      await runCommand('umount', [freezeMount]).catch(() => undefined);
      await runCommand('losetup', ['-d', loop]).catch(() => undefined);
    }
    await db?.drop();
    await sshd?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const image = join(dir, 'srv.img');
    await runCommand('truncate', ['-s', '32M', image]);
    await runCommand('mkfs.ext4', ['-q', '-F', image]);
    loop = (await runCommand('losetup', ['-f', '--show', image])).stdout.trim();
    await mkdir(freezeMount);
    await runCommand('mount', [loop, freezeMount]);
    sshd = await startSshd();
    db = await createTestDatabase(dir, rows);
    // The guest connects to 10.0.2.100 port 22: its known_hosts names the host that way.
    const knownHosts = join(dir, 'guest_known_hosts');
    const blob = sshd.knownHostsLine.split(' ').slice(1).join(' ');
    await writeFile(knownHosts, `${GUEST_INSTANCE_ADDRESS} ${blob}\n`, { mode: 0o600 });
    return {
      sshd,
      db,
      freezeMount,
      forward: { guestPort: 22, hostPort: sshd.port },
      env: {
        CLB_CT_SSH: `root@${GUEST_INSTANCE_ADDRESS}`,
        CLB_CT_KEY: sshd.clientKey,
        CLB_CT_KNOWN_HOSTS: knownHosts,
        CLB_CT_DEFAULTS: db.optionFile,
        CLB_CT_FREEZE: freezeMount,
      },
      wasFrozen: async () => {
        const r = await runCommand('fsfreeze', ['-u', freezeMount], { okExitCodes: [0, 1] });
        if (r.exitCode === 0) return true;
        if (/Invalid argument/.test(r.stderr)) return false;
        throw new Error(`fsfreeze -u ${freezeMount}: ${r.stderr}`);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
