import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { readProcessStartTime } from '../../src/engine/proc-io.js';

describe('readProcessStartTime', () => {
  it('gives the start time of a running process', async () => {
    expect(await readProcessStartTime(process.pid)).toMatch(/^\d+$/);
  });

  it('treats a zombie (ended, not yet waited for) as gone', async () => {
    // The shell starts a short child, then becomes `sleep`, which never waits: the child
    // stays a zombie until `sleep` ends. Its /proc entry keeps the old start time.
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const zombiePid = await new Promise<number>((resolve) => {
        parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      });
      let state = '';
      for (let i = 0; i < 50 && state !== 'Z'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const stat = await readFile(`/proc/${zombiePid}/stat`, 'utf8');
        state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
      }
      expect(state).toBe('Z');
      expect(await readProcessStartTime(zombiePid)).toBeNull();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('gives null for a pid that does not exist', async () => {
    expect(await readProcessStartTime(2 ** 22 + 1)).toBeNull();
  });
});
