/**
 * The analytics schema, in the SQL common to ClickHouse 24.8+ and chDB 26.
 *
 * `events`: one row per event. ReplacingMergeTree ordered by (stream_id, version): that key is the
 * event's identity, so merges drop any duplicate, and "how far is this stream?" is an index lookup
 * (the projection asks it to skip what is there and find gaps before inserting, so the table holds no
 * duplicates in the first place). Partitioned by month, so time-range scans and retention touch only
 * the months asked for.
 *
 * The pre-aggregates are table projections, not materialized views: a projection is stored inside each
 * data part, so it is written atomically with the rows it sums. A materialized view is a second insert
 * into another table, and a crash between the two (tested: kill -9 of the projector) leaves the view
 * short of rows the table has, which a retry then rightly skips. `by_minute` serves volume and event
 * counts (hence minute resolution), `by_account` serves top-accounts; merges of the replacing engine
 * rebuild them (`deduplicate_merge_projection_mode`). The queries are written in these shapes so that
 * ClickHouse reads the projections.
 */
export const schemaStatements = (db: string): string[] => [
  `CREATE DATABASE IF NOT EXISTS ${db}`,
  `CREATE TABLE IF NOT EXISTS ${db}.events (
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
    )
  ) ENGINE = ReplacingMergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (stream_id, version)
  SETTINGS deduplicate_merge_projection_mode = 'rebuild'`,
];

export const tables = ["events"] as const;

export const assertIdentifier = (name: string): string => {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name))
    throw new Error(`not a valid ClickHouse database name: ${name}`);
  return name;
};
