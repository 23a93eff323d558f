import { describe, expect, it } from 'vitest';
import { buildReport, countsLine } from '../../src/report/build-report.js';
import { dailyReportMail, failureMail } from '../../src/report/render-report.js';
import type { ReportInput, ReportRun, ReportVolume } from '../../src/report/report-input.js';

const END = new Date('2026-12-01T06:00:00Z');
const START = new Date('2026-11-30T06:00:00Z');
const DAILY = { schedule: { kind: 'interval', everySeconds: 86_400 }, scheduleText: 'daily' };
const at = (iso: string): Date => new Date(iso);

function volume(id: string, name: string | null, extra: Partial<ReportVolume> = {}): ReportVolume {
  return {
    id,
    name,
    projectId: 'project-a',
    host: 'node1@lvm#pool',
    policy: DAILY,
    policyText: 'daily; keep daily=7',
    policyError: null,
    lastSuccessAt: null,
    nextDueAt: null,
    ...extra,
  };
}

function run(volumeId: string, status: ReportRun['status'], start: string, end: string): ReportRun {
  return {
    volumeId,
    status,
    node: 'node1:42:abc',
    startedAt: at(start),
    finishedAt: at(end),
    bytesRead: status === 'succeeded' ? 10 * 2 ** 30 : null,
    bytesWritten: status === 'succeeded' ? 3 * 2 ** 30 : null,
    throughputBytesPerS: status === 'succeeded' ? 2.3 * 2 ** 20 : null,
    consistency: status === 'succeeded' ? 'crash-consistent' : null,
    errorCode: status === 'failed' ? 'SNAPSHOT_OVERFLOW' : null,
    errorMessage: status === 'failed' ? 'the snapshot filled up' : null,
  };
}

function input(over: Partial<ReportInput> = {}): ReportInput {
  return {
    window: { start: START, end: END },
    timeZone: 'UTC',
    tooOldGraceSeconds: 3600,
    volumes: [],
    runs: [],
    failures: [],
    pruned: [],
    space: [],
    ...over,
  };
}

describe('buildReport', () => {
  it('lists failures and too-old volumes first and counts volumes for the subject', () => {
    const r = buildReport(
      input({
        volumes: [
          volume('a', 'web', { lastSuccessAt: at('2026-12-01T03:15:30Z') }),
          volume('b', 'db'),
          volume('c', 'old', { lastSuccessAt: at('2026-11-27T02:00:00Z') }),
          volume('d', 'weekly', {
            policy: { schedule: { kind: 'interval', everySeconds: 7 * 86_400 } },
            lastSuccessAt: at('2026-11-28T02:00:00Z'),
          }),
        ],
        runs: [
          run('a', 'succeeded', '2026-12-01T02:00:00Z', '2026-12-01T03:15:30Z'),
          run('b', 'failed', '2026-12-01T02:00:00Z', '2026-12-01T02:01:00Z'),
        ],
        failures: [
          {
            failedAt: at('2026-12-01T02:01:00Z'),
            kind: 'backup',
            volumeId: 'b',
            volumeName: 'db',
            projectId: 'project-a',
            jobId: 7,
            node: 'node1:42:abc',
            errorCode: 'SNAPSHOT_OVERFLOW',
            errorMessage: 'the snapshot filled up',
          },
        ],
      }),
    );
    expect(r.counts).toMatchObject({ failed: 1, tooOld: 1, ok: 1, noRun: 1 });
    expect(countsLine(r.counts)).toBe('1 failed, 1 too old, 1 ok, 1 not run');
    expect(r.problems.map((p) => [p.kind, p.volumeId])).toEqual([
      ['failure', 'b'],
      ['too old', 'c'],
    ]);
    expect(r.volumes[0]?.volumeId).toBe('b');
    expect(r.volumes.find((v) => v.volumeId === 'a')?.last?.seconds).toBe(4530);
    expect(r.totals).toMatchObject({ runs: 2, succeeded: 1, failed: 1, bytesRead: 10 * 2 ** 30 });
    expect(r.span?.seconds).toBe(4530);
    const mail = dailyReportMail(r, '2026-12-01');
    expect(mail.subject).toBe(
      '[cinder-lvm-backup] 1 failed, 1 too old, 1 ok, 1 not run (2026-12-01)',
    );
    expect(mail.text).toContain('1 h 15 min');
    expect(mail.text).not.toContain('75 min');
    expect(mail.text).toMatch(/SNAPSHOT_OVERFLOW: the snapshot filled up/);
    expect(mail.text).toMatch(/last good backup 4 d 4 h ago; daily allows 1 d/);
  });

  it('marks a failure that a later backup repaired, and the volume counts as ok', () => {
    const r = buildReport(
      input({
        volumes: [volume('a', 'web', { lastSuccessAt: at('2026-12-01T04:00:00Z') })],
        runs: [
          run('a', 'failed', '2026-12-01T02:00:00Z', '2026-12-01T02:01:00Z'),
          run('a', 'succeeded', '2026-12-01T03:00:00Z', '2026-12-01T04:00:00Z'),
        ],
        failures: [
          {
            failedAt: at('2026-12-01T02:01:00Z'),
            kind: 'backup',
            volumeId: 'a',
            volumeName: 'web',
            projectId: 'project-a',
            jobId: 1,
            node: null,
            errorCode: 'DEST_FULL',
            errorMessage: 'no space',
          },
        ],
      }),
    );
    expect(r.counts).toMatchObject({ failed: 0, ok: 1, failures: 1 });
    expect(r.problems[0]).toMatchObject({ kind: 'failure', recovered: true });
    expect(dailyReportMail(r, 'x').text).toContain('FAILED (recovered)');
  });

  it('a failed verify makes the volume failed even after a good backup', () => {
    const r = buildReport(
      input({
        volumes: [volume('a', 'web', { lastSuccessAt: at('2026-12-01T04:00:00Z') })],
        runs: [run('a', 'succeeded', '2026-12-01T03:00:00Z', '2026-12-01T04:00:00Z')],
        failures: [
          {
            failedAt: at('2026-12-01T05:00:00Z'),
            kind: 'verify',
            volumeId: 'a',
            volumeName: 'web',
            projectId: 'project-a',
            jobId: 9,
            node: null,
            errorCode: 'CHECKSUM_MISMATCH',
            errorMessage: 'p1.tar.zst does not match',
          },
        ],
      }),
    );
    expect(r.counts.failed).toBe(1);
    expect(dailyReportMail(r, 'x').text).toContain('verify job 9');
  });

  it('escapes every tenant-controlled value in the HTML part and flattens it in the text part', () => {
    const evil = '<img src=x onerror=alert(1)>"\'&\nX-Injected: yes';
    const r = buildReport(
      input({
        volumes: [volume('a', evil, { policyError: `bad key ${evil}`, policy: null })],
        runs: [run('a', 'failed', '2026-12-01T02:00:00Z', '2026-12-01T02:01:00Z')],
        failures: [
          {
            failedAt: at('2026-12-01T02:01:00Z'),
            kind: 'backup',
            volumeId: 'a',
            volumeName: evil,
            projectId: '<b>p</b>',
            jobId: 1,
            node: null,
            errorCode: 'MOUNT_FAILED',
            errorMessage: `mount of ${evil} failed`,
          },
        ],
      }),
    );
    const mail = dailyReportMail(r, 'x');
    expect(mail.html).not.toContain('<img');
    expect(mail.html).not.toContain('<b>p</b>');
    expect(mail.html).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
    expect(mail.text.split('\n').some((l) => l.startsWith('X-Injected'))).toBe(false);
    expect(mail.subject).not.toContain('<');
    const fm = failureMail(r);
    expect(fm.html).not.toContain('<img');
    expect(fm.subject).toBe('[cinder-lvm-backup] 1 failure since 2026-11-30 06:00');
  });

  it('shows free space per storage node and says when none reported', () => {
    const none = dailyReportMail(buildReport(input()), 'x');
    expect(none.text).toContain('no storage node has reported its destination yet');
    const r = buildReport(
      input({
        space: [
          {
            node: 'node2',
            dest: '/srv/b',
            sizeBytes: 4 * 2 ** 40,
            freeBytes: 2 ** 40,
            reportedAt: END,
          },
        ],
      }),
    );
    expect(dailyReportMail(r, 'x').text).toMatch(/node2\s+\/srv\/b\s+1\.0 TiB\s+4\.0 TiB\s+25%/);
  });
});

describe('what was pruned', () => {
  it('tells retention apart from the backups of deleted or switched-off volumes, with why', () => {
    const pruned = (volumeId: string, reason: string | null, bytes: number) => ({
      volumeId,
      volumeName: volumeId === 'gone' ? 'old-db' : 'web',
      projectId: 'project-b',
      prunedAt: at('2026-12-01T01:00:00Z'),
      bytesWritten: bytes,
      reason,
    });
    const r = buildReport(
      input({
        pruned: [
          pruned('web', 'retention', 2 ** 30),
          pruned('web', null, 2 ** 30),
          pruned('gone', 'volume deleted 2026-10-01, grace 30 d', 3 * 2 ** 30),
          pruned('gone', 'volume deleted 2026-10-01, grace 30 d', 2 ** 30),
        ],
      }),
    );
    expect(r.totals).toMatchObject({
      pruned: 2,
      prunedBytes: 2 * 2 ** 30,
      orphanPruned: 2,
      orphanPrunedBytes: 4 * 2 ** 30,
    });
    const mail = dailyReportMail(r, '2026-12-01');
    expect(mail.text).toContain(
      '2 backups pruned by retention (2.0 GiB); 2 of deleted or switched-off volumes (4.0 GiB)',
    );
    expect(mail.text).toMatch(
      /PRUNED: DELETED OR SWITCHED-OFF VOLUMES \(1\)\n.*WHY\n\s*old-db \(gone\)\s+project-b\s+2\s+4\.0 GiB\s+volume deleted 2026-10-01, grace 30 d/,
    );
    expect(mail.html).toContain('<td>volume deleted 2026-10-01, grace 30 d</td>');
    expect(mail.summary).toMatchObject({ pruned: 2, orphanPruned: 2 });
  });

  it('leaves the section out when only retention pruned', () => {
    const mail = dailyReportMail(
      buildReport(
        input({
          pruned: [{ volumeId: 'a', prunedAt: at('2026-12-01T01:00:00Z'), bytesWritten: 1024 }],
        }),
      ),
      '2026-12-01',
    );
    expect(mail.text).toContain('1 backup pruned by retention (1.0 KiB)');
    expect(mail.text).not.toContain('SWITCHED-OFF');
  });
});
