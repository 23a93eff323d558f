/**
 * `cinder-lvm-backup config check [--for controller|agent|all] [--json]`: reads the
 * configuration as a process would and lists every problem (exit 0, or 78 with all of
 * them). `config show [--json]`: every setting with its effective value and where it came
 * from (file, environment variable, default), secrets masked.
 */
import {
  inspectSettings,
  type LoadSettingsOptions,
  type SettingEntry,
} from '../config/settings.js';
import type { SettingKey } from '../config/settings-schema.js';
import { parseCommandArgs, usageError, type CommandSpec } from './args.js';
import { EXIT_CONFIG, EXIT_OK, printJson, type CommandContext } from './output.js';
import { textTable } from '../report/text-table.js';

const OPTIONS = {
  for: {
    kind: 'string',
    arg: 'controller|agent|all',
    help: 'also require what that process cannot start without',
  },
} as const;

export const spec: CommandSpec<typeof OPTIONS> = {
  name: 'config',
  usage: ['config check [--for controller|agent|all]', 'config show'],
  description:
    'check reads the configuration as a process would and lists every problem (exit 0, or\n' +
    '78 with all of them). show prints every setting with its effective value and where it\n' +
    'came from (file, environment variable, default), secrets masked.',
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  examples: [
    'config check --for controller',
    '--config /tmp/test.conf config show',
    'config check --for agent --json',
  ],
};

const NEEDS: Record<string, { require: SettingKey[]; openstack: boolean }> = {
  controller: { require: ['database.connection', 'general.transport_url'], openstack: true },
  agent: { require: ['database.connection', 'agent.hosts', 'agent.backup_dest'], openstack: false },
  all: {
    require: ['database.connection', 'general.transport_url', 'agent.hosts', 'agent.backup_dest'],
    openstack: true,
  },
};

function parse(argv: string[]): { action: 'check' | 'show'; forWhat: string | undefined } {
  const parsed = parseCommandArgs(spec, argv);
  const [action] = parsed.positionals;
  if (action !== 'check' && action !== 'show') {
    throw usageError(spec, 'config needs check or show');
  }
  const forWhat = parsed.values.for;
  if (forWhat !== undefined && NEEDS[forWhat] === undefined) {
    throw usageError(spec, '--for takes controller, agent or all');
  }
  if (forWhat !== undefined && action === 'show') {
    throw usageError(spec, '--for applies to config check');
  }
  return { action, forWhat };
}

function sourceText(e: SettingEntry): string {
  switch (e.source.kind) {
    case 'env':
      return `env ${e.source.variable}`;
    case 'file':
      return 'file';
    case 'default':
      return 'default';
    case 'unset':
      return '-';
  }
}

export async function run(
  argv: string[],
  ctx: CommandContext,
  input: Pick<LoadSettingsOptions, 'env' | 'configFile'>,
): Promise<number> {
  const { action, forWhat } = parse(argv);
  const needs = forWhat === undefined ? { require: [], openstack: true } : NEEDS[forWhat];
  const report = await inspectSettings({ ...input, ...needs });
  const ok = report.problems.length === 0;
  if (action === 'check') {
    if (ctx.json) {
      printJson({
        status: ok ? 'ok' : 'failed',
        file: report.file,
        fileFound: report.fileFound,
        problems: report.problems,
        warnings: report.warnings,
      });
    } else {
      process.stdout.write(
        `${report.fileFound ? `read ${report.file}` : `no file at ${report.file}: environment and defaults only`}\n`,
      );
      for (const w of report.warnings) process.stderr.write(`warning: ${w}\n`);
      for (const p of report.problems) {
        process.stderr.write(
          `problem: ${p.setting}${p.from === undefined ? '' : ` (from ${p.from})`}: ${p.reason}\n`,
        );
      }
      process.stdout.write(
        ok
          ? 'configuration ok\n'
          : `${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}\n`,
      );
    }
    return ok ? EXIT_OK : EXIT_CONFIG;
  }
  const settings = report.entries.map((e) => ({
    setting: e.label,
    value: e.shown ?? null,
    source: sourceText(e),
    env: e.env,
    ok: e.ok,
  }));
  if (ctx.json) {
    printJson({
      status: ok ? 'ok' : 'failed',
      file: report.file,
      fileFound: report.fileFound,
      settings,
      problems: report.problems,
    });
  } else {
    process.stdout.write(
      `${report.fileFound ? `file: ${report.file}` : `no file at ${report.file}`}\n`,
    );
    process.stdout.write(
      textTable(
        ['SETTING', 'VALUE', 'SOURCE', 'ENVIRONMENT'],
        settings.map((s) => [
          `${s.setting}${s.ok ? '' : ' (invalid)'}`,
          s.value,
          s.source,
          s.env.join(','),
        ]),
      ),
    );
    for (const p of report.problems) {
      process.stderr.write(
        `problem: ${p.setting}${p.from === undefined ? '' : ` (from ${p.from})`}: ${p.reason}\n`,
      );
    }
  }
  return ok ? EXIT_OK : EXIT_CONFIG;
}
