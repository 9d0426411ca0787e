import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ClickHouseClient } from "@clickhouse/client";
import { queryableTables, views, viewsDatabase } from "../projections/analytics/views.ts";
import { analyticsSqlLimits } from "../projections/index.ts";
import { openClickHouse } from "../src/analytics/clickhouse.ts";
import { AnalyticsSql, type SqlAnswer, type SqlLimits } from "../src/analytics/sql.ts";
import { loadConfig } from "../src/config.ts";
import { analyticsWith, dropAnalytics, event } from "./support/analytics-events.ts";
import { chdbPath, uniqueName } from "./support/service.ts";

/**
 * The analytics dashboard (ops/grafana/analytics.json) and what Grafana and ClickHouse need for it.
 * Docker does not run here, so Grafana does not either: each panel's SQL, its macros expanded as the
 * ClickHouse plugin expands them, runs against chDB through the `AnalyticsSql` the service's
 * `POST /v1/analytics/sql` uses, which proves it is also a query an analyst is allowed to run.
 */
const root = new URL("..", import.meta.url).pathname;
const read = (path: string) => Bun.file(`${root}${path}`).text();

interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  editorType: string;
  queryType: string;
  format: number;
  rawSql: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource: { type: string; uid: string };
  targets: Target[];
}
const dashboard = JSON.parse(await read("ops/grafana/analytics.json")) as {
  uid: string;
  schemaVersion: number;
  panels: Panel[];
};
const datasources = Bun.YAML.parse(await read("ops/grafana/provisioning/datasources/clickhouse.yml")) as {
  datasources: {
    uid: string;
    type: string;
    jsonData: Record<string, unknown>;
    secureJsonData: Record<string, unknown>;
  }[];
};
const providers = Bun.YAML.parse(await read("ops/grafana/provisioning/dashboards/analytics.yml")) as {
  providers: { type: string; options: { path: string } }[];
};
const compose = Bun.YAML.parse(await read("docker-compose.yml")) as {
  "x-eventfold-env": Record<string, string>;
  services: Record<string, { volumes?: string[]; ports?: string[] }>;
};
/** The users.d file without its comments, so that a comment's words are never taken for settings. */
const analystXml = (await read("ops/clickhouse/users.d/analyst.xml")).replace(/<!--[\s\S]*?-->/g, "");

const panel = (title: string): Panel => {
  const found = dashboard.panels.find((p) => p.title === title);
  if (!found) throw new Error(`ops/grafana/analytics.json has no panel "${title}"`);
  return found;
};
/** The text of the first `<name>` element in `xml`. */
const element = (xml: string, name: string): string | undefined =>
  new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1]?.trim();
/** The text of the element at `path`, each step the first of its name inside the one before. */
const section = (xml: string, path: string[]): string =>
  path.reduce((inside, name) => {
    const found = element(inside, name);
    if (found === undefined) throw new Error(`analyst.xml has no <${path.join("><")}>`);
    return found;
  }, xml);

/** The service's bounds for analysts' SQL, as it runs with no setting changed. */
const config = loadConfig({ LOG_LEVEL: "silent" });
const limits: SqlLimits = analyticsSqlLimits(config);

describe("the analytics dashboard's wiring", () => {
  const provisioned = datasources.datasources[0];

  test("is a Grafana dashboard whose every panel and query reads the provisioned ClickHouse data source", () => {
    expect(dashboard.uid).toBe("eventfold-analytics");
    expect(dashboard.schemaVersion).toBe(39);
    expect(datasources.datasources).toHaveLength(1);
    expect(provisioned?.uid).toBe("clickhouse-analytics");
    expect(provisioned?.type).toBe("grafana-clickhouse-datasource");
    const expected = { type: provisioned?.type ?? "", uid: provisioned?.uid ?? "" };
    expect(dashboard.panels.length).toBeGreaterThan(0);
    for (const p of dashboard.panels) {
      expect([p.title, p.datasource]).toEqual([p.title, expected]);
      expect(p.targets.length).toBeGreaterThan(0);
      for (const t of p.targets) {
        expect([p.title, t.datasource]).toEqual([p.title, expected]);
        expect([p.title, t.editorType, typeof t.rawSql]).toEqual([p.title, "sql", "string"]);
        // The plugin's time-series form (0) for time series, its table form (1) for the rest.
        const timeSeries = p.type === "timeseries";
        expect([p.title, t.queryType, t.format]).toEqual([
          p.title,
          timeSeries ? "timeseries" : "table",
          timeSeries ? 0 : 1,
        ]);
      }
    }
  });

  test("the data source is ClickHouse over HTTP as the analyst, into the views database", () => {
    expect(provisioned?.jsonData).toMatchObject({
      host: "clickhouse",
      port: 8123,
      protocol: "http",
      username: "analyst",
      defaultDatabase: "analytics_v1",
    });
    // The analyst's password: the same in the users.d file, Grafana and the service's URL.
    const password = section(analystXml, ["users", "analyst", "password"]);
    expect(provisioned?.secureJsonData.password).toBe(password);
    expect(compose["x-eventfold-env"].CLICKHOUSE_ANALYST_URL).toBe(
      `http://analyst:${password}@clickhouse:8123`,
    );
    // Sent as max_execution_time: within what the analyst's profile allows.
    const cap = Number(
      section(analystXml, ["profiles", "analyst", "constraints", "max_execution_time", "max"]),
    );
    expect(Number(provisioned?.jsonData.queryTimeout)).toBeGreaterThan(0);
    expect(Number(provisioned?.jsonData.queryTimeout)).toBeLessThanOrEqual(cap);
  });

  test("compose mounts the analyst's users.d file, the provisioning, and the dashboard where its provider looks", () => {
    expect(compose.services.clickhouse?.volumes).toContain(
      "./ops/clickhouse/users.d/analyst.xml:/etc/clickhouse-server/users.d/analyst.xml:ro",
    );
    const grafana = compose.services.grafana?.volumes ?? [];
    expect(grafana).toContain("./ops/grafana/provisioning:/etc/grafana/provisioning:ro");
    const mounted = grafana.find((v) => v.startsWith("./ops/grafana/analytics.json:"))?.split(":")[1];
    expect(mounted).toBeDefined();
    expect(providers.providers).toHaveLength(1);
    expect(providers.providers[0]?.type).toBe("file");
    expect(`${providers.providers[0]?.options.path}/analytics.json`).toBe(mounted as string);
    expect(compose.services.grafana?.ports).toEqual(["127.0.0.1:3002:3000"]);
  });

  test("the analyst may SELECT from the views database and nothing else, within bounds it cannot loosen", () => {
    const user = section(analystXml, ["users", "analyst"]);
    // The views of the default schema: what the service creates at start.
    const viewsDb = viewsDatabase(config.analyticsSchema);
    expect(viewsDb).toBe("analytics_v1");
    const grants = [...section(user, ["grants"]).matchAll(/<query>([^<]*)<\/query>/g)].map((m) => m[1]);
    expect(grants).toEqual([`GRANT SELECT ON ${viewsDb}.*`]);
    expect(element(user, "default_database")).toBe(viewsDb);
    expect(element(user, "profile")).toBe("analyst");
    // Other access settings would be refused beside <grants>, or widen it.
    for (const widening of ["access_management", "allow_databases", "allow_dictionaries"])
      expect([widening, user.includes(`<${widening}>`)]).toEqual([widening, false]);

    const profile = section(analystXml, ["profiles", "analyst"]);
    // A readonly profile would refuse the `readonly = 1` the service sends with each query.
    expect(profile).not.toContain("<readonly>");
    expect(profile).not.toMatch(/<readonly\/>|<const\/>/);
    const constraints = section(profile, ["constraints"]);
    const bound = (setting: string) => ({
      min: Number(section(constraints, [setting, "min"])),
      max: Number(section(constraints, [setting, "max"])),
    });
    // At least the service's own bounds, which it sends with each query; 0 (no limit) refused.
    const serviceSends = {
      max_execution_time: limits.timeoutMs / 1000,
      max_memory_usage: limits.maxMemoryBytes,
      max_rows_to_read: limits.maxRowsToRead,
      max_result_rows: limits.maxResultRows + 1,
      max_result_bytes: limits.maxResultBytes,
      max_threads: limits.maxThreads,
    };
    for (const [setting, value] of Object.entries(serviceSends)) {
      const { min, max } = bound(setting);
      expect([setting, min]).toEqual([setting, 1]);
      expect([setting, value <= max]).toEqual([setting, true]);
      // The profile's own value, for a client that sends none, is within the caps too.
      const own = Number(element(profile.replace(/<constraints>[\s\S]*<\/constraints>/, ""), setting));
      expect([setting, own >= min && own <= max]).toEqual([setting, true]);
    }
    expect(bound("max_execution_time").max).toBeLessThanOrEqual(60);
    expect(bound("max_memory_usage").max).toBeLessThanOrEqual(1024 ** 3);
  });
});

/** The Grafana time range and interval a panel is drawn for, in Unix seconds. */
interface Range {
  readonly from: number;
  readonly to: number;
  readonly intervalSeconds: number;
}

const db = uniqueName("grafana");
const schema = uniqueName("grafanaviews");
const viewsDb = viewsDatabase(schema);

/**
 * A panel's SQL as the plugin sends it (pkg/macros/macros.go of grafana-clickhouse-datasource), for
 * the macros the dashboard uses, and aimed at this test's views database. Any other macro or
 * variable fails the test: it would reach ClickHouse unexpanded.
 */
const expand = (sql: string, range: Range): string => {
  const expanded = sql
    .replace(
      /\$__timeFilter\(([^)]+)\)/g,
      (_, column: string) =>
        `${column} >= toDateTime(${range.from}) AND ${column} <= toDateTime(${range.to})`,
    )
    .replace(
      /\$__timeInterval\(([^)]+)\)/g,
      (_, column: string) =>
        `toStartOfInterval(toDateTime(${column}), INTERVAL ${range.intervalSeconds} second)`,
    )
    .replace(/\$__interval_s\b/g, String(range.intervalSeconds));
  if (expanded.includes("$")) throw new Error(`a macro or variable this test does not expand, in: ${sql}`);
  return expanded.replaceAll("analytics_v1.", `${viewsDb}.`);
};

/** An answer's rows as objects, numbers as numbers (64-bit integers arrive as strings). */
const records = (answer: SqlAnswer): Record<string, string | number>[] =>
  answer.rows.map((row) =>
    Object.fromEntries(
      answer.columns.map(({ name, type }, i) => [
        name,
        /Int|Float|Decimal/.test(type) ? Number(row[i]) : (row[i] as string),
      ]),
    ),
  );

// Three hours ago, on a minute: the events fall in known one-minute buckets, well inside "now-24h".
const now = () => Math.floor(Date.now() / 1000);
const base = Math.floor(now() / 60) * 60 - 3 * 3600;
/**
 * Alice (EUR) and Bob (USD) deposit, Alice withdraws; transfer t1 moves 300 EUR from Alice to Carol
 * and completes; t2 (Bob to Alice) is rejected before anything moves.
 */
const seed = [
  event("account", "alice", 1, "AccountOpened", base, { owner: "A", currency: "EUR", kind: "current" }),
  event("account", "bob", 1, "AccountOpened", base, { owner: "B", currency: "USD", kind: "current" }),
  event("account", "carol", 1, "AccountOpened", base, { owner: "C", currency: "EUR", kind: "current" }),
  event("account", "alice", 2, "MoneyDeposited", base + 60, { amount: 1000, balance: 1000, currency: "EUR" }),
  event("account", "alice", 3, "MoneyDeposited", base + 90, { amount: 250, balance: 1250, currency: "EUR" }),
  event("account", "bob", 2, "MoneyDeposited", base + 120, { amount: 700, balance: 700, currency: "USD" }),
  event("account", "alice", 4, "MoneyWithdrawn", base + 180, { amount: 50, balance: 1200, currency: "EUR" }),
  event("transfer", "t1", 1, "TransferRequested", base + 240, { from: "alice", to: "carol", amount: 300 }),
  event("account", "alice", 5, "TransferDebited", base + 241, {
    transferId: "t1",
    amount: 300,
    balance: 900,
    currency: "EUR",
  }),
  event("transfer", "t1", 2, "TransferDebitRecorded", base + 241, { currency: "EUR" }),
  event("account", "carol", 2, "TransferCredited", base + 242, {
    transferId: "t1",
    amount: 300,
    balance: 300,
    currency: "EUR",
  }),
  event("transfer", "t1", 3, "TransferCompleted", base + 242, {}),
  event("transfer", "t2", 1, "TransferRequested", base + 300, { from: "bob", to: "alice", amount: 5 }),
  event("transfer", "t2", 2, "TransferRejected", base + 301, {
    code: "insufficient_funds",
    detail: "account bob holds less than 5",
  }),
];
const newest = base + 301;

describe("the analytics dashboard's queries, as an analyst's SQL", () => {
  let client: ClickHouseClient;
  let sql: AnalyticsSql;
  /** A panel's one query, run for `range`. */
  const run = (title: string, range: Range) => {
    const [target] = panel(title).targets;
    return sql.run(expand(target?.rawSql ?? "", range)).then(records);
  };
  const around: Range = { from: base - 3600, to: now() + 60, intervalSeconds: 60 };
  const hourly: Range = { ...around, intervalSeconds: 3600 };
  const before: Range = { from: base - 7200, to: base - 3600, intervalSeconds: 60 };

  beforeAll(async () => {
    client = await openClickHouse({ chdbPath });
    await analyticsWith(client, db, schema, seed);
    sql = new AnalyticsSql(client, queryableTables(schema), limits);
  });
  afterAll(() => dropAnalytics(client, db, schema));

  test("every panel reads the documented views only, each named in full", () => {
    const documented = new Set(views.map((v) => `analytics_v1.${v.name}`));
    for (const p of dashboard.panels) {
      for (const t of p.targets) {
        const tables = [...t.rawSql.matchAll(/\b(?:FROM|JOIN)\s+([\w.]+)/gi)].map((m) => m[1] ?? "");
        expect([p.title, tables.length > 0]).toEqual([p.title, true]);
        for (const table of tables) expect([p.title, documented.has(table)]).toEqual([p.title, true]);
      }
    }
  });

  test("volume by currency: the money deposited, withdrawn and transferred per interval and currency", async () => {
    const rows = await run("Volume by currency", around);
    expect(Object.keys(rows[0] ?? {})).toEqual([
      "bucket",
      "currency",
      "deposited",
      "withdrawn",
      "transferred",
    ]);
    // One row per minute and currency that moved money, in time order (Grafana's series need it).
    const minute = (offset: number) =>
      new Date((base + offset) * 1000).toISOString().slice(0, 19).replace("T", " ");
    expect(rows).toEqual([
      { bucket: minute(60), currency: "EUR", deposited: 1250, withdrawn: 0, transferred: 0 },
      { bucket: minute(120), currency: "USD", deposited: 700, withdrawn: 0, transferred: 0 },
      { bucket: minute(180), currency: "EUR", deposited: 0, withdrawn: 50, transferred: 0 },
      { bucket: minute(240), currency: "EUR", deposited: 0, withdrawn: 0, transferred: 300 },
    ]);
    // Per hour: the same money, in the hour's buckets.
    const totals = (await run("Volume by currency", hourly)).reduce<Record<string, number[]>>((sum, r) => {
      const [d = 0, w = 0, t = 0] = sum[r.currency as string] ?? [];
      sum[r.currency as string] = [
        d + Number(r.deposited),
        w + Number(r.withdrawn),
        t + Number(r.transferred),
      ];
      return sum;
    }, {});
    expect(totals).toEqual({ EUR: [1250, 50, 300], USD: [700, 0, 0] });
    expect(await run("Volume by currency", before)).toEqual([]);
  });

  test("event rates: events per minute by type, whatever the interval", async () => {
    const counts = (rows: Record<string, string | number>[], interval: number) =>
      rows.reduce<Record<string, number>>((sum, r) => {
        // The rate times the interval's minutes: the events in the bucket.
        sum[r.type as string] = (sum[r.type as string] ?? 0) + (Number(r.per_minute) * interval) / 60;
        return sum;
      }, {});
    const expected = {
      AccountOpened: 3,
      MoneyDeposited: 3,
      MoneyWithdrawn: 1,
      TransferRequested: 2,
      TransferDebited: 1,
      TransferDebitRecorded: 1,
      TransferCredited: 1,
      TransferCompleted: 1,
      TransferRejected: 1,
    };
    const perMinute = await run("Event rate by type", around);
    expect(Object.keys(perMinute[0] ?? {})).toEqual(["bucket", "type", "per_minute"]);
    expect(counts(perMinute, 60)).toEqual(expected);
    // Both deposits of Alice's were in one minute: a rate of 2 a minute there.
    expect(perMinute.find((r) => r.type === "MoneyDeposited")?.per_minute).toBe(2);
    const perHour = await run("Event rate by type", hourly);
    expect(counts(perHour, 3600)).toEqual(expected);
    expect(await run("Event rate by type", before)).toEqual([]);
  });

  test("projection freshness: seconds from the newest event to now", async () => {
    const start = now();
    const rows = await run("Projection freshness", around);
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0] ?? {})).toEqual(["behind_seconds"]);
    const behind = Number(rows[0]?.behind_seconds);
    expect(behind).toBeGreaterThanOrEqual(start - newest);
    expect(behind).toBeLessThanOrEqual(now() - newest + 1);
  });

  test("transfers by outcome, among those requested in the range", async () => {
    expect(await run("Transfers by outcome", around)).toEqual([
      { outcome: "completed", transfers: 1 },
      { outcome: "rejected", transfers: 1 },
    ]);
    // t2 was requested at base + 300: a range that ends before it holds t1 only.
    expect(await run("Transfers by outcome", { ...around, to: base + 299 })).toEqual([
      { outcome: "completed", transfers: 1 },
    ]);
    expect(await run("Transfers by outcome", before)).toEqual([]);
  });
});
