import { afterAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { ClickHouseClient } from "@clickhouse/client";
import { analyticsProjection } from "../projections/analytics/projection.ts";
import { schemaStatements } from "../projections/analytics/schema.ts";
import { openClickHouse, queryRows } from "../src/analytics/clickhouse.ts";
import type { EventEnvelope } from "../src/store/envelope.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
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

/** Stream ids of the rows an insert sends. */
const streamsOf = (body: string) =>
  body
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => (JSON.parse(line) as { stream_id: string; version: number }).stream_id);

/**
 * The real chDB client, except that inserts go through `intercept`: it sees the rows of each insert
 * and may write some of them (through the real client) and then throw, as a lost answer would.
 */
const intercepted = (
  client: ClickHouseClient,
  intercept: (body: string, write: (body: string) => Promise<void>) => Promise<void>,
) =>
  Object.assign(Object.create(client) as ClickHouseClient, {
    exec: async (params: Parameters<ClickHouseClient["exec"]>[0]) => {
      if (!("values" in params)) return client.exec(params);
      const body = await new Response(params.values as Readable).text();
      let result: Awaited<ReturnType<ClickHouseClient["exec"]>> | undefined;
      await intercept(body, async (rows) => {
        result = await client.exec({ ...params, values: Readable.from(rows) });
        result.stream.resume();
        await new Promise((resolve) => result?.stream.on("end", resolve));
      });
      // The body was written through `write` (its answer read there); hand back an empty answer.
      return { ...(result as NonNullable<typeof result>), stream: Readable.from([]) };
    },
  });

/** Each stream's versions in the table, duplicates included. */
const versionsIn = async (client: ClickHouseClient, database: string) => {
  const rows = await queryRows<{ stream_id: string; versions: string[] }>(
    client,
    `SELECT stream_id, arraySort(groupArray(version)) AS versions FROM ${database}.events
     GROUP BY stream_id ORDER BY stream_id`,
  );
  return Object.fromEntries(rows.map((r) => [r.stream_id, r.versions.map(Number)]));
};

const appendDeposits = async (store: SqliteStore, accountId: string, from: number, to: number) => {
  for (let version = from; version <= to; version++) {
    const appended = await store.append({
      streamId: `account-${accountId}`,
      aggregateType: "account",
      expectedVersion: version - 1,
      events: [
        {
          eventId: Bun.randomUUIDv7(),
          type: "Deposited",
          schemaVersion: 1,
          data: { amount: 10, currency: "EUR", balance: 10 * version },
          metadata: { commandId: "c", correlationId: "c", causationId: "c" },
        },
      ],
    });
    expect(appended.ok).toBe(true);
  }
  return store.readStream(`account-${accountId}`, { after: from - 1 });
};

/** A fresh analytics database on chDB and a fresh event store, for one test; both dropped after it. */
const withAnalytics = async (
  run: (env: { client: ClickHouseClient; database: string; store: SqliteStore }) => Promise<void>,
) => {
  const database = uniqueName("analytics");
  const client = await openClickHouse({ chdbPath });
  const store = new SqliteStore({ path: join(dir, `${database}.sqlite`) });
  try {
    await run({ client, database, store });
  } finally {
    await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await client.close();
    await store.close();
  }
};

describe("analytics projection", () => {
  test("applies from several shards go as one insert; if it fails, each is inserted alone and only the bad one fails", async () => {
    await withAnalytics(async ({ client, database, store }) => {
      const inserts: string[][] = [];
      const projection = analyticsProjection({
        client: intercepted(client, async (body, write) => {
          const streams = streamsOf(body);
          inserts.push([...new Set(streams)].sort());
          if (streams.includes("account-poison")) throw new Error("bad part");
          await write(body);
        }),
        database,
        aggregateTypes: ["account"],
        insertIntervalMs: 300,
      });
      await projection.createSchema();
      const context = { store };
      // The first insert after a quiet spell goes at once; the applies after it, within the interval, wait.
      await projection.apply([deposit("first", 1, 1)], context);
      const [good, other, bad] = await Promise.allSettled([
        projection.apply([deposit("a", 1, 10), deposit("a", 2, 5)], context),
        projection.apply([deposit("b", 1, 7)], context),
        projection.apply([deposit("poison", 1, 1)], context),
      ]);
      expect([good.status, other.status, bad.status]).toEqual(["fulfilled", "fulfilled", "rejected"]);
      expect(inserts.slice(0, 2)).toEqual([["account-first"], ["account-a", "account-b", "account-poison"]]);
      // Then each looks again at what got in (nothing) and goes alone, in whichever order they resume.
      expect(inserts.slice(2).sort()).toEqual([["account-a"], ["account-b"], ["account-poison"]]);
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
    });
  });
  test("an insert that wrote part of its rows and then failed leaves, once retried, every event in the table once", async () => {
    await withAnalytics(async ({ client, database, store }) => {
      let torn = false;
      const projection = () =>
        analyticsProjection({
          // An insert (once `torn` is cleared) writes only its odd versions, then fails: a part written and
          // its answer lost.
          client: intercepted(client, async (body, write) => {
            if (torn) return write(body);
            torn = true;
            const odd = body.split("\n").filter((line) => line && JSON.parse(line).version % 2 === 1);
            await write(`${odd.join("\n")}\n`);
            throw new Error("connection reset");
          }),
          database,
          aggregateTypes: ["account"],
        });
      const first = projection();
      await first.createSchema();
      const context = { store };
      const events = await appendDeposits(store, "torn", 1, 4);
      torn = true;
      await first.apply(events.slice(0, 1), context);
      torn = false;
      await expect(first.apply(events.slice(1), context)).rejects.toThrow("connection reset");
      expect(await versionsIn(client, database)).toEqual({ "account-torn": [1, 3] });

      // Redelivered: the holes are filled, nothing written twice.
      await first.apply(events, context);
      expect(await versionsIn(client, database)).toEqual({ "account-torn": [1, 2, 3, 4] });
      // And again, and after a restart (nothing cached), with the next event.
      await first.apply(events, context);
      const next = await appendDeposits(store, "torn", 5, 5);
      await projection().apply([...events.slice(2), ...next], context);
      expect(await versionsIn(client, database)).toEqual({ "account-torn": [1, 2, 3, 4, 5] });
    });
  });

  test("a started projection fills a hole below a stream's last version from the event store", async () => {
    await withAnalytics(async ({ client, database, store }) => {
      const projection = analyticsProjection({ client, database, aggregateTypes: ["account"] });
      await projection.createSchema();
      const context = { store };
      const events = await appendDeposits(store, "holey", 1, 6);
      // Versions 2 and 4 missing, as a torn insert from before a crash would leave them.
      await projection.apply(events.slice(0, 1), context);
      await client.insert({
        table: `${database}.events`,
        format: "JSONEachRow",
        values: [3, 5].map((version) => ({
          stream_id: "account-holey",
          version,
          position: version,
          event_id: `e${version}`,
          aggregate_type: "account",
          aggregate_id: "holey",
          type: "Deposited",
          time: Math.floor(Date.now() / 1000),
          currency: "EUR",
          amount: 10,
          balance: 10 * version,
          data: "{}",
        })),
      });
      await analyticsProjection({ client, database, aggregateTypes: ["account"] }).apply(
        events.slice(5),
        context,
      );
      expect(await versionsIn(client, database)).toEqual({ "account-holey": [1, 2, 3, 4, 5, 6] });
    });
  });

  test("a coalesced insert that got in but lost its answer: each apply finds its rows there and inserts nothing", async () => {
    await withAnalytics(async ({ client, database, store }) => {
      const inserts: string[][] = [];
      let lose = true;
      const projection = analyticsProjection({
        client: intercepted(client, async (body, write) => {
          inserts.push([...new Set(streamsOf(body))].sort());
          await write(body);
          if (inserts.length === 2 && lose) throw new Error("timeout");
        }),
        database,
        aggregateTypes: ["account"],
        insertIntervalMs: 300,
      });
      await projection.createSchema();
      const context = { store };
      const [x, y, z] = [
        await appendDeposits(store, "x", 1, 2),
        await appendDeposits(store, "y", 1, 1),
        await appendDeposits(store, "z", 1, 3),
      ];
      await projection.apply((x ?? []).slice(0, 1), context);
      const outcomes = await Promise.allSettled([
        projection.apply((x ?? []).slice(1), context),
        projection.apply(y ?? [], context),
        projection.apply(z ?? [], context),
      ]);
      lose = false;
      expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "fulfilled"]);
      expect(inserts).toEqual([["account-x"], ["account-x", "account-y", "account-z"]]);
      expect(await versionsIn(client, database)).toEqual({
        "account-x": [1, 2],
        "account-y": [1],
        "account-z": [1, 2, 3],
      });
    });
  });

  test("a table made before generations is generation 1; a new generation is filled beside it, then swapped in", async () => {
    await withAnalytics(async ({ client, database, store }) => {
      // The table as the code before made it: the same columns, no comment naming its generation.
      for (const query of schemaStatements(database)) {
        await client.command({ query: query.replace(/\n\s*COMMENT '[^']*'/, "") });
      }
      const before = await queryRows<{ comment: string }>(
        client,
        `SELECT comment FROM system.tables WHERE database = '${database}' AND name = 'events'`,
      );
      expect(before).toEqual([{ comment: "" }]);
      const projection = analyticsProjection({ client, database, aggregateTypes: ["account"] });
      const context = { store };
      const events = await appendDeposits(store, "gen", 1, 3);
      await projection.apply(events.slice(0, 2), context);
      const generations = projection.generations;
      if (!generations) throw new Error("the analytics projection has generations");
      expect(await generations.serving()).toBe(1);

      const { generation, fill } = await generations.create();
      expect(generation).toBe(2);
      await fill.apply(events, context);
      // The serving table is as it was until the switch.
      expect(await versionsIn(client, database)).toEqual({ "account-gen": [1, 2] });
      await generations.switchTo(generation);
      expect(await versionsIn(client, database)).toEqual({ "account-gen": [1, 2, 3] });
      expect(await generations.serving()).toBe(2);
      // The live projection goes on into the table now serving, knowing nothing stale of it.
      await projection.apply(events, context);
      expect(await versionsIn(client, database)).toEqual({ "account-gen": [1, 2, 3] });
    });
  });

  test("a reset empties the table and forgets how far streams were: the events go in again", async () => {
    await withAnalytics(async ({ client, database, store }) => {
      const projection = analyticsProjection({ client, database, aggregateTypes: ["account"] });
      await projection.createSchema();
      const context = { store };
      const events = await appendDeposits(store, "again", 1, 2);
      await projection.apply(events, context);
      await projection.reset();
      expect(await versionsIn(client, database)).toEqual({});
      await projection.apply(events, context);
      expect(await versionsIn(client, database)).toEqual({ "account-again": [1, 2] });
    });
  });
});
