/**
 * The subcommands. Each lives in its own module, loaded only when used so that `reap` on a
 * storage node does not load the AMQP client.
 */
import type { CommandContext } from './output.js';

export type CommandRunner = (argv: string[], ctx: CommandContext) => Promise<number>;

export interface CommandEntry {
  summary: string;
  load: () => Promise<CommandRunner>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  restore: {
    summary: 'write a backup onto a block device and check it (--manifest FILE --target DEV)',
    load: async () => (await import('./restore.js')).run,
  },
  status: {
    summary: 'show backup_status: one line per tagged volume (DATABASE_URL)',
    load: async () => (await import('./status.js')).run,
  },
  enqueue: {
    summary: 'queue a job by hand: enqueue backup|verify|prune|restore --volume ID [--wait]',
    load: async () => (await import('./enqueue.js')).run,
  },
  agent: {
    summary: "run the storage-node agent: claims and runs its hosts' jobs (--host H@B --dest DIR)",
    load: async () => (await import('./agent.js')).run,
  },
  prune: {
    summary: 'show what retention keeps and prunes for a volume (--volume ID); --apply queues it',
    load: async () => (await import('./prune.js')).run,
  },
  migrate: {
    summary: 'apply the database migrations (DATABASE_URL)',
    load: async () => (await import('./migrate.js')).run,
  },
  controller: {
    summary: 'run the controller daemon: notifications, poller, scheduler (configured from env)',
    load: async () => (await import('./controller.js')).run,
  },
  backup: {
    summary:
      'snapshot and back up an LV (--lv VG/LV) or a frozen device (--device DEV) to --dest DIR',
    load: async () => (await import('./backup.js')).run,
  },
  verify: {
    summary: 'check the checksums and readability of a backup (--manifest FILE)',
    load: async () => (await import('./verify.js')).run,
  },
  reap: {
    summary: 'remove snapshots, maps, mounts and processes left behind by crashed backups',
    load: async () => (await import('./reap.js')).run,
  },
};
