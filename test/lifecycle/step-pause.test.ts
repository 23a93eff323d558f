/**
 * The crash tests' hook: an armed point freezes the process after writing `<pid> <point>`
 * to the ready file; other points and an unarmed hook pass straight through.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CleanupStack } from '../../src/lifecycle/cleanup-stack.js';
import { setStepPause, stepPoint } from '../../src/lifecycle/step-pause.js';

const HOOK = join(import.meta.dirname, '..', '..', 'src', 'lifecycle', 'step-pause.ts');
const dir = mkdtempSync(join(tmpdir(), 'clb-step-pause-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stepPoint', () => {
  it('freezes the process at the armed point, after saying so, until it is killed', async () => {
    const ready = join(dir, 'ready');
    const script = [
      `import { setStepPause, stepPoint } from ${JSON.stringify(HOOK)};`,
      `setStepPause('commit-dir', ${JSON.stringify(ready)});`,
      "stepPoint('snapshot'); process.stdout.write('passed snapshot\\n');",
      "stepPoint('commit-dir'); process.stdout.write('passed commit-dir\\n');",
    ].join('\n');
    const child = execa('node', ['--import', 'tsx', '--input-type=module', '-e', script], {
      reject: false,
      cwd: join(import.meta.dirname, '..', '..'),
    });
    const until = Date.now() + 30_000;
    while (!existsSync(ready) || readFileSync(ready, 'utf8') === '') {
      if (Date.now() > until || child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(readFileSync(ready, 'utf8')).toBe(`${child.pid} commit-dir\n`);
    child.kill('SIGKILL');
    const r = await child;
    // It never went past the point: only SIGKILL ended it.
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).toBe('passed snapshot');
  }, 40_000);

  it('passes through when unarmed, and after disarming', () => {
    setStepPause(undefined, undefined);
    expect(() => stepPoint('snapshot')).not.toThrow();
    setStepPause('', join(dir, 'never'));
    stepPoint('');
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});

describe('CleanupStack.unwind afterStep', () => {
  it('is told each step that was undone, not the ones that failed', async () => {
    const stack = new CleanupStack();
    stack.push('remove run dir', () => Promise.resolve());
    stack.push('lvremove vg/snap', () => Promise.reject(new Error('busy')));
    stack.push('umount /run/x/p1', () => Promise.resolve());
    const told: string[] = [];
    await stack.unwind((name) => told.push(name));
    expect(told).toEqual(['umount /run/x/p1', 'remove run dir']);
  });
});
