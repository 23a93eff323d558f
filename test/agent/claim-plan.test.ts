import { describe, expect, it } from 'vitest';
import { parseServedHost } from '../../src/agent/agent-options.js';
import { agentOptionsFromArgv } from '../../src/cli/agent.js';
import { settingsOf } from '../../src/config/settings.js';
import { planClaim } from '../../src/agent/claim-plan.js';

const hosts = [
  { host: 'n1@lvm', vg: 'vg1' },
  { host: 'n1@lvm2', vg: 'vg1' },
  { host: 'n1@ssd', vg: 'vg2' },
];

describe('planClaim', () => {
  it('claims any kind up to the VG limit when the VG is free', () => {
    expect(planClaim({ host: hosts[0]!, hosts, running: [], concurrency: 4, perVg: 2 })).toEqual({
      host: 'n1@lvm',
      kinds: ['backup', 'restore', 'verify', 'prune'],
      limit: 2,
    });
  });

  it('claims only verify and prune when a backup on another backend fills the same VG', () => {
    expect(
      planClaim({
        host: hosts[0]!,
        hosts,
        running: [{ host: 'n1@lvm2', kind: 'backup' }],
        concurrency: 4,
        perVg: 1,
      }),
    ).toEqual({ host: 'n1@lvm', kinds: ['verify', 'prune'], limit: 3 });
  });

  it('does not count verify jobs against the VG, but against the node', () => {
    expect(
      planClaim({
        host: hosts[2]!,
        hosts,
        running: [
          { host: 'n1@ssd', kind: 'verify' },
          { host: 'n1@lvm', kind: 'backup' },
        ],
        concurrency: 3,
        perVg: 1,
      }),
    ).toEqual({ host: 'n1@ssd', kinds: ['backup', 'restore', 'verify', 'prune'], limit: 1 });
  });

  it('claims nothing when the node is full', () => {
    expect(
      planClaim({
        host: hosts[2]!,
        hosts,
        running: [{ host: 'n1@ssd', kind: 'verify' }],
        concurrency: 1,
        perVg: 1,
      }),
    ).toBeNull();
  });
});

describe('agent options', () => {
  it('reads hosts with and without a VG, the destination and the limits', () => {
    const o = agentOptionsFromArgv(
      ['--host', 'n1@lvm', '--host', 'n1@ssd=fast-vg', '--dest', '/b', '--per-vg', '2'],
      settingsOf({}),
    );
    expect(o.hosts).toEqual([
      { host: 'n1@lvm', vg: 'cinder-volumes' },
      { host: 'n1@ssd', vg: 'fast-vg' },
    ]);
    expect(o).toMatchObject({ dest: '/b', perVg: 2, concurrency: 2, leaseSeconds: 60 });
  });

  it('falls back to CLB_AGENT_HOSTS and CLB_BACKUP_DEST', () => {
    const o = agentOptionsFromArgv(
      [],
      settingsOf({ CLB_AGENT_HOSTS: 'a@x, b@y', CLB_BACKUP_DEST: '/d' }),
    );
    expect(o.hosts.map((h) => h.host)).toEqual(['a@x', 'b@y']);
    expect(o.dest).toBe('/d');
  });

  it('takes the [agent] settings and lets the command line override them', () => {
    const settings = settingsOf({
      CLB_AGENT_HOSTS: 'a@x',
      CLB_BACKUP_DEST: '/d',
      CLB_AGENT_CONCURRENCY: '5',
      CLB_AGENT_LEASE: '2m',
      CLB_TIME_ZONE: 'Europe/Paris',
    });
    expect(agentOptionsFromArgv([], settings)).toMatchObject({
      concurrency: 5,
      leaseSeconds: 120,
      timeZone: 'Europe/Paris',
    });
    const o = agentOptionsFromArgv(['--host', 'b@y', '--concurrency', '3'], settings);
    expect(o.hosts.map((h) => h.host)).toEqual(['b@y']);
    expect(o.concurrency).toBe(3);
  });

  it.each([
    [['--dest', '/b'], /--host/],
    [['--host', 'n1@lvm'], /--dest/],
    [['--host', 'n1@lvm', '--dest', 'relative'], /--dest/],
    [['--host', 'n1', '--dest', '/b'], /HOST@BACKEND/],
    [['--host', 'n1@lvm#pool', '--dest', '/b'], /HOST@BACKEND/],
    [['--host', 'n1@lvm=a=b', '--dest', '/b'], /HOST@BACKEND/],
    [['--host', 'n1@lvm', '--dest', '/b', '--per-vg', '0'], /--per-vg/],
    [['--host', 'n1@lvm', '--dest', '/b', '--bogus', '1'], /unknown/],
  ])('refuses %j', (argv, message) => {
    expect(() => agentOptionsFromArgv(argv, settingsOf({}))).toThrow(message);
  });

  it('refuses a host with shell characters', () => {
    expect(() => parseServedHost('n1@lvm;rm')).toThrow(/HOST@BACKEND/);
  });
});
