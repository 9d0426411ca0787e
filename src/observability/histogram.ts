import type { Registry } from "prom-client";

/** Records one observation of `count` events that took `ms` milliseconds each. */
export type Observe = (ms: number, count?: number) => void;

/**
 * A Prometheus histogram with one label, kept as plain numbers and read at scrape time. prom-client
 * hashes the labels on every observation, a bound child's too; the command path observes about ten
 * times per request.
 */
export class FastHistogram<L extends string> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly children = new Map<L, { counts: Float64Array; sum: number }>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    /** Upper bounds, in milliseconds. */
    private readonly boundsMs: readonly number[],
  ) {
    // prom-client registers any object with a name and a `get()` that says the values.
    registry.registerMetric(this as never);
  }

  /** The observer of one label value; bind once, observe on the hot path. */
  child(value: L): Observe {
    let child = this.children.get(value);
    if (!child) {
      child = { counts: new Float64Array(this.boundsMs.length + 1), sum: 0 };
      this.children.set(value, child);
    }
    const { counts } = child;
    const bounds = this.boundsMs;
    const totals = child;
    return (ms, count = 1) => {
      // A clock read wrong (NaN) would poison the sum for good.
      if (Number.isNaN(ms)) return;
      let bucket = 0;
      while (bucket < bounds.length && ms > (bounds[bucket] as number)) bucket += 1;
      counts[bucket] = (counts[bucket] ?? 0) + count;
      totals.sum += ms * count;
    };
  }

  /** Called by prom-client's `registry.resetMetrics()`. */
  reset(): void {
    for (const child of this.children.values()) {
      child.counts.fill(0);
      child.sum = 0;
    }
  }

  get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const [value, { counts, sum }] of this.children) {
      let cumulative = 0;
      for (const [bucket, le] of [...this.boundsMs, Number.POSITIVE_INFINITY].entries()) {
        cumulative += counts[bucket] as number;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le: le === Number.POSITIVE_INFINITY ? "+Inf" : le / 1000, [this.label]: value },
          value: cumulative,
        });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { [this.label]: value }, value: sum / 1000 });
      values.push({ metricName: `${this.name}_count`, labels: { [this.label]: value }, value: cumulative });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
