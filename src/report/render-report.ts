/**
 * The daily report (and `report` by hand) as a mail: a subject that says at a glance how
 * the window went, a plain-text part for terminals and mail clients without HTML, and an
 * HTML part with the same content in tables.
 */
import { humanBytes, textTable } from './text-table.js';
import { countsLine, type Problem, type Report, type VolumeLine } from './build-report.js';
import { formatDuration } from './duration.js';
import { escapeHtml, html, plain, type MailContent } from './mail-content.js';
import { formatLocalTime } from './report-time.js';

const dash = '-';
const bytes = (n: number | null): string => (n === null ? dash : humanBytes(n));
const rate = (n: number | null): string => (n === null ? dash : `${humanBytes(Math.round(n))}/s`);

function volumeLabel(name: string | null, id: string): string {
  return name === null || name === '' ? id : `${plain(name, 80)} (${id})`;
}

function problemLabel(p: Problem): string {
  if (p.kind === 'failure') return p.recovered ? 'FAILED (recovered)' : 'FAILED';
  return p.kind === 'too old' ? 'TOO OLD' : 'POLICY ERROR';
}

function problemReason(p: Problem, timeZone: string): string {
  if (p.kind !== 'failure') return plain(p.reason);
  const at = p.at === null ? '' : `${formatLocalTime(p.at, timeZone)} `;
  const node = p.node === null ? '' : ` on ${plain(p.node, 80)}`;
  const error = `${p.errorCode ?? 'UNKNOWN'}: ${plain(p.errorMessage ?? 'no message')}`;
  return `${at}${p.job}${node}: ${error}`;
}

function outcomeLabel(l: VolumeLine): string {
  const base = l.outcome === 'ok' ? 'ok' : l.outcome === 'failed' ? 'FAILED' : l.outcome;
  return l.tooOld ? `${base}, TOO OLD` : base;
}

function runsLabel(l: VolumeLine): string {
  const r = l.runs;
  const parts = [`${r.succeeded} ok`];
  if (r.failed > 0) parts.push(`${r.failed} failed`);
  if (r.cancelled > 0) parts.push(`${r.cancelled} cancelled`);
  if (r.running > 0) parts.push(`${r.running} running`);
  return parts.join(', ');
}

function volumeCells(l: VolumeLine): string[] {
  const last = l.last;
  return [
    volumeLabel(l.name, l.volumeId),
    plain(l.projectId, 80),
    outcomeLabel(l),
    runsLabel(l),
    last?.seconds === null || last === null ? dash : formatDuration(last.seconds),
    bytes(last?.bytesRead ?? null),
    bytes(last?.bytesWritten ?? null),
    rate(last?.throughputBytesPerS ?? null),
    last?.consistency ?? dash,
  ];
}

const VOLUME_COLUMNS = [
  'VOLUME',
  'PROJECT',
  'OUTCOME',
  'RUNS',
  'DURATION',
  'READ',
  'STORED',
  'THROUGHPUT',
  'CONSISTENCY',
];

function totalsLine(r: Report): string {
  const t = r.totals;
  return (
    `${t.runs} backup runs: ${t.succeeded} ok, ${t.failed} failed, ${t.cancelled} cancelled` +
    (t.running > 0 ? `, ${t.running} running` : '') +
    `; ${humanBytes(t.bytesRead)} read, ${humanBytes(t.bytesWritten)} stored; ` +
    `${formatDuration(t.busySeconds)} of backup time`
  );
}

function prunedLine(r: Report): string {
  const t = r.totals;
  const line = `${t.pruned} backup${t.pruned === 1 ? '' : 's'} pruned by retention (${humanBytes(t.prunedBytes)})`;
  if (t.orphanPruned === 0) return line;
  return `${line}; ${t.orphanPruned} of deleted or switched-off volumes (${humanBytes(t.orphanPrunedBytes)})`;
}

const ORPHAN_COLUMNS = ['VOLUME', 'PROJECT', 'PRUNED', 'STORED', 'WHY'];

function orphanCells(r: Report): string[][] {
  return r.orphanPrunes.map((l) => [
    volumeLabel(l.name, l.volumeId),
    l.projectId === null ? dash : plain(l.projectId, 80),
    String(l.backups),
    humanBytes(l.bytes),
    plain(l.reason, 200),
  ]);
}

const ORPHAN_TITLE = 'Pruned: deleted or switched-off volumes';

const STRANDED_COLUMNS = [
  'VOLUME',
  'PROJECT',
  'HELD BY',
  'AGENT LAST SEEN',
  'BACKUPS',
  'STORED',
  'FINISHED',
  'WHY',
];

function strandedCells(r: Report): string[][] {
  return r.stranded.map((l) => [
    volumeLabel(l.name, l.volumeId),
    plain(l.projectId, 80),
    plain(l.heldBy, 200),
    l.lastSeenAt === null ? 'never' : formatLocalTime(l.lastSeenAt, r.timeZone),
    String(l.backups),
    humanBytes(l.bytes),
    l.oldest === null || l.newest === null
      ? dash
      : l.backups === 1
        ? formatLocalTime(l.newest, r.timeZone)
        : `${formatLocalTime(l.oldest, r.timeZone)} to ${formatLocalTime(l.newest, r.timeZone)}`,
    plain(l.reason, 300),
  ]);
}

const STRANDED_TITLE = 'Stranded backups';
const STRANDED_NOTE =
  'held by a node whose agent was not seen for a day: no agent can prune them until it is back, or an operator removes them by hand and marks the rows (SELECT * FROM stranded_backups)';

function spanLine(r: Report): string {
  if (r.span === null) return 'no backup ran in this window';
  return (
    `first backup started ${formatLocalTime(r.span.start, r.timeZone, true)}, ` +
    `last ended ${formatLocalTime(r.span.end, r.timeZone, true)}: ${formatDuration(r.span.seconds)}`
  );
}

function spaceCells(r: Report): string[][] {
  return r.space.map((s) => [
    plain(s.node, 80),
    plain(s.dest, 200),
    humanBytes(s.freeBytes),
    humanBytes(s.sizeBytes),
    s.sizeBytes > 0 ? `${Math.round((100 * s.freeBytes) / s.sizeBytes)}%` : dash,
    formatLocalTime(s.reportedAt, r.timeZone),
  ]);
}

const SPACE_COLUMNS = ['NODE', 'DESTINATION', 'FREE', 'SIZE', 'FREE %', 'MEASURED'];

function windowLine(r: Report): string {
  const w = r.window;
  return `${formatLocalTime(w.start, r.timeZone)} to ${formatLocalTime(w.end, r.timeZone)} (${r.timeZone}, ${formatDuration((w.end.getTime() - w.start.getTime()) / 1000)})`;
}

/** The report as plain text (also what `report` prints). */
export function reportText(r: Report, title: string): string {
  const out: string[] = [];
  out.push(title, `Window: ${windowLine(r)}`, `Volumes: ${countsLine(r.counts)}`, '');
  out.push(`PROBLEMS (${r.problems.length})`);
  if (r.problems.length === 0) out.push('  none');
  for (const p of r.problems) {
    out.push(
      `  ${problemLabel(p)}  ${volumeLabel(p.name, p.volumeId)}  project ${plain(p.projectId, 80)}`,
    );
    out.push(`      ${problemReason(p, r.timeZone)}`);
  }
  out.push('', `VOLUMES (${r.volumes.length})`);
  out.push(
    r.volumes.length === 0
      ? '  no tagged volumes'
      : textTable(VOLUME_COLUMNS, r.volumes.map(volumeCells)).trimEnd(),
  );
  out.push('', 'TOTALS', `  ${totalsLine(r)}`, `  ${prunedLine(r)}`);
  if (r.orphanPrunes.length > 0) {
    out.push('', `${ORPHAN_TITLE.toUpperCase()} (${r.orphanPrunes.length})`);
    out.push(textTable(ORPHAN_COLUMNS, orphanCells(r)).trimEnd());
  }
  if (r.strandedBackups > 0) {
    out.push('', `${STRANDED_TITLE.toUpperCase()} (${r.strandedBackups})`, `  ${STRANDED_NOTE}`);
    out.push(textTable(STRANDED_COLUMNS, strandedCells(r)).trimEnd());
  }
  out.push('', 'BACKUP WINDOW', `  ${spanLine(r)}`);
  out.push('', 'DESTINATION FREE SPACE');
  out.push(
    r.space.length === 0
      ? '  no storage node has reported its destination yet'
      : textTable(SPACE_COLUMNS, spaceCells(r)).trimEnd(),
  );
  return out.join('\n') + '\n';
}

function table(columns: string[], rows: string[][]): string {
  const head = columns.map((c) => `<th align="left">${escapeHtml(c)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table border="1" cellspacing="0" cellpadding="3">\n<tr>${head}</tr>\n${body}\n</table>`;
}

/** The report as an HTML document; every value is escaped. */
export function reportHtml(r: Report, title: string): string {
  const problems =
    r.problems.length === 0
      ? '<p>none</p>'
      : `<ul>\n${r.problems
          .map(
            (p) =>
              `<li><b>${escapeHtml(problemLabel(p))}</b> ${escapeHtml(volumeLabel(p.name, p.volumeId))}, project ${html(p.projectId, 80)}: ${escapeHtml(problemReason(p, r.timeZone))}</li>`,
          )
          .join('\n')}\n</ul>`;
  return [
    '<!DOCTYPE html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>`,
    `<h2>${escapeHtml(title)}</h2>`,
    `<p>Window: ${escapeHtml(windowLine(r))}<br>Volumes: <b>${escapeHtml(countsLine(r.counts))}</b></p>`,
    `<h3>Problems (${r.problems.length})</h3>`,
    problems,
    `<h3>Volumes (${r.volumes.length})</h3>`,
    r.volumes.length === 0
      ? '<p>no tagged volumes</p>'
      : table(VOLUME_COLUMNS, r.volumes.map(volumeCells)),
    '<h3>Totals</h3>',
    `<p>${escapeHtml(totalsLine(r))}<br>${escapeHtml(prunedLine(r))}</p>`,
    ...(r.orphanPrunes.length === 0
      ? []
      : [
          `<h3>${escapeHtml(ORPHAN_TITLE)} (${r.orphanPrunes.length})</h3>`,
          table(ORPHAN_COLUMNS, orphanCells(r)),
        ]),
    ...(r.strandedBackups === 0
      ? []
      : [
          `<h3>${escapeHtml(STRANDED_TITLE)} (${r.strandedBackups})</h3>`,
          `<p>${escapeHtml(STRANDED_NOTE)}</p>`,
          table(STRANDED_COLUMNS, strandedCells(r)),
        ]),
    '<h3>Backup window</h3>',
    `<p>${escapeHtml(spanLine(r))}</p>`,
    '<h3>Destination free space</h3>',
    r.space.length === 0
      ? '<p>no storage node has reported its destination yet</p>'
      : table(SPACE_COLUMNS, spaceCells(r)),
    '</body></html>',
    '',
  ].join('\n');
}

/** The daily report mail. `label` names the period ("2026-12-01", "last 24 h"). */
export function dailyReportMail(r: Report, label: string): MailContent {
  const glance = countsLine(r.counts);
  const title = `cinder-lvm-backup report ${label}`;
  return {
    subject: `[cinder-lvm-backup] ${glance} (${label})`,
    text: reportText(r, title),
    html: reportHtml(r, title),
    summary: {
      ...r.counts,
      runs: r.totals.runs,
      pruned: r.totals.pruned,
      orphanPruned: r.totals.orphanPruned,
      stranded: r.strandedBackups,
    },
  };
}

/** A mail listing the failures of a short window (the batched failure mail). */
export function failureMail(r: Report): MailContent {
  const failures = r.problems.filter((p) => p.kind === 'failure');
  const title = `cinder-lvm-backup: ${failures.length} failure${failures.length === 1 ? '' : 's'}`;
  const lines = failures.map(
    (p) =>
      `  ${volumeLabel(p.name, p.volumeId)}  project ${plain(p.projectId, 80)}\n      ${problemReason(p, r.timeZone)}`,
  );
  const text = [title, `Window: ${windowLine(r)}`, '', ...lines, ''].join('\n');
  const items = failures
    .map(
      (p) =>
        `<li>${escapeHtml(volumeLabel(p.name, p.volumeId))}, project ${html(p.projectId, 80)}: ${escapeHtml(problemReason(p, r.timeZone))}</li>`,
    )
    .join('\n');
  return {
    subject: `[cinder-lvm-backup] ${failures.length} failure${failures.length === 1 ? '' : 's'} since ${formatLocalTime(r.window.start, r.timeZone)}`,
    text,
    html: [
      '<!DOCTYPE html>',
      `<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>`,
      `<h2>${escapeHtml(title)}</h2>`,
      `<p>Window: ${escapeHtml(windowLine(r))}</p>`,
      `<ul>\n${items}\n</ul>`,
      '</body></html>',
      '',
    ].join('\n'),
    summary: { failures: failures.length },
  };
}
