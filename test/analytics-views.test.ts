import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { ClickHouseClient } from "@clickhouse/client";
import { analyticsDoc } from "../projections/analytics/docs.ts";
import { insertInto } from "../projections/analytics/inserter.ts";
import { toLine } from "../projections/analytics/rows.ts";
import { addByDay, createSchema } from "../projections/analytics/schema.ts";
import {
  createViews,
  examples,
  queryableTables,
  views,
  viewsDatabase,
} from "../projections/analytics/views.ts";
import { openClickHouse, queryRows } from "../src/analytics/clickhouse.ts";
import { AnalyticsSql } from "../src/analytics/sql.ts";
import { analyticsEvents, analyticsWith, dropAnalytics } from "./support/analytics-events.ts";
import { eventually } from "./support/http.ts";
import { chdbPath, uniqueName } from "./support/service.ts";

const root = new URL("..", import.meta.url).pathname;
const insert = (client: ClickHouseClient, db: string) =>
  insertInto(client, db)(analyticsEvents().map(toLine));
const limits = {
  timeoutMs: 5_000,
  maxMemoryBytes: 256 * 1024 * 1024,
  maxRowsToRead: 1_000_000,
  maxResultRows: 1_000,
  maxResultBytes: 64 * 1024 * 1024,
  maxThreads: 1,
  concurrency: 1,
};

describe("the analysts' schema (docs/analytics.md)", () => {
  const db = uniqueName("views");
  const schema = uniqueName("viewsdoc");
  const target = viewsDatabase(schema);
  let client: ClickHouseClient;
  beforeAll(async () => {
    client = await openClickHouse({ chdbPath });
    await analyticsWith(client, db, schema, analyticsEvents());
  });
  afterAll(() => dropAnalytics(client, db, schema));

  test("docs/analytics.md is the one the views' definitions make", () => {
    expect(readFileSync(`${root}docs/analytics.md`, "utf8")).toBe(analyticsDoc());
  });

  test("every view has exactly the documented columns, with their types, in ClickHouse", async () => {
    for (const view of views) {
      const described = await queryRows<{ name: string; type: string }>(
        client,
        `DESCRIBE TABLE ${target}.${view.name}`,
      );
      expect([view.name, described.map(({ name, type }) => ({ name, type }))]).toEqual([
        view.name,
        view.columns.map(({ name, type }) => ({ name, type })),
      ]);
    }
  });

  test("every example in the docs runs as an analyst's query, and the balance examples answer right", async () => {
    const sql = new AnalyticsSql(client, queryableTables(schema), limits);
    const answers = new Map<string, unknown[][]>();
    for (const example of examples) {
      const { rows } = await sql.run(example.sql.replaceAll("analytics_v1.", `${target}.`), example.params);
      answers.set(example.question, rows);
    }
    expect(answers.get("The balance of an account at the end of a date")).toEqual([["1200"]]);
    const month = answers.get(
      "An account's end-of-day balance for every day of a month, days without events included",
    ) as string[][];
    expect(month).toHaveLength(30);
    expect(month.slice(0, 4)).toEqual([
      ["2026-11-01", "1250"],
      ["2026-11-02", "1250"],
      ["2026-11-03", "1200"],
      ["2026-11-04", "1200"],
    ]);
    expect(answers.get("Transfers that were refunded or rejected, and why")).toEqual([
      [
        "t1",
        "alice",
        "bob",
        "300",
        "EUR",
        "refunded",
        "account_closed",
        "account bob is closed",
        "2026-11-02 10:00:02",
      ],
    ]);
  });

  test("the views read the live generation: after the tables are swapped, the same view reads the new one", async () => {
    const next = `${db}.events_swap`;
    await client.command({ query: `CREATE TABLE ${next} AS ${db}.events` });
    await client.command({ query: `EXCHANGE TABLES ${db}.events AND ${next}` });
    const empty = await queryRows<{ n: string }>(client, `SELECT count() AS n FROM ${target}.events`);
    await client.command({ query: `EXCHANGE TABLES ${db}.events AND ${next}` });
    await client.command({ query: `DROP TABLE ${next} SYNC` });
    const back = await queryRows<{ n: string }>(client, `SELECT count() AS n FROM ${target}.events`);
    expect([Number(empty[0]?.n), Number(back[0]?.n)]).toEqual([0, analyticsEvents().length]);
  });

  test("daily_balances and transfers are answered from the by_day projection", async () => {
    for (const view of ["daily_balances", "transfers"]) {
      const plan = await queryRows<{ explain: string }>(
        client,
        `EXPLAIN projections = 1 SELECT * FROM ${target}.${view}`,
      );
      expect([view, plan.map((l) => l.explain).join("\n")]).toEqual([
        view,
        expect.stringContaining("by_day"),
      ]);
    }
  });
});

describe("a table the release before by_day made", () => {
  const db = uniqueName("before");
  const schema = uniqueName("beforeviews");
  let client: ClickHouseClient;
  beforeAll(async () => {
    client = await openClickHouse({ chdbPath });
  });
  afterAll(async () => {
    await client.command({ query: `DROP DATABASE IF EXISTS ${viewsDatabase(schema)} SYNC` });
    await client.command({ query: `DROP DATABASE IF EXISTS ${db} SYNC` });
  });

  /** The table as the release before made it, holding rows. */
  const oldTable = async (db: string) => {
    const before = readFileSync(`${root}test/fixtures/analytics/events-table-before-by-day.sql`, "utf8")
      .replace(/^--.*\n/, "")
      .replaceAll("{db}", db);
    await client.command({ query: `CREATE DATABASE ${db}` });
    await client.command({ query: before });
    await insert(client, db);
  };
  const projectionsOfParts = async (db: string) =>
    (
      await queryRows<{ name: string }>(
        client,
        "SELECT DISTINCT arrayJoin(projections) AS name FROM system.parts WHERE database = {db:String} AND active ORDER BY name",
        { db },
      )
    ).map((row) => row.name);
  const mutationsDone = (db: string) =>
    eventually(
      () =>
        queryRows<{ n: string }>(
          client,
          "SELECT count() AS n FROM system.mutations WHERE database = {db:String} AND NOT is_done",
          { db },
        ),
      (rows) => Number(rows[0]?.n) === 0,
    );

  test("gains the projection at start, for the rows it held too, and the views answer from it", async () => {
    await oldTable(db);

    await createSchema(client, db);
    await createViews(client, db, schema);
    // Materializing is a mutation, done in the background: awaited as ClickHouse reports it.
    await mutationsDone(db);
    expect(await projectionsOfParts(db)).toEqual(["by_account", "by_day", "by_minute"]);
    const rows = await queryRows<Record<string, string>>(
      client,
      `SELECT account_id, toString(day) AS day, closing_balance FROM ${viewsDatabase(schema)}.daily_balances ORDER BY day`,
    );
    expect(rows.map((r) => [r.account_id, r.day, Number(r.closing_balance)])).toEqual([
      ["alice", "2026-11-01", 1250],
      ["alice", "2026-11-03", 1200],
    ]);
    // A second start changes nothing more.
    await createSchema(client, db);
    const [mutations] = await queryRows<{ n: string }>(
      client,
      "SELECT count() AS n FROM system.mutations WHERE database = {db:String}",
      { db },
    );
    expect(Number(mutations?.n)).toBe(1);
  });

  test("a start after a crash between adding the projection and computing it computes it", async () => {
    const crashed = uniqueName("crashed");
    await oldTable(crashed);
    await client.command({ query: addByDay(crashed) });
    expect(await projectionsOfParts(crashed)).toEqual(["by_account", "by_minute"]);
    await createSchema(client, crashed);
    await mutationsDone(crashed);
    expect(await projectionsOfParts(crashed)).toEqual(["by_account", "by_day", "by_minute"]);
    await client.command({ query: `DROP DATABASE ${crashed} SYNC` });
  });
});
