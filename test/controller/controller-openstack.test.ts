/**
 * The controller against the OpenStack emulator (Keystone, Cinder, oslo notifier on the real
 * RabbitMQ) and Postgres: a tag set through the metadata endpoint (which notifies nothing)
 * shows up with its policy and a job within one poll; attach, detach, resize, retype and
 * delete events update the inventory; `backup:on=detach` enqueues a job on the detach.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHILD_TEST_TIMEOUT_MS } from '../child-wait.js';
import { useControllerTestbed } from './controller-testbed.js';

const POLL_SECONDS = 5;
const bed = useControllerTestbed('emu');

interface Row {
  status: string;
  size_gb: number;
  volume_type: string | null;
  deleted_at: Date | null;
  attachments: unknown[];
  policy: Record<string, unknown> | null;
  backend_host: string | null;
}

async function row(id: string): Promise<Row | undefined> {
  const r = await bed.db.pool.query<Row>('SELECT * FROM volumes WHERE id = $1', [id]);
  return r.rows[0];
}

async function jobs(id: string): Promise<{ reason: string; backend_host: string }[]> {
  const r = await bed.db.pool.query<{ reason: string; backend_host: string }>(
    'SELECT reason, backend_host FROM jobs WHERE volume_id = $1 ORDER BY id',
    [id],
  );
  return r.rows;
}

describe('controller with the OpenStack emulator', () => {
  it(
    'follows tags through polls and volume life through notifications',
    async () => {
      const { emu, waitFor } = bed;
      const ctl = bed.startController({
        CLB_POLL_INTERVAL: String(POLL_SECONDS),
        CLB_SCHEDULE_INTERVAL: '1',
        CLB_LEADER_RETRY: '1',
      });
      await ctl.waitForLog('consuming notifications');
      await ctl.waitForLog('elected leader: running poller and scheduler');

      // Tag through the metadata endpoint: no notification, so only the poll can see it.
      const v1 = await emu.control.createVolume({ name: 'db01', size: 10 });
      await waitFor(
        'v1 known from its create notification',
        async () => (await row(v1.id)) !== undefined,
      );
      expect((await row(v1.id))?.policy).toBeNull();
      emu.control.setMetadata(v1.id, { backup: 'daily' });
      const seenMs = await waitFor('v1 policy and scheduled job', async () => {
        const r = await row(v1.id);
        return r?.policy != null && (await jobs(v1.id)).length === 1;
      });
      expect(seenMs).toBeLessThan((POLL_SECONDS + 3) * 1000);
      expect(await jobs(v1.id)).toEqual([{ reason: 'schedule', backend_host: 'stor1@lvm' }]);
      const status = await bed.db.pool.query<{
        policy: string;
        policy_error: string | null;
        open_jobs: string;
      }>('SELECT policy, policy_error, open_jobs FROM backup_status WHERE volume_id = $1', [v1.id]);
      expect(status.rows).toEqual([
        {
          policy: expect.stringMatching(/^daily; keep /) as string,
          policy_error: null,
          open_jobs: 'backup:queued',
        },
      ]);

      // A bad tag is visible in backup_status as a policy error, and makes no job.
      const bad = await emu.control.createVolume({ name: 'bad', size: 1 });
      emu.control.setMetadata(bad.id, { backup: 'daily', 'backup:exclude': '../../etc/shadow' });
      await waitFor('policy error recorded', async () => {
        const r = await bed.db.pool.query<{ policy_error: string | null }>(
          'SELECT policy_error FROM backup_status WHERE volume_id = $1',
          [bad.id],
        );
        return /"\.\." path segment/.test(r.rows[0]?.policy_error ?? '');
      });
      expect(await jobs(bad.id)).toEqual([]);

      // backup:on=detach on a volume whose cron schedule is not due: only the detach enqueues.
      const v2 = await emu.control.createVolume({
        name: 'web01',
        size: 5,
        metadata: { backup: '0 3 1 1 *', 'backup:on': 'detach' },
      });
      const server = randomUUID();
      await emu.control.attachVolume(v2.id, server);
      await waitFor('v2 attached', async () => (await row(v2.id))?.status === 'in-use');
      expect((await row(v2.id))?.attachments).toHaveLength(1);
      expect(await jobs(v2.id)).toEqual([]);
      await emu.control.detachVolume(v2.id, server);
      await waitFor('detach job', async () => (await jobs(v2.id)).length === 1);
      expect(await jobs(v2.id)).toEqual([
        { reason: 'event:volume.detach.end', backend_host: 'stor1@lvm' },
      ]);
      expect((await row(v2.id))?.attachments).toEqual([]);

      await emu.control.resizeVolume(v1.id, 20);
      await waitFor('resize', async () => (await row(v1.id))?.size_gb === 20);
      await emu.control.retypeVolume(v2.id, 'lvm-fast');
      await waitFor(
        'retype (type name fetched from Cinder)',
        async () => (await row(v2.id))?.volume_type === 'lvm-fast',
      );
      await emu.control.deleteVolume(v1.id);
      await waitFor('delete', async () => (await row(v1.id))?.deleted_at != null);

      ctl.kill('SIGTERM');
      expect(await ctl.exited).toEqual({ code: 0, signal: null });
      expect(ctl.raw).not.toMatch(/S3cret/);
      console.log(
        `controller+emulator: metadata tag seen with policy and job ${seenMs} ms after the change (poll every ${POLL_SECONDS} s)`,
      );
    },
    CHILD_TEST_TIMEOUT_MS,
  );
});
