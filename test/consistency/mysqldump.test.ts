/**
 * mysqldump inside an "instance" (a real sshd on a loopback port) against the real MariaDB,
 * streamed back into the engine's one pass: consistency under concurrent writes, and each
 * way it can fail, with its reason and no secret in the log.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabases, DUMP_FILE } from '../../src/consistency/mysqldump.js';
import type { MysqldumpCommand } from '../../src/consistency/remote-command.js';
import { prepareSsh, type SshEndpoint } from '../../src/consistency/ssh-session.js';
import type { SshTarget } from '../../src/consistency/ssh-target.js';
import { runCommand } from '../../src/exec/run-command.js';
import {
  createTestDatabase,
  sql,
  startWriter,
  tableChecksums,
  TABLES,
  type TestDatabase,
} from './helpers/mariadb.js';
import { freePort, startSshd, type SshdInstance } from './helpers/sshd-instance.js';
import { captureLog } from './helpers/log-capture.js';

let sshd: SshdInstance;
let db: TestDatabase;
let work: string;
const logs = captureLog();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'clb-dump-'));
  sshd = await startSshd();
  db = await createTestDatabase(work);
});

afterAll(async () => {
  await db?.drop();
  await sshd?.stop();
  await rm(work, { recursive: true, force: true });
  // The dump user's password never reaches a log line, whatever failed above.
  expect(logs.text()).not.toContain(db.password);
});

function command(over: Partial<MysqldumpCommand> = {}): MysqldumpCommand {
  return {
    databases: [db.name],
    optionFile: db.optionFile,
    binlogPosition: false,
    program: 'mysqldump',
    ...over,
  };
}

async function endpoint(over: Partial<SshTarget> = {}): Promise<SshEndpoint> {
  const dir = await mkdtemp(join(work, 'run-'));
  return prepareSsh(sshd.target(over), dir);
}

async function dumpInto(
  ep: SshEndpoint,
  cmd: MysqldumpCommand,
  timeoutMs = 120_000,
  onProgress?: (bytes: number) => void,
) {
  const dir = await mkdtemp(join(work, 'backup-'));
  const run = dumpDatabases({
    endpoint: ep,
    command: cmd,
    dir,
    cwd: dir,
    compression: { level: 3, threads: 1 },
    timeoutMs,
    logger: logs.logger,
    ...(onProgress ? { onProgress } : {}),
  });
  return { dir, run };
}

/** No ssh or mysqldump of ours is left running. */
async function leftovers(marker: string): Promise<string[]> {
  const r = await runCommand('ps', ['-ww', '-eo', 'pid,args']);
  return r.stdout.split('\n').filter((l) => l.includes(marker) && !l.includes('ps -eo'));
}

describe('mysqldump over ssh', () => {
  it('stores a dump taken while the database is written to, and it restores with the checksums of its consistent point', async () => {
    const writer = startWriter(db.name);
    while (writer.committed() < 20) await new Promise((r) => setTimeout(r, 50));
    const { dir, run } = await dumpInto(await endpoint(), command());
    const result = await run;
    const finalSeq = await writer.stop();

    expect(await readdir(dir)).toEqual([DUMP_FILE]);
    expect(result.archive.format).toBe('sql+zstd');
    expect(result.archive.bytes).toBeGreaterThan(1000);
    const sha = (await runCommand('sha256sum', [join(dir, DUMP_FILE)])).stdout.split(' ')[0];
    expect(result.archive.sha256).toBe(sha);

    const text = (await runCommand('zstd', ['-dc', join(dir, DUMP_FILE)])).stdout;
    expect(result.archive.uncompressedBytes).toBe(Buffer.byteLength(text));
    expect(text).toMatch(/-- Dump completed/);
    const fresh = `${db.name}_r`;
    await sql(`CREATE DATABASE ${fresh};`);
    try {
      const loadable = text
        .replace(/^CREATE DATABASE .*$/m, '')
        .replace(new RegExp(`^USE \`${db.name}\`;$`, 'm'), '');
      await sql(loadable, fresh);
      const point = Number((await sql('SELECT MAX(seq) FROM orders;', fresh)).trim());
      expect(point).toBeGreaterThanOrEqual(20);
      expect(point).toBeLessThan(finalSeq);
      // One consistent point for every table: what --single-transaction promises.
      for (const t of TABLES) {
        expect(Number((await sql(`SELECT MAX(seq) FROM ${t};`, fresh)).trim())).toBe(point);
      }
      expect(await tableChecksums(fresh, point)).toEqual(await tableChecksums(db.name, point));
      const count = (await sql('SELECT n FROM order_count;', fresh)).trim();
      expect(count).toBe((await sql('SELECT COUNT(*) FROM orders;', fresh)).trim());
      expect(await sql(`SHOW TRIGGERS;`, fresh)).toContain('count_orders');
      expect(await sql(`SHOW PROCEDURE STATUS WHERE Db = '${fresh}';`, fresh)).toContain(
        'add_item',
      );
    } finally {
      await sql(`DROP DATABASE ${fresh};`);
    }
  }, 240_000);

  it('dumps `all` databases the option file user can see', async () => {
    const { dir, run } = await dumpInto(await endpoint(), command({ databases: 'all' }));
    await run;
    const text = (await runCommand('zstd', ['-dc', join(dir, DUMP_FILE)])).stdout;
    expect(text).toContain(`CREATE DATABASE /*!32312 IF NOT EXISTS*/ \`${db.name}\``);
  }, 120_000);

  it('fails with the reason when the option file is missing, and stores nothing', async () => {
    const { dir, run } = await dumpInto(
      await endpoint(),
      command({ optionFile: join(work, 'absent.cnf') }),
    );
    await expect(run).rejects.toMatchObject({
      code: 'DUMP_FAILED',
      message: expect.stringMatching(/option file with the credentials is missing/) as string,
    });
    expect(await readdir(dir)).toEqual([]);
  }, 120_000);

  it('fails with the reason when mysqldump is not installed in the instance', async () => {
    const { run } = await dumpInto(
      await endpoint(),
      command({ program: 'mysqldump-not-installed' }),
    );
    await expect(run).rejects.toMatchObject({
      code: 'DUMP_FAILED',
      message: expect.stringMatching(/not installed in the instance/) as string,
    });
  }, 120_000);

  it('refuses an unknown host key', async () => {
    const ep = await endpoint({ knownHostsFile: join(work, 'empty_known_hosts') });
    const { run } = await dumpInto(ep, command());
    await expect(run).rejects.toMatchObject({ code: 'SSH_HOST_KEY_UNKNOWN' });
  }, 120_000);

  it('refuses a changed host key', async () => {
    // known_hosts holds another key for this host: a rotated key, or someone in between.
    await runCommand('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-f',
      join(work, 'other_key'),
    ]);
    const other = (await readFile(join(work, 'other_key.pub'), 'utf8')).split(' ');
    const changed = join(work, 'changed_known_hosts');
    await writeFile(changed, `[127.0.0.1]:${sshd.port} ${other[0]} ${other[1]}\n`);
    const { run } = await dumpInto(await endpoint({ knownHostsFile: changed }), command());
    await expect(run).rejects.toMatchObject({ code: 'SSH_HOST_KEY_CHANGED' });
  }, 120_000);

  it('reports a refused connection', async () => {
    const { run } = await dumpInto(await endpoint({ port: await freePort() }), command());
    await expect(run).rejects.toMatchObject({
      code: 'SSH_UNREACHABLE',
      message: expect.stringMatching(/refused/) as string,
    });
  }, 120_000);

  it('reports a connection that times out (a server that never answers)', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const { run } = await dumpInto(await endpoint({ port, connectTimeoutSeconds: 2 }), command());
      await expect(run).rejects.toMatchObject({
        code: 'SSH_UNREACHABLE',
        message: expect.stringMatching(/timed out/) as string,
      });
    } finally {
      silent.close();
    }
  }, 120_000);

  it('reports a user the instance refuses', async () => {
    const { run } = await dumpInto(await endpoint({ user: 'clbnosuchuser' }), command());
    await expect(run).rejects.toMatchObject({ code: 'SSH_AUTH_FAILED' });
  }, 120_000);

  it('fails a dump that stalls past its time limit and leaves no process behind', async () => {
    // Another session holds a write lock: the dump's first read waits on it.
    const locker = execa('mysql', ['-h', '127.0.0.1', '-uroot', db.name], {
      stdin: 'pipe',
      reject: false,
    });
    locker.stdin?.write('LOCK TABLES orders WRITE; SELECT SLEEP(60);\n');
    await new Promise((r) => setTimeout(r, 1000));
    try {
      const { dir, run } = await dumpInto(await endpoint(), command(), 8_000);
      await expect(run).rejects.toMatchObject({
        code: 'DUMP_FAILED',
        message: expect.stringMatching(/did not finish/) as string,
      });
      expect(await readdir(dir)).toEqual([]);
      await new Promise((r) => setTimeout(r, 2000));
      expect(await leftovers(db.optionFile)).toEqual([]);
    } finally {
      locker.kill('SIGKILL');
      await locker;
    }
  }, 120_000);

  /** Runs a dump and SIGKILLs the first process in the instance whose command line matches. */
  async function dumpKilling(victim: RegExp): Promise<{ err: unknown; dir: string }> {
    let streamed = 0;
    const { dir, run } = await dumpInto(
      await endpoint(),
      command(),
      120_000,
      (n) => (streamed = n),
    );
    let killed = false;
    const killer = (async () => {
      // Once the dump is streaming (a MiB through), so the stream is cut, not absent.
      while (streamed < 1 << 20) await new Promise((r) => setTimeout(r, 10));
      for (let i = 0; i < 400 && !killed; i++) {
        const line = (await leftovers(db.optionFile)).find((l) => victim.test(l));
        const pid = line?.trim().split(/\s+/)[0];
        if (pid) {
          await runCommand('kill', ['-KILL', pid]);
          killed = true;
        } else await new Promise((r) => setTimeout(r, 25));
      }
    })();
    const err = await run.then(
      () => null,
      (e: unknown) => e,
    );
    await killer;
    expect(killed).toBe(true);
    return { err, dir };
  }

  describe('with enough rows that the dump is still streaming when it is killed', () => {
    beforeAll(async () => {
      await sql(
        `INSERT INTO notes (seq, payload) SELECT 0, REPEAT('y', 190) FROM orders a, (SELECT 1 FROM orders LIMIT 60) b;`,
        db.name,
      );
    }, 120_000);

    it('fails a dump whose mysqldump is killed midway: truncated, nothing stored, nothing left running', async () => {
      const { err, dir } = await dumpKilling(/^\s*\d+ mysqldump /);
      expect(err).toMatchObject({
        code: 'DUMP_FAILED',
        message: expect.stringMatching(/truncated .*killed by signal 9/) as string,
      });
      expect(await readdir(dir)).toEqual([]);
      expect(await leftovers(db.optionFile)).toEqual([]);
    }, 120_000);

    it('fails a dump whose session in the instance is killed midway', async () => {
      const { err, dir } = await dumpKilling(
        // The session mark's line comes first (spawnSsh); ps shows the newline as one character.
        /^\s*\d+ (?:ba|da)?sh -c printf '%s\\n' clb-session-open >&2.exec 3/,
      );
      expect(err).toMatchObject({
        code: 'DUMP_FAILED',
        message: expect.stringMatching(
          /truncated .*SSH session ended without an exit status/,
        ) as string,
      });
      expect(await readdir(dir)).toEqual([]);
      // The dump itself saw its reader go and stopped (SIGPIPE or the watcher).
      await new Promise((r) => setTimeout(r, 1500));
      expect(await leftovers(db.optionFile)).toEqual([]);
    }, 120_000);
  });
});
