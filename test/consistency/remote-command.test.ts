import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  freezeRemoteScript,
  mysqldumpArgs,
  mysqldumpRemoteCommand,
  quoteToken,
} from '../../src/consistency/remote-command.js';
import { runCommand } from '../../src/exec/run-command.js';

describe('remote commands', () => {
  it('dumps with a consistent snapshot, credentials only from the option file', () => {
    expect(
      mysqldumpArgs({
        databases: ['shop', 'crm'],
        optionFile: '.my.cnf',
        binlogPosition: true,
        program: 'mysqldump',
      }),
    ).toEqual([
      '--defaults-extra-file=.my.cnf',
      '--single-transaction',
      '--quick',
      '--routines',
      '--events',
      '--triggers',
      '--hex-blob',
      '--master-data=2',
      '--databases',
      'shop',
      'crm',
    ]);
    const all = mysqldumpArgs({
      databases: 'all',
      optionFile: '/etc/clb/my.cnf',
      binlogPosition: false,
      program: 'mysqldump',
    });
    expect(all).toContain('--all-databases');
    expect(all.join(' ')).not.toMatch(/--password|-p\b|--user/);
  });

  it.each(['shop;touch /tmp/x', '$(id)', '`id`', "a'b", 'a b', 'a\nb', 'a|b', 'a&b', '>x'])(
    'refuses to put %j on a remote command line',
    (token) => {
      expect(() => quoteToken(token)).toThrow(/refusing/);
      expect(() =>
        mysqldumpRemoteCommand({
          databases: [token],
          optionFile: '.my.cnf',
          binlogPosition: false,
          program: 'mysqldump',
        }),
      ).toThrow(/refusing/);
      expect(() => freezeRemoteScript([`/mnt/${token}`], 10)).toThrow(/refusing/);
    },
  );

  it('quotes every token of the script it builds', () => {
    expect(() => quoteToken('')).toThrow(/refusing/);
    const script = freezeRemoteScript(['/srv/data', '/var/lib/mysql'], 10);
    expect(script).toContain("for m in '/srv/data' '/var/lib/mysql'; do");
    expect(script).toContain("clb-thaw-guard '10' '/srv/data' '/var/lib/mysql'");
    expect(() => freezeRemoteScript([], 10)).toThrow();
    expect(() => freezeRemoteScript(['/srv'], 0)).toThrow();
  });

  it('builds scripts a POSIX shell parses, and that run nothing a value carries', async () => {
    // dash -n parses without running: a quoting mistake would be a syntax error here.
    const dump = mysqldumpRemoteCommand({
      databases: ['a-b_c'],
      optionFile: '.my.cnf',
      binlogPosition: false,
      program: 'mysqldump',
    });
    await runCommand('sh', ['-n', '-c', dump]);
    await runCommand('sh', ['-n', '-c', freezeRemoteScript(['/srv'], 10)]);
    // A quoted token is one word, whatever a later mistake let through: run the quoting
    // through a real shell with a canary in a value and see that nothing ran.
    const dir = await mkdtemp(join(tmpdir(), 'clb-canary-'));
    try {
      const canary = join(dir, 'canary');
      const word = `'${'x;touch ' + canary}'`;
      const r = await runCommand('sh', ['-c', `printf '%s\\n' ${word}`]);
      expect(r.stdout.trim()).toBe(`x;touch ${canary}`);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
