/**
 * The systemd units in deploy/systemd: `systemd-analyze verify` accepts both without a
 * warning (it exits 0 even for unknown keys and bad values, so its output must be empty),
 * and each carries what the issue asks of it (graceful stop of the agent's children,
 * journald identity and priorities, no restart on a configuration error, hardening).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '..', '..', 'deploy', 'systemd');
const AGENT = join(DIR, 'cinder-lvm-backup-agent.service');
const CONTROLLER = join(DIR, 'cinder-lvm-backup-controller.service');

function verify(
  units: string[],
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'systemd-analyze',
      ['verify', '--man=no', ...units],
      { env: { PATH: `${process.env['PATH'] ?? ''}:/usr/bin:/bin`, SYSTEMD_LOG_COLOR: '0' } },
      (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : (err.code ?? 'spawn failed'), stdout, stderr });
      },
    );
  });
}

/** The unit's `Key=value` lines of [Service], in order (a key may repeat). */
async function serviceLines(file: string): Promise<[string, string][]> {
  const text = await readFile(file, 'utf8');
  const service = text.split(/^\[Service\]$/m)[1]?.split(/^\[/m)[0] ?? '';
  return service
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
}

function valuesOf(lines: [string, string][], key: string): string[] {
  return lines.filter(([k]) => k === key).map(([, v]) => v);
}

describe('deploy/systemd units', () => {
  it('pass systemd-analyze verify without a warning', async () => {
    const r = await verify([AGENT, CONTROLLER]);
    if (r.code === 'ENOENT') {
      throw new Error(
        'systemd-analyze is not installed: it comes with the Debian package systemd ' +
          '(scripts/install-system-deps.sh installs it)',
      );
    }
    expect(r.stderr + r.stdout).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);

  it('are checked for real: a unit with an unknown key or a bad value is reported', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'clb-units-'));
    try {
      const bad = join(dir, 'clb-bad.service');
      const text = (await readFile(AGENT, 'utf8')).replace(
        /^KillMode=mixed$/m,
        'KillMode=mixd\nKilMode=mixed',
      );
      await writeFile(bad, text);
      const r = await verify([bad]);
      expect(r.stderr, r.stderr).toMatch(/Failed to parse kill mode/);
      expect(r.stderr).toMatch(/Unknown key 'KilMode'/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.each([
    ['agent', AGENT],
    ['controller', CONTROLLER],
  ])(
    '%s: stops node alone first, names itself in the journal, never restarts on exit 78',
    async (name, file) => {
      const lines = await serviceLines(file);
      expect(valuesOf(lines, 'KillMode')).toEqual(['mixed']);
      expect(valuesOf(lines, 'SyslogIdentifier')).toEqual([`cinder-lvm-backup-${name}`]);
      expect(valuesOf(lines, 'SyslogLevelPrefix')).toEqual(['yes']);
      expect(valuesOf(lines, 'Environment')).toContain('CLB_LOG_PRIORITY_PREFIX=true');
      expect(valuesOf(lines, 'RestartPreventExitStatus')).toEqual(['78']);
      expect(valuesOf(lines, 'Restart')).toEqual(['on-failure']);
      for (const key of ['ProtectSystem', 'ProtectHome', 'PrivateTmp', 'NoNewPrivileges']) {
        expect(valuesOf(lines, key), key).toEqual([key === 'ProtectSystem' ? 'strict' : 'yes']);
      }
      expect(valuesOf(lines, 'RestrictAddressFamilies')).toHaveLength(1);
    },
  );

  it('controller: no capability at all, the @system-service system calls only', async () => {
    const lines = await serviceLines(CONTROLLER);
    expect(valuesOf(lines, 'CapabilityBoundingSet')).toEqual(['']);
    expect(valuesOf(lines, 'SystemCallFilter')).toEqual(['@system-service']);
    expect(valuesOf(lines, 'User')).toEqual(['cinder-lvm-backup']);
    expect(valuesOf(lines, 'RestrictAddressFamilies')[0]?.split(' ').sort()).toEqual([
      'AF_INET',
      'AF_INET6',
      'AF_NETLINK',
      'AF_UNIX',
    ]);
  });

  it('agent: the capabilities LVM, device-mapper, mounts and restores need, and no others', async () => {
    const lines = await serviceLines(AGENT);
    const caps = (valuesOf(lines, 'CapabilityBoundingSet')[0] ?? '').split(' ').sort();
    expect(caps).toEqual(
      [
        'CAP_CHOWN',
        'CAP_DAC_OVERRIDE',
        'CAP_DAC_READ_SEARCH',
        'CAP_FOWNER',
        'CAP_FSETID',
        'CAP_IPC_LOCK',
        'CAP_MKNOD',
        'CAP_SETFCAP',
        'CAP_SYS_ADMIN',
        'CAP_SYS_CHROOT',
        'CAP_SYS_NICE',
      ].sort(),
    );
    // What the agent must not have: loading modules, raw I/O, tracing, the network stack.
    for (const cap of ['CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_PTRACE', 'CAP_NET_ADMIN']) {
      expect(caps).not.toContain(cap);
    }
    // Block devices must stay visible.
    expect(valuesOf(lines, 'PrivateDevices')).toEqual([]);
    expect(valuesOf(lines, 'ReadWritePaths').join(' ')).toContain('/etc/lvm/archive');
  });
});
