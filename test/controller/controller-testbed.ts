/**
 * What the controller-process tests against the OpenStack emulator set up: a fresh
 * database, the emulator with its oslo notifier on an exchange of the real RabbitMQ private
 * to the file, and the controller the test starts, all torn down after the file (the
 * controller SIGKILLed first, the exchange and its queues deleted).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { CHILD_WAIT_MS, waitForChild } from '../child-wait.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';
import { AMQP_URL, deleteTopology } from '../notifications/notification-builder.js';
import { ControllerProcess } from './controller-process.js';

export interface ControllerTestbed {
  readonly db: FreshDatabase;
  readonly emu: OpenStackEmulator;
  /**
   * Starts `cinder-lvm-backup controller` on the testbed's database, broker, exchange and
   * emulator (password credentials), with `env` added; it is killed after the file.
   */
  readonly startController: (env?: Record<string, string>) => ControllerProcess;
  /**
   * Polls `fn` every 100 ms until it holds; returns the milliseconds that took. After
   * `timeoutMs` (default {@link CHILD_WAIT_MS}) it throws, naming `what`, with the tail of the
   * controller's log.
   */
  readonly waitFor: (
    what: string,
    fn: () => Promise<boolean> | boolean,
    timeoutMs?: number,
  ) => Promise<number>;
}

/**
 * Registers the set-up and tear-down hooks; the fields are usable inside tests. `tag` names
 * the exchange and queue (`clb_test_<tag>_<random>`), so files running side by side never
 * share them.
 */
export function useControllerTestbed(tag: string): ControllerTestbed {
  const suffix = randomBytes(4).toString('hex');
  const exchange = `clb_test_${tag}_${suffix}`;
  const queue = `clb-test-${tag}-${suffix}.notifications`;
  let db: FreshDatabase | undefined;
  let emu: OpenStackEmulator | undefined;
  let ctl: ControllerProcess | undefined;
  beforeAll(async () => {
    db = await freshDatabase();
    emu = await startOpenStackEmulator({ notifier: { exchange, declareDefaultQueue: false } });
  });
  afterAll(async () => {
    ctl?.kill('SIGKILL');
    await ctl?.exited;
    await emu?.close();
    await deleteTopology(exchange, [queue, `${queue}.dead-letter`]).catch(() => undefined);
    await db?.drop();
  });
  const ready = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) {
      throw new Error(`controller testbed: ${name} used before beforeAll ran`);
    }
    return value;
  };
  return {
    get db() {
      return ready(db, 'db');
    },
    get emu() {
      return ready(emu, 'emu');
    },
    startController: (env = {}) => {
      if (ctl !== undefined) throw new Error('controller testbed: one controller per file');
      ctl = new ControllerProcess('controller', {
        DATABASE_URL: ready(db, 'db').url,
        AMQP_URL,
        CLB_NOTIFICATION_EXCHANGES: exchange,
        CLB_NOTIFICATION_QUEUE: queue,
        ...env,
        ...ready(emu, 'emu').env('password'),
      });
      return ctl;
    },
    waitFor: (what, fn, timeoutMs = CHILD_WAIT_MS) =>
      waitForChild(what, fn, { output: () => ctl?.raw ?? '', timeoutMs }),
  };
}
