/**
 * What the console's charts compute from `GET /metrics`, in the browser: rates and quantiles from two
 * scrapes taken a moment apart, as Prometheus's own `rate()` and `histogram_quantile()` would over that
 * moment. Pure (no DOM, no Bun), so that it is tested here and bundled into the page alike.
 */
import {
  buckets,
  bucketsBetween,
  type LabelFilter,
  labelValues,
  quantile,
  type Sample,
  total,
} from "../../observability/prometheus-text.ts";

export { parsePrometheus, type Sample } from "../../observability/prometheus-text.ts";

/**
 * The metrics the charts read, named once: a rename in `src/observability/metrics.ts` is made here
 * too (the browser test fails on empty charts otherwise).
 */
export const CHART_METRICS = {
  /** Counter: commands handled, by route and outcome. */
  commands: "eventfold_commands_total",
  /** Histogram, seconds: a command's time from request to answer, by route. */
  commandDuration: "eventfold_command_duration_seconds",
  /** Histogram, seconds: from an event's append to its being applied, by projection. */
  projectionLag: "eventfold_projection_lag_seconds",
} as const;

/** One scrape of `GET /metrics`, and when the page took it (milliseconds, the page's clock). */
export interface Scrape {
  readonly at: number;
  readonly samples: readonly Sample[];
}

/** What the charts plot for the moment between two scrapes; undefined where nothing was observed. */
export interface ChartPoint {
  readonly at: number;
  /** Commands answered per second (every outcome). */
  readonly commandRate: number | undefined;
  /** Command latency in milliseconds. */
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** Per projection: the 99th percentile of the time its events took to be applied, in seconds. */
  readonly lagP99S: Readonly<Record<string, number | undefined>>;
}

/** The chart point of the moment from `before` to `after`, as Prometheus would compute it. */
export const chartPoint = (before: Scrape, after: Scrape, names = CHART_METRICS): ChartPoint => {
  const seconds = (after.at - before.at) / 1000;
  const commands = total(after.samples, names.commands) - total(before.samples, names.commands);
  const latency = bucketsBetween(
    buckets(before.samples, names.commandDuration),
    buckets(after.samples, names.commandDuration),
  );
  const toMs = (s: number | undefined) => (s === undefined ? undefined : s * 1000);
  const lagP99S: Record<string, number | undefined> = {};
  for (const projection of labelValues(after.samples, `${names.projectionLag}_bucket`, "projection")) {
    const of: LabelFilter = (labels) => labels.projection === projection;
    const lag = bucketsBetween(
      buckets(before.samples, names.projectionLag, of),
      buckets(after.samples, names.projectionLag, of),
    );
    lagP99S[projection] = lag && quantile(0.99, lag);
  }
  return {
    at: after.at,
    commandRate: seconds > 0 && commands >= 0 ? commands / seconds : undefined,
    p50Ms: toMs(latency && quantile(0.5, latency)),
    p99Ms: toMs(latency && quantile(0.99, latency)),
    lagP99S,
  };
};
