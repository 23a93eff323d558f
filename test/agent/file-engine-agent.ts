/**
 * A test entry: `node --import tsx test/agent/file-engine-agent.ts <agent options>` runs
 * the real agent (queue, leases, events, shutdown) with the FileEngine in place of LVM.
 * Signals behave as in src/cli.ts: the first aborts gracefully, the second exits.
 */
import { AGENT_REQUIRES, runAgentProcess } from '../../src/agent/agent-main.js';
import { agentOptionsFromArgv } from '../../src/cli/agent.js';
import { loadSettings } from '../../src/config/settings.js';
import { toAppError } from '../../src/errors.js';
import { FileEngine } from './file-engine.js';

const controller = new AbortController();
let signals = 0;
const onSignal = (): void => {
  signals += 1;
  if (signals > 1) process.exit(130);
  controller.abort();
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

loadSettings({ env: process.env, require: AGENT_REQUIRES })
  .then((config) =>
    runAgentProcess(
      agentOptionsFromArgv(process.argv.slice(2), config),
      controller.signal,
      new FileEngine(),
      config,
    ),
  )
  .then(
    (code) => {
      process.exitCode = code;
      // As src/cli.ts: a signal stopped it, so a blocked write may not hold the process.
      if (controller.signal.aborted) process.exit(code);
    },
    (err: unknown) => {
      const e = toAppError(err);
      process.stderr.write(`error: ${e.code}: ${e.message}\n`);
      process.exitCode = 1;
    },
  );
