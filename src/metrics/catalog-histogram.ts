/**
 * A Prometheus histogram whose buckets are counted by Postgres at scrape time (over every
 * successful backup in the catalog), so every controller serves the same figures. prom-client
 * histograms only count what the process observed, so this one answers `get()` itself.
 */
import { Histogram, type Registry } from 'prom-client';
import type { FigureBuckets } from '../db/backups.js';

type Values = Awaited<ReturnType<Histogram['get']>>;

export class CatalogHistogram extends Histogram {
  constructor(
    private readonly spec: {
      name: string;
      help: string;
      buckets: number[];
      registry: Registry;
      load: (bounds: readonly number[]) => Promise<FigureBuckets>;
    },
  ) {
    super({ name: spec.name, help: spec.help, buckets: spec.buckets, registers: [spec.registry] });
  }

  override async get(): Promise<Values> {
    const b = await this.spec.load(this.spec.buckets);
    const name = this.spec.name;
    let cumulative = 0;
    const values: Values['values'] = this.spec.buckets.map((le, i) => {
      cumulative += b.counts[i] ?? 0;
      return { labels: { le }, value: cumulative, metricName: `${name}_bucket` };
    });
    values.push(
      { labels: { le: '+Inf' }, value: b.count, metricName: `${name}_bucket` },
      { labels: {}, value: b.sum, metricName: `${name}_sum` },
      { labels: {}, value: b.count, metricName: `${name}_count` },
    );
    return {
      name,
      help: this.spec.help,
      // prom-client's typings declare `type` a numeric enum, but the registry writes the
      // value into `# TYPE` as it is, and its own metrics carry the string.
      type: 'histogram' as unknown as Values['type'],
      aggregator: 'sum',
      collect: () => undefined,
      values,
    };
  }

  /** What prom-client's registry prefers over get() when it renders text. */
  getForPromString(): Promise<Values> {
    return this.get();
  }
}
