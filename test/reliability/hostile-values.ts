/**
 * Generated metadata for the bad-input scenario: every backup key crossed with hostile
 * fragments (length, encoding, control characters, shell and SQL metacharacters, path
 * traversal, huge cron and retention values) in several positions, deterministically (the
 * same list on every run, so a failure names a value that can be tried again).
 *
 * Fragments that would act on the machine if a shell or a path ever saw them name a canary
 * path unique to the run: after the run that path must not exist.
 */
import { POLICY_KEYS } from '../../src/policy/policy.js';

/** One generated case: the metadata a volume carries. */
export interface HostileCase {
  key: string;
  value: string;
  metadata: Record<string, string>;
}

/** A marker every shell-, SQL- or path-shaped fragment carries, to find it in any argv. */
export const HOSTILE_MARKER = 'clbcanary';

/** Fragments aimed at a shell, a database or the file system; `canary` is an absolute path. */
export function attackFragments(canary: string): string[] {
  const rel = canary.replace(/^\/+/, '');
  return [
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `;touch ${canary}`,
    `; touch ${canary} #`,
    `| touch ${canary}`,
    `&& touch ${canary}`,
    `|| touch ${canary}`,
    `> ${canary}`,
    `>> ${canary}`,
    `< /etc/passwd > ${canary}`,
    `\ntouch ${canary}`,
    `\r\ntouch ${canary}`,
    `$(IFS=_;cmd=touch_${canary};$cmd)`,
    `\${PATH:0:1}tmp\${PATH:0:1}${HOSTILE_MARKER}`,
    `{touch,${canary}}`,
    `$'\\x74ouch' ${canary}`,
    `-exec touch ${canary} ;`,
    `--to-command=touch ${canary}`,
    `--checkpoint-action=exec=touch ${canary}`,
    `--use-compress-program=touch ${canary}`,
    `-I touch ${canary}`,
    `--defaults-file=${canary}`,
    `-e system touch ${canary}`,
    `../../../../${rel}`,
    `/../../../${rel}`,
    `..\\..\\..\\${rel.replace(/\//g, '\\')}`,
    `%2e%2e%2f%2e%2e%2f${rel}`,
    `..%2f..%2f${rel}`,
    `....//....//${rel}`,
    `~/../../${rel}`,
    `file://${canary}`,
    `${canary}\u0000.tmp`,
    `/proc/self/root${canary}`,
    `' OR '1'='1' -- ${HOSTILE_MARKER}`,
    `'; DROP TABLE volumes; -- ${HOSTILE_MARKER}`,
    `"); DELETE FROM jobs; -- ${HOSTILE_MARKER}`,
    `\\'; SELECT pg_sleep(30); -- ${HOSTILE_MARKER}`,
    `1; COPY (SELECT 1) TO '${canary}'`,
    `$$; SELECT 1; $$ ${HOSTILE_MARKER}`,
    `{"$ne": "${HOSTILE_MARKER}"}`,
    `__proto__${HOSTILE_MARKER}`,
    `%s%s%s%n ${HOSTILE_MARKER}`,
    `{{7*7}} \${7*7} ${HOSTILE_MARKER}`,
    `<script>${HOSTILE_MARKER}</script>`,
  ];
}

/** Values aimed at the parsers: lengths, encodings, control characters, huge numbers. */
export function parserFragments(): string[] {
  const controls = [];
  for (let c = 0; c <= 0x1f; c += 1) controls.push(String.fromCharCode(c));
  controls.push('\u007f', '\u0080', '\u0085', '\u009b', '\u009f');
  return [
    '',
    ' ',
    '\t',
    ',',
    ',,,,',
    '=',
    'x'.repeat(254),
    'x'.repeat(255),
    'x'.repeat(256),
    'd'.repeat(1023),
    'd'.repeat(1024),
    'd'.repeat(1025),
    '9'.repeat(5000),
    'daily,'.repeat(2000),
    ...controls.map((c) => `dai${c}ly`),
    '\ud800',
    'daily\udfff',
    '\ufeffdaily',
    'dai\u200bly',
    'daily\u202e',
    '\u2028daily',
    'ｄａｉｌｙ',
    'DAILY',
    'Daily ',
    'daılı',
    'дейли',
    '每日',
    '🗓️daily',
    'e\u0301',
    '١٢ ٣ * * *',
    '\u00a0daily',
    '99999999999 * * * *',
    '0 99999999999999999999 * * *',
    '*/0 * * * *',
    '*/100 * * * *',
    '*/1 * * * *',
    '0-59/1 0-23 1-31 1-12 0-7',
    '0 0 31 2 *',
    '0 0 30 2 *',
    '0 0 31 4,6,9,11 *',
    '0 0 * * 8',
    '60 24 32 13 8',
    '-1 * * * *',
    '1e3 * * * *',
    '0x10 * * * *',
    '0 0 L * *',
    '0 0 ? * MON#2',
    '0 0 1W * *',
    '* * * * * *',
    '* * * *',
    '@reboot',
    '@yearly',
    '@every 1s',
    Array.from({ length: 60 }, (_, i) => i).join(',') + ' * * * *',
    `${'0,'.repeat(500)}0 * * * *`,
    '0 3 * * *',
    '30 2 * * sun',
    'hourly',
    'weekly',
    'monthly',
    'off',
    'on',
    'last=10',
    'last=0',
    'last=-1',
    'last=1.5',
    'last=1e3',
    'last=NaN',
    'last=Infinity',
    'last=9007199254740993',
    'last=99999999999999999999999999999999999999',
    `last=${'9'.repeat(400)}`,
    'daily=7,weekly=4,monthly=6',
    'daily=99999,weekly=99999,monthly=99999',
    'last=10,last=11',
    'daily=',
    '=7',
    '7d',
    '0d',
    '-7d',
    '999999999999d',
    '1e308d',
    '52w',
    '9999999w',
    '30d,last=100',
    'every=7',
    'every=0',
    'every=101',
    'every=-1',
    'every=1.5',
    'every=99999999999999999999',
    'detach',
    'detach,attach,resize,retype,revert,manage_existing,transfer,update',
    'detach,'.repeat(300),
    'extend',
    'all',
    'shop,wiki',
    '-shop',
    Array.from({ length: 40 }, (_, i) => `db${i}`).join(','),
    '/var/lib/mysql',
    '/',
    '/var/../etc',
    '/./var',
    'var/lib',
    Array.from({ length: 20 }, (_, i) => `/m${i}`).join(','),
    'crash',
    'filesystem',
    'application',
    '/var/cache/*,*.tmp',
    '*',
    '.',
    './',
    '//etc',
    Array.from({ length: 40 }, (_, i) => `*.t${i}`).join(','),
    'true',
    'yes',
    'null',
    'undefined',
    '0',
    '-0',
    'NaN',
  ];
}

/** The metadata a volume carries for one (key, value): a valid schedule beside other keys. */
function metadataFor(key: string, value: string): Record<string, string> {
  return key === 'backup' ? { backup: value } : { backup: 'daily', [key]: value };
}

/**
 * Every key crossed with every fragment in four forms (alone, after a plausible value,
 * before one, inside one), plus unknown `backup:*` keys and hostile keys; at least `min`.
 */
export function hostileCases(canary: string, min = 10_000): HostileCase[] {
  const fragments = [...attackFragments(canary), ...parserFragments()];
  const keys: string[] = [
    ...POLICY_KEYS,
    'backup:retension',
    'backup:' + HOSTILE_MARKER,
    'backup:$(touch ' + canary + ')',
  ];
  const plausible: Record<string, string> = {
    backup: 'daily',
    'backup:retention': 'last=10',
    'backup:on': 'detach',
    'backup:exclude': '/var/cache/*',
    'backup:mysqldump': 'shop',
    'backup:freeze': '/var/lib/mysql',
    'backup:consistency': 'crash',
    'backup:incremental': 'on',
    'backup:full': 'weekly',
  };
  const out: HostileCase[] = [];
  const seen = new Set<string>();
  const add = (key: string, value: string): void => {
    const id = `${key}\u0000${value}`;
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ key, value, metadata: metadataFor(key, value) });
  };
  for (const key of keys) {
    const base = plausible[key] ?? 'x';
    for (const f of fragments) {
      add(key, f);
      add(key, `${base}${f}`);
      add(key, `${f}${base}`);
      add(key, `${base.slice(0, 2)}${f}${base.slice(2)}`);
      add(key, `${base},${f}`);
    }
  }
  // Hostile keys beside a valid schedule (keys outside backup* are not the policy's).
  for (const f of fragments.slice(0, 60)) {
    const k = `backup:${f}`.slice(0, 255);
    if (!seen.has(`${k}\u0000daily`)) {
      seen.add(`${k}\u0000daily`);
      out.push({ key: k, value: 'daily', metadata: { backup: 'daily', [k]: 'daily' } });
    }
  }
  // Mixtures, deterministic: fragment i of one key with fragment j of another.
  let i = 0;
  while (out.length < min) {
    const a = fragments[i % fragments.length] ?? '';
    const b = fragments[(i * 7 + 3) % fragments.length] ?? '';
    const k1 = POLICY_KEYS[i % POLICY_KEYS.length] ?? 'backup';
    const k2 = POLICY_KEYS[(i + 4) % POLICY_KEYS.length] ?? 'backup:on';
    const metadata = { backup: 'daily', [k1]: a, [k2]: b };
    out.push({ key: `${k1}+${k2}`, value: `${a} | ${b}`, metadata });
    i += 1;
  }
  return out;
}
