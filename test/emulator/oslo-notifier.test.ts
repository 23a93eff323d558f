import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/run-command.js';
import { OsloNotifier } from './oslo-notifier.js';

const AMQP_URL = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const exchange = `clb-test-notifier-${randomBytes(4).toString('hex')}`;

/** Closes one broker connection by its connection_name, as a broker restart would. */
async function killConnection(name: string): Promise<void> {
  // The plain listing prints pids in the form close_connection accepts (the JSON one does not).
  const list = await runCommand('rabbitmqctl', [
    'list_connections',
    'pid',
    'client_properties',
    '-q',
  ]);
  const line = list.stdout.split('\n').find((l) => l.includes(`{"connection_name","${name}"}`));
  const pid = line?.split('\t')[0];
  if (pid === undefined || pid.length === 0) throw new Error(`no broker connection named ${name}`);
  await runCommand('rabbitmqctl', ['close_connection', pid, 'test: broker went away']);
}

let notifier: OsloNotifier;

beforeAll(async () => {
  try {
    await runCommand('rabbitmqctl', ['status', '-q'], { timeoutMs: 30_000 });
  } catch (err) {
    throw new Error('these tests need RabbitMQ and rabbitmqctl on this machine', { cause: err });
  }
  notifier = await OsloNotifier.connect({ exchange, declareDefaultQueue: false });
});

afterAll(async () => {
  await notifier?.close();
  const conn = await amqp.connect(AMQP_URL);
  const ch = await conn.createChannel();
  await ch.deleteExchange(exchange);
  await conn.close();
});

describe('the emulator notifier', () => {
  it('connects again after the broker drops its connection and loses no message', async () => {
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    await notifier.publishRaw('notifications.info', '{"n": 1}');
    await ch.bindQueue(q.queue, exchange, 'notifications.*');
    await notifier.publishRaw('notifications.info', '{"n": 2}');

    await killConnection(notifier.connectionName);
    await notifier.publishRaw('notifications.error', '{"n": 3}');
    await notifier.publishRaw('notifications.info', '{"n": 4}');
    expect(notifier.reconnects).toBe(1);

    const got: string[] = [];
    await ch.consume(q.queue, (m) => m !== null && got.push(m.content.toString()), { noAck: true });
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    await conn.close();
    expect(got).toEqual(['{"n": 2}', '{"n": 3}', '{"n": 4}']);
  }, 60_000);
});
