import type { ClickHouseClient } from "@clickhouse/client";
import { z } from "zod";
import { Currency } from "../../actors/account/commands.ts";
import { type AnalyticsSql, type SqlAnswer, SqlQueryError } from "../../src/analytics/sql.ts";
import { withRetry } from "../../src/http/errors.ts";
import { ProblemError, problem } from "../../src/http/problem.ts";
import { INSTANT_RANGE, instant, queryInteger } from "../../src/http/query.ts";
import { defineRoute, type HttpRoute, type Tag } from "../../src/http/route.ts";
import { bucketCount, eventCounts, MAX_BUCKETS, topAccounts, volume } from "./queries.ts";

// The rules a JSON Schema cannot state are stated in the descriptions, in the words of the refusal.
const Range = {
  from: instant.describe(`The first instant counted, ${INSTANT_RANGE}`),
  to: instant.describe(`The first instant not counted, ${INSTANT_RANGE}; from must be before to`),
};
// Object refinements run even when a field failed: they judge only what parsed.
const valid = (d: unknown): d is Date => d instanceof Date && !Number.isNaN(d.getTime());
const ordered = (q: { from: Date; to: Date }) => !valid(q.from) || !valid(q.to) || q.from < q.to;
const order = { message: "from must be before to", path: ["to"] };
const BUCKETS = `at most ${MAX_BUCKETS} buckets per answer: widen the interval or narrow the range`;

const VolumeQuery = z
  .strictObject({
    ...Range,
    interval: z.enum(["minute", "hour", "day"]).describe(`The width of a bucket; ${BUCKETS}`),
    currency: Currency.optional(),
  })
  .refine(ordered, order)
  .refine((q) => !valid(q.from) || !valid(q.to) || bucketCount(q.from, q.to, q.interval) <= MAX_BUCKETS, {
    message: BUCKETS,
    path: ["interval"],
  });
const CountsQuery = z.strictObject(Range).refine(ordered, order);
const TopQuery = z.strictObject({
  by: z.enum(["balance", "volume"]),
  limit: queryInteger(1, 100).describe("How many accounts"),
  currency: Currency.optional(),
});

const Count = z.int().min(0);
// A sum over many commands has no bound of its own: exact up to 2^53 - 1, as every number in JSON.
const Sum = z
  .number()
  .min(0)
  .describe("Integer minor units; exact up to 9 007 199 254 740 991 (2^53 - 1), the nearest double beyond");
const Volume = z
  .strictObject({
    buckets: z.array(
      z.strictObject({
        start: z.iso.datetime().describe("The bucket's first instant"),
        deposits: Count,
        withdrawals: Count,
        transfers: Count,
        depositAmount: Sum,
        withdrawalAmount: Sum,
        transferAmount: Sum,
      }),
    ),
  })
  .meta({ id: "Volume" });
const EventCounts = z
  .strictObject({ counts: z.record(z.string(), Count).describe("Events per event type") })
  .meta({ id: "EventCounts" });
const TopAccounts = z
  .strictObject({
    accounts: z.array(
      z.strictObject({
        accountId: z.string(),
        balance: z.int().describe("Integer minor units"),
        volume: Sum.describe("Money moved in and out, integer minor units (exact up to 2^53 - 1)"),
      }),
    ),
  })
  .meta({ id: "TopAccounts" });

const ParamValue = z.union([z.string(), z.number(), z.boolean()]);
const SqlQuery = z
  .strictObject({
    query: z
      .string()
      .min(1)
      // Within the edge's 64 KiB body limit even when every character is escaped in JSON.
      .max(10_000)
      .describe(
        "One SELECT over the documented analytics tables (docs/analytics.md), with ClickHouse's `{name:Type}` parameters",
      ),
    params: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/), z.union([ParamValue, z.array(ParamValue)]))
      .optional()
      .describe("A value for each `{name:Type}` in the query"),
  })
  .meta({ id: "SqlQuery" });
const SqlResult = z
  .strictObject({
    columns: z.array(z.strictObject({ name: z.string(), type: z.string().describe("ClickHouse's type") })),
    rows: z
      .array(z.array(z.unknown()))
      .describe(
        "Each row, a value per column, as ClickHouse's JSON writes it: 64-bit integers as strings, exact",
      ),
    rowsRead: z.int().min(0).describe("Rows ClickHouse read to answer"),
    elapsedMs: z.number().min(0),
    truncated: z
      .boolean()
      .describe("The answer holds only the first rows: the query returns more than the bound"),
  })
  .meta({ id: "SqlResult" });

const statusOf = {
  invalid: [400, "query_invalid"],
  not_allowed: [403, "query_not_allowed"],
  limit: [422, "query_limit_exceeded"],
  busy: [429, "overloaded"],
  unavailable: [503, "unavailable"],
} as const;

/** An analyst's query, answered or refused with its problem. */
const answer = async (sql: AnalyticsSql, body: z.infer<typeof SqlQuery>): Promise<SqlAnswer> => {
  try {
    return await sql.run(body.query, body.params);
  } catch (error) {
    if (!(error instanceof SqlQueryError)) throw error;
    const [status, code] = statusOf[error.refusal];
    const reply = problem(status, code, error.message);
    throw new ProblemError(status === 429 || status === 503 ? withRetry(reply) : reply);
  }
};

const tag: Tag = {
  name: "analytics",
  description: "Aggregates over every event, from ClickHouse, at minute resolution",
};

/** The analytics routes of API.md: over the ClickHouse pre-aggregates, and analysts' own SQL. */
export const analyticsRoutes = (client: ClickHouseClient, db: string, sql: AnalyticsSql): HttpRoute[] => [
  defineRoute({
    method: "get",
    path: "/v1/analytics/volume",
    operationId: "getVolume",
    summary: "Deposits, withdrawals and transfers per bucket over [from, to) (minute resolution)",
    tag,
    role: "reader",
    query: VolumeQuery,
    success: { status: 200, description: "one bucket per interval, empty ones included", body: Volume },
    handle: async (ctx) => ({ status: 200, body: { buckets: await volume(client, db, ctx.query) } }),
  }),
  defineRoute({
    method: "get",
    path: "/v1/analytics/event-counts",
    operationId: "getEventCounts",
    summary: "Events per type over [from, to) (minute resolution)",
    tag,
    role: "reader",
    query: CountsQuery,
    success: { status: 200, description: "the types seen in the range", body: EventCounts },
    handle: async (ctx) => ({ status: 200, body: { counts: await eventCounts(client, db, ctx.query) } }),
  }),
  defineRoute({
    method: "get",
    path: "/v1/analytics/top-accounts",
    operationId: "getTopAccounts",
    summary: "The accounts with the highest balance or volume",
    tag,
    role: "reader",
    query: TopQuery,
    success: { status: 200, description: "highest first", body: TopAccounts },
    handle: async (ctx) => ({ status: 200, body: { accounts: await topAccounts(client, db, ctx.query) } }),
  }),
  defineRoute({
    method: "post",
    path: "/v1/analytics/sql",
    operationId: "runAnalyticsSql",
    summary: "An analyst's own read-only SQL over the documented analytics tables",
    description:
      "One SELECT over the views of docs/analytics.md. Writes, DDL, SETTINGS, FORMAT, table functions and other tables are refused (403); time, memory, rows read and the answer's size are bounded (422); past the row bound the answer holds the first rows and `truncated: true`. A few queries run at once; one more is 429.",
    tag,
    role: "reader",
    body: SqlQuery,
    success: { status: 200, description: "the query's columns and rows", body: SqlResult },
    problems: {
      400: ["query_invalid"],
      403: ["query_not_allowed"],
      422: ["query_limit_exceeded"],
      429: ["overloaded"],
      503: ["unavailable"],
    },
    handle: async (ctx) => ({ status: 200, body: await answer(sql, ctx.body) }),
  }),
];
