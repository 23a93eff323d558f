/**
 * The subcommands. Each lives in its own module, loaded only when used so that `reap` on a
 * storage node does not load the AMQP client. Each entry says what it needs from the
 * configuration; src/cli.ts loads and checks it (every problem at once) before the command
 * runs, and passes the typed result.
 */
import type { Config, LoadSettingsOptions } from '../config/settings.js';
import type { SettingKey } from '../config/settings-schema.js';
import type { CommandSpec } from './args.js';
import type { CommandContext } from './output.js';

export type CommandRunner = (
  argv: string[],
  ctx: CommandContext,
  config: Config,
) => Promise<number>;

/** A command that reads the configuration itself (`config check` must run on a bad one). */
export type SelfConfiguredRunner = (
  argv: string[],
  ctx: CommandContext,
  input: Pick<LoadSettingsOptions, 'env' | 'configFile'>,
) => Promise<number>;

/** What a command needs from the configuration. */
export interface SettingsNeed {
  /** Settings it cannot run without. */
  require?: readonly SettingKey[];
  /** Whether it talks to OpenStack (credentials resolved, clouds.yaml read). */
  openstack?: boolean;
}

/** A command's module: its argument spec (for `--help`) and how it runs. */
export interface CommandModule {
  spec: CommandSpec;
  run: CommandRunner;
}
export interface SelfConfiguredModule {
  spec: CommandSpec;
  run: SelfConfiguredRunner;
}

export type CommandEntry =
  | { summary: string; settings: SettingsNeed; load: () => Promise<CommandModule> }
  | { summary: string; settings: 'self'; load: () => Promise<SelfConfiguredModule> };

const DB = ['database.connection'] as const;

export const COMMANDS: Record<string, CommandEntry> = {
  restore: {
    summary:
      'write a backup onto a block device and check it (--manifest FILE --target DEV), or stream its database dump out (--dump-to FILE|-)',
    settings: {},
    load: () => import('./restore.js'),
  },
  status: {
    summary: 'show backup_status: one line per tagged volume',
    settings: { require: DB },
    load: () => import('./status.js'),
  },
  enqueue: {
    summary: 'queue a job by hand: enqueue backup|verify|prune|restore --volume ID [--wait]',
    // Self-configured: a restore also needs OpenStack credentials, the other kinds do not.
    settings: 'self',
    load: async () => {
      const m = await import('./enqueue.js');
      return { spec: m.spec, run: m.runConfigured };
    },
  },
  agent: {
    summary: "run the storage-node agent: claims and runs its hosts' jobs (--host H@B --dest DIR)",
    settings: { require: DB },
    load: () => import('./agent.js'),
  },
  prune: {
    summary: 'show what retention keeps and prunes for a volume (--volume ID); --apply queues it',
    settings: { require: DB },
    load: () => import('./prune.js'),
  },
  migrate: {
    summary: 'apply the database migrations',
    settings: { require: DB },
    load: () => import('./migrate.js'),
  },
  controller: {
    summary: 'run the controller daemon: notifications, poller, scheduler (from the configuration)',
    settings: { require: ['database.connection', 'general.transport_url'], openstack: true },
    load: () => import('./controller.js'),
  },
  backup: {
    summary:
      'snapshot and back up an LV (--lv VG/LV) or a frozen device (--device DEV) to --dest DIR; --ssh USER@HOST with --mysqldump/--freeze for application consistency',
    settings: {},
    load: () => import('./backup.js'),
  },
  verify: {
    summary: 'check the checksums and readability of a backup (--manifest FILE)',
    settings: {},
    load: () => import('./verify.js'),
  },
  report: {
    summary: 'print the mail report of the last window (--since 24h); --send mails it',
    settings: { require: DB },
    load: () => import('./report.js'),
  },
  catalog: {
    summary: 'rebuild the backup rows from the manifests on a destination (rebuild --dest DIR)',
    settings: { require: DB },
    load: () => import('./catalog.js'),
  },
  ssh: {
    summary:
      "trust an instance's SSH host key by its fingerprint: ssh add-host-key HOST[:PORT] --fingerprint SHA256:... (or ssh scan HOST)",
    settings: {},
    load: () => import('./ssh.js'),
  },
  reap: {
    summary: 'remove snapshots, maps, mounts and processes left behind by crashed backups',
    settings: {},
    load: () => import('./reap.js'),
  },
  policy: {
    summary:
      'try a tag before it is set: policy check KEY=VALUE... shows the policy (or every problem) and the next due times',
    settings: {},
    load: () => import('./policy.js'),
  },
  config: {
    summary: 'check the configuration (config check) or print it with sources (config show)',
    settings: 'self',
    load: () => import('./config.js'),
  },
};
