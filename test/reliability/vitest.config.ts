/**
 * The reliability suite (`npm run test:reliability`): each file puts a fault under the
 * running processes (Postgres connections killed and the server restarted, the OpenStack
 * APIs failing, …) and prints one line of figures. The files run one after the other, after
 * the main suite (package.json `test`), because some of them disturb shared services.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../../', import.meta.url).pathname,
    include: ['test/reliability/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
