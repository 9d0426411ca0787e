import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../../src/analytics/clickhouse.ts";

export type Interval = "minute" | "hour" | "day";
const seconds: Record<Interval, number> = { minute: 60, hour: 3600, day: 86_400 };
// Chosen from this table by a validated enum: never text from the request. Each is an expression of
// the `by_minute` projection's key, so ClickHouse reads the projection and groups straight into buckets.
const bucketExpression: Record<Interval, string> = {
  minute: "toStartOfMinute(time)",
  hour: "toStartOfHour(toStartOfMinute(time))",
  day: "toStartOfDay(toStartOfMinute(time))",
};

export const MAX_BUCKETS = 10_000;

/**
 * Events in [from, to) counted from the start of `from`'s minute: the filter of the `by_minute` table
 * projection's shape. The queries group by coarser keys than the projection's (bucket and type, not
 * minute, currency and type), so that ClickHouse does not make an intermediate row per minute, currency
 * and type only to sum those rows again.
 */
const inMinutes = `toStartOfMinute(time) >= toStartOfMinute(toDateTime({from:UInt32}, 'UTC'))
     AND toStartOfMinute(time) < toDateTime({to:UInt32}, 'UTC')`;
/** The SQL behind each route, exported so the bench can EXPLAIN exactly what the routes run. */
export const volumeSql = (db: string, interval: Interval) =>
  `SELECT toUnixTimestamp(bucket) AS start,
          sumIf(n, type = 'MoneyDeposited') AS deposits,
          sumIf(n, type = 'MoneyWithdrawn') AS withdrawals,
          sumIf(n, type = 'TransferDebited') AS transfers,
          sumIf(total, type = 'MoneyDeposited') AS depositAmount,
          sumIf(total, type = 'MoneyWithdrawn') AS withdrawalAmount,
          sumIf(total, type = 'TransferDebited') AS transferAmount
   FROM (SELECT ${bucketExpression[interval]} AS bucket, type, count() AS n, sum(amount) AS total
         FROM ${db}.events
         WHERE ${inMinutes}
           AND type IN ('MoneyDeposited', 'MoneyWithdrawn', 'TransferDebited')
           AND ({currency:String} = '' OR currency = {currency:String})
         GROUP BY bucket, type)
   GROUP BY start ORDER BY start`;
export const eventCountsSql = (db: string) =>
  `SELECT type, count() AS events FROM ${db}.events WHERE ${inMinutes} GROUP BY type ORDER BY type`;
export const bucketCount = (from: Date, to: Date, interval: Interval) =>
  Math.ceil((alignDown(to, interval) - alignDown(from, interval)) / 1000 / seconds[interval]) + 1;
const alignDown = (at: Date, interval: Interval) =>
  Math.floor(at.getTime() / 1000 / seconds[interval]) * seconds[interval] * 1000;

export interface VolumeBucket {
  start: string;
  deposits: number;
  withdrawals: number;
  transfers: number;
  depositAmount: number;
  withdrawalAmount: number;
  transferAmount: number;
}

/**
 * Deposits, withdrawals and transfers per bucket over [from, to), every bucket present (zeros
 * included). Resolution is the minute: the pre-aggregate keeps minutes, so `from` and `to` count
 * from the start of their minute.
 */
export const volume = async (
  client: ClickHouseClient,
  db: string,
  q: { from: Date; to: Date; interval: Interval; currency?: string },
): Promise<VolumeBucket[]> => {
  const rows = await queryRows<Record<string, string>>(client, volumeSql(db, q.interval), {
    from: Math.floor(q.from.getTime() / 1000),
    to: Math.ceil(q.to.getTime() / 1000),
    currency: q.currency ?? "",
  });
  const found = new Map(rows.map((r) => [Number(r.start) * 1000, r]));
  const buckets: VolumeBucket[] = [];
  const step = seconds[q.interval] * 1000;
  for (let t = alignDown(q.from, q.interval); t < q.to.getTime(); t += step) {
    const r = found.get(t);
    buckets.push({
      start: new Date(t).toISOString(),
      deposits: Number(r?.deposits ?? 0),
      withdrawals: Number(r?.withdrawals ?? 0),
      transfers: Number(r?.transfers ?? 0),
      depositAmount: Number(r?.depositAmount ?? 0),
      withdrawalAmount: Number(r?.withdrawalAmount ?? 0),
      transferAmount: Number(r?.transferAmount ?? 0),
    });
  }
  return buckets;
};

export const eventCounts = async (client: ClickHouseClient, db: string, q: { from: Date; to: Date }) => {
  const rows = await queryRows<{ type: string; events: string }>(client, eventCountsSql(db), {
    from: Math.floor(q.from.getTime() / 1000),
    to: Math.ceil(q.to.getTime() / 1000),
  });
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.events)]));
};

export const topAccountsSql = (db: string, by: "balance" | "volume") =>
  `SELECT aggregate_id AS accountId, argMax(balance, version) AS balance, sum(amount) AS volume
   FROM ${db}.events
   WHERE aggregate_type = 'account'
   GROUP BY aggregate_type, aggregate_id
   HAVING {currency:String} = '' OR max(currency) = {currency:String}
   ORDER BY ${by === "balance" ? "balance" : "volume"} DESC, accountId
   LIMIT {limit:UInt32}`;

export const topAccounts = async (
  client: ClickHouseClient,
  db: string,
  q: { by: "balance" | "volume"; limit: number; currency?: string },
) => {
  const rows = await queryRows<{ accountId: string; balance: string; volume: string }>(
    client,
    topAccountsSql(db, q.by),
    {
      limit: q.limit,
      currency: q.currency ?? "",
    },
  );
  return rows.map((r) => ({ accountId: r.accountId, balance: Number(r.balance), volume: Number(r.volume) }));
};
