import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startWriteback } from '../../src/engine/restore-writeback.js';

// tmpfs when there is one: a syncfs of it is instant, and the test flushes no one's disk.
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'clb-writeback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('startWriteback', () => {
  it('syncs the filesystem at each interval until stopped, then no more', async () => {
    const wb = startWriteback(dir, { logger: silentLogger }, 50);
    await new Promise((done) => setTimeout(done, 600));
    const stopped = await wb.stop();
    expect(stopped.syncs).toBeGreaterThanOrEqual(1);
    await new Promise((done) => setTimeout(done, 200));
    expect((await wb.stop()).syncs).toBe(stopped.syncs);
  });

  it('stops at once when no sync is under way', async () => {
    const wb = startWriteback(dir, { logger: silentLogger }, 60_000);
    const started = Date.now();
    expect(await wb.stop()).toEqual({ syncs: 0, ms: 0 });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('reports a failed sync when stopped', async () => {
    const wb = startWriteback(join(dir, 'not-there'), { logger: silentLogger }, 10);
    await new Promise((done) => setTimeout(done, 300));
    await expect(wb.stop()).rejects.toThrow(/sync/);
  });
});
