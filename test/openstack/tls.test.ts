import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError } from '../../src/errors.js';
import { runCommand } from '../../src/exec/run-command.js';
import { clientsFromEnv } from './clients-from-env.js';
import { startOpenStackEmulator, type OpenStackEmulator } from '../emulator/openstack-emulator.js';

const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 2_000 };

let dir: string;
let emu: OpenStackEmulator;

/** A throw-away CA and a server certificate for IP 127.0.0.1 signed by it (EC keys: fast). */
async function makeCertificates(d: string): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await runCommand('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    join(d, 'ca.key'),
    '-out',
    join(d, 'ca.crt'),
    '-days',
    '1',
    '-subj',
    '/CN=clb-test-ca',
  ]);
  await runCommand('openssl', [
    'req',
    ...ec,
    '-keyout',
    join(d, 'srv.key'),
    '-out',
    join(d, 'srv.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  await writeFile(join(d, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  await runCommand('openssl', [
    'x509',
    '-req',
    '-in',
    join(d, 'srv.csr'),
    '-CA',
    join(d, 'ca.crt'),
    '-CAkey',
    join(d, 'ca.key'),
    '-CAcreateserial',
    '-out',
    join(d, 'srv.crt'),
    '-days',
    '1',
    '-extfile',
    join(d, 'ext.cnf'),
  ]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clb-tls-'));
  await makeCertificates(dir);
  emu = await startOpenStackEmulator({
    notifier: false,
    tls: { key: await readFile(join(dir, 'srv.key')), cert: await readFile(join(dir, 'srv.crt')) },
  });
});

afterAll(async () => {
  await emu?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('OpenStack over HTTPS', () => {
  it('works with the CA bundle from OS_CACERT', async () => {
    expect(emu.keystoneUrl.startsWith('https://127.0.0.1:')).toBe(true);
    const os = await clientsFromEnv({ ...emu.env(), OS_CACERT: join(dir, 'ca.crt') }, FAST);
    await emu.control.createVolume({ name: 'over-tls' });
    const page = await os.cinder.listVolumesPage();
    expect(page.volumes.map((v) => v.name)).toEqual(['over-tls']);
    expect(await os.session.endpoint('block-storage')).toBe(emu.cinderUrl);
  });

  it('fails at once with a hint when the certificate is not trusted', async () => {
    const os = await clientsFromEnv(emu.env(), FAST);
    const before = emu.control.requests('keystone').length;
    const err = (await os.session.token().catch((e: unknown) => e)) as AppError;
    expect(err.code).toBe('OPENSTACK_UNAVAILABLE');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('TLS certificate not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)');
    expect(err.message).toContain('OS_CACERT');
    expect(emu.control.requests('keystone').length).toBe(before);
  });

  it('skips verification only when OS_INSECURE says so', async () => {
    const os = await clientsFromEnv({ ...emu.env(), OS_INSECURE: 'true' }, FAST);
    expect((await os.session.token()).projectId).toBe(emu.credentials.projectId);
  });

  it('names an unreadable CA bundle as a configuration error', async () => {
    const err = (await clientsFromEnv({ ...emu.env(), OS_CACERT: join(dir, 'missing.crt') }).catch(
      (e: unknown) => e,
    )) as AppError;
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('missing.crt');
  });
});
