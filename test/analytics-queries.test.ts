import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ClickHouseClient } from "@clickhouse/client";
import { eventCounts, type Interval, volume } from "../projections/analytics/queries.ts";
import { schemaStatements } from "../projections/analytics/schema.ts";
import { openClickHouse } from "../src/analytics/clickhouse.ts";
import { chdbPath, uniqueName } from "./support/service.ts";

const database = uniqueName("queries");
let client: ClickHouseClient;

/** One row of the analytics table: an event of `type` at `time`. */
const row = (n: number, time: string, type: string, currency: string, amount: number) => ({
  stream_id: `account-q${n}`,
  version: 1,
  position: n,
  event_id: `e${n}`,
  aggregate_type: "account",
  aggregate_id: `q${n}`,
  type,
  time: Math.floor(Date.parse(time) / 1000),
  currency,
  amount,
  balance: amount,
  data: "{}",
});

beforeAll(async () => {
  client = await openClickHouse({ chdbPath });
  for (const statement of schemaStatements(database)) await client.command({ query: statement });
  await client.insert({
    table: `${database}.events`,
    format: "JSONEachRow",
    values: [
      row(1, "2026-11-01T10:00:30Z", "MoneyDeposited", "EUR", 10),
      row(2, "2026-11-01T10:59:59Z", "MoneyDeposited", "USD", 5),
      row(3, "2026-11-01T11:00:00Z", "MoneyDeposited", "EUR", 7),
      row(4, "2026-11-01T11:30:00Z", "MoneyWithdrawn", "EUR", 3),
      row(5, "2026-11-02T00:00:10Z", "TransferDebited", "EUR", 4),
      row(6, "2026-11-02T00:00:10Z", "TransferCredited", "EUR", 4),
    ],
  });
});

afterAll(async () => {
  await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await client.close();
});

const at = (iso: string) => new Date(iso);
const volumeOf = (from: string, to: string, interval: Interval, currency?: string) =>
  volume(client, database, { from: at(from), to: at(to), interval, ...(currency ? { currency } : {}) });
/** The buckets that hold something, as [start, deposits, depositAmount, withdrawals, transfers]. */
const busy = (buckets: Awaited<ReturnType<typeof volume>>) =>
  buckets
    .filter((b) => b.deposits + b.withdrawals + b.transfers > 0)
    .map((b) => [b.start, b.deposits, b.depositAmount, b.withdrawals, b.transfers]);

describe("analytics queries", () => {
  test("volume per hour counts from the start of `from`'s minute, up to `to` excluded, each bucket present", async () => {
    const buckets = await volumeOf("2026-11-01T10:00:45Z", "2026-11-01T12:00:00Z", "hour");
    expect(buckets.map((b) => b.start)).toEqual(["2026-11-01T10:00:00.000Z", "2026-11-01T11:00:00.000Z"]);
    expect(busy(buckets)).toEqual([
      ["2026-11-01T10:00:00.000Z", 2, 15, 0, 0],
      ["2026-11-01T11:00:00.000Z", 1, 7, 1, 0],
    ]);
    const before11 = await volumeOf("2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z", "hour");
    expect(busy(before11)).toEqual([["2026-11-01T10:00:00.000Z", 2, 15, 0, 0]]);
  });

  test("volume per minute and per day, and for one currency", async () => {
    const minutes = await volumeOf("2026-11-01T10:59:00Z", "2026-11-01T11:01:00Z", "minute");
    expect(busy(minutes)).toEqual([
      ["2026-11-01T10:59:00.000Z", 1, 5, 0, 0],
      ["2026-11-01T11:00:00.000Z", 1, 7, 0, 0],
    ]);
    const days = await volumeOf("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", "day");
    expect(busy(days)).toEqual([
      ["2026-11-01T00:00:00.000Z", 3, 22, 1, 0],
      ["2026-11-02T00:00:00.000Z", 0, 0, 0, 1],
    ]);
    expect(days[1]?.transferAmount).toBe(4);
    const euros = await volumeOf("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", "day", "EUR");
    expect(busy(euros)).toEqual([
      ["2026-11-01T00:00:00.000Z", 2, 17, 1, 0],
      ["2026-11-02T00:00:00.000Z", 0, 0, 0, 1],
    ]);
  });

  test("event counts per type over a range", async () => {
    expect(
      await eventCounts(client, database, {
        from: at("2026-11-01T00:00:00Z"),
        to: at("2026-11-03T00:00:00Z"),
      }),
    ).toEqual({ MoneyDeposited: 3, MoneyWithdrawn: 1, TransferCredited: 1, TransferDebited: 1 });
    expect(
      await eventCounts(client, database, {
        from: at("2026-11-01T10:30:00Z"),
        to: at("2026-11-01T11:00:00Z"),
      }),
    ).toEqual({ MoneyDeposited: 1 });
  });
});
