import { describe, expect, it } from 'vitest';
import {
  consistencyRequestFor,
  type AgentSshSettings,
} from '../../src/agent/consistency-request.js';
import { settingsOf } from '../../src/config/settings.js';
import { chooseInstance, parseAddressSources, type NovaServer } from '../../src/openstack/nova.js';
import { consistencyInputs } from '../../src/policy/stored-policy.js';

const SSH: AgentSshSettings = {
  user: 'backup',
  projectLogins: undefined,
  keyFile: '/etc/clb/id_ed25519',
  knownHosts: '/var/lib/clb/known_hosts',
  port: 22,
  connectTimeout: 10,
  commandTimeout: 3600,
  proxyJump: undefined,
  freezeBound: 10,
  mysqldumpDefaults: '.my.cnf',
  binlogPosition: false,
};
const AT = '2026-12-01T00:00:00.000Z';
const RESOLVED = { serverId: 's1', serverName: 'db01', address: '203.0.113.7', resolvedAt: AT };
const DUMP = consistencyInputs({ mysqldump: { databases: ['shop'] } });

describe('the consistency request of a backup job', () => {
  it('asks nothing when the policy asks no step', () => {
    expect(
      consistencyRequestFor(consistencyInputs({ excludes: [] }), RESOLVED, SSH, 'p1'),
    ).toBeNull();
  });

  it("reaches the resolved address with the node's user, key and known_hosts", () => {
    expect(consistencyRequestFor(DUMP, RESOLVED, SSH, 'p1')).toMatchObject({
      ssh: {
        user: 'backup',
        host: '203.0.113.7',
        port: 22,
        keyFile: '/etc/clb/id_ed25519',
        knownHostsFile: '/var/lib/clb/known_hosts',
      },
      mysqldump: { databases: ['shop'], optionFile: '.my.cnf' },
      freeze: null,
      level: null,
      dumpTimeoutMs: 3_600_000,
    });
  });

  it.each([
    ['no [ssh] user', DUMP, RESOLVED, { ...SSH, user: undefined }, 'CONFIG_INVALID'],
    ['no [ssh] section at all', DUMP, RESOLVED, undefined, 'CONFIG_INVALID'],
    ['not resolved yet', DUMP, null, SSH, 'INSTANCE_NOT_FOUND'],
    [
      'resolved to a reason',
      DUMP,
      { serverId: 's1', error: 'server s1 is SHUTOFF, not ACTIVE', resolvedAt: AT },
      SSH,
      'INSTANCE_NOT_FOUND',
    ],
    [
      'an address that would be an ssh option',
      DUMP,
      { ...RESOLVED, address: '-oProxyCommand=touch /tmp/x' },
      SSH,
      'INVALID_ARGUMENT',
    ],
  ] as const)(
    'keeps the steps and says why the instance is out of reach: %s',
    (_, inputs, inst, ssh, code) => {
      const req = consistencyRequestFor(inputs, inst, ssh, 'p1');
      // The steps stay asked, so the demanded level still decides (fail, or a lower level).
      expect(req?.mysqldump).toMatchObject({ databases: ['shop'] });
      expect(req?.ssh).toMatchObject({ unavailable: { code } });
    },
  );

  it('asks mysqldump for the binlog position only when [ssh] binlog_position is on', () => {
    expect(consistencyRequestFor(DUMP, RESOLVED, SSH, 'p1')?.mysqldump?.binlogPosition).toBe(false);
    const on = {
      ...SSH,
      binlogPosition: settingsOf({ CLB_SSH_BINLOG_POSITION: 'yes' }).ssh.binlogPosition,
    };
    expect(consistencyRequestFor(DUMP, RESOLVED, on, 'p1')?.mysqldump?.binlogPosition).toBe(true);
  });

  it("logs in to a project's instances as its [ssh] project_logins entry says", () => {
    const logins = settingsOf({
      CLB_SSH_USER: 'backup',
      CLB_SSH_PROJECT_LOGINS: 'p-debian=debian, p-rhel=cloud-user:/etc/clb/rhel_key',
    }).ssh.projectLogins;
    const ssh = { ...SSH, projectLogins: logins };
    expect(consistencyRequestFor(DUMP, RESOLVED, ssh, 'p-debian')?.ssh).toMatchObject({
      user: 'debian',
      keyFile: '/etc/clb/id_ed25519',
    });
    expect(consistencyRequestFor(DUMP, RESOLVED, ssh, 'p-rhel')?.ssh).toMatchObject({
      user: 'cloud-user',
      keyFile: '/etc/clb/rhel_key',
    });
    // Other projects: the node's user and key.
    expect(consistencyRequestFor(DUMP, RESOLVED, ssh, 'p1')?.ssh).toMatchObject({
      user: 'backup',
      keyFile: '/etc/clb/id_ed25519',
    });
    // A project's own login works without a node-wide user; others then have none.
    const only = { ...ssh, user: undefined };
    expect(consistencyRequestFor(DUMP, RESOLVED, only, 'p-debian')?.ssh).toMatchObject({
      user: 'debian',
    });
    expect(consistencyRequestFor(DUMP, RESOLVED, only, 'p1')?.ssh).toMatchObject({
      unavailable: { code: 'CONFIG_INVALID' },
    });
  });

  it.each([
    'p1=Root',
    'p1=backup:relative/key',
    'p1=backup:/etc/../key',
    'p1=a:b:c',
    'p1=$(touch x)',
    'not a pair',
  ])('refuses the project login %j', (entry) => {
    expect(() => settingsOf({ CLB_SSH_PROJECT_LOGINS: entry })).toThrow(/project_logins/);
  });

  it('re-checks the stored policy with the tag grammar', () => {
    const altered = consistencyInputs({
      mysqldump: { databases: ['shop; rm -rf /'] },
      freeze: { mountpoints: ['/srv', '$(reboot)'] },
      consistency: 'bogus',
    });
    expect(altered).toEqual({ mysqldump: null, freeze: null, level: null });
  });
});

describe('choosing the instance address', () => {
  const server = (over: Partial<NovaServer> = {}): NovaServer => ({
    id: 's1',
    name: 'db01',
    status: 'ACTIVE',
    tenant_id: 'p1',
    addresses: {
      private: [
        { version: 4, addr: '10.0.0.5', 'OS-EXT-IPS:type': 'fixed' },
        { version: 4, addr: '203.0.113.7', 'OS-EXT-IPS:type': 'floating' },
      ],
      storage: [{ version: 4, addr: '172.16.0.9', 'OS-EXT-IPS:type': 'fixed' }],
    },
    'os-extended-volumes:volumes_attached': [{ id: 'v1' }],
    ...over,
  });
  const vol = { id: 'v1', projectId: 'p1', serverId: 's1' };
  const src = (t: string) => parseAddressSources(t) ?? [];

  it('takes the first source that has an address', () => {
    expect(chooseInstance(vol, server(), src('floating,fixed'))).toMatchObject({
      address: '203.0.113.7',
    });
    expect(chooseInstance(vol, server(), src('fixed'))).toMatchObject({ address: '10.0.0.5' });
    expect(chooseInstance(vol, server(), src('network:storage,floating'))).toMatchObject({
      address: '172.16.0.9',
    });
  });

  it.each([
    ['a server of another project', server({ tenant_id: 'p2' }), /another project/],
    [
      'a server that does not list the volume',
      server({ 'os-extended-volumes:volumes_attached': [{ id: 'v9' }] }),
      /does not list the volume/,
    ],
    ['a server in ERROR', server({ status: 'ERROR' }), /ERROR, not ACTIVE/],
    [
      'an address that is not an IP literal',
      server({
        addresses: { x: [{ version: 4, addr: 'evil;host', 'OS-EXT-IPS:type': 'floating' }] },
      }),
      /no floating address/,
    ],
    ['no server', null, /Nova has no server s1/],
  ])('refuses %s', (_, s, reason) => {
    const c = chooseInstance(vol, s, src('floating'));
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.reason).toMatch(reason);
  });

  it('reads only well-formed source lists', () => {
    expect(parseAddressSources('floating,network:tenant-net')).toEqual([
      { kind: 'floating' },
      { kind: 'network', name: 'tenant-net' },
    ]);
    expect(parseAddressSources('public')).toBeNull();
    expect(parseAddressSources('network:a b')).toBeNull();
  });
});
