/**
 * Keystone and Cinder fail under a running controller (the OpenStack emulator, real
 * Postgres and RabbitMQ): Keystone down, every token expired (401), Cinder answering 503,
 * 429 with Retry-After, stalling past the client's timeout, resetting connections, cutting
 * its answer in half, and listing a third of the volumes once.
 *
 * For each fault: the poll fails (or, for an expired token and a 429, succeeds after
 * re-authenticating or waiting as told); the inventory keeps every volume (none marked
 * deleted, none lost); /readyz and /metrics name what is wrong while it lasts; and a poll
 * succeeds again once the fault is gone (the recovery time).
 */
import { describe, expect, it } from 'vitest';
import type { ControllerProcess } from '../controller/controller-process.js';
import { useControllerTestbed } from '../controller/controller-testbed.js';
import { printFigures, waitUntil } from './figures.js';

const VOLUMES = 300;
const POLL_SECONDS = 5;

const bed = useControllerTestbed('rel_os');

function addressOf(proc: ControllerProcess, what: 'API' | 'metrics'): string {
  const line = proc.lines.find((l) => l.msg?.startsWith(`${what} listening on `) === true);
  const address = line?.['address'];
  if (typeof address !== 'string') throw new Error(`the controller did not say where ${what} is`);
  return `http://${address}`;
}

/** Sum of a counter's samples whose labels contain `labels` (Prometheus text format). */
function metricSum(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m === null || m[1] !== name || !(m[2] ?? '').includes(labels)) continue;
    sum += Number(m[3]);
  }
  return sum;
}

interface Readyz {
  status: 'ready' | 'not ready';
  checks: Record<string, { ok: boolean; error?: string }>;
}

describe('Keystone and Cinder faults under the controller', () => {
  it('never shrinks the inventory, says what is wrong, and recovers', async () => {
    const { db, emu } = bed;
    emu.control.seedVolumes(VOLUMES, (i) => ({ name: `os-${i}`, size: 1 }));
    const proc = bed.startController({
      CLB_POLL_INTERVAL: String(POLL_SECONDS),
      CLB_SCHEDULE_INTERVAL: '5',
      CLB_LEADER_RETRY: '1',
      CLB_LOG_LEVEL: 'info',
    });
    await proc.waitForLog('consuming notifications');
    await proc.waitForLog('inventory poll done');
    const api = addressOf(proc, 'API');
    const metricsUrl = `${addressOf(proc, 'metrics')}/metrics`;

    const live = async (): Promise<number> => {
      const r = await db.pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM volumes WHERE deleted_at IS NULL',
      );
      return Number(r.rows[0]?.n);
    };
    const deleted = async (): Promise<number> => {
      const r = await db.pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM volumes WHERE deleted_at IS NOT NULL',
      );
      return Number(r.rows[0]?.n);
    };
    const readyz = async (): Promise<Readyz> => {
      const res = await fetch(`${api}/readyz`, { signal: AbortSignal.timeout(10_000) });
      return (await res.json()) as Readyz;
    };
    const metrics = async (): Promise<string> =>
      (await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) })).text();
    const polls = (): number => proc.count('inventory poll done');
    const pollFailures = (): number =>
      proc.lines.filter((l) => l.msg === 'periodic task failed' && l['task'] === 'inventory poller')
        .length;

    expect(await live()).toBe(VOLUMES);
    expect((await readyz()).status).toBe('ready');

    const results: string[] = [];
    let minLive = VOLUMES;
    let maxRecovery = 0;
    let totalFailed = 0;
    const watchInventory = async (): Promise<void> => {
      minLive = Math.min(minLive, await live());
      expect(await deleted()).toBe(0);
    };

    /**
     * Runs one fault: `start` injects it; the test waits until `failedPolls` polls failed
     * (0: the fault must be absorbed inside one poll, which then succeeds), checking the
     * inventory all along, then calls `check` (readyz, metrics) while the fault lasts,
     * `stop`s it and measures the time until a poll succeeds again.
     */
    const fault = async (
      name: string,
      opts: {
        start: () => Promise<void> | void;
        stop: () => Promise<void> | void;
        failedPolls: number;
        whileFailing?: () => Promise<void>;
        timeoutMs?: number;
      },
    ): Promise<void> => {
      const failuresBefore = pollFailures();
      const pollsBefore = polls();
      const cinderBefore = emu.control.requests('cinder').length;
      const t0 = Date.now();
      await opts.start();
      if (opts.failedPolls > 0) {
        await waitUntil(
          `${name}: ${opts.failedPolls} failed polls`,
          async () => {
            await watchInventory();
            return pollFailures() - failuresBefore >= opts.failedPolls;
          },
          opts.timeoutMs ?? 60_000,
          200,
        );
        // No poll got through while the fault lasted.
        expect(polls()).toBe(pollsBefore);
        await opts.whileFailing?.();
      }
      const stoppedAt = Date.now();
      await opts.stop();
      await waitUntil(
        `${name}: a successful poll after the fault`,
        async () => {
          await watchInventory();
          return polls() > pollsBefore;
        },
        opts.timeoutMs ?? 60_000,
        100,
      );
      const recovery = (Date.now() - stoppedAt) / 1000;
      maxRecovery = Math.max(maxRecovery, recovery);
      expect(await live()).toBe(VOLUMES);
      const failed = pollFailures() - failuresBefore;
      const requests = emu.control.requests('cinder').length - cinderBefore;
      totalFailed += failed;
      results.push(
        `${name} ${failed}/${requests}/${((stoppedAt - t0) / 1000).toFixed(0)}s/${recovery.toFixed(1)}s`,
      );
    };

    // Keystone gone (every token expired, the service refusing connections).
    await fault('keystone-down', {
      start: async () => {
        emu.control.expireAllTokens();
        await emu.control.down('keystone');
      },
      failedPolls: 2,
      whileFailing: async () => {
        const r = await readyz();
        expect(r.status).toBe('not ready');
        expect(r.checks['keystone']?.ok).toBe(false);
        expect(r.checks['keystone']?.error).toMatch(/^[A-Z_]+: /);
        expect(r.checks['cinder']?.ok).toBe(false);
        expect(metricSum(await metrics(), 'clb_poll_errors_total')).toBeGreaterThanOrEqual(2);
      },
      stop: () => emu.control.up('keystone'),
    });
    expect((await readyz()).status).toBe('ready');

    // Every token expired: the 401 makes the client authenticate again within the poll.
    const authsBefore = emu.control
      .requests('keystone')
      .filter((r) => r.method === 'POST' && r.path.endsWith('/auth/tokens')).length;
    await fault('token-expired-401', {
      start: () => emu.control.expireAllTokens(),
      failedPolls: 0,
      stop: () => undefined,
    });
    const authsAfter = emu.control
      .requests('keystone')
      .filter((r) => r.method === 'POST' && r.path.endsWith('/auth/tokens')).length;
    expect(authsAfter).toBeGreaterThan(authsBefore);

    // Cinder 503 on every request.
    await fault('cinder-503', {
      start: () => {
        emu.control.fail('cinder', { status: 503, times: Infinity });
      },
      failedPolls: 2,
      whileFailing: async () => {
        const r = await readyz();
        expect(r.checks['cinder']?.ok).toBe(false);
        expect(r.checks['cinder']?.error).toMatch(
          /^OPENSTACK_[A-Z_]+: 2 inventory poll|^OPENSTACK_[A-Z_]+: [0-9]+ inventory poll/,
        );
        expect(
          metricSum(await metrics(), 'clb_poll_errors_total', 'code="OPENSTACK'),
        ).toBeGreaterThanOrEqual(2);
      },
      stop: () => emu.control.clearFailures(),
    });
    expect((await readyz()).checks['cinder']?.ok).toBe(true);

    // 429 with Retry-After: 2 twice: the client waits as told, and the poll succeeds.
    const before429 = emu.control.requests('cinder').length;
    await fault('cinder-429', {
      start: () => {
        emu.control.fail('cinder', {
          status: 429,
          headers: { 'Retry-After': '2' },
          times: 2,
        });
      },
      failedPolls: 0,
      stop: () => undefined,
    });
    const listed = emu.control
      .requests('cinder')
      .slice(before429)
      .filter((r) => r.path.endsWith('/volumes/detail'));
    expect(listed.length).toBeGreaterThanOrEqual(3);
    const gaps = listed.slice(1, 3).map((r, i) => r.at.getTime() - (listed[i]?.at.getTime() ?? 0));
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1900);

    // Cinder cuts its answer in half (Content-Length says more): the poll fails, nothing
    // changes.
    await fault('cinder-truncated', {
      start: () => {
        emu.control.fail('cinder', { kind: 'truncate', times: Infinity });
      },
      failedPolls: 1,
      stop: () => emu.control.clearFailures(),
    });

    // Connections reset.
    await fault('cinder-reset', {
      start: () => {
        emu.control.fail('cinder', { kind: 'reset', times: Infinity });
      },
      failedPolls: 1,
      stop: () => emu.control.clearFailures(),
    });

    // One answer that lists a third of the volumes (a Cinder with a broken database): the
    // mass-deletion guard holds the deletions; the next poll lists them all again.
    const hidden = new Map<string, ReturnType<typeof emu.control.volumes>[number]>();
    let shortPollsBefore = 0;
    await fault('cinder-short-list', {
      start: () => {
        shortPollsBefore = polls();
        emu.control.fail('cinder', {
          times: 1,
          // A hook, not a failure: just before the next listing is served, two thirds of
          // the volumes vanish from the emulated Cinder (returns false: served normally).
          match: (req) => {
            if (req.path.endsWith('/volumes/detail') && hidden.size === 0) {
              for (const v of emu.control.volumes().slice(VOLUMES / 3)) {
                hidden.set(v.id, v);
                emu.control.state.volumes.delete(v.id);
              }
            }
            return false;
          },
        });
      },
      failedPolls: 0,
      stop: async () => {
        // Back once the short listing went through one poll.
        await waitUntil(
          'the short poll',
          () => Promise.resolve(polls() > shortPollsBefore && hidden.size > 0),
          30_000,
        );
        for (const [id, v] of hidden) emu.control.state.volumes.set(id, v);
        emu.control.clearFailures();
      },
    });
    expect(hidden.size).toBe(VOLUMES - VOLUMES / 3);
    expect(
      proc.lines.some((l) => l.msg?.includes('too many to mark deleted from one poll') === true),
    ).toBe(true);

    // Cinder stops answering (the request hangs): bounded by the client's 30 s timeout, then
    // its retry gets through.
    await fault('cinder-stall', {
      start: () => {
        emu.control.fail('cinder', { kind: 'timeout', times: 1 });
      },
      failedPolls: 0,
      stop: () => undefined,
      timeoutMs: 90_000,
    });

    const m = await metrics();
    printFigures(
      'openstack',
      `${results.length} faults, ${totalFailed} polls failed, ${VOLUMES} volumes, ` +
        `${VOLUMES - minLive} lost, ${await deleted()} marked deleted, ` +
        `${metricSum(m, 'clb_poll_errors_total')} poll errors in /metrics, recovery ` +
        `${maxRecovery.toFixed(1)} s max (fault failed-polls/Cinder-requests/duration/recovery: ` +
        `${results.join(', ')})`,
    );
    expect(minLive).toBe(VOLUMES);
    proc.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
  }, 300_000);
});
