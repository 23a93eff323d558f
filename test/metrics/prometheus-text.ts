/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line is
 * a `# HELP`, a `# TYPE` or a sample of a declared family; label values are quoted with the
 * format's escapes; values are floats (or +Inf, -Inf, NaN). Throws on anything else.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
  /** The value of the sample `name` whose labels include `labels`; undefined if none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(\\{(.*)\\})? (\\S+)( \\d+)?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)"(,|$)/;

function parseValue(v: string, line: string): number {
  // Prometheus reads values with Go's strconv.ParseFloat: inf and nan in any case.
  if (/^\+?inf$/i.test(v)) return Infinity;
  if (/^-inf$/i.test(v)) return -Infinity;
  if (/^nan$/i.test(v)) return NaN;
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) throw new Error(`bad value in: ${line}`);
  return Number(v);
}

function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count', '_total']) {
    const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : null;
    if (base !== null && types.has(base)) return base;
  }
  return undefined;
}

export function parsePrometheusText(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      if (!new RegExp(`^# HELP ${NAME} .*$`).test(line)) throw new Error(`bad HELP: ${line}`);
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(
        line,
      );
      if (m === null) throw new Error(`bad TYPE: ${line}`);
      types.set(m[1] ?? '', m[2] ?? '');
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment: ${line}`);
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`bad sample: ${line}`);
    const name = m[1] ?? '';
    if (familyOf(name, types) === undefined) throw new Error(`sample without TYPE: ${line}`);
    const labels: Record<string, string> = {};
    let rest = m[3] ?? '';
    while (rest.length > 0) {
      const l = LABEL.exec(rest);
      if (l === null) throw new Error(`bad labels: ${line}`);
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(["\\n])/g, (_s, c: string) =>
        c === 'n' ? '\n' : c,
      );
      rest = rest.slice(l[0].length);
    }
    samples.push({ name, labels, value: parseValue(m[4] ?? '', line) });
  }
  return {
    types,
    samples,
    value(name, want = {}) {
      return samples.find(
        (s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v),
      )?.value;
    },
  };
}
