/**
 * Bad input at volume, through the running controller (real RabbitMQ and Postgres, the
 * OpenStack emulator): what a tenant, a careless publisher or an attacker on the bus or the
 * API can send.
 *
 * - Metadata: over 10,000 generated cases (hostile-values.ts) through the policy parser in
 *   process, and the same cases as volumes of the emulated Cinder, polled by the real poller
 *   and given their policy by the real scheduler: each volume ends with a policy, a policy
 *   error with its reason, or (a key or value over Cinder's 255 characters, which Cinder
 *   itself refuses) is skipped by the poll with a reason; the poll itself never fails.
 * - Notifications: every kind of bad-notifications.ts published to the controller's
 *   exchange: each dead-lettered with a reason or recorded as ignored with a logged reason;
 *   the database is the same afterwards (but for the dead-letter record and the ignored
 *   ledger rows); then a valid notification is still applied, and hostile metadata set on
 *   real volumes (volume.update.end) ends as policy errors.
 * - API: every request of bad-requests.ts against the controller's API: a 4xx answer with
 *   the API's JSON error body and a stable code; never a 5xx.
 * - Canary: hostile values name a path unique to the run; it must not exist afterwards.
 *   The controller runs with a PATH whose first directory holds tripwires (shells, touch,
 *   tar, ssh, ...): any program it started by name would be logged with its arguments.
 *   Valid policies whose exclude patterns carry hostile text are run through the real exec
 *   wrapper as real `tar` commands (the engine's argument builder), to show such a value
 *   reaches a program as one argument and is never interpreted.
 * Throughout, the controller stays up (same pid, no error-level log line).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarCreateArgs } from '../../src/engine/args/archive-args.js';
import { ERROR_CODES } from '../../src/errors.js';
import { runCommand } from '../../src/exec/run-command.js';
import { toTarExcludes } from '../../src/policy/exclude-patterns.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { storableText } from '../../src/storable-text.js';
import { issueToken } from '../api/api-testbed.js';
import { ControllerProcess } from '../controller/controller-process.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';
import { AMQP_URL, deleteTopology } from '../notifications/notification-builder.js';
import { badNotifications } from './bad-notifications.js';
import { badRequests, sendRaw } from './bad-requests.js';
import { printFigures, waitUntil } from './figures.js';
import { HOSTILE_MARKER, hostileCases, type HostileCase } from './hostile-values.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const suffix = randomBytes(4).toString('hex');
const exchange = `clb_rel_bad_${suffix}`;
const queue = `clb-rel-bad-${suffix}.notifications`;
const deadLetterQueue = `${queue}.dead-letter`;
const CANARY = path.join(tmpdir(), `${HOSTILE_MARKER}-${suffix}`);
/** Programs a shell injection or a careless spawn would reach for, watched on the PATH. */
const TRIPWIRES = [
  'sh',
  'bash',
  'dash',
  'touch',
  'rm',
  'cat',
  'env',
  'tar',
  'zstd',
  'ssh',
  'mysqldump',
  'fsfreeze',
  'lvcreate',
  'lvremove',
  'mount',
  'kpartx',
  'curl',
  'wget',
  'psql',
  'id',
];

let db: FreshDatabase;
let emu: OpenStackEmulator;
let ctl: ControllerProcess | null = null;
let work: string;

beforeAll(async () => {
  db = await freshDatabase({ prefix: 'clb_rel_bad' });
  // The scheduler records each of the 11,000 volumes' policy in a statement of its own; with a
  // WAL flush per commit that took 150 s on this shared machine. Durability is not what this
  // scenario measures, and the setting is this database's alone.
  await db.pool.query(`ALTER DATABASE ${db.name} SET synchronous_commit = off`);
  emu = await startOpenStackEmulator({ notifier: { exchange, declareDefaultQueue: false } });
  work = await mkdtemp(path.join(tmpdir(), 'clb-rel-bad-'));
});

afterAll(async () => {
  ctl?.kill('SIGKILL');
  await ctl?.exited;
  await emu?.close();
  await deleteTopology(exchange, [queue, deadLetterQueue]).catch(() => undefined);
  await db?.drop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
  await rm(CANARY, { force: true });
});

/** A directory of scripts that log their name and arguments, then run the real program. */
async function tripwireDir(log: string): Promise<string> {
  const dir = path.join(work, 'tripwires');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  for (const name of TRIPWIRES) {
    let real = '';
    try {
      real = execFileSync('/usr/bin/which', [name], { encoding: 'utf8' }).trim();
    } catch {
      real = '';
    }
    const script = [
      '#!/bin/sh',
      `printf '%s\\n' "${name} $*" >> '${log}'`,
      real === '' ? 'exit 127' : `exec '${real}' "$@"`,
      '',
    ].join('\n');
    const file = path.join(dir, name);
    await writeFile(file, script);
    await chmod(file, 0o755);
  }
  // The tripwires work: a program started by name through this PATH is logged.
  execFileSync('id', ['-u', 'root'], {
    env: { PATH: `${dir}:${process.env['PATH'] ?? ''}` },
  });
  const seen = await readFile(log, 'utf8');
  if (!seen.startsWith('id -u root')) throw new Error(`the tripwires log nothing: "${seen}"`);
  await writeFile(log, '');
  return dir;
}

function addressOf(proc: ControllerProcess, what: 'API' | 'metrics'): string {
  const line = proc.lines.find((l) => l.msg?.startsWith(`${what} listening on `) === true);
  const address = line?.['address'];
  if (typeof address !== 'string') throw new Error(`the controller did not say where ${what} is`);
  return address;
}

/** Cinder refuses keys and values over 255 characters; the poller skips such a volume. */
function overCinderLimits(c: HostileCase): boolean {
  return Object.entries(c.metadata).some(([k, v]) => k.length > 255 || v.length > 255);
}

/**
 * Columns of `volumes` that the leader's periodic work writes from what the rows already
 * hold (scheduler: policy, due time, skip and quota reasons; the orphan pass; the instance
 * resolver), whenever its pass comes round: not what a notification writes.
 */
const LEADER_COLUMNS = [
  'policy',
  'policy_error',
  'next_due_at',
  'skip_reason',
  'quota_error',
  'policy_off_at',
  'orphan_prune_at',
  'instance',
];

/**
 * A digest of every table but the dead-letter record, ignoring the given ledger rows and
 * the leader's columns of `volumes`.
 */
async function databaseDigest(ignoredIds: string[]): Promise<Record<string, string>> {
  const tables = await db.pool.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'dead_notifications'
      ORDER BY 1`,
  );
  const out: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const row = name === 'volumes' ? '(to_jsonb(t) - $1::text[])::text' : 't::text';
    const where = name === 'processed_notifications' ? 'WHERE message_id <> ALL($1::text[])' : '';
    const params =
      name === 'processed_notifications'
        ? [ignoredIds]
        : name === 'volumes'
          ? [LEADER_COLUMNS]
          : [];
    const r = await db.pool.query<{ d: string; n: string }>(
      `SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) AS d, count(*) AS n
         FROM (SELECT ${row} AS x FROM "${name}" t ${where}) s`,
      params,
    );
    out[name] = `${r.rows[0]?.n}:${r.rows[0]?.d}`;
  }
  return out;
}

/** Every volume row as text, by id (to say which changed when the digest differs). */
async function volumeRows(): Promise<Map<string, string>> {
  const r = await db.pool.query<{ id: string; row: string }>(
    'SELECT id::text AS id, (to_jsonb(v) - $1::text[])::text AS row FROM volumes v',
    [LEADER_COLUMNS],
  );
  return new Map(r.rows.map((x) => [x.id, x.row.slice(0, 1500)]));
}

describe('bad input at volume', () => {
  it('refuses every malformed notification, metadata value and API request with a reason, and runs nothing', async () => {
    const t0 = Date.now();
    const phases: string[] = [];
    let tPhase = t0;
    const phase = (name: string): void => {
      phases.push(`${name} ${((Date.now() - tPhase) / 1000).toFixed(1)} s`);
      tPhase = Date.now();
    };
    const tripLog = path.join(work, 'tripwires.log');
    await writeFile(tripLog, '');
    const trip = await tripwireDir(tripLog);

    // ---- metadata through the parser, in process --------------------------------------
    const cases = hostileCases(CANARY);
    const kinds = new Map<number, ReturnType<typeof parsePolicy>['kind']>();
    const parserCrashes: string[] = [];
    const withHostileExcludes = new Map<string, string[]>();
    for (const [i, c] of cases.entries()) {
      try {
        const r = parsePolicy(c.metadata);
        kinds.set(i, r.kind);
        if (r.kind === 'error') expect(r.message.length).toBeGreaterThan(0);
        if (
          r.kind === 'policy' &&
          r.policy.excludes.some((e) => /[$`;|&<>{}'"\\]|clbcanary/.test(e))
        ) {
          withHostileExcludes.set(JSON.stringify(r.policy.excludes), r.policy.excludes);
        }
      } catch (err) {
        parserCrashes.push(`${JSON.stringify(c.metadata).slice(0, 200)}: ${String(err)}`);
      }
    }
    expect(parserCrashes).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(10_000);
    const count = (k: string): number => [...kinds.values()].filter((x) => x === k).length;

    // Accepted exclude patterns that look hostile go to a real tar as one argument each.
    const tarDir = path.join(work, 'tar-source');
    await mkdir(tarDir);
    await writeFile(path.join(tarDir, 'file'), 'data');
    const tarRuns = [...withHostileExcludes.values()].slice(0, 25);
    for (const excludes of tarRuns) {
      const args = tarCreateArgs(tarDir, toTarExcludes(excludes), '/dev/null');
      const r = await runCommand('tar', args, { timeoutMs: 30_000 });
      expect(r.exitCode).toBe(0);
    }

    phase('parser and tar');
    // ---- the same metadata as volumes of the emulated Cinder ----------------------------
    const seeded = emu.control.seedVolumes(cases.length, (i) => ({
      name: `bad-${i}`,
      size: 1,
      metadata: cases[i]?.metadata ?? {},
    }));
    const caseOf = new Map(seeded.map((v, i) => [v.id, i]));

    ctl = new ControllerProcess('controller', {
      DATABASE_URL: db.url,
      AMQP_URL,
      PATH: `${trip}:${process.env['PATH'] ?? ''}`,
      CLB_NOTIFICATION_EXCHANGES: exchange,
      CLB_NOTIFICATION_QUEUE: queue,
      CLB_POLL_INTERVAL: '600',
      CLB_SCHEDULE_INTERVAL: '2',
      CLB_LEADER_RETRY: '1',
      CLB_HINT_DELAY_MS: '200',
      CLB_LOG_LEVEL: 'debug',
      ...emu.env('password'),
    });
    const proc = ctl;
    const pid = proc.pid;
    const pollFailed = (): string | undefined =>
      proc.lines.find((l) => l.msg === 'periodic task failed')?.['err'] !== undefined
        ? JSON.stringify(proc.lines.find((l) => l.msg === 'periodic task failed')).slice(0, 2000)
        : undefined;
    await proc.waitForLog('consuming notifications', 60_000);
    await waitUntil(
      'the first inventory poll',
      () => {
        const failed = pollFailed();
        if (failed !== undefined) throw new Error(`a periodic task failed: ${failed}`);
        return Promise.resolve(proc.count('inventory poll done') > 0);
      },
      90_000,
      200,
    );
    const pollLine = proc.lines.find((l) => l.msg === 'inventory poll done') ?? {};
    phase(
      `poll (fetch ${String(pollLine['fetchMs'])} ms, write ${String(pollLine['writeMs'])} ms)`,
    );
    const expectSkipped = cases.filter(overCinderLimits).length;
    expect(pollLine['skipped']).toBe(expectSkipped);
    expect(pollLine['volumes']).toBe(cases.length - expectSkipped);
    const skipLines = proc.lines.filter((l) => l.msg === 'Cinder volume skipped: cannot be mapped');
    expect(skipLines.length).toBeGreaterThan(0);
    for (const l of skipLines) expect(String(l['reason'])).toMatch(/255 characters/);

    // The scheduler gives each polled volume its policy or its policy error.
    const expectTagged = cases.filter(
      (c, i) => !overCinderLimits(c) && ['policy', 'error'].includes(kinds.get(i) ?? ''),
    ).length;
    await waitUntil(
      'every tagged volume to have its policy or policy error',
      async () => {
        const failed = pollFailed();
        if (failed !== undefined) throw new Error(`a periodic task failed: ${failed}`);
        const r = await db.pool.query<{ n: string }>(
          'SELECT count(*) AS n FROM volumes WHERE policy IS NOT NULL OR policy_error IS NOT NULL',
        );
        return Number(r.rows[0]?.n) >= expectTagged;
      },
      // The scheduler records each volume's policy with its own statement: 11,000 of them
      // took 20-60 s here, depending on the load of the machine.
      150_000,
      500,
    );
    const rows = await db.pool.query<{
      id: string;
      has_policy: boolean;
      policy_error: string | null;
    }>('SELECT id, policy IS NOT NULL AS has_policy, policy_error FROM volumes');
    let inventoryPolicies = 0;
    let inventoryErrors = 0;
    const mismatches: string[] = [];
    for (const r of rows.rows) {
      const i = caseOf.get(r.id);
      if (i === undefined) continue;
      const k = kinds.get(i);
      const got = r.has_policy ? 'policy' : r.policy_error !== null ? 'error' : 'none';
      if (got === 'policy') inventoryPolicies += 1;
      if (got === 'error') {
        inventoryErrors += 1;
        expect(r.policy_error?.length).toBeGreaterThan(0);
      }
      const want = k === 'policy' || k === 'error' ? k : 'none';
      if (got !== want && mismatches.length < 10) {
        mismatches.push(
          `${JSON.stringify(cases[i]?.metadata).slice(0, 200)}: ${want} in process, ${got} in the inventory`,
        );
      }
    }
    expect(mismatches).toEqual([]);
    expect(rows.rows.filter((r) => caseOf.has(r.id)).length).toBe(cases.length - expectSkipped);

    phase('scheduler');
    // ---- malformed notifications through the running consumer ---------------------------
    const corpus = badNotifications();
    const ignoredIds = corpus
      .filter((m) => m.expect === 'ignored' && m.messageId !== undefined)
      .map((m) => m.messageId as string);
    // The scheduler has settled when two digests a while apart agree.
    let before = await databaseDigest(ignoredIds);
    await waitUntil(
      'the database to settle after the first scheduler passes',
      async () => {
        const now = await databaseDigest(ignoredIds);
        const same = JSON.stringify(now) === JSON.stringify(before);
        before = now;
        return same;
      },
      60_000,
      3_000,
    );
    phase('settle');
    const settledRows = await volumeRows();
    const deadBefore = Number(
      (await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM dead_notifications')).rows[0]
        ?.n,
    );
    const conn = await amqp.connect(AMQP_URL);
    conn.on('error', () => undefined);
    const ch = await conn.createConfirmChannel();
    for (const [i, m] of corpus.entries()) {
      ch.publish(exchange, 'notifications.info', m.body, {
        persistent: true,
        contentType: m.properties?.contentType ?? 'application/json',
        ...(m.properties?.contentEncoding === undefined
          ? {}
          : { contentEncoding: m.properties.contentEncoding }),
        ...(m.properties?.userId === undefined ? {} : { userId: m.properties.userId }),
        headers: { 'x-clb-test-case': String(i) },
      });
    }
    await ch.waitForConfirms();

    // Each message's fate: a dead letter with its reason, or an ignored row in the ledger.
    const deadReasons = new Map<number, string>();
    const ignored = new Map<number, string>();
    await waitUntil(
      `${corpus.length} malformed notifications settled`,
      async () => {
        for (;;) {
          const got = await ch.get(deadLetterQueue, { noAck: true });
          if (got === false) break;
          const n = Number(got.properties.headers?.['x-clb-test-case']);
          deadReasons.set(n, String(got.properties.headers?.['x-clb-reason'] ?? ''));
        }
        const ids = corpus.map((m) => m.messageId).filter((x): x is string => x !== undefined);
        const ledger = await db.pool.query<{ message_id: string; outcome: string }>(
          'SELECT message_id, outcome FROM processed_notifications WHERE message_id = ANY($1::text[])',
          [ids],
        );
        for (const r of ledger.rows) {
          const n = corpus.findIndex((m) => m.messageId === r.message_id);
          if (n >= 0) ignored.set(n, r.outcome);
        }
        return deadReasons.size + ignored.size >= corpus.length;
      },
      60_000,
      250,
    ).catch((err: unknown) => {
      const missing = corpus
        .map((m, i) => (deadReasons.has(i) || ignored.has(i) ? null : m.name))
        .filter((x) => x !== null);
      throw new Error(
        `${(err as Error).message}; no fate for: ${missing.join(', ')}\n${proc.raw.slice(-3000)}`,
        {
          cause: err,
        },
      );
    });
    const wrong: string[] = [];
    for (const [i, m] of corpus.entries()) {
      const reason = deadReasons.get(i);
      if (reason !== undefined) {
        if (m.expect !== 'dead-letter' || !m.reason.test(reason) || reason === '') {
          wrong.push(`${m.name}: dead-lettered with "${reason}"`);
        }
        continue;
      }
      const outcome = ignored.get(i);
      const line = proc.lines.find(
        (l) => l['messageId'] === m.messageId && l.msg === 'notification applied',
      );
      const logged = typeof line?.['reason'] === 'string' ? line['reason'] : '';
      if (m.expect !== 'ignored' || outcome !== 'ignored' || !m.reason.test(logged)) {
        wrong.push(`${m.name}: ${String(outcome)} with logged reason "${logged}"`);
      }
    }
    expect(wrong).toEqual([]);
    const deadAfter = Number(
      (await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM dead_notifications')).rows[0]
        ?.n,
    );
    expect(deadAfter - deadBefore).toBe(deadReasons.size);
    // Nothing else changed: volumes, hints, jobs, ledger (but the ignored rows).
    const afterDigest = await databaseDigest(ignoredIds);
    if (JSON.stringify(afterDigest) !== JSON.stringify(before)) {
      // Which volume rows changed, and how, for whoever reads a failed run.
      const now = await volumeRows();
      const changed = [...now.entries()]
        .filter(([id, row]) => settledRows.get(id) !== row)
        .slice(0, 5)
        .map(([id, row]) => `${id}\n  was ${settledRows.get(id) ?? '(none)'}\n  now ${row}`);
      console.log(`volume rows changed during the corpus:\n${changed.join('\n')}`);
    }
    expect(afterDigest).toEqual(before);

    // The consumer is still there: a valid notification (a volume created in Cinder) lands.
    const after = await emu.control.createVolume({
      name: 'after-the-corpus',
      size: 1,
      metadata: { backup: 'daily' },
    });
    await waitUntil(
      'a valid notification after the corpus applied',
      async () =>
        (await db.pool.query('SELECT 1 FROM volumes WHERE id = $1', [after.id])).rowCount === 1,
      30_000,
    );

    // Hostile metadata in well-formed notifications: real volume updates, policy errors.
    // Some that name the canary, some with a NUL (which Postgres cannot keep: stored as
    // SUBSTITUTE), a lone surrogate or another control character.
    const pick = (re: RegExp, n: number) =>
      cases
        .map((c, i) => ({ c, i }))
        .filter(
          ({ c, i }) =>
            kinds.get(i) === 'error' &&
            !overCinderLimits(c) &&
            c.key === 'backup' &&
            re.test(c.value),
        )
        .slice(0, n);
    const hostileUpdates = [
      ...pick(/clbcanary/, 8),
      // eslint-disable-next-line no-control-regex -- values with a NUL wanted
      ...pick(/\u0000/, 6),
      ...pick(/[\ud800-\udfff]/, 3),
      // eslint-disable-next-line no-control-regex -- values with control characters wanted
      ...pick(/[\u0001-\u001f]/, 3),
    ];
    expect(hostileUpdates).toHaveLength(20);
    const updated = seeded.slice(0, hostileUpdates.length);
    for (const [j, { c }] of hostileUpdates.entries()) {
      const v = updated[j];
      if (v !== undefined) await emu.control.updateVolume(v.id, { metadata: c.metadata });
    }
    await waitUntil(
      'hostile metadata of volume updates recorded as policy errors',
      async () => {
        const r = await db.pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM volumes WHERE id = ANY($1::uuid[]) AND policy_error IS NOT NULL
              AND metadata->>'backup' = ANY($2::text[])`,
          [updated.map((v) => v.id), hostileUpdates.map(({ c }) => storableText(c.value))],
        );
        return Number(r.rows[0]?.n) === hostileUpdates.length;
      },
      30_000,
      250,
    );

    phase('notifications');
    // ---- malformed API requests --------------------------------------------------------
    const [, port] = addressOf(proc, 'API').split(':');
    const token = await issueToken(
      emu,
      emu.credentials.demo.username,
      emu.credentials.demo.password,
      emu.credentials.demo.projectId,
    );
    const requests = badRequests(CANARY);
    const answers: { name: string; status: number; code: string | null }[] = [];
    const badAnswers: string[] = [];
    for (const r of requests) {
      const a = await sendRaw(Number(port), r.bytes(token), { halfClose: r.halfClose }).catch(
        (err: unknown) => ({
          status: 0,
          headers: {},
          body: String(err),
        }),
      );
      let code: string | null = null;
      try {
        const parsed = JSON.parse(a.body) as { error?: { code?: unknown; message?: unknown } };
        if (typeof parsed.error?.code === 'string' && typeof parsed.error.message === 'string') {
          code = parsed.error.code;
        }
      } catch {
        code = null;
      }
      answers.push({ name: r.name, status: a.status, code });
      if (a.status < 400 || a.status >= 500 || code === null || !(code in ERROR_CODES)) {
        badAnswers.push(`${r.name}: ${a.status} ${a.body.slice(0, 200)}`);
      }
    }
    expect(badAnswers).toEqual([]);
    // The API still answers a good request.
    const ok = await fetch(`http://${addressOf(proc, 'API')}/v1/volumes?limit=1`, {
      headers: { 'X-Auth-Token': token },
    });
    expect(ok.status).toBe(200);

    phase('API');
    console.log(`bad-input phases: ${phases.join(', ')}`);
    // ---- the controller is alive, and nothing ran ----------------------------------------
    expect(proc.pid).toBe(pid);
    const exitedYet = await Promise.race([
      proc.exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(r, 10, false)),
    ]);
    expect(exitedYet).toBe(false);
    const errorLines = proc.lines.filter((l) => (l.level ?? 0) >= 50);
    expect(errorLines.map((l) => l.msg)).toEqual([]);
    const spawned = (await readFile(tripLog, 'utf8')).split('\n').filter((l) => l !== '');
    expect(spawned.filter((l) => l.includes(HOSTILE_MARKER) || l.includes(CANARY))).toEqual([]);
    const canaryTouched = existsSync(CANARY) || existsSync(path.join(ROOT, path.basename(CANARY)));
    expect(canaryTouched).toBe(false);

    const fmt = (n: number): string => n.toLocaleString('en-US');
    const fourxx = answers.filter((a) => a.status >= 400 && a.status < 500).length;
    const fivexx = answers.filter((a) => a.status >= 500).length;
    printFigures(
      'bad-input',
      `${corpus.length} malformed notifications (${deadReasons.size} dead-lettered with a reason, ` +
        `${ignored.size} ignored with a logged reason, 0 crashes, database unchanged), ` +
        `${fmt(cases.length)} metadata values (parser: ${fmt(count('policy'))} policies, ` +
        `${fmt(count('error'))} policy errors, ${count('off')} off, ${count('untagged')} untagged; ` +
        `inventory: ${fmt(inventoryPolicies)} policies, ${fmt(inventoryErrors)} policy errors, ` +
        `${fmt(expectSkipped)} skipped by the poll as over 255 characters), ` +
        `${hostileUpdates.length} hostile updates as policy errors, ` +
        `${requests.length} API requests (${fourxx} 4xx, ${fivexx} 5xx), ` +
        `${tarRuns.length} tar runs with hostile excludes, ${spawned.length} programs started by the controller, ` +
        `canary untouched (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
    );

    await conn.close();
    proc.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
  }, 360_000);
});
