import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../../src/analytics/clickhouse.ts";

/**
 * The analytics schema, in the SQL common to ClickHouse 24.8+ and chDB 26.
 *
 * `events`: one row per event, ordered by (stream_id, version), the event's identity, so "how far is
 * this stream?" is an index lookup: the projection asks it before inserting, and inserts only what is
 * not there, so the table holds each event once. Partitioned by month, so time-range scans and
 * retention touch only the months asked for.
 *
 * The pre-aggregates are table projections, not materialized views: a projection is stored inside each
 * data part, so it is written atomically with the rows it sums. A materialized view is a second insert
 * into another table, and a crash between the two leaves the view short of rows the table has, which a
 * retry then rightly skips. `by_minute` serves volume and event counts (hence minute resolution),
 * `by_account` serves top-accounts. The queries are written in these shapes so that ClickHouse reads
 * the projections.
 *
 * A plain MergeTree, not a ReplacingMergeTree: a replacing merge must rebuild each projection from the
 * merged rows, which for `by_account` means aggregating every account of the merged parts in memory,
 * where a plain merge merges the projection's parts as they are. Duplicates are kept out by the
 * projection instead, which is the only writer of a stream's rows and checks before it inserts.
 */
export const schemaStatements = (db: string, table = "events", generation = 1): string[] => [
  `CREATE DATABASE IF NOT EXISTS ${db}`,
  `CREATE TABLE IF NOT EXISTS ${db}.${table} (
    stream_id      String,
    version        UInt64,
    position       UInt64,
    event_id       String,
    aggregate_type String,
    aggregate_id   String,
    type           String,
    time           DateTime('UTC'),
    currency       String,
    amount         Int64,
    balance        Int64,
    data           String,
    PROJECTION by_minute (
      SELECT toStartOfMinute(time), currency, type, count(), sum(amount)
      GROUP BY toStartOfMinute(time), currency, type
    ),
    PROJECTION by_account (
      SELECT aggregate_type, aggregate_id, max(currency), argMax(balance, version), sum(amount)
      GROUP BY aggregate_type, aggregate_id
    ),
    ${byDay}
  ) ENGINE = MergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (stream_id, version)
  COMMENT '${generationComment(generation)}'`,
];

/** Money into an account, money out of it: the types whose amount moves its balance up or down. */
export const MONEY_IN = "('MoneyDeposited', 'TransferCredited', 'TransferDebitReversed')";
export const MONEY_OUT = "('MoneyWithdrawn', 'TransferDebited')";

/**
 * Per stream and UTC day: what the analysts' `daily_balances` and `transfers` views (views.ts) read,
 * each in this shape so that ClickHouse answers them from it. A transfer's first event says who and
 * how much, its last one how it ended.
 */
const byDay = `PROJECTION by_day (
      SELECT aggregate_type, aggregate_id, toDate(time), max(currency), argMax(balance, version),
             sumIf(amount, type IN ${MONEY_IN}), sumIf(amount, type IN ${MONEY_OUT}), count(),
             argMin(data, version), argMax(data, version), argMax(type, version), min(time), max(time)
      GROUP BY aggregate_type, aggregate_id, toDate(time)
    )`;

/**
 * The generation a table holds, in its comment: a rebuild fills the next one in a table of its own,
 * then swaps the two names at once (`EXCHANGE TABLES`), so that readers of `events` see the old one
 * whole, then the new one whole. A table made before generations has no comment: the first.
 */
const generationComment = (generation: number) => `eventfold generation ${generation}`;
export const generationOf = (comment: string | undefined): number =>
  Number(/^eventfold generation (\d+)$/.exec(comment ?? "")?.[1] ?? 1);

const tables = ["events"] as const;

/** The first step of bringing an earlier release's table up to this one. */
export const addByDay = (db: string): string =>
  `ALTER TABLE ${db}.events ADD PROJECTION IF NOT EXISTS ${byDay.slice("PROJECTION ".length)}`;

/**
 * Creates the database and its tables, those that do not exist yet, and brings a table an earlier
 * release made up to this one: a table made before `by_day` gains it, and ClickHouse computes it for
 * the parts already there in the background (a mutation). Queries are exact meanwhile: a part without
 * the projection is read row by row. Asked of the parts, not of the table's definition, so a start
 * after a crash between the two steps, or a table swapped in by a rebuild an earlier release began,
 * still gets its parts computed.
 */
export const createSchema = async (client: ClickHouseClient, db: string): Promise<void> => {
  for (const statement of schemaStatements(db)) await client.command({ query: statement });
  await client.command({ query: addByDay(db) });
  const [state] = await queryRows<{ lacking: string; pending: string }>(
    client,
    `SELECT
       (SELECT count() FROM system.parts WHERE database = {db:String} AND table = 'events' AND active
          AND NOT has(projections, 'by_day')) AS lacking,
       (SELECT count() FROM system.mutations WHERE database = {db:String} AND table = 'events'
          AND NOT is_done) AS pending`,
    { db },
  );
  if (Number(state?.lacking) > 0 && Number(state?.pending) === 0) {
    await client.command({ query: `ALTER TABLE ${db}.events MATERIALIZE PROJECTION by_day` });
  }
};

/** Drops the tables, and everything in them. */
export const dropTables = async (client: ClickHouseClient, db: string): Promise<void> => {
  for (const table of tables) await client.command({ query: `DROP TABLE IF EXISTS ${db}.${table} SYNC` });
};

export const assertIdentifier = (name: string): string => {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name))
    throw new Error(`not a valid ClickHouse database name: ${name}`);
  return name;
};
