/**
 * The analytics schema, in the SQL common to ClickHouse 24.8+ and chDB 26 (DateTime, not DateTime64;
 * no LowCardinality), so one DDL serves both.
 *
 * `events`: one row per event. ReplacingMergeTree ordered by (stream_id, version): that key is the
 * event's identity, so merges drop any duplicate, and "how far is this stream?" is an index lookup
 * (the projection asks it to skip duplicates and find gaps before inserting). Partitioned by month,
 * so time-range scans and retention touch only the months asked for.
 *
 * Pre-aggregates, filled by materialized views on each insert: minute buckets for the volume and
 * event-count routes (ordered by minute, so a time range is a primary-key range), and per-account
 * balance (argMax over version) and volume for top-accounts. The views count each inserted row once,
 * which is why the projection never inserts an event the table already has.
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
    data           String
  ) ENGINE = ReplacingMergeTree
  PARTITION BY toYYYYMM(time)
  ORDER BY (stream_id, version)`,
  `CREATE TABLE IF NOT EXISTS ${db}.volume_minute (
    minute            DateTime('UTC'),
    currency          String,
    deposits          UInt64,
    withdrawals       UInt64,
    transfers         UInt64,
    deposit_amount    Int64,
    withdrawal_amount Int64,
    transfer_amount   Int64
  ) ENGINE = SummingMergeTree
  PARTITION BY toYYYYMM(minute)
  ORDER BY (minute, currency)`,
  `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.volume_minute_mv TO ${db}.volume_minute AS
  SELECT
    toStartOfMinute(time) AS minute,
    currency,
    countIf(type = 'MoneyDeposited') AS deposits,
    countIf(type = 'MoneyWithdrawn') AS withdrawals,
    countIf(type = 'TransferDebited') AS transfers,
    sumIf(amount, type = 'MoneyDeposited') AS deposit_amount,
    sumIf(amount, type = 'MoneyWithdrawn') AS withdrawal_amount,
    sumIf(amount, type = 'TransferDebited') AS transfer_amount
  FROM ${db}.events
  WHERE type IN ('MoneyDeposited', 'MoneyWithdrawn', 'TransferDebited')
  GROUP BY minute, currency`,
  `CREATE TABLE IF NOT EXISTS ${db}.event_counts_minute (
    minute DateTime('UTC'),
    type   String,
    events UInt64
  ) ENGINE = SummingMergeTree
  PARTITION BY toYYYYMM(minute)
  ORDER BY (minute, type)`,
  `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_counts_minute_mv TO ${db}.event_counts_minute AS
  SELECT toStartOfMinute(time) AS minute, type, count() AS events
  FROM ${db}.events
  GROUP BY minute, type`,
  `CREATE TABLE IF NOT EXISTS ${db}.account_stats (
    account_id String,
    currency   SimpleAggregateFunction(any, String),
    balance    AggregateFunction(argMax, Int64, UInt64),
    volume     SimpleAggregateFunction(sum, Int64)
  ) ENGINE = AggregatingMergeTree
  ORDER BY account_id`,
  `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.account_stats_mv TO ${db}.account_stats AS
  SELECT
    aggregate_id AS account_id,
    any(currency) AS currency,
    argMaxState(balance, version) AS balance,
    sum(amount) AS volume
  FROM (SELECT aggregate_id, currency, balance, version, amount FROM ${db}.events
        WHERE aggregate_type = 'account' AND currency != '')
  GROUP BY account_id`,
];

export const tables = ["events", "volume_minute", "event_counts_minute", "account_stats"] as const;

export const assertIdentifier = (name: string): string => {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name))
    throw new Error(`not a valid ClickHouse database name: ${name}`);
  return name;
};
