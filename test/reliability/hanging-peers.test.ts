/**
 * An SSH target and a mail server that accept the connection and then hang, each a TCP
 * server on 127.0.0.1: one never speaks, the other sends its greeting (the SSH banner,
 * SMTP's 220) and then stalls. Driven through the real CLI.
 *
 * SSH: `backup --device … --ssh … --mysqldump all --connect-timeout 3`. Demanding
 * application consistency, the backup fails with SSH_UNREACHABLE; with `--consistency crash`
 * (a policy that accepts less) it goes on and succeeds without the dump. Either way within
 * the connect timeout: ssh's ConnectTimeout covers a server that says nothing (connect and
 * banner exchange); one that stalls after its banner (key exchange) was held until ssh's
 * keepalive gave up (ServerAliveInterval × ServerAliveCountMax, 15 s), and is now stopped
 * by the session's own wall-clock bound (src/consistency/ssh-session.ts spawnSsh).
 *
 * SMTP: `report --send` with `[mail] timeout` 4 s (CLB_MAIL_TIMEOUT). The mail is not sent
 * (exit 1) within that greeting timeout (server silent) or the socket's idle timeout, twice
 * it (server stalls after its greeting), and it stays recorded as pending for the
 * controller to retry.
 *
 * Then: no ssh process of the test's targets is left, nor any child of the commands.
 */
import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMailReports } from '../../src/db/mail-reports.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { LoopDevices } from '../engine/helpers/loop-devices.js';
import { printFigures, waitUntil } from './figures.js';

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'clb-rel-peers-'));
const devices = new LoopDevices(work);
const CONNECT_TIMEOUT_S = 3;
/** `[mail] timeout`: nodemailer's connection and greeting timeouts; its idle one is twice. */
const MAIL_TIMEOUT_S = 4;
const MAIL_GREETING_S = MAIL_TIMEOUT_S;
const MAIL_SOCKET_S = 2 * MAIL_TIMEOUT_S;
/** Seconds a client may hold a connection past its timeout (timer granularity, load). */
const SLACK_S = 3;

let source = '';
let db: FreshDatabase;
const servers: Server[] = [];
const sockets = new Set<Socket>();

interface Peer {
  port: number;
  /** When each connection was accepted and when the client closed it (ms). */
  connections: { opened: number; closed: number | null }[];
}

/** A server that accepts, writes `greeting` (if any) and then never says anything. */
async function hangingServer(greeting: string | null): Promise<Peer> {
  const connections: Peer['connections'] = [];
  const server = createServer((socket) => {
    const c = { opened: Date.now(), closed: null as number | null };
    connections.push(c);
    sockets.add(socket);
    socket.on('error', () => undefined);
    // Reads (and ignores) what the client says, so its close is seen at once.
    socket.resume();
    socket.on('close', () => {
      c.closed = Date.now();
      sockets.delete(socket);
    });
    if (greeting !== null) socket.write(greeting);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, connections };
}

/** How long the client held its connections to `peer` open, at most (seconds). */
function heldSeconds(peer: Peer, count: number): number {
  expect(peer.connections).toHaveLength(count);
  return Math.max(
    ...peer.connections.map((c) => {
      expect(c.closed, 'the client closed the connection').not.toBeNull();
      return ((c.closed ?? Infinity) - c.opened) / 1000;
    }),
  );
}

interface Run {
  exitCode: number | undefined;
  timedOut: boolean;
  json: {
    status?: string;
    error?: { code?: string; message?: string };
    consistency?: string;
    sent?: boolean;
  };
  seconds: number;
  pid: number;
}

async function cli(args: string[], env: Record<string, string>): Promise<Run> {
  const t0 = Date.now();
  const child = execa(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args, '--json'], {
    cwd: ROOT,
    env: { CLB_LOG_LEVEL: 'warn', ...env },
    reject: false,
    timeout: 120_000,
    killSignal: 'SIGKILL',
  });
  const r = await child;
  let json: Run['json'] = {};
  try {
    json = JSON.parse(r.stdout) as Run['json'];
  } catch {
    json = {};
  }
  return {
    exitCode: r.exitCode,
    timedOut: r.timedOut,
    json,
    seconds: (Date.now() - t0) / 1000,
    pid: child.pid as number,
  };
}

/** Processes whose command line names one of `ports` (an ssh to a hanging target). */
async function processesFor(ports: number[]): Promise<string[]> {
  const r = await execa('ps', ['-e', '-o', 'pid=,args='], { reject: false });
  return r.stdout
    .split('\n')
    .filter(
      (l) =>
        /\bssh\b/.test(l) &&
        ports.some((p) => l.includes(`127.0.0.1:${p}`) || l.includes(`-p ${p}`)),
    );
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('this scenario needs root (a loop device)');
  db = await freshDatabase({ prefix: 'clb_rel_peers' });
  source = await devices.create(16, 'source');
  await execa('mkfs.ext4', ['-q', '-L', 'rel-peers', source]);
  const edit = join(work, 'edit');
  await devices.mount(source, edit);
  await writeFile(join(edit, 'data.txt'), 'data\n');
  await devices.umount(edit);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'key')]);
  await writeFile(join(work, 'known_hosts'), '', { mode: 0o600 });
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await db?.drop();
  await devices.cleanup();
  await rm(work, { recursive: true, force: true });
});

describe('SSH target and mail server that accept and then hang', () => {
  it('are bounded by their timeouts and leave no process behind', async () => {
    const sshSilent = await hangingServer(null);
    const sshStall = await hangingServer('SSH-2.0-OpenSSH_9.2p1 clb-stall\r\n');
    const smtpSilent = await hangingServer(null);
    const smtpStall = await hangingServer('220 clb-stall.example ESMTP\r\n');

    const backup = (port: number, dest: string, extra: string[] = []): Promise<Run> =>
      cli(
        [
          'backup',
          '--device',
          source,
          '--dest',
          join(work, dest),
          '--ssh',
          `root@127.0.0.1:${port}`,
          '--ssh-key',
          join(work, 'key'),
          '--known-hosts',
          join(work, 'known_hosts'),
          '--connect-timeout',
          String(CONNECT_TIMEOUT_S),
          '--mysqldump',
          'all',
          ...extra,
        ],
        { CLB_RUN_DIR: join(work, `run-${dest}`) },
      );
    const report = (port: number): Promise<Run> =>
      cli(['report', '--send'], {
        DATABASE_URL: db.url,
        CLB_SMTP_URL: `smtp://127.0.0.1:${port}`,
        CLB_MAIL_FROM: 'backup@cloud.example',
        CLB_MAIL_TO: 'ops@cloud.example',
        CLB_MAIL_TIMEOUT: String(MAIL_TIMEOUT_S),
      });

    // All at once: each waits on its own peer.
    const [silent, stall, stallCrash, mailSilent, mailStall] = await Promise.all([
      backup(sshSilent.port, 'silent'),
      backup(sshStall.port, 'stall'),
      backup(sshStall.port, 'stall-crash', ['--consistency', 'crash']),
      report(smtpSilent.port),
      report(smtpStall.port),
    ]);

    expect(silent).toMatchObject({ timedOut: false, exitCode: 1 });
    expect(silent.json.error?.code).toBe('SSH_UNREACHABLE');
    expect(stall).toMatchObject({ timedOut: false, exitCode: 1 });
    expect(stall.json.error?.code).toBe('SSH_UNREACHABLE');
    // A policy that accepts crash consistency: the dump is given up, the backup made.
    expect(stallCrash).toMatchObject({ timedOut: false, exitCode: 0 });
    expect(stallCrash.json).toMatchObject({ status: 'ok', dump: null });

    expect(mailSilent).toMatchObject({ timedOut: false, exitCode: 1 });
    expect(mailSilent.json).toMatchObject({ status: 'failed', sent: false });
    expect(mailStall).toMatchObject({ timedOut: false, exitCode: 1 });
    expect(mailStall.json).toMatchObject({ status: 'failed', sent: false });
    // Not lost: both mails stay recorded, unsent, with the reason, for the leader to retry.
    const mails = await listMailReports(db.pool);
    expect(mails).toHaveLength(2);
    for (const m of mails) {
      expect(m.sentAt).toBeNull();
      expect(m.lastError).toMatch(/^sending mail via smtp:\/\/127\.0\.0\.1:/);
    }

    // How long each client held on to the hanging peer: its timeout, not more.
    await waitUntil(
      'the clients closed their connections',
      () =>
        Promise.resolve(
          [sshSilent, sshStall, smtpSilent, smtpStall].every((p) =>
            p.connections.every((c) => c.closed !== null),
          ),
        ),
      5_000,
    );
    const held = {
      sshSilent: heldSeconds(sshSilent, 1),
      sshStall: heldSeconds(sshStall, 2),
      smtpSilent: heldSeconds(smtpSilent, 1),
      smtpStall: heldSeconds(smtpStall, 1),
    };
    expect(held.sshSilent).toBeLessThan(CONNECT_TIMEOUT_S + SLACK_S);
    // Not ssh's keepalive bound (15 s): the session's connect timeout.
    expect(held.sshStall).toBeLessThan(CONNECT_TIMEOUT_S + SLACK_S);
    expect(stall.json.error?.message).toMatch(/did not open within the 3 s connect timeout/);
    expect(held.smtpSilent).toBeLessThan(MAIL_GREETING_S + SLACK_S);
    expect(held.smtpStall).toBeLessThan(MAIL_SOCKET_S + SLACK_S);
    const slowest = Math.max(
      ...[silent, stall, stallCrash, mailSilent, mailStall].map((r) => r.seconds),
    );

    const left = await processesFor([sshSilent.port, sshStall.port]);
    expect(left).toEqual([]);
    const children = await execa(
      'pgrep',
      ['-P', [silent, stall, stallCrash, mailSilent, mailStall].map((r) => r.pid).join(',')],
      { reject: false },
    );
    expect(children.stdout.trim()).toBe('');

    printFigures(
      'hanging-peers',
      `ssh accept-silent ${held.sshSilent.toFixed(1)} s (ConnectTimeout ${CONNECT_TIMEOUT_S} s), ` +
        `ssh banner-stall ${held.sshStall.toFixed(1)} s (connect_timeout ${CONNECT_TIMEOUT_S} s, wall clock; ` +
        `application demanded: SSH_UNREACHABLE, crash accepted: backed up without the dump), ` +
        `smtp accept-silent ${held.smtpSilent.toFixed(1)} s ([mail] timeout ${MAIL_GREETING_S} s), ` +
        `smtp greeting-stall ${held.smtpStall.toFixed(1)} s (idle timeout 2 × ${MAIL_TIMEOUT_S} s), ` +
        `slowest command ${slowest.toFixed(1)} s with node startup, ` +
        `2 mails kept pending, ${left.length} processes left`,
    );
  }, 150_000);
});
