import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { SqliteEventStore } from "../src/store/sqlite/sqlite-event-store.ts";
import { describeEventStoreConformance } from "./support/event-store-conformance.ts";
import { eventually } from "./support/http.ts";
import { tempDir } from "./support/service.ts";

const dir = tempDir();
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
            events: [
              {
                eventId: Bun.randomUUIDv7(),
                type: "Opened",
                schemaVersion: 1,
                data: { note: "x".repeat(500) },
                metadata: { commandId: "c", correlationId: "c", causationId: "c" },
              },
            ],
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
