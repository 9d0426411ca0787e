import { describe, expect, test } from "bun:test";
import { createMetrics } from "../../observability/metrics.ts";
import { buckets, parsePrometheus, quantile, total } from "../../observability/prometheus-text.ts";
import { CHART_METRICS, chartPoint } from "./prometheus.ts";

describe("the console's reading of GET /metrics", () => {
  test("parses samples with labels, escapes and infinities; skips comments and lines it cannot read", () => {
    const samples = parsePrometheus(
      [
        "# HELP eventfold_commands_total Commands handled",
        "# TYPE eventfold_commands_total counter",
        'eventfold_commands_total{route="/v1/accounts",outcome="accepted"} 3',
        'odd{label="a \\"quoted\\" \\\\ value\\nnext"} 1.5 1700000000000',
        'eventfold_x_bucket{le="+Inf"} 7',
        "bare_gauge -2e-3",
        'broken{label="never closed} 1',
        "",
      ].join("\n"),
    );
    expect(samples).toEqual([
      { name: "eventfold_commands_total", labels: { route: "/v1/accounts", outcome: "accepted" }, value: 3 },
      { name: "odd", labels: { label: 'a "quoted" \\ value\nnext' }, value: 1.5 },
      { name: "eventfold_x_bucket", labels: { le: "+Inf" }, value: 7 },
      { name: "bare_gauge", labels: {}, value: -0.002 },
    ]);
  });

  test("quantiles interpolate within a bucket, as histogram_quantile does", () => {
    const histogram = [
      { le: 0.01, count: 50 },
      { le: 0.1, count: 90 },
      { le: 1, count: 100 },
      { le: Number.POSITIVE_INFINITY, count: 100 },
    ];
    expect(quantile(0.5, histogram)).toBeCloseTo(0.01);
    expect(quantile(0.7, histogram)).toBeCloseTo(0.055);
    expect(quantile(0.99, histogram)).toBeCloseTo(0.91);
    expect(quantile(0.99, [{ le: Number.POSITIVE_INFINITY, count: 0 }])).toBeUndefined();
    // Past the highest bound, all that is known is that bound.
    expect(quantile(0.99, [...histogram.slice(0, 3), { le: Number.POSITIVE_INFINITY, count: 200 }])).toBe(1);
  });

  test("rates and percentiles between two scrapes of this service's own metrics", async () => {
    const metrics = createMetrics();
    const observe = metrics.commandDuration.child("/v1/accounts/:id/deposits");
    const counted = metrics.commandCounts.child({ route: "/v1/accounts/:id/deposits", outcome: "accepted" });
    const lagOf = metrics.projectionLag.labels({ projection: "accounts" });
    observe(3);
    counted.inc();
    const before = { at: 10_000, samples: parsePrometheus(await metrics.registry.metrics()) };
    for (let i = 0; i < 100; i++) {
      observe(i < 98 ? 4 : 400);
      counted.inc();
      lagOf.observe(0.02);
    }
    const after = { at: 12_000, samples: parsePrometheus(await metrics.registry.metrics()) };

    expect(total(after.samples, CHART_METRICS.commands)).toBe(101);
    expect(buckets(after.samples, CHART_METRICS.commandDuration).at(-1)).toEqual({
      le: Number.POSITIVE_INFINITY,
      count: 101,
    });
    const point = chartPoint(before, after);
    expect(point.commandRate).toBe(50);
    // 98 of 100 took 4 ms (the 2.5-5 ms bucket), 2 took 400 ms (250-500).
    expect(point.p50Ms).toBeGreaterThan(2.5);
    expect(point.p50Ms).toBeLessThanOrEqual(5);
    expect(point.p99Ms).toBeGreaterThan(250);
    expect(point.p99Ms).toBeLessThanOrEqual(500);
    expect(point.lagP99S.accounts).toBeGreaterThan(0.01);
    expect(point.lagP99S.accounts).toBeLessThanOrEqual(0.025);

    // Nothing happened: no rate of 0 latency, no lag; a restart (counts going down) is not a negative rate.
    const idle = chartPoint(after, { at: 13_000, samples: after.samples });
    expect([idle.commandRate, idle.p50Ms, idle.lagP99S.accounts]).toEqual([0, undefined, undefined]);
    const restarted = chartPoint(after, { at: 14_000, samples: before.samples });
    expect([restarted.commandRate, restarted.p99Ms]).toEqual([undefined, undefined]);
  });
});
