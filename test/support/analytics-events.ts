import type { ClickHouseClient } from "@clickhouse/client";
import { insertInto } from "../../projections/analytics/inserter.ts";
import { toLine } from "../../projections/analytics/rows.ts";
import { createSchema } from "../../projections/analytics/schema.ts";
import { createViews, viewsDatabase } from "../../projections/analytics/views.ts";
import type { EventEnvelope } from "../../src/store/envelope.ts";

let position = 0;
/** An event as the analytics projection receives it; `time` an ISO instant or Unix seconds. */
export const event = (
  aggregateType: string,
  id: string,
  version: number,
  type: string,
  at: string | number,
  data: Record<string, unknown>,
): EventEnvelope => ({
  eventId: crypto.randomUUID(),
  streamId: `${aggregateType}-${id}`,
  aggregateType,
  type,
  version,
  schemaVersion: 1,
  time: typeof at === "number" ? new Date(at * 1000).toISOString() : at,
  data,
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
  position: ++position,
});

/** A count over a cross join of ten copies of the view: 10^10 rows, far past the time bound. */
export const unbounded = (views: string) =>
  `SELECT count() FROM ${Array.from({ length: 10 }, (_, i) => `${views}.events AS t${i}`).join(", ")}`;

/** Alice: opened, two deposits on the 1st, a withdrawal on the 3rd; a refunded and a completed transfer. */
export const analyticsEvents = (): EventEnvelope[] => [
  event("account", "alice", 1, "AccountOpened", "2026-11-01T08:00:00Z", {
    owner: "A",
    currency: "EUR",
    kind: "current",
  }),
  event("account", "alice", 2, "MoneyDeposited", "2026-11-01T09:00:00Z", {
    amount: 1000,
    balance: 1000,
    currency: "EUR",
  }),
  event("account", "alice", 3, "MoneyDeposited", "2026-11-01T23:59:59Z", {
    amount: 250,
    balance: 1250,
    currency: "EUR",
  }),
  event("account", "alice", 4, "MoneyWithdrawn", "2026-11-03T10:00:00Z", {
    amount: 50,
    balance: 1200,
    currency: "EUR",
  }),
  event("transfer", "t1", 1, "TransferRequested", "2026-11-02T10:00:00Z", {
    from: "alice",
    to: "bob",
    amount: 300,
  }),
  event("transfer", "t1", 2, "TransferDebitRecorded", "2026-11-02T10:00:01Z", { currency: "EUR" }),
  event("transfer", "t1", 3, "TransferRefunded", "2026-11-02T10:00:02Z", {
    code: "account_closed",
    detail: "account bob is closed",
  }),
  event("transfer", "t2", 1, "TransferRequested", "2026-11-02T11:00:00Z", {
    from: "alice",
    to: "carol",
    amount: 5,
  }),
  event("transfer", "t2", 2, "TransferDebitRecorded", "2026-11-02T11:00:01Z", { currency: "EUR" }),
  event("transfer", "t2", 3, "TransferCompleted", "2026-11-02T11:00:02Z", {}),
];

/** The analytics table in `db` holding `events`, and its analysts' views in `<schema>_v1`. */
export const analyticsWith = async (
  client: ClickHouseClient,
  db: string,
  schema: string,
  events: readonly EventEnvelope[],
): Promise<void> => {
  await createSchema(client, db);
  await createViews(client, db, schema);
  await insertInto(client, db)(events.map(toLine));
};

/** Drops what {@link analyticsWith} made. */
export const dropAnalytics = async (client: ClickHouseClient, db: string, schema: string): Promise<void> => {
  await client.command({ query: `DROP DATABASE IF EXISTS ${viewsDatabase(schema)} SYNC` });
  await client.command({ query: `DROP DATABASE IF EXISTS ${db} SYNC` });
};
