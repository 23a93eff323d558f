/**
 * The engine killed at every step in the storage-node guest (`npm run test:agent-kill`, the
 * last part of `npm run test:reliability` and so of `npm test`): one boot, ten kill points.
 * Whole green runs (52 of 52): 2026-12-02 02:25-03:10, 2,593 s in the guest at load 13-21
 * beside other guests and benchmarks; 03:36-03:54, 980 s at load 4-14.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../../../', import.meta.url).pathname,
    include: ['test/storage-node/agent-kill/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
  },
});
