import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { NewEvent } from "../src/store/envelope.ts";
import { SqliteEventStore } from "../src/store/sqlite/sqlite-event-store.ts";
import { describeEventStoreConformance } from "./support/event-store-conformance.ts";
import { eventually } from "./support/http.ts";
import { tempDir } from "./support/service.ts";

const dir = tempDir();

const newEvent = (type: string, data: unknown, commandId = "c"): NewEvent => ({
  eventId: Bun.randomUUIDv7(),
  type,
  schemaVersion: 1,
  data,
  metadata: { commandId, correlationId: "c", causationId: "c" },
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeEventStoreConformance(
  "SQLite (embedded)",
  async (onBatch) => new SqliteEventStore({ path: join(dir, "events.sqlite"), onBatch }),
);

describe("SQLite WAL", () => {
  test("the checkpointer copies committed pages into the database file while the WAL is far below SQLite's own threshold", async () => {
    const path = join(dir, "checkpointed.sqlite");
    const store = new SqliteEventStore({ path });
    try {
      await store.append({ streamId: "account-0", aggregateType: "account", expectedVersion: 0, events: [] });
      const before = statSync(path).size;
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          store.append({
            streamId: `account-${i}`,
            aggregateType: "account",
            expectedVersion: 0,
            events: [newEvent("Opened", { note: "x".repeat(500) })],
          }),
        ),
      );
      // Some hundreds of pages: the writer's own autocheckpoint (thousands of pages) never fires.
      expect(statSync(`${path}-wal`).size).toBeLessThan(16_384 * 4096);
      await eventually(
        async () => statSync(path).size,
        (size) => size > before + 250_000,
        5_000,
      );
    } finally {
      await store.close();
    }
  });
});

describe("SQLite committed tail", () => {
  const opened = (id: string, amount: number) => ({
    streamId: `account-${id}`,
    aggregateType: "account",
    expectedVersion: 0,
    events: [newEvent("Opened", { amount, note: "é ✓" }, id), newEvent("Deposited", { amount }, id)],
  });

  test("readAll gives what SQLite holds, including the events another process appended in between", async () => {
    const path = join(dir, "shared.sqlite");
    const here = new SqliteEventStore({ path });
    const elsewhere = new SqliteEventStore({ path });
    try {
      await here.append(opened("a", 1));
      await elsewhere.append(opened("b", 2));
      await Promise.all([here.append(opened("c", 3)), here.append(opened("d", 4))]);
      const fromSqlite = await elsewhere.readAll(0, 100);
      expect(fromSqlite.map((e) => `${e.streamId}@${e.version}#${e.position}`)).toEqual([
        "account-a@1#1",
        "account-a@2#2",
        "account-b@1#3",
        "account-b@2#4",
        expect.stringMatching(/^account-[cd]@1#5$/),
        expect.stringMatching(/^account-[cd]@2#6$/),
        expect.stringMatching(/^account-[cd]@1#7$/),
        expect.stringMatching(/^account-[cd]@2#8$/),
      ]);
      // Page by page, as the relay reads, from any start: the same events, the same fields.
      for (const after of [0, 1, 2, 3, 4, 5, 6, 7]) {
        const pages = [];
        for (let from = after; ; ) {
          const page = await here.readAll(from, 3);
          if (page.length === 0) break;
          pages.push(...page);
          from = page.at(-1)?.position ?? from;
        }
        expect(pages).toEqual(fromSqlite.slice(after));
      }
    } finally {
      await here.close();
      await elsewhere.close();
    }
  });
});

describe("SQLite files from before non_final_streams", () => {
  test("keep their open streams and versions; the per-stream table is dropped", async () => {
    const path = join(dir, "legacy.sqlite");
    const legacy = new Database(path, { create: true, strict: true });
    legacy.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE events (
        position INTEGER PRIMARY KEY, event_id TEXT NOT NULL, stream_id TEXT NOT NULL,
        aggregate_type TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
        schema_version INTEGER NOT NULL, time INTEGER NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
        UNIQUE (stream_id, version));
      CREATE TABLE streams (
        stream_id TEXT PRIMARY KEY, aggregate_type TEXT NOT NULL, version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL, final INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
      CREATE INDEX streams_open ON streams (aggregate_type) WHERE final = 0;`);
    const insert = legacy.prepare(
      "INSERT INTO events VALUES (NULL, ?, ?, 'transfer', ?, 'Step', 1, 1700000000000, '{}', '{}')",
    );
    for (const [streamId, versions, final] of [
      ["transfer-running", 2, 0],
      ["transfer-done", 3, 1],
    ] as const) {
      for (let v = 1; v <= versions; v++) insert.run(Bun.randomUUIDv7(), streamId, v);
      legacy
        .prepare("INSERT INTO streams VALUES (?, 'transfer', ?, 1700000000000, ?)")
        .run(streamId, versions, final);
    }
    legacy.close();

    const store = new SqliteEventStore({ path });
    try {
      const open: string[] = [];
      for await (const id of store.nonFinalStreams("transfer")) open.push(id);
      expect(open).toEqual(["transfer-running"]);
      expect(await store.streamInfo("transfer-running")).toMatchObject({ version: 2, final: false });
      expect(await store.streamInfo("transfer-done")).toMatchObject({ version: 3, final: true });
      const next = await store.append({
        streamId: "transfer-running",
        aggregateType: "transfer",
        expectedVersion: 2,
        events: [newEvent("Step", {})],
        final: true,
      });
      expect(next).toMatchObject({ ok: true, version: 3 });
      const stale = await store.append({
        streamId: "transfer-done",
        aggregateType: "transfer",
        expectedVersion: 2,
        events: [newEvent("Step", {})],
      });
      expect(stale).toEqual({ ok: false, reason: "version_conflict", actualVersion: 3 });
    } finally {
      await store.close();
    }
    const reopened = new Database(path, { readonly: true });
    const tables = reopened.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all();
    reopened.close();
    expect(tables.map((t) => (t as { name: string }).name)).not.toContain("streams");
  });
});
