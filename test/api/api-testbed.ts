/**
 * What the API tests share: a fresh database, the OpenStack emulator's Keystone, callers of
 * two projects (a member, a reader) and an admin with tokens issued by that Keystone, and
 * the API app built on them (use `app.inject()`). Torn down after the file.
 */
import { randomUUID } from 'node:crypto';
import axios from 'axios';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { buildApiServer, type ApiServerOptions } from '../../src/api/api-server.js';
import { readinessProbe, type ReadinessCheck } from '../../src/api/readiness.js';
import { amqpConnectCheck, keystoneCheck, postgresCheck } from '../../src/api/readiness-checks.js';
import { TokenValidator } from '../../src/api/token-validator.js';
import { getVolume, type Volume } from '../../src/db/volumes.js';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import { cinderVolumeLookup } from '../../src/inventory/cinder-volume-lookup.js';
import { createOpenStackClients } from '../../src/openstack/clients.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { putVolume } from '../db/volume-fixtures.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';

export const AMQP_URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface TestCaller {
  user: string;
  projectId: string;
  /** A fresh token of this caller (issued by the emulated Keystone). */
  token(): Promise<string>;
}

export interface ApiTestbed {
  readonly db: FreshDatabase;
  readonly emu: OpenStackEmulator;
  readonly app: FastifyInstance;
  readonly tokens: TokenValidator;
  /** Members of project A and B, a reader of A, an admin (project ops). */
  readonly alice: TestCaller;
  readonly bob: TestCaller;
  readonly rita: TestCaller;
  readonly ada: TestCaller;
  readonly projectA: string;
  readonly projectB: string;
  /** Adds a tagged volume (policy set) of `projectId` on `host@lvm`. */
  addVolume(projectId: string, extra?: Partial<VolumeExtra>): Promise<Volume>;
}

export interface VolumeExtra {
  name: string;
  host: string;
  sizeGb: number;
  status: string;
  policy: Record<string, unknown> | null;
  policyError: string | null;
}

export const DAILY_POLICY = {
  schedule: { kind: 'interval', everySeconds: 86_400 },
  scheduleText: 'daily',
  retention: { daily: 7 },
  excludes: [],
};

/** Issues a token for `user` scoped to `projectId` from the emulated Keystone. */
export async function issueToken(
  emu: OpenStackEmulator,
  user: string,
  password: string,
  projectId: string,
): Promise<string> {
  const res = await axios.post(
    `${emu.keystoneUrl}/auth/tokens`,
    {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: { name: 'Default' }, password } },
        },
        scope: { project: { id: projectId } },
      },
    },
    { validateStatus: () => true },
  );
  const token = res.headers['x-subject-token'] as unknown;
  if (res.status !== 201 || typeof token !== 'string') {
    throw new Error(`emulated Keystone refused ${user}: ${res.status}`);
  }
  return token;
}

export function useApiTestbed(
  options: Partial<ApiServerOptions> & { readiness?: ReadinessCheck[] } = {},
): ApiTestbed {
  const state: Partial<Record<keyof ApiTestbed, unknown>> = {};
  beforeAll(async () => {
    const db = await freshDatabase();
    const emu = await startOpenStackEmulator({ notifier: false });
    const st = emu.control.state;
    const a = st.addProject('alpha');
    const b = st.addProject('beta');
    const ops = st.addProject('ops');
    st.addUser('alice', 'alice-pw', { [a.id]: ['member', 'reader'] });
    st.addUser('bob', 'bob-pw', { [b.id]: ['member', 'reader'] });
    st.addUser('rita', 'rita-pw', { [a.id]: ['reader'] });
    st.addUser('ada', 'ada-pw', { [ops.id]: ['admin', 'member', 'reader'] });
    const caller = (user: string, projectId: string): TestCaller => ({
      user,
      projectId,
      token: () => issueToken(emu, user, `${user}-pw`, projectId),
    });
    const credentials = await loadOpenStackCredentials({ env: emu.env() });
    const { session, cinder } = createOpenStackClients({ credentials });
    const tokens = new TokenValidator({
      validate: (t) => session.validateToken(t, { retry: { attempts: 1, timeoutMs: 5000 } }),
    });
    const app = await buildApiServer(
      { keystoneUrl: emu.keystoneUrl, ...options },
      {
        db: db.pool,
        tokens,
        cinderLookup: cinderVolumeLookup(cinder),
        cinderResetStatus: (id, status) => cinder.resetStatus(id, status),
        readiness: readinessProbe(
          options.readiness ?? [
            postgresCheck(db.pool),
            amqpConnectCheck(AMQP_URL),
            keystoneCheck(session),
          ],
          { reuseMs: 0 },
        ),
      },
    );
    Object.assign(state, {
      db,
      emu,
      app,
      tokens,
      alice: caller('alice', a.id),
      bob: caller('bob', b.id),
      rita: caller('rita', a.id),
      ada: caller('ada', ops.id),
      projectA: a.id,
      projectB: b.id,
    });
  });
  afterAll(async () => {
    await (state.app as FastifyInstance | undefined)?.close();
    await (state.emu as OpenStackEmulator | undefined)?.close();
    await (state.db as FreshDatabase | undefined)?.drop();
  });
  const get = <K extends keyof ApiTestbed>(k: K): ApiTestbed[K] => {
    const v = state[k];
    if (v === undefined) throw new Error(`API testbed: ${k} used before beforeAll ran`);
    return v as ApiTestbed[K];
  };
  return {
    get db() {
      return get('db');
    },
    get emu() {
      return get('emu');
    },
    get app() {
      return get('app');
    },
    get tokens() {
      return get('tokens');
    },
    get alice() {
      return get('alice');
    },
    get bob() {
      return get('bob');
    },
    get rita() {
      return get('rita');
    },
    get ada() {
      return get('ada');
    },
    get projectA() {
      return get('projectA');
    },
    get projectB() {
      return get('projectB');
    },
    async addVolume(projectId, extra = {}) {
      const id = randomUUID();
      const pool = get('db').pool;
      // The same volume in the emulated Cinder (restore targets are checked there).
      await get('emu').control.createVolume({
        id,
        name: extra.name ?? `vol-${id.slice(0, 8)}`,
        projectId,
        size: extra.sizeGb ?? 1,
        status: extra.status ?? 'available',
        host: `${extra.host ?? 'stor1'}@lvm#LVM`,
        metadata: { backup: 'daily' },
      });
      await putVolume(pool, {
        id,
        name: extra.name ?? `vol-${id.slice(0, 8)}`,
        projectId,
        status: extra.status ?? 'available',
        sizeGb: extra.sizeGb ?? 1,
        host: `${extra.host ?? 'stor1'}@lvm#LVM`,
        lvName: `volume-${id}`,
        metadata: { backup: 'daily' },
      });
      // The policy as the scheduler would record it (or a given one, or its error).
      const policy = extra.policy === undefined ? DAILY_POLICY : extra.policy;
      await pool.query('UPDATE volumes SET policy = $2, policy_error = $3 WHERE id = $1', [
        id,
        policy === null ? null : JSON.stringify(policy),
        extra.policyError ?? null,
      ]);
      const v = await getVolume(pool, id);
      if (v === null) throw new Error(`volume ${id} was not written`);
      return v;
    },
  };
}
