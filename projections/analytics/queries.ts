import type { ClickHouseClient } from "@clickhouse/client";
import { queryRows } from "../../src/analytics/clickhouse.ts";

export type Interval = "minute" | "hour" | "day";
const seconds: Record<Interval, number> = { minute: 60, hour: 3600, day: 86_400 };
// Chosen from this table by a validated enum: never text from the request.
const bucketExpression: Record<Interval, string> = {
  minute: "minute",
  hour: "toStartOfHour(minute)",
  day: "toStartOfDay(minute)",
};

export const MAX_BUCKETS = 10_000;
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
  const rows = await queryRows<Record<string, string>>(
    client,
    `SELECT toUnixTimestamp(${bucketExpression[q.interval]}) AS start,
            sum(deposits) AS deposits, sum(withdrawals) AS withdrawals, sum(transfers) AS transfers,
            sum(deposit_amount) AS depositAmount, sum(withdrawal_amount) AS withdrawalAmount,
            sum(transfer_amount) AS transferAmount
     FROM ${db}.volume_minute
     WHERE minute >= toStartOfMinute(toDateTime({from:UInt32}, 'UTC'))
       AND minute < toDateTime({to:UInt32}, 'UTC')
       AND ({currency:String} = '' OR currency = {currency:String})
     GROUP BY start ORDER BY start`,
    {
      from: Math.floor(q.from.getTime() / 1000),
      to: Math.ceil(q.to.getTime() / 1000),
      currency: q.currency ?? "",
    },
  );
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
  const rows = await queryRows<{ type: string; events: string }>(
    client,
    `SELECT type, sum(events) AS events FROM ${db}.event_counts_minute
     WHERE minute >= toStartOfMinute(toDateTime({from:UInt32}, 'UTC')) AND minute < toDateTime({to:UInt32}, 'UTC')
     GROUP BY type ORDER BY type`,
    { from: Math.floor(q.from.getTime() / 1000), to: Math.ceil(q.to.getTime() / 1000) },
  );
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.events)]));
};

const topQuery = (db: string, by: "balance" | "volume") =>
  `SELECT account_id AS accountId, argMaxMerge(balance) AS balance, sum(volume) AS volume
   FROM ${db}.account_stats
   WHERE {currency:String} = '' OR currency = {currency:String}
   GROUP BY account_id
   ORDER BY ${by === "balance" ? "balance" : "volume"} DESC, accountId
   LIMIT {limit:UInt32}`;

export const topAccounts = async (
  client: ClickHouseClient,
  db: string,
  q: { by: "balance" | "volume"; limit: number; currency?: string },
) => {
  const rows = await queryRows<{ accountId: string; balance: string; volume: string }>(
    client,
    topQuery(db, q.by),
    {
      limit: q.limit,
      currency: q.currency ?? "",
    },
  );
  return rows.map((r) => ({ accountId: r.accountId, balance: Number(r.balance), volume: Number(r.volume) }));
};
