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
