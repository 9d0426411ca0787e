import type { ClickHouseClient } from "@clickhouse/client";
import { MONEY_IN, MONEY_OUT } from "./schema.ts";

/**
 * The analytics schema analysts may query: views in a database of their own, `<schema>_v1`
 * (`analytics_v1` by default), over the projection's tables. The tables may change with any release;
 * these names and columns do not. Removing or renaming a column, or changing its type or meaning, is a
 * new version (`_v2`, made beside this one, this one kept until it is retired); adding a column is not.
 *
 * A view is a query kept by name and run when read, so it reads whichever table is named `events` at
 * that moment: after a blue/green rebuild swaps the tables, the same view reads the new generation.
 * `SQL SECURITY DEFINER`: a reader of the view needs a grant on the view only, not on the tables.
 *
 * `docs/analytics.md` is generated from this file (`npm run analytics:docs`), and a test checks every
 * view's columns in ClickHouse against it and runs every example.
 */
export const SCHEMA_VERSION = 1;

export const viewsDatabase = (schema: string): string => `${schema}_v${SCHEMA_VERSION}`;

export interface ViewColumn {
  readonly name: string;
  /** As ClickHouse's DESCRIBE says it. */
  readonly type: string;
  /** Its meaning, with its unit. */
  readonly doc: string;
}

export interface View {
  readonly name: string;
  readonly doc: string;
  readonly columns: readonly ViewColumn[];
  /** The view's query over the projection's database `db`. */
  readonly select: (db: string) => string;
}

const MONEY = "integer minor units (cents): exact, never a float";
const UTC = "UTC";

export const views: readonly View[] = [
  {
    name: "events",
    doc: "Every stored event of the accounts and transfers, once each, in the event log's terms.",
    columns: [
      {
        name: "position",
        type: "UInt64",
        doc: "The event's place in the global log (`GET /v1/events`): larger is later",
      },
      { name: "event_id", type: "String", doc: "The event's id (a UUID), unique" },
      { name: "aggregate_type", type: "String", doc: "`account` or `transfer`" },
      { name: "aggregate_id", type: "String", doc: "The account's or transfer's id" },
      { name: "version", type: "UInt64", doc: "The event's number within its aggregate: 1, 2, 3 …" },
      {
        name: "type",
        type: "String",
        doc: "`AccountOpened`, `MoneyDeposited`, `MoneyWithdrawn`, `TransferDebited`, `TransferCredited`, `TransferDebitReversed`, `AccountClosed`; `TransferRequested`, `TransferDebitRecorded`, `TransferCompleted`, `TransferRefunded`, `TransferRejected`",
      },
      { name: "time", type: "DateTime('UTC')", doc: `When the command was decided, to the second, ${UTC}` },
      {
        name: "currency",
        type: "String",
        doc: "ISO 4217 code of the money moved; empty for events that move none",
      },
      {
        name: "amount",
        type: "Int64",
        doc: `Money moved (always positive; the type says which way), ${MONEY}; on \`TransferRequested\`, the amount asked for; else 0`,
      },
      {
        name: "balance",
        type: "Int64",
        doc: `The account's balance after a movement (deposits, withdrawals, transfers debited, credited or reversed), ${MONEY}; 0 on other events (an account's opening and closing, a transfer's own events)`,
      },
      {
        name: "data",
        type: "String",
        doc: "The event's body as JSON (read fields with `JSONExtractString(data, 'reference')`); personal fields (`owner`, `reference`) read `[erased]` once their data subject (the account) was erased, and each erasure is an event of its own (`aggregate_type` `subject`, `type` `SubjectErased`)",
      },
    ],
    select: (db) =>
      `SELECT position, event_id, aggregate_type, aggregate_id, version, type, time, currency, amount, balance, data
       FROM ${db}.events`,
  },
  {
    name: "daily_balances",
    doc: "One row per account and UTC day on which it had an event: its balance at the end of that day and the money that moved. A day without events has no row: the balance stays the previous row's. Pre-aggregated, exact under replays and rebuilds.",
    columns: [
      { name: "account_id", type: "String", doc: "The account's id" },
      { name: "day", type: "Date", doc: `The day, ${UTC}` },
      { name: "currency", type: "String", doc: "The account's currency, ISO 4217" },
      { name: "closing_balance", type: "Int64", doc: `The balance after the day's last event, ${MONEY}` },
      {
        name: "money_in",
        type: "Int64",
        doc: `Deposits, transfers in and reversed debits that day, ${MONEY}`,
      },
      { name: "money_out", type: "Int64", doc: `Withdrawals and transfers out that day, ${MONEY}` },
      { name: "events", type: "UInt64", doc: "The account's events that day" },
    ],
    // Grouped in the shape of the `by_day` table projection (schema.ts), so ClickHouse reads it.
    select: (db) =>
      `SELECT aggregate_id AS account_id, toDate(time) AS day, max(currency) AS currency,
              argMax(balance, version) AS closing_balance,
              sumIf(amount, type IN ${MONEY_IN}) AS money_in,
              sumIf(amount, type IN ${MONEY_OUT}) AS money_out,
              count() AS events
       FROM ${db}.events
       WHERE aggregate_type = 'account'
       GROUP BY aggregate_type, aggregate_id, toDate(time)`,
  },
  {
    name: "transfers",
    doc: "One row per transfer: who, how much, and how it ended. Pre-aggregated, exact under replays and rebuilds.",
    columns: [
      { name: "transfer_id", type: "String", doc: "The transfer's id" },
      { name: "from_account", type: "String", doc: "The account debited" },
      { name: "to_account", type: "String", doc: "The account credited" },
      { name: "amount", type: "Int64", doc: `The amount asked for, ${MONEY}` },
      {
        name: "currency",
        type: "String",
        doc: "The source account's currency, ISO 4217; empty until the debit is recorded (and for a rejected transfer)",
      },
      { name: "requested_at", type: "DateTime('UTC')", doc: `When it was asked for, ${UTC}` },
      {
        name: "outcome",
        type: "String",
        doc: "`completed` (credited), `refunded` (debited, the credit refused, the debit reversed), `rejected` (the debit refused, nothing moved), or `pending`",
      },
      {
        name: "reason_code",
        type: "String",
        doc: "For `refunded` and `rejected`: the refusal's problem code (`account_closed`, `insufficient_funds`, `not_found` …); else empty",
      },
      {
        name: "reason",
        type: "String",
        doc: "For `refunded` and `rejected`: the refusal in words; else empty",
      },
      {
        name: "finished_at",
        type: "Nullable(DateTime('UTC'))",
        doc: `When it reached its outcome, ${UTC}; NULL while pending`,
      },
    ],
    // The first event (TransferRequested) holds who and how much; the last one, the outcome and why.
    select: (db) =>
      `SELECT transfer_id, from_account, to_account, amount, currency, requested_at, outcome,
              if(outcome IN ('refunded', 'rejected'), JSONExtractString(last_data, 'code'), '') AS reason_code,
              if(outcome IN ('refunded', 'rejected'), JSONExtractString(last_data, 'detail'), '') AS reason,
              if(outcome = 'pending', NULL, finished) AS finished_at
       FROM (
         SELECT aggregate_id AS transfer_id,
                JSONExtractString(argMin(data, version), 'from') AS from_account,
                JSONExtractString(argMin(data, version), 'to') AS to_account,
                JSONExtract(argMin(data, version), 'amount', 'Int64') AS amount,
                max(currency) AS currency,
                min(time) AS requested_at,
                multiIf(argMax(type, version) = 'TransferCompleted', 'completed',
                        argMax(type, version) = 'TransferRefunded', 'refunded',
                        argMax(type, version) = 'TransferRejected', 'rejected', 'pending') AS outcome,
                argMax(data, version) AS last_data,
                max(time) AS finished
         FROM ${db}.events
         WHERE aggregate_type = 'transfer'
         GROUP BY aggregate_type, aggregate_id)`,
  },
];

/** The documented tables, qualified: what an analyst's query may read. */
export const queryableTables = (schema: string): string[] =>
  views.map((view) => `${viewsDatabase(schema)}.${view.name}`);

/** Makes the views database and its views, as they are in this release. */
export const createViews = async (client: ClickHouseClient, db: string, schema: string): Promise<void> => {
  const target = viewsDatabase(schema);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${target}` });
  for (const view of views) {
    await client.command({
      query: `CREATE OR REPLACE VIEW ${target}.${view.name} DEFINER = CURRENT_USER SQL SECURITY DEFINER AS ${view.select(db)}`,
    });
  }
};

export interface Example {
  readonly question: string;
  /** Written against `analytics_v1`, as an analyst would. */
  readonly sql: string;
  /** Values for its `{name:Type}` parameters. */
  readonly params?: Readonly<Record<string, string | number>>;
}

export const examples: readonly Example[] = [
  {
    question: "The balance of an account at the end of a date",
    sql: `SELECT argMax(closing_balance, day) AS balance
FROM analytics_v1.daily_balances
WHERE account_id = {account:String} AND day <= {date:Date}`,
    params: { account: "alice", date: "2026-11-30" },
  },
  {
    question: "An account's end-of-day balance for every day of a month, days without events included",
    sql: `SELECT day, balance FROM (
  SELECT day, closing_balance AS balance
  FROM analytics_v1.daily_balances
  WHERE account_id = {account:String} AND day <= {last:Date}
  ORDER BY day WITH FILL FROM toDate({first:Date}) TO {last:Date} + 1 INTERPOLATE (balance AS balance)
) WHERE day >= {first:Date}`,
    params: { account: "alice", first: "2026-11-01", last: "2026-11-30" },
  },
  {
    question: "Daily volume by currency",
    sql: `SELECT toDate(time) AS day, currency, countIf(type = 'MoneyDeposited') AS deposits,
       sumIf(amount, type = 'MoneyDeposited') AS deposited, sumIf(amount, type = 'MoneyWithdrawn') AS withdrawn,
       sumIf(amount, type = 'TransferDebited') AS transferred
FROM analytics_v1.events
WHERE time >= now() - INTERVAL 30 DAY AND currency != ''
GROUP BY day, currency
ORDER BY day, currency`,
  },
  {
    question: "The accounts that moved the most money this week",
    sql: `SELECT account_id, currency, sum(money_in) AS moved_in, sum(money_out) AS moved_out,
       moved_in + moved_out AS moved
FROM analytics_v1.daily_balances
WHERE day >= toMonday(today())
GROUP BY account_id, currency
ORDER BY moved DESC
LIMIT 10`,
  },
  {
    question: "Transfers that were refunded or rejected, and why",
    sql: `SELECT transfer_id, from_account, to_account, amount, currency, outcome, reason_code, reason, finished_at
FROM analytics_v1.transfers
WHERE outcome IN ('refunded', 'rejected')
ORDER BY requested_at DESC
LIMIT 100`,
  },
  {
    question: "Transfers by outcome per day",
    sql: `SELECT toDate(requested_at) AS day, outcome, count() AS transfers, sum(amount) AS amount
FROM analytics_v1.transfers
GROUP BY day, outcome
ORDER BY day, outcome`,
  },
  {
    question: "Events per type per hour",
    sql: `SELECT toStartOfHour(time) AS hour, type, count() AS events
FROM analytics_v1.events
WHERE time >= now() - INTERVAL 1 DAY
GROUP BY hour, type
ORDER BY hour, type`,
  },
];
