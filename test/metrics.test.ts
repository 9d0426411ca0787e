/**
 * GET /metrics as Prometheus reads it: the real scrape of a service that took commands, reads and an
 * analytics query, checked by Prometheus's own linter (Debian's `prometheus` package: promtool); and
 * the alert rules and the Grafana dashboard in ops/, which must ask only for what that scrape serves.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createEventfoldClient } from "../packages/client/src/index.ts";
import { eventually } from "./support/http.ts";
import { serversRequired } from "./support/servers.ts";
import { startTestService, type TestService, tempDir } from "./support/service.ts";

const promtool = Bun.which("promtool");
const describePromtool = promtool || serversRequired ? describe : describe.skip;
if (!promtool) console.warn("SKIPPED: /metrics through promtool: no promtool (apt-get install prometheus)");

const root = new URL("..", import.meta.url).pathname;
const alertRules = join(root, "ops/prometheus/alerts.yml");
const dashboard = join(root, "ops/grafana/eventfold.json");

/** Runs promtool; `input` goes to its stdin. Its exit code and everything it printed. */
const runPromtool = async (args: readonly string[], input?: string) => {
  const child = Bun.spawn([promtool ?? "promtool", ...args], {
    stdin: input === undefined ? "ignore" : new TextEncoder().encode(input),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, output: `${stdout}${stderr}`.trim() };
};

/** The metric families a scrape serves, by the name of each (`# TYPE name type`). */
const families = (text: string): string[] =>
  [...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1] as string);

/** The metrics an expression names: eventfold's own and the process's and runtime's defaults. */
const metricNames = (text: string): string[] => [
  ...new Set(
    [...text.matchAll(/\b(?:eventfold|process|nodejs)_[a-z0-9_]+/g)]
      .map((m) => m[0])
      // A histogram is queried by its series: the family is what is served.
      .map((name) => name.replace(/_(bucket|sum|count)$/, "")),
  ),
];

interface Panel {
  readonly title?: string;
  readonly targets?: readonly { readonly expr: string }[];
}

/** The dashboard's queries, with Grafana's variables as Prometheus would get them. */
const dashboardQueries = (): string[] => {
  const { panels } = JSON.parse(readFileSync(dashboard, "utf8")) as { panels: readonly Panel[] };
  return panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) =>
      target.expr
        .replaceAll("$__rate_interval", "5m")
        .replaceAll("$job", "eventfold")
        .replaceAll("$instance", ".*"),
    ),
  );
};

describePromtool("GET /metrics, the alert rules and the dashboard", () => {
  let service: TestService;
  let scrape: string;
  beforeAll(async () => {
    if (!promtool) throw new Error("no promtool (EVENTFOLD_REQUIRE_SERVERS=1): apt-get install prometheus");
    // As npm start runs it: the read side's metrics come from its thread, summed into the edge's scrape.
    service = await startTestService({}, { readSideThread: true });
    const api = createEventfoldClient({ baseUrl: service.url });
    const opened = await api.POST("/v1/accounts", {
      body: { accountId: "scraped", owner: "o", currency: "EUR" },
    });
    expect(opened.response.status).toBe(201);
    const deposit = await api.POST("/v1/accounts/{id}/deposits", {
      params: { path: { id: "scraped" } },
      body: { amount: 5 },
    });
    expect(deposit.response.status).toBe(200);
    const read = await api.GET("/v1/accounts/{id}", {
      params: { path: { id: "scraped" }, query: { minVersion: deposit.data?.version } },
    });
    expect(read.response.status).toBe(200);
    const now = Date.now();
    const counts = await api.GET("/v1/analytics/event-counts", {
      params: {
        query: {
          from: new Date(now - 3_600_000).toISOString(),
          to: new Date(now + 3_600_000).toISOString(),
        },
      },
    });
    expect(counts.response.status).toBe(200);
    // Both projections have applied what was written, so their lag is in the scrape too.
    scrape = await eventually(
      async () => (await fetch(`${service.url}/metrics`)).text(),
      (text) => /^eventfold_projection_lag_seconds_count\{projection="analytics"\} [1-9]/m.test(text),
    );
  }, 60_000);
  afterAll(() => service?.dispose());

  test("promtool check metrics finds nothing to say of the scrape", async () => {
    expect(await runPromtool(["check", "metrics"], scrape)).toEqual({ code: 0, output: "" });
  });

  test("it times commands, reads and analytics queries, and says each dependency is ready", () => {
    const count = (family: string, route: string) =>
      Number(new RegExp(`^${family}_count\\{route="${route}"\\} (\\S+)$`, "m").exec(scrape)?.[1]);
    expect(count("eventfold_command_duration_seconds", "/v1/accounts/:id/deposits")).toBe(1);
    expect(count("eventfold_read_duration_seconds", "/v1/accounts/:id")).toBe(1);
    expect(count("eventfold_read_duration_seconds", "/v1/analytics/event-counts")).toBe(1);
    const ready = [...scrape.matchAll(/^eventfold_ready\{dependency="(\w+)",required="(\w+)"\} (\S+)$/gm)];
    expect(ready.map((m) => [m[1], m[3]])).toEqual([
      ["eventStore", "1"],
      ["hotLookup", "1"],
      ["analytics", "1"],
      ["broker", "1"],
    ]);
  });

  test("the process's own metrics are served once, as the process's: not once per thread", () => {
    const names = families(scrape);
    expect(new Set(names).size).toBe(names.length);
    for (const name of [
      "process_cpu_seconds_total",
      "process_start_time_seconds",
      "nodejs_eventloop_lag_p99_seconds",
    ])
      expect(names).toContain(name);
    // Summed over both threads, it would read twice what the kernel says.
    const served = Number(/^process_resident_memory_bytes (\S+)$/m.exec(scrape)?.[1]);
    const kernel = process.memoryUsage().rss;
    expect(served / kernel).toBeGreaterThan(0.75);
    expect(served / kernel).toBeLessThan(1.33);
    const started = Number(/^process_start_time_seconds (\S+)$/m.exec(scrape)?.[1]);
    expect(Math.abs(started - (Date.now() - performance.now()) / 1000)).toBeLessThan(60);
  });

  test("every metric the dashboard and the alert rules ask for is in the scrape", () => {
    const served = new Set(families(scrape));
    const asked = metricNames(`${readFileSync(alertRules, "utf8")}\n${dashboardQueries().join("\n")}`);
    expect(asked.length).toBeGreaterThan(10);
    expect(asked.filter((name) => !served.has(name))).toEqual([]);
  });

  test("the dashboard's queries are valid PromQL", async () => {
    // promtool parses a rule file's expressions: the dashboard's queries, one recording rule each.
    const dir = tempDir();
    try {
      const rules = join(dir, "dashboard.rules.yml");
      const entries = dashboardQueries().map(
        (expr, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(expr)}`,
      );
      writeFileSync(rules, `groups:\n  - name: dashboard\n    rules:\n${entries.join("\n")}\n`);
      const checked = await runPromtool(["check", "rules", rules]);
      expect([checked.code, checked.output]).toEqual([0, expect.stringContaining("SUCCESS")]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the alert rules pass promtool's check and their unit tests", async () => {
    const checked = await runPromtool(["check", "rules", alertRules]);
    expect([checked.code, checked.output]).toEqual([0, expect.stringContaining("SUCCESS")]);
    const tested = await runPromtool(["test", "rules", join(root, "ops/prometheus/alerts.test.yml")]);
    expect([tested.code, tested.output]).toEqual([0, expect.stringContaining("SUCCESS")]);
  });
});
