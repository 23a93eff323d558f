/**
 * Every setting of the service: its section and name in
 * /etc/cinder-lvm-backup/cinder-lvm-backup.conf, the environment variables that override
 * it, its type with bounds, its default and whether it is secret. The loader
 * (settings.ts) reads the file and the environment against this table; `config show`
 * prints it; deploy/cinder-lvm-backup.conf.sample documents it. A new setting is one
 * entry here (and one in the sample, which a test checks).
 */
import { z } from 'zod';
import { parseRetention, type RetentionSpec } from '../policy/retention-spec.js';
import { parseFullEvery, type FullEvery } from '../policy/incremental.js';
import { parseSchedule } from '../policy/schedule.js';
import { servedHost } from './served-host.js';
import {
  LOG_LEVELS,
  absolutePath,
  boolean,
  byteSize,
  clockTime,
  decimal,
  duration,
  integer,
  list,
  listenAddress,
  mailAddress,
  oneOf,
  parseByteSize,
  text,
  timeZone,
  url,
  type TextSchema,
} from './setting-types.js';
import { transportUrl } from './transport-url.js';

/** How `config show` prints a value: in full, not at all, or a URL without its password. */
export type Mask = 'none' | 'secret' | 'url-password';

/** One option; `HasDefault` says whether the value is always there. */
export interface OptionSpec<T, HasDefault extends boolean> {
  readonly type: TextSchema<T>;
  /** Environment variables that set it, first set wins; they override the file. */
  readonly env: readonly string[];
  /** The default as it would be written in the file (parsed by `type` like any value). */
  readonly default: HasDefault extends true ? string : undefined;
  readonly mask: Mask;
  readonly help: string;
}

interface OptionExtras {
  env: readonly string[];
  help: string;
  mask?: Mask;
}

function opt<T>(type: TextSchema<T>, o: OptionExtras & { default: string }): OptionSpec<T, true>;
function opt<T>(type: TextSchema<T>, o: OptionExtras): OptionSpec<T, false>;
function opt<T>(
  type: TextSchema<T>,
  o: OptionExtras & { default?: string },
): OptionSpec<T, boolean> {
  return {
    type,
    env: o.env,
    default: o.default,
    mask: o.mask ?? 'none',
    help: o.help,
  };
}

/** A section: its name in the file (and accepted other names), and its options. */
export interface SectionSpec {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly help: string;
  readonly options: Readonly<Record<string, OptionSpec<unknown, boolean>>>;
}

/** Limits on what retention a tenant may ask for and the retention of untagged volumes. */
const MAX_KEEP = 100_000;

function retentionText(): TextSchema<RetentionSpec> {
  return z.string().transform((s, ctx) => {
    const r = parseRetention(s, {
      maxKeepLast: MAX_KEEP,
      maxDaily: MAX_KEEP,
      maxWeekly: MAX_KEEP,
      maxMonthly: MAX_KEEP,
      maxAgeDays: MAX_KEEP,
    });
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.reason });
      return z.NEVER;
    }
    return r.retention;
  });
}

function fullEveryText(): TextSchema<FullEvery> {
  return z.string().transform((s, ctx) => {
    const r = parseFullEvery(s);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.reason.replace('backup:full ', '') });
      return z.NEVER;
    }
    return r.value;
  });
}

function scheduleText(): TextSchema<string> {
  return z.string().transform((s, ctx) => {
    const r = parseSchedule(s, 60);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.reason });
      return z.NEVER;
    }
    return r.text;
  });
}

/** `PROJECT_ID=SIZE` → [project id, bytes]. */
/** `PROJECT_ID=VALUE`, the value read by `parse` (null: not one), for per-project overrides. */
function projectPair<T>(what: string, parse: (value: string) => T | null): TextSchema<[string, T]> {
  return z.string().transform((s, ctx) => {
    const m = /^([A-Za-z0-9_-]{1,64})\s*=\s*(\S+)$/.exec(s.trim());
    const value = m === null ? null : parse(m[2] as string);
    if (m === null || value === null) {
      ctx.addIssue({ code: 'custom', message: `"${s.slice(0, 80)}" is not PROJECT_ID=${what}` });
      return z.NEVER;
    }
    return [m[1] as string, value];
  });
}

function projectQuota(): TextSchema<[string, number]> {
  return projectPair('SIZE', parseByteSize);
}

/** The SSH login of one project's instances: a user, and the key file it takes if not the
 * node's. */
export interface SshLogin {
  user: string;
  keyFile?: string;
}

const SSH_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

function projectSshLogin(): TextSchema<[string, SshLogin]> {
  return projectPair('USER[:/KEY/FILE]', (v) => {
    const [user = '', key, ...rest] = v.split(':');
    if (!SSH_USER.test(user) || rest.length > 0) return null;
    if (key === undefined) return { user };
    if (!/^\/[A-Za-z0-9._/-]{1,4095}$/.test(key) || key.split('/').includes('..')) return null;
    return { user, keyFile: key };
  });
}

const NAME = /^[A-Za-z0-9_.:-]+$/;
const amqpName = () => text({ pattern: NAME, describe: 'letters, digits and _ . : -' });
const roleName = () => text({ max: 64, pattern: NAME, describe: 'a Keystone role name' });
const credential = (max = 255) => text({ max });

/** The settings, by the name the code uses for each section. */
export const SETTINGS_SCHEMA = {
  general: {
    name: 'DEFAULT',
    help: 'Settings of every process.',
    options: {
      log_level: opt(oneOf(LOG_LEVELS), {
        env: ['CLB_LOG_LEVEL'],
        help: 'Log level (trace, debug, info, warn, error, fatal, silent). Unset: info for daemons, warn for commands.',
      }),
      log_priority_prefix: opt(boolean(), {
        env: ['CLB_LOG_PRIORITY_PREFIX'],
        default: 'false',
        help: 'Start each log line with its syslog priority (<3> error, <4> warning, <6> info, <7> debug), which journald reads and strips (SyslogLevelPrefix=, on by default in units), so `journalctl -p warning` finds warnings. The units set it; leave it off on a terminal.',
      }),
      time_zone: opt(timeZone(), {
        env: ['CLB_TIME_ZONE'],
        default: 'UTC',
        help: "The operator's time zone: cron schedules, retention's days, weeks and months, the daily report.",
      }),
      transport_url: opt(transportUrl(), {
        env: ['AMQP_URL', 'CLB_TRANSPORT_URL'],
        mask: 'url-password',
        help: 'RabbitMQ that Cinder notifies on, as in cinder.conf: rabbit://USER:PASS@HOST:5672[,USER:PASS@HOST2:5672...]/VHOST; each node of a cluster is tried in turn. Needed by the controller.',
      }),
      run_dir: opt(absolutePath(), {
        env: ['CLB_RUN_DIR'],
        default: '/run/cinder-lvm-backup',
        help: 'Private directory of running backups and restores (mount points, owner files); reap looks here.',
      }),
    },
  },
  database: {
    name: 'database',
    help: 'The PostgreSQL catalog and job queue.',
    options: {
      connection: opt(url(['postgres', 'postgresql']), {
        env: ['DATABASE_URL'],
        mask: 'url-password',
        help: 'postgresql://USER:PASS@HOST:5432/DBNAME (sslmode and other libpq parameters in the query string). Needed by every process that uses the catalog.',
      }),
    },
  },
  notifications: {
    name: 'notifications',
    help: "How the controller consumes Cinder's notifications.",
    options: {
      exchanges: opt(list(amqpName(), { max: 16 }), {
        env: ['CLB_NOTIFICATION_EXCHANGES'],
        default: 'openstack',
        help: "Exchanges Cinder publishes to (comma list): 'openstack' for a stock Cinder, or its control_exchange.",
      }),
      queue: opt(amqpName(), {
        env: ['CLB_NOTIFICATION_QUEUE'],
        default: 'cinder-lvm-backup.notifications',
        help: "The service's own durable queue, bound to the exchanges.",
      }),
      dead_letter_queue: opt(amqpName(), {
        env: ['CLB_DEAD_LETTER_QUEUE'],
        help: 'Where unusable messages go. Unset: the queue name followed by .dead-letter.',
      }),
      routing_keys: opt(list(amqpName(), { max: 16 }), {
        env: ['CLB_NOTIFICATION_ROUTING_KEYS'],
        default: 'notifications.info,notifications.error',
        help: 'Routing keys bound (comma list): the notification topics of cinder.conf at priorities info and error.',
      }),
      prefetch: opt(integer(1, 1000), {
        env: ['CLB_PREFETCH'],
        default: '256',
        help: 'Messages in flight per controller: at least two batches, so the next one gathers while one commits.',
      }),
      batch_size: opt(integer(1, 1000), {
        env: ['CLB_NOTIFICATION_BATCH_SIZE'],
        default: '100',
        help: 'Most notifications applied in one transaction (and acknowledged with one ack). 1: one transaction per message.',
      }),
      batch_wait_ms: opt(integer(0, 10_000), {
        env: ['CLB_NOTIFICATION_BATCH_WAIT_MS'],
        default: '20',
        help: 'Longest wait, in milliseconds, for a batch to fill once its first message arrived; bounds the delay a quiet bus adds.',
      }),
      lookup_rate: opt(integer(1, 10_000), {
        env: ['CLB_LOOKUP_RATE'],
        default: '20',
        help: 'Notifications are hints: a change of what steers backups (metadata, host, project, status, deletion) waits until the volume read from the Cinder API confirms it. At most this many such reads per second per controller; one page of the list of volumes Cinder changed since the hinted events (which answers many hints at once) counts as one read.',
      }),
      lookup_concurrency: opt(integer(1, 64), {
        env: ['CLB_LOOKUP_CONCURRENCY'],
        default: '4',
        help: 'Cinder reads of hinted volumes in flight at once.',
      }),
      hint_delay_ms: opt(integer(0, 600_000), {
        env: ['CLB_HINT_DELAY_MS'],
        default: '2000',
        help: "How long a volume's first hint waits before its Cinder read, so a burst of events (attach.start, attach.end) costs one read.",
      }),
      max_unknown_hints: opt(integer(1, 10_000_000), {
        env: ['CLB_MAX_UNKNOWN_HINTS'],
        default: '10000',
        help: 'Most waiting hints of volumes the inventory does not hold (each forged event with a made-up volume id adds one until its Cinder read). Past it such new hints are dropped and logged; the inventory poll still finds real new volumes.',
      }),
      processed_retention_days: opt(integer(1, 366), {
        env: ['CLB_PROCESSED_RETENTION_DAYS'],
        default: '14',
        help: 'Days a processed message id is remembered, so a redelivery is applied once.',
      }),
      cinder_broker_users: opt(list(amqpName(), { max: 16 }), {
        env: ['CLB_CINDER_BROKER_USERS'],
        help: "RabbitMQ users Cinder publishes as (comma list). A message whose AMQP user_id is set (RabbitMQ checks it is the publisher's login) and is not listed is refused. A stock Cinder sets no user_id. Unset: every message carrying a user_id is refused.",
      }),
      max_future_skew: opt(duration(0, 86_400), {
        env: ['CLB_MAX_FUTURE_SKEW'],
        default: '5m',
        help: 'Events dated further than this into the future are refused (clock skew allowed).',
      }),
    },
  },
  controller: {
    name: 'controller',
    help: 'The control-node daemon: inventory poller and scheduler (on the leader).',
    options: {
      poll_interval: opt(duration(5, 86_400), {
        env: ['CLB_POLL_INTERVAL'],
        default: '300',
        help: 'Time between full inventory polls of Cinder (seconds, or with s, m, h).',
      }),
      schedule_interval: opt(duration(1, 86_400), {
        env: ['CLB_SCHEDULE_INTERVAL'],
        default: '60',
        help: 'Time between scheduler passes.',
      }),
      leader_retry: opt(duration(1, 3600), {
        env: ['CLB_LEADER_RETRY'],
        default: '5',
        help: 'Time between attempts of a standby controller to become the leader.',
      }),
      retry_after: opt(duration(60, 7 * 86_400), {
        env: ['CLB_RETRY_AFTER'],
        default: '3600',
        help: 'After a failed scheduled backup, when the scheduler tries again.',
      }),
    },
  },
  policy: {
    name: 'policy',
    help: 'What the backup tags of a volume may ask for.',
    options: {
      min_backup_interval: opt(duration(60, 366 * 86_400), {
        env: ['CLB_MIN_BACKUP_INTERVAL'],
        default: '1h',
        help: 'The shortest schedule a tenant may set (backup=hourly needs 1h or less).',
      }),
      default_schedule: opt(scheduleText(), {
        env: ['CLB_DEFAULT_SCHEDULE'],
        default: 'daily',
        help: 'The schedule of backup=on (hourly, daily, weekly, monthly or a 5-field cron expression).',
      }),
      incremental: opt(boolean(), {
        env: ['CLB_INCREMENTAL'],
        default: 'true',
        help: 'Whether backups are incremental (GNU tar listed-incremental on the last good backup) unless a volume says backup:incremental=off.',
      }),
      full_every: opt(fullEveryText(), {
        env: ['CLB_FULL_EVERY'],
        default: 'weekly',
        help: 'How often a full backup starts a new chain unless a volume says backup:full=…: daily, weekly, monthly, or every=N (a chain holds at most N backups).',
      }),
    },
  },
  retention: {
    name: 'retention',
    help: 'How many backups are kept.',
    options: {
      default: opt(retentionText(), {
        env: ['CLB_DEFAULT_RETENTION'],
        default: 'daily=7,weekly=4,monthly=6',
        help: 'Retention of a volume without backup:retention (Nd, last=N, daily=N, weekly=N, monthly=N, combinable).',
      }),
      max_keep_last: opt(integer(1, 10_000), {
        env: ['CLB_MAX_KEEP_LAST'],
        default: '100',
        help: 'Most backups a tenant may keep with last=N.',
      }),
      max_daily: opt(integer(1, 10_000), {
        env: ['CLB_MAX_DAILY'],
        default: '62',
        help: 'Largest daily=N.',
      }),
      max_weekly: opt(integer(1, 10_000), {
        env: ['CLB_MAX_WEEKLY'],
        default: '52',
        help: 'Largest weekly=N.',
      }),
      max_monthly: opt(integer(1, 10_000), {
        env: ['CLB_MAX_MONTHLY'],
        default: '36',
        help: 'Largest monthly=N.',
      }),
      max_age_days: opt(integer(1, 100_000), {
        env: ['CLB_MAX_AGE_DAYS'],
        default: '1098',
        help: 'Longest age retention (Nd) in days.',
      }),
      max_backups_per_volume: opt(integer(1, 100_000), {
        env: ['CLB_MAX_BACKUPS_PER_VOLUME'],
        default: '2500',
        help: 'Most backups a volume may keep: a retention that, with its schedule and its incremental chains (a kept backup keeps the backups it depends on), could keep more is a policy error (7d with an hourly cron keeps 169 full backups; with weekly chains 335; hourly with the default retention and weekly fulls 2,004, so the default admits it while 1098d hourly, 26,000, is refused).',
      }),
      orphan_grace: opt(duration(3600, 3660 * 86_400), {
        env: ['CLB_ORPHAN_GRACE'],
        default: '30d',
        help: 'How long the backups of a volume deleted in Cinder or switched off (untagged, backup=off) are all kept, from when it went; after it, all of them are pruned. A policy error is not off.',
      }),
      max_project_bytes: opt(byteSize(0, 2 ** 53), {
        env: ['CLB_MAX_PROJECT_BYTES'],
        default: '0',
        help: "Quota: most bytes a project's backups may occupy (successful, unpruned; K, M, G, T, P are powers of 1024). At or over it the project's volumes get no new backups and show the reason; nothing is deleted for it. 0: no quota.",
      }),
      project_quotas: opt(list(projectQuota(), { max: 1000 }), {
        env: ['CLB_PROJECT_QUOTAS'],
        help: 'Per-project quotas overriding max_project_bytes (comma list of PROJECT_ID=SIZE; SIZE 0: no quota for that project).',
      }),
    },
  },
  openstack: {
    name: 'service_credentials',
    aliases: ['keystone_authtoken'],
    help: "The service's own OpenStack user (reads Cinder and Nova; sets a restore target's status, an admin action). Also from OS_* variables, or OS_CLOUD with clouds.yaml; OS_* override the file.",
    options: {
      cloud: opt(credential(), {
        env: ['OS_CLOUD'],
        help: 'A cloud of clouds.yaml (searched in OS_CLIENT_CONFIG_FILE, ~/.config/openstack, /etc/openstack; never the working directory of a daemon). Settings below override it.',
      }),
      clouds_file: opt(absolutePath(), {
        env: ['OS_CLIENT_CONFIG_FILE'],
        help: 'The clouds.yaml to read instead of searching.',
      }),
      secure_file: opt(absolutePath(), {
        env: ['OS_CLIENT_SECURE_FILE'],
        help: 'The secure.yaml to read instead of searching.',
      }),
      auth_url: opt(url(['http', 'https']), {
        env: ['OS_AUTH_URL'],
        help: 'Keystone, with or without /v3.',
      }),
      auth_type: opt(oneOf(['password', 'v3password', 'v3applicationcredential'] as const), {
        env: ['OS_AUTH_TYPE'],
        help: 'Unset: an application credential when one is given, else password.',
      }),
      username: opt(credential(), { env: ['OS_USERNAME'], help: 'User name.' }),
      user_id: opt(credential(), { env: ['OS_USER_ID'], help: 'User id.' }),
      password: opt(credential(4096), {
        env: ['OS_PASSWORD'],
        mask: 'secret',
        help: 'Password of the user.',
      }),
      user_domain_name: opt(credential(), {
        env: ['OS_USER_DOMAIN_NAME'],
        help: "The user's domain by name.",
      }),
      user_domain_id: opt(credential(), {
        env: ['OS_USER_DOMAIN_ID'],
        help: "The user's domain by id.",
      }),
      project_name: opt(credential(), {
        env: ['OS_PROJECT_NAME', 'OS_TENANT_NAME'],
        help: 'Project to scope the token to, by name.',
      }),
      project_id: opt(credential(), {
        env: ['OS_PROJECT_ID', 'OS_TENANT_ID'],
        help: 'Project to scope the token to, by id.',
      }),
      project_domain_name: opt(credential(), {
        env: ['OS_PROJECT_DOMAIN_NAME'],
        help: "The project's domain by name.",
      }),
      project_domain_id: opt(credential(), {
        env: ['OS_PROJECT_DOMAIN_ID'],
        help: "The project's domain by id.",
      }),
      default_domain: opt(credential(), {
        env: ['OS_DEFAULT_DOMAIN'],
        help: 'Domain id for user and project when neither names one.',
      }),
      application_credential_id: opt(credential(), {
        env: ['OS_APPLICATION_CREDENTIAL_ID'],
        help: 'Application credential id (instead of a password).',
      }),
      application_credential_name: opt(credential(), {
        env: ['OS_APPLICATION_CREDENTIAL_NAME'],
        help: 'Application credential name (with username or user_id).',
      }),
      application_credential_secret: opt(credential(4096), {
        env: ['OS_APPLICATION_CREDENTIAL_SECRET'],
        mask: 'secret',
        help: 'Application credential secret.',
      }),
      region_name: opt(credential(), { env: ['OS_REGION_NAME'], help: 'Region of the endpoints.' }),
      interface: opt(
        oneOf(['public', 'internal', 'admin', 'publicURL', 'internalURL', 'adminURL'] as const),
        {
          env: ['OS_INTERFACE', 'OS_ENDPOINT_TYPE'],
          help: 'Which endpoints of the catalog to use. Unset: public.',
        },
      ),
      cafile: opt(absolutePath(), {
        env: ['OS_CACERT'],
        help: 'CA bundle to trust for the OpenStack APIs, besides the system ones.',
      }),
      insecure: opt(boolean(), {
        env: ['OS_INSECURE'],
        help: 'true turns TLS verification of the OpenStack APIs off (tests only).',
      }),
    },
  },
  agent: {
    name: 'agent',
    help: 'The storage-node agent. Its command-line options override these.',
    options: {
      hosts: opt(list(servedHost(), { max: 64 }), {
        env: ['CLB_AGENT_HOSTS'],
        help: 'Backends served (comma list): HOST@BACKEND as in os-vol-host-attr:host, or HOST@BACKEND=VG when the volume group is not cinder-volumes.',
      }),
      backup_dest: opt(absolutePath(), {
        env: ['CLB_BACKUP_DEST'],
        help: 'Directory the backups are written to.',
      }),
      concurrency: opt(integer(1, 64), {
        env: ['CLB_AGENT_CONCURRENCY'],
        default: '2',
        help: 'Jobs running at once on this node.',
      }),
      per_vg: opt(integer(1, 64), {
        env: ['CLB_AGENT_PER_VG'],
        default: '1',
        help: 'Backups and restores at once per volume group (each snapshot slows writes).',
      }),
      lease: opt(duration(1, 3600), {
        env: ['CLB_AGENT_LEASE'],
        default: '60',
        help: 'How long a claimed job stays with this agent without a renewal.',
      }),
      poll_interval: opt(duration(1, 3600), {
        env: ['CLB_AGENT_POLL_INTERVAL'],
        default: '10',
        help: 'Time between looks at the queue when no NOTIFY arrives.',
      }),
      stop_timeout: opt(duration(1, 86_400), {
        env: ['CLB_AGENT_STOP_TIMEOUT'],
        default: '600',
        help: 'After SIGTERM, how long running jobs may finish before they are aborted; one not unwound as long again after its abort (30 s at most) is given back to the queue and left to the reaper.',
      }),
      retry_base: opt(duration(1, 86_400), {
        env: ['CLB_AGENT_RETRY_BASE'],
        default: '30',
        help: 'First delay before a retryable failure is tried again (doubles each attempt, jittered).',
      }),
      retry_cap: opt(duration(1, 7 * 86_400), {
        env: ['CLB_AGENT_RETRY_CAP'],
        default: '1h',
        help: 'Longest delay between attempts.',
      }),
      snapshot_size: opt(
        text({
          max: 32,
          pattern: /^(\d{1,3}%|\d+(\.\d+)?[bBsSkKmMgGtTpPeE]?)$/,
          describe: 'a size (e.g. 10G) or a percentage of the volume (e.g. 20%)',
        }),
        {
          env: ['CLB_SNAPSHOT_SIZE'],
          help: 'Size of thick snapshots (10G, or 20% of the volume). Unset: chosen per volume.',
        },
      ),
      archive_timeout: opt(duration(0, 30 * 86_400), {
        env: ['CLB_ARCHIVE_TIMEOUT'],
        default: '1d',
        help: 'Longest the archive step of one volume may take (tar, zstd, raw images); past it the backup stops with ARCHIVE_TIMEOUT and keeps nothing. 0: no ceiling.',
      }),
      archive_min_rate: opt(byteSize(0, 1024 ** 4), {
        env: ['CLB_ARCHIVE_MIN_RATE'],
        default: '2M',
        help: 'Slowest average rate (bytes/s of the used bytes to read) the archive step may run at: it is stopped with ARCHIVE_TIMEOUT after 15 minutes plus used bytes / this rate, if archive_timeout has not stopped it first. 0: no rate floor.',
      }),
      archive_max_ratio: opt(decimal(0, 1000), {
        env: ['CLB_ARCHIVE_MAX_RATIO'],
        default: '2',
        help: "A filesystem's tar stream may hold at most its used bytes × this + 4 KiB per file + archive_slack; past it tar and zstd are stopped with ARCHIVE_TOO_LARGE and nothing is kept (reflinked copies, btrfs compression, a looping corrupted tree). 0: no byte bound.",
      }),
      archive_slack: opt(byteSize(0, 1024 ** 5), {
        env: ['CLB_ARCHIVE_SLACK'],
        default: '1G',
        help: "Bytes a filesystem's tar stream may hold beyond archive_max_ratio × its used bytes.",
      }),
      isolation: opt(oneOf(['host', 'appliance'] as const), {
        env: ['CLB_AGENT_ISOLATION'],
        default: 'host',
        help: "Where the tenant's filesystems are probed, mounted and read: host (this node's kernel, in a private mount namespace) or appliance (a throw-away libguestfs VM: no tenant filesystem is parsed by this kernel; needs guestfish; full backups only, slower).",
      }),
    },
  },
  api: {
    name: 'api',
    help: 'The HTTP API of the controller (Keystone tokens).',
    options: {
      listen: opt(listenAddress(), {
        env: ['CLB_API_LISTEN'],
        default: '127.0.0.1:8798',
        help: 'HOST:PORT to listen on.',
      }),
      admin_role: opt(roleName(), {
        env: ['CLB_API_ADMIN_ROLE'],
        default: 'admin',
        help: 'A token with this role sees every project.',
      }),
      action_role: opt(roleName(), {
        env: ['CLB_API_ACTION_ROLE'],
        default: 'member',
        help: 'Role needed to act (back up now, verify, cancel).',
      }),
    },
  },
  restore: {
    name: 'restore',
    help: 'Restores queued by the API or `enqueue restore` onto a Cinder volume.',
    options: {
      set_maintenance: opt(boolean(), {
        env: ['CLB_RESTORE_SET_MAINTENANCE'],
        default: 'true',
        help: "Hold a restore's target volume in Cinder's maintenance status from enqueue to the end of the job (os-reset_status, so the service user needs the admin role), so nobody can attach it while it is overwritten; a restore Cinder will not hold is refused (TARGET_MAINTENANCE_FAILED). false: the target is only checked available and detached at enqueue, and by the agent's exclusive open.",
      }),
      release_interval: opt(duration(1, 3600), {
        env: ['CLB_RESTORE_RELEASE_INTERVAL'],
        default: '30',
        help: 'How often the leader controller looks for restores that have ended and puts their targets back from maintenance.',
      }),
    },
  },
  metrics: {
    name: 'metrics',
    help: 'Prometheus metrics.',
    options: {
      listen: opt(listenAddress(), {
        env: ['CLB_METRICS_LISTEN'],
        default: '127.0.0.1:8799',
        help: 'HOST:PORT of the /metrics endpoint (its own port, so it can stay internal).',
      }),
    },
  },
  mail: {
    name: 'mail',
    help: 'Mail reports. Unset smtp_url: no mail.',
    options: {
      smtp_url: opt(url(['smtp', 'smtps']), {
        env: ['CLB_SMTP_URL'],
        mask: 'url-password',
        help: 'smtp://[USER:PASS@]HOST:PORT (STARTTLS when offered) or smtps://... for TLS.',
      }),
      require_tls: opt(boolean(), {
        env: ['CLB_MAIL_REQUIRE_TLS'],
        help: 'Refuse to send over smtp:// unless the server takes STARTTLS. Unset: required when smtp_url carries a password, so it never crosses in clear.',
      }),
      timeout: opt(duration(1, 600), {
        env: ['CLB_MAIL_TIMEOUT'],
        default: '15',
        help: 'How long the mail server may take to accept the connection and to greet; an idle connection is dropped after twice this. A server that hangs costs no more.',
      }),
      ca_file: opt(absolutePath(), {
        env: ['CLB_MAIL_CA_FILE'],
        help: "PEM file of the CA that signed the mail server's certificate (a private CA); unset: the system's CAs.",
      }),
      from: opt(mailAddress(), { env: ['CLB_MAIL_FROM'], help: 'Sender address.' }),
      to: opt(list(mailAddress(), { max: 50 }), {
        env: ['CLB_MAIL_TO'],
        help: 'Recipients (comma list).',
      }),
      report_at: opt(clockTime(), {
        env: ['CLB_REPORT_AT'],
        default: '07:00',
        help: 'When the daily report goes out (HH:MM in time_zone).',
      }),
      failure_interval: opt(duration(60, 86_400), {
        env: ['CLB_MAIL_FAILURE_INTERVAL'],
        default: '1h',
        help: 'Failure mails are batched: at most one per this interval.',
      }),
      too_old_grace: opt(duration(0, 30 * 86_400), {
        env: ['CLB_MAIL_TOO_OLD_GRACE'],
        default: '1h',
        help: 'A volume is "too old" in the daily report when the backup its schedule asked for after the last good one is overdue by more than this.',
      }),
    },
  },
  ssh: {
    name: 'ssh',
    help: 'SSH into instances for application-consistent backups (mysqldump, fsfreeze).',
    options: {
      user: opt(text({ max: 32, pattern: SSH_USER, describe: 'a user name' }), {
        env: ['CLB_SSH_USER'],
        help: 'User to log in as on instances.',
      }),
      project_logins: opt(list(projectSshLogin(), { max: 1000 }), {
        env: ['CLB_SSH_PROJECT_LOGINS'],
        help: 'Per-project logins overriding user (and key_file): comma list of PROJECT_ID=USER or PROJECT_ID=USER:/KEY/FILE, for projects whose images log in as another user (debian, ubuntu, cloud-user) or whose instances trust another key.',
      }),
      key_file: opt(absolutePath(), {
        env: ['CLB_SSH_KEY_FILE'],
        help: 'Private key of the service.',
      }),
      known_hosts: opt(absolutePath(), {
        env: ['CLB_SSH_KNOWN_HOSTS'],
        default: '/var/lib/cinder-lvm-backup/ssh/known_hosts',
        help: 'The known_hosts file the service owns (host keys are checked strictly).',
      }),
      port: opt(integer(1, 65_535), { env: ['CLB_SSH_PORT'], default: '22', help: 'SSH port.' }),
      connect_timeout: opt(duration(1, 300), {
        env: ['CLB_SSH_CONNECT_TIMEOUT'],
        default: '10',
        help: 'Time to establish a session: TCP connect, key exchange, authentication and the start of the remote command, on the wall clock (ssh is stopped after it).',
      }),
      command_timeout: opt(duration(1, 86_400), {
        env: ['CLB_SSH_COMMAND_TIMEOUT'],
        default: '1h',
        help: 'Longest a command on the instance (e.g. mysqldump) may run.',
      }),
      proxy_jump: opt(
        text({
          max: 255,
          pattern: /^([a-z_][a-z0-9_-]*@)?[A-Za-z0-9.-]+(:\d{1,5})?$/,
          describe: '[USER@]HOST[:PORT]',
        }),
        {
          env: ['CLB_SSH_PROXY_JUMP'],
          help: 'Jump host ([USER@]HOST[:PORT]) to reach tenant networks.',
        },
      ),
      freeze_bound: opt(duration(1, 300), {
        env: ['CLB_SSH_FREEZE_BOUND'],
        default: '10',
        help: 'A frozen filesystem is thawed after this long whatever happens.',
      }),
      address_from: opt(
        text({
          max: 512,
          pattern:
            /^(floating|fixed|network:[A-Za-z0-9._-]{1,255})(,(floating|fixed|network:[A-Za-z0-9._-]{1,255}))*$/,
          describe: 'floating, fixed or network:NAME, comma-separated, in order',
        }),
        {
          env: ['CLB_SSH_ADDRESS_FROM'],
          default: 'floating,fixed',
          help: "Which of the server's addresses the storage node connects to, tried in order (controller).",
        },
      ),
      resolve_interval: opt(duration(10, 86_400), {
        env: ['CLB_SSH_RESOLVE_INTERVAL'],
        default: '5m',
        help: 'How often the controller looks up the instance (attachment, Nova server, address) of volumes that ask for SSH steps.',
      }),
      mysqldump_defaults: opt(
        text({ max: 255, pattern: /^[A-Za-z0-9._/-]+$/, describe: 'a path on the instance' }),
        {
          env: ['CLB_SSH_MYSQLDUMP_DEFAULTS'],
          default: '.my.cnf',
          help: "mysqldump's option file on the instance, with the credentials (relative to the SSH user's home).",
        },
      ),
      binlog_position: opt(boolean(), {
        env: ['CLB_SSH_BINLOG_POSITION'],
        default: 'false',
        help: "Record the server's binlog position with each dump (mysqldump --master-data=2, as a comment): for point-in-time recovery or a replica. Needs binary logging on and the RELOAD privilege in the option file's account; without them the dump fails.",
      }),
    },
  },
} as const satisfies Record<string, SectionSpec>;

export type SettingsSchema = typeof SETTINGS_SCHEMA;
export type SectionName = keyof SettingsSchema;

type Camel<S extends string> = S extends `${infer H}_${infer T}`
  ? `${H}${Capitalize<Camel<T>>}`
  : S;

type ValueOf<O> =
  O extends OptionSpec<infer T, infer D> ? (D extends true ? T : T | undefined) : never;

/** The typed settings every process and command receives. */
export type Settings = {
  -readonly [S in SectionName]: {
    -readonly [K in keyof SettingsSchema[S]['options'] as Camel<K & string>]: ValueOf<
      SettingsSchema[S]['options'][K]
    >;
  };
};

/** A setting by `section.option` (section by its code name), e.g. `database.connection`. */
export type SettingKey = {
  [S in SectionName]: `${S}.${keyof SettingsSchema[S]['options'] & string}`;
}[SectionName];

/** `log_level` → `logLevel`. */
export function camelCase(name: string): string {
  return name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}
