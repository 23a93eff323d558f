/**
 * Leadership among several controllers: a Postgres session-level advisory lock held on a
 * connection of its own. Whoever holds it runs the poller and the scheduler; the others keep
 * consuming notifications and try again periodically. When the holder dies, Postgres ends
 * its session and drops the lock, and the next attempt of another controller takes over;
 * when the holder's connection breaks, it steps down at once (it can no longer prove it
 * holds the lock).
 */
import pg from 'pg';
import { silentLogger, type Logger } from '../log.js';

/** 'clbc' as a 32-bit number: the controller leadership lock. */
export const LEADER_LOCK_KEY = 0x636c6263;

export interface LeadershipOptions {
  databaseUrl: string;
  /** Seconds between attempts while following, and between liveness checks while leading. */
  retrySeconds: number;
  onElected: () => void;
  /** Must stop leader work; awaited before leadership is attempted again. */
  onDeposed: () => Promise<void>;
  logger?: Logger;
  lockKey?: number;
}

export class Leadership {
  private client: pg.Client | null = null;
  private leading = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private tick: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly o: LeadershipOptions) {
    this.log = (o.logger ?? silentLogger).child({ component: 'leadership' });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.tick = this.step().finally(() => this.schedule(this.o.retrySeconds * 1000));
    }, ms);
  }

  private async step(): Promise<void> {
    try {
      if (this.client === null) {
        const c = new pg.Client({
          connectionString: this.o.databaseUrl,
          application_name: 'cinder-lvm-backup controller leadership',
          keepAlive: true,
          connectionTimeoutMillis: 10_000,
          // A leader cut off from Postgres must notice within a bounded time, not hang.
          query_timeout: 10_000,
        });
        c.on('error', () => undefined);
        await c.connect();
        this.client = c;
      }
      if (this.leading) {
        await this.client.query('SELECT 1');
        return;
      }
      const res = await this.client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock($1) AS ok',
        [this.o.lockKey ?? LEADER_LOCK_KEY],
      );
      if (res.rows[0]?.ok === true && !this.stopped) {
        this.leading = true;
        this.log.info('elected leader: running poller and scheduler');
        this.o.onElected();
      }
    } catch (err) {
      this.log.warn({ err }, 'leadership connection failed');
      const c = this.client;
      this.client = null;
      await c?.end().catch(() => undefined);
      if (this.leading) {
        this.leading = false;
        this.log.warn('stepping down: the lock connection is gone');
        await this.o.onDeposed();
      }
    }
  }

  /** Stops trying; a leader stops its work and releases the lock (by closing its session). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.tick;
    if (this.leading) {
      this.leading = false;
      await this.o.onDeposed();
    }
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }
}
