/**
 * LISTEN for the queue's hints: `clb_jobs` (a job of a host became claimable) and
 * `clb_job_cancel` (a running job was asked to stop). Hints only make the agent act sooner;
 * it polls anyway, so a lost connection costs latency, not correctness. The connection is
 * re-opened after a failure.
 */
import pg from 'pg';
import type { Logger } from '../log.js';

export interface WakeupHandlers {
  /** A job for one of `hosts` may be claimable. */
  onJobs: () => void;
  /** Someone asked to cancel job `jobId`. */
  onCancel: (jobId: number) => void;
}

export class QueueWakeup {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly url: string,
    private readonly hosts: ReadonlySet<string>,
    private readonly handlers: WakeupHandlers,
    private readonly logger: Logger,
  ) {}

  /** Connects and listens; failures are logged and retried in the background. */
  async start(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.url,
      application_name: 'cinder-lvm-backup agent listener',
    });
    client.on('notification', (n) => {
      if (n.channel === 'clb_jobs') {
        if (n.payload !== undefined && this.hosts.has(n.payload)) this.handlers.onJobs();
      } else if (n.channel === 'clb_job_cancel') {
        const id = Number(n.payload);
        if (Number.isInteger(id)) this.handlers.onCancel(id);
      }
    });
    client.on('error', (err) => {
      this.logger.warn({ err }, 'queue listener lost its connection');
      this.scheduleRetry(client);
    });
    try {
      await client.connect();
      await client.query('LISTEN clb_jobs');
      await client.query('LISTEN clb_job_cancel');
      this.client = client;
      // Jobs may have been enqueued while we were not listening.
      this.handlers.onJobs();
    } catch (err) {
      this.logger.warn({ err }, 'queue listener cannot connect');
      this.scheduleRetry(client);
    }
  }

  private scheduleRetry(client: pg.Client): void {
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.client === client) this.client = null;
    if (this.stopped || this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.start();
    }, 5_000);
  }

  /** Stops listening and closes the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    if (client !== null) await client.end().catch(() => undefined);
  }
}
