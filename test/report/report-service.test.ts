/**
 * The mail reports against a real SMTP server on loopback and a real Postgres: the daily
 * report arrives once with correct headers, both parts and the right totals; a server
 * that is down delays it without touching the backups' path; failure mails are batched.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { recordDestinationSpace } from '../../src/db/destination-space.js';
import { listMailReports } from '../../src/db/mail-reports.js';
import { markBackupPruned } from '../../src/db/backups.js';
import { REDACT_PATHS } from '../../src/log.js';
import { smtpMailer } from '../../src/report/mailer.js';
import {
  REPORT_SERVICE_DEFAULTS,
  ReportService,
  type ReportServiceOptions,
} from '../../src/report/report-service.js';
import { parseSmtpUrl } from '../../src/report/smtp-settings.js';
import { wallClockOf } from '../../src/policy/time-zone.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { startSmtpSink, type SmtpSink } from './smtp-sink.js';
import { dailyVolume, failedBackup, successfulBackup } from './report-fixtures.js';

const ZONE = 'Europe/Paris';
let db: FreshDatabase;
let sink: SmtpSink;

beforeAll(async () => {
  db = await freshDatabase();
  sink = await startSmtpSink();
});
afterAll(async () => {
  await sink?.close();
  await db?.drop();
});
beforeEach(async () => {
  // Each test starts from an empty catalog and outbox (the volumes stay referenced by nothing).
  await db.pool.query('TRUNCATE mail_reports, destination_space, backups, jobs CASCADE');
  await db.pool.query('DELETE FROM volumes');
  sink.mails.length = 0;
});

/** The report time that fell due a minute ago on the wall clock of ZONE. */
function reportTimeJustPassed(): { hour: number; minute: number } {
  const wall = new Date(wallClockOf(Date.now() - 60_000, ZONE));
  return { hour: wall.getUTCHours(), minute: wall.getUTCMinutes() };
}

function service(port: number, over: Partial<ReportServiceOptions> = {}): ReportService {
  return new ReportService({
    pool: db.pool,
    sendMail: smtpMailer({ server: parseSmtpUrl(`smtp://127.0.0.1:${port}`), timeoutSeconds: 1 }),
    from: 'backup@cloud.example',
    to: ['oncall@cloud.example', 'ops@cloud.example'],
    reportAt: reportTimeJustPassed(),
    timeZone: ZONE,
    ...REPORT_SERVICE_DEFAULTS,
    failureIntervalSeconds: 3600,
    tooOldGraceSeconds: 3600,
    settleSeconds: 0,
    retryBaseSeconds: 1,
    retryCapSeconds: 1,
    ...over,
  });
}

const GiB = 2 ** 30;

async function fillCatalog(): Promise<void> {
  const now = Date.now();
  const web = await dailyVolume(db.pool, 'web');
  const long = await dailyVolume(db.pool, 'long-run');
  const broken = await dailyVolume(db.pool, 'db');
  const old = await dailyVolume(db.pool, 'archive');
  await successfulBackup(db.pool, web, {
    start: new Date(now - 3 * 3600_000),
    seconds: 95,
    bytesRead: 2 * GiB,
    bytesWritten: GiB,
  });
  // 1 h 15 min 30 s: the old script printed this as "1 h 75 m".
  const pruneMe = await successfulBackup(db.pool, long, {
    start: new Date(now - 30 * 3600_000),
    seconds: 60,
    bytesRead: GiB,
    bytesWritten: GiB / 2,
  });
  await successfulBackup(db.pool, long, {
    start: new Date(now - 2 * 3600_000),
    seconds: 4530,
    bytesRead: 8 * GiB,
    bytesWritten: 3 * GiB,
  });
  await markBackupPruned(db.pool, pruneMe);
  await db.pool.query('UPDATE backups SET pruned_at = $2 WHERE id = $1', [
    pruneMe,
    new Date(now - 3600_000),
  ]);
  await failedBackup(db.pool, broken, {
    at: new Date(now - 3600_000),
    code: 'SNAPSHOT_OVERFLOW',
    message: 'the snapshot filled up (invalidated) while it was read',
  });
  await successfulBackup(db.pool, old, {
    start: new Date(now - 4 * 86_400_000),
    seconds: 30,
    bytesRead: GiB,
    bytesWritten: GiB,
  });
  await recordDestinationSpace(db.pool, {
    node: 'node1',
    dest: '/srv/backups',
    sizeBytes: 1000 * GiB,
    freeBytes: 250 * GiB,
  });
}

describe('daily report', () => {
  it('arrives with correct headers, a text and an HTML part, and the right totals', async () => {
    await fillCatalog();
    const svc = service(sink.port);
    await svc.queueDailyReport();
    await svc.sendDue();
    expect(sink.mails).toHaveLength(1);
    const m = sink.mails[0]!;
    expect(m.from).toBe('backup@cloud.example');
    expect(m.to).toEqual(['oncall@cloud.example', 'ops@cloud.example']);
    expect(m.headers.get('from')).toBe('backup@cloud.example');
    expect(m.headers.get('to')).toBe('oncall@cloud.example, ops@cloud.example');
    expect(m.headers.get('subject')).toMatch(
      /^\[cinder-lvm-backup\] 1 failed, 1 too old, 2 ok \(\d{4}-\d\d-\d\d\)$/,
    );
    expect(m.headers.get('auto-submitted')).toBe('auto-generated');
    expect(m.headers.get('message-id')).toMatch(/^<clb-daily-\d+-\d+@cloud\.example>$/);
    expect(Number.isNaN(Date.parse(m.headers.get('date') ?? ''))).toBe(false);
    expect(m.headers.get('mime-version')).toBe('1.0');
    expect(m.headers.get('content-type')).toMatch(/^multipart\/alternative; boundary=/);
    // Header names end at the colon ("To:", never "To :").
    expect(m.headerLines.filter((l) => /^[A-Za-z-]+ +:/.test(l))).toEqual([]);

    expect(m.text).toContain('Volumes: 1 failed, 1 too old, 2 ok');
    expect(m.text).toMatch(/FAILED {2}db \([0-9a-f-]+\) {2}project project-a/);
    expect(m.text).toContain('SNAPSHOT_OVERFLOW: the snapshot filled up');
    expect(m.text).toMatch(
      /TOO OLD {2}archive .*\n\s+last good backup \d d \d+ h ago; daily allows 1 d/,
    );
    expect(m.text).toMatch(/long-run .* ok\s+1 ok\s+1 h 15 min\s+8\.0 GiB\s+3\.0 GiB/);
    expect(m.text).not.toMatch(/\b75 min/);
    expect(m.text).toContain(
      '3 backup runs: 2 ok, 1 failed, 0 cancelled; 10.0 GiB read, 4.0 GiB stored',
    );
    expect(m.text).toContain('1 backup pruned by retention (512.0 MiB)');
    expect(m.text).toMatch(/node1\s+\/srv\/backups\s+250\.0 GiB\s+1000\.0 GiB\s+25%/);
    expect(m.text).toMatch(/first backup started .*, last ended .*: \d+ h \d+ min/);

    // Nothing is stranded: no section for it.
    expect(m.text).not.toContain('STRANDED');
    expect(m.html).toContain('<h3>Problems (2)</h3>');
    expect(m.html).toContain('<td>1 h 15 min</td>');
    expect(m.html).toContain('1 failed, 1 too old, 2 ok');

    const [row] = await listMailReports(db.pool);
    expect(row).toMatchObject({ kind: 'daily', state: 'sent', attempts: 1, lastError: null });
    expect(row?.messageId).toBe(m.headers.get('message-id'));
    expect(row?.smtpResponse).toMatch(/^250/);
    expect(row?.summary).toMatchObject({ failed: 1, tooOld: 1, ok: 2 });
  });

  it('lists the stranded backups: count, volume, holder, when its agent was last seen, why', async () => {
    await fillCatalog();
    await db.pool.query('DELETE FROM agent_heartbeats');
    const now = Date.now();
    const day = 86_400_000;
    const heartbeat = (agent: string, host: string, seen: Date) =>
      db.pool.query(
        `INSERT INTO agent_heartbeats (agent_id, hosts, started_at, last_seen_at)
         VALUES ($1, $2, $3, $3)`,
        [agent, [host], seen],
      );
    const heldBy = (ids: number[], host: string) =>
      db.pool.query('UPDATE backups SET backend_host = $2 WHERE id = ANY($1)', [ids, host]);
    const figures = (start: Date) => ({ start, seconds: 60, bytesRead: GiB, bytesWritten: GiB });
    // Moved to node1 (Cinder migrated it); two backups stay on node0, whose agent is gone.
    const moved = await dailyVolume(db.pool, 'moved<b>');
    await heldBy(
      [
        await successfulBackup(db.pool, moved, figures(new Date(now - 3 * day))),
        await successfulBackup(db.pool, moved, figures(new Date(now - 2 * day))),
      ],
      'node0@lvm',
    );
    await heartbeat('node0-1-aa', 'node0@lvm', new Date(now - 2 * day));
    // Deleted; its backup is on node9, whose agent never ran.
    const gone = await dailyVolume(db.pool, 'gone');
    await heldBy(
      [await successfulBackup(db.pool, gone, figures(new Date(now - day)))],
      'node9@lvm',
    );
    await db.pool.query('UPDATE volumes SET deleted_at = now() WHERE id = $1', [gone]);
    // Held elsewhere, but that node's agent was seen an hour ago: its agent can prune it.
    const fresh = await dailyVolume(db.pool, 'fresh');
    await heldBy(
      [await successfulBackup(db.pool, fresh, figures(new Date(now - day)))],
      'node5@lvm',
    );
    await heartbeat('node5-1-aa', 'node5@lvm', new Date(now - 3600_000));

    const svc = service(sink.port);
    await svc.queueDailyReport();
    await svc.sendDue();
    expect(sink.mails).toHaveLength(1);
    const m = sink.mails[0]!;
    const section = m.text.slice(
      m.text.indexOf('STRANDED BACKUPS'),
      m.text.indexOf('BACKUP WINDOW'),
    );
    expect(section).toMatch(
      /^STRANDED BACKUPS \(3\)\n {2}held by a node whose agent was not seen for a day/,
    );
    const rows = section.split('\n').filter((l) => /^(moved|gone)/.test(l));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(
      new RegExp(
        `^moved<b> \\(${moved}\\)\\s+project-a\\s+node0@lvm\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\s+2\\s+2\\.0 GiB\\s+.+ to .+held by node0@lvm, whose agent was last seen \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC; the volume is now on node1@lvm$`,
      ),
    );
    expect(rows[1]).toMatch(
      new RegExp(
        `^gone \\(${gone}\\)\\s+project-a\\s+node9@lvm\\s+never\\s+1\\s+1\\.0 GiB\\s+.+held by node9@lvm, whose agent was never seen; the volume is deleted$`,
      ),
    );
    expect(section).not.toContain('fresh');
    expect(m.html).toContain('<h3>Stranded backups (3)</h3>');
    expect(m.html).toContain(`<td>moved&lt;b&gt; (${moved})</td>`);
    expect(m.html).toContain('<td>node9@lvm</td><td>never</td><td>1</td>');
    expect(m.html).not.toContain('moved<b>');
    const [row] = await listMailReports(db.pool);
    expect(row?.summary).toMatchObject({ stranded: 3 });
  });

  it('is sent once however many controllers try, and not again after a restart', async () => {
    await fillCatalog();
    const a = service(sink.port);
    const b = service(sink.port);
    await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
    // A restarted controller (a new service on the same database) finds it recorded.
    await service(sink.port).tick();
    expect(sink.mails.filter((m) => m.headers.get('subject')?.includes('too old'))).toHaveLength(1);
    const rows = await listMailReports(db.pool);
    expect(rows.filter((r) => r.kind === 'daily')).toHaveLength(1);
  });
});

/** A mail server that accepts connections and never says a word. */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('a mail server that is down', () => {
  it('delays the report, retries with backoff, and does not hold up a backup meanwhile', async () => {
    await fillCatalog();
    const silent = await silentServer();
    const port = silent.port;
    const svc = service(port);
    // The mail pass hangs on the silent server until its timeout ...
    const t0 = Date.now();
    await svc.queueDailyReport();
    const tick = svc.sendDue();
    // ... while the agent's catalog writes for a backup go through at once.
    const vol = await dailyVolume(db.pool, 'meanwhile');
    const b0 = Date.now();
    await successfulBackup(db.pool, vol, {
      start: new Date(),
      seconds: 1,
      bytesRead: 1,
      bytesWritten: 1,
    });
    const backupMs = Date.now() - b0;
    await tick;
    const tickMs = Date.now() - t0;
    expect(tickMs).toBeGreaterThanOrEqual(900);
    expect(backupMs).toBeLessThan(500);
    let [row] = await listMailReports(db.pool);
    expect(row).toMatchObject({ kind: 'daily', state: 'pending', attempts: 1 });
    expect(row?.lastError).toMatch(/^sending mail via smtp:\/\/127\.0\.0\.1:\d+ failed/);

    // The server comes back on the same port; after the backoff the report goes out.
    await silent.close();
    const back = await startSmtpSink({ port });
    try {
      await svc.sendDue(); // within the backoff: nothing yet
      expect(back.mails).toHaveLength(0);
      await new Promise((r) => setTimeout(r, 1100));
      await svc.sendDue();
      expect(back.mails).toHaveLength(1);
      [row] = await listMailReports(db.pool);
      expect(row).toMatchObject({ state: 'sent', attempts: 2, lastError: null });
      expect(back.mails[0]?.headers.get('message-id')).toBe(row?.messageId);
    } finally {
      await back.close();
    }
  });

  it('never logs the SMTP password', async () => {
    let logged = '';
    const logger = pino(
      { level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          logged += chunk.toString();
          cb();
        },
      }),
    );
    await fillCatalog();
    const svc = service(sink.port, {
      logger,
      sendMail: smtpMailer({
        server: parseSmtpUrl(`smtp://reporter:wrong@127.0.0.1:${sink.port}`),
        timeoutSeconds: 1,
      }),
    });
    await svc.queueDailyReport();
    await svc.sendDue();
    expect(sink.logins.at(-1)).toEqual({ user: 'reporter', pass: 'wrong' });
    expect(sink.mails).toHaveLength(0);
    expect(logged).toContain('mail not sent; will try again');
    expect(logged).toMatch(/smtp:\/\/127\.0\.0\.1:\d+/);
    expect(logged).not.toContain('wrong');
    const [row] = await listMailReports(db.pool);
    expect(row?.lastError).toMatch(/Invalid username or password/);
    expect(row?.lastError).not.toContain('wrong');
  });
});

describe('failure mails', () => {
  it('batch every failure since the last mail, at most one per interval', async () => {
    const vol = await dailyVolume(db.pool, 'flaky');
    const svc = service(sink.port, { failureIntervalSeconds: 2 });
    // The daily report is not the subject here: send it first, out of the way.
    await svc.queueDailyReport();
    await svc.sendDue();
    sink.mails.length = 0;

    await failedBackup(db.pool, vol, {
      at: new Date(Date.now() - 1000),
      code: 'DEST_FULL',
      message: 'first',
    });
    await svc.tick();
    expect(sink.mails.map((m) => m.headers.get('subject'))).toEqual([
      expect.stringMatching(/^\[cinder-lvm-backup\] 1 failure since /),
    ]);
    expect(sink.mails[0]?.text).toContain('DEST_FULL: first');

    // Two more failures within the interval: no mail yet ...
    await failedBackup(db.pool, vol, { at: new Date(), code: 'MOUNT_FAILED', message: 'second' });
    await failedBackup(db.pool, vol, { at: new Date(), code: 'ARCHIVE_FAILED', message: 'third' });
    await svc.tick();
    expect(sink.mails).toHaveLength(1);
    // ... then one mail with both, and not the first again.
    await new Promise((r) => setTimeout(r, 2100));
    await svc.tick();
    expect(sink.mails).toHaveLength(2);
    const second = sink.mails[1]!;
    expect(second.headers.get('subject')).toMatch(/2 failures since/);
    expect(second.text).toContain('MOUNT_FAILED: second');
    expect(second.text).toContain('ARCHIVE_FAILED: third');
    expect(second.text).not.toContain('DEST_FULL');
    // Nothing new: no mail.
    await new Promise((r) => setTimeout(r, 2100));
    await svc.tick();
    expect(sink.mails).toHaveLength(2);
    const rows = (await listMailReports(db.pool)).filter((r) => r.kind === 'failures');
    expect(rows.map((r) => r.summary['failures'])).toEqual([2, 1]);
  });
});
