/**
 * The authorization matrix: every /v1 route against every kind of caller (no token, a
 * malformed or unknown token, an expired token, a member of the owning project, a member of
 * another project, a reader of the owning project, an admin), with Keystone's answers from
 * the emulator and the catalog in a real Postgres.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../src/jobs/queue.js';
import { addGoodBackup } from './backup-fixtures.js';
import { issueToken, useApiTestbed, type TestCaller } from './api-testbed.js';

const tb = useApiTestbed();

type Who = 'none' | 'bad' | 'expired' | 'alice' | 'bob' | 'rita' | 'ada';
const WHO: Who[] = ['none', 'bad', 'expired', 'bob', 'rita', 'alice', 'ada'];

interface RouteCase {
  name: string;
  method: 'GET' | 'POST' | 'DELETE';
  url: () => string;
  body?: () => unknown;
  /** Expected status for alice (member of A), bob (member of B), rita (reader of A), ada (admin). */
  expect: Record<'alice' | 'bob' | 'rita' | 'ada', number>;
}

let volumeA = '';
let targetA = '';
let backupA = 0;
let jobA = 0;
let expiredToken = '';
const tokens = new Map<Who, string>();

beforeAll(async () => {
  const v = await tb.addVolume(tb.projectA, { name: 'alpha-db' });
  volumeA = v.id;
  targetA = (await tb.addVolume(tb.projectA, { name: 'alpha-restore', sizeGb: 2 })).id;
  backupA = await addGoodBackup(tb.db.pool, volumeA);
  // Last night's backup: a tenant's back up now is not held by the minimum interval here.
  await tb.db.pool.query(
    `UPDATE backups SET started_at = now() - interval '1 day', finished_at = now() - interval '1 day' WHERE id = $1`,
    [backupA],
  );
  const job = await enqueueJob(tb.db.pool, {
    kind: 'prune',
    volumeId: volumeA,
    backendHost: 'stor1@lvm',
    lvName: v.lvName,
    reason: 'schedule',
  });
  jobA = job?.id ?? 0;
  const callers: Record<'alice' | 'bob' | 'rita' | 'ada', TestCaller> = {
    alice: tb.alice,
    bob: tb.bob,
    rita: tb.rita,
    ada: tb.ada,
  };
  for (const [who, c] of Object.entries(callers)) tokens.set(who as Who, await c.token());
  tokens.set('bad', 'gAAAAA-not-a-token-Keystone-issued');
  // A token of alice that Keystone has let expire (1 s lifetime).
  tb.emu.control.setTokenLifetime(1);
  expiredToken = await issueToken(tb.emu, 'alice', 'alice-pw', tb.projectA);
  tb.emu.control.setTokenLifetime(3600);
  await new Promise((r) => setTimeout(r, 1300));
  tokens.set('expired', expiredToken);
});

const ROUTES: RouteCase[] = [
  {
    name: 'list volumes',
    method: 'GET',
    url: () => '/v1/volumes',
    expect: { alice: 200, bob: 200, rita: 200, ada: 200 },
  },
  {
    name: 'show a volume',
    method: 'GET',
    url: () => `/v1/volumes/${volumeA}`,
    expect: { alice: 200, bob: 404, rita: 200, ada: 200 },
  },
  {
    name: "list a volume's backups",
    method: 'GET',
    url: () => `/v1/volumes/${volumeA}/backups`,
    expect: { alice: 200, bob: 404, rita: 200, ada: 200 },
  },
  {
    name: 'show a backup',
    method: 'GET',
    url: () => `/v1/backups/${backupA}`,
    expect: { alice: 200, bob: 404, rita: 200, ada: 200 },
  },
  {
    name: 'back up now',
    method: 'POST',
    url: () => `/v1/volumes/${volumeA}/backups`,
    expect: { alice: 202, bob: 404, rita: 403, ada: 202 },
  },
  {
    name: 'verify a backup',
    method: 'POST',
    url: () => `/v1/backups/${backupA}/verify`,
    expect: { alice: 202, bob: 404, rita: 403, ada: 202 },
  },
  {
    name: 'restore a backup',
    method: 'POST',
    url: () => `/v1/backups/${backupA}/restore`,
    body: () => ({ target_volume_id: targetA }),
    expect: { alice: 403, bob: 404, rita: 403, ada: 202 },
  },
  {
    name: 'show a job',
    method: 'GET',
    url: () => `/v1/jobs/${jobA}`,
    expect: { alice: 200, bob: 404, rita: 200, ada: 200 },
  },
  {
    name: 'cancel a job',
    method: 'DELETE',
    url: () => `/v1/jobs/${jobA}`,
    expect: { alice: 200, bob: 404, rita: 403, ada: 200 },
  },
];

async function call(r: RouteCase, who: Who) {
  const token = tokens.get(who);
  const body = r.body?.();
  return tb.app.inject({
    method: r.method,
    url: r.url(),
    headers: token === undefined ? {} : { 'x-auth-token': token },
    ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
  });
}

describe('authorization matrix', () => {
  for (const r of ROUTES) {
    for (const who of WHO) {
      const expected = who === 'none' || who === 'bad' || who === 'expired' ? 401 : r.expect[who];
      it(`${r.name}: ${who} → ${expected}`, async () => {
        const res = await call(r, who);
        expect(res.statusCode, res.body).toBe(expected);
        const body = res.json<{ error?: { code: string; message: string } }>();
        if (expected === 401) {
          expect(res.headers['www-authenticate']).toBe(`Keystone uri="${tb.emu.keystoneUrl}"`);
          expect(body.error?.code).toBe('UNAUTHENTICATED');
        }
        if (expected === 403) expect(body.error?.code).toBe('FORBIDDEN');
        if (expected === 404) {
          expect(body.error?.code).toMatch(/^(VOLUME|BACKUP|JOB)_NOT_FOUND$/);
          // Nothing of project A leaks into the answer to project B.
          expect(res.body).not.toContain('alpha');
          expect(res.body).not.toContain(tb.projectA);
        }
      });
    }
  }

  it("another project's object is answered exactly like one that does not exist", async () => {
    const bob = tokens.get('bob') ?? '';
    const missing = randomUUID();
    const pairs: [string, string][] = [
      [`/v1/volumes/${volumeA}`, `/v1/volumes/${missing}`],
      [`/v1/volumes/${volumeA}/backups`, `/v1/volumes/${missing}/backups`],
      [`/v1/backups/${backupA}`, '/v1/backups/999999'],
      [`/v1/jobs/${jobA}`, '/v1/jobs/999999'],
    ];
    for (const [theirs, none] of pairs) {
      const a = await tb.app.inject({ url: theirs, headers: { 'x-auth-token': bob } });
      const b = await tb.app.inject({ url: none, headers: { 'x-auth-token': bob } });
      expect(a.statusCode).toBe(404);
      const idOf = (u: string) => u.split('/')[3] ?? '';
      expect(a.body.replaceAll(idOf(theirs), 'ID')).toBe(b.body.replaceAll(idOf(none), 'ID'));
    }
  });

  it('a token that expires while cached is refused from its expiry on', async () => {
    tb.emu.control.setTokenLifetime(2);
    const shortLived = await issueToken(tb.emu, 'alice', 'alice-pw', tb.projectA);
    tb.emu.control.setTokenLifetime(3600);
    const first = await tb.app.inject({
      url: '/v1/volumes',
      headers: { 'x-auth-token': shortLived },
    });
    expect(first.statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 2100));
    const after = await tb.app.inject({
      url: '/v1/volumes',
      headers: { 'x-auth-token': shortLived },
    });
    expect(after.statusCode).toBe(401);
  });

  it('an unscoped or malformed X-Auth-Token header is refused before the body is read', async () => {
    const res = await tb.app.inject({
      method: 'POST',
      url: `/v1/backups/${backupA}/restore`,
      headers: { 'x-auth-token': 'bad token with spaces', 'content-type': 'application/json' },
      payload: '{not json',
    });
    expect(res.statusCode).toBe(401);
  });
});
