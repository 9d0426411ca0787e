import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import { analyticsRoutes } from "../projections/analytics/routes.ts";
import { queryableTables, viewsDatabase } from "../projections/analytics/views.ts";
import { readSideProblemTypes } from "../projections/index.ts";
import { openClickHouse, queryRows } from "../src/analytics/clickhouse.ts";
import { AnalyticsSql, type SqlLimits, SqlQueryError, type SqlRefusal } from "../src/analytics/sql.ts";
import { createApp } from "../src/http/app.ts";
import {
  analyticsWith,
  dropAnalytics,
  analyticsEvents as seed,
  unbounded,
} from "./support/analytics-events.ts";
import { inProcessApp } from "./support/app.ts";
import { chdbPath, tempDir, uniqueName } from "./support/service.ts";

/**
 * Analysts' SQL, against chDB always and against a ClickHouse server where `CLICKHOUSE_URL` is set
 * (as `CLICKHOUSE_ANALYST_URL`'s user when that is set too, as the compose file's `analyst`).
 */
const targets = [
  { name: "chDB", url: undefined, analystUrl: undefined },
  ...(process.env.CLICKHOUSE_URL
    ? [
        {
          name: "ClickHouse server",
          url: process.env.CLICKHOUSE_URL,
          analystUrl: process.env.CLICKHOUSE_ANALYST_URL,
        },
      ]
    : []),
];

const limits: SqlLimits = {
  timeoutMs: 1_000,
  maxMemoryBytes: 256 * 1024 * 1024,
  maxRowsToRead: 5_000_000,
  maxResultRows: 50,
  maxResultBytes: 64 * 1024 * 1024,
  maxThreads: 1,
  concurrency: 1,
};

for (const target of targets) {
  describe(`analysts' SQL (${target.name})`, () => {
    const db = uniqueName("sql");
    const schema = uniqueName("sqlviews");
    const views = viewsDatabase(schema);
    let client: ClickHouseClient;
    let sql: AnalyticsSql;
    /** What the internal table holds, to show that no query changed it. */
    const fingerprint = () =>
      queryRows<{ n: string; sum: string }>(
        client,
        `SELECT count() AS n, sum(cityHash64(*)) AS sum FROM ${db}.events`,
      );
    const tables = () =>
      queryRows<{ name: string }>(
        client,
        "SELECT database || '.' || name AS name FROM system.tables WHERE database IN ({dbs:Array(String)}) ORDER BY name",
        { dbs: [db, views, "default"] },
      );

    beforeAll(async () => {
      client = await openClickHouse({ url: target.url, chdbPath });
      await analyticsWith(client, db, schema, seed());
      const analyst = target.analystUrl ? await openClickHouse({ url: target.analystUrl, chdbPath }) : client;
      sql = new AnalyticsSql(analyst, queryableTables(schema), limits);
    });
    afterAll(() => dropAnalytics(client, db, schema));

    test("a reader's SELECT over the views answers with columns, rows, rows read and time", async () => {
      const answer = await sql.run(
        `SELECT type, count() AS n, sum(amount) AS total FROM ${views}.events
         WHERE aggregate_id = {account:String} GROUP BY type ORDER BY type`,
        { account: "alice" },
      );
      expect(answer.columns).toEqual([
        { name: "type", type: "String" },
        { name: "n", type: "UInt64" },
        { name: "total", type: "Int64" },
      ]);
      // 64-bit integers as strings: exact past 2^53.
      expect(answer.rows).toEqual([
        ["AccountOpened", "1", "0"],
        ["MoneyDeposited", "2", "1250"],
        ["MoneyWithdrawn", "1", "50"],
      ]);
      expect(answer.rowsRead).toBeGreaterThan(0);
      expect(answer.elapsedMs).toBeGreaterThanOrEqual(0);
      expect(answer.truncated).toBe(false);
    });

    test("daily_balances: the end-of-day balance and the money moved, per account and day", async () => {
      const { rows } = await sql.run(`SELECT * FROM ${views}.daily_balances ORDER BY account_id, day`);
      expect(rows).toEqual([
        ["alice", "2026-11-01", "EUR", "1250", "1250", "0", "3"],
        ["alice", "2026-11-03", "EUR", "1200", "0", "50", "1"],
      ]);
    });

    test("transfers: each with its parties, amount, outcome and why", async () => {
      const { rows } = await sql.run(`SELECT * FROM ${views}.transfers ORDER BY transfer_id`);
      expect(rows).toEqual([
        [
          "t1",
          "alice",
          "bob",
          "300",
          "EUR",
          "2026-11-02 10:00:00",
          "refunded",
          "account_closed",
          "account bob is closed",
          "2026-11-02 10:00:02",
        ],
        [
          "t2",
          "alice",
          "carol",
          "5",
          "EUR",
          "2026-11-02 11:00:00",
          "completed",
          "",
          "",
          "2026-11-02 11:00:02",
        ],
      ]);
    });

    test("an answer of exactly the row bound is whole; one row more, in one block or two, is cut", async () => {
      const rows = (n: number) => `SELECT arrayJoin(range(${n})) AS x`;
      const exactly = await sql.run(rows(limits.maxResultRows));
      const oneMore = await sql.run(rows(limits.maxResultRows + 1));
      const twoBlocks = await sql.run(
        `${rows(limits.maxResultRows)} UNION ALL ${rows(limits.maxResultRows)}`,
      );
      expect([exactly, oneMore, twoBlocks].map((a) => [a.rows.length, a.truncated])).toEqual([
        [limits.maxResultRows, false],
        [limits.maxResultRows, true],
        [limits.maxResultRows, true],
      ]);
    });

    test("an answer past the byte bound is a limit, not held in memory", async () => {
      const small = new AnalyticsSql(client, queryableTables(schema), {
        ...limits,
        maxResultBytes: 1_048_576,
      });
      const refusal = await small
        .run(`SELECT repeat('x', 1000000) AS s FROM ${views}.events`)
        .catch((e: unknown) => (e as SqlQueryError).refusal);
      expect(refusal).toBe("limit");
    });

    test("past the row bound, the first rows and truncated", async () => {
      const answer = await sql.run(
        `SELECT a.position AS p FROM ${views}.events AS a, ${views}.events AS b, ${views}.events AS c ORDER BY p`,
      );
      expect(answer.rows).toHaveLength(limits.maxResultRows);
      expect(answer.truncated).toBe(true);
    });

    const hostile: [string, string, SqlRefusal][] = [
      ["a second statement after ;", `SELECT 1; DROP TABLE ${db}.events`, "not_allowed"],
      ["a second statement behind a comment", `SELECT 1 /* ; */; DROP TABLE ${db}.events`, "not_allowed"],
      ["INSERT", `INSERT INTO ${db}.events (stream_id) VALUES ('x')`, "not_allowed"],
      ["INSERT into a view", `INSERT INTO ${views}.events (event_id) VALUES ('x')`, "not_allowed"],
      ["ALTER", `ALTER TABLE ${db}.events DELETE WHERE 1`, "not_allowed"],
      ["DROP", `DROP TABLE ${db}.events`, "not_allowed"],
      ["TRUNCATE", `TRUNCATE TABLE ${db}.events`, "not_allowed"],
      ["CREATE", `CREATE TABLE ${views}.mine (a UInt8) ENGINE = Memory`, "not_allowed"],
      ["SET", "SET readonly = 0", "not_allowed"],
      ["SETTINGS readonly=0", `SELECT count() FROM ${views}.events SETTINGS readonly = 0`, "not_allowed"],
      [
        "SETTINGS in a subquery",
        `SELECT * FROM (SELECT count() FROM ${views}.events SETTINGS max_rows_to_read = 0)`,
        "not_allowed",
      ],
      ["file()", "SELECT * FROM file('/etc/passwd', 'LineAsString')", "not_allowed"],
      ["the file function", "SELECT file('/etc/hostname')", "not_allowed"],
      ["url()", "SELECT * FROM url('http://127.0.0.1:1/x', 'CSV', 'a String')", "not_allowed"],
      ["remote()", "SELECT * FROM remote('127.0.0.1:9000', system.one)", "not_allowed"],
      ["s3()", "SELECT * FROM s3('http://127.0.0.1:1/b/x.csv', 'CSV', 'a String')", "not_allowed"],
      ["mysql()", "SELECT * FROM mysql('127.0.0.1:3306', 'd', 't', 'u', 'p')", "not_allowed"],
      ["numbers()", "SELECT count() FROM numbers(1000000000000)", "not_allowed"],
      [
        "a table function in a subquery",
        `SELECT * FROM ${views}.events WHERE position IN (SELECT * FROM numbers(3))`,
        "not_allowed",
      ],
      ["system tables", "SELECT name FROM system.tables", "not_allowed"],
      [
        "system tables through WITH",
        "WITH t AS (SELECT name FROM system.tables) SELECT * FROM t",
        "not_allowed",
      ],
      [
        "system tables through IN",
        `SELECT 1 FROM ${views}.events WHERE type IN system.tables`,
        "not_allowed",
      ],
      ["the projection's own table", `SELECT count() FROM ${db}.events`, "not_allowed"],
      ["dictGet", "SELECT dictGet('d', 'a', toUInt64(1))", "not_allowed"],
      ["joinGet", `SELECT joinGet('${db}.events', 'amount', 'x')`, "not_allowed"],
      ["INTO OUTFILE", `SELECT 1 INTO OUTFILE '${join(tempDir(), "out.csv")}'`, "not_allowed"],
      ["FORMAT", `SELECT * FROM ${views}.events FORMAT CSV`, "not_allowed"],
      ["SHOW", "SHOW TABLES", "not_allowed"],
      [
        "a line break in a name, to hide a table",
        `SELECT 1 AS \`a\nX\`, stream_id FROM ${db}.events`,
        "not_allowed",
      ],
      [
        "a line break in a name, to hide a function",
        "SELECT 1 AS `a\nX`, file('/etc/hostname')",
        "not_allowed",
      ],
      [
        "a line break in a name, to hide a table function and settings",
        "SELECT 1 AS `a\nX`, * FROM url('http://127.0.0.1:1/x', 'CSV', 'a String') SETTINGS readonly = 0",
        "not_allowed",
      ],
      [
        "a line break in a name, to move the right side of IN",
        `SELECT count() FROM ${views}.events WHERE (type AS \`a\n     Literal 'x'\`) IN ${db}.events`,
        "not_allowed",
      ],
      [
        "a forged child count in a name",
        `SELECT count() FROM ${views}.events WHERE (type AS \`a) (children 2)\n     Literal 'x'\`) IN ${db}.events`,
        "not_allowed",
      ],
      [
        "hasColumnInTable, to probe other tables",
        `SELECT hasColumnInTable('${db}', 'events', 'data')`,
        "not_allowed",
      ],
      [
        "a table read through inIgnoreSet",
        `SELECT count() FROM ${views}.events WHERE NOT inIgnoreSet(event_id, ${db}.events)`,
        "not_allowed",
      ],
      [
        "a function whose cost grows with the square of its input",
        "SELECT levenshteinDistance(repeat('a', 65000), repeat('b', 65000))",
        "not_allowed",
      ],
      ["a fact about the host", "SELECT hostName()", "not_allowed"],
      ["a syntax error", "SELEC 1", "invalid"],
      ["an unknown column", `SELECT nosuch FROM ${views}.events`, "invalid"],
      [
        "a parameter without a value",
        `SELECT * FROM ${views}.events WHERE aggregate_id = {who:String}`,
        "invalid",
      ],
      ["a scan without bound", unbounded(views), "limit"],
    ];

    test("every hostile query gets its documented refusal, and the data and tables are as they were", async () => {
      const before = { rows: await fingerprint(), tables: await tables() };
      const answers: [string, string, string][] = [];
      for (const [name, query] of hostile) {
        const refusal = await sql.run(query).then(
          () => "answered",
          (error: unknown) => (error instanceof SqlQueryError ? error.refusal : `threw ${error}`),
        );
        answers.push([name, refusal, ""]);
      }
      expect(answers).toEqual(hostile.map(([name, , refusal]) => [name, refusal, ""]));
      expect({ rows: await fingerprint(), tables: await tables() }).toEqual(before);
    });

    test.if(target.url === undefined)(
      "embedded, a ping does not wait behind an analyst's long query, and the next query reads its own answer",
      async () => {
        const order: string[] = [];
        const long = sql.run(unbounded(views)).catch((e: unknown) => (e as SqlQueryError).refusal);
        const ping = client.ping().then((r) => order.push(`ping ${r.success}`));
        await ping;
        expect(await long).toBe("limit");
        order.push("query ended");
        expect(order).toEqual(["ping true", "query ended"]);
        // What the timed-out query began to write is not read as the start of the next answer.
        expect(await queryRows<{ x: number }>(client, "SELECT 1 AS x")).toEqual([{ x: 1 }]);
      },
    );

    test("the comment trick: what a comment hides is not run", async () => {
      const answer = await sql.run(`SELECT count() AS n FROM ${views}.events -- ; DROP TABLE ${db}.events`);
      expect(answer.rows).toEqual([["10"]]);
      expect(Number((await fingerprint())[0]?.n)).toBe(10);
    });

    test("a refusal's message is ClickHouse's, without paths, stack traces or the service's wrapping", async () => {
      const error = await sql
        .run(`SELECT nosuch FROM ${views}.events`)
        .catch((e: unknown) => e as SqlQueryError);
      expect(error).toBeInstanceOf(SqlQueryError);
      expect((error as SqlQueryError).message).toContain("nosuch");
      expect((error as SqlQueryError).message).not.toMatch(/Stack trace|\/tmp\/|SETTINGS readonly/);
    });
  });
}

describe("POST /v1/analytics/sql", () => {
  const db = uniqueName("sqlroute");
  const schema = uniqueName("sqlrouteviews");
  const views = viewsDatabase(schema);
  const engine = inProcessApp();
  let client: ClickHouseClient;
  let app: ReturnType<typeof createApp>;
  let sql: AnalyticsSql;
  beforeAll(async () => {
    client = await openClickHouse({ chdbPath });
    await analyticsWith(client, db, schema, seed());
    sql = new AnalyticsSql(client, queryableTables(schema), limits);
    app = createApp(engine.engine, {
      routes: analyticsRoutes(client, db, sql),
      problemTypes: readSideProblemTypes,
    });
  });
  afterAll(async () => {
    await dropAnalytics(client, db, schema);
    await engine.close();
  });
  const post = (body: unknown) =>
    app.request("/v1/analytics/sql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  test("answers the route's shape", async () => {
    const response = await post({
      query: `SELECT count() AS n FROM ${views}.daily_balances WHERE day >= {from:Date}`,
      params: { from: "2026-11-02" },
    });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toEqual({
      columns: [{ name: "n", type: "UInt64" }],
      rows: [["1"]],
      rowsRead: expect.any(Number),
      elapsedMs: expect.any(Number),
      truncated: false,
    });
  });

  test("each refusal is its problem: 400 query_invalid, 403 query_not_allowed, 422 query_limit_exceeded", async () => {
    const cases: [string, number, string][] = [
      ["SELEC 1", 400, "query_invalid"],
      ["SELECT * FROM system.users", 403, "query_not_allowed"],
      ["DROP DATABASE default", 403, "query_not_allowed"],
      [unbounded(views), 422, "query_limit_exceeded"],
    ];
    for (const [query, status, code] of cases) {
      const response = await post({ query });
      expect([query, response.status, response.headers.get("content-type")]).toEqual([
        query,
        status,
        "application/problem+json",
      ]);
      expect(((await response.json()) as { code: string }).code).toBe(code);
    }
  });

  test("one query past the concurrency bound is 429 overloaded with Retry-After; the running one answers", async () => {
    // Taken as soon as it is asked: the bound counts it before its first await.
    const running = sql.run(`SELECT count() FROM ${views}.events a, ${views}.events b, ${views}.events c`);
    const second = await post({ query: "SELECT 1" });
    expect(second.status).toBe(429);
    expect(second.headers.get("retry-after")).toBe("1");
    expect(((await second.json()) as { code: string }).code).toBe("overloaded");
    expect((await running).rows).toEqual([["1000"]]);
    expect((await post({ query: "SELECT 1" })).status).toBe(200);
  });

  test("a body that is not a query is 400 validation, never a 500", async () => {
    for (const body of [{}, { query: "" }, { query: 1 }, { query: "SELECT 1", params: { "bad name": 1 } }]) {
      expect((await post(body)).status).toBe(400);
    }
  });

  test("INTO OUTFILE writes no file", async () => {
    const file = join(tempDir(), "out.csv");
    expect((await post({ query: `SELECT 1 INTO OUTFILE '${file}'` })).status).toBe(403);
    expect(existsSync(file)).toBe(false);
  });
});
