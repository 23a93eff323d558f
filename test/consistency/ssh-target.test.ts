import { describe, expect, it } from 'vitest';
import { sshArgs, sshConfigText, sshKeyscanArgs } from '../../src/consistency/ssh-args.js';
import {
  assertProxyJump,
  checkTarget,
  knownHostsName,
  parseHostPort,
  parseUserHost,
  type SshTarget,
} from '../../src/consistency/ssh-target.js';

const target: SshTarget = {
  user: 'backup',
  host: '203.0.113.7',
  port: 2222,
  keyFile: '/var/lib/cinder-lvm-backup/ssh/id_ed25519',
  knownHostsFile: '/var/lib/cinder-lvm-backup/ssh/known_hosts',
  connectTimeoutSeconds: 10,
};

describe('ssh targets', () => {
  it('parses USER@HOST[:PORT] and bracketed IPv6', () => {
    expect(parseUserHost('backup@db1.example.org')).toEqual({
      user: 'backup',
      host: 'db1.example.org',
      port: 22,
    });
    expect(parseUserHost('root@10.0.0.5:2200')).toEqual({
      user: 'root',
      host: '10.0.0.5',
      port: 2200,
    });
    expect(parseHostPort('[2001:db8::5]:2222')).toEqual({ host: '2001:db8::5', port: 2222 });
    expect(parseHostPort('2001:db8::5')).toEqual({ host: '2001:db8::5', port: 22 });
  });

  it.each([
    'backup@-oProxyCommand=touch',
    'backup@host;id',
    'backup@$(id)',
    'backup@ho st',
    'back up@host',
    '-l@host',
    'backup@host:0',
    'backup@host:70000',
    'backup@host:22x',
    'backup@999.1.1.1',
    'host',
  ])('refuses %j', (text) => {
    expect(() => parseUserHost(text)).toThrow();
  });

  it('refuses unsafe paths and jump hosts', () => {
    expect(() => checkTarget({ ...target, keyFile: 'relative/key' })).toThrow();
    expect(() => checkTarget({ ...target, knownHostsFile: '/tmp/a b' })).toThrow();
    expect(() => checkTarget({ ...target, keyFile: '/tmp/../etc/shadow' })).toThrow();
    expect(() => assertProxyJump('jump;id')).toThrow();
    expect(assertProxyJump('ops@bastion.example.org')).toBe('ops@bastion.example.org:22');
  });

  it('names hosts as known_hosts does', () => {
    expect(knownHostsName('10.0.0.5', 22)).toBe('10.0.0.5');
    expect(knownHostsName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
  });

  it('checks host keys strictly, in batch mode, with the service-owned known_hosts only', () => {
    const text = sshConfigText(target);
    for (const line of [
      'BatchMode yes',
      'StrictHostKeyChecking yes',
      'UserKnownHostsFile /var/lib/cinder-lvm-backup/ssh/known_hosts',
      'GlobalKnownHostsFile none',
      'IdentitiesOnly yes',
      'PasswordAuthentication no',
      'ConnectTimeout 10',
      'ForwardAgent no',
    ]) {
      expect(text).toContain(`  ${line}\n`);
    }
    expect(text).not.toContain('ProxyJump');
  });

  it('puts the host after -- and the jump host on the command line', () => {
    const args = sshArgs({ ...target, proxyJump: 'ops@bastion:22' }, '/run/x/ssh_config', 'true');
    expect(args).toEqual([
      '-F',
      '/run/x/ssh_config',
      '-T',
      '-l',
      'backup',
      '-p',
      '2222',
      '-J',
      'ops@bastion:22',
      '--',
      '203.0.113.7',
      'true',
    ]);
    expect(sshKeyscanArgs('10.0.0.5', 22, 5)).toEqual([
      '-T',
      '5',
      '-p',
      '22',
      '-t',
      'ed25519,ecdsa,rsa',
      '--',
      '10.0.0.5',
    ]);
  });
});
