/**
 * The one place settings are read: the configuration file, then the environment over it,
 * then defaults, each checked against settings-schema.ts. Every problem is collected and
 * reported together as one CONFIG_INVALID error (`details.problems` lists them), so an
 * operator fixes a file in one round. Processes and commands receive the typed result.
 */
import { AppError } from '../errors.js';
import { parseSchedule } from '../policy/schedule.js';
import {
  readConfigFile,
  DEFAULT_CONFIG_FILE,
  ConfigFileError,
  type ConfigFile,
} from './config-file.js';
import {
  credentialsFromSettings,
  openstackConfigured,
  type OpenStackCredentials,
} from './openstack-credentials.js';
import {
  SETTINGS_SCHEMA,
  camelCase,
  type Mask,
  type OptionSpec,
  type SectionName,
  type SectionSpec,
  type SettingKey,
  type Settings,
} from './settings-schema.js';
import { formatSeconds } from './setting-types.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Where a value came from. */
export type SettingSource =
  | { kind: 'env'; variable: string }
  | { kind: 'file'; path: string }
  | { kind: 'default' }
  | { kind: 'unset' };

/** One setting as `config show` prints it. */
export interface SettingEntry {
  key: SettingKey;
  /** `[database] connection`. */
  label: string;
  env: readonly string[];
  source: SettingSource;
  /** The text as written (secrets included: print `shown`, never this). */
  text: string | undefined;
  /** The text with secrets masked. */
  shown: string | undefined;
  ok: boolean;
  help: string;
}

/** One thing wrong with the configuration. */
export interface SettingsProblem {
  /** `[database] connection`, or the file. */
  setting: string;
  /** Where the bad value came from (`DATABASE_URL`, the file path), when it came from one. */
  from?: string;
  reason: string;
}

/** The typed configuration a process or command receives. */
export interface Config extends Settings {
  /** The file that was read, or null (none at the default location). */
  configFile: string | null;
  /** Present when asked for (`openstack: true`) and configured; null when not configured. */
  openstackCredentials: OpenStackCredentials | null;
}

export interface LoadSettingsOptions {
  /** The process environment (the caller passes it: only the entry point reads it). */
  env: Env;
  /** `--config FILE`; else CLB_CONFIG; else the default location. */
  configFile?: string | undefined;
  /** Settings this process cannot run without: missing ones are problems too. */
  require?: readonly SettingKey[];
  /** Resolve the OpenStack credentials (clouds.yaml included) and report their problems. */
  openstack?: boolean;
}

/** Everything `config check` and `config show` need. */
export interface SettingsReport {
  file: string;
  fileFound: boolean;
  entries: SettingEntry[];
  problems: SettingsProblem[];
  /** Things that work but should not stay so (a world-readable file holding secrets). */
  warnings: string[];
  /** Null when there are problems. */
  config: Config | null;
}

const SECTIONS = Object.entries(SETTINGS_SCHEMA) as [SectionName, SectionSpec][];

function labelOf(section: SectionSpec, option: string): string {
  return `[${section.name}] ${option}`;
}

/** Masks what `mask` says; never returns a secret. */
export function maskText(text: string, mask: Mask): string {
  if (mask === 'secret') return '****';
  if (mask === 'url-password') return text.replace(/((?:\/\/|,)[^:@,/]*):[^@,]*@/g, '$1:****@');
  return text;
}

function nonEmpty(v: string | null | undefined): v is string {
  return v !== undefined && v !== null && v.trim() !== '';
}

/** The file's section matching `spec` (by name or alias), and which names were present. */
function fileSection(
  file: ConfigFile | null,
  spec: SectionSpec,
): { options: Map<string, string | null> | undefined; present: string[] } {
  const names = [spec.name, ...(spec.aliases ?? [])];
  const present = names.filter((n) => file?.sections.has(n) === true);
  // [DEFAULT] in any case, as oslo.config accepts it.
  if (spec.name === 'DEFAULT' && present.length === 0) {
    const other = [...(file?.sections.keys() ?? [])].find((k) => k.toLowerCase() === 'default');
    if (other !== undefined) present.push(other);
  }
  const first = present[0];
  return { options: first === undefined ? undefined : file?.sections.get(first), present };
}

function isKnownSection(name: string): boolean {
  return SECTIONS.some(
    ([, s]) =>
      s.name === name ||
      (s.aliases ?? []).includes(name) ||
      (s.name === 'DEFAULT' && name.toLowerCase() === 'default'),
  );
}

interface Evaluated {
  values: Record<string, Record<string, unknown>>;
  entries: SettingEntry[];
  problems: SettingsProblem[];
}

/** Reads every option from env, file or default and checks it. Pure. */
export function evaluateSettings(
  env: Env,
  file: ConfigFile | null,
  require: readonly SettingKey[] = [],
): Evaluated {
  const values: Record<string, Record<string, unknown>> = {};
  const entries: SettingEntry[] = [];
  const problems: SettingsProblem[] = [];
  for (const name of file?.sections.keys() ?? []) {
    if (!isKnownSection(name)) {
      problems.push({
        setting: `[${name}]`,
        from: file?.path,
        reason: `unknown section (known: ${SECTIONS.map(([, s]) => s.name).join(', ')})`,
      });
    }
  }
  for (const [code, spec] of SECTIONS) {
    const { options: fromFile, present } = fileSection(file, spec);
    if (present.length > 1) {
      problems.push({
        setting: present.map((p) => `[${p}]`).join(' and '),
        from: file?.path,
        reason: 'give one of these sections, not both',
      });
    }
    for (const option of fromFile?.keys() ?? []) {
      if (!(option in spec.options)) {
        problems.push({
          setting: `[${present[0] ?? spec.name}] ${option}`,
          from: file?.path,
          reason: `unknown option (known: ${Object.keys(spec.options).join(', ')})`,
        });
      }
    }
    const section: Record<string, unknown> = {};
    values[code] = section;
    for (const [option, o] of Object.entries<OptionSpec<unknown, boolean>>(spec.options)) {
      const key = `${code}.${option}` as SettingKey;
      const label = labelOf(spec, option);
      let text: string | undefined;
      let source: SettingSource = { kind: 'unset' };
      const variable = o.env.find((v) => nonEmpty(env[v]));
      const inFile = fromFile?.get(option);
      if (variable !== undefined) {
        text = env[variable];
        source = { kind: 'env', variable };
      } else if (inFile === null && file !== null) {
        problems.push({
          setting: label,
          from: file.path,
          reason: 'must be one value (a comma list for several), not key[] lines',
        });
      } else if (nonEmpty(inFile) && file !== null) {
        text = inFile;
        source = { kind: 'file', path: file.path };
      } else if (o.default !== undefined) {
        text = o.default;
        source = { kind: 'default' };
      }
      let ok = true;
      if (text !== undefined) {
        const parsed = o.type.safeParse(text);
        if (parsed.success) section[camelCase(option)] = parsed.data;
        else {
          ok = false;
          problems.push({
            setting: label,
            ...(source.kind === 'env'
              ? { from: source.variable }
              : source.kind === 'file'
                ? { from: source.path }
                : {}),
            reason: parsed.error.issues.map((i) => i.message).join('; '),
          });
        }
      } else if (require.includes(key)) {
        ok = false;
        problems.push({
          setting: label,
          reason: `not set (in the file, or with ${o.env.join(' or ')})`,
        });
      }
      entries.push({
        key,
        label,
        env: o.env,
        source,
        text,
        shown: text === undefined ? undefined : maskText(text, o.mask),
        ok,
        help: o.help,
      });
    }
  }
  return { values, entries, problems };
}

/** Checks that need several settings; only run when each of them is valid. */
function crossChecks(s: Settings, problems: SettingsProblem[]): void {
  if (s.agent.retryBase > s.agent.retryCap) {
    problems.push({
      setting: '[agent] retry_base',
      reason: `${formatSeconds(s.agent.retryBase)} is longer than retry_cap (${formatSeconds(s.agent.retryCap)})`,
    });
  }
  const r = s.retention;
  const limits: [keyof typeof r.default, number, string][] = [
    ['keepLast', r.maxKeepLast, 'max_keep_last'],
    ['daily', r.maxDaily, 'max_daily'],
    ['weekly', r.maxWeekly, 'max_weekly'],
    ['monthly', r.maxMonthly, 'max_monthly'],
    ['maxAgeDays', r.maxAgeDays, 'max_age_days'],
  ];
  for (const [field, max, name] of limits) {
    const v = r.default[field];
    if (v !== undefined && v > max) {
      problems.push({
        setting: '[retention] default',
        reason: `keeps ${v} where ${name} allows ${max}`,
      });
    }
  }
  const schedule = parseSchedule(s.policy.defaultSchedule, s.policy.minBackupInterval);
  if (!schedule.ok)
    problems.push({ setting: '[policy] default_schedule', reason: schedule.reason });
  if (s.mail.smtpUrl !== undefined && (s.mail.from === undefined || s.mail.to === undefined)) {
    problems.push({
      setting: '[mail] smtp_url',
      reason: 'is set, so [mail] from and to are needed too',
    });
  }
}

/**
 * The settings of `env` and `file` alone (no file read, no credentials resolved), or one
 * CONFIG_INVALID error naming every problem. Pure: for tests and pure callers.
 */
export function settingsOf(env: Env, file: ConfigFile | null = null): Settings {
  const evaluated = evaluateSettings(env, file);
  const problems = [...evaluated.problems];
  if (problems.length === 0) crossChecks(evaluated.values as unknown as Settings, problems);
  if (problems.length > 0) throw configError(problems);
  return evaluated.values as unknown as Settings;
}

/** One CONFIG_INVALID error listing every problem, one per line. */
export function configError(problems: readonly SettingsProblem[]): AppError {
  const lines = problems.map(
    (p) => `  ${p.setting}${p.from === undefined ? '' : ` (from ${p.from})`}: ${p.reason}`,
  );
  return new AppError(
    'CONFIG_INVALID',
    `the configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${lines.join('\n')}`,
    { details: { problems } },
  );
}

/** The file to read: `--config`, else CLB_CONFIG, else the default location. */
export function configFileOf(o: Pick<LoadSettingsOptions, 'env' | 'configFile'>): {
  path: string;
  named: boolean;
} {
  if (nonEmpty(o.configFile)) return { path: o.configFile, named: true };
  const fromEnv = o.env['CLB_CONFIG'];
  if (nonEmpty(fromEnv)) return { path: fromEnv, named: true };
  return { path: DEFAULT_CONFIG_FILE, named: false };
}

/** Reads and checks everything; never throws for a configuration problem. */
export async function inspectSettings(o: LoadSettingsOptions): Promise<SettingsReport> {
  const { path, named } = configFileOf(o);
  const problems: SettingsProblem[] = [];
  const warnings: string[] = [];
  let file: ConfigFile | null = null;
  try {
    file = await readConfigFile(path, !named);
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw err;
    problems.push({ setting: path, reason: err.message });
  }
  const evaluated = evaluateSettings(o.env, file, o.require);
  problems.push(...evaluated.problems);
  const hasSecret = evaluated.entries.some((e) => e.source.kind === 'file' && e.shown !== e.text);
  if (file?.worldReadable === true && hasSecret) {
    warnings.push(`${file.path} holds secrets and is readable by everyone: chmod 0640 or 0600`);
  }
  let config: Config | null = null;
  if (problems.length === 0) {
    const settings = evaluated.values as unknown as Settings;
    crossChecks(settings, problems);
    let credentials: OpenStackCredentials | null = null;
    if (o.openstack === true && openstackConfigured(settings.openstack)) {
      try {
        credentials = await credentialsFromSettings(settings.openstack, o.env);
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== 'CONFIG_INVALID') throw err;
        problems.push({ setting: '[service_credentials]', reason: err.message });
      }
    }
    if (problems.length === 0) {
      config = { ...settings, configFile: file?.path ?? null, openstackCredentials: credentials };
    }
  }
  return {
    file: path,
    fileFound: file !== null,
    entries: evaluated.entries,
    problems,
    warnings,
    config,
  };
}

/** `[database] connection` of a configuration loaded with it required. */
export function databaseUrlOf(config: Pick<Config, 'database'>): string {
  const url = config.database.connection;
  if (url === undefined) {
    throw new AppError('INTERNAL', 'the command was loaded without [database] connection');
  }
  return url;
}

/** Reads and checks everything; throws one CONFIG_INVALID naming every problem. */
export async function loadSettings(o: LoadSettingsOptions): Promise<Config> {
  const report = await inspectSettings(o);
  if (report.config === null) throw configError(report.problems);
  return report.config;
}
