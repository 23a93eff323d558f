/**
 * The tests that restart the local RabbitMQ (`rabbitmqctl stop_app` / `start_app`). They run
 * on their own, after the main suite (package.json `test`), because a broker restart would
 * break any other test talking to RabbitMQ at that moment.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../../../', import.meta.url).pathname,
    include: ['test/notifications/broker-restart/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 60_000,
  },
});
