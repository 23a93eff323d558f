/**
 * The report as data: problems first (failures, volumes whose last good backup is too
 * old, policy errors), then one line per tagged volume, what retention pruned, totals, the
 * free space of each storage node's destination and the span of the backup window. Pure:
 * the same rows always make the same report; the renderers turn it into text and HTML.
 *
 * A volume's outcome is that of its latest backup attempt in the window; a failed verify,
 * restore or prune of it in the window makes it `failed` too. A failure followed by a
 * successful backup stays listed among the problems (marked recovered) but the volume is ok.
 */
import { secondsBetween } from './duration.js';
import type {
  ReportFailure,
  ReportInput,
  ReportPruned,
  ReportRun,
  ReportSpace,
  ReportStranded,
  ReportVolume,
  ReportWindow,
} from './report-input.js';
import { judgeAge, scheduleOf } from './too-old.js';

export type VolumeOutcome = 'ok' | 'failed' | 'cancelled' | 'running' | 'no run';

export interface VolumeLine {
  volumeId: string;
  name: string | null;
  projectId: string;
  host: string | null;
  policy: string | null;
  outcome: VolumeOutcome;
  tooOld: boolean;
  /** Attempts in the window by status. */
  runs: { succeeded: number; failed: number; cancelled: number; running: number };
  /** Figures of the latest attempt in the window (null when none). */
  last: {
    startedAt: Date;
    finishedAt: Date | null;
    seconds: number | null;
    bytesRead: number | null;
    bytesWritten: number | null;
    throughputBytesPerS: number | null;
    consistency: string | null;
  } | null;
}

export type Problem =
  | {
      kind: 'failure';
      volumeId: string;
      name: string | null;
      projectId: string;
      at: Date | null;
      job: string;
      node: string | null;
      errorCode: string | null;
      errorMessage: string | null;
      /** A later backup of the same volume in the window succeeded. */
      recovered: boolean;
    }
  | { kind: 'too old'; volumeId: string; name: string | null; projectId: string; reason: string }
  | {
      kind: 'policy error';
      volumeId: string;
      name: string | null;
      projectId: string;
      reason: string;
    };

export interface ReportCounts {
  /** Volumes whose outcome is failed. */
  failed: number;
  tooOld: number;
  ok: number;
  /** Tagged volumes without an attempt in the window (not due, or waiting). */
  noRun: number;
  policyErrors: number;
  /** Entries of backup_failures in the window (a volume may have several). */
  failures: number;
}

export interface ReportTotals {
  runs: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  running: number;
  bytesRead: number;
  bytesWritten: number;
  /** Sum of the attempts' durations (several run side by side, so more than the span). */
  busySeconds: number;
  /** Backups retention pruned, and their stored bytes. */
  pruned: number;
  prunedBytes: number;
  /** Backups of deleted or switched-off volumes pruned after the grace, and their bytes. */
  orphanPruned: number;
  orphanPrunedBytes: number;
}

/** What went of one deleted or switched-off volume in the window, and why. */
export interface OrphanPruneLine {
  volumeId: string;
  name: string | null;
  projectId: string | null;
  backups: number;
  bytes: number;
  reason: string;
}

/**
 * The stranded backups of one volume on one holder: no agent can prune them until that
 * node's agent is back or an operator removes them (and marks the rows).
 */
export interface StrandedLine {
  volumeId: string;
  name: string | null;
  projectId: string;
  heldBy: string;
  /** When the holder's agent was last seen; null: never. */
  lastSeenAt: Date | null;
  backups: number;
  bytes: number;
  /** Finish of the oldest and newest of them. */
  oldest: Date | null;
  newest: Date | null;
  reason: string;
}

export interface Report {
  window: ReportWindow;
  timeZone: string;
  counts: ReportCounts;
  problems: Problem[];
  volumes: VolumeLine[];
  totals: ReportTotals;
  /** Volumes deleted or switched off whose backups were pruned in the window. */
  orphanPrunes: OrphanPruneLine[];
  /** First start to last end of the attempts in the window. */
  span: { start: Date; end: Date; seconds: number } | null;
  space: ReportSpace[];
  /** Stranded backups (all of them, by holder, project and volume) and their count. */
  stranded: StrandedLine[];
  strandedBackups: number;
}

function strandedLines(rows: readonly ReportStranded[]): StrandedLine[] {
  const lines = new Map<string, StrandedLine>();
  for (const s of rows) {
    const key = `${s.heldBy} ${s.volumeId} ${s.reason}`;
    const line = lines.get(key) ?? {
      volumeId: s.volumeId,
      name: s.volumeName,
      projectId: s.projectId,
      heldBy: s.heldBy,
      lastSeenAt: s.holderLastSeenAt,
      backups: 0,
      bytes: 0,
      oldest: null,
      newest: null,
      reason: s.reason,
    };
    line.backups += 1;
    line.bytes += s.bytesWritten ?? 0;
    const at = s.finishedAt;
    if (at !== null) {
      if (line.oldest === null || at < line.oldest) line.oldest = at;
      if (line.newest === null || at > line.newest) line.newest = at;
    }
    lines.set(key, line);
  }
  return [...lines.values()].sort(
    (a, b) =>
      a.heldBy.localeCompare(b.heldBy) ||
      a.projectId.localeCompare(b.projectId) ||
      (a.name ?? '').localeCompare(b.name ?? '') ||
      a.volumeId.localeCompare(b.volumeId),
  );
}

function runEnd(r: ReportRun): number {
  return (r.finishedAt ?? r.startedAt).getTime();
}

function volumeLine(
  v: ReportVolume,
  runs: ReportRun[],
  otherFailures: ReportFailure[],
  jobFailures: ReportFailure[],
  tooOld: boolean,
): VolumeLine {
  const count = { succeeded: 0, failed: 0, cancelled: 0, running: 0 };
  for (const r of runs) count[r.status] += 1;
  const latest = runs.reduce<ReportRun | null>(
    (a, r) => (a === null || runEnd(r) >= runEnd(a) ? r : a),
    null,
  );
  // A backup job can fail before it opens a backup row (agent lost, LV missing).
  const latestJobFailure = jobFailures.reduce<number>(
    (a, f) => Math.max(a, f.failedAt?.getTime() ?? 0),
    -1,
  );
  let outcome: VolumeOutcome = 'no run';
  if (latest !== null) {
    outcome =
      latest.status === 'succeeded'
        ? 'ok'
        : latest.status === 'failed'
          ? 'failed'
          : latest.status === 'cancelled'
            ? 'cancelled'
            : 'running';
  }
  if (latestJobFailure >= 0 && (latest === null || latestJobFailure > runEnd(latest)))
    outcome = 'failed';
  if (otherFailures.length > 0) outcome = 'failed';
  return {
    volumeId: v.id,
    name: v.name,
    projectId: v.projectId,
    host: v.host,
    policy: v.policyText,
    outcome,
    tooOld,
    runs: count,
    last:
      latest === null
        ? null
        : {
            startedAt: latest.startedAt,
            finishedAt: latest.finishedAt,
            seconds:
              latest.finishedAt === null
                ? null
                : secondsBetween(latest.startedAt, latest.finishedAt),
            bytesRead: latest.bytesRead,
            bytesWritten: latest.bytesWritten,
            throughputBytesPerS: latest.throughputBytesPerS,
            consistency: latest.consistency,
          },
  };
}

function group<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    const list = m.get(k);
    if (list === undefined) m.set(k, [t]);
    else list.push(t);
  }
  return m;
}

/** Builds the report of a window from the catalog's rows. */
export function buildReport(input: ReportInput): Report {
  const now = input.window.end;
  const runsByVolume = group(input.runs, (r) => r.volumeId);
  // Backup failures with a row are in `runs`; the others (no row, or not a backup) here.
  const failuresByVolume = group(input.failures, (f) => f.volumeId);
  const lastSuccessInWindow = new Map<string, number>();
  for (const r of input.runs) {
    if (r.status !== 'succeeded') continue;
    lastSuccessInWindow.set(
      r.volumeId,
      Math.max(lastSuccessInWindow.get(r.volumeId) ?? 0, runEnd(r)),
    );
  }

  const names = new Map(input.volumes.map((v) => [v.id, v]));
  const problems: Problem[] = [];
  const tooOldProblems: Problem[] = [];
  const policyProblems: Problem[] = [];
  const volumes: VolumeLine[] = [];

  for (const v of input.volumes) {
    let tooOld = false;
    const schedule = scheduleOf(v.policy);
    if (v.policyError !== null) {
      policyProblems.push({
        kind: 'policy error',
        volumeId: v.id,
        name: v.name,
        projectId: v.projectId,
        reason: v.policyError,
      });
    } else if (schedule !== null) {
      const verdict = judgeAge({
        schedule,
        scheduleText: v.policyText?.split(';')[0] ?? 'the schedule',
        lastSuccessAt: v.lastSuccessAt,
        nextDueAt: v.nextDueAt,
        now,
        timeZone: input.timeZone,
        graceSeconds: input.tooOldGraceSeconds,
      });
      tooOld = verdict.tooOld;
      if (tooOld) {
        tooOldProblems.push({
          kind: 'too old',
          volumeId: v.id,
          name: v.name,
          projectId: v.projectId,
          reason: verdict.reason,
        });
      }
    }
    const fails = failuresByVolume.get(v.id) ?? [];
    volumes.push(
      volumeLine(
        v,
        runsByVolume.get(v.id) ?? [],
        fails.filter((f) => f.kind !== 'backup'),
        fails.filter((f) => f.kind === 'backup'),
        tooOld,
      ),
    );
  }

  const failures = [...input.failures].sort(
    (a, b) => (a.failedAt?.getTime() ?? 0) - (b.failedAt?.getTime() ?? 0),
  );
  for (const f of failures) {
    const v = names.get(f.volumeId);
    const later = lastSuccessInWindow.get(f.volumeId);
    problems.push({
      kind: 'failure',
      volumeId: f.volumeId,
      name: f.volumeName ?? v?.name ?? null,
      projectId: f.projectId,
      at: f.failedAt,
      job: f.jobId === null ? f.kind : `${f.kind} job ${f.jobId}`,
      node: f.node,
      errorCode: f.errorCode,
      errorMessage: f.errorMessage,
      recovered:
        f.kind === 'backup' &&
        later !== undefined &&
        f.failedAt !== null &&
        later > f.failedAt.getTime(),
    });
  }
  problems.push(...tooOldProblems, ...policyProblems);

  // Problem volumes first, then by project and name, so the eye finds them at the top.
  const rank = (l: VolumeLine): number => (l.outcome === 'failed' ? 0 : l.tooOld ? 1 : 2);
  volumes.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      a.projectId.localeCompare(b.projectId) ||
      (a.name ?? '').localeCompare(b.name ?? '') ||
      a.volumeId.localeCompare(b.volumeId),
  );

  const isRetention = (p: ReportPruned): boolean =>
    p.reason === undefined || p.reason === null || p.reason === 'retention';
  const byRetention = input.pruned.filter(isRetention);
  const orphanPrunes = new Map<string, OrphanPruneLine>();
  for (const p of input.pruned) {
    if (isRetention(p)) continue;
    const reason = p.reason ?? '';
    const key = `${p.volumeId} ${reason}`;
    const line = orphanPrunes.get(key) ?? {
      volumeId: p.volumeId,
      name: p.volumeName ?? null,
      projectId: p.projectId ?? null,
      backups: 0,
      bytes: 0,
      reason,
    };
    line.backups += 1;
    line.bytes += p.bytesWritten ?? 0;
    orphanPrunes.set(key, line);
  }

  const totals: ReportTotals = {
    runs: input.runs.length,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    running: 0,
    bytesRead: 0,
    bytesWritten: 0,
    busySeconds: 0,
    pruned: byRetention.length,
    prunedBytes: byRetention.reduce((s, p) => s + (p.bytesWritten ?? 0), 0),
    orphanPruned: input.pruned.length - byRetention.length,
    orphanPrunedBytes: [...orphanPrunes.values()].reduce((s, l) => s + l.bytes, 0),
  };
  let spanStart = Infinity;
  let spanEnd = -Infinity;
  for (const r of input.runs) {
    totals[r.status] += 1;
    totals.bytesRead += r.status === 'succeeded' ? (r.bytesRead ?? 0) : 0;
    totals.bytesWritten += r.status === 'succeeded' ? (r.bytesWritten ?? 0) : 0;
    const end = r.finishedAt ?? now;
    totals.busySeconds += secondsBetween(r.startedAt, end);
    spanStart = Math.min(spanStart, r.startedAt.getTime());
    spanEnd = Math.max(spanEnd, end.getTime());
  }

  const counts: ReportCounts = {
    failed: volumes.filter((l) => l.outcome === 'failed').length,
    tooOld: volumes.filter((l) => l.tooOld).length,
    ok: volumes.filter((l) => l.outcome === 'ok' && !l.tooOld).length,
    noRun: volumes.filter((l) => l.outcome === 'no run' && !l.tooOld).length,
    policyErrors: policyProblems.length,
    failures: input.failures.length,
  };

  return {
    window: input.window,
    timeZone: input.timeZone,
    counts,
    problems,
    volumes,
    totals,
    orphanPrunes: [...orphanPrunes.values()].sort(
      (a, b) =>
        (a.projectId ?? '').localeCompare(b.projectId ?? '') ||
        (a.name ?? '').localeCompare(b.name ?? '') ||
        a.volumeId.localeCompare(b.volumeId),
    ),
    span:
      input.runs.length === 0
        ? null
        : {
            start: new Date(spanStart),
            end: new Date(spanEnd),
            seconds: (spanEnd - spanStart) / 1000,
          },
    space: [...input.space].sort(
      (a, b) => a.node.localeCompare(b.node) || a.dest.localeCompare(b.dest),
    ),
    stranded: strandedLines(input.stranded ?? []),
    strandedBackups: input.stranded?.length ?? 0,
  };
}

/** "3 failed, 1 too old, 120 ok", plus what else is nonzero. */
export function countsLine(c: ReportCounts): string {
  const parts = [`${c.failed} failed`, `${c.tooOld} too old`, `${c.ok} ok`];
  if (c.policyErrors > 0)
    parts.push(`${c.policyErrors} policy error${c.policyErrors === 1 ? '' : 's'}`);
  if (c.noRun > 0) parts.push(`${c.noRun} not run`);
  return parts.join(', ');
}
