/**
 * The instance resolver against the emulator's Nova and a real Postgres: a tagged volume
 * whose policy asks for a dump or a freeze gets the address the storage node will SSH to
 * (floating first), or the reason there is none; a Nova outage keeps the last answer; an
 * attachment to another server is looked up again at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOpenStackCredentials } from '../../src/config/openstack-credentials.js';
import { getVolume, recordPolicy } from '../../src/db/volumes.js';
import { resolveInstances } from '../../src/inventory/instance-resolver.js';
import { pollInventory } from '../../src/inventory/poller.js';
import { CinderClient } from '../../src/openstack/cinder.js';
import { KeystoneSession } from '../../src/openstack/keystone.js';
import { NovaClient, parseAddressSources } from '../../src/openstack/nova.js';
import { parsePolicy } from '../../src/policy/policy.js';
import { freshDatabase, type FreshDatabase } from '../db/fresh-database.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';

const FAST = { attempts: 2, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 2_000 };

let emu: OpenStackEmulator;
let db: FreshDatabase;
let cinder: CinderClient;
let nova: NovaClient;

beforeAll(async () => {
  db = await freshDatabase();
  emu = await startOpenStackEmulator({ notifier: false });
  const session = new KeystoneSession({
    credentials: await loadOpenStackCredentials({ env: emu.env() }),
    retry: FAST,
  });
  cinder = new CinderClient(session);
  nova = new NovaClient(session);
});

afterAll(async () => {
  await emu?.close();
  await db?.drop();
});

function addresses(fixed: string, floating?: string) {
  return {
    private: [
      {
        version: 4 as const,
        addr: fixed,
        'OS-EXT-IPS:type': 'fixed' as const,
        'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01',
      },
      ...(floating === undefined
        ? []
        : [
            {
              version: 4 as const,
              addr: floating,
              'OS-EXT-IPS:type': 'floating' as const,
              'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01',
            },
          ]),
    ],
  };
}

/** A volume in the emulated Cinder, polled into the inventory with its policy recorded. */
async function tagged(metadata: Record<string, string>, server?: { id: string }) {
  const v = await emu.control.createVolume({
    name: 'db',
    size: 1,
    metadata,
    projectId: emu.credentials.projectId,
  });
  await emu.control.settle();
  if (server !== undefined) await emu.control.attachVolume(v.id, server.id);
  return v;
}

async function syncInventory(): Promise<void> {
  await pollInventory({ pool: db.pool, cinder });
  const rows = await db.pool.query<{ id: string; metadata: Record<string, string> }>(
    'SELECT id::text AS id, metadata FROM volumes',
  );
  for (const r of rows.rows) await recordPolicy(db.pool, r.id, parsePolicy(r.metadata));
}

const SOURCES = parseAddressSources('floating,fixed') ?? [];

describe('the instance resolver', () => {
  it('stores the floating address of an ACTIVE server, or the reason there is none', async () => {
    const project = emu.credentials.projectId;
    const web = emu.control.createServer({
      name: 'db01',
      projectId: project,
      addresses: addresses('192.168.1.30', '203.0.113.7'),
    });
    const off = emu.control.createServer({
      projectId: project,
      status: 'SHUTOFF',
      addresses: addresses('192.168.1.31'),
    });
    const fixedOnly = emu.control.createServer({
      projectId: project,
      addresses: addresses('192.168.1.32'),
    });
    const dump = await tagged({ backup: 'daily', 'backup:mysqldump': 'all' }, web);
    const stopped = await tagged({ backup: 'daily', 'backup:freeze': '/srv' }, off);
    const fixed = await tagged({ backup: 'daily', 'backup:freeze': '/srv' }, fixedOnly);
    const detached = await tagged({ backup: 'daily', 'backup:mysqldump': 'shop' });
    const plain = await tagged(
      { backup: 'daily' },
      emu.control.createServer({ projectId: project }),
    );
    await syncInventory();

    const r = await resolveInstances({
      pool: db.pool,
      nova,
      sources: SOURCES,
      refreshSeconds: 300,
      intervalSeconds: 60,
    });
    expect(r).toEqual({ looked: 4, resolved: 2, unresolved: 2, failed: 0 });

    expect((await getVolume(db.pool, dump.id))?.instance).toMatchObject({
      serverId: web.id,
      serverName: 'db01',
      address: '203.0.113.7',
    });
    expect((await getVolume(db.pool, fixed.id))?.instance).toMatchObject({
      address: '192.168.1.32',
    });
    expect((await getVolume(db.pool, stopped.id))?.instance).toMatchObject({
      serverId: off.id,
      error: `server ${off.id} is SHUTOFF, not ACTIVE`,
    });
    expect((await getVolume(db.pool, detached.id))?.instance).toMatchObject({
      serverId: null,
      error: 'the volume is not attached',
    });
    // A volume whose policy asks for no SSH step is never looked up.
    expect((await getVolume(db.pool, plain.id))?.instance).toBeNull();

    // Nothing is due again before the refresh interval.
    const again = await resolveInstances({
      pool: db.pool,
      nova,
      sources: SOURCES,
      refreshSeconds: 300,
      intervalSeconds: 60,
    });
    expect(again.looked).toBe(0);
  });

  it('keeps the last answer while Nova fails, and follows a new attachment at once', async () => {
    const project = emu.credentials.projectId;
    const first = emu.control.createServer({
      projectId: project,
      addresses: addresses('192.168.2.10', '198.51.100.10'),
    });
    const v = await tagged({ backup: 'daily', 'backup:mysqldump': 'all' }, first);
    await syncInventory();
    const opts = {
      pool: db.pool,
      nova,
      sources: SOURCES,
      refreshSeconds: 300,
      intervalSeconds: 60,
    };
    await resolveInstances(opts);
    const before = (await getVolume(db.pool, v.id))?.instance;
    expect(before).toMatchObject({ address: '198.51.100.10' });

    // Everything is stale (refresh 0 s) but Nova answers 503: the stored value stays.
    emu.control.fail('nova', { status: 503, times: Infinity });
    const outage = await resolveInstances({ ...opts, refreshSeconds: 0 });
    emu.control.clearFailures();
    expect(outage.failed).toBeGreaterThan(0);
    expect(outage.resolved).toBe(0);
    expect((await getVolume(db.pool, v.id))?.instance).toEqual(before);

    // Moved to another server: due at once, although the refresh interval has not passed.
    const second = emu.control.createServer({
      projectId: project,
      addresses: addresses('192.168.2.11', '198.51.100.11'),
    });
    await emu.control.detachVolume(v.id, first.id);
    await emu.control.attachVolume(v.id, second.id);
    await syncInventory();
    await resolveInstances(opts);
    expect((await getVolume(db.pool, v.id))?.instance).toMatchObject({
      serverId: second.id,
      address: '198.51.100.11',
    });
  });

  it("refuses a server of another project, even when Cinder's attachment names it", async () => {
    const mine = emu.credentials.projectId;
    const other = emu.control.createServer({
      projectId: 'another-project',
      addresses: addresses('192.168.3.3', '198.51.100.33'),
    });
    const v = await tagged({ backup: 'daily', 'backup:freeze': '/srv' });
    await emu.control.attachVolume(v.id, other.id);
    await syncInventory();
    await resolveInstances({
      pool: db.pool,
      nova,
      sources: SOURCES,
      refreshSeconds: 300,
      intervalSeconds: 60,
    });
    const inst = (await getVolume(db.pool, v.id))?.instance;
    expect(mine).not.toBe('another-project');
    expect(inst).toMatchObject({
      serverId: other.id,
      error: `server ${other.id} belongs to another project`,
    });
    expect(inst).not.toHaveProperty('address');
  });
});
