import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { ClickHouseClient } from "@clickhouse/client";
import { analyticsProjection } from "../projections/analytics/projection.ts";
import { openClickHouse, queryRows } from "../src/analytics/clickhouse.ts";
import type { EventEnvelope } from "../src/store/envelope.ts";
import { SqliteEventStore } from "../src/store/sqlite/sqlite-event-store.ts";
import { chdbPath, tempDir, uniqueName } from "./support/service.ts";

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let position = 0;
const deposit = (accountId: string, version: number, amount: number): EventEnvelope => ({
  eventId: Bun.randomUUIDv7(),
  streamId: `account-${accountId}`,
  aggregateType: "account",
  type: "Deposited",
  version,
  schemaVersion: 1,
  time: new Date().toISOString(),
  data: { amount, currency: "EUR", balance: amount * version },
  metadata: { commandId: "c", correlationId: "c", causationId: "c" },
  position: ++position,
});

/** The real chDB client, except that an insert holding a row of `poisoned` fails, as a bad part would. */
const failingFor = (client: ClickHouseClient, poisoned: string, inserts: string[][]) =>
  Object.assign(Object.create(client) as ClickHouseClient, {
    exec: async (params: Parameters<ClickHouseClient["exec"]>[0]) => {
      if (!("values" in params)) return client.exec(params);
      const body = await new Response(params.values as Readable).text();
      const streams = body
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => (JSON.parse(line) as { stream_id: string }).stream_id);
      inserts.push([...new Set(streams)].sort());
      if (streams.includes(poisoned)) throw new Error("bad part");
      return client.exec({ ...params, values: Readable.from(body) });
    },
  });

describe("analytics projection", () => {
  test("applies from several shards go as one insert; if it fails, each is inserted alone and only the bad one fails", async () => {
    const database = uniqueName("analytics");
    const client = await openClickHouse({ chdbPath });
    const store = new SqliteEventStore({ path: join(dir, "events.sqlite") });
    const inserts: string[][] = [];
    const projection = analyticsProjection({
      client: failingFor(client, "account-poison", inserts),
      database,
      aggregateTypes: ["account"],
      insertIntervalMs: 300,
    });
    try {
      await projection.migrate();
      const context = { store };
      // The first insert after a quiet spell goes at once; the applies after it, within the interval, wait.
      await projection.apply([deposit("first", 1, 1)], context);
      const [good, other, bad] = await Promise.allSettled([
        projection.apply([deposit("a", 1, 10), deposit("a", 2, 5)], context),
        projection.apply([deposit("b", 1, 7)], context),
        projection.apply([deposit("poison", 1, 1)], context),
      ]);
      expect([good.status, other.status, bad.status]).toEqual(["fulfilled", "fulfilled", "rejected"]);
      expect(inserts).toEqual([
        ["account-first"],
        ["account-a", "account-b", "account-poison"],
        ["account-a"],
        ["account-b"],
        ["account-poison"],
      ]);
      const rows = await queryRows<{ stream_id: string; events: string; amount: string }>(
        client,
        `SELECT stream_id, count() AS events, sum(amount) AS amount FROM ${database}.events
         GROUP BY stream_id ORDER BY stream_id`,
      );
      expect(rows.map((r) => [r.stream_id, Number(r.events), Number(r.amount)])).toEqual([
        ["account-a", 2, 15],
        ["account-b", 1, 7],
        ["account-first", 1, 1],
      ]);
    } finally {
      await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await client.close();
      await store.close();
    }
  });
});
