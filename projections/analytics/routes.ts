import type { ClickHouseClient } from "@clickhouse/client";
import { z } from "zod";
import { Currency } from "../../actors/account/commands.ts";
import { instant, queryInteger } from "../../src/http/query.ts";
import { defineRoute, type HttpRoute } from "../../src/http/route.ts";
import { bucketCount, eventCounts, MAX_BUCKETS, topAccounts, volume } from "./queries.ts";

const Range = { from: instant, to: instant };
// Object refinements run even when a field failed: they judge only what parsed.
const valid = (d: unknown): d is Date => d instanceof Date && !Number.isNaN(d.getTime());
const ordered = (q: { from: Date; to: Date }) => !valid(q.from) || !valid(q.to) || q.from < q.to;
const order = { message: "from must be before to", path: ["to"] };

const VolumeQuery = z
  .strictObject({ ...Range, interval: z.enum(["minute", "hour", "day"]), currency: Currency.optional() })
  .refine(ordered, order)
  .refine((q) => !valid(q.from) || !valid(q.to) || bucketCount(q.from, q.to, q.interval) <= MAX_BUCKETS, {
    message: `at most ${MAX_BUCKETS} buckets per answer: widen the interval or narrow the range`,
    path: ["interval"],
  });
const CountsQuery = z.strictObject(Range).refine(ordered, order);
const TopQuery = z.strictObject({
  by: z.enum(["balance", "volume"]),
  limit: queryInteger(1, 100),
  currency: Currency.optional(),
});

const tag = "analytics";

/** The analytics routes of API.md, over the ClickHouse pre-aggregates. */
export const analyticsRoutes = (client: ClickHouseClient, db: string): HttpRoute[] => [
  defineRoute({
    method: "get",
    path: "/v1/analytics/volume",
    summary: "Deposits, withdrawals and transfers per bucket over [from, to) (minute resolution)",
    tag,
    role: "reader",
    query: VolumeQuery,
    responses: { 200: "{ buckets: [...] }", 400: "validation_failed" },
    handle: async (ctx) => ({ status: 200, body: { buckets: await volume(client, db, ctx.query) } }),
  }),
  defineRoute({
    method: "get",
    path: "/v1/analytics/event-counts",
    summary: "Events per type over [from, to) (minute resolution)",
    tag,
    role: "reader",
    query: CountsQuery,
    responses: { 200: "{ counts: { <EventType>: n } }", 400: "validation_failed" },
    handle: async (ctx) => ({ status: 200, body: { counts: await eventCounts(client, db, ctx.query) } }),
  }),
  defineRoute({
    method: "get",
    path: "/v1/analytics/top-accounts",
    summary: "The accounts with the highest balance or volume",
    tag,
    role: "reader",
    query: TopQuery,
    responses: { 200: "{ accounts: [{ accountId, balance, volume }] }", 400: "validation_failed" },
    handle: async (ctx) => ({ status: 200, body: { accounts: await topAccounts(client, db, ctx.query) } }),
  }),
];
