/**
 * The demo's stand-in for an OpenStack cloud: the in-repo emulator (test/emulator) as a
 * process of its own, serving Keystone v3, Cinder v3 and Nova on 127.0.0.1 and publishing
 * Cinder-format notifications to the real RabbitMQ. It is NOT a cloud: a test double that
 * speaks the wire format of docs/openstack-wire.md, so that the real controller can run
 * against it unchanged.
 *
 *   npx tsx test/demo/stand-in-cloud.ts --state DIR --exchange NAME --backend HOST@BACKEND#POOL
 *       [--delete-queue NAME]...
 *
 * Writes DIR/cloud.json (0600: it holds the emulated passwords) once it listens, logs every
 * request it serves and every notification it publishes to stdout (one line each, no
 * bodies), and on SIGTERM/SIGINT stops, then deletes its throw-away exchange and the queues
 * named by --delete-queue (the controller's, declared on the shared broker).
 */
import amqp from 'amqplib';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startOpenStackEmulator } from '../emulator/openstack-emulator.js';
import type { ServiceName } from '../emulator/control.js';

const { values } = parseArgs({
  options: {
    state: { type: 'string' },
    exchange: { type: 'string' },
    backend: { type: 'string' },
    'delete-queue': { type: 'string', multiple: true, default: [] },
  },
  strict: true,
});
const { state, exchange, backend } = values;
if (state === undefined || exchange === undefined || backend === undefined) {
  console.error('usage: stand-in-cloud.ts --state DIR --exchange NAME --backend HOST@BACKEND#POOL');
  process.exit(2);
}
const exchangeName: string = exchange;
const amqpUrl = process.env['AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

const emu = await startOpenStackEmulator({
  // A throw-away exchange: the broker may be shared; the controller is told its name.
  notifier: { url: amqpUrl, exchange, declareDefaultQueue: false },
  defaultBackend: backend,
  // A volume stays 'creating' for half a second, as an LVM lvcreate would keep it.
  createDelayMs: 500,
});
const stamp = (): string => new Date().toISOString().slice(11, 19);

// One line per request and per notification, as they happen (polled: the emulator keeps them).
const seen: Record<ServiceName, number> = { keystone: 0, cinder: 0, nova: 0 };
let published = 0;
const tail = setInterval(() => {
  for (const service of ['keystone', 'cinder', 'nova'] as const) {
    const all = emu.control.requests(service);
    for (const r of all.slice(seen[service])) {
      const query = r.query.toString();
      console.log(`${stamp()} ${service} ${r.method} ${r.path}${query === '' ? '' : `?${query}`}`);
    }
    seen[service] = all.length;
  }
  const sent = emu.control.notifier?.published ?? [];
  for (const n of sent.slice(published)) {
    console.log(`${stamp()} notifier published ${n.eventType} on ${n.exchange}/${n.routingKey}`);
  }
  published = sent.length;
}, 200);

const file = join(state, 'cloud.json');
writeFileSync(
  file,
  JSON.stringify(
    {
      keystoneUrl: emu.keystoneUrl,
      cinderUrl: emu.cinderUrl,
      novaUrl: emu.novaUrl,
      exchange,
      credentials: emu.credentials,
    },
    null,
    2,
  ),
  { mode: 0o600 },
);
console.log(
  `${stamp()} stand-in cloud (in-repo emulator, not OpenStack) listening: keystone ${emu.keystoneUrl}, cinder ${emu.cinderUrl}, nova ${emu.novaUrl}`,
);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(tail);
  await emu.close();
  // Remove what the demo declared on the shared broker.
  try {
    const conn = await amqp.connect(amqpUrl);
    for (const name of values['delete-queue']) {
      const ch = await conn.createChannel();
      await ch.deleteQueue(name).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    const ch = await conn.createChannel();
    await ch.deleteExchange(exchangeName).catch(() => undefined);
    await ch.close().catch(() => undefined);
    await conn.close();
  } catch (err) {
    console.error(`could not remove the demo's exchange and queues: ${String(err)}`);
  }
  console.log(`${stamp()} stand-in cloud stopped`);
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
