import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { describeStoreConformance } from "../../src/store/conformance/index.ts";
import type { NewEvent } from "../../src/store/envelope.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { eventually } from "../support/http.ts";
import { tempDir } from "../support/service.ts";

const dir = tempDir();

const newEvent = (type: string, data: unknown, commandId = "c"): NewEvent => ({
  eventId: Bun.randomUUIDv7(),
  type,
  schemaVersion: 1,
  data,
  metadata: { commandId, correlationId: "c", causationId: "c" },
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStoreConformance(
  "SQLite (embedded)",
  async (onBatch?: (size: number) => void) => new SqliteStore({ path: join(dir, "events.sqlite"), onBatch }),
);

describe("SQLite WAL", () => {
  test("the checkpointer copies committed pages into the database file while the WAL is far below SQLite's own threshold", async () => {
    const path = join(dir, "checkpointed.sqlite");
    const store = new SqliteStore({ path });
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
    const here = new SqliteStore({ path });
    const elsewhere = new SqliteStore({ path });
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

describe("SQLite stream heads", () => {
  const append = (store: SqliteStore, streamId: string, expectedVersion: number, count = 1) =>
    store.append({
      streamId,
      aggregateType: "account",
      expectedVersion,
      events: Array.from({ length: count }, (_, i) => newEvent("E", { v: expectedVersion + i + 1 })),
    });
  const meta = (path: string) => {
    const db = new Database(path, { readonly: true });
    try {
      const through = db
        .query<{ value: number }, []>("SELECT value FROM store_meta WHERE name = 'heads_through'")
        .get();
      const last = db.query<{ n: number }, []>("SELECT max(position) AS n FROM events").get();
      const heads = db
        .query<{ stream_id: string; version: number }, []>("SELECT stream_id, version FROM stream_heads")
        .all();
      return { headsThrough: through?.value ?? 0, last: last?.n ?? 0, heads };
    } finally {
      db.close();
    }
  };

  test("heads written to their table by one process, the rest read back from the events at a restart", async () => {
    const path = join(dir, "heads.sqlite");
    // One writes its heads to the table at every batch, the other never in this test.
    const often = new SqliteStore({ path, headsFlush: { everyMs: 0, streams: 1, slice: 1_000 } });
    const rarely = new SqliteStore({
      path,
      headsFlush: { everyMs: 3_600_000, streams: 1_000_000, slice: 1 },
    });
    try {
      expect(await append(often, "account-s1", 0, 3)).toMatchObject({ ok: true, version: 3 });
      expect(await append(rarely, "account-s1", 3)).toMatchObject({ ok: true, version: 4 });
      expect(await append(rarely, "account-s2", 0)).toMatchObject({ ok: true, version: 1 });
      // This batch reads what the other process appended, under the lock, and writes the heads.
      expect(await append(often, "account-s2", 1)).toMatchObject({ ok: true, version: 2 });
      expect(await append(rarely, "account-s3", 0, 2)).toMatchObject({ ok: true, version: 2 });
    } finally {
      await often.close();
      await rarely.close();
    }
    const written = meta(path);
    expect(written.heads).toEqual([
      { stream_id: "account-s1", version: 4 },
      { stream_id: "account-s2", version: 1 },
    ]);
    // The last appends came after the table's heads: a restart finds them in the events.
    expect(written.headsThrough).toBe(5);
    expect(written.last).toBe(8);
    const restarted = new SqliteStore({ path });
    try {
      for (const [streamId, version] of [
        ["account-s1", 4],
        ["account-s2", 2],
        ["account-s3", 2],
      ] as const) {
        expect(await restarted.streamInfo(streamId)).toMatchObject({ version });
        expect((await restarted.readStream(streamId)).map((e) => e.version)).toEqual(
          Array.from({ length: version }, (_, i) => i + 1),
        );
        expect(await append(restarted, streamId, version - 1)).toEqual({
          ok: false,
          reason: "version_conflict",
          actualVersion: version,
        });
      }
      expect(await append(restarted, "account-s2", 2)).toMatchObject({ ok: true, version: 3 });
    } finally {
      await restarted.close();
    }
  });

  test("heads are written a slice per batch; the table says it is complete only once the last slice is", async () => {
    const path = join(dir, "sliced.sqlite");
    const store = new SqliteStore({ path, headsFlush: { everyMs: 0, streams: 1, slice: 2 } });
    try {
      // One batch: five streams move, none written yet (a flush writes what came before its batch).
      await Promise.all(["a", "b", "c", "d", "e"].map((id) => append(store, `account-${id}`, 0)));
      const states = [meta(path)];
      for (let i = 0; i < 3; i++) {
        await append(store, "account-z", i);
        states.push(meta(path));
      }
      expect(states.map((s) => s.heads.length)).toEqual([0, 2, 4, 5]);
      expect(states.map((s) => s.headsThrough)).toEqual([0, 0, 0, 5]);
      expect(await store.streamInfo("account-e")).toMatchObject({ version: 1 });
      expect(await store.streamInfo("account-z")).toMatchObject({ version: 3 });
    } finally {
      await store.close();
    }
  });
});
