import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests that restart RabbitMQ or Postgres run alone afterwards (package.json `test`).
    // agent-kill: one long guest run of its own, after the reliability scenarios (test:reliability).
    exclude: [
      ...configDefaults.exclude,
      'test/**/broker-restart/**',
      'test/reliability/**',
      'test/storage-node/agent-kill/**',
    ],
    pool: 'forks',
    // Guest (QEMU) tests take minutes under TCG on 2 cores; they set their own timeouts.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Guest tests are heavy; running many QEMU guests at once on 2 cores only slows all of them.
    maxConcurrency: 1,
    fileParallelism: true,
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
