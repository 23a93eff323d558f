import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inventoryChangeOf } from '../../src/notifications/inventory-change.js';
import { decodeNotification } from '../../src/notifications/oslo-envelope.js';
import { parseOsloTimestamp } from '../../src/notifications/oslo-timestamp.js';
import { badMessages } from './bad-messages.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/cinder-notifications/', import.meta.url));
const files = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort();

function decodeFixture(file: string) {
  const r = decodeNotification(readFileSync(FIXTURES + file));
  if (!r.ok) throw new Error(`${file}: ${r.reason}`);
  return r.notification;
}

describe('real Cinder notifications (test/fixtures/cinder-notifications)', () => {
  it('has the 37 captured messages', () => {
    expect(files).toHaveLength(37);
  });

  it.each(files)('%s decodes, with the event type of its file name and a UTC timestamp', (file) => {
    const n = decodeFixture(file);
    expect(n.envelopeVersion).toBe('2.0');
    expect(file).toBe(`${file.slice(0, 4)}-${n.eventType}.json`);
    expect(n.messageId).toMatch(/^[0-9a-f-]{36}$/);
    // Captured on 2026-11-26 between 14:12 and 14:14 UTC: a local-time misreading would shift it.
    expect(n.timestamp.toISOString()).toMatch(/^2026-11-26T14:1[234]:/);
    expect(inventoryChangeOf(n).ok).toBe(true);
  });

  it('reads the create → rename → resize → delete life of one volume', () => {
    const byFile = (f: string) => {
      const r = inventoryChangeOf(decodeFixture(f));
      if (!r.ok) throw new Error(r.reason);
      return r.change;
    };
    const created = byFile('0002-volume.create.end.json');
    expect(created).toMatchObject({
      kind: 'volume-state',
      volumeId: '90df98db-d49e-4234-ad89-7f7340afb2c3',
      trigger: null,
      state: {
        projectId: '24ca25352e3147b1bfa89ac5bae5d280',
        status: 'available',
        sizeGb: 1,
        host: 'osharness@fake#fake',
        name: 'osh-vol-0da7a8',
        metadata: { created_by: 'osharness' },
        attachments: [],
        volumeTypeId: 'cedea789-429f-4293-9632-f00259cf6a71',
      },
    });
    const renamed = byFile('0004-volume.update.end.json');
    expect(renamed).toMatchObject({
      kind: 'volume-state',
      trigger: 'update',
      state: {
        name: 'osh-vol-0da7a8-renamed',
        metadata: { created_by: 'osharness', backup: 'enabled' },
      },
    });
    expect(byFile('0009-volume.resize.start.json')).toMatchObject({
      state: { status: 'extending' },
      trigger: null,
    });
    expect(byFile('0012-volume.delete.start.json')).toMatchObject({
      state: { status: 'deleting' },
    });
    expect(byFile('0013-volume.delete.end.json')).toEqual({
      kind: 'volume-deleted',
      volumeId: '90df98db-d49e-4234-ad89-7f7340afb2c3',
      eventAt: new Date('2026-11-26T14:13:15.554Z'),
    });
    expect(byFile('0006-snapshot.create.end.json')).toMatchObject({
      kind: 'snapshot',
      snapshotId: 'f63ffaa9-e390-4bfb-9345-dcde5b8db5f3',
    });
    expect(byFile('0014-volume_type.create.json')).toMatchObject({ kind: 'ignored' });
    expect(byFile('0015-scheduler.create_volume.json')).toMatchObject({
      kind: 'volume-status',
      volumeId: '96c9ffa6-1c5c-434b-b482-c5fc3a34a93d',
      status: 'error',
    });
  });
});

describe('oslo 1.0 messages (no envelope)', () => {
  it('decodes the bare inner dict', () => {
    const text = readFileSync(FIXTURES + '0002-volume.create.end.json', 'utf8');
    const innerText = (JSON.parse(text) as Record<string, string>)['oslo.message'] as string;
    const r = decodeNotification(innerText);
    expect(r.ok && r.notification.envelopeVersion).toBe('1.0');
    expect(r.ok && r.notification.eventType).toBe('volume.create.end');
  });
});

describe('attachments', () => {
  it('keeps only attached rows, mapped to the inventory shape', () => {
    const body = JSON.stringify({
      message_id: 'm1',
      event_type: 'volume.attach.end',
      priority: 'INFO',
      timestamp: '2026-05-13 12:53:00',
      payload: {
        tenant_id: 't',
        volume_id: 'CB49B381-9012-40CB-B8EE-80C19A4801B5',
        status: 'in-use',
        size: 20,
        host: 'stor1@lvm#LVM',
        volume_attachment: [
          {
            id: 'a1',
            instance_uuid: 'srv1',
            attach_status: 'attached',
            mountpoint: '/dev/vdb',
            attached_host: 'compute1',
            connection_info: '{"auth_password": "secret"}',
          },
          { id: 'a2', instance_uuid: 'srv2', attach_status: 'attaching' },
        ],
      },
    });
    const d = decodeNotification(body);
    const r = d.ok ? inventoryChangeOf(d.notification) : null;
    expect(r?.ok && r.change).toMatchObject({
      kind: 'volume-state',
      volumeId: 'cb49b381-9012-40cb-b8ee-80c19a4801b5',
      trigger: 'attach',
      state: {
        attachments: [
          { server_id: 'srv1', attachment_id: 'a1', device: '/dev/vdb', host_name: 'compute1' },
        ],
      },
    });
    expect(JSON.stringify(r)).not.toContain('secret');
  });
});

describe('parseOsloTimestamp', () => {
  it.each([
    ['2026-11-26 14:12:47.638669', '2026-11-26T14:12:47.638Z'],
    ['2026-11-26 14:12:47', '2026-11-26T14:12:47.000Z'],
    ['2026-11-26T14:12:47.633290+00:00', '2026-11-26T14:12:47.633Z'],
    ['2026-11-26T16:12:47+02:00', '2026-11-26T14:12:47.000Z'],
    ['2026-11-26T14:12:47Z', '2026-11-26T14:12:47.000Z'],
    ['2026-05-13T12:50:01.000000', '2026-05-13T12:50:01.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(parseOsloTimestamp(text)?.toISOString()).toBe(iso);
  });

  it.each([
    '',
    'yesterday',
    '2026-13-01 00:00:00',
    '2026-02-30 00:00:00',
    '2026-11-26 24:00:00',
    '1700000000',
  ])('refuses %j', (text) => {
    expect(parseOsloTimestamp(text)).toBeNull();
  });
});

describe('the bad-message corpus', () => {
  it.each(badMessages().map((m) => [m.name, m] as const))(
    '%s is refused or ignored with a reason',
    (_n, m) => {
      const d = decodeNotification(m.body);
      const c = d.ok ? inventoryChangeOf(d.notification) : d;
      if (m.expect === 'dead-letter') {
        expect(c.ok).toBe(false);
        if (!c.ok) {
          expect(c.reason).toMatch(m.reason);
          // Reasons go to logs and headers: short, and never quoting the body.
          expect(c.reason.length).toBeLessThan(200);
        }
      } else {
        expect(c.ok).toBe(true);
      }
    },
  );
});
