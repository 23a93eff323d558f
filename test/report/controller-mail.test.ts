/**
 * Two real controller processes with mail configured, on one Postgres, RabbitMQ and a real
 * SMTP server on loopback: the leader sends the daily report, the other controller taking
 * over after the leader is killed finds it recorded and sends nothing, and the SMTP
 * password never reaches a log.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMailReports } from '../../src/db/mail-reports.js';
import { ControllerProcess } from '../controller/controller-process.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { AMQP_URL, deleteTopology } from '../notifications/notification-builder.js';
import { dailyVolume, successfulBackup } from './report-fixtures.js';
import { selfSignedCertificate, startSmtpSink, type SmtpSink } from './smtp-sink.js';

const suffix = randomBytes(4).toString('hex');
const exchange = `clb_test_mail_${suffix}`;
const queue = `clb-test-mail-${suffix}.notifications`;
const PASSWORD = `s3cret-${suffix}`;

let db: FreshDatabase;
let sink: SmtpSink;
let certDir: string;
let certFile: string;
const procs: ControllerProcess[] = [];

function start(name: string, reportAt: string): ControllerProcess {
  const p = new ControllerProcess(name, {
    DATABASE_URL: db.url,
    AMQP_URL,
    CLB_NOTIFICATION_EXCHANGES: exchange,
    CLB_NOTIFICATION_QUEUE: queue,
    CLB_LEADER_RETRY: '1',
    CLB_LOG_LEVEL: 'debug',
    CLB_TIME_ZONE: 'UTC',
    CLB_SMTP_URL: `smtp://reporter:${PASSWORD}@127.0.0.1:${sink.port}`,
    CLB_MAIL_CA_FILE: certFile,
    CLB_MAIL_FROM: 'backup@cloud.example',
    CLB_MAIL_TO: 'oncall@cloud.example',
    CLB_REPORT_AT: reportAt,
  });
  procs.push(p);
  return p;
}

beforeAll(async () => {
  db = await freshDatabase();
  certDir = await mkdtemp(join(tmpdir(), 'clb-controller-mail-'));
  const cert = await selfSignedCertificate(certDir);
  certFile = cert.certFile;
  // STARTTLS offered: a password in smtp_url is sent only inside TLS.
  sink = await startSmtpSink({ tls: cert });
});

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await deleteTopology(exchange, [queue, `${queue}.dead-letter`]);
  await sink?.close();
  if (certDir !== undefined) await rm(certDir, { recursive: true, force: true });
  await db?.drop();
});

describe('controller mail reports', () => {
  it(
    'two controllers send one daily report, also after the leader is replaced',
    { timeout: 240_000 },
    async () => {
      const vol = await dailyVolume(db.pool, 'web');
      await successfulBackup(db.pool, vol, {
        start: new Date(Date.now() - 2 * 3600_000),
        seconds: 4530,
        bytesRead: 2 ** 30,
        bytesWritten: 2 ** 29,
      });
      const due = new Date(Date.now() - 60_000).toISOString().slice(11, 16);
      const a = start('A', due);
      const b = start('B', due);
      await Promise.all([
        a.waitForLog('controller started', 90_000),
        b.waitForLog('controller started', 90_000),
      ]);
      const until = Date.now() + 60_000;
      while (sink.mails.length === 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
      }
      // Both have had a pass (the follower none: it is not the leader), nothing more comes.
      await new Promise((r) => setTimeout(r, 1500));
      expect(sink.mails).toHaveLength(1);
      expect(sink.secure).toEqual([true]);
      const mail = sink.mails[0]!;
      expect(mail.headers.get('subject')).toMatch(
        /^\[cinder-lvm-backup\] 0 failed, 0 too old, 1 ok /,
      );
      expect(mail.text).toContain('1 h 15 min');
      expect(sink.logins).toEqual([{ user: 'reporter', pass: PASSWORD }]);

      // The leader dies; the other one takes over, runs a mail pass and sends nothing again.
      const leader = a.count('elected leader: running poller and scheduler') > 0 ? a : b;
      const other = leader === a ? b : a;
      leader.kill('SIGKILL');
      await other.waitForLog('elected leader: running poller and scheduler', 60_000);
      await other.waitForLog('mail pass done', 60_000);
      expect(sink.mails).toHaveLength(1);
      const rows = await listMailReports(db.pool);
      expect(rows.map((r) => [r.kind, r.state])).toEqual([['daily', 'sent']]);

      for (const p of procs) expect(p.raw).not.toContain(PASSWORD);
    },
  );
});
