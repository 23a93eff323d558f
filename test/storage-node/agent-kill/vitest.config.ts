/**
 * The engine killed at every step in the storage-node guest (`npm run test:agent-kill`),
 * one boot of about half an hour under TCG. Not in `npm test` yet: its first whole run
 * found the restore map leak (fixed in d999341) and no whole run has passed since; the
 * restore steps passed alone with the fix. Run it by hand, alone on the machine.
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
