/**
 * The controller process serves the API and /metrics, as a new user would meet them: a
 * volume tagged in the emulated Cinder shows up in `GET /v1/volumes` for its project's token
 * (and not another project's), "back up now" queues a job over real HTTP, /readyz names its
 * three dependencies, /metrics parses and shows the poll and the queue; SIGTERM closes all.
 */
import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { issueToken } from '../api/api-testbed.js';
import { parsePrometheusText } from '../metrics/prometheus-text.js';
import type { ControllerProcess } from './controller-process.js';
import { CHILD_TEST_TIMEOUT_MS } from '../child-wait.js';
import { useControllerTestbed } from './controller-testbed.js';

const http = axios.create({ validateStatus: () => true, timeout: 10_000 });
const bed = useControllerTestbed('api');

async function addressOf(c: ControllerProcess, what: string): Promise<string> {
  // A loaded CI machine may take a while to start a tsx process.
  const until = Date.now() + 60_000;
  for (;;) {
    const line = c.lines.find((l) => l.msg?.startsWith(`${what} listening on `));
    if (typeof line?.['address'] === 'string') return line['address'];
    if (Date.now() > until) throw new Error(`no "${what} listening" line:\n${c.raw.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('controller HTTP API and metrics', () => {
  it(
    'lists a project’s tagged volumes to its token, queues a backup, reports readiness and metrics',
    async () => {
      const { db, emu, waitFor } = bed;
      const ctl = bed.startController({
        CLB_POLL_INTERVAL: '5',
        CLB_SCHEDULE_INTERVAL: '1',
        CLB_LEADER_RETRY: '1',
      });
      const api = `http://${await addressOf(ctl, 'API')}`;
      const metrics = `http://${await addressOf(ctl, 'metrics')}`;
      await ctl.waitForLog('elected leader: running poller and scheduler');

      const demo = emu.credentials.demo;
      const mine = await emu.control.createVolume({
        name: 'web01',
        projectId: demo.projectId,
        metadata: { backup: 'daily' },
      });
      const theirs = await emu.control.createVolume({
        name: 'admin-db',
        metadata: { backup: 'daily' },
      });
      const token = await issueToken(emu, demo.username, demo.password, demo.projectId);
      const unauth = await http.get(`${api}/v1/volumes`);
      expect(unauth.status).toBe(401);
      expect(unauth.headers['www-authenticate']).toBe(`Keystone uri="${emu.keystoneUrl}"`);

      let listed: { id: string; name: string; policy: string | null }[] = [];
      await waitFor('the tagged volume in GET /v1/volumes', async () => {
        const r = await http.get<{ volumes: typeof listed }>(`${api}/v1/volumes`, {
          headers: { 'X-Auth-Token': token },
        });
        listed = r.status === 200 ? r.data.volumes : [];
        return listed.some((v) => v.id === mine.id && v.policy !== null);
      });
      expect(listed.map((v) => v.id)).toEqual([mine.id]);
      expect(listed[0]?.policy).toMatch(/^daily/);
      const hidden = await http.get(`${api}/v1/volumes/${theirs.id}`, {
        headers: { 'X-Auth-Token': token },
      });
      expect(hidden.status).toBe(404);

      const now = await http.post<{ job: { id: number; kind: string } }>(
        `${api}/v1/volumes/${mine.id}/backups`,
        undefined,
        { headers: { 'X-Auth-Token': token } },
      );
      expect(now.status).toBe(202);
      expect(now.data.job.kind).toBe('backup');

      const ready = await http.get<{ status: string; checks: Record<string, { ok: boolean }> }>(
        `${api}/readyz`,
      );
      expect(ready.status).toBe(200);
      expect(Object.keys(ready.data.checks).sort()).toEqual([
        'cinder',
        'keystone',
        'postgres',
        'rabbitmq',
      ]);

      // The other project's volume reaches the inventory once Cinder confirms its create
      // events (notifications are hints) or the next poll lists it.
      await waitFor('both tagged volumes in the inventory', async () => {
        const r = await db.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM volumes WHERE policy IS NOT NULL',
        );
        return r.rows[0]?.n === 2;
      });
      const scraped = await http.get<string>(`${metrics}/metrics`, { responseType: 'text' });
      expect(scraped.status).toBe(200);
      const m = parsePrometheusText(scraped.data);
      expect(m.value('clb_volumes', { state: 'tagged' })).toBe(2);
      expect(m.value('clb_jobs', { kind: 'backup', state: 'queued' })).toBeGreaterThanOrEqual(1);
      expect(m.value('clb_poll_duration_seconds_count')).toBeGreaterThanOrEqual(1);
      expect(m.value('clb_notifications_consumed_total', { action: 'ack' })).toBeGreaterThanOrEqual(
        1,
      );
      // The API is not served on the metrics port, nor metrics on the API's.
      expect((await http.get(`${metrics}/v1/volumes`)).status).toBe(404);
      expect((await http.get(`${api}/metrics`)).status).toBe(404);

      ctl.kill('SIGTERM');
      expect((await ctl.exited).code).toBe(0);
      await expect(http.get(`${api}/healthz`)).rejects.toThrow();
      // Tokens never reach the log.
      expect(ctl.raw).not.toContain(token);
    },
    CHILD_TEST_TIMEOUT_MS,
  );
});
