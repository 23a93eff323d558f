/**
 * Latency of `GET /v1/volumes` with 10,000 tagged volumes (20,000 backup rows) in the real
 * Postgres, token cached, under a load generator (autocannon, 10 connections, 10 s per
 * run), against `GET /healthz` of the same server as the baseline (no database, no auth).
 *
 *   npx tsx test/bench/api-volumes.ts          # prints p50/p99 per endpoint and the ratio
 *
 * Loopback only; bounded in time; cleans up its database.
 */
import autocannon from 'autocannon';
import { buildApiServer } from '../../src/api/api-server.js';
import { readinessProbe } from '../../src/api/readiness.js';
import { TokenValidator } from '../../src/api/token-validator.js';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import { KeystoneSession } from '../../src/openstack/keystone.js';
import { freshDatabase } from '../db/fresh-database.js';
import { startOpenStackEmulator } from '../emulator/openstack-emulator.js';

/** A project-scoped token from the emulated Keystone (as test/api/api-testbed.ts does). */
async function issueToken(
  e: { keystoneUrl: string },
  user: string,
  password: string,
  projectId: string,
) {
  const res = await fetch(`${e.keystoneUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: { name: 'Default' }, password } },
        },
        scope: { project: { id: projectId } },
      },
    }),
  });
  const token = res.headers.get('x-subject-token');
  if (res.status !== 201 || token === null) throw new Error(`Keystone refused ${user}`);
  return token;
}

const VOLUMES = 10_000;
const SECONDS = 10;
const CONNECTIONS = 10;

async function load(url: string, token: string | null) {
  const r = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: token === null ? {} : { 'x-auth-token': token },
  });
  return {
    p50: r.latency.p50,
    p99: r.latency.p99,
    rps: r.requests.average,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

const db = await freshDatabase();
const emu = await startOpenStackEmulator({ notifier: false });
try {
  const project = emu.control.state.addProject('bench');
  emu.control.state.addUser('bench', 'bench-pw', { [project.id]: ['member'] });
  const policy = JSON.stringify({
    schedule: { kind: 'interval', everySeconds: 86_400 },
    scheduleText: 'daily',
    retention: { daily: 7 },
    excludes: [],
  });
  await db.pool.query(
    `INSERT INTO volumes (id, name, project_id, status, size_gb, host, backend_host, lv_name,
                          metadata, policy, next_due_at)
     SELECT u, 'vol-' || i, $1, 'available', 10, 'stor' || (i % 8) || '@lvm#LVM',
            'stor' || (i % 8) || '@lvm', 'volume-' || u, '{"backup":"daily"}', $2::jsonb,
            now() + interval '1 hour'
       FROM (SELECT gen_random_uuid() AS u, i FROM generate_series(1, $3) i) s`,
    [project.id, policy, VOLUMES],
  );
  await db.pool.query(
    `INSERT INTO backups (volume_id, status, reason, started_at, finished_at, bytes_read,
                          bytes_written, manifest_path, backup_id)
     SELECT v.id, 'succeeded', 'schedule', now() - d * interval '1 day',
            now() - d * interval '1 day' + interval '5 minutes', 3e9, 1e9,
            '/b/' || v.id || '/' || d || '/manifest.json', v.id || '-' || d
       FROM volumes v, generate_series(1, 2) d`,
  );
  await db.pool.query('ANALYZE');
  const credentials = await loadOpenStackCredentials({ env: emu.env() });
  const session = new KeystoneSession({ credentials });
  const tokens = new TokenValidator({ validate: (t) => session.validateToken(t) });
  const app = await buildApiServer(
    { keystoneUrl: emu.keystoneUrl },
    { db: db.pool, tokens, readiness: readinessProbe([]) },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const base = `http://127.0.0.1:${port}`;
  const token = await issueToken(emu, 'bench', 'bench-pw', project.id);
  const first = await fetch(`${base}/v1/volumes?with_count=true`, {
    headers: { 'x-auth-token': token },
  });
  const body = (await first.json()) as { volumes: unknown[]; count: number };
  console.log(`${VOLUMES} volumes; the project's list says count=${body.count}`);

  const healthz = await load(`${base}/healthz`, null);
  const page = await load(`${base}/v1/volumes`, token);
  const big = await load(`${base}/v1/volumes?limit=1000`, token);
  const last = await load(`${base}/v1/volumes?marker=ffffffff-0000-4000-8000-000000000000`, token);
  const rows = [
    ['GET /healthz (baseline)', healthz],
    ['GET /v1/volumes (100 per page)', page],
    ['GET /v1/volumes?limit=1000', big],
    ['GET /v1/volumes past the last id', last],
  ] as const;
  console.log(`autocannon, ${CONNECTIONS} connections, ${SECONDS} s each; token cached`);
  for (const [name, r] of rows) {
    console.log(
      `${name.padEnd(34)} p50 ${String(r.p50).padStart(4)} ms  p99 ${String(r.p99).padStart(4)} ms  ` +
        `${r.rps.toFixed(0).padStart(6)} req/s  non-2xx ${r.non2xx}  errors ${r.errors}  ` +
        `p50 ×${(r.p50 / Math.max(healthz.p50, 1)).toFixed(1)} of baseline`,
    );
  }
  console.log(`Keystone validations during the run: ${tokens.keystoneCalls}`);
  await app.close();
} finally {
  await emu.close();
  await db.drop();
}
